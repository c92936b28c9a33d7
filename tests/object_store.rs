//! `ObjectStoreFactory` (feature `object_store`): the conformance suite over
//! `InMemory`, `LocalFileSystem` and a moto S3 server, background uploads,
//! read-ahead, a sweep of injected request failures, cleanup, and a
//! requests-per-GiB printout.
#![cfg(feature = "object_store")]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::s3_server::S3Server;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::errors::ParquetError;
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet_spill::testkit::measure::{self, ChildRunner, Measurement, Scenario, Store};
use parquet_spill::testkit::object_store::{
    block_on, objects_under as count_objects, CountingStore,
};
use parquet_spill::testkit::{CountingAlloc, SharedFactory};
use parquet_spill::workloads::Workload;
use parquet_spill::{
    FileStoreFactory, MemoryBudget, ObjectStoreFactory, PageStore, PageStoreFactory,
};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

fn in_memory_factory() -> SharedFactory {
    Arc::new(
        ObjectStoreFactory::builder(Arc::new(InMemory::new()), "spill".into())
            .buffer_size(256 << 10)
            .build()
            .unwrap(),
    )
}

fn local_factory() -> SharedFactory {
    // The tempdir is leaked for the test process's life; the factory deletes its objects.
    let dir = tempfile::tempdir().unwrap().keep();
    let store = LocalFileSystem::new_with_prefix(&dir).unwrap();
    Arc::new(
        ObjectStoreFactory::builder(Arc::new(store), "spill".into())
            .buffer_size(256 << 10)
            .build()
            .unwrap(),
    )
}

mod in_memory {
    parquet_spill::conformance_tests!(super::in_memory_factory());
}

mod local_fs {
    parquet_spill::conformance_tests!(super::local_factory());
}

/// The Parquet file `w` makes with `factory`, in one row group.
fn write_bytes(
    factory: Arc<dyn PageStoreFactory>,
    w: &Workload,
) -> parquet::errors::Result<Vec<u8>> {
    write_with(factory, w, WriterProperties::builder())
}

/// [`write_bytes`] with `props` (the row group size is set here).
fn write_with(
    factory: Arc<dyn PageStoreFactory>,
    w: &Workload,
    props: WriterPropertiesBuilder,
) -> parquet::errors::Result<Vec<u8>> {
    let props = props.set_max_row_group_row_count(Some(w.rows())).build();
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_page_store_factory(factory);
    let mut writer = ArrowWriter::try_new_with_options(Vec::new(), w.schema(), options)?;
    for batch in w.batches(w.default_batch_rows()) {
        writer.write(&batch)?;
    }
    writer.into_inner()
}

#[test]
fn blobs_round_trip_across_objects_and_objects_are_deleted() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let factory = ObjectStoreFactory::builder(Arc::clone(&mem), "p".into())
        .buffer_size(1000)
        .build()
        .unwrap();
    let mut a = factory.create_store();
    let mut b = factory.create_store();
    let blobs: Vec<Bytes> = (0..20u8)
        .map(|i| Bytes::from(vec![i; 300 + i as usize]))
        .collect();
    let mut keys = Vec::new();
    for (i, blob) in blobs.iter().enumerate() {
        let store = if i % 2 == 0 { &mut a } else { &mut b };
        keys.push(store.put(blob.clone()).unwrap());
    }
    let big = b.put(Bytes::from(vec![7u8; 5000])).unwrap();
    assert!(count_objects(&*mem, "p") > 5);
    assert!(a.memory_size() > 0 || b.memory_size() > 0);
    for (i, (blob, key)) in blobs.iter().zip(keys).enumerate() {
        let store = if i % 2 == 0 { &mut a } else { &mut b };
        assert_eq!(store.take(key).unwrap(), *blob);
    }
    assert_eq!(b.take(big).unwrap(), vec![7u8; 5000]);
    assert!(b.take(big).is_err(), "a key is taken once");
    assert_eq!(count_objects(&*mem, "p"), 0, "taken objects are deleted");
    let stats = factory.stats();
    assert_eq!(stats.objects_live, 0);
    assert!(stats.gets > 0 && stats.memory_hits > 0, "{stats:?}");
}

