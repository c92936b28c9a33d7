//! [`Blobs`]: one column chunk's blob bookkeeping, shared by every store.
//!
//! Why one place: every store mints keys, refuses a key taken twice, and
//! must decide what to do with the tiny blobs parquet puts for every page.
//! parquet 60.1 serialises each page header into a `Vec::with_capacity(1024)`
//! and hands it over as `Bytes`, so a store that keeps the `Bytes` as given
//! keeps about 1 KiB per page while reporting tens of bytes — invisible to
//! [`PageStore::memory_size`](crate::PageStore::memory_size) and to any budget.
//! Here small blobs are *copied* into one per-store arena (freed when its last
//! blob is taken), blobs kept on the heap are copied into exact-size buffers,
//! and [`Blobs::memory_size`] counts every byte of it: the entry table, the
//! arena's capacity and the heap blobs. Backends keep only their own location
//! type `L` for blobs they moved elsewhere.
//!
//! A [`Keep`] policy says what may stay on the heap: blobs up to an inline
//! threshold (every backend), larger ones always (the in-memory backend) or
//! while a [`MemoryBudget`] has room (the tiered decorator). Heap kept under a
//! budget (arena growth included) is charged to it and released on `take` or
//! drop.
//!
//! Keys cost nothing where they can: a store keeps an entry per blob until
//! its row group is flushed, and a 6 GiB row group has hundreds of thousands
//! of pages, so every byte per blob is a megabyte of budget. A small blob's
//! key is its place and length in the arena (four bytes before it a check
//! word made from both, marked when taken), so headers need no entry; only
//! heap blobs and blobs the backend moved have one. Keys never set bit 63, so a decorator
//! can hand out its inner store's keys with that bit set instead of keeping
//! an entry for each ([`PASSED`]).

use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_writer::PageKey;

use crate::budget::MemoryBudget;
use crate::error::{Error, Result};
use crate::metrics::HeapGauge;

/// What may stay on the heap.
#[derive(Debug, Clone)]
pub(crate) struct Keep {
    /// Blobs up to this many bytes are copied into the arena.
    pub inline_threshold: usize,
    /// Larger blobs: never, always, or while the budget has room.
    pub large: Large,
    /// The arena's growth is charged by the writer's meter (planned writers:
    /// [`crate::metadata`] charges [`arena_bound`] as small blobs are put),
    /// so it is never charged to the admission here nor refused.
    pub arena_metered: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Large {
    Never,
    Always,
    Budget(Admission),
}

/// Charges heap to a budget, leaving `headroom` of it free for reservations
/// promised but not yet made (other writers' encoders, page metadata).
#[derive(Clone)]
pub(crate) struct Admission {
    pub budget: MemoryBudget,
    pub headroom: crate::budget::Headroom,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("budget", &self.budget)
            .field("headroom", &(self.headroom)(&self.budget))
            .finish()
    }
}

impl Admission {
    /// An admission leaving no headroom.
    pub(crate) fn new(budget: MemoryBudget) -> Self {
        Self {
            budget,
            headroom: Arc::new(|_| 0),
        }
    }

    fn try_charge(&self, bytes: usize) -> bool {
        let headroom = (self.headroom)(&self.budget);
        self.budget.try_reserve_leaving(bytes, headroom)
    }
}

/// Bit 63 of a key: never set by [`Blobs`], so a decorator may mark the
/// keys of its inner store with it and pass them through without an entry.
pub(crate) const PASSED: u64 = 1 << 63;

/// Bit 62 of a key: the blob is in the arena. Bits 48..62 hold the arena's
/// generation (a key outlives the arena it points into), bits 32..48 the
/// blob's length, bits 0..32 the offset of its check word.
const SMALL: u64 = 1 << 62;
const GENERATION_SHIFT: u32 = 48;
const GENERATION_MASK: u64 = (1 << 14) - 1;
/// The longest blob the arena keeps (its length is in the key).
const SMALL_MAX: usize = 0xFFFF;

/// Bytes before each small blob in the arena: [`check_word`] of its offset
/// and length, or [`TAKEN`]. A key that does not point at a blob's start
/// (not one this arena handed out) finds no check word there and is
/// refused, rather than read or marked.
const PREFIX: usize = 4;
const TAKEN: u32 = 0;

