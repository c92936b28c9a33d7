//! A deliberately odd store: `HashMap`-backed, with sparse, scattered keys.
//!
//! Why: parquet documents that keys are opaque and minted by the store. This
//! store mints keys that are neither dense nor ordered, so the suite proves
//! the writer (and any decorator) never assumes `0, 1, 2, …`.

use std::collections::HashMap;

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};
use parquet::errors::{ParquetError, Result};

/// Creates [`SparseMapStore`]s.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{all_types_batch, write_parquet, SparseMapStoreFactory};
/// let batch = all_types_batch(100, 0);
/// let default = write_parquet(&[batch.clone()], Default::default(), None)?;
/// let sparse = write_parquet(&[batch], Default::default(), Some(Arc::new(SparseMapStoreFactory)))?;
/// assert_eq!(default, sparse);
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct SparseMapStoreFactory;

impl PageStoreFactory for SparseMapStoreFactory {
    fn create(&self, args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
        Ok(Box::new(SparseMapStore {
            blobs: HashMap::new(),
            next: 0x9E37_79B9 ^ (args.column_index() as u64) << 40,
            resident: 0,
        }))
    }
}

/// A `HashMap<u64, Bytes>` store minting scattered keys.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{create_store, SparseMapStoreFactory};
/// let mut store = create_store(&(Arc::new(SparseMapStoreFactory) as _))?; // a SparseMapStore
/// let a = store.put(vec![1u8; 10].into())?;
/// let b = store.put(vec![2u8; 20].into())?;
/// assert_ne!(b.get(), a.get() + 1, "keys are not dense");
/// assert!(store.memory_size() >= 30);
/// assert_eq!(store.take(b)?, vec![2u8; 20]);
/// assert!(store.take(b).is_err(), "a key works once");
/// assert_eq!(store.take(a)?, vec![1u8; 10]);
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
#[derive(Debug)]
pub struct SparseMapStore {
    blobs: HashMap<u64, Bytes>,
    next: u64,
    resident: usize,
}

impl PageStore for SparseMapStore {
    fn put(&mut self, value: Bytes) -> Result<PageKey> {
        // Jump by a large odd stride and scramble: sparse, unordered keys.
        self.next = self.next.wrapping_add(0x6A09_E667_F3BC_C909);
        let key = self.next.rotate_left(17);
        self.resident += value.len();
        // Copy: the writer's buffer may carry spare capacity (1 KiB for a
        // header) that `memory_size` would otherwise not report.
        self.blobs.insert(key, Bytes::copy_from_slice(&value));
        Ok(PageKey::new(key))
    }

    fn take(&mut self, key: PageKey) -> Result<Bytes> {
        let blob = self.blobs.remove(&key.get()).ok_or_else(|| {
            ParquetError::General(format!("sparse store: unknown key {}", key.get()))
        })?;
        self.resident -= blob.len();
        Ok(blob)
    }

    fn memory_size(&self) -> usize {
        self.resident
            + self.blobs.capacity()
                * (std::mem::size_of::<u64>() + std::mem::size_of::<Bytes>() + 1)
    }
}
