//! Store-level checks: keys, bytes, threads and honest `memory_size()`,
//! on a store obtained with real [`PageStoreArgs`].

use std::sync::{Arc, Mutex};
use std::thread;

use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use bytes::Bytes;
use parquet::arrow::arrow_writer::{
    ArrowWriter, ArrowWriterOptions, PageStore, PageStoreArgs, PageStoreFactory,
};
use parquet::errors::{ParquetError, Result};

use super::{SharedFactory, Subject};
use crate::testkit::alloc::CountingAlloc;

/// Obtain a store from `factory` with real [`PageStoreArgs`] for a one-column
/// `Int64` schema. Parquet builds `PageStoreArgs` only inside its writer, so
/// this writes one row with a throwaway writer whose factory hands back one
/// extra store.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{create_store, SharedFactory};
/// use parquet_spill::FileStoreFactory;
/// let spill = Arc::new(FileStoreFactory::new()?);
/// let mut store = create_store(&(spill.clone() as SharedFactory))?;
/// let key = store.put(vec![3u8; 10_000].into())?;
/// assert_eq!(spill.stats().file_bytes_live, 10_000, "the page is in the spill file");
/// assert_eq!(store.take(key)?, vec![3u8; 10_000]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn create_store(factory: &SharedFactory) -> Result<Box<dyn PageStore>> {
    struct Grab {
        inner: SharedFactory,
        grabbed: Mutex<Option<Box<dyn PageStore>>>,
    }
    impl std::fmt::Debug for Grab {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Grab")
                .field("inner", &self.inner)
                .finish_non_exhaustive()
        }
    }
    impl PageStoreFactory for Grab {
        fn create(&self, args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
            let extra = self.inner.create(args)?;
            *self
                .grabbed
                .lock()
                .map_err(|_| ParquetError::General("poisoned".into()))? = Some(extra);
            self.inner.create(args)
        }
    }
    let grab = Arc::new(Grab {
        inner: Arc::clone(factory),
        grabbed: Mutex::new(None),
    });
    let batch =
        RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])?;
    let options = ArrowWriterOptions::new().with_page_store_factory(grab.clone());
    let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options)?;
    writer.write(&batch)?;
    drop(writer);
    let store = grab
        .grabbed
        .lock()
        .map_err(|_| ParquetError::General("poisoned".into()))?
        .take();
    store.ok_or_else(|| ParquetError::General("the writer created no store".into()))
}

/// A test blob. Small ones come in a 1 KiB buffer, as parquet's writer hands
/// over page headers, so a store that keeps the buffer keeps 1 KiB.
fn blob(len: usize, seed: u8) -> Bytes {
    let mut v = Vec::with_capacity(len.max(1024));
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    Bytes::from(v)
}

const BLOB_SIZES: [usize; 11] = [0, 1, 17, 255, 256, 257, 4096, 65_537, 1 << 20, 3 << 20, 40];

/// `take` returns exactly what `put` stored, in any order, and every key is distinct.
///
/// ```
/// use std::panic::{catch_unwind, AssertUnwindSafe};
/// use std::sync::Arc;
/// use parquet_spill::testkit::{check_round_trip, Fault, FaultyStoreFactory, SharedFactory};
/// use parquet_spill::FileStoreFactory;
///
/// let spill: SharedFactory = Arc::new(FileStoreFactory::new()?);
/// check_round_trip(&spill);
/// // A store that drops the last byte of a blob fails it.
/// let short: SharedFactory = Arc::new(FaultyStoreFactory::new(spill, Fault::ShortTake(1)));
/// assert!(catch_unwind(AssertUnwindSafe(|| check_round_trip(&short))).is_err());
/// # Ok::<(), parquet_spill::Error>(())
/// ```
pub fn check_round_trip(factory: &SharedFactory) {
    let mut store = create_store(factory).unwrap_or_else(|e| panic!("create store: {e}"));
    let mut keys = Vec::new();
    for (i, &len) in BLOB_SIZES.iter().enumerate() {
        let key = store
            .put(blob(len, i as u8))
            .unwrap_or_else(|e| panic!("put {len} bytes: {e}"));
        assert!(
            !keys.iter().any(|(k, _)| *k == key),
            "key {key:?} minted twice"
        );
        keys.push((key, i));
    }
    // The writer takes the dictionary page first: exercise a non-put order.
    keys.rotate_left(3);
    keys.swap(1, 5);
    for (key, i) in keys {
        let got = store
            .take(key)
            .unwrap_or_else(|e| panic!("take {key:?}: {e}"));
        assert_eq!(
            got,
            blob(BLOB_SIZES[i], i as u8),
            "blob {i} ({} bytes) came back different",
            BLOB_SIZES[i]
        );
    }
}