/// The check word before a small blob of `len` bytes at `at`: a hash of
/// the offset, the length in bits 1..17 (distinct lengths, distinct words),
/// odd so never [`TAKEN`].
fn check_word(at: u32, len: u32) -> u32 {
    ((at ^ 0x5BD1_E995).wrapping_mul(0x9E37_79B9) ^ len << 1) | 1
}

/// The arena bytes a small blob of `len` bytes takes (its check word
/// included): what the meter adds up for [`arena_bound`].
pub(crate) fn arena_bytes(len: usize) -> usize {
    len + PREFIX
}

/// Where one blob that has an entry is. 8 bytes plus the backend's location.
#[derive(Debug)]
enum Entry<L> {
    Taken,
    /// `heap[index]`.
    Heap {
        index: u32,
        len: u32,
    },
    /// Moved elsewhere by the backend.
    Stored(L),
}

/// What [`Blobs::take`] found.
#[derive(Debug)]
pub(crate) enum Taken<L> {
    /// The bytes were on the heap.
    Bytes(Bytes),
    /// The backend has them at this location.
    Stored(L),
}

/// One store's blobs: keys, arena, heap blobs and backend locations.
pub(crate) struct Blobs<L> {
    entries: Vec<Entry<L>>,
    keep: Keep,
    gauge: Arc<HeapGauge>,
    arena: Vec<u8>,
    /// Small blobs not yet taken; the arena is freed when this reaches 0.
    arena_live: usize,
    /// Their bytes (what the gauge counts, as for heap blobs: the blobs,
    /// not the bookkeeping).
    arena_content: usize,
    /// Bumped when the arena is freed: keys into an earlier arena are stale.
    generation: u64,
    /// Where this arena starts in a key's offsets: every arena starts past
    /// the last one's end (wrapping), so keys stay distinct across arenas
    /// even where the key's 14 generation bits repeat.
    base: u32,
    /// Arena capacity charged to the budget.
    arena_charged: usize,
    /// Every heap blob kept so far (taken ones left empty): under a budget
    /// each has [`Blobs::heap_slot`] charged until the store is dropped.
    heap: Vec<Bytes>,
    heap_live: usize,
}

impl<L> Blobs<L> {
    pub(crate) fn new(keep: Keep, gauge: Arc<HeapGauge>) -> Self {
        Self {
            entries: Vec::new(),
            keep,
            gauge,
            arena: Vec::new(),
            arena_live: 0,
            arena_content: 0,
            generation: 0,
            base: 0,
            arena_charged: 0,
            heap: Vec::new(),
            heap_live: 0,
        }
    }

    /// The most table bytes one entry can take: the entry, and the table's
    /// growth by a quarter. What a backend keeps per stored blob until its
    /// row group is flushed.
    pub(crate) const fn entry_slot() -> usize {
        slot_bound(std::mem::size_of::<Entry<L>>())
    }

    /// The most table bytes a heap blob keeps until the store is dropped
    /// (its entry and its place in the heap table, each growing by a
    /// quarter). Charged with the blob under a budget and held after it is
    /// taken or moved, so the per-page charge need not cover it: heap pages
    /// are few where pages are many.
    pub(crate) const fn heap_slot() -> usize {
        Self::entry_slot() + slot_bound(std::mem::size_of::<Bytes>())
    }

    fn admission(&self) -> Option<&Admission> {
        match &self.keep.large {
            Large::Budget(a) => Some(a),
            _ => None,
        }
    }

    /// Keep `value` on the heap if the policy allows, returning its key;
    /// `None` if the backend must store it (then call [`push_stored`](Self::push_stored)).
    pub(crate) fn try_keep(&mut self, value: &Bytes) -> Result<Option<PageKey>> {
        if u32::try_from(value.len()).is_err() {
            return Err(Error::BlobTooLarge { len: value.len() });
        }
        if self.is_small(value.len()) {
            if !self.grow_arena(value.len()) {
                return Ok(None); // the budget refused the arena's growth
            }
            return self.push_small(value).map(Some);
        }
        let admitted = match &self.keep.large {
            // Within the threshold but too long for an arena key: kept on
            // the heap, as the threshold says.
            Large::Never => value.len() <= self.keep.inline_threshold,
            Large::Always => true,
            Large::Budget(a) => a.try_charge(value.len() + Self::heap_slot()),
        };
        if !admitted {
            return Ok(None);
        }
        self.push_heap(value).map(Some)
    }

