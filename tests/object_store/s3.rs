//! Against a real S3 API: moto's server on loopback (the one at
//! `PARQUET_SPILL_S3_ENDPOINT`, started by `scripts/s3_server.sh`, or else
//! `moto_server` from `PATH`). What `InMemory` cannot show — signed HTTP
//! requests, S3's listing and delete semantics, request counts over a real
//! API — is checked here. Each test is skipped with a note when no server is
//! available, unless `PARQUET_SPILL_REQUIRE_S3` is set (then it fails).

use std::sync::Arc;

use arrow_array::RecordBatch;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use parquet_spill::testkit::object_store::{objects_under as count_objects, CountingStore};
use parquet_spill::testkit::{self, SharedFactory};
use parquet_spill::workloads::Workload;
use parquet_spill::{Error, ObjectStoreFactory, SpillOptions};

use crate::common::s3_server::S3Server;
use crate::write_bytes;

/// A new bucket named `bucket` on moto's S3 API, and the server, which must
/// outlive the store (a server this process started is killed on drop).
/// `None`, after a note naming `test`, when no server is available — a
/// failure instead if `PARQUET_SPILL_REQUIRE_S3` is set.
fn moto_bucket(test: &str, bucket: &str) -> Option<(S3Server, Arc<dyn ObjectStore>)> {
    let Some(server) = S3Server::start() else {
        assert!(
            std::env::var_os("PARQUET_SPILL_REQUIRE_S3").is_none(),
            "PARQUET_SPILL_REQUIRE_S3 is set but neither PARQUET_SPILL_S3_ENDPOINT nor moto_server is available"
        );
        eprintln!("{test}: skipped (no PARQUET_SPILL_S3_ENDPOINT, no moto_server on PATH)");
        return None;
    };
    server.create_bucket(bucket);
    let store = server.store(bucket);
    Some((server, store))
}

/// The suite's round-trip, concurrency and type checks, a failure and
/// leftover check, and request counts against a real S3 API (moto). Skipped
/// with a note when no server is available, unless `PARQUET_SPILL_REQUIRE_S3=1`.
#[test]
fn s3_via_moto() {
    let bucket = format!("parquet-spill-{}", std::process::id());
    let Some((_server, s3)) = moto_bucket("s3_via_moto", &bucket) else {
        return;
    };

    let factory: SharedFactory = Arc::new(
        ObjectStoreFactory::builder(Arc::clone(&s3), "suite".into())
            .buffer_size(256 << 10)
            .build()
            .unwrap(),
    );
    parquet_spill::testkit::check_round_trip(&factory);
    parquet_spill::testkit::check_empty_blob_last(&factory);
    parquet_spill::testkit::check_concurrent_stores(&factory);
    parquet_spill::testkit::check_cases(&factory, parquet_spill::testkit::type_cases());
    drop(factory);
    assert_eq!(count_objects(&*s3, "suite"), 0);

    // An injected failure on the 3rd request: clear error, nothing left behind.
    let w = Workload::skewed_bytes(4 << 20);
    let counting = Arc::new(CountingStore::new(Arc::clone(&s3), 3));
    let factory = Arc::new(
        ObjectStoreFactory::builder(counting, "faulty".into())
            .buffer_size(256 << 10)
            .build()
            .unwrap(),
    );
    let msg = write_bytes(factory.clone(), &w).unwrap_err().to_string();
    assert!(
        msg.contains("injected failure") && msg.contains("faulty/run-"),
        "{msg}"
    );
    drop(factory);
    assert_eq!(count_objects(&*s3, "faulty"), 0);

    // Requests per GiB with the default 8 MiB buffer.
    let w = Workload::skewed_bytes(32 << 20);
    let counting = Arc::new(CountingStore::new(Arc::clone(&s3), 0));
    let factory = Arc::new(ObjectStoreFactory::new(counting.clone(), "bench".into()).unwrap());
    write_bytes(factory.clone(), &w).unwrap();
    let stats = factory.stats();
    let gib = stats.bytes_spilled as f64 / (1u64 << 30) as f64;
    println!(
        "{} S3 (moto): {} puts, {} gets = {:.0} puts/GiB, {:.0} gets/GiB",
        w.name(),
        stats.puts,
        stats.gets,
        stats.puts as f64 / gib,
        stats.gets as f64 / gib,
    );
    drop(factory);
    assert_eq!(count_objects(&*s3, "bench"), 0);
}

/// The writer limit of [`a_planned_tiered_writer_on_an_object_store_matches_the_default_store`]:
/// far below the workload's ~80 MiB of pages, so most of them spill.
const PLANNED_LIMIT: usize = 16 << 20;

/// What users run: a [`SpillOptions`] plan with an object-store backend —
/// a tiered store keeping pages on the heap within the limit and spilling
/// the rest into objects under `planned/`, read back with read-ahead. The
/// file must be byte-identical to parquet's default store's and read back
/// equal, pages must really have spilled, and no object may remain.
/// Over `InMemory` always, and over moto's S3 API when available.
#[test]
fn a_planned_tiered_writer_on_an_object_store_matches_the_default_store() {
    let w = Workload::WideMixed {
        columns: 40,
        rows: 30_000,
    };
    let batches: Vec<RecordBatch> = w.batches(5_000).collect();
    check_planned_writer("InMemory", Arc::new(InMemory::new()), &w, &batches);

    let bucket = format!("parquet-spill-{}-planned", std::process::id());
    let test = "a_planned_tiered_writer_on_an_object_store_matches_the_default_store";
    if let Some((_server, s3)) = moto_bucket(test, &bucket) {
        check_planned_writer("S3 (moto)", s3, &w, &batches);
    }
}

/// Plan a writer for `w` spilling to `store`, write `batches` with it and
/// with parquet's default store, and compare (see the test above).
fn check_planned_writer(
    label: &str,
    store: Arc<dyn ObjectStore>,
    w: &Workload,
    batches: &[RecordBatch],
) {
    let builder = ObjectStoreFactory::builder(Arc::clone(&store), "planned".into())
        .buffer_size(1 << 20)
        .read_ahead(1 << 20);
    let plan = SpillOptions::new(PLANNED_LIMIT)
        .object_store(builder)
        .expected_file_bytes(w.raw_bytes())
        .plan(&w.schema())
        .unwrap_or_else(|err| match err {
            Error::BudgetTooSmall { minimum, .. } => {
                panic!("{label}: raise PLANNED_LIMIT to at least {minimum}: {err}")
            }
            err => panic!("{label}: planning failed: {err}"),
        });
    let monitor = plan.monitor();
    let (props, factory) = plan.into_parts();
    testkit::check_case(
        &factory,
        &testkit::Case::new(format!("planned {label}"), batches.to_vec(), props),
    );
    let stats = monitor.stats();
    println!("{label}: {stats:?}");
    assert!(
        stats.spilled_bytes > 0,
        "{label}: nothing spilled past the {PLANNED_LIMIT}-byte limit: {stats:?}"
    );
    drop(factory);
    assert_eq!(
        count_objects(&*store, "planned"),
        0,
        "{label}: objects left under planned/"
    );
}
