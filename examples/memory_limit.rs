//! How-to: write a wide schema in one large row group within a memory limit,
//! and see where the memory went.
//!
//! ```text
//! cargo run --release --example memory_limit [LIMIT_MIB] [COLUMNS]
//! ```
//!
//! `SpillOptions::new(limit)` plans parquet's own encoder limits (page,
//! dictionary, write batch, bloom filters) for the schema, reserves their
//! memory, keeps pages on the heap while the rest of the limit allows and
//! spills the excess. `plan.changes()` lists every setting it changed; a
//! [`SpillMonitor`](parquet_spill::SpillMonitor) reports the parts while and
//! after writing.

use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use parquet_spill::workloads::Workload;
use parquet_spill::{Error, SpillOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let limit_mib: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let columns: usize = args.next().map_or(Ok(120), |a| a.parse())?;
    let workload = Workload::WideMixed {
        columns,
        rows: 32_768,
    };
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(None)
        .build();

    let plan = match SpillOptions::new(limit_mib << 20)
        .properties(props)
        .expected_file_bytes(workload.raw_bytes())
        .plan(&workload.schema())
    {
        Ok(plan) => plan,
        Err(Error::BudgetTooSmall { minimum, .. }) => {
            eprintln!(
                "{limit_mib} MiB is too small for {columns} columns: try {} MiB",
                minimum.div_ceil(1 << 20)
            );
            std::process::exit(2);
        }
        Err(e) => return Err(e.into()),
    };
    println!("plan: {plan}");
    let monitor = plan.monitor();

    let out = tempfile::tempfile()?;
    let mut writer =
        ArrowWriter::try_new_with_options(out, workload.schema(), plan.into_writer_options())?;
    for batch in workload.batches(4096) {
        writer.write(&batch)?;
    }
    let metadata = writer.close()?;
    println!(
        "wrote {} rows, {} columns, {} row group(s)\n{}",
        metadata.file_metadata().num_rows(),
        columns,
        metadata.num_row_groups(),
        monitor.stats()
    );
    assert!(monitor.stats().budget.peak <= limit_mib << 20);
    Ok(())
}
