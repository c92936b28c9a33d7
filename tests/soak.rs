//! Soak: writers on several threads, one after another, sharing one
//! [`MemoryBudget`] and one spill directory, for a fixed time.
//!
//! Why: the unit and property tests each run one writer. In a service,
//! writers come and go while others hold pages, so the shared parts — the
//! budget's lock-free accounting, reservations held by planned writers, spill
//! files created and dropped in one directory — see interleavings no
//! single-writer test produces. A leak there (a byte of budget never
//! released, a descriptor never closed, a spill file left behind) is small
//! per writer and only shows after many. So this test runs as many writers
//! as fit in the time and then checks that everything came back: the budget
//! is at 0, the directory is empty, the descriptor count is at its baseline,
//! and every file written matched parquet's default store byte for byte and
//! read back equal to its input.
//!
//! Each writer draws a random schema, data and writer properties from the
//! generator shared with the property tests (`tests/common/mod.rs`), a store
//! — planned by [`SpillOptions`] with the shared budget and `writers(THREADS)`,
//! or a plain [`TieredStoreFactory`] on the shared budget — and a path
//! (`ArrowWriter` or the parallel column-per-thread one). Draws are seeded by
//! thread and writer number, so a failure names the seed that reproduces it.
//!
//! A bug it found (a planned writer could not reserve its share while other
//! writers' pages filled the budget) is fixed and pinned by the regression
//! test at the end of this file: pages now leave room for the encoder shares
//! of the declared writers. The room is sized from each writer's own
//! estimate, so writers of very different schemas can still find the budget
//! full; such a plan waits for other writers to flush and retries, and the
//! soak reports how often.
//!
//! `PARQUET_SPILL_SOAK_SECS` sets the duration (default 20 s; every thread
//! runs at least one writer). The descriptor count is compared to the count
//! before the soak, which assumes no other test runs in this process at the
//! same time (nextest runs each test in its own process); descriptors on
//! files in the spill directory are checked for exactly.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parquet::errors::Result as ParquetResult;
use parquet_spill::testkit::{self, SharedFactory};
use parquet_spill::{
    Error, FileStoreFactory, MemoryBudget, SpillOptions, SpillPlan, TieredStoreFactory,
};
use proptest::prelude::*;

const THREADS: usize = 4;
/// Each writer's share of the budget, as `SpillOptions::writers` divides it.
const SHARE: usize = 1 << 20;
/// Rows per batch at most (1 to 3 batches per writer).
const MAX_ROWS: usize = 10_000;
/// How long a writer waits for other writers' pages to leave the budget.
const PLAN_PATIENCE: Duration = Duration::from_secs(60);
/// Soaks at least this long must have spilled something.
const MEANINGFUL: Duration = Duration::from_secs(5);

fn soak_duration() -> Duration {
    let secs = std::env::var("PARQUET_SPILL_SOAK_SECS")
        .ok()
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("PARQUET_SPILL_SOAK_SECS={s}"))
        })
        .unwrap_or(20);
    Duration::from_secs(secs)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Open descriptors whose file is (or was, before being unlinked) in `dir`.
fn fds_into(dir: &Path) -> Vec<String> {
    let dir = format!("{}/", std::fs::canonicalize(dir).unwrap().display());
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|target| target.display().to_string())
        .filter(|target| target.starts_with(&dir))
        .collect()
}

/// Tells the other threads to stop when a writer thread panics.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// What the writers did, summed.
#[derive(Debug, Default)]
struct Tally {
    writers: u64,
    planned: u64,
    parallel: u64,
    /// Plans the planner refused as too small for the schema (the writer
    /// then used a plain tiered store).
    refused: u64,
    /// Planned writers stopped by `Error::PageMetadataExhausted` (their
    /// file's metadata met the other writers' reservations).
    stopped: u64,
    /// Writers whose plan had to wait for room (see
    /// `a_planned_writer_gets_its_share_while_another_holds_pages`).
    waited: u64,
    rows: u64,
    bytes_written: u64,
    bytes_spilled: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.writers += o.writers;
        self.planned += o.planned;
        self.parallel += o.parallel;
        self.refused += o.refused;
        self.waited += o.waited;
        self.stopped += o.stopped;
        self.rows += o.rows;
        self.bytes_written += o.bytes_written;
        self.bytes_spilled += o.bytes_spilled;
    }
}