#[test]
fn dropping_the_writer_leaves_no_objects() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    {
        let factory = ObjectStoreFactory::builder(Arc::clone(&mem), "p".into())
            .buffer_size(1000)
            .build()
            .unwrap();
        let mut store = factory.create_store();
        for i in 0..10u8 {
            store.put(Bytes::from(vec![i; 600])).unwrap();
        }
        assert!(count_objects(&*mem, "p") >= 5);
        let mut kept = factory.create_store();
        kept.put(Bytes::from(vec![1; 600])).unwrap();
        drop(store);
        kept.put(Bytes::from(vec![1; 600])).unwrap();
        assert!(count_objects(&*mem, "p") <= 1);
        // `kept` and the factory drop here without taking anything.
    }
    assert_eq!(count_objects(&*mem, "p"), 0);
}

/// Fail each request of a write in turn (every put and get, with background
/// uploads and read-ahead on): the write fails with an error naming the
/// object, or, when the failed request's bytes were still served from
/// memory, succeeds with the same file. Nothing is left under the prefix.
#[test]
fn every_injected_request_failure_is_clear_and_leaves_nothing_behind() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let w = Workload::skewed_bytes(4 << 20);
    let factory = |store: Arc<dyn ObjectStore>| {
        Arc::new(
            ObjectStoreFactory::builder(store, "faulty".into())
                .buffer_size(256 << 10)
                .read_ahead(512 << 10)
                .build()
                .unwrap(),
        )
    };
    let clean = Arc::new(CountingStore::new(Arc::clone(&mem), 0));
    let expected = write_bytes(factory(clean.clone()), &w).unwrap();
    let requests = clean.requests();
    assert!(requests > 10, "{requests} requests");
    let mut failed = 0;
    for fail_at in 1..=requests {
        let counting = Arc::new(CountingStore::new(Arc::clone(&mem), fail_at));
        let f = factory(counting.clone());
        match write_bytes(f.clone(), &w) {
            Ok(bytes) => assert!(bytes == expected, "fail_at {fail_at}: different file"),
            Err(err) => {
                failed += 1;
                let msg = err.to_string();
                assert!(msg.contains("injected failure"), "{msg}");
                assert!(msg.contains("spill object faulty/run-"), "{msg}");
                assert!(msg.contains("bytes"), "{msg}");
                let ParquetError::External(inner) = &err else {
                    panic!("expected an External error: {err:?}");
                };
                assert!(inner.downcast_ref::<parquet_spill::Error>().is_some());
            }
        }
        drop(f);
        assert_eq!(
            count_objects(&*mem, "faulty"),
            0,
            "fail_at {fail_at}: objects left behind"
        );
    }
    assert!(
        failed * 2 > requests,
        "only {failed} of {requests} failures reached the writer"
    );
}

/// A background upload's failure is reported by the next `put` that needs
/// its slot, and a blob of that object is then reported lost, not garbage.
#[test]
fn failed_background_upload_is_reported() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let counting = Arc::new(CountingStore::new(Arc::clone(&mem), 1));
    let factory = ObjectStoreFactory::builder(counting, "up".into())
        .buffer_size(1000)
        .build()
        .unwrap();
    let mut store = factory.create_store();
    let first = store.put(Bytes::from(vec![1u8; 600])).unwrap();
    store.put(Bytes::from(vec![2u8; 600])).unwrap(); // uploads object 0 (fails)
    let err = store.put(Bytes::from(vec![3u8; 600])).unwrap_err(); // joins it
    let msg = err.to_string();
    assert!(
        msg.contains("injected failure") && msg.contains("00000000.spill"),
        "{msg}"
    );
    let msg = store.take(first).unwrap_err().to_string();
    assert!(
        msg.contains("is lost") && msg.contains("00000000.spill"),
        "{msg}"
    );
    drop(store);
    drop(factory);
    assert_eq!(count_objects(&*mem, "up"), 0);
}

