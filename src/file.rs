//! [`FileStore`] and [`FileStoreFactory`]: spill every page to one shared file.
//!
//! Why: parquet's default store keeps a whole row group of compressed pages
//! on the heap until the row group is flushed, so peak memory grows with the
//! row group. These stores move each page body into the factory's single
//! [`SpillFile`] as it is produced and read it back, checksum-verified, when
//! the writer splices the column chunk into the output.
//!
//! Blobs no larger than [`FileStoreFactory::with_inline_threshold`] (page
//! headers, tens of bytes each) stay on the heap: a syscall per header would
//! cost more than the bytes it saves. They are reported by
//! [`PageStore::memory_size`] so the writer's accounting stays honest.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};

use crate::budget::MemoryBudget;
use crate::error::{Error, Result};
use crate::metrics::SpillStats;
use crate::spill_file::{Extent, SpillFile};

/// Blobs up to this many bytes stay on the heap by default.
pub const DEFAULT_INLINE_THRESHOLD: usize = 256;

/// Creates [`FileStore`]s that all spill into one shared, unlinked file.
///
/// One factory serves a whole writer — every column of every row group, on
/// any number of threads — with one open descriptor. Cloning the factory
/// shares the file.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array, RecordBatch};
/// use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
/// use parquet_spill::FileStoreFactory;
///
/// let factory = Arc::new(FileStoreFactory::new()?);
/// let options = ArrowWriterOptions::new().with_page_store_factory(factory.clone());
///
/// let col = Arc::new(Int64Array::from_iter_values(0..100_000)) as ArrayRef;
/// let batch = RecordBatch::try_from_iter([("id", col)])?;
/// let mut out = Vec::new();
/// let mut writer = ArrowWriter::try_new_with_options(&mut out, batch.schema(), options)?;
/// writer.write(&batch)?;
/// writer.close()?;
///
/// let stats = factory.stats();
/// assert!(stats.bytes_spilled > 0);
/// assert_eq!(stats.file_bytes_live, 0, "every spilled page was spliced");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct FileStoreFactory {
    file: Arc<SpillFile>,
    inline_threshold: usize,
    budget: Option<MemoryBudget>,
    /// Encoder memory promised to the writers sharing the budget; pages leave
    /// room for the part not yet reserved.
    encoder_pool: usize,
}

