//! Interop: files written through this crate's stores read back correctly in
//! pyarrow and DuckDB.
//!
//! Why: the conformance suite proves every store writes the same bytes as
//! parquet's default store and that arrow-rs reads them back, but a writer
//! and a reader from the same project can agree on a mistake, and users read
//! these files with other engines. So this test writes the conformance
//! matrix (every type, every codec with both writer versions, the page
//! layouts, the row-group cases and the parallel path) with each store:
//! parquet's default, [`FileStoreFactory`], a [`TieredStoreFactory`] on a
//! 64 KiB budget and a [`SpillOptions`] plan a quarter above the planner's
//! minimum for the case (both budgeted stores mix heap and disk, which the
//! test asserts). Beside each case it writes the input batches as Arrow IPC,
//! the ground truth, and runs `scripts/interop_check.py`, which reads every
//! file with pyarrow and with DuckDB and compares every value with the IPC
//! input (read by pyarrow's IPC reader, a code path independent of Parquet).
//! The script also proves each column's comparison can fail, and any
//! mismatch fails this test with the script's report.
//!
//! DuckDB cannot represent a few Arrow types losslessly; the script names
//! each such column with its reason, and this test requires that set to be
//! exactly [`DUCKDB_EXCLUDED`], so a new gap fails instead of being skipped.
//!
//! Needs Python 3 with the pinned readers: `python3 -m pip install -r
//! scripts/requirements.txt` (CI does). The test fails, never skips, when
//! they are missing. `PYTHON` picks the interpreter (default `python3`);
//! `PARQUET_SPILL_INTEROP_DIR` keeps the files in that directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use parquet::file::properties::WriterProperties;
use parquet_spill::testkit::{self, Case, SharedFactory};
use parquet_spill::{
    FileStoreFactory, MemoryBudget, SpillMonitor, SpillOptions, SpillPlan, TieredStoreFactory,
};

/// Columns of `testkit::all_types_batch` that DuckDB cannot read back
/// losslessly, with the reason (the script prints it too). Every other column
/// must compare equal value for value; these are still checked for nulls and
/// approximately for values.
const DUCKDB_EXCLUDED: &[(&str, &str)] = &[(
    "decimal256",
    "DuckDB's DECIMAL holds at most 38 digits, so Decimal256(76, 20) is read as DOUBLE",
)];

/// The stores under test, by the name used in file names and messages.
const STORES: [&str; 4] = ["default", "file", "tiered", "planned"];

/// Encoded bytes the planned writer expects per file (the largest is under 2 MiB).
const PLANNED_EXPECTED_FILE_BYTES: u64 = 8 << 20;

/// The tiered store's budget: tight, so every case's pages mix heap and disk.
const TIERED_BUDGET: usize = 64 * 1024;

/// A page store (or parquet's default) for one case, kept for its counters.
enum Store {
    Default,
    File(Arc<FileStoreFactory>),
    Tiered(Arc<TieredStoreFactory<FileStoreFactory>>),
    Planned(Box<Planned>),
}

/// A planned writer's parts, and handles to report on it.
struct Planned {
    properties: WriterProperties,
    factory: SharedFactory,
    spill: Arc<FileStoreFactory>,
    monitor: SpillMonitor,
}

impl Store {
    fn new(name: &str, case: &Case) -> Self {
        let spill = || FileStoreFactory::new().expect("spill file in the temp dir");
        match name {
            "default" => Store::Default,
            "file" => Store::File(Arc::new(spill())),
            "tiered" => Store::Tiered(Arc::new(TieredStoreFactory::new(
                MemoryBudget::new(TIERED_BUDGET),
                spill(),
            ))),
            // The case's properties go through the planner, which fits page
            // and dictionary limits to the budget but keeps codecs and layouts.
            "planned" => {
                let spill = Arc::new(spill());
                let plan = plan(case, &spill);
                let monitor = plan.monitor();
                let (properties, factory) = plan.into_parts();
                Store::Planned(Box::new(Planned {
                    properties,
                    factory,
                    spill,
                    monitor,
                }))
            }
            other => unreachable!("unknown store {other}"),
        }
    }

