//! The floor: what parquet's writer alone holds for one wide row group,
//! whatever the store.
//!
//! Why: a memory limit has to cover parquet's own part — every column's
//! encoder buffers, and per page its page keys, index builders and the
//! metadata it keeps until the file closes — before any store keeps a byte.
//! This writes the (c) workload (mixed columns, one row group, LZ4_RAW,
//! dictionaries off, as a planner under a tight limit would) through
//! [`DiscardStoreFactory`], a store that drops every page, and prints the
//! writer's peak heap (counting allocator, input batches excluded) for each
//! data page size and statistics setting. No store, no planner and no input
//! batch is in the figure: no memory limit below it can be kept.
//!
//! ```text
//! cargo run --release --features testkit --example parquet_floor
//! cargo run --release --features testkit --example parquet_floor -- --rows 65536
//! ```
//!
//! The first is (c) at CI size (1,500 columns × 4,096 rows, seconds); the
//! second is the issue's full size (7.2 GiB of pages, about a minute per
//! row on this 2-core machine).
//!
//! [`DiscardStoreFactory`]: parquet_spill::testkit::DiscardStoreFactory

use std::sync::Arc;

use clap::Parser;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::EnabledStatistics;
use parquet_spill::testkit::measure::open_row_group_properties;
use parquet_spill::testkit::{CountingAlloc, DiscardStoreFactory};
use parquet_spill::workloads::Workload;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const MIB: f64 = (1 << 20) as f64;

#[derive(Parser)]
struct Args {
    /// Leaf columns of the mixed workload.
    #[arg(long, default_value_t = 1500)]
    columns: usize,
    /// Rows, all in one row group.
    #[arg(long, default_value_t = 4096)]
    rows: usize,
    /// Rows per input batch (the budget tests' 73 for 1,500 columns).
    #[arg(long, default_value_t = 73)]
    batch_rows: usize,
    /// Data page size limits to try, in KiB.
    #[arg(long, value_delimiter = ',', default_value = "8,16,32,64")]
    page_kib: Vec<usize>,
}

/// Peak heap and heap at the end of the last write, over the writer's
/// creation, in bytes.
fn floor(
    args: &Args,
    page: usize,
    statistics: EnabledStatistics,
    offset_index: bool,
) -> Result<(usize, usize), Box<dyn std::error::Error>> {
    let workload = Workload::WideMixed {
        columns: args.columns,
        rows: args.rows,
    };
    let properties = open_row_group_properties(Compression::LZ4_RAW, statistics, offset_index)
        .set_data_page_size_limit(page)
        .build();
    let options = ArrowWriterOptions::new()
        .with_properties(properties)
        .with_page_store_factory(Arc::new(DiscardStoreFactory));
    let before = ALLOC.current();
    ALLOC.reset_peak();
    let mut writer =
        ArrowWriter::try_new_with_options(std::io::sink(), workload.schema(), options)?;
    let batch_rows = args.batch_rows.max(1);
    for (index, first) in (0..args.rows).step_by(batch_rows).enumerate() {
        let rows = batch_rows.min(args.rows - first);
        let batch = ALLOC.exclude(|| workload.batch(index as u64, rows, first));
        writer.write(&batch)?;
    }
    let end = ALLOC.current().saturating_sub(before);
    let peak = ALLOC.peak().saturating_sub(before);
    // Dropped unclosed: the discarding store cannot give its pages back.
    drop(writer);
    Ok((peak, end))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    println!(
        "parquet's own heap, {} mixed columns x {} rows in one row group, LZ4_RAW, no dictionaries",
        args.columns, args.rows
    );
    println!("page     statistics              peak MiB   at the end MiB");
    let cases = [
        (EnabledStatistics::Page, true, "page"),
        (EnabledStatistics::None, true, "none"),
        (EnabledStatistics::None, false, "none, no offset index"),
    ];
    for &kib in &args.page_kib {
        for (statistics, offset_index, label) in cases {
            let (peak, end) = floor(&args, kib << 10, statistics, offset_index)?;
            println!(
                "{:<8} {label:<22} {:>9.1} {:>16.1}",
                format!("{kib} KiB"),
                peak as f64 / MIB,
                end as f64 / MIB
            );
        }
    }
    Ok(())
}
