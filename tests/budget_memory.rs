//! A memory budget the writer keeps: peak writer heap (counting allocator,
//! one child process per measurement, input batches excluded) stays within
//! the limit given to `SpillOptions`, on every workload.
//!
//! ```text
//! cargo test --all-features --test budget_memory -- --nocapture
//! PARQUET_SPILL_FULL=1 cargo test --release --all-features --test budget_memory -- --nocapture
//! ```
//!
//! By default the workloads are scaled to finish in CI; `PARQUET_SPILL_FULL=1`
//! runs the issue's full sizes: a ~1 GiB (compressed) skewed row group and
//! 1,500 columns x 65,536 rows (~6 GiB written).

use std::sync::{Arc, Barrier};

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet_spill::testkit::measure::{self, ChildRunner, Measurement, Scenario, Store};
use parquet_spill::testkit::CountingAlloc;
use parquet_spill::workloads::Workload;
use parquet_spill::{Error, MemoryBudget, SpillOptions};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const MIB: usize = 1 << 20;

fn full() -> bool {
    std::env::var_os("PARQUET_SPILL_FULL").is_some()
}

#[test]
fn measure_child() -> parquet::errors::Result<()> {
    measure::serve_child(&ALLOC).map(drop)
}

fn measure_all(cases: &[(Workload, Store)]) -> Vec<Measurement> {
    let child = ChildRunner::test("measure_child").expect("test executable");
    let results: Vec<(Scenario, Measurement)> = cases
        .iter()
        .map(|(w, s)| {
            let scenario = Scenario::new(*w, s.clone());
            let m = child.measure(&scenario).unwrap_or_else(|e| panic!("{e}"));
            (scenario, m)
        })
        .collect();
    println!("{}", measure::format_table(&results));
    results.into_iter().map(|(_, m)| m).collect()
}

fn budget(limit: usize) -> Store {
    Store::Budget {
        limit,
        spill_dir: None,
    }
}

/// Peak writer heap within the limit, and the budget itself never exceeded.
fn assert_within(m: &Measurement, limit: usize, what: &str) {
    assert!(
        m.peak_heap() <= limit as u64,
        "{what}: peak writer heap {} MiB exceeds the {} MiB budget",
        m.peak_heap() / MIB as u64,
        limit / MIB
    );
    let budget_peak = m.budget_peak.expect("budget stats");
    assert!(
        budget_peak <= limit as u64,
        "{what}: budget peaked at {budget_peak}"
    );
}

fn wide(columns: usize) -> Workload {
    Workload::WideMixed {
        columns,
        rows: 65_536,
    }
}

#[test]
fn wide_300_columns_stays_within_64_and_256_mib() {
    let w = wide(300);
    let m = measure_all(&[
        (w, Store::Default),
        (w, budget(64 * MIB)),
        (w, budget(256 * MIB)),
    ]);
    assert!(
        m[0].peak_heap() > 256 * MIB as u64,
        "in-memory default should need more than 256 MiB"
    );
    assert_within(&m[1], 64 * MIB, "300 columns at 64 MiB");
    assert_within(&m[2], 256 * MIB, "300 columns at 256 MiB");
    assert!(m[1].bytes_spilled.unwrap_or(0) > 0);
}

#[test]
fn narrow_skewed_stays_within_64_and_256_mib() {
    let w = Workload::skewed_bytes(if full() { 1400 << 20 } else { 384 << 20 });
    let m = measure_all(&[(w, budget(64 * MIB)), (w, budget(256 * MIB))]);
    assert_within(&m[0], 64 * MIB, "skewed at 64 MiB");
    assert_within(&m[1], 256 * MIB, "skewed at 256 MiB");
    if full() {
        assert!(
            m[0].output_bytes > 1 << 30,
            "the full skewed row group is ~1 GiB compressed"
        );
    }
}

#[test]
fn low_cardinality_dictionary_stays_within_64_mib() {
    let w = Workload::LowCardinality {
        rows: 16 * 1024 * 1024,
    };
    let m = measure_all(&[(w, budget(64 * MIB))]);
    assert_within(&m[0], 64 * MIB, "dictionary column at 64 MiB");
}

/// A row group smaller than the budget never touches the spill file.
#[test]
fn a_budget_larger_than_the_row_group_spills_nothing() {
    let w = Workload::WideMixed {
        columns: 30,
        rows: 65_536,
    };
    let m = measure_all(&[(w, budget(512 * MIB))]);
    assert_eq!(m[0].bytes_spilled, Some(0));
    assert_eq!(m[0].spill_peak_file_len, Some(0));
    assert_within(&m[0], 512 * MIB, "roomy budget");
}