#[test]
fn writers_on_many_threads_share_one_budget_and_one_spill_dir() {
    let duration = soak_duration();
    let dir = tempfile::tempdir().unwrap();
    let budget = MemoryBudget::new(THREADS * SHARE);
    let fds_before = open_fds();
    let started = Instant::now();
    let deadline = started + duration;
    let stop = AtomicBool::new(false);

    let tallies: Vec<Tally> = on_threads(&stop, |t| {
        run_writers(t, &budget, dir.path(), deadline, &stop)
    });
    let elapsed = started.elapsed();

    let mut total = Tally::default();
    for tally in &tallies {
        total.add(tally);
    }
    let stats = budget.stats();
    println!(
        "soak: {} writers on {THREADS} threads in {:.1} s ({} planned, {} refused by the planner \
         and tiered instead, {} waited for budget, {} stopped by PageMetadataExhausted; {} on the \
         parallel path): {} files verified, \
         {} rows, {} bytes written, {} bytes spilled; budget {} bytes, peak {}, {} refusals",
        total.writers,
        elapsed.as_secs_f64(),
        total.planned,
        total.refused,
        total.waited,
        total.stopped,
        total.parallel,
        total.writers,
        total.rows,
        total.bytes_written,
        total.bytes_spilled,
        stats.limit,
        stats.peak,
        stats.denied,
    );

    assert!(
        tallies.iter().all(|t| t.writers > 0),
        "a thread finished no writer: {tallies:?}"
    );
    assert!(
        total.bytes_spilled > 0 || duration < MEANINGFUL,
        "nothing spilled: the soak did not exercise the spill path"
    );
    assert_eq!(
        stats.used, 0,
        "budget still held after every writer finished"
    );
    assert!(stats.peak <= stats.limit);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "left in the spill directory: {left:?}");
    let spill_fds = fds_into(dir.path());
    assert!(
        spill_fds.is_empty(),
        "spill files still open: {spill_fds:?}"
    );
    assert_eq!(open_fds(), fds_before, "descriptors leaked");
}

/// Run `f(thread)` on [`THREADS`] threads and collect the results; a panic
/// on one thread sets `stop` so the others finish early, then fails the test.
fn on_threads<T: Send>(stop: &AtomicBool, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let f = &f;
                s.spawn(move || {
                    let _guard = StopOnPanic(stop);
                    f(t)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("a writer thread failed"))
            })
            .collect()
    })
}

/// Run writers one after another until `deadline` (at least one), or until
/// another thread failed.
fn run_writers(
    thread: usize,
    budget: &MemoryBudget,
    dir: &Path,
    deadline: Instant,
    stop: &AtomicBool,
) -> Tally {
    let mut tally = Tally::default();
    for n in 0u64.. {
        if n > 0 && (Instant::now() >= deadline || stop.load(Ordering::Relaxed)) {
            break;
        }
        write_one((thread as u64) << 32 | n, budget, dir, &mut tally);
    }
    tally
}

