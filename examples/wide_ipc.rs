//! Write the 300-column workload as an Arrow IPC file: the input of the
//! CLI's `--threads` and allocator figures in README.md.
//!
//! ```text
//! cargo run --release --features workloads --example wide_ipc -- wide.arrow 300 46816 44
//! parquet-spill convert wide.arrow -o wide.parquet --memory-limit 256MiB --threads 2
//! ```
//! Arguments: output path, columns, rows, rows per record batch (defaults:
//! `wide.arrow`, 300 columns, 2,048 rows, 44 rows a batch; the README's file
//! is 46,816 rows, 1.06 GiB, 1,064 batches of about 1 MiB).

use parquet_spill::workloads::Workload;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: usize| -> Result<usize, Box<dyn std::error::Error>> {
        Ok(args.get(i).map_or(Ok(default), |a| a.parse())?)
    };
    let path = args.first().map_or("wide.arrow", String::as_str);
    let workload = Workload::WideMixed {
        columns: arg(1, 300)?,
        rows: arg(2, 2048)?,
    };
    let file = std::fs::File::create(path)?;
    let mut writer = arrow_ipc::writer::FileWriter::try_new(file, &workload.schema())?;
    for batch in workload.batches(arg(3, 44)?) {
        writer.write(&batch)?;
    }
    writer.finish()?;
    println!(
        "wrote {path}: {} rows of {} columns, {} bytes",
        workload.rows(),
        workload.schema().fields().len(),
        std::fs::metadata(path)?.len()
    );
    Ok(())
}