/// Uploads run while the next buffer fills: `put` returns while an upload
/// is held, blobs of that upload are served from memory, and `put` waits
/// only when `uploads_in_flight` uploads are still running.
#[test]
fn uploads_run_in_the_background_and_are_bounded() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let counting = Arc::new(CountingStore::new(Arc::clone(&mem), 0).with_gate(Arc::clone(&gate)));
    let factory = ObjectStoreFactory::builder(counting.clone(), "bg".into())
        .buffer_size(1000)
        .uploads_in_flight(1)
        .runtime(rt.handle().clone())
        .build()
        .unwrap();
    let mut store = factory.create_store();
    let blob = |i: u8| Bytes::from(vec![i; 300]);
    // Object 0: blobs 0..3; the 4th blob starts object 1 and uploads object 0 (held).
    let keys: Vec<_> = (0..4).map(|i| store.put(blob(i)).unwrap()).collect();
    assert_eq!(factory.stats().puts, 1);
    assert_eq!(factory.stats().upload_waits, 0);
    assert!(store.memory_size() >= 1200, "all four blobs are in memory");
    assert_eq!(store.take(keys[0]).unwrap(), blob(0));
    assert_eq!(counting.gets(), 0, "served from memory");
    assert!(store.memory_size() >= 900 && store.memory_size() < 1200);

    // Filling object 1 and starting object 2 must wait for object 0's upload.
    let released = Arc::new(AtomicBool::new(false));
    let opener = {
        let (gate, released) = (Arc::clone(&gate), Arc::clone(&released));
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            released.store(true, Ordering::SeqCst);
            gate.add_permits(100);
        })
    };
    let more: Vec<_> = (4..7).map(|i| store.put(blob(i)).unwrap()).collect();
    assert!(
        released.load(Ordering::SeqCst),
        "put returned before the held upload finished"
    );
    opener.join().unwrap();
    let stats = factory.stats();
    assert_eq!((stats.puts, stats.upload_waits), (2, 1), "{stats:?}");
    for (i, key) in keys.into_iter().chain(more).enumerate().skip(1) {
        assert_eq!(store.take(key).unwrap(), blob(i as u8));
    }
    drop(store);
    drop(factory);
    assert_eq!(count_objects(&*mem, "bg"), 0);
}

/// Read-ahead turns the flush's one-get-per-page into a few large gets,
/// within its memory bound, with the same file. Pages of 32 KiB, as the
/// planner picks under a tight budget.
#[test]
fn read_ahead_cuts_gets_within_its_bound() {
    let w = Workload::skewed_bytes(8 << 20);
    let run = |read_ahead: usize| {
        let counting = Arc::new(CountingStore::new(Arc::new(InMemory::new()), 0));
        let factory = Arc::new(
            ObjectStoreFactory::builder(counting.clone(), "ra".into())
                .buffer_size(256 << 10)
                .read_ahead(read_ahead)
                .build()
                .unwrap(),
        );
        // 32 KiB pages: 4 rows of 8 KiB per write batch, no dictionary
        // (whose one page per column would hold all the distinct values).
        let props = WriterProperties::builder()
            .set_data_page_size_limit(32 << 10)
            .set_write_batch_size(4)
            .set_dictionary_enabled(false);
        let bytes = write_with(factory.clone(), &w, props).unwrap();
        let stats = factory.stats();
        assert_eq!(stats.gets, counting.gets());
        (bytes, stats)
    };
    let (plain, without) = run(0);
    let (read_ahead, with) = run(1 << 20);
    assert!(plain == read_ahead, "read-ahead changed the file");
    println!(
        "without read-ahead: {without:?}
with 1 MiB read-ahead: {with:?}"
    );
    assert_eq!(without.read_ahead_hits, 0);
    assert!(with.read_ahead_hits > 0, "{with:?}");
    assert!(
        with.gets * 4 <= without.gets,
        "read-ahead: {} gets, without: {}",
        with.gets,
        without.gets
    );
    assert_eq!(
        without.get_rounds, without.gets,
        "one get per round without"
    );
    assert!(with.get_rounds < with.gets, "{with:?}");
    assert!(with.read_ahead_peak <= 1 << 20, "{with:?}");
    assert!(with.read_ahead_peak > 0, "{with:?}");
}