/// 1,500 columns: the planner refuses 64 MiB (naming the minimum) and keeps
/// 256 MiB. Only the refusal runs by default; the 6 GiB write is `FULL` only.
#[test]
fn fifteen_hundred_columns() {
    let w = wide(1500);
    let err = SpillOptions::new(64 * MIB)
        .expected_file_bytes(w.raw_bytes())
        .plan(&w.schema())
        .unwrap_err();
    let Error::BudgetTooSmall {
        minimum, columns, ..
    } = err
    else {
        panic!("expected BudgetTooSmall, got {err}")
    };
    assert_eq!(columns, 1500);
    println!(
        "1,500 columns: the planner's minimum is {} MiB",
        minimum / MIB
    );
    assert!(
        minimum > 64 * MIB && minimum <= 256 * MIB,
        "minimum {minimum}"
    );
    if full() {
        let m = measure_all(&[(w, budget(256 * MIB))]);
        assert_within(&m[0], 256 * MIB, "1,500 columns at 256 MiB");
    }
}

const EIGHT: &str = "PARQUET_SPILL_EIGHT_WRITERS";

/// Eight writers on eight threads sharing one 256 MiB budget: their
/// combined heap, measured in one child process, stays within it.
#[test]
fn eight_writers_share_256_mib() {
    let out = ChildRunner::test("eight_writers_child")
        .and_then(|c| c.run(EIGHT, "1"))
        .unwrap_or_else(|e| panic!("{e}"));
    let line = out
        .lines()
        .find_map(|l| l.split_once("EIGHT-WRITERS ").map(|(_, r)| r.to_owned()))
        .unwrap_or_else(|| panic!("child printed no result:\n{out}"));
    println!("eight writers: {line}");
    let field = |k: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {line}"))
    };
    assert!(field("peak") <= 256 * MIB as u64, "{line}");
    assert!(
        field("spilled") > 0,
        "the shared budget never filled: {line}"
    );
}

#[test]
fn eight_writers_child() {
    if std::env::var_os(EIGHT).is_none() {
        return;
    }
    let w = Workload::WideMixed {
        columns: 60,
        rows: 4 * 16_384,
    };
    // Pre-generated and shared (cheap Arc clones), before the baseline, so
    // the input is not charged to the writers.
    let batches: Vec<RecordBatch> = w.batches(16_384).collect();
    let shared = MemoryBudget::new(256 * MIB);
    let plans: Vec<_> = (0..8)
        .map(|_| {
            SpillOptions::shared(shared.clone(), 8)
                .properties(measure::writer_properties())
                .expected_file_bytes(w.raw_bytes())
                .plan(&w.schema())
                .unwrap()
        })
        .collect();
    let monitors: Vec<_> = plans.iter().map(|p| p.monitor()).collect();
    let base = ALLOC.current();
    ALLOC.reset_peak();
    let start = Arc::new(Barrier::new(8));
    std::thread::scope(|s| {
        for plan in plans {
            let (batches, start) = (&batches, Arc::clone(&start));
            s.spawn(move || {
                let mut writer = ArrowWriter::try_new_with_options(
                    std::io::sink(),
                    w.schema(),
                    plan.into_writer_options(),
                )
                .unwrap();
                start.wait();
                for _ in 0..3 {
                    for batch in batches {
                        writer.write(batch).unwrap();
                    }
                }
                writer.close().unwrap();
            });
        }
    });
    let peak = ALLOC.peak().saturating_sub(base);
    let spilled: u64 = monitors.iter().map(|m| m.stats().spilled_bytes).sum();
    println!(
        "EIGHT-WRITERS peak={peak} budget_peak={} spilled={spilled}",
        shared.peak()
    );
}

/// The README's table: (a)-(d) with the in-memory default, the file store and
/// budgets of 64 and 256 MiB. `PARQUET_SPILL_FULL=1` only (minutes, ~10 GiB heap
/// for the in-memory default on (c)).
#[test]
fn full_table() {
    if !full() {
        return;
    }
    let workloads = [
        Workload::skewed_bytes(1400 << 20),
        wide(300),
        wide(1500),
        Workload::LowCardinality {
            rows: 16 * 1024 * 1024,
        },
    ];
    let child = ChildRunner::test("measure_child").expect("test executable");
    let mut rows = Vec::new();
    for w in workloads {
        for store in [
            Store::Default,
            Store::file(),
            budget(64 * MIB),
            budget(256 * MIB),
        ] {
            let scenario = Scenario::new(w, store);
            match child.measure(&scenario) {
                Ok(m) => rows.push((scenario, m)),
                Err(e) => println!(
                    "{}: {}",
                    scenario.label(),
                    e.to_string().lines().next().unwrap_or("")
                ),
            }
        }
    }
    println!("{}", measure::format_table(&rows));
    for (scenario, m) in &rows {
        if let Store::Budget { limit, .. } = scenario.store {
            assert_within(m, limit, &scenario.label());
        }
    }
}
