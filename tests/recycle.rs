//! The recycling allocator under the memory promise. With
//! [`Recycling`] as the process's allocator and its bound reserved in the
//! plan, `ArrowWriter` and `ParallelWriter` stay within the limit: the heap
//! is counted beneath the recycler, so the blocks it keeps count, and so
//! does the resident set (`VmHWM` after `clear_refs`). One child process per
//! measurement.
//!
//! The promise sweep (`tests/common/sweep.rs`) runs here too, every case
//! keeping `bound_for(limit)` of freed blocks.
//!
//! ```text
//! cargo test --all-features --test recycle -- --nocapture                     # CI: 48 sweep cases
//! PARQUET_SPILL_SWEEP=400 cargo test --release --all-features --test recycle -- --nocapture
//! ```

#[path = "common/sweep.rs"]
mod sweep;

use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::basic::{Compression, ZstdLevel};
use parquet_spill::recycle::{bound_for, Recycling};
use parquet_spill::testkit::measure::{self, ChildRunner, Scenario, Store};
use parquet_spill::testkit::CountingAlloc;
use parquet_spill::workloads::Workload;
use parquet_spill::{ParallelWriter, SpillOptions, PARALLEL_QUEUED_BATCHES};

#[global_allocator]
static ALLOC: Recycling<CountingAlloc> = Recycling::new(CountingAlloc::new());

const MIB: usize = 1 << 20;

/// The child: the recycler keeps at most what the scenario reserves.
#[test]
fn measure_child() -> parquet::errors::Result<()> {
    if let Some(scenario) = measure::requested_scenario()? {
        ALLOC.set_bound(scenario.reserve);
        measure::serve_child(ALLOC.inner())?;
    }
    Ok(())
}

/// The sweep's child: the recycler keeps what the case reserves.
#[test]
fn sweep_child() {
    sweep::serve_child(ALLOC.inner(), |bound| ALLOC.set_bound(bound));
}

/// Random schemas, limits, row groups and codecs with the recycler: every
/// case within its limit, kept blocks included, or refused up front.
#[test]
fn random_cases_with_kept_blocks_are_within_their_limit_or_refused() {
    sweep::run("sweep_child", 48, true, sweep::Kind::Plain);
}

/// The same with a long-value column and writer properties a caller set
/// (`PARQUET_SPILL_SWEEP_BOTH=N`): recycled blocks beside the pages that
/// long values and a caller's limits make.
#[test]
fn random_cases_with_kept_blocks_long_values_and_caller_properties() {
    sweep::run("sweep_child", 16, true, sweep::Kind::Both);
}

fn workloads() -> [Workload; 2] {
    [
        Workload::skewed_bytes(32 << 20),
        Workload::WideMixed {
            columns: 300,
            rows: 8192,
        },
    ]
}

#[test]
fn kept_blocks_and_the_writer_stay_within_the_limit() {
    let child = ChildRunner::test("measure_child").expect("test executable");
    let mut rows = Vec::new();
    // zstd keeps a context per column: (b) needs ~110 MiB with it, and
    // ~65 MiB with LZ4_RAW once the recycler's eighth is reserved.
    let zstd = Compression::ZSTD(ZstdLevel::default());
    for (limit, codec) in [(80 * MIB, Compression::LZ4_RAW), (256 * MIB, zstd)] {
        for w in workloads() {
            for threads in [1, 2] {
                let scenario = Scenario::new(
                    w,
                    Store::Budget {
                        limit,
                        spill_dir: None,
                    },
                )
                .with_codec(codec)
                .with_threads(threads)
                .with_reserve(bound_for(limit));
                let what = format!("{} threads {threads}", scenario.label());
                let m = child
                    .measure(&scenario)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(m.peak_rss_growth.is_some(), "{what}: no resident set");
                // The heap is counted beneath the recycler: kept blocks count.
                if let Err(e) = m.check_within(limit) {
                    panic!("{what}: {e}");
                }
                rows.push((scenario, m));
            }
        }
    }
    println!("{}", measure::format_table(&rows));
}

/// The recycler is not idle in a write: page buffers freed by one page
/// serve the next, within the bound; and the file is the one the same
/// writer writes with nothing kept.
#[test]
fn page_buffers_are_kept_within_the_bound_and_the_file_is_unchanged() {
    let w = Workload::WideMixed {
        columns: 300,
        rows: 8192,
    };
    let batches: Vec<_> = w.batches(w.default_batch_rows()).collect();
    let schema = w.schema();
    let batch_bytes = batches
        .iter()
        .map(RecordBatch::get_array_memory_size)
        .max()
        .unwrap_or(0);
    let limit = 256 * MIB;
    let write = || {
        let plan = SpillOptions::new(limit)
            .reserve(batch_bytes * (1 + PARALLEL_QUEUED_BATCHES) + bound_for(limit))
            .threads(2)
            .plan(&schema)
            .expect("plan");
        let mut writer = ParallelWriter::try_new_with_plan(Vec::new(), Arc::clone(&schema), plan)
            .expect("writer")
            .with_threads(2);
        for batch in &batches {
            writer.write(batch).expect("write");
        }
        writer.into_inner().expect("close")
    };
    let reference = write();
    ALLOC.set_bound(bound_for(limit));
    let recycled = write();
    let kept = ALLOC.cached();
    ALLOC.set_bound(0);
    assert!(kept > 0, "no freed page buffer was kept");
    assert!(kept <= bound_for(limit), "kept {kept} bytes");
    assert_eq!(ALLOC.cached(), 0, "a bound of 0 frees what was kept");
    assert!(recycled == reference, "the recycler changed the file");
}