    /// Keep `value` on the heap whatever the policy (the in-memory backend).
    pub(crate) fn keep(&mut self, value: &Bytes) -> Result<PageKey> {
        if self.is_small(value.len()) && self.grow_arena(value.len()) {
            self.push_small(value)
        } else {
            self.push_heap(value)
        }
    }

    /// Whether a blob of `len` bytes goes into the arena.
    fn is_small(&self, len: usize) -> bool {
        len <= self.keep.inline_threshold.min(SMALL_MAX)
    }

    /// Copy `value` (at most [`SMALL_MAX`] bytes) into the arena, which has
    /// room for it, after its check word.
    fn push_small(&mut self, value: &Bytes) -> Result<PageKey> {
        let too_large = || Error::BlobTooLarge { len: value.len() };
        let len = u64::try_from(value.len())
            .ok()
            .filter(|&l| l <= SMALL_MAX as u64)
            .ok_or_else(too_large)?;
        let at = u32::try_from(self.arena.len())
            .map_err(|_| too_large())?
            .wrapping_add(self.base);
        self.arena
            .extend_from_slice(&check_word(at, len as u32).to_le_bytes());
        self.arena.extend_from_slice(value);
        self.arena_live += 1;
        self.arena_content += value.len();
        self.gauge.add(value.len());
        let generation = self.generation & GENERATION_MASK;
        Ok(PageKey::new(
            SMALL | generation << GENERATION_SHIFT | len << 32 | u64::from(at),
        ))
    }

    /// Keep an exact-size copy of `value`: the writer's buffer may carry
    /// capacity that no count would see.
    fn push_heap(&mut self, value: &Bytes) -> Result<PageKey> {
        let too_large = || Error::BlobTooLarge { len: value.len() };
        let len = u32::try_from(value.len()).map_err(|_| too_large())?;
        let index = u32::try_from(self.heap.len()).map_err(|_| too_large())?;
        grow_to_next_class(&mut self.heap);
        self.heap.push(Bytes::copy_from_slice(value));
        self.heap_live += value.len();
        self.gauge.add(value.len());
        Ok(self.push(Entry::Heap { index, len }))
    }

    /// Record a blob the backend stored at `location`.
    pub(crate) fn push_stored(&mut self, location: L) -> PageKey {
        self.push(Entry::Stored(location))
    }

    fn push(&mut self, entry: Entry<L>) -> PageKey {
        grow_to_next_class(&mut self.entries);
        self.entries.push(entry);
        PageKey::new(self.entries.len() as u64 - 1)
    }

    /// Take the blob under `key`: its bytes, or where the backend put it.
    pub(crate) fn take(&mut self, key: PageKey) -> Result<Taken<L>> {
        if key.get() & (PASSED | SMALL) == SMALL {
            return self.take_small(key.get()).map(Taken::Bytes);
        }
        let entry = usize::try_from(key.get())
            .ok()
            .and_then(|i| self.entries.get_mut(i))
            .filter(|e| !matches!(e, Entry::Taken))
            .ok_or(Error::UnknownKey { key: key.get() })?;
        Ok(match std::mem::replace(entry, Entry::Taken) {
            Entry::Taken => return Err(Error::UnknownKey { key: key.get() }),
            Entry::Heap { index, len } => {
                let bytes = std::mem::take(&mut self.heap[index as usize]);
                self.release_heap(len as usize);
                Taken::Bytes(bytes)
            }
            Entry::Stored(location) => Taken::Stored(location),
        })
    }

