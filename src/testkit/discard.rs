//! A store that keeps nothing: every blob is dropped on `put`.
//!
//! Why: to measure what parquet's writer holds on its own — encoder buffers,
//! page keys, index builders, the metadata it keeps until the file closes —
//! apart from any store's. Writing through it leaves only parquet's part on
//! the heap, which makes it the floor no store can go below. The row group
//! can never be flushed (its pages are gone), so measure before closing and
//! drop the writer unclosed.

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};
use parquet::errors::{ParquetError, Result};

/// Creates [`DiscardStore`]s.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array, RecordBatch};
/// use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
/// use parquet_spill::testkit::DiscardStoreFactory;
///
/// let options = ArrowWriterOptions::new().with_page_store_factory(Arc::new(DiscardStoreFactory));
/// let col = Arc::new(Int64Array::from_iter_values(0..100_000)) as ArrayRef;
/// let batch = RecordBatch::try_from_iter([("id", col)])?;
/// let mut writer = ArrowWriter::try_new_with_options(std::io::sink(), batch.schema(), options)?;
/// writer.write(&batch)?; // pages are encoded, then dropped
/// assert!(writer.close().is_err(), "the row group's pages are gone");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardStoreFactory;

impl PageStoreFactory for DiscardStoreFactory {
    fn create(&self, _args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
        Ok(Box::new(DiscardStore::default()))
    }
}

/// Drops every blob, minting keys `0, 1, 2, …`; every `take` fails.
///
/// ```
/// use parquet_spill::PageStore;
/// use parquet_spill::testkit::DiscardStore;
/// let mut store = DiscardStore::default();
/// let key = store.put(vec![1u8; 4096].into())?;
/// assert_eq!((store.puts(), store.memory_size()), (1, 0));
/// assert!(store.take(key).is_err());
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
#[derive(Debug, Default)]
pub struct DiscardStore {
    puts: u64,
}

impl DiscardStore {
    /// Blobs put so far (parquet puts two per page: header, then body).
    pub fn puts(&self) -> u64 {
        self.puts
    }
}

impl PageStore for DiscardStore {
    fn put(&mut self, _value: Bytes) -> Result<PageKey> {
        self.puts += 1;
        Ok(PageKey::new(self.puts - 1))
    }

    fn take(&mut self, key: PageKey) -> Result<Bytes> {
        Err(ParquetError::General(format!(
            "the discarding store keeps nothing (key {})",
            key.get()
        )))
    }

    fn memory_size(&self) -> usize {
        0
    }
}