/// parquet puts a column's dictionary page last and takes it first: the
/// read-ahead of that first take wraps around to the blobs put before it,
/// so the whole column costs one round of gets, not two.
#[test]
fn read_ahead_wraps_around_to_blobs_put_earlier() {
    let factory = ObjectStoreFactory::builder(Arc::new(InMemory::new()), "wrap".into())
        .buffer_size(4 << 10)
        .uploads_in_flight(0)
        .read_ahead(1 << 20)
        .build()
        .unwrap();
    let mut store = factory.create_store();
    let blob = |i: u8| Bytes::from(vec![i; 3 << 10]);
    // One blob per object; the 8th stays in the buffer.
    let keys: Vec<_> = (0..8).map(|i| store.put(blob(i)).unwrap()).collect();
    // The "dictionary page": the last uploaded blob, taken first.
    assert_eq!(store.take(keys[6]).unwrap(), blob(6));
    for i in [0, 1, 2, 3, 4, 5, 7] {
        assert_eq!(store.take(keys[i]).unwrap(), blob(i as u8));
    }
    let stats = factory.stats();
    assert_eq!(stats.get_rounds, 1, "{stats:?}");
    assert_eq!((stats.gets, stats.read_ahead_hits), (7, 6), "{stats:?}");
}

/// Deletes that fail while writing are retried when the factory drops.
#[test]
fn failed_deletes_are_retried_on_drop() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let counting = Arc::new(CountingStore::new(Arc::clone(&mem), 0).with_failing_deletes(3));
    let factory = Arc::new(
        ObjectStoreFactory::builder(counting.clone(), "del".into())
            .buffer_size(256 << 10)
            .build()
            .unwrap(),
    );
    write_bytes(factory.clone(), &Workload::skewed_bytes(4 << 20)).unwrap();
    assert_eq!(count_objects(&*mem, "del"), 3, "three deletes failed");
    assert_eq!(factory.stats().objects_live, 3);
    drop(factory);
    assert_eq!(count_objects(&*mem, "del"), 0);
}

/// A column's blobs interleaved with another's: the gaps merged into its
/// gets make the read-ahead charge twice the blobs it reads. The window
/// shrinks to fit the pool instead of falling back to a get per blob.
#[test]
fn read_ahead_fits_interleaved_blobs_into_the_pool() {
    let counting = Arc::new(CountingStore::new(Arc::new(InMemory::new()), 0));
    let factory = ObjectStoreFactory::builder(counting.clone(), "gap".into())
        .buffer_size(4 << 20)
        .read_ahead(1 << 20)
        .build()
        .unwrap();
    let (mut a, mut b) = (factory.create_store(), factory.create_store());
    let blob = |i: usize| Bytes::from(vec![i as u8; 32 << 10]);
    let mut keys = Vec::new();
    for i in 0..256 {
        keys.push(a.put(blob(i)).unwrap());
        b.put(blob(i)).unwrap();
    }
    let before = factory.stats();
    for (i, key) in keys.into_iter().enumerate() {
        assert_eq!(a.take(key).unwrap(), blob(i));
    }
    let stats = factory.stats();
    let gets = stats.gets - before.gets;
    // 192 of a's blobs are in uploaded objects (the last buffer is in memory).
    assert!(gets <= 16, "{gets} gets for 192 blobs: {stats:?}");
    assert!(stats.read_ahead_peak <= 1 << 20, "{stats:?}");
}

