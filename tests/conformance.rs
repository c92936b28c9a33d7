//! The conformance suite, with the counting allocator checking
//! `memory_size()` against real heap, run against every backend this crate
//! ships and every decorator over every backend:
//!
//! - backends: [`MemoryStoreFactory`], [`FileStoreFactory`] (and with
//!   nothing inline), [`ObjectStoreFactory`] over an in-memory object store
//!   (small buffers, so uploads, read-ahead and direct puts all happen);
//! - decorators over each of those three: [`TieredStoreFactory`] with a
//!   roomy, a tight and a zero budget, [`FaultyStoreFactory`] injecting
//!   nothing, [`ThrottledStoreFactory`] adding latency to each call;
//! - and parquet's own in-memory store and a sparse-key test store.
//!
//! [`MemoryStoreFactory`]: parquet_spill::MemoryStoreFactory
//! [`FileStoreFactory`]: parquet_spill::FileStoreFactory
//! [`ObjectStoreFactory`]: parquet_spill::ObjectStoreFactory
//! [`TieredStoreFactory`]: parquet_spill::TieredStoreFactory
//! [`FaultyStoreFactory`]: parquet_spill::testkit::FaultyStoreFactory
//! [`ThrottledStoreFactory`]: parquet_spill::testkit::ThrottledStoreFactory

use std::sync::Arc;
use std::time::Duration;

use parquet_spill::testkit::object_store::CountingStore;
use parquet_spill::testkit::{
    CountingAlloc, Fault, FaultyStoreFactory, SharedFactory, Subject, ThrottleConfig,
    ThrottledStoreFactory,
};
use parquet_spill::{
    FileStoreFactory, MemoryBudget, MemoryStoreFactory, ObjectStoreFactory, TieredStoreFactory,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

fn memory() -> Subject {
    Arc::new(MemoryStoreFactory::new()).into()
}

fn file() -> Subject {
    Arc::new(FileStoreFactory::new().expect("spill file in the temp dir")).into()
}

/// Over an in-memory object store, whose objects are on the heap: the probe
/// tells the memory check how much of it they are.
fn object_store() -> Subject {
    let counting = Arc::new(
        CountingStore::new(Arc::new(::object_store::memory::InMemory::new()), 0)
            .with_compact_copies(),
    );
    let factory = ObjectStoreFactory::builder(counting.clone(), "conformance".into())
        .buffer_size(16 << 10)
        .read_ahead(16 << 10)
        .build()
        .expect("object store factory");
    Subject {
        factory: Arc::new(factory),
        held_elsewhere: Some(Arc::new(move || counting.stored_bytes())),
    }
}

/// `decorate` applied to `backend`, keeping its probe.
fn over(backend: Subject, decorate: impl FnOnce(SharedFactory) -> SharedFactory) -> Subject {
    Subject {
        factory: decorate(backend.factory),
        held_elsewhere: backend.held_elsewhere,
    }
}

fn tiered(limit: usize, backend: Subject) -> Subject {
    over(backend, |inner| {
        Arc::new(TieredStoreFactory::over(MemoryBudget::new(limit), inner))
    })
}

fn faulty(backend: Subject) -> Subject {
    over(backend, |inner| {
        Arc::new(FaultyStoreFactory::new(inner, Fault::None))
    })
}

fn throttled(backend: Subject) -> Subject {
    let config = ThrottleConfig {
        wait_create: Duration::from_micros(20),
        wait_put: Duration::from_micros(20),
        wait_take: Duration::from_micros(20),
    };
    over(backend, |inner| {
        Arc::new(ThrottledStoreFactory::new(inner, config))
    })
}

mod memory {
    parquet_spill::conformance_tests!(super::memory(), super::ALLOC);
}

mod file {
    parquet_spill::conformance_tests!(super::file(), super::ALLOC);
}

mod file_spill_everything {
    parquet_spill::conformance_tests!(
        std::sync::Arc::new(
            parquet_spill::FileStoreFactory::new()
                .expect("spill file")
                .with_inline_threshold(0)
        ),
        super::ALLOC
    );
}

mod object_store {
    parquet_spill::conformance_tests!(super::object_store(), super::ALLOC);
}

/// Every decorator over every backend.
macro_rules! decorated {
    ($($name:ident: $decorate:expr;)*) => {$(
        mod $name {
            mod over_memory {
                parquet_spill::conformance_tests!(($decorate)(super::super::memory()), super::super::ALLOC);
            }
            mod over_file {
                parquet_spill::conformance_tests!(($decorate)(super::super::file()), super::super::ALLOC);
            }
            mod over_object_store {
                parquet_spill::conformance_tests!(($decorate)(super::super::object_store()), super::super::ALLOC);
            }
        }
    )*};
}

decorated! {
    // A budget far larger than any case: nothing is passed on.
    tiered_roomy: |b| super::super::tiered(1 << 30, b);
    // A budget of a few pages: every case mixes heap-kept and passed-on pages.
    tiered_tight: |b| super::super::tiered(48 << 10, b);
    // A zero budget: everything is passed on, headers included.
    tiered_zero: |b| super::super::tiered(0, b);
    faulty_none: super::super::faulty;
    throttled: super::super::throttled;
}

mod sparse_map {
    parquet_spill::conformance_tests!(
        std::sync::Arc::new(parquet_spill::testkit::SparseMapStoreFactory),
        super::ALLOC
    );
}

/// Parquet's own store passes everything but the memory check: see
/// `upstream_in_memory_store_underreports_header_buffers`.
mod parquet_in_memory {
    parquet_spill::conformance_tests!(std::sync::Arc::new(parquet_spill::InMemoryPageStoreFactory));
}

/// Canary for an upstream accounting gap: parquet hands each page header
/// over in a `Vec::with_capacity(1024)`, and `InMemoryPageStore` keeps that
/// buffer while reporting only the header's length, so `memory_size()`
/// under-reports by about 1 KiB per page. When this starts failing, upstream
/// fixed it: move `parquet_in_memory` above to the allocator-checked suite.
#[test]
fn upstream_in_memory_store_underreports_header_buffers() {
    assert_memory_check_fails(Arc::new(parquet_spill::InMemoryPageStoreFactory).into());
}

fn assert_memory_check_fails(subject: Subject) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parquet_spill::testkit::check_memory_size(&subject, &ALLOC)
    }));
    let message = result
        .err()
        .and_then(|e| e.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        message.contains("store reports"),
        "the store passed the memory check (or failed differently: {message:?})"
    );
}