impl FileStoreFactory {
    /// Spill under the OS temporary directory ([`std::env::temp_dir`]).
    ///
    /// On many systems `/tmp` is a tmpfs: pages "spilled" there stay in RAM
    /// (and count against a container's memory limit). Prefer
    /// [`in_dir`](Self::in_dir) on a real disk when memory is what you are saving.
    ///
    /// ```
    /// let factory = parquet_spill::FileStoreFactory::new()?;
    /// assert_eq!(factory.spill_dir(), std::env::temp_dir());
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        Self::in_dir(std::env::temp_dir())
    }

    /// Spill under `dir`, which must exist and be writable.
    ///
    /// ```
    /// use parquet_spill::{Error, FileStoreFactory};
    /// let dir = tempfile::tempdir()?;
    /// let factory = FileStoreFactory::in_dir(dir.path())?;
    /// // The spill file is already unlinked: the directory stays empty.
    /// assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
    ///
    /// let err = FileStoreFactory::in_dir("/no/such/dir").unwrap_err();
    /// assert!(matches!(err, Error::SpillDir { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_dir(dir: impl AsRef<Path>) -> Result<Self> {
        Ok(Self::with_spill_file(Arc::new(SpillFile::create_in(
            dir.as_ref(),
        )?)))
    }

    /// Build a factory over an existing spill file, so several factories
    /// (or writers) share one descriptor and one pool of disk space.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parquet_spill::{spill_file::SpillFile, FileStoreFactory};
    /// let file = Arc::new(SpillFile::create_in(&std::env::temp_dir())?);
    /// let a = FileStoreFactory::with_spill_file(Arc::clone(&file));
    /// let b = FileStoreFactory::with_spill_file(file);
    /// assert!(Arc::ptr_eq(a.spill_file(), b.spill_file()));
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn with_spill_file(file: Arc<SpillFile>) -> Self {
        Self {
            file,
            inline_threshold: DEFAULT_INLINE_THRESHOLD,
            budget: None,
            encoder_pool: 0,
        }
    }

    /// Leave room in the budget for `bytes` of encoder reservations
    /// (all declared writers' shares): a page is kept on the heap only if
    /// the part of `bytes` not yet reserved stays free.
    pub(crate) fn with_encoder_pool(mut self, bytes: usize) -> Self {
        self.encoder_pool = bytes;
        self
    }

    /// Keep blobs on the heap while `budget` has room, spilling only beyond
    /// it. Every heap-kept blob is then charged to the budget (the inline
    /// threshold no longer applies). This is what
    /// [`TieredStoreFactory`](crate::TieredStoreFactory) builds on.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use parquet_spill::{FileStoreFactory, MemoryBudget, PageStore};
    /// let budget = MemoryBudget::new(1000);
    /// let mut store = FileStoreFactory::new()?.with_budget(budget.clone()).create_store();
    /// let kept = store.put(Bytes::from(vec![1u8; 800]))?; // fits: stays on the heap
    /// let spilled = store.put(Bytes::from(vec![2u8; 800]))?; // does not: spills
    /// assert_eq!(budget.used(), 800);
    /// store.take(kept)?;
    /// assert_eq!(budget.used(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_budget(mut self, budget: MemoryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The budget heap-kept blobs are charged to, if any.
    pub fn budget(&self) -> Option<&MemoryBudget> {
        self.budget.as_ref()
    }

    /// Keep blobs of at most `bytes` on the heap instead of spilling them
    /// (default [`DEFAULT_INLINE_THRESHOLD`]; `0` spills everything but empty blobs).
    ///
    /// ```
    /// let factory = parquet_spill::FileStoreFactory::new()?.with_inline_threshold(0);
    /// assert_eq!(factory.inline_threshold(), 0);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn with_inline_threshold(mut self, bytes: usize) -> Self {
        self.inline_threshold = bytes;
        self
    }

    /// The inline threshold in bytes.
    pub fn inline_threshold(&self) -> usize {
        self.inline_threshold
    }

    /// The directory the spill file lives in (unlinked, so not listed there).
    pub fn spill_dir(&self) -> &Path {
        self.file.dir()
    }

    /// The shared spill file.
    pub fn spill_file(&self) -> &Arc<SpillFile> {
        &self.file
    }

    /// Counters for every store this factory created.
    pub fn stats(&self) -> SpillStats {
        self.file.stats()
    }

    /// A new, empty store writing to this factory's spill file.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use parquet_spill::{FileStoreFactory, PageStore};
    /// let mut store = FileStoreFactory::new()?.create_store();
    /// let key = store.put(Bytes::from(vec![42u8; 4096]))?;
    /// assert!(store.memory_size() < 100, "the page went to disk; only its slot is on the heap");
    /// assert_eq!(store.take(key)?, Bytes::from(vec![42u8; 4096]));
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn create_store(&self) -> FileStore {
        FileStore {
            file: Arc::clone(&self.file),
            inline_threshold: self.inline_threshold,
            budget: self.budget.clone(),
            encoder_pool: self.encoder_pool,
            slots: Vec::new(),
            arena: Vec::new(),
            arena_live: 0,
            arena_charged: 0,
            heap: Vec::new(),
            heap_live: 0,
        }
    }
}

impl PageStoreFactory for FileStoreFactory {
    fn create(&self, _args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        Ok(Box::new(self.create_store()))
    }
}

/// Where a blob is, in 16 bytes: the page index of a 6 GiB row group can
/// hold hundreds of thousands of these, so they are kept small.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// Spill file offset, or a tagged arena offset / heap index, or [`TAKEN`].
    pos: u64,
    len: u32,
    /// CRC32C of a spilled blob.
    crc: u32,
}

const ARENA: u64 = 1 << 63;
const HEAP: u64 = 1 << 62;
const TAKEN: u64 = u64::MAX;
const INDEX: u64 = HEAP - 1;

