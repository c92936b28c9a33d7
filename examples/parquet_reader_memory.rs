//! What parquet's reader holds while it reads a file, by codec: the
//! figures behind the CLI's reservation for a Parquet input.
//!
//! Why: `parquet-spill convert` promises the process's memory, and reading
//! a Parquet input is part of it. parquet's reader keeps, for every column
//! at once, the page it is decoding (decompressed) and a codec; zstd's keeps
//! a decompression context allocated by C, which no Rust allocator sees.
//! This writes the demo's mixed columns with parquet's defaults (one page a
//! column when the file is small) in each codec, then reads each file in a
//! child process of its own (`VmHWM` after `clear_refs`, and a counting
//! allocator; glibc's `mmap` threshold set as the CLI sets it) and prints the peak heap and resident-set growth of the
//! reading, per column, beside the file's uncompressed size.
//!
//! ```text
//! cargo run --release --features testkit --example parquet_reader_memory
//! cargo run --release --features testkit --example parquet_reader_memory -- --columns 200 --rows 200000
//! ```
//!
//! The first: 1,500 columns of 1,024 rows (one page a column, ~23 MiB,
//! seconds). The second: 1 MiB pages, ~600 MiB of values.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet_spill::testkit::CountingAlloc;
use parquet_spill::workloads::Workload;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const MIB: f64 = (1 << 20) as f64;

#[derive(Parser)]
struct Args {
    /// Leaf columns of the demo's mixed workload.
    #[arg(long, default_value_t = 1500)]
    columns: usize,
    /// Rows, in one row group.
    #[arg(long, default_value_t = 1024)]
    rows: usize,
    /// Rows per batch read.
    #[arg(long, default_value_t = 32)]
    batch_rows: usize,
    /// (Internal) read this file and print what reading it took.
    #[arg(long, hide = true)]
    read: Option<PathBuf>,
}

fn codecs() -> [(&'static str, Compression); 5] {
    [
        ("uncompressed", Compression::UNCOMPRESSED),
        ("lz4_raw", Compression::LZ4_RAW),
        ("snappy", Compression::SNAPPY),
        ("gzip", Compression::GZIP(GzipLevel::default())),
        ("zstd(1)", Compression::ZSTD(ZstdLevel::default())),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if let Some(path) = &args.read {
        return read(path, args.batch_rows);
    }
    let dir = tempfile::tempdir()?;
    let workload = Workload::WideMixed {
        columns: args.columns,
        rows: args.rows,
    };
    println!(
        "{} columns x {} rows, read {} rows a batch; per column: heap and resident growth \
         beyond the heap",
        args.columns, args.rows, args.batch_rows
    );
    println!(
        "{:<13} {:>13} {:>11} {:>11} {:>11} {:>15}",
        "codec", "uncompressed", "peak heap", "peak RSS", "heap/col", "RSS-heap/col"
    );
    for (name, codec) in codecs() {
        let path = dir.path().join(format!("{name}.parquet"));
        let props = WriterProperties::builder().set_compression(codec).build();
        let mut writer = ArrowWriter::try_new(
            std::fs::File::create(&path)?,
            workload.schema(),
            Some(props),
        )?;
        for batch in workload.batches(workload.default_batch_rows()) {
            writer.write(&batch)?;
        }
        let uncompressed: i64 = writer
            .close()?
            .row_groups()
            .iter()
            .map(|rg| rg.total_byte_size())
            .sum();
        // The CLI runs under this setting, which returns freed blocks.
        let out = Command::new(std::env::current_exe()?)
            .env("GLIBC_TUNABLES", parquet_spill::rss::GLIBC_TUNABLES)
            .arg("--read")
            .arg(&path)
            .args(["--batch-rows", &args.batch_rows.to_string()])
            .output()?;
        let line = String::from_utf8(out.stdout)?;
        let fields: Vec<f64> = line
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        let [heap, rss] = fields[..] else {
            return Err(format!("the child printed `{line}`").into());
        };
        let per_column = |bytes: f64| bytes / args.columns as f64 / 1024.0;
        println!(
            "{name:<13} {:>9.1} MiB {:>7.1} MiB {:>7.1} MiB {:>7.1} KiB {:>11.1} KiB",
            uncompressed as f64 / MIB,
            heap / MIB,
            rss / MIB,
            per_column(heap),
            per_column(rss - heap),
        );
    }
    Ok(())
}

/// Read `path` whole, holding no batch, and print the peak heap and
/// resident-set growth, bytes.
fn read(path: &Path, batch_rows: usize) -> Result<(), Box<dyn std::error::Error>> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(path)?)?
        .with_batch_size(batch_rows);
    let heap = ALLOC.current();
    let rss = parquet_spill::rss::reset_peak().ok_or("no /proc/self/status")?;
    ALLOC.reset_peak();
    for batch in builder.build()? {
        batch?;
    }
    let peak_heap = ALLOC.peak() - heap;
    let peak_rss = parquet_spill::rss::peak().ok_or("no /proc/self/status")? - rss;
    println!("{peak_heap} {peak_rss}");
    Ok(())
}