/// Draw a writer from `seed`, run it with the shared budget and directory, and
/// verify its file against parquet's default store and the input.
fn write_one(seed: u64, budget: &MemoryBudget, dir: &Path, tally: &mut Tally) {
    let (input, settings, planned, parallel) = common::draw(
        &(
            common::input(MAX_ROWS),
            common::settings(),
            proptest::bool::weighted(0.7),
            any::<bool>(),
        ),
        seed,
    );
    let name = format!(
        "seed {seed:#x} (planned: {planned}, parallel: {parallel}): {input:?} {settings:?}"
    );
    let batches = input.batches();
    let raw_bytes: u64 = batches
        .iter()
        .map(|b| b.get_array_memory_size() as u64)
        .sum();

    let files = Arc::new(FileStoreFactory::in_dir(dir).unwrap());
    let planned = planned
        .then(|| {
            plan(
                &name,
                &input.schema,
                &settings,
                raw_bytes,
                budget,
                &files,
                tally,
            )
        })
        .flatten();
    let metered = planned.is_some();
    let (props, factory): (_, SharedFactory) = match planned {
        Some(plan) => plan.into_parts(),
        None => {
            let tiered = TieredStoreFactory::over(budget.clone(), files.clone());
            (settings.properties(), Arc::new(tiered))
        }
    };
    assert_eq!(files.spill_dir(), dir);

    let result = write(&batches, &props, parallel, Some(factory.clone()));
    let spill = files.stats();
    assert_eq!(
        (spill.file_bytes_live, spill.file_len, spill.heap_bytes),
        (0, 0, 0),
        "{name}: pages left in the store after close"
    );
    drop(factory);
    let actual = match result {
        Ok(actual) => actual,
        // The budget is shared: a planned writer whose file-lifetime
        // metadata outgrows what its plan expected (many small row groups,
        // bloom filters kept until close) competes with the other writers'
        // reservations and may find nothing left. Stopping with this error
        // before the limit is the documented outcome; the checks above and
        // at the end of the soak still require everything to come back.
        Err(e) if metered && testkit::metadata_exhausted(&e) => {
            tally.stopped += 1;
            return;
        }
        Err(e) => panic!("{name}: write failed: {e}"),
    };
    tally.bytes_written += verify(&name, &batches, &props, parallel, actual);
    tally.writers += 1;
    tally.parallel += u64::from(parallel);
    tally.rows += input.rows() as u64;
    tally.bytes_spilled += spill.bytes_spilled;
}

/// Write `batches` with `store` (`None`: parquet's default) on the chosen path.
fn write(
    batches: &[arrow_array::RecordBatch],
    props: &parquet::file::properties::WriterProperties,
    parallel: bool,
    store: Option<SharedFactory>,
) -> ParquetResult<bytes::Bytes> {
    if parallel {
        testkit::write_parquet_parallel(batches, props.clone(), store)
    } else {
        testkit::write_parquet(batches, props.clone(), store)
    }
}

/// `actual` must be what the default store writes and read back equal to
/// the input; returns its length.
fn verify(
    name: &str,
    batches: &[arrow_array::RecordBatch],
    props: &parquet::file::properties::WriterProperties,
    parallel: bool,
    actual: bytes::Bytes,
) -> u64 {
    let expected = write(batches, props, parallel, None)
        .unwrap_or_else(|e| panic!("{name}: default store failed: {e}"));
    assert!(
        actual == expected,
        "{name}: output differs from the default store's"
    );
    let len = actual.len() as u64;
    testkit::assert_reads_back(name, actual, batches);
    len
}

/// Writers on [`THREADS`] threads sharing one `ObjectStoreFactory` (small
/// buffers, one background upload, a small read-ahead pool), for half the
/// soak duration: uploads joined by one writer while another waits, blobs
/// of several writers in one object, read-ahead pool contention. Every file
/// must match the default store's, and no object may remain.
#[cfg(feature = "object_store")]
#[test]
fn writers_on_many_threads_share_one_object_store_factory() {
    use object_store::memory::InMemory;
    use object_store::ObjectStore;
    use parquet_spill::ObjectStoreFactory;

    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let read_ahead = 256 << 10;
    let factory = Arc::new(
        ObjectStoreFactory::builder(Arc::clone(&mem), "soak".into())
            .buffer_size(64 << 10)
            .read_ahead(read_ahead)
            .build()
            .unwrap(),
    );
    let deadline = Instant::now() + soak_duration() / 2;
    let stop = AtomicBool::new(false);
    let writers: u64 = on_threads(&stop, |t| {
        let mut n = 0u64;
        while n == 0 || (Instant::now() < deadline && !stop.load(Ordering::Relaxed)) {
            let seed = (t as u64) << 32 | n | 1 << 63;
            let (input, settings, parallel) = common::draw(
                &(common::input(MAX_ROWS), common::settings(), any::<bool>()),
                seed,
            );
            let name = format!("object store, seed {seed:#x}: {input:?} {settings:?}");
            let batches = input.batches();
            let props = settings.properties();
            let store: SharedFactory = factory.clone();
            let actual = write(&batches, &props, parallel, Some(store))
                .unwrap_or_else(|e| panic!("{name}: write failed: {e}"));
            verify(&name, &batches, &props, parallel, actual);
            n += 1;
        }
        n
    })
    .into_iter()
    .sum();
    let stats = factory.stats();
    println!("object-store soak: {writers} writers on {THREADS} threads: {stats:?}");
    assert!(stats.puts > 0, "nothing was uploaded: {stats:?}");
    assert_eq!(stats.objects_live, 0, "{stats:?}");
    assert!(stats.read_ahead_peak <= read_ahead as u64, "{stats:?}");
    drop(factory);
    let left = parquet_spill::testkit::object_store::objects_under(&*mem, "soak");
    assert_eq!(left, 0, "objects left behind");
}