    /// Take a small blob out of the arena, marking it taken. Everything is
    /// checked before anything changes: a key for another generation, past
    /// the arena, or not at a blob's start is unknown.
    fn take_small(&mut self, key: u64) -> Result<Bytes> {
        let unknown = Error::UnknownKey { key };
        if key >> GENERATION_SHIFT & GENERATION_MASK != self.generation & GENERATION_MASK {
            return Err(unknown); // a key into an arena already freed
        }
        let at = key as u32;
        let len = (key >> 32 & SMALL_MAX as u64) as usize;
        let index = at.wrapping_sub(self.base) as usize;
        let end = index.checked_add(PREFIX + len);
        let Some(end) = end.filter(|&end| end <= self.arena.len()) else {
            return Err(unknown);
        };
        let (prefix, rest) = self.arena[index..end].split_at_mut(PREFIX);
        let mut word = [0; PREFIX];
        word.copy_from_slice(prefix);
        if u32::from_le_bytes(word) != check_word(at, len as u32) {
            return Err(unknown); // taken already, or not a blob's start
        }
        let bytes = Bytes::copy_from_slice(rest);
        prefix.copy_from_slice(&TAKEN.to_le_bytes());
        self.arena_live = self.arena_live.saturating_sub(1);
        self.arena_content = self.arena_content.saturating_sub(len);
        self.gauge.sub(len);
        if self.arena_live == 0 {
            self.free_arena();
        }
        Ok(bytes)
    }

    /// Move heap blobs to the backend with `store` until about `want` bytes
    /// are freed (their budget charge released); return the bytes freed. A
    /// blob `store` fails on stays on the heap, and the first failure stops.
    pub(crate) fn evict_heap<E>(
        &mut self,
        want: usize,
        mut store: impl FnMut(Bytes) -> std::result::Result<L, E>,
    ) -> usize {
        let mut freed = 0;
        for i in 0..self.entries.len() {
            if freed >= want {
                break;
            }
            let Entry::Heap { index, len } = self.entries[i] else {
                continue;
            };
            let bytes = std::mem::take(&mut self.heap[index as usize]);
            match store(bytes.clone()) {
                Ok(location) => {
                    self.entries[i] = Entry::Stored(location);
                    self.release_heap(len as usize);
                    freed += len as usize;
                }
                Err(_) => {
                    self.heap[index as usize] = bytes;
                    break;
                }
            }
        }
        freed
    }

    /// The location of blob `index` if the backend stored it and it is untaken.
    #[cfg_attr(not(feature = "object_store"), allow(dead_code))]
    pub(crate) fn stored(&self, index: usize) -> Option<&L> {
        match self.entries.get(index) {
            Some(Entry::Stored(l)) => Some(l),
            _ => None,
        }
    }

    /// Keys minted so far (taken ones included).
    #[cfg_attr(not(feature = "object_store"), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Heap this table holds: entries, arena capacity, heap blobs.
    pub(crate) fn memory_size(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry<L>>()
            + self.arena.capacity()
            + self.heap.capacity() * std::mem::size_of::<Bytes>()
            + self.heap_live
    }

    /// Release everything still held and return the backend's untaken
    /// locations (for a store being dropped).
    pub(crate) fn drain_stored(&mut self) -> Vec<L> {
        let mut stored = Vec::new();
        for entry in std::mem::take(&mut self.entries) {
            match entry {
                Entry::Stored(l) => stored.push(l),
                Entry::Heap { len, .. } => self.release_heap(len as usize),
                Entry::Taken => {}
            }
        }
        if let Some(a) = self.admission() {
            a.budget.release(self.heap.len() * Self::heap_slot());
        }
        self.heap = Vec::new();
        self.gauge.sub(self.arena_content);
        self.arena_live = 0;
        self.arena_content = 0;
        self.free_arena();
        stored
    }

    /// Make room for a small blob of `len` bytes, charging growth to the budget.
    fn grow_arena(&mut self, len: usize) -> bool {
        let needed = self.arena.len() + arena_bytes(len);
        let capacity = self.arena.capacity();
        if needed <= capacity {
            return true;
        }
        // The bound the meter charges for planned writers, by construction.
        let target = arena_bound(needed);
        if let Some(admission) = self.admission().filter(|_| !self.keep.arena_metered) {
            if !admission.try_charge(target - capacity) {
                return false;
            }
            self.arena_charged += target - capacity;
        }
        self.arena.reserve_exact(target - self.arena.len());
        true
    }

    fn free_arena(&mut self) {
        // The arena's length fits a u32 (`push_small` checks every offset).
        self.base = self.base.wrapping_add(self.arena.len() as u32);
        self.arena = Vec::new();
        self.generation += 1;
        if let Some(a) = self.admission() {
            a.budget.release(self.arena_charged);
        }
        self.arena_charged = 0;
    }