#[test]
fn checksum_mismatch_names_the_object() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let factory = ObjectStoreFactory::builder(Arc::clone(&mem), "c".into())
        .buffer_size(1000)
        .uploads_in_flight(0)
        .build()
        .unwrap();
    let mut store = factory.create_store();
    let key = store.put(Bytes::from(vec![3u8; 800])).unwrap();
    store.put(Bytes::from(vec![4u8; 800])).unwrap(); // flushes the first
    let path = factory.dir().clone().join("00000000.spill");
    block_on(mem.put(&path, PutPayload::from(vec![9u8; 800]))).unwrap();
    let msg = store.take(key).unwrap_err().to_string();
    assert!(msg.contains("checksum mismatch"), "{msg}");
    assert!(msg.contains("00000000.spill"), "{msg}");
    assert!(msg.contains("offset 0"), "{msg}");
}

#[test]
fn buffers_and_read_ahead_are_charged_to_the_budget() {
    let budget = MemoryBudget::new(4 << 20);
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let builder = || {
        ObjectStoreFactory::builder(Arc::clone(&mem), "b".into())
            .buffer_size(768 << 10)
            .uploads_in_flight(2)
            .read_ahead(1 << 20)
            .budget(budget.clone())
    };
    let factory = builder().build().unwrap();
    assert_eq!(factory.memory_limit(), 3 * (768 << 10) + (1 << 20));
    assert_eq!(budget.used(), factory.memory_limit());
    let err = builder().build().unwrap_err().to_string();
    assert!(err.contains("budget"), "{err}");
    drop(factory);
    assert_eq!(budget.used(), 0);
}

/// Put three 800-byte blobs into 1000-byte buffers (two uploads) and take
/// them back: requests, background uploads and joins from the calling thread.
fn exercise(factory: &ObjectStoreFactory) {
    let mut store = factory.create_store();
    let keys: Vec<_> = (0..3u8)
        .map(|i| store.put(Bytes::from(vec![i; 800])).unwrap())
        .collect();
    for (i, key) in keys.into_iter().enumerate() {
        assert_eq!(store.take(key).unwrap(), vec![i as u8; 800]);
    }
}

/// Every calling context works: a plain thread, an async task on a worker
/// of a one-worker runtime (its uploads must still run), `spawn_blocking`,
/// and inside a current-thread runtime; a current-thread runtime handle is
/// refused up front.
#[test]
fn every_calling_context_works_and_current_thread_handles_are_refused() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let build = |handle: Option<tokio::runtime::Handle>| {
        let builder =
            ObjectStoreFactory::builder(Arc::new(InMemory::new()), "h".into()).buffer_size(1000);
        match handle {
            Some(h) => builder.runtime(h),
            None => builder,
        }
        .build()
    };
    let on_rt = Arc::new(build(Some(rt.handle().clone())).unwrap());
    exercise(&on_rt);
    let f = Arc::clone(&on_rt);
    rt.block_on(rt.spawn(async move { exercise(&f) })).unwrap();
    let f = Arc::clone(&on_rt);
    rt.block_on(rt.spawn_blocking(move || exercise(&f)))
        .unwrap();
    // The writer on the runtime's only worker, the factory on the same runtime.
    let f = Arc::clone(&on_rt);
    rt.block_on(async move { exercise(&f) });

    let ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = build(Some(ct.handle().clone())).unwrap_err().to_string();
    assert!(err.contains("multi-thread"), "{err}");
    let owned = Arc::new(build(None).unwrap());
    let f = Arc::clone(&owned);
    ct.block_on(async move { exercise(&f) });
    let f = Arc::clone(&owned);
    ct.block_on(ct.spawn_blocking(move || exercise(&f)))
        .unwrap();
    assert_eq!(owned.stats().objects_live, 0);
    assert_eq!(on_rt.stats().objects_live, 0);
}