    /// Bytes this store's pages put in its spill file, and the peak bytes of
    /// pages it kept on the heap.
    fn pages(&self) -> (u64, u64) {
        match self {
            Store::Default => (0, 0),
            Store::File(f) => (f.stats().bytes_spilled, f.stats().peak_heap_bytes),
            Store::Tiered(t) => (t.inner().stats().bytes_spilled, t.stats().peak_heap_bytes),
            Store::Planned(p) => (
                p.spill.stats().bytes_spilled,
                p.monitor.stats().peak_heap_pages,
            ),
        }
    }
}

/// Plan a writer for `case` a quarter above the smallest memory limit the
/// planner accepts for it (which it names when refusing a 1-byte limit), so
/// the planned page and dictionary limits are tight and pages overflow the
/// budget into the spill file; a fixed roomy limit (16 MiB) would keep every
/// page of these small files on the heap. The case's own page limits (down to
/// 256 bytes) are kept as upper bounds.
fn plan(case: &Case, spill: &Arc<FileStoreFactory>) -> SpillPlan {
    let schema = case.batches[0].schema();
    let plan = |limit: usize| {
        SpillOptions::new(limit)
            .expected_file_bytes(PLANNED_EXPECTED_FILE_BYTES)
            .properties(case.props.clone())
            .backend(spill.clone())
            .plan(&schema)
    };
    let minimum = match plan(1) {
        Err(parquet_spill::Error::BudgetTooSmall { minimum, .. }) => minimum,
        other => panic!("case {}: planning 1 byte gave {other:?}", case.name),
    };
    // A quarter above the minimum, plus room for the metadata of the cases
    // with many row groups (the minimum assumes one).
    plan(minimum + minimum / 4 + (2 << 20))
        .unwrap_or_else(|e| panic!("case {}: planning failed: {e}", case.name))
}