    fn release_heap(&mut self, len: usize) {
        if let Some(a) = self.admission() {
            a.budget.release(len);
        }
        self.heap_live -= len;
        self.gauge.sub(len);
    }
}

/// `bytes` of table and the quarter it may grow by ([`grow_to_next_class`]).
const fn slot_bound(bytes: usize) -> usize {
    bytes + bytes.div_ceil(4)
}

/// The arena's first capacity.
const ARENA_MIN: usize = 512;

/// The most arena capacity `bytes` of small blobs can take: the arena grows
/// to the next size class holding them (four bytes more), at least 512.
pub(crate) fn arena_bound(bytes: usize) -> usize {
    if bytes == 0 {
        return 0;
    }
    size_class(bytes + 4).max(ARENA_MIN)
}

/// Make room for one more element, growing by at most a quarter instead of
/// doubling: to the next of four sizes per power of two.
///
/// Why: a store keeps an entry per blob until its row group is flushed, and
/// a 6 GiB row group has hundreds of thousands of them. The per-page charge
/// must cover the table's capacity at its worst moment, just after it grew:
/// twice the entries when doubling, a quarter more here. The sizes are the
/// recycling allocator's classes (feature `recycle`), so it serves a
/// table's growth without rounding it up further. Copying a table of 16- or
/// 24-byte entries a few more times costs little beside writing the pages.
fn grow_to_next_class<T>(v: &mut Vec<T>) {
    if v.len() < v.capacity() {
        return;
    }
    let capacity = next_class(v.capacity(), v.len(), std::mem::size_of::<T>());
    v.reserve_exact(capacity - v.len());
}

/// The capacity, in elements of `size` bytes, of the smallest size class
/// above `capacity` elements that holds `needed` of them and four more (tiny
/// tables would otherwise grow one entry at a time).
fn next_class(capacity: usize, needed: usize, size: usize) -> usize {
    let size = size.max(1);
    let mut bytes = capacity * size;
    loop {
        bytes = size_class(bytes + 1);
        if bytes / size >= needed + 4 {
            return bytes / size;
        }
    }
}

/// `bytes` rounded up to one of four sizes per power of two: at most a
/// quarter more. The recycling allocator (feature `recycle`) serves
/// requests from 64 KiB up in these sizes.
pub(crate) fn size_class(bytes: usize) -> usize {
    if bytes == 0 {
        return 0;
    }
    let power = 1usize << (usize::BITS - 1 - bytes.leading_zeros());
    let step = (power / 4).max(1);
    bytes.div_ceil(step) * step
}

impl<L> Drop for Blobs<L> {
    fn drop(&mut self) {
        // Stores drain their stored blobs first; this releases the heap.
        drop(self.drain_stored());
    }
}

impl<L> std::fmt::Debug for Blobs<L> {
    // Sizes, not contents: the arena and heap hold page bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs")
            .field("keys", &self.entries.len())
            .field("arena_live", &self.arena_live)
            .field("heap_live", &self.heap_live)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Grow a table of `N`-byte elements to 200,000 entries.
    fn check_growth<const N: usize>() {
        let mut v: Vec<[u8; N]> = Vec::new();
        let mut last = 0;
        for _ in 0..200_000 {
            grow_to_next_class(&mut v);
            v.push([0; N]);
            let capacity = v.capacity();
            if capacity != last && last >= 64 {
                assert!(capacity <= last * 5 / 4 + 2, "{N}: {last} -> {capacity}");
                // Where the recycling allocator rounds requests (64 KiB
                // up), a table is a class size to within one element.
                let bytes = capacity * N;
                if bytes >= 64 << 10 {
                    assert!(size_class(bytes) - bytes < N, "{N}: {bytes} bytes");
                }
            }
            last = capacity;
        }
    }

    #[test]
    fn tables_grow_by_at_most_a_quarter_in_size_classes() {
        check_growth::<1>();
        check_growth::<16>();
        check_growth::<24>();
        assert_eq!(size_class(64 << 10), 64 << 10);
        assert_eq!(size_class((64 << 10) + 1), 80 << 10);
        assert_eq!(size_class(0), 0);
    }