#[test]
fn cleanup_removes_leftovers() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    block_on(async {
        for i in 0..3 {
            let p = Path::from(format!("crash/run-9-9-0/{i:08}.spill"));
            mem.put(&p, PutPayload::from(vec![0u8; 10])).await.unwrap();
        }
        mem.put(&"other/x".into(), PutPayload::from(vec![0u8; 1]))
            .await
            .unwrap();
        let n = ObjectStoreFactory::cleanup(&*mem, &"crash".into())
            .await
            .unwrap();
        assert_eq!(n, 3);
    });
    assert_eq!(count_objects(&*mem, "crash"), 0);
    assert_eq!(count_objects(&*mem, "other"), 1);
}

/// Requests per GiB spilled on the narrow skewed workload, with parquet's
/// default pages and with 32 KiB pages (as planned under a tight budget),
/// read-ahead on and off; default buffer (8 MiB). Prints a table;
/// `OBJECT_STORE_BENCH_MIB` sets the size (default 64). Throughput is
/// measured by criterion (`benches/write_throughput.rs`), not here.
#[test]
fn requests_per_gib() {
    let mib: u64 = std::env::var("OBJECT_STORE_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let skewed = Workload::skewed_bytes(mib << 20);
    // As many raw bytes per column as the skewed workload's fat columns
    // have per row group, over 300 columns: a round trip per column shows.
    let wide = Workload::WideMixed {
        columns: 300,
        rows: (mib as usize * 32).max(1),
    };
    let small_pages = || {
        WriterProperties::builder()
            .set_data_page_size_limit(32 << 10)
            .set_write_batch_size(4)
            .set_dictionary_enabled(false)
    };
    let default_pages = WriterProperties::builder as fn() -> WriterPropertiesBuilder;
    let mut rows = Vec::new();
    for (w, pages, props) in [
        (skewed, "default", default_pages),
        (skewed, "32 KiB", small_pages),
        (wide, "default", default_pages),
    ] {
        let expected = write_with(Arc::new(FileStoreFactory::new().unwrap()), &w, props()).unwrap();
        for read_ahead in [0, parquet_spill::DEFAULT_BUFFER_SIZE] {
            let counting = Arc::new(CountingStore::new(Arc::new(InMemory::new()), 0));
            let factory = Arc::new(
                ObjectStoreFactory::builder(counting.clone(), "bench".into())
                    .read_ahead(read_ahead)
                    .build()
                    .unwrap(),
            );
            let bytes = write_with(factory.clone(), &w, props()).unwrap();
            assert!(bytes == expected, "same file as the file store");
            let stats = factory.stats();
            assert_eq!(stats.puts, counting.puts());
            assert_eq!(stats.gets, counting.gets());
            // Few, large puts: a buffer is sealed only when the next blob
            // does not fit, so two consecutive objects hold more than a
            // buffer's worth.
            let buffers = stats.bytes_spilled.div_ceil(factory.buffer_size() as u64);
            assert!(stats.puts <= 2 * buffers + 1, "{stats:?}");
            let gib = stats.bytes_spilled as f64 / f64::from(1 << 30);
            rows.push(vec![
                w.name(),
                pages.to_string(),
                format!("{} MiB", read_ahead >> 20),
                format!("{:.1}", stats.bytes_spilled as f64 / f64::from(1 << 20)),
                stats.puts.to_string(),
                stats.gets.to_string(),
                stats.get_rounds.to_string(),
                format!("{:.0}", stats.puts as f64 / gib),
                format!("{:.0}", stats.gets as f64 / gib),
                format!("{:.0}", stats.get_rounds as f64 / gib),
                stats.read_ahead_hits.to_string(),
                stats.memory_hits.to_string(),
            ]);
            drop(factory);
            assert_eq!(count_objects(&*counting, "bench"), 0);
        }
    }
    let header = [
        "workload",
        "pages",
        "read-ahead",
        "spilled MiB",
        "puts",
        "gets",
        "get rounds",
        "puts/GiB",
        "gets/GiB",
        "rounds/GiB",
        "read-ahead hits",
        "memory hits",
    ];
    println!(
        "{}",
        parquet_spill::testkit::measure::text_table(&header, &rows, 3)
    );
}

/// The suite's round-trip, concurrency and type checks, a failure and
/// leftover check, and request counts against a real S3 API (moto). Skipped
/// with a note when no server is available, unless `PARQUET_SPILL_REQUIRE_S3=1`.
#[test]
fn s3_via_moto() {
    let Some(server) = S3Server::start() else {
        assert!(
            std::env::var_os("PARQUET_SPILL_REQUIRE_S3").is_none(),
            "PARQUET_SPILL_REQUIRE_S3 is set but neither PARQUET_SPILL_S3_ENDPOINT nor moto_server is available"
        );
        eprintln!("s3_via_moto: skipped (no PARQUET_SPILL_S3_ENDPOINT, no moto_server on PATH)");
        return;
    };
    let bucket = format!("parquet-spill-{}", std::process::id());
    server.create_bucket(&bucket);
    let s3 = server.store(&bucket);

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

/// Which writer [`memory_child`] measures (set by [`heap_stays_within_memory_limit`]).
const MEMORY_CHILD: &str = "PARQUET_SPILL_OBJECT_STORE_MEMORY";

/// The object-store factories measured: over a local directory (so objects
/// are not on the heap), with the default settings and with small ones.
fn measured_factory(which: &str) -> ObjectStoreFactory {
    let dir = tempfile::tempdir().unwrap().keep();
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap());
    let builder = ObjectStoreFactory::builder(store, "mem".into());
    match which {
        "object-store-1MiB" => builder
            .buffer_size(1 << 20)
            .uploads_in_flight(1)
            .read_ahead(1 << 20),
        _ => builder,
    }
    .build()
    .unwrap()
}

/// The child end: one measurement per process (the allocator is global).
#[test]
fn memory_child() {
    let Ok(which) = std::env::var(MEMORY_CHILD) else {
        return;
    };
    let store = match which.as_str() {
        "file" => Store::file(),
        name => Store::Custom {
            name: name.to_string(),
            factory: Arc::new(measured_factory(name)),
        },
    };
    let w = Workload::skewed_bytes(64 << 20);
    let measured = measure::measure_write(&ALLOC, &Scenario::new(w, store)).unwrap();
    println!("{}{measured}", measure::RESULT_PREFIX);
}

/// Peak process heap writing a 64 MiB skewed row group: the object store
/// costs at most its `memory_limit` (buffers + read-ahead) over the file
/// store, whose pages leave the heap at once.
#[test]
fn heap_stays_within_memory_limit() {
    let child = ChildRunner::test("memory_child").unwrap();
    let measure = |which: &str| -> Measurement {
        let out = child.run(MEMORY_CHILD, which).unwrap();
        let line = out
            .lines()
            .find_map(|l| l.find(measure::RESULT_PREFIX).map(|at| &l[at..]))
            .unwrap_or_else(|| panic!("{which}: no measurement in\n{out}"));
        line[measure::RESULT_PREFIX.len()..].parse().unwrap()
    };
    let file = measure("file");
    let mut rows = vec![vec![
        "file".to_string(),
        "-".to_string(),
        measure::human_bytes(file.peak_heap()),
    ]];
    for which in ["object-store", "object-store-1MiB"] {
        let limit = measured_factory(which).memory_limit() as u64;
        let m = measure(which);
        rows.push(vec![
            which.to_string(),
            measure::human_bytes(limit),
            measure::human_bytes(m.peak_heap()),
        ]);
        // 1 MiB for the runtime, the local store's I/O and key tables.
        let bound = file.peak_heap() + limit + (1 << 20);
        assert!(
            m.peak_heap() <= bound,
            "{which}: peak heap {} above the file store's {} + memory_limit {}",
            m.peak_heap(),
            file.peak_heap(),
            limit
        );
    }
    println!(
        "{}",
        measure::text_table(&["store", "memory_limit", "peak heap"], &rows, 1)
    );
}
