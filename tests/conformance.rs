//! The conformance suite run against every store this crate ships, parquet's
//! default store, and a sparse-key `HashMap` store.

use std::sync::Arc;

use parquet_spill::testkit::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Parquet's own store passes everything but the memory check: see
/// `upstream_in_memory_store_underreports_header_buffers`.
mod in_memory {
    parquet_spill::conformance_tests!(std::sync::Arc::new(parquet_spill::InMemoryPageStoreFactory));
}

/// Canary for an upstream accounting gap: parquet hands each page header
/// over in a `Vec::with_capacity(1024)`, and `InMemoryPageStore` keeps that
/// buffer while reporting only the header's length, so `memory_size()`
/// under-reports by about 1 KiB per page. When this starts failing, upstream
/// fixed it: move `in_memory` above to the allocator-checked suite.
#[test]
fn upstream_in_memory_store_underreports_header_buffers() {
    let factory: parquet_spill::testkit::SharedFactory =
        Arc::new(parquet_spill::InMemoryPageStoreFactory);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        parquet_spill::testkit::check_memory_size(&factory, &ALLOC)
    }));
    let message = result
        .err()
        .and_then(|e| e.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(
        message.contains("store reports"),
        "the in-memory store now passes the memory check (or failed differently: {message:?})"
    );
}

mod sparse_map {
    parquet_spill::conformance_tests!(
        std::sync::Arc::new(parquet_spill::testkit::SparseMapStoreFactory),
        super::ALLOC
    );
}

fn file_store() -> Arc<parquet_spill::FileStoreFactory> {
    Arc::new(parquet_spill::FileStoreFactory::new().expect("spill file in the temp dir"))
}

mod file_store {
    parquet_spill::conformance_tests!(super::file_store(), super::ALLOC);
}

mod file_store_spill_everything {
    parquet_spill::conformance_tests!(
        std::sync::Arc::new(
            parquet_spill::FileStoreFactory::new()
                .expect("spill file")
                .with_inline_threshold(0)
        ),
        super::ALLOC
    );
}

fn tiered(limit: usize) -> Arc<parquet_spill::TieredStoreFactory> {
    Arc::new(parquet_spill::TieredStoreFactory::new(
        parquet_spill::MemoryBudget::new(limit),
        parquet_spill::FileStoreFactory::new().expect("spill file"),
    ))
}

/// A budget far larger than any case: nothing spills.
mod tiered_roomy {
    parquet_spill::conformance_tests!(super::tiered(1 << 30), super::ALLOC);
}

/// A budget of a few pages: every case mixes heap-kept and spilled pages.
mod tiered_tight {
    parquet_spill::conformance_tests!(super::tiered(48 * 1024), super::ALLOC);
}

/// A zero budget: everything spills, headers included.
mod tiered_zero {
    parquet_spill::conformance_tests!(super::tiered(0), super::ALLOC);
}
