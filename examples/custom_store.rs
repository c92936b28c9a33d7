//! How-to: check your own page store with the conformance suite.
//!
//! ```text
//! cargo run --release --example custom_store
//! ```
//!
//! A [`PageStore`] only moves bytes, so the bar is strict: a file written
//! through it must be byte-identical to what parquet's default store writes.
//! The test kit runs that comparison over every Arrow type, every codec,
//! page layouts, row groups and the parallel path. In your crate you would
//! put `parquet_spill::conformance_tests!(Arc::new(MyFactory))` in an
//! integration test; this example runs the same checks from `main` against a
//! deliberately simple store: a `Vec` of blobs that compacts what it keeps.

use std::sync::Arc;

use bytes::Bytes;
use parquet::errors::{ParquetError, Result};
use parquet_spill::testkit::{self, SharedFactory};
use parquet_spill::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};

/// Your store: blobs in a `Vec`, taken out once.
#[derive(Debug, Default)]
struct VecStore {
    blobs: Vec<Option<Bytes>>,
}

impl PageStore for VecStore {
    fn put(&mut self, value: Bytes) -> Result<PageKey> {
        // Copy: parquet hands headers over in 1 KiB buffers.
        self.blobs.push(Some(Bytes::copy_from_slice(&value)));
        Ok(PageKey::new(self.blobs.len() as u64 - 1))
    }

    fn take(&mut self, key: PageKey) -> Result<Bytes> {
        self.blobs
            .get_mut(key.get() as usize)
            .and_then(Option::take)
            .ok_or_else(|| ParquetError::General(format!("no blob under {key:?}")))
    }

    fn memory_size(&self) -> usize {
        self.blobs.iter().flatten().map(Bytes::len).sum()
    }
}

#[derive(Debug)]
struct VecStoreFactory;

impl PageStoreFactory for VecStoreFactory {
    fn create(&self, _args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
        Ok(Box::<VecStore>::default())
    }
}

fn main() {
    let factory: SharedFactory = Arc::new(VecStoreFactory);
    testkit::check_round_trip(&factory);
    testkit::check_empty_blob_last(&factory);
    testkit::check_concurrent_stores(&factory);
    for (group, cases) in [
        ("types", testkit::type_cases()),
        ("codecs", testkit::codec_cases()),
        ("layouts", testkit::layout_cases()),
        ("row groups", testkit::row_group_cases()),
        ("parallel path", testkit::parallel_cases()),
    ] {
        let n = cases.len();
        testkit::check_cases(&factory, cases);
        println!("{group}: {n} cases byte-identical to parquet's default store");
    }
    println!("VecStoreFactory conforms");
}