/// A [`PageStore`] for one column chunk, spilling into a shared [`SpillFile`].
///
/// Created by [`FileStoreFactory`]. Keys are dense indexes into a table of
/// 16-byte slots. Tiny blobs (page headers) are copied into one per-store
/// arena rather than kept as separate allocations: parquet hands each header
/// over in a 1 KiB buffer, and keeping those would cost 1 KiB per page.
/// Dropping the store releases the disk space and budget of anything not taken.
pub struct FileStore {
    file: Arc<SpillFile>,
    inline_threshold: usize,
    budget: Option<MemoryBudget>,
    encoder_pool: usize,
    slots: Vec<Slot>,
    /// Tiny blobs, back to back.
    arena: Vec<u8>,
    /// Arena bytes not yet taken; the arena is freed when this reaches 0.
    arena_live: usize,
    /// Arena capacity charged to the budget.
    arena_charged: usize,
    /// Larger blobs the budget let stay on the heap.
    heap: Vec<Bytes>,
    heap_live: usize,
}

impl FileStore {
    /// Keep `value` on the heap or spill it, returning its slot.
    fn store(&mut self, value: Bytes) -> Result<Slot> {
        let len = u32::try_from(value.len())
            .ok()
            .filter(|l| *l < u32::MAX)
            .ok_or(Error::BlobTooLarge { len: value.len() })?;
        if value.len() <= self.inline_threshold && self.grow_arena(value.len()) {
            let pos = self.arena.len() as u64;
            self.arena.extend_from_slice(&value);
            self.arena_live += value.len();
            self.file.metrics().record_heap(len as u64, 0);
            return Ok(Slot {
                pos: ARENA | pos,
                len,
                crc: 0,
            });
        }
        if value.len() > self.inline_threshold {
            if let Some(budget) = &self.budget {
                if self.admit(budget, value.len()) {
                    // Copy into an exact-size buffer: the writer's buffer may
                    // carry unused capacity the budget would not see.
                    self.heap.push(Bytes::copy_from_slice(&value));
                    self.heap_live += value.len();
                    self.file.metrics().record_heap(len as u64, 0);
                    let pos = HEAP | (self.heap.len() - 1) as u64;
                    return Ok(Slot { pos, len, crc: 0 });
                }
            }
        }
        let extent = self.file.write(&value)?;
        Ok(Slot {
            pos: extent.offset(),
            len,
            crc: extent.crc(),
        })
    }

    /// Charge `bytes` of pages to `budget`, leaving room for encoder
    /// reservations promised but not yet made.
    fn admit(&self, budget: &MemoryBudget, bytes: usize) -> bool {
        let headroom = self.encoder_pool.saturating_sub(budget.reserved());
        budget.try_reserve_leaving(bytes, headroom)
    }

    /// Make room for `len` more arena bytes, charging growth to the budget.
    fn grow_arena(&mut self, len: usize) -> bool {
        let needed = self.arena.len() + len;
        let capacity = self.arena.capacity();
        if needed <= capacity {
            return true;
        }
        let target = needed.max(capacity * 2).max(512);
        if let Some(budget) = &self.budget {
            if !self.admit(budget, target - capacity) {
                return false;
            }
            self.arena_charged += target - capacity;
        }
        self.arena.reserve_exact(target - self.arena.len());
        true
    }

    fn take_slot(&mut self, key: PageKey) -> Result<Slot> {
        let slot = usize::try_from(key.get())
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .filter(|s| s.pos != TAKEN)
            .ok_or(Error::UnknownKey { key: key.get() })?;
        Ok(std::mem::replace(
            slot,
            Slot {
                pos: TAKEN,
                len: 0,
                crc: 0,
            },
        ))
    }

    fn fetch(&mut self, slot: Slot) -> Result<Bytes> {
        let len = slot.len as usize;
        if len == 0 {
            // An empty blob holds no bytes anywhere; the arena it was
            // "placed" in may already be freed.
            return Ok(Bytes::new());
        }
        if slot.pos & ARENA != 0 {
            let start = (slot.pos & !ARENA) as usize;
            let bytes = Bytes::copy_from_slice(&self.arena[start..start + len]);
            self.arena_live -= len;
            if self.arena_live == 0 {
                self.free_arena();
            }
            self.file.metrics().record_heap(0, len as u64);
            Ok(bytes)
        } else if slot.pos & HEAP != 0 {
            let bytes = std::mem::take(&mut self.heap[(slot.pos & INDEX) as usize]);
            self.release_heap(len);
            Ok(bytes)
        } else {
            self.file
                .take(Extent::from_parts(slot.pos, len as u64, slot.crc))
        }
    }

