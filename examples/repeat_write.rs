//! Write one of the benchmark's workloads eight times in one process, with
//! `ArrowWriter` or `ParallelWriter`, and print each write's time: a
//! process to run under `perf stat` (context switches, page faults, kernel
//! time), which criterion's harness cannot isolate per writer.
//!
//! ```text
//! cargo build --release --features workloads --example repeat_write
//! perf stat -e task-clock,context-switches,page-faults target/release/examples/repeat_write b 0   # ArrowWriter
//! perf stat -e task-clock,context-switches,page-faults target/release/examples/repeat_write b 2   # 2 threads
//! ```
//! First argument: `a` (skewed, 32 MiB) or `b` (300 columns × 8,192 rows);
//! second: `0` for `ArrowWriter`, else `ParallelWriter`'s thread count.
//! Same plan as `benches/parallel.rs`: 256 MiB, zstd(1), one row group.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet_spill::workloads::Workload;
use parquet_spill::{ParallelWriter, SpillOptions, PARALLEL_QUEUED_BATCHES};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workload = match args.first().map(String::as_str) {
        Some("a") => Workload::skewed_bytes(32 << 20),
        _ => Workload::WideMixed {
            columns: 300,
            rows: 8192,
        },
    };
    let threads: usize = args.get(1).map_or(Ok(2), |t| t.parse())?;
    let batches: Vec<RecordBatch> = workload.batches(workload.default_batch_rows()).collect();
    let schema = batches[0].schema();
    let batch_bytes = batches
        .iter()
        .map(RecordBatch::get_array_memory_size)
        .max()
        .unwrap_or(0);
    let plan = || {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(None)
            .set_max_row_group_bytes(None)
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .build();
        let held = if threads > 1 {
            1 + PARALLEL_QUEUED_BATCHES
        } else {
            1
        };
        SpillOptions::new(256 << 20)
            .properties(props)
            .reserve(batch_bytes * held)
            .threads(threads.max(1))
            .expected_file_bytes(workload.raw_bytes())
            .plan(&schema)
    };
    for round in 0..8 {
        let started = Instant::now();
        if threads == 0 {
            let mut w = ArrowWriter::try_new_with_options(
                std::io::sink(),
                Arc::clone(&schema),
                plan()?.into_writer_options(),
            )?;
            for b in &batches {
                w.write(b)?;
            }
            w.close()?;
        } else {
            let mut w =
                ParallelWriter::try_new_with_plan(std::io::sink(), Arc::clone(&schema), plan()?)?
                    .with_threads(threads);
            for b in &batches {
                w.write(b)?;
            }
            w.close()?;
        }
        println!(
            "write {round}: {:.1} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(())
}
