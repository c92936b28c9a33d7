//! A counting global allocator for peak-heap measurements.
//!
//! Why: "how much heap did the writer need" is the question this crate
//! exists to answer, and only the allocator sees every byte. Install
//! [`CountingAlloc`] as the `#[global_allocator]` of a test binary or
//! example (one measurement per process: allocators are global), wrap input
//! generation in [`CountingAlloc::exclude`] so the caller's batches are not
//! charged to the writer, and read [`CountingAlloc::peak`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A [`System`]-backed allocator that counts live bytes and their peak.
///
/// ```
/// use parquet_spill::testkit::CountingAlloc;
/// static ALLOC: CountingAlloc = CountingAlloc::new();
/// // In a real binary: #[global_allocator] static ALLOC: CountingAlloc = CountingAlloc::new();
/// assert_eq!(ALLOC.peak(), 0);
/// ```
#[derive(Debug)]
pub struct CountingAlloc {
    current: AtomicUsize,
    peak: AtomicUsize,
    excluded: AtomicUsize,
    paused: AtomicBool,
}

impl Default for CountingAlloc {
    fn default() -> Self {
        Self::new()
    }
}

impl CountingAlloc {
    /// A new allocator with zeroed counters (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            current: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            excluded: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
        }
    }

    /// Live heap bytes allocated through this allocator, minus excluded bytes.
    pub fn current(&self) -> usize {
        self.current
            .load(Ordering::Relaxed)
            .saturating_sub(self.excluded.load(Ordering::Relaxed))
    }

    /// Highest [`current`](Self::current) seen since the last [`reset_peak`](Self::reset_peak).
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Start a new peak measurement from the current level.
    pub fn reset_peak(&self) {
        self.peak.store(self.current(), Ordering::Relaxed);
    }

    /// Whether this allocator is the process's global allocator (it has seen
    /// an allocation).
    pub fn is_installed(&self) -> bool {
        let probe = Box::new(0u64);
        std::hint::black_box(&probe);
        self.current.load(Ordering::Relaxed) > 0
    }

    /// Run `make` (typically: build an input batch) without charging its
    /// allocations to the peak. The net bytes it leaves allocated are excluded
    /// from [`current`](Self::current) until the returned [`Excluded`] is
    /// dropped. Pauses peak tracking process-wide while `make` runs, so use
    /// it from one measuring thread.
    pub fn exclude<T>(&'static self, make: impl FnOnce() -> T) -> Excluded<T> {
        self.paused.store(true, Ordering::Relaxed);
        let before = self.current.load(Ordering::Relaxed);
        let value = make();
        let bytes = self.current.load(Ordering::Relaxed).saturating_sub(before);
        self.excluded.fetch_add(bytes, Ordering::Relaxed);
        self.paused.store(false, Ordering::Relaxed);
        Excluded {
            alloc: self,
            value: Some(value),
            bytes,
        }
    }

    fn grew(&self, by: usize) {
        let now = self.current.fetch_add(by, Ordering::Relaxed) + by;
        if !self.paused.load(Ordering::Relaxed) {
            let charged = now.saturating_sub(self.excluded.load(Ordering::Relaxed));
            self.peak.fetch_max(charged, Ordering::Relaxed);
        }
    }

    fn shrank(&self, by: usize) {
        self.current.fetch_sub(by, Ordering::Relaxed);
    }
}

/// A value whose heap bytes are not charged to a [`CountingAlloc`]'s peak.
///
/// Dereferences to the value. Dropping it frees the value and stops excluding
/// its bytes; anything the writer kept a reference to is charged from then on.
#[derive(Debug)]
pub struct Excluded<T: 'static> {
    alloc: &'static CountingAlloc,
    value: Option<T>,
    bytes: usize,
}

impl<T> Excluded<T> {
    /// Bytes excluded for this value.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl<T> std::ops::Deref for Excluded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Always `Some` until drop.
        self.value.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl<T> Drop for Excluded<T> {
    fn drop(&mut self) {
        self.alloc.paused.store(true, Ordering::Relaxed);
        drop(self.value.take());
        self.alloc.excluded.fetch_sub(self.bytes, Ordering::Relaxed);
        self.alloc.paused.store(false, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are
// plain atomics and never allocate.
#[allow(unsafe_code)] // The one unsafe impl of the crate: forwarding to `System`.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            self.grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            self.grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        self.shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size > layout.size() {
                self.grew(new_size - layout.size());
            } else {
                self.shrank(layout.size() - new_size);
            }
        }
        new
    }
}