    fn free_arena(&mut self) {
        self.arena = Vec::new();
        if let Some(budget) = &self.budget {
            budget.release(self.arena_charged);
        }
        self.arena_charged = 0;
    }

    fn release_heap(&mut self, len: usize) {
        if let Some(budget) = &self.budget {
            budget.release(len);
        }
        self.heap_live -= len;
        self.file.metrics().record_heap(0, len as u64);
    }
}

impl std::fmt::Debug for FileStore {
    // Sizes, not contents: the arena and heap hold page bytes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("blobs", &self.slots.len())
            .field("arena_live", &self.arena_live)
            .field("heap_live", &self.heap_live)
            .field("spill_dir", &self.file.dir())
            .finish_non_exhaustive()
    }
}

impl PageStore for FileStore {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        let slot = self.store(value)?;
        let key = PageKey::new(self.slots.len() as u64);
        self.slots.push(slot);
        Ok(key)
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        let slot = self.take_slot(key)?;
        Ok(self.fetch(slot)?)
    }

    fn memory_size(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.arena.capacity()
            + self.heap.capacity() * std::mem::size_of::<Bytes>()
            + self.heap_live
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        let mut arena_bytes = 0;
        for slot in std::mem::take(&mut self.slots) {
            if slot.pos == TAKEN {
                continue;
            } else if slot.pos & ARENA != 0 {
                arena_bytes += slot.len as u64;
            } else if slot.pos & HEAP != 0 {
                self.release_heap(slot.len as usize);
            } else {
                self.file
                    .free(Extent::from_parts(slot.pos, slot.len as u64, slot.crc));
            }
        }
        self.file.metrics().record_heap(0, arena_bytes);
        self.free_arena();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_stay_inline_and_bodies_spill() {
        let factory = FileStoreFactory::new().unwrap();
        let mut store = factory.create_store();
        let header = store.put(Bytes::from_static(&[1; 40])).unwrap();
        let body = store.put(Bytes::from(vec![2u8; 10_000])).unwrap();
        let stats = factory.stats();
        assert_eq!((stats.heap_bytes, stats.bytes_spilled), (40, 10_000));
        assert_eq!(store.take(body).unwrap(), Bytes::from(vec![2u8; 10_000]));
        assert_eq!(store.take(header).unwrap(), Bytes::from_static(&[1; 40]));
        assert_eq!(factory.stats().heap_bytes, 0);
    }

    #[test]
    fn a_key_is_taken_once() {
        let mut store = FileStoreFactory::new().unwrap().create_store();
        let k = store.put(Bytes::from(vec![9u8; 1000])).unwrap();
        store.take(k).unwrap();
        let err = store.take(k).unwrap_err();
        assert!(err.to_string().contains("page key 0"), "{err}");
        assert!(store.take(PageKey::new(u64::MAX)).is_err());
    }

    #[test]
    fn memory_size_counts_heap_bytes_and_the_slot_table() {
        let mut store = FileStoreFactory::new().unwrap().create_store();
        assert_eq!(store.memory_size(), 0);
        store.put(Bytes::from_static(&[0; 100])).unwrap();
        let fixed = store.slots.capacity() * 16 + store.arena.capacity();
        assert_eq!(store.memory_size(), fixed);
        assert!(store.arena.capacity() >= 100);
        store.put(Bytes::from(vec![0u8; 100_000])).unwrap();
        let fixed = store.slots.capacity() * 16 + store.arena.capacity();
        assert_eq!(store.memory_size(), fixed);
    }

    #[test]
    fn dropping_a_store_releases_its_disk_space_and_heap() {
        let factory = FileStoreFactory::new().unwrap();
        let mut store = factory.create_store();
        for _ in 0..10 {
            store.put(Bytes::from(vec![1u8; 5000])).unwrap();
            store.put(Bytes::from_static(&[1; 10])).unwrap();
        }
        assert_eq!(factory.stats().file_bytes_live, 50_000);
        drop(store);
        let stats = factory.stats();
        assert_eq!((stats.file_bytes_live, stats.file_len), (0, 0));
        assert_eq!(stats.heap_bytes, 0);
    }
}
