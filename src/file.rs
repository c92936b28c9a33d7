//! Backend: [`FileStoreFactory`] puts every page into one shared spill file.
//!
//! Why: parquet's default store keeps a whole row group of compressed pages
//! on the heap until the row group is flushed, so peak memory grows with the
//! row group. These stores move each page body into the factory's single
//! [`SpillFile`] as it is produced and read it back, checksum-verified, when
//! the writer splices the column chunk into the output.
//!
//! Blobs no larger than [`FileStoreFactory::with_inline_threshold`] (page
//! headers, tens of bytes each) stay in the store's arena: a syscall per
//! header would cost more than the bytes it saves. They are counted by
//! [`PageStore::memory_size`] so the writer's accounting stays honest. To keep
//! *pages* on the heap while a budget allows, wrap the factory in a
//! [`TieredStoreFactory`](crate::TieredStoreFactory).

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};

use crate::blobs::{Blobs, Keep, Large, Taken};
use crate::error::{Error, Result};
use crate::metrics::{HeapGauge, SpillStats};
use crate::spill_file::{Extent, SpillFile};

/// Blobs up to this many bytes stay on the heap by default.
///
/// ```
/// assert_eq!(parquet_spill::DEFAULT_INLINE_THRESHOLD, 256);
/// ```
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
/// let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options)?;
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
    heap: Arc<HeapGauge>,
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
            heap: Arc::default(),
        }
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
    ///
    /// ```
    /// let factory = parquet_spill::FileStoreFactory::new()?;
    /// assert_eq!(factory.inline_threshold(), parquet_spill::DEFAULT_INLINE_THRESHOLD);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn inline_threshold(&self) -> usize {
        self.inline_threshold
    }

    /// The directory the spill file lives in (unlinked, so not listed there).
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let factory = parquet_spill::FileStoreFactory::in_dir(dir.path())?;
    /// assert_eq!(factory.spill_dir(), dir.path());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spill_dir(&self) -> &Path {
        self.file.dir()
    }

    /// The shared spill file.
    ///
    /// ```
    /// let factory = parquet_spill::FileStoreFactory::new()?;
    /// assert_eq!(factory.spill_file().stats().file_len, 0);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn spill_file(&self) -> &Arc<SpillFile> {
        &self.file
    }

    /// Counters for every store this factory created.
    ///
    /// ```
    /// use parquet_spill::PageStore;
    /// let factory = parquet_spill::FileStoreFactory::new()?;
    /// let mut store = factory.create_store();
    /// store.put(vec![1u8; 40].into())?;
    /// store.put(vec![2u8; 4000].into())?;
    /// let stats = factory.stats();
    /// assert_eq!((stats.heap_bytes, stats.bytes_spilled), (40, 4000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> SpillStats {
        self.file.metrics().snapshot(&self.heap)
    }

    /// A new, empty store writing to this factory's spill file.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use parquet_spill::{FileStoreFactory, PageStore};
    /// let mut store = FileStoreFactory::new()?.create_store();
    /// let key = store.put(Bytes::from(vec![42u8; 4096]))?;
    /// assert!(store.memory_size() < 100, "the page went to disk; only its entry is on the heap");
    /// assert_eq!(store.take(key)?, Bytes::from(vec![42u8; 4096]));
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn create_store(&self) -> FileStore {
        let keep = Keep {
            inline_threshold: self.inline_threshold,
            large: Large::Never,
            arena_metered: false,
        };
        FileStore {
            file: Arc::clone(&self.file),
            blobs: Blobs::new(keep, Arc::clone(&self.heap)),
        }
    }
}

impl PageStoreFactory for FileStoreFactory {
    fn create(&self, _args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        Ok(Box::new(self.create_store()))
    }
}

/// What a file store keeps per spilled blob until it is dropped: its entry
/// (offset, length, checksum), growth included. The planner charges it per page.
pub(crate) const SLOT: usize = Blobs::<Spilled>::entry_slot();

/// A spilled blob's place in the file, in 16 bytes: a 6 GiB row group can
/// hold hundreds of thousands of these until the flush.
#[derive(Debug, Clone, Copy)]
struct Spilled {
    offset: u64,
    len: u32,
    crc: u32,
}

impl Spilled {
    fn extent(self) -> Extent {
        Extent::from_parts(self.offset, self.len as u64, self.crc)
    }
}

/// A [`PageStore`] for one column chunk, spilling into a shared [`SpillFile`].
///
/// Created by [`FileStoreFactory`]. Dropping the store releases the disk
/// space of anything not taken.
///
/// ```
/// use parquet_spill::{FileStoreFactory, PageStore};
/// let factory = FileStoreFactory::new()?;
/// let mut store = factory.create_store();
/// store.put(vec![5u8; 10_000].into())?;
/// assert_eq!(factory.stats().file_bytes_live, 10_000);
/// drop(store);
/// assert_eq!(factory.stats().file_bytes_live, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FileStore {
    file: Arc<SpillFile>,
    blobs: Blobs<Spilled>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("blobs", &self.blobs)
            .field("spill_dir", &self.file.dir())
            .finish()
    }
}

impl FileStore {
    fn spill(&mut self, value: &Bytes) -> Result<Spilled> {
        let len = u32::try_from(value.len())
            .ok()
            .ok_or(Error::BlobTooLarge { len: value.len() })?;
        let extent = self.file.write(value)?;
        Ok(Spilled {
            offset: extent.offset(),
            len,
            crc: extent.crc(),
        })
    }
}

impl PageStore for FileStore {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        if let Some(key) = self.blobs.try_keep(&value)? {
            return Ok(key);
        }
        let spilled = self.spill(&value)?;
        Ok(self.blobs.push_stored(spilled))
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        Ok(match self.blobs.take(key)? {
            Taken::Bytes(bytes) => bytes,
            Taken::Stored(spilled) => self.file.take(spilled.extent())?,
        })
    }

    fn memory_size(&self) -> usize {
        self.blobs.memory_size()
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        for spilled in self.blobs.drain_stored() {
            self.file.free(spilled.extent());
        }
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
