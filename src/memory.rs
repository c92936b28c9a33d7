//! Backend: [`MemoryStoreFactory`] keeps every page on the heap, honestly counted.
//!
//! Why not parquet's own `InMemoryPageStoreFactory`: it keeps each page header
//! as handed over, in the 1 KiB buffer parquet serialised it into, while
//! reporting only the header's length — about 1 KiB per page that
//! `memory_size()` and any budget never see. This store copies headers into
//! one arena per column and page bodies into exact-size buffers (the shared
//! [`Blobs`] table), so what it reports is what it holds. It is the backend to
//! tier over when there is no disk at all, and the reference for the others
//! in the conformance suite.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};

use crate::blobs::{Blobs, Keep, Large, Taken};
use crate::file::DEFAULT_INLINE_THRESHOLD;
use crate::metrics::HeapGauge;

/// Creates [`MemoryStore`]s. Cloning shares the heap counters.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array, RecordBatch};
/// use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
/// use parquet_spill::MemoryStoreFactory;
///
/// let factory = Arc::new(MemoryStoreFactory::new());
/// let options = ArrowWriterOptions::new().with_page_store_factory(factory.clone());
/// let col = Arc::new(Int64Array::from_iter_values(0..100_000)) as ArrayRef;
/// let batch = RecordBatch::try_from_iter([("id", col)])?;
/// let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options)?;
/// writer.write(&batch)?;
/// writer.close()?;
/// assert!(factory.peak_bytes() > 0);
/// assert_eq!(factory.bytes(), 0, "everything was spliced");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStoreFactory {
    heap: Arc<HeapGauge>,
}

impl MemoryStoreFactory {
    /// A factory with fresh counters.
    ///
    /// ```
    /// assert_eq!(parquet_spill::MemoryStoreFactory::new().bytes(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of blobs held by all stores of this factory right now.
    ///
    /// ```
    /// use parquet_spill::{MemoryStoreFactory, PageStore};
    /// let factory = MemoryStoreFactory::new();
    /// let mut store = factory.create_store();
    /// store.put(vec![0u8; 100].into())?;
    /// assert_eq!(factory.bytes(), 100);
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn bytes(&self) -> u64 {
        self.heap.bytes()
    }

    /// Highest [`bytes`](Self::bytes) seen.
    ///
    /// ```
    /// use parquet_spill::{MemoryStoreFactory, PageStore};
    /// let factory = MemoryStoreFactory::new();
    /// let mut store = factory.create_store();
    /// let key = store.put(vec![0u8; 100].into())?;
    /// store.take(key)?;
    /// assert_eq!((factory.bytes(), factory.peak_bytes()), (0, 100));
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn peak_bytes(&self) -> u64 {
        self.heap.peak()
    }

    /// A new, empty store.
    ///
    /// ```
    /// use parquet_spill::{MemoryStoreFactory, PageStore};
    /// let mut store = MemoryStoreFactory::new().create_store();
    /// let key = store.put(vec![7u8; 5000].into())?;
    /// assert!(store.memory_size() >= 5000);
    /// assert_eq!(store.take(key)?, vec![7u8; 5000]);
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn create_store(&self) -> MemoryStore {
        let keep = Keep {
            inline_threshold: DEFAULT_INLINE_THRESHOLD,
            large: Large::Always,
            arena_metered: false,
        };
        MemoryStore {
            blobs: Blobs::new(keep, Arc::clone(&self.heap)),
        }
    }
}

impl PageStoreFactory for MemoryStoreFactory {
    fn create(&self, _args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        Ok(Box::new(self.create_store()))
    }
}

/// A [`PageStore`] holding one column chunk's blobs on the heap.
///
/// ```
/// use parquet_spill::{MemoryStoreFactory, PageStore};
/// let mut store = MemoryStoreFactory::new().create_store();
/// let header = store.put(vec![1u8; 30].into())?;
/// assert_eq!(store.take(header)?, vec![1u8; 30]);
/// assert!(store.take(header).is_err(), "a key is taken once");
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
#[derive(Debug)]
pub struct MemoryStore {
    blobs: Blobs<Infallible>,
}

impl PageStore for MemoryStore {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        Ok(self.blobs.keep(&value)?)
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        match self.blobs.take(key)? {
            Taken::Bytes(bytes) => Ok(bytes),
            Taken::Stored(never) => match never {},
        }
    }

    fn memory_size(&self) -> usize {
        self.blobs.memory_size()
    }
}
