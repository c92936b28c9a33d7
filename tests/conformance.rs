//! The conformance suite run against every store this crate ships, parquet's
//! default store, and a sparse-key `HashMap` store.

use std::sync::Arc;

use parquet_spill::testkit::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

mod in_memory {
    parquet_spill::conformance_tests!(
        std::sync::Arc::new(parquet_spill::InMemoryPageStoreFactory),
        super::ALLOC
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