    fn header(len: usize) -> Bytes {
        // As parquet builds it: a 1 KiB buffer holding a few bytes.
        let mut v = Vec::with_capacity(1024);
        v.resize(len, 7);
        Bytes::from(v)
    }

    fn blobs(large: Large) -> Blobs<u64> {
        Blobs::new(
            Keep {
                inline_threshold: 256,
                large,
                arena_metered: false,
            },
            Arc::default(),
        )
    }

    #[test]
    fn small_blobs_are_copied_into_the_arena_and_counted() {
        let mut b = blobs(Large::Never);
        let keys: Vec<_> = (0..100)
            .map(|_| b.try_keep(&header(30)).unwrap().unwrap())
            .collect();
        // 100 headers of 30 bytes: a few KiB, not 100 KiB of header buffers.
        assert!(b.memory_size() < 8 << 10, "{}", b.memory_size());
        assert!(b.try_keep(&Bytes::from(vec![1; 1000])).unwrap().is_none());
        for k in keys {
            let Taken::Bytes(got) = b.take(k).unwrap() else {
                panic!()
            };
            assert_eq!(got, header(30));
        }
        assert_eq!(b.arena.capacity(), 0, "the arena is freed once drained");
        assert_eq!(b.gauge.bytes(), 0);
    }

    #[test]
    fn the_header_arena_grows_by_at_most_a_quarter() {
        let mut b = blobs(Large::Never);
        let mut last = 0;
        for _ in 0..100_000 {
            b.try_keep(&header(23)).unwrap().unwrap();
            let capacity = b.arena.capacity();
            if capacity != last && last >= 512 {
                assert!(capacity <= last * 5 / 4 + 23, "{last} -> {capacity}");
            }
            last = capacity;
        }
        let bytes = 100_000 * arena_bytes(23);
        assert!(last >= bytes, "{last}");
        assert!(last <= arena_bound(bytes), "the meter's bound covers it");
        assert_eq!(arena_bound(0), 0);
        assert_eq!(arena_bound(23), 512);
    }

    #[test]
    fn keys_are_taken_once() {
        let mut b = blobs(Large::Always);
        let k = b.try_keep(&Bytes::from(vec![1; 1000])).unwrap().unwrap();
        b.take(k).unwrap();
        assert!(matches!(b.take(k), Err(Error::UnknownKey { key: 0 })));
        assert!(b.take(PageKey::new(u64::MAX)).is_err());
        // Small blobs have no entry: their check word in the arena is marked.
        let first = b.try_keep(&header(20)).unwrap().unwrap();
        let second = b.try_keep(&header(21)).unwrap().unwrap();
        assert_eq!(b.entries.len(), 1, "no entry for a small blob");
        b.take(first).unwrap();
        assert!(matches!(b.take(first), Err(Error::UnknownKey { .. })));
        // Once the arena is freed and refilled, an old key finds nothing.
        b.take(second).unwrap();
        assert_eq!(b.arena.capacity(), 0);
        let third = b.try_keep(&header(20)).unwrap().unwrap();
        assert_ne!(third, first);
        assert!(matches!(b.take(first), Err(Error::UnknownKey { .. })));
        assert_eq!(b.take_bytes(third), header(20));
    }

    #[test]
    fn a_key_not_at_a_blobs_start_is_unknown_and_changes_nothing() {
        let mut b = blobs(Large::Never);
        // A blob whose first bytes would pass for a length prefix.
        let a = Bytes::from_static(&[4, 0, 0, 0, 9, 9, 9, 9, 5, 5, 5, 5]);
        let ka = b.try_keep(&a).unwrap().unwrap().get();
        let kb = b.try_keep(&header(20)).unwrap().unwrap().get();
        let len = |l: u64| (ka & !(0xFFFF << 32)) | l << 32;
        for forged in [
            ka + 4,           // inside `a`
            len(4) + 4,       // inside `a`, with a length that fits
            len(13),          // `a` with a length past its end
            len(0xFFFF),      // past the arena
            ka | 0xFFFF_FFFF, // an offset past the arena
            ka ^ (1 << 48),   // another generation
        ] {
            assert!(
                matches!(b.take(PageKey::new(forged)), Err(Error::UnknownKey { .. })),
                "{forged:#x}"
            );
        }
        assert_eq!(b.take_bytes(PageKey::new(ka)), a, "`a` is intact");
        assert_eq!(b.take_bytes(PageKey::new(kb)), header(20));
        assert_eq!((b.gauge.bytes(), b.arena.capacity()), (0, 0));
    }