/// Write `case` with `store` to `path`: `ArrowWriter`, or the parallel
/// column-per-thread path for the parallel cases.
fn write_case(case: &Case, store: &Store, path: &Path) {
    let factory: Option<SharedFactory> = match store {
        Store::Default => None,
        Store::File(f) => Some(f.clone()),
        Store::Tiered(t) => Some(t.clone()),
        Store::Planned(p) => Some(p.factory.clone()),
    };
    let bytes = match store {
        Store::Planned(p) if !case.parallel => {
            testkit::write_parquet(&case.batches, p.properties.clone(), factory).map(Vec::from)
        }
        Store::Planned(p) => {
            testkit::write_parquet_parallel(&case.batches, p.properties.clone(), factory)
                .map(Vec::from)
        }
        _ if case.parallel => {
            testkit::write_parquet_parallel(&case.batches, case.props.clone(), factory)
                .map(Vec::from)
        }
        _ => testkit::write_parquet(&case.batches, case.props.clone(), factory).map(Vec::from),
    }
    .unwrap_or_else(|e| panic!("case {}: writing {} failed: {e}", case.name, path.display()));
    std::fs::write(path, &bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The input batches in Arrow IPC: the script's ground truth. The streaming
/// format, because the IPC *file* format allows one dictionary per field and
/// every batch of the matrix brings its own.
fn write_ipc(case: &Case, path: &Path) {
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let schema = case.batches[0].schema();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(file, &schema)
        .unwrap_or_else(|e| panic!("case {}: IPC writer: {e}", case.name));
    for batch in &case.batches {
        writer
            .write(batch)
            .unwrap_or_else(|e| panic!("case {}: IPC write: {e}", case.name));
    }
    writer
        .finish()
        .unwrap_or_else(|e| panic!("case {}: IPC finish: {e}", case.name));
}

/// The whole conformance matrix: every type (both writer versions), every
/// codec with both writer versions, the page layouts, the row-group cases and
/// the parallel (column-per-thread) path.
fn cases() -> Vec<Case> {
    let mut cases = testkit::type_cases();
    cases.extend(testkit::codec_cases());
    cases.extend(testkit::layout_cases());
    cases.extend(testkit::row_group_cases());
    cases.extend(testkit::parallel_cases());
    cases
}

fn slug(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Write every case with every store, plus `manifest.json` for the script.
/// Returns the number of Parquet files and, per store, the bytes its pages
/// spilled and the sum over cases of its peak page bytes on the heap.
fn write_matrix(dir: &Path) -> (usize, BTreeMap<&'static str, (u64, u64)>) {
    let mut entries = Vec::new();
    let mut pages = BTreeMap::new();
    for case in cases() {
        let ipc = format!("{}.arrows", slug(&case.name));
        write_ipc(&case, &dir.join(&ipc));
        for name in STORES {
            let parquet = format!("{}.{name}.parquet", slug(&case.name));
            let store = Store::new(name, &case);
            write_case(&case, &store, &dir.join(&parquet));
            let (spilled, heap) = store.pages();
            let total: &mut (u64, u64) = pages.entry(name).or_default();
            total.0 += spilled;
            total.1 += heap;
            entries.push(format!(
                "  {{\"case\": {}, \"store\": {}, \"parquet\": {}, \"truth\": {}}}",
                json_string(&case.name),
                json_string(name),
                json_string(&parquet),
                json_string(&ipc),
            ));
        }
    }
    let manifest = format!("{{\"files\": [\n{}\n]}}\n", entries.join(",\n"));
    std::fs::write(dir.join("manifest.json"), manifest).expect("write manifest.json");
    (entries.len(), pages)
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn require_python_readers() {
    const HELP: &str = "the interop test needs Python 3 with pyarrow and duckdb: \
                        run `python3 -m pip install -r scripts/requirements.txt`";
    let out = Command::new(python())
        .args(["-c", "import pyarrow, duckdb"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {HELP}", python()));
    assert!(
        out.status.success(),
        "{HELP}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pyarrow_and_duckdb_read_every_store_and_case() {
    require_python_readers();
    let kept = std::env::var_os("PARQUET_SPILL_INTEROP_DIR").map(PathBuf::from);
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = match &kept {
        Some(dir) => {
            std::fs::create_dir_all(dir).expect("create PARQUET_SPILL_INTEROP_DIR");
            dir.clone()
        }
        None => temp.path().to_path_buf(),
    };

    let start = Instant::now();
    let (files, pages) = write_matrix(&dir);
    eprintln!("wrote {files} Parquet files in {:.1?}", start.elapsed());
    for (store, (spilled, heap)) in &pages {
        eprintln!("store {store}: spilled {spilled} bytes, heap peaks summed {heap} bytes");
    }
    // The spilling stores really spilled, and the budgeted ones also kept
    // pages on the heap: every path of every store is under test.
    assert!(pages["file"].0 > 0, "the file store spilled nothing");
    for store in ["tiered", "planned"] {
        let (spilled, heap) = pages[store];
        assert!(
            spilled > 0 && heap > 0,
            "the {store} store did not mix heap and disk: spilled {spilled}, heap {heap} bytes"
        );
    }

    let start = Instant::now();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/interop_check.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}checked in {:.1?}", start.elapsed());
    assert!(
        out.status.success(),
        "interop_check.py failed ({}):\n{stdout}{stderr}",
        out.status
    );

    // "duckdb-excluded: <column>: <reason>" lines, one per column.
    let excluded: BTreeSet<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("duckdb-excluded: "))
        .filter_map(|l| l.split(':').next())
        .collect();
    let expected: BTreeSet<&str> = DUCKDB_EXCLUDED.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        excluded, expected,
        "the columns DuckDB cannot compare (left: found, right: DUCKDB_EXCLUDED) changed; \
         update DUCKDB_EXCLUDED, saying why, only if the new gap is DuckDB's, not the file's"
    );
}
