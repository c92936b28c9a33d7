//! [`Recycling`]: a bounded cache of freed large blocks in front of the
//! process's allocator (feature `recycle`), so writing Parquet stops paying
//! the kernel for every page buffer.
//!
//! Why: parquet allocates each page's buffers afresh (the encoded values, the
//! compressed copy) and frees them once the page is stored. glibc serves
//! large requests with a mapping of their own, or returns freed memory at
//! the top of a heap to the kernel; either way the next page's buffer is
//! mapped again, each of its pages zeroed by the kernel on first touch and
//! unmapped on free. On several threads those mappings contend on the
//! address space and each unmap interrupts the other cores (TLB
//! shootdowns), which is why `ArrowWriter` and [`ParallelWriter`](crate::ParallelWriter)
//! spend much of their time in the kernel on workloads with large values.
//! Keeping a few freed blocks for the next request of a similar size skips
//! all of that. The cost is known in advance: at most
//! [`Recycling::set_bound`] bytes, which the caller reserves from the
//! writer's limit ([`SpillOptions::reserve`](crate::SpillOptions::reserve)),
//! so the memory promise holds.
//!
//! The allocator is the process's choice, so the crate never installs it:
//! a binary opts in with `#[global_allocator]` (the `parquet-spill` CLI
//! does). Library code allocates as before.
//!
//! How:
//! - Requests from 64 KiB to 128 MiB with an alignment of at most 16 are
//!   rounded up to one of four size classes per power of two (at most 25 %
//!   more; pages never touched are not resident). A block's class follows
//!   from its layout alone, so `realloc` within a class keeps the block
//!   (and to another class copies into a new one, as glibc does for a
//!   block it cannot grow in place).
//! - Freed blocks go into a fixed table of slots, so nothing is allocated
//!   under the lock. When the bound would be passed, or every slot is taken,
//!   the oldest blocks are really freed.
//! - Everything else passes straight through to the inner allocator.
//!
//! ```
//! use parquet_spill::recycle::{bound_for, Recycling};
//! use parquet_spill::SpillOptions;
//!
//! #[global_allocator]
//! static ALLOC: Recycling<std::alloc::System> = Recycling::new(std::alloc::System);
//!
//! fn main() {
//!     let limit = 256 << 20;
//!     ALLOC.set_bound(bound_for(limit)); // 32 MiB of freed blocks at most
//!     let _options = SpillOptions::new(limit).reserve(ALLOC.bound());
//! }
//! ```
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Smallest request recycled (the CLI's glibc mmap threshold).
const MIN: usize = 64 << 10;
/// Largest request recycled.
const MAX: usize = 128 << 20;
/// Alignment every recycled block is allocated with (glibc's own minimum on
/// 64-bit targets, so blocks come from plain `malloc`).
const ALIGN: usize = 16;
/// Blocks the table can hold: a 32 MiB bound of 64 KiB blocks.
const SLOTS: usize = 512;
/// [`bound_for`] keeps this fraction of the limit. An eighth rather than a
/// sixteenth: the CLI's conversion of a 1 GiB, 300-column IPC file at
/// 256 MiB (bound 32 instead of 16 MiB) took 238k page faults down to 75k,
/// 9 % off the wall time on one and two threads, and 35 MiB off the peak
/// resident set (the plan keeps fewer pages on the heap to make room).
const SHARE: usize = 8;

/// The most [`bound_for`] keeps, whatever the limit: enough for the page
/// buffers of a few threads at the largest pages the planner picks. Also a
/// sensible bound for a process without a memory limit.
pub const MAX_BOUND: usize = 32 << 20;

/// Bytes of freed blocks worth keeping under a memory limit of `limit`
/// bytes: an eighth of it, at most [`MAX_BOUND`]. Reserve the same from
/// the limit.
///
/// ```
/// use parquet_spill::recycle::{bound_for, MAX_BOUND};
/// assert_eq!(bound_for(64 << 20), 8 << 20);
/// assert_eq!(bound_for(4 << 30), MAX_BOUND);
/// ```
pub fn bound_for(limit: usize) -> usize {
    (limit / SHARE).min(MAX_BOUND)
}

/// The size a request of `size` bytes and alignment `align` is served
/// with, if it is recycled.
fn class(size: usize, align: usize) -> Option<usize> {
    if !(MIN..=MAX).contains(&size) || align > ALIGN {
        return None;
    }
    Some(crate::blobs::size_class(size))
}

/// A freed block: its address (0 for an empty slot), class size and age.
#[derive(Clone, Copy)]
struct Slot {
    addr: usize,
    size: usize,
    stamp: u64,
}

struct Table {
    slots: [Slot; SLOTS],
    /// Bytes in the slots.
    cached: usize,
    clock: u64,
}

impl Table {
    /// The newest block of `size`, taken out of the table.
    fn take(&mut self, size: usize) -> Option<usize> {
        let slot = self
            .slots
            .iter_mut()
            .filter(|s| s.addr != 0 && s.size == size)
            .max_by_key(|s| s.stamp)?;
        self.cached -= slot.size;
        Some(std::mem::replace(&mut slot.addr, 0))
    }

    /// Keeps `addr` if it fits in `bound` and a slot is free.
    fn keep(&mut self, addr: usize, size: usize, bound: usize) -> bool {
        if self.cached + size > bound {
            return false;
        }
        let Some(slot) = self.slots.iter_mut().find(|s| s.addr == 0) else {
            return false;
        };
        self.clock += 1;
        *slot = Slot {
            addr,
            size,
            stamp: self.clock,
        };
        self.cached += size;
        true
    }

    /// The oldest block, taken out of the table.
    fn evict(&mut self) -> Option<(usize, usize)> {
        let slot = self
            .slots
            .iter_mut()
            .filter(|s| s.addr != 0)
            .min_by_key(|s| s.stamp)?;
        self.cached -= slot.size;
        Some((std::mem::replace(&mut slot.addr, 0), slot.size))
    }
}

/// A [`GlobalAlloc`] that keeps up to a bound of freed large blocks for
/// reuse; see the module docs.
///
/// ```
/// use std::alloc::{GlobalAlloc, Layout, System};
/// use parquet_spill::recycle::Recycling;
///
/// let alloc = Recycling::new(System);
/// alloc.set_bound(1 << 20);
/// let layout = Layout::from_size_align(100 << 10, 8)?;
/// // SAFETY: a non-zero layout; the block is freed with the same layout.
/// unsafe {
///     let block = alloc.alloc(layout);
///     alloc.dealloc(block, layout);
///     assert_eq!(alloc.cached(), 112 << 10); // kept, rounded up to its class
///     assert_eq!(alloc.alloc(layout), block); // and handed out again
///     alloc.dealloc(block, layout);
/// }
/// # Ok::<(), std::alloc::LayoutError>(())
/// ```
pub struct Recycling<A> {
    inner: A,
    bound: AtomicUsize,
    table: Mutex<Table>,
}

impl<A> Recycling<A> {
    /// A recycler over `inner` keeping nothing until [`Self::set_bound`].
    ///
    /// ```
    /// use parquet_spill::recycle::Recycling;
    /// static ALLOC: Recycling<std::alloc::System> = Recycling::new(std::alloc::System);
    /// assert_eq!(ALLOC.bound(), 0);
    /// ```
    pub const fn new(inner: A) -> Self {
        Self {
            inner,
            bound: AtomicUsize::new(0),
            table: Mutex::new(Table {
                slots: [Slot {
                    addr: 0,
                    size: 0,
                    stamp: 0,
                }; SLOTS],
                cached: 0,
                clock: 0,
            }),
        }
    }

    /// The allocator freed blocks go back to (a counting allocator, say,
    /// whose peak then includes the blocks kept).
    ///
    /// ```
    /// use parquet_spill::recycle::Recycling;
    /// let alloc = Recycling::new(std::alloc::System);
    /// let _system: &std::alloc::System = alloc.inner();
    /// ```
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// The bound set last: the most this allocator keeps, to reserve from a
    /// writer's limit.
    ///
    /// ```
    /// use parquet_spill::recycle::Recycling;
    /// let alloc = Recycling::new(std::alloc::System);
    /// let _options = parquet_spill::SpillOptions::new(256 << 20).reserve(alloc.bound());
    /// ```
    pub fn bound(&self) -> usize {
        self.bound.load(Ordering::Relaxed)
    }

    /// Bytes of freed blocks kept right now (at most [`Self::bound`] once
    /// the next block is freed).
    ///
    /// ```
    /// use parquet_spill::recycle::Recycling;
    /// let alloc = Recycling::new(std::alloc::System);
    /// assert_eq!(alloc.cached(), 0);
    /// ```
    pub fn cached(&self) -> usize {
        self.table.lock().map_or(0, |t| t.cached)
    }
}

impl<A: GlobalAlloc> Recycling<A> {
    /// Keep at most `bytes` of freed blocks from now on; blocks already
    /// kept beyond it are freed at once, oldest first. 0, the initial
    /// bound, keeps nothing.
    ///
    /// ```
    /// use parquet_spill::recycle::Recycling;
    /// let alloc = Recycling::new(std::alloc::System);
    /// alloc.set_bound(16 << 20);
    /// assert_eq!(alloc.bound(), 16 << 20);
    /// ```
    pub fn set_bound(&self, bytes: usize) {
        self.bound.store(bytes, Ordering::Relaxed);
        loop {
            let Ok(mut table) = self.table.lock() else {
                return;
            };
            if table.cached <= bytes {
                return;
            }
            let Some((old, old_size)) = table.evict() else {
                return;
            };
            drop(table);
            // SAFETY: every block in the table came from `inner` with this
            // layout and left the table just now.
            unsafe { self.release(old as *mut u8, old_size) };
        }
    }

    /// Hands a freed block of class `size` to the table, really freeing the
    /// oldest blocks until it fits (outside the lock).
    ///
    /// # Safety
    /// `ptr` was allocated by `inner` with `Layout(size, ALIGN)` and is not used
    /// after this call.
    unsafe fn recycle(&self, ptr: *mut u8, size: usize) {
        let bound = self.bound.load(Ordering::Relaxed);
        if size <= bound {
            loop {
                let Ok(mut table) = self.table.lock() else {
                    break;
                };
                if table.keep(ptr as usize, size, bound) {
                    return;
                }
                let Some((old, old_size)) = table.evict() else {
                    break;
                };
                drop(table);
                // SAFETY: every block in the table came from `inner` with
                // this layout and left the table just now.
                unsafe { self.release(old as *mut u8, old_size) };
            }
        }
        // SAFETY: as promised by the caller.
        unsafe { self.release(ptr, size) }
    }

    /// # Safety
    /// `ptr` was allocated by `inner` with `Layout(size, ALIGN)`.
    unsafe fn release(&self, ptr: *mut u8, size: usize) {
        // SAFETY: `size` is a class size (a non-zero multiple of ALIGN) and
        // the caller guarantees the layout matches the allocation.
        unsafe {
            self.inner
                .dealloc(ptr, Layout::from_size_align_unchecked(size, ALIGN))
        }
    }

    fn reuse(&self, size: usize) -> Option<*mut u8> {
        let addr = self.table.lock().ok()?.take(size)?;
        Some(addr as *mut u8)
    }
}

// SAFETY: every block is allocated and freed by `inner` with one layout: the
// class layout `(class(size, align), ALIGN)` for recycled requests, which a
// request's layout determines, and the request's own layout otherwise. A
// block in the table is owned by the table alone until it is handed out
// again. Class sizes are at least the requested size, and ALIGN at least the
// requested alignment.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Recycling<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class(layout.size(), layout.align()) {
            Some(size) => self.reuse(size).unwrap_or_else(|| {
                // SAFETY: a non-zero size, a power-of-two alignment.
                unsafe {
                    self.inner
                        .alloc(Layout::from_size_align_unchecked(size, ALIGN))
                }
            }),
            // SAFETY: the caller's contract, passed on.
            None => unsafe { self.inner.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match class(layout.size(), layout.align()) {
            Some(size) => match self.reuse(size) {
                Some(ptr) => {
                    // SAFETY: the block holds at least `size >= layout.size()` bytes.
                    unsafe { ptr.write_bytes(0, layout.size()) };
                    ptr
                }
                // SAFETY: as in `alloc`.
                None => unsafe {
                    self.inner
                        .alloc_zeroed(Layout::from_size_align_unchecked(size, ALIGN))
                },
            },
            // SAFETY: the caller's contract, passed on.
            None => unsafe { self.inner.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class(layout.size(), layout.align()) {
            // SAFETY: allocated with this class's layout (see `alloc`).
            Some(size) => unsafe { self.recycle(ptr, size) },
            // SAFETY: the caller's contract, passed on.
            None => unsafe { self.inner.dealloc(ptr, layout) },
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = class(layout.size(), layout.align());
        let new = class(new_size, layout.align());
        match (old, new) {
            // The block already holds `new_size` bytes, and freeing it later
            // with the new layout finds the same class.
            (Some(a), Some(b)) if a == b => ptr,
            // SAFETY: the caller's contract, passed on; neither size is
            // recycled, so `inner` allocated the block with `layout`.
            (None, None) => unsafe { self.inner.realloc(ptr, layout, new_size) },
            // Elsewhere (from class to class too) a new block, a copy, and
            // the old block freed (kept, if it fits the bound). Handing
            // class-to-class growth to the inner allocator instead (which
            // can remap a block) measured slower on two threads: 0.68 and
            // 0.53 of `ArrowWriter`'s time on the bench's (a) and (b)
            // against 0.55 and 0.49 this way, one run each: remapping
            // faults the pages in again and interrupts the other core, a
            // kept block is already resident.
            _ => {
                // SAFETY: the caller guarantees `new_size` with `layout.align()`
                // is a valid layout.
                let new_layout =
                    unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                // SAFETY: a non-zero size (the caller's contract).
                let new_ptr = unsafe { self.alloc(new_layout) };
                if !new_ptr.is_null() {
                    // SAFETY: both blocks hold at least the bytes copied and
                    // are distinct; the old one is freed with its own layout.
                    unsafe {
                        std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                new_ptr
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    const KIB: usize = 1 << 10;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 1).unwrap()
    }

    #[test]
    fn requests_round_up_to_four_classes_per_power_of_two() {
        assert_eq!(class(MIN - 1, 1), None);
        assert_eq!(class(64 * KIB, 1), Some(64 * KIB));
        assert_eq!(class(64 * KIB + 1, 8), Some(80 * KIB));
        assert_eq!(class(100 * KIB, 16), Some(112 * KIB));
        assert_eq!(class(128 * KIB, 1), Some(128 * KIB));
        assert_eq!(class(129 * KIB, 1), Some(160 * KIB));
        assert_eq!(class(MAX, 1), Some(MAX));
        assert_eq!(class(MAX + 1, 1), None);
        assert_eq!(class(128 * KIB, 64), None, "larger alignments pass through");
        for size in (MIN..4 * MIN).step_by(4099) {
            let c = class(size, 1).unwrap();
            assert!(c >= size && c * 4 <= size * 5, "{size} -> {c}");
        }
    }

    #[test]
    fn a_freed_block_serves_the_next_request_of_its_class_only() {
        let a = Recycling::new(System);
        a.set_bound(1 << 20);
        unsafe {
            let p = a.alloc(layout(100 * KIB));
            a.dealloc(p, layout(100 * KIB));
            assert_eq!(a.cached(), 112 * KIB);
            let other = a.alloc(layout(200 * KIB));
            assert_ne!(other, p, "another class is not served from the block");
            let q = a.alloc(layout(110 * KIB));
            assert_eq!(q, p, "the same class is");
            assert_eq!(a.cached(), 0);
            a.dealloc(q, layout(110 * KIB));
            a.dealloc(other, layout(200 * KIB));
        }
    }

    #[test]
    fn kept_blocks_stay_within_the_bound_and_the_oldest_go_first() {
        let a = Recycling::new(System);
        a.set_bound(256 * KIB);
        unsafe {
            let blocks: Vec<_> = (0..5).map(|_| a.alloc(layout(64 * KIB))).collect();
            for &p in &blocks {
                a.dealloc(p, layout(64 * KIB));
                assert!(a.cached() <= 256 * KIB);
            }
            assert_eq!(a.cached(), 256 * KIB);
            // The newest four are kept: the first one was really freed.
            let again: Vec<_> = (0..4).map(|_| a.alloc(layout(64 * KIB))).collect();
            for p in &blocks[1..] {
                assert!(again.contains(p));
            }
            for p in again {
                a.dealloc(p, layout(64 * KIB));
            }
            // A block larger than the bound is never kept.
            let big = a.alloc(layout(512 * KIB));
            a.dealloc(big, layout(512 * KIB));
            assert_eq!(a.cached(), 256 * KIB);
        }
    }

    #[test]
    fn a_lower_bound_frees_what_is_kept_beyond_it_at_once() {
        let a = Recycling::new(System);
        a.set_bound(1 << 20);
        unsafe {
            let blocks: Vec<_> = (0..4).map(|_| a.alloc(layout(64 * KIB))).collect();
            for &p in &blocks {
                a.dealloc(p, layout(64 * KIB));
            }
        }
        assert_eq!(a.cached(), 256 * KIB);
        a.set_bound(128 * KIB);
        assert_eq!(a.cached(), 128 * KIB, "the oldest two are freed");
        a.set_bound(0);
        assert_eq!(a.cached(), 0, "nothing is kept without a bound");
    }

    #[test]
    fn nothing_is_kept_without_a_bound() {
        let a = Recycling::new(System);
        unsafe {
            let p = a.alloc(layout(MIN));
            a.dealloc(p, layout(MIN));
        }
        assert_eq!(a.cached(), 0);
    }

    #[test]
    fn realloc_keeps_contents_within_and_across_classes() {
        let a = Recycling::new(System);
        a.set_bound(4 << 20);
        unsafe {
            // Grow from small to large by doubling, as a Vec does.
            let mut size = 1000;
            let mut p = a.alloc(layout(size));
            for i in 0..size {
                *p.add(i) = (i % 251) as u8;
            }
            while size < 1 << 20 {
                let grown = size * 2;
                let q = a.realloc(p, layout(size), grown);
                for i in 0..size {
                    assert_eq!(*q.add(i), (i % 251) as u8, "byte {i} at {grown}");
                }
                for i in size..grown {
                    *q.add(i) = (i % 251) as u8;
                }
                p = q;
                size = grown;
            }
            // Within a class the block stays put.
            let same = a.realloc(p, layout(size), size - 1000);
            assert_eq!(same, p);
            size -= 1000;
            // Shrink to a small block.
            let small = a.realloc(same, layout(size), 100);
            for i in 0..100 {
                assert_eq!(*small.add(i), (i % 251) as u8);
            }
            a.dealloc(small, layout(100));
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_when_reused() {
        let a = Recycling::new(System);
        a.set_bound(1 << 20);
        unsafe {
            let p = a.alloc(layout(MIN));
            p.write_bytes(0xAB, MIN);
            a.dealloc(p, layout(MIN));
            let q = a.alloc_zeroed(layout(MIN));
            assert_eq!(q, p);
            assert!((0..MIN).all(|i| *q.add(i) == 0));
            a.dealloc(q, layout(MIN));
        }
    }
}
