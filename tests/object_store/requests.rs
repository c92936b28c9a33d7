//! Requests: read-ahead turns a flush's get per page into a few large gets
//! within its memory bound (wrapping around to blobs put earlier, fitting
//! interleaved blobs into its pool), and a printout of requests per GiB —
//! the number that decides an object store's cost and latency.

use std::sync::Arc;

use bytes::Bytes;
use object_store::memory::InMemory;
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet_spill::testkit::object_store::{objects_under as count_objects, CountingStore};
use parquet_spill::workloads::Workload;
use parquet_spill::{FileStoreFactory, ObjectStoreFactory, PageStore};

use crate::write_with;

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
