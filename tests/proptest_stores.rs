//! Property tests: every store writes exactly what parquet's default store
//! writes, for random schemas, data and writer properties.
//!
//! Why: the conformance matrix (`testkit`) checks shapes chosen by hand. A
//! store that mishandles, say, an empty blob, a dictionary page arriving
//! after its data pages, or a row group whose pages straddle the tiered
//! budget only fails on the inputs that trigger it. Here proptest draws the
//! schema (nested up to depth 3, see `tests/common/mod.rs`), the data, the
//! writer properties, the writer path and the tiered store's budget, and
//! every store must produce a byte-identical file that reads back equal to
//! the input ([`testkit::check_case`]). Failures shrink to a small schema.
//!
//! Reproducible by default: a fixed seed and 64 cases (under 10 s in the dev
//! profile). `PROPTEST_CASES=1000` runs more (about 30 s), `PROPTEST_RNG_SEED=n`
//! explores other inputs; a failure prints the minimal input (schema, row
//! counts, data seed, settings), which reproduces it without any persisted
//! file, so failure persistence is off.
//!
//! With feature `object_store`, an `ObjectStoreFactory` over object_store's
//! `InMemory` joins them, with a random buffer size (down to one byte), read-
//! ahead and number of background uploads; afterwards no object may remain.
//!
//! It found that `FileStore` panicked taking an empty blob after its header
//! arena was freed (fixed in `FileStore::fetch`): an empty row group on the
//! parallel path, pinned by the regression test at the end.

mod common;

use std::sync::Arc;

use parquet_spill::testkit::{self, Case, SharedFactory, SparseMapStoreFactory};
use parquet_spill::{FileStoreFactory, MemoryBudget, TieredStoreFactory};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

/// Cases when `PROPTEST_CASES` is not set.
const DEFAULT_CASES: u32 = 64;
/// Seed when `PROPTEST_RNG_SEED` is not set.
const DEFAULT_SEED: u64 = 0x5EED_1234;

fn config() -> Config {
    // `Config::default()` has already read the PROPTEST_* variables.
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(DEFAULT_SEED);
    }
    config.failure_persistence = None;
    // Each case writes several files: keep shrinking to a few minutes at most.
    config.max_shrink_iters = 256;
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_store_writes_what_the_default_store_writes(
        input in common::input(1500),
        settings in common::settings(),
        parallel in any::<bool>(),
        budget in prop_oneof![Just(0usize), 0usize..=256 * 1024],
        object_store in (1usize..=64 * 1024, 0usize..=128 * 1024, 0usize..=2),
    ) {
        let case = Case {
            name: format!("{input:?} {settings:?} parallel: {parallel} budget: {budget}"),
            batches: input.batches(),
            props: settings.properties(),
            parallel,
        };
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(FileStoreFactory::in_dir(dir.path()).unwrap());
        let tiered = Arc::new(TieredStoreFactory::new(
            MemoryBudget::new(budget),
            FileStoreFactory::in_dir(dir.path()).unwrap(),
        ));
        let stores: [SharedFactory; 3] =
            [file.clone(), tiered.clone(), Arc::new(SparseMapStoreFactory)];
        for store in &stores {
            testkit::check_case(store, &case);
        }

        // Every page was handed back: no disk space, heap or budget left held.
        for (name, stats) in [("file", file.stats()), ("tiered", tiered.inner().stats())] {
            prop_assert_eq!(
                (stats.file_bytes_live, stats.file_len, stats.heap_bytes),
                (0, 0, 0),
                "{} store kept pages after close",
                name
            );
        }
        prop_assert_eq!(tiered.stats().heap_bytes, 0);
        prop_assert_eq!(tiered.budget().used(), 0);
        prop_assert!(tiered.budget().peak() <= budget);

        #[cfg(feature = "object_store")]
        check_object_store(&case, object_store)?;
        #[cfg(not(feature = "object_store"))]
        let _ = object_store;
    }
}

/// The case through an `ObjectStoreFactory` over `InMemory` with
/// `(buffer_size, read_ahead, uploads_in_flight)`; no object may remain.
#[cfg(feature = "object_store")]
fn check_object_store(
    case: &Case,
    (buffer_size, read_ahead, uploads): (usize, usize, usize),
) -> Result<(), TestCaseError> {
    use object_store::memory::InMemory;
    use object_store::ObjectStore;
    use parquet_spill::ObjectStoreFactory;

    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let factory = Arc::new(
        ObjectStoreFactory::builder(Arc::clone(&mem), "prop".into())
            .buffer_size(buffer_size)
            .read_ahead(read_ahead)
            .uploads_in_flight(uploads)
            .build()
            .unwrap(),
    );
    let store: SharedFactory = factory.clone();
    testkit::check_case(&store, case);
    let stats = factory.stats();
    prop_assert_eq!(stats.objects_live, 0, "{:?}", stats);
    prop_assert!(stats.read_ahead_peak <= read_ahead as u64, "{:?}", stats);
    drop((store, factory));
    let left = parquet_spill::testkit::object_store::objects_under(&*mem, "prop");
    prop_assert_eq!(left, 0, "objects left behind");
    Ok(())
}

/// Regression: an empty row group on the parallel (`ArrowRowGroupWriterFactory`)
/// path with dictionary encoding on. Each column chunk is then a dictionary
/// page with an empty body and no data page: the header (14 bytes) is taken
/// first, which freed `FileStore`'s header arena, and taking the empty body
/// then sliced the freed arena out of range and panicked inside the writer.
/// The property test found it.
#[test]
fn an_empty_row_group_on_the_parallel_path() {
    let schema = arrow_schema::Schema::new(vec![arrow_schema::Field::new(
        "x",
        arrow_schema::DataType::Int8,
        false,
    )]);
    let case = Case {
        name: "empty row group, parallel path".into(),
        batches: vec![arrow_array::RecordBatch::new_empty(Arc::new(schema))],
        props: Default::default(),
        parallel: true,
    };
    let store: SharedFactory = Arc::new(FileStoreFactory::new().unwrap());
    testkit::check_case(&store, &case);
}