/// An empty blob taken after every other blob of its store is gone (parquet
/// puts a 14-byte header and an empty dictionary page for an empty chunk).
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{check_empty_blob_last, SharedFactory};
/// use parquet_spill::FileStoreFactory;
/// // Spill everything (even the 14-byte header) to cover the file path.
/// let spill = Arc::new(FileStoreFactory::new()?.with_inline_threshold(0));
/// check_empty_blob_last(&(spill.clone() as SharedFactory));
/// assert_eq!(spill.stats().file_len, 0, "the file is empty again");
/// # Ok::<(), parquet_spill::Error>(())
/// ```
pub fn check_empty_blob_last(factory: &SharedFactory) {
    let mut store = create_store(factory).unwrap_or_else(|e| panic!("create store: {e}"));
    let header = store
        .put(blob(14, 1))
        .unwrap_or_else(|e| panic!("put: {e}"));
    let empty = store
        .put(Bytes::new())
        .unwrap_or_else(|e| panic!("put: {e}"));
    assert_eq!(
        store.take(header).unwrap_or_else(|e| panic!("take: {e}")),
        blob(14, 1)
    );
    let got = store
        .take(empty)
        .unwrap_or_else(|e| panic!("take empty: {e}"));
    assert!(
        got.is_empty(),
        "empty blob came back with {} bytes",
        got.len()
    );
}

/// Many stores from one factory, used at once from many threads, each get their own bytes back.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{check_concurrent_stores, SharedFactory};
/// use parquet_spill::FileStoreFactory;
/// let spill = Arc::new(FileStoreFactory::new()?);
/// check_concurrent_stores(&(spill.clone() as SharedFactory));
/// let stats = spill.stats();
/// assert!(stats.blobs_spilled > 0 && stats.blobs_read > 0);
/// assert_eq!(stats.file_bytes_live, 0);
/// # Ok::<(), parquet_spill::Error>(())
/// ```
pub fn check_concurrent_stores(factory: &SharedFactory) {
    thread::scope(|scope| {
        for t in 0..8u8 {
            scope.spawn(move || {
                let mut store =
                    create_store(factory).unwrap_or_else(|e| panic!("create store: {e}"));
                for round in 0..5usize {
                    let keys: Vec<_> = (0..40usize)
                        .map(|i| {
                            let len = (i * 977 + round * 131) % 20_000;
                            (
                                store
                                    .put(blob(len, t))
                                    .unwrap_or_else(|e| panic!("put: {e}")),
                                len,
                            )
                        })
                        .collect();
                    for (key, len) in keys {
                        let got = store.take(key).unwrap_or_else(|e| panic!("take: {e}"));
                        assert_eq!(got, blob(len, t), "thread {t}: blob of {len} bytes differs");
                    }
                }
            });
        }
    });
}

/// `memory_size()` matches the heap the store really holds, as seen by the
/// process's [`CountingAlloc`]. Skipped (returns `false`) when that allocator
/// is not installed; returns `true` when it checked.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{check_memory_size, CountingAlloc, Subject};
/// use parquet_spill::MemoryStoreFactory;
///
/// #[global_allocator]
/// static ALLOC: CountingAlloc = CountingAlloc::new();
/// static NOT_INSTALLED: CountingAlloc = CountingAlloc::new();
///
/// fn main() {
///     let subject: Subject = Arc::new(MemoryStoreFactory::new()).into();
///     assert!(check_memory_size(&subject, &ALLOC), "checked against the real heap");
///     assert!(!check_memory_size(&subject, &NOT_INSTALLED), "skipped");
/// }
/// ```
pub fn check_memory_size(subject: &Subject, alloc: &'static CountingAlloc) -> bool {
    if !alloc.is_installed() {
        return false;
    }
    let elsewhere = || subject.held_elsewhere.as_ref().map_or(0, |f| f()) as i64;
    let mut store = create_store(&subject.factory).unwrap_or_else(|e| panic!("create store: {e}"));
    let before = alloc.current() as i64 - elsewhere();
    let reported_before = store.memory_size() as i64;
    let mut keys = Vec::new();
    for round in 0..4u8 {
        // Page-sized blobs, each after a header-sized one, as the writer puts them.
        let sizes = BLOB_SIZES.iter().flat_map(|&len| [40, len]);
        let headers = (0..200).map(|i| 20 + i % 50);
        for (i, len) in sizes.chain(headers).enumerate() {
            keys.push(
                store
                    .put(blob(len, i as u8 ^ round))
                    .unwrap_or_else(|e| panic!("put: {e}")),
            );
        }
        let held = alloc.current() as i64 - elsewhere() - before;
        let reported = store.memory_size() as i64 - reported_before;
        let slack = 64 * 1024 + held.abs() / 50;
        assert!(
            (held - reported).abs() <= slack,
            "store reports {reported} bytes in memory but holds {held} (after {} puts)",
            keys.len()
        );
    }
    for key in keys {
        drop(store.take(key).unwrap_or_else(|e| panic!("take: {e}")));
    }
    let held = alloc.current() as i64 - elsewhere() - before;
    let reported = store.memory_size() as i64 - reported_before;
    assert!(
        (held - reported).abs() <= 64 * 1024,
        "after taking everything the store reports {reported} bytes but holds {held}"
    );
    true
}
