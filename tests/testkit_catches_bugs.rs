//! The conformance kit must fail broken stores, or it proves nothing.
//! Each test plants one bug in parquet's in-memory store and expects the
//! matching check to panic.

use std::sync::Arc;

use bytes::Bytes;
use parquet::errors::Result;
use parquet_spill::testkit::{self, CountingAlloc, SharedFactory};
use parquet_spill::{InMemoryPageStore, PageKey, PageStore, PageStoreArgs, PageStoreFactory};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Which bug to plant.
#[derive(Debug, Clone, Copy)]
enum Bug {
    /// Flip one bit of every blob longer than 100 bytes on `take`.
    FlipBit,
    /// Report no resident memory while holding every blob.
    HideMemory,
    /// Return the previously taken blob instead of the asked one.
    Swap,
}

#[derive(Debug)]
struct Buggy(Bug);

struct BuggyStore {
    inner: InMemoryPageStore,
    bug: Bug,
    last: Bytes,
}

impl PageStoreFactory for Buggy {
    fn create(&self, _args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
        Ok(Box::new(BuggyStore {
            inner: InMemoryPageStore::default(),
            bug: self.0,
            last: Bytes::new(),
        }))
    }
}

impl PageStore for BuggyStore {
    fn put(&mut self, value: Bytes) -> Result<PageKey> {
        self.inner.put(value)
    }

    fn take(&mut self, key: PageKey) -> Result<Bytes> {
        let blob = self.inner.take(key)?;
        Ok(match self.bug {
            Bug::FlipBit if blob.len() > 100 => {
                let mut v = blob.to_vec();
                v[50] ^= 1;
                Bytes::from(v)
            }
            Bug::Swap if !self.last.is_empty() => std::mem::replace(&mut self.last, blob),
            Bug::Swap => {
                self.last = blob.clone();
                blob
            }
            _ => blob,
        })
    }

    fn memory_size(&self) -> usize {
        match self.bug {
            Bug::HideMemory => 0,
            _ => self.inner.memory_size(),
        }
    }
}

fn buggy(bug: Bug) -> SharedFactory {
    Arc::new(Buggy(bug))
}

#[test]
#[should_panic(expected = "output differs from the default store")]
fn a_flipped_bit_fails_the_byte_identity_check() {
    testkit::check_cases(&buggy(Bug::FlipBit), testkit::type_cases());
}

#[test]
#[should_panic(expected = "came back different")]
fn a_flipped_bit_fails_the_round_trip_check() {
    testkit::check_round_trip(&buggy(Bug::FlipBit));
}

#[test]
#[should_panic]
fn swapped_blobs_fail_the_matrix() {
    testkit::check_cases(&buggy(Bug::Swap), testkit::type_cases());
}

#[test]
#[should_panic(expected = "store reports 0 bytes in memory")]
fn hidden_memory_fails_the_memory_check() {
    testkit::check_memory_size(&buggy(Bug::HideMemory).into(), &ALLOC);
}

#[test]
fn an_honest_store_passes_the_same_checks() {
    let honest: SharedFactory = Arc::new(parquet_spill::testkit::SparseMapStoreFactory);
    testkit::check_round_trip(&honest);
    assert!(
        testkit::check_memory_size(&honest.into(), &ALLOC),
        "allocator not installed"
    );
}