    #[test]
    fn keys_stay_distinct_when_the_generation_bits_repeat() {
        let mut b = blobs(Large::Never);
        let first = b.try_keep(&header(20)).unwrap().unwrap();
        b.take(first).unwrap();
        for _ in 0..GENERATION_MASK {
            let k = b.try_keep(&header(20)).unwrap().unwrap();
            b.take(k).unwrap();
        }
        let again = b.try_keep(&header(20)).unwrap().unwrap();
        assert_eq!(
            again.get() >> GENERATION_SHIFT,
            first.get() >> GENERATION_SHIFT
        );
        assert_ne!(again, first, "a later arena starts past the earlier ones");
        assert!(matches!(b.take(first), Err(Error::UnknownKey { .. })));
        assert_eq!(b.take_bytes(again), header(20));
    }

    #[test]
    fn blobs_too_long_for_a_key_stay_on_the_heap_within_the_threshold() {
        let mut b = Blobs::<u64>::new(
            Keep {
                inline_threshold: 1 << 20,
                large: Large::Never,
                arena_metered: false,
            },
            Arc::default(),
        );
        let long = Bytes::from(vec![3; SMALL_MAX + 1]);
        let key = b.try_keep(&long).unwrap().unwrap();
        assert_eq!(key.get() & SMALL, 0, "kept on the heap, with an entry");
        let short = b
            .try_keep(&Bytes::from(vec![4; SMALL_MAX]))
            .unwrap()
            .unwrap();
        assert_ne!(short.get() & SMALL, 0);
        assert_eq!(b.take_bytes(key), long);
        assert_eq!(b.take_bytes(short).len(), SMALL_MAX);
    }

    #[test]
    fn keys_leave_bit_63_to_decorators() {
        let mut b = blobs(Large::Always);
        for len in [0, 20, 256, 257, 5000] {
            let key = b.try_keep(&header(len)).unwrap().unwrap();
            assert_eq!(key.get() & PASSED, 0, "{len}");
        }
        assert_eq!(b.push_stored(7).get() & PASSED, 0);
        assert!(b.take(PageKey::new(PASSED)).is_err());
    }

    #[test]
    fn budgeted_heap_is_charged_and_released() {
        let budget = MemoryBudget::new(4096);
        let mut b = blobs(Large::Budget(Admission::new(budget.clone())));
        let slot = Blobs::<u64>::heap_slot();
        assert_eq!(
            slot,
            20 + 40,
            "a 16-byte entry and a `Bytes`, a quarter more"
        );
        let kept = b.try_keep(&Bytes::from(vec![1; 3000])).unwrap().unwrap();
        assert!(b.try_keep(&Bytes::from(vec![2; 3000])).unwrap().is_none());
        assert_eq!(budget.used(), 3000 + slot, "the blob and its table slots");
        let small = b.try_keep(&header(20)).unwrap().unwrap();
        assert_eq!(budget.used(), 3000 + slot + 512, "arena growth is charged");
        b.take(kept).unwrap();
        b.take(small).unwrap();
        assert_eq!(budget.used(), slot, "the slots stay until the store drops");
        let _left = b.try_keep(&Bytes::from(vec![3; 1000])).unwrap().unwrap();
        b.push_stored(9);
        assert_eq!(b.drain_stored(), vec![9]);
        assert_eq!(budget.used(), 0, "dropping releases heap blobs");
    }

    #[test]
    fn an_empty_blob_survives_the_arena() {
        let mut b = blobs(Large::Never);
        let h = b.try_keep(&header(14)).unwrap().unwrap();
        let empty = b.try_keep(&Bytes::new()).unwrap().unwrap();
        b.take(h).unwrap();
        assert!(b.take_bytes(empty).is_empty());
    }

    impl Blobs<u64> {
        fn take_bytes(&mut self, key: PageKey) -> Bytes {
            match self.take(key).unwrap() {
                Taken::Bytes(bytes) => bytes,
                Taken::Stored(l) => panic!("stored at {l}"),
            }
        }
    }
}
