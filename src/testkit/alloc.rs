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

/// The alignment up to which std's [`System`] forwards `realloc` to the C
/// allocator on 64-bit Linux (`MIN_ALIGN`); above it, std moves the block
/// itself.
const SYSTEM_MIN_ALIGN: usize = 2 * std::mem::size_of::<usize>();

/// A [`System`]-backed allocator that counts live bytes and their peak.
///
/// ```
/// use parquet_spill::testkit::CountingAlloc;
/// static ALLOC: CountingAlloc = CountingAlloc::new();
/// // In a real binary: #[global_allocator] static ALLOC: CountingAlloc = CountingAlloc::new();
/// assert_eq!(ALLOC.peak(), 0);
/// ```
///
/// A block std moves to grow it (an alignment above the C allocator's,
/// as arrow's buffers have) is counted with the old one still held:
///
/// ```
/// use std::alloc::Layout;
/// use parquet_spill::testkit::CountingAlloc;
///
/// #[global_allocator]
/// static ALLOC: CountingAlloc = CountingAlloc::new();
///
/// fn main() {
///     let (small, large) = (1 << 20, 2 << 20);
///     let layout = Layout::from_size_align(small, 64).unwrap();
///     let base = ALLOC.current();
///     ALLOC.reset_peak();
///     // SAFETY: a non-zero layout; the block is freed with its new size.
///     unsafe {
///         let block = std::alloc::realloc(std::alloc::alloc(layout), layout, large);
///         std::alloc::dealloc(block, Layout::from_size_align(large, 64).unwrap());
///     }
///     assert_eq!(ALLOC.peak() - base, small + large);
///     assert_eq!(ALLOC.current(), base);
/// }
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
    ///
    /// ```
    /// use parquet_spill::testkit::CountingAlloc;
    ///
    /// #[global_allocator]
    /// static ALLOC: CountingAlloc = CountingAlloc::new();
    /// static SPARE: CountingAlloc = CountingAlloc::new();
    ///
    /// fn main() {
    ///     let _heap = vec![0u8; 1000];
    ///     assert!(ALLOC.current() >= 1000, "the installed one counts");
    ///     assert_eq!((SPARE.current(), SPARE.peak()), (0, 0), "this one sees nothing");
    /// }
    /// ```
    pub const fn new() -> Self {
        Self {
            current: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            excluded: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
        }
    }

    /// Live heap bytes allocated through this allocator, minus excluded bytes.
    ///
    /// ```
    /// use parquet_spill::testkit::CountingAlloc;
    ///
    /// #[global_allocator]
    /// static ALLOC: CountingAlloc = CountingAlloc::new();
    ///
    /// fn main() {
    ///     let before = ALLOC.current();
    ///     let block = vec![1u8; 1 << 20];
    ///     assert!(ALLOC.current() >= before + (1 << 20));
    ///     drop(block);
    ///     assert!(ALLOC.current() < before + (1 << 20), "freed bytes are no longer live");
    /// }
    /// ```
    pub fn current(&self) -> usize {
        self.current
            .load(Ordering::Relaxed)
            .saturating_sub(self.excluded.load(Ordering::Relaxed))
    }

    /// Highest [`current`](Self::current) seen since the last [`reset_peak`](Self::reset_peak).
    ///
    /// ```
    /// use parquet_spill::testkit::CountingAlloc;
    ///
    /// #[global_allocator]
    /// static ALLOC: CountingAlloc = CountingAlloc::new();
    ///
    /// fn main() {
    ///     let before = ALLOC.current();
    ///     drop(vec![1u8; 1 << 20]); // allocated and freed at once
    ///     assert!(ALLOC.current() < before + (1 << 20));
    ///     assert!(ALLOC.peak() >= before + (1 << 20), "the peak remembers it");
    /// }
    /// ```
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// Start a new peak measurement from the current level.
    ///
    /// ```
    /// use parquet_spill::testkit::CountingAlloc;
    ///
    /// #[global_allocator]
    /// static ALLOC: CountingAlloc = CountingAlloc::new();
    ///
    /// fn main() {
    ///     drop(vec![1u8; 4 << 20]);
    ///     assert!(ALLOC.peak() >= 4 << 20);
    ///     ALLOC.reset_peak();
    ///     assert!(ALLOC.peak() < 4 << 20, "the earlier block no longer counts");
    ///     assert!(ALLOC.peak() >= ALLOC.current(), "it restarts from the current level");
    /// }
    /// ```
    pub fn reset_peak(&self) {
        self.peak.store(self.current(), Ordering::Relaxed);
    }

    /// Whether this allocator is the process's global allocator (it has seen
    /// an allocation).
    ///
    /// ```
    /// use parquet_spill::testkit::CountingAlloc;
    ///
    /// #[global_allocator]
    /// static ALLOC: CountingAlloc = CountingAlloc::new();
    /// static NOT_INSTALLED: CountingAlloc = CountingAlloc::new();
    ///
    /// fn main() {
    ///     assert!(ALLOC.is_installed());
    ///     assert!(!NOT_INSTALLED.is_installed());
    /// }
    /// ```
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
    ///
    /// ```
    /// use parquet_spill::testkit::CountingAlloc;
    ///
    /// #[global_allocator]
    /// static ALLOC: CountingAlloc = CountingAlloc::new();
    ///
    /// fn main() {
    ///     ALLOC.reset_peak();
    ///     let before = ALLOC.current();
    ///     let input = ALLOC.exclude(|| vec![7u8; 1 << 20]); // the caller's data
    ///     assert_eq!(input.len(), 1 << 20);
    ///     assert!(ALLOC.current() < before + (1 << 20), "not charged while excluded");
    ///     assert!(ALLOC.peak() < before + (1 << 20), "not charged to the peak either");
    /// }
    /// ```
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
///
/// ```
/// use parquet_spill::testkit::CountingAlloc;
///
/// #[global_allocator]
/// static ALLOC: CountingAlloc = CountingAlloc::new();
///
/// fn main() {
///     let input = ALLOC.exclude(|| "hello".repeat(100_000));
///     assert!(input.starts_with("hello"), "dereferences to the value");
///     let charged = ALLOC.current();
///     let kept = String::clone(&input); // a copy made outside `exclude` is charged
///     assert!(ALLOC.current() >= charged + kept.len());
///     drop(input); // frees the original and stops excluding its bytes
///     assert_eq!(kept.len(), 500_000);
/// }
/// ```
#[derive(Debug)]
pub struct Excluded<T: 'static> {
    alloc: &'static CountingAlloc,
    value: Option<T>,
    bytes: usize,
}

impl<T> Excluded<T> {
    /// Bytes excluded for this value.
    ///
    /// ```
    /// use parquet_spill::testkit::CountingAlloc;
    ///
    /// #[global_allocator]
    /// static ALLOC: CountingAlloc = CountingAlloc::new();
    ///
    /// fn main() {
    ///     let batch = ALLOC.exclude(|| vec![0u64; 1000]);
    ///     assert!(batch.bytes() >= 8000);
    ///     let nothing = ALLOC.exclude(|| 42);
    ///     assert_eq!((*nothing, nothing.bytes()), (42, 0));
    /// }
    /// ```
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
        // Where std's `System` cannot ask the C allocator to grow a block
        // in place (an alignment above its minimum: arrow's 64-byte
        // buffers), it allocates the new block, copies and frees the old:
        // both are held at once, and the peak counts them so (arrow
        // growing a 32 MiB buffer to 64 MiB holds 96 MiB for a moment).
        let moves = new_size > layout.size()
            && (layout.align() > SYSTEM_MIN_ALIGN || layout.align() > new_size);
        if moves {
            self.grew(new_size);
        }
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if moves {
            self.shrank(new_size);
        }
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