/// Plan a writer on the shared budget. `None` if the planner refuses the
/// schema at this budget (a correct answer, counted in the tally). While
/// other writers' pages fill the budget the plan cannot reserve its share
/// (`Error::BudgetExhausted`, the bug shown by
/// `a_planned_writer_gets_its_share_while_another_holds_pages`): wait for
/// them to flush and retry, as an application would have to.
fn plan(
    name: &str,
    schema: &arrow_schema::Schema,
    settings: &common::Settings,
    raw_bytes: u64,
    budget: &MemoryBudget,
    files: &Arc<FileStoreFactory>,
    tally: &mut Tally,
) -> Option<SpillPlan> {
    let options = SpillOptions::shared(budget.clone(), THREADS)
        .backend(files.clone())
        .properties(settings.properties())
        // Page metadata is planned per expected page: size it to this input.
        .expected_file_bytes(raw_bytes.max(1 << 20));
    let started = Instant::now();
    let mut waited = false;
    loop {
        match options.plan(schema) {
            Ok(plan) => {
                tally.planned += 1;
                tally.waited += u64::from(waited);
                return Some(plan);
            }
            Err(Error::BudgetTooSmall { .. } | Error::FixedSettingTooLarge { .. }) => {
                tally.refused += 1;
                return None;
            }
            Err(Error::BudgetExhausted { .. }) if started.elapsed() < PLAN_PATIENCE => {
                waited = true;
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("{name}: plan failed: {e}"),
        }
    }
}

/// Regression (found by this soak): `SpillOptions::writers(n)` says n
/// writers share the budget and each plans for `limit / n` of encoder
/// memory, but the writers' *pages* used to take the whole budget, so once a
/// running writer had buffered pages up to the limit, the next writer's
/// `plan` failed with `BudgetExhausted`. Pages now leave room for the
/// declared writers' encoder shares that are not reserved yet.
#[test]
fn a_planned_writer_gets_its_share_while_another_holds_pages() {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    use parquet::arrow::ArrowWriter;

    let budget = MemoryBudget::new(4 << 20);
    let options = SpillOptions::shared(budget.clone(), 2).expected_file_bytes(16 << 20);
    let column =
        Int64Array::from_iter_values((0..1_000_000i64).map(|i| i.wrapping_mul(0x9E37_79B9)));
    let batch = RecordBatch::try_from_iter([("x", Arc::new(column) as ArrayRef)]).unwrap();

    let first = options.plan(&batch.schema()).unwrap();
    let mut writer =
        ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), first.into_writer_options())
            .unwrap();
    writer.write(&batch).unwrap(); // 8 MB of pages, one row group still open
    let held = budget.used();
    assert!(held > 2 << 20, "the first writer's pages hold {held} bytes");

    let second = options.plan(&batch.schema());
    let outcome = second.as_ref().map(|p| p.estimate().total());
    writer.close().unwrap();
    assert!(
        outcome.is_ok(),
        "the second of writers(2) cannot plan while the first holds {held} bytes of a \
         {}-byte budget: {outcome:?}",
        budget.limit()
    );
}
