//! Command-line arguments (clap derive).
//!
//! Why its own module: the flags are the tool's documentation (`--help`
//! prints these doc comments), and keeping them apart from the conversion
//! code keeps both readable. Values are parsed and validated here (sizes,
//! codecs, schemas), so the rest of the program never sees malformed
//! settings and never hits a parquet `assert!` on a zero limit.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use arrow_schema::SchemaRef;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::settings::Codec;
use crate::{schema_spec, units};

/// Convert CSV, NDJSON, Arrow IPC and Parquet to Parquet within a memory
/// limit you choose, however large the row group.
#[derive(Debug, Parser)]
#[command(name = "parquet-spill", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert one or more inputs with one schema into one Parquet file.
    Convert(ConvertArgs),
    /// Generate a skewed data set as CSV and convert it with and without a
    /// memory limit, each in its own process, and compare peak memory.
    Demo(DemoArgs),
}

/// `parquet-spill convert INPUT... -o OUTPUT.parquet`
#[derive(Debug, Args)]
#[command(after_help = "\
Formats come from the extension: .csv; .json, .ndjson, .jsonl (one JSON object per line);
.arrow, .ipc, .feather (Arrow IPC file or stream, detected); .arrows (IPC stream);
.parquet, .pq. Sizes take binary units: 256MiB = 256MB = 256M = 268435456 bytes.
The output is written beside OUTPUT under a temporary name and renamed into place only
when complete; a failed or interrupted run leaves no file at OUTPUT.")]
pub struct ConvertArgs {
    /// Input files, concatenated in order; all must have the same column
    /// names and types.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// The Parquet file to write (replaced if it exists).
    #[arg(short, long, value_name = "OUTPUT.parquet")]
    pub output: PathBuf,

    /// Read every input as this format instead of guessing from its extension.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Schema of CSV and NDJSON inputs instead of inferring it:
    /// `name:type,...`, e.g. `id:int64,name:string,price:Decimal128(10, 2)`.
    /// Types: bool, int8..int64, uint8..uint64, float32, float64, string,
    /// large_string, binary, date32, timestamp (µs), or any Arrow type name
    /// such as `Timestamp(ms, "UTC")`; append ` not null` for a required
    /// column. CSV headers must match the names.
    #[arg(long, value_name = "SPEC", value_parser = schema_spec::parse)]
    pub schema: Option<SchemaRef>,

    /// Rows of each CSV/NDJSON input read to infer its schema.
    #[arg(long, value_name = "ROWS", default_value_t = 1000)]
    pub infer_rows: usize,

    /// Keep the process's memory growth within this size (e.g. 256MiB):
    /// the writer, its codecs, the input's reader and the batches in flight,
    /// pages spilling to disk. A limit too small is refused naming the
    /// smallest that works. Without it, parquet's in-memory page store holds
    /// each whole row group on the heap.
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size_arg)]
    pub memory_limit: Option<u64>,

    /// Directory for the spill file [default: the OS temporary directory].
    #[arg(long, value_name = "DIR", requires = "memory_limit")]
    pub spill_dir: Option<PathBuf>,

    /// Start a new row group after this many rows [default: one row group
    /// unless --row-group-bytes is given].
    #[arg(long, value_name = "N")]
    pub row_group_rows: Option<NonZeroUsize>,

    /// Start a new row group when the encoded size reaches this (e.g. 128MiB).
    #[arg(long, value_name = "SIZE", value_parser = units::parse_nonzero_size_arg)]
    pub row_group_bytes: Option<u64>,

    /// Compression codec: zstd[:level], snappy, lz4, gzip[:level],
    /// brotli[:level] or none.
    #[arg(long, value_name = "CODEC", default_value = "zstd:1")]
    pub compression: Codec,

    /// Data page size limit (e.g. 1MiB). With --memory-limit this is an upper
    /// bound the planner may lower.
    #[arg(long, value_name = "SIZE", value_parser = units::parse_nonzero_size_arg)]
    pub page_size: Option<u64>,

    /// Dictionary encoding [default: parquet's (on)].
    #[arg(long, value_enum, value_name = "on|off")]
    pub dictionary: Option<Toggle>,

    /// Write a bloom filter for this column (repeatable; nested columns as
    /// `a.b`).
    #[arg(long = "bloom-filter", value_name = "COLUMN")]
    pub bloom_filters: Vec<String>,

    /// Threads encoding columns [default: all cores]. The output is the same
    /// byte for byte whatever the count.
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,

    /// Rows per input batch, at most 1,048,576 [default: about 4 MiB of
    /// input per batch]. With `--memory-limit` they are reserved (rows
    /// times the input's row size, and a CSV decoder's 24 bytes a field),
    /// so a limit too small for them is refused naming the minimum; batches
    /// holding more than reserved are charged to the limit.
    #[arg(long, value_name = "N", value_parser = batch_rows)]
    pub batch_rows: Option<NonZeroUsize>,

    /// Sync the output to disk before renaming it into place, so that it
    /// survives a power loss, not only a crash of this program (as `rsync
    /// --fsync`). Slower: the file waits for the disk at the end.
    #[arg(long)]
    pub fsync: bool,

    /// Print no progress and no report (errors are still printed).
    #[arg(short, long)]
    pub quiet: bool,

    /// Also write the final report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,

    /// Seconds between progress lines when stderr is not a terminal.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0, hide = true)]
    pub progress_interval: f64,
}

/// `parquet-spill demo`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Raw size of the generated data set, in MiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub mib: u64,

    /// Bytes per fat string value, in KiB (the skewed schema has 10 fat
    /// string columns, 5 short ones and 3 integers).
    #[arg(
        long,
        value_name = "KIB",
        default_value_t = 8,
        conflicts_with = "wide",
        value_parser = clap::value_parser!(u32).range(1..=1 << 20)
    )]
    pub fat_kib: u32,

    /// Generate this many mixed columns (Int64, ~20-byte and ~200-byte
    /// strings) instead of the skewed schema.
    #[arg(long, value_name = "COLUMNS")]
    pub wide: Option<usize>,

    /// The memory limit of the second conversion.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = units::parse_size_arg)]
    pub memory_limit: u64,

    /// Directory for the spill file [default: the OS temporary directory].
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,

    /// Compression codec of both conversions.
    #[arg(long, value_name = "CODEC", default_value = "zstd:1")]
    pub compression: Codec,

    /// Keep the CSV, outputs and reports in this directory instead of a
    /// temporary one that is removed at the end.
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// Newline-delimited JSON: one object per line.
    #[value(alias = "json", alias = "jsonl")]
    Ndjson,
    /// Arrow IPC, file or stream (detected from the file's magic bytes).
    #[value(alias = "arrow", alias = "feather")]
    Ipc,
    /// Arrow IPC file format.
    IpcFile,
    /// Arrow IPC stream format.
    IpcStream,
    /// Apache Parquet.
    Parquet,
}

/// `on` / `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Toggle {
    On,
    Off,
}

/// Most rows `--batch-rows` takes: readers allocate a batch's offsets and
/// buffers for every column up front.
const MAX_BATCH_ROWS: usize = 1 << 20;

/// Parse `--batch-rows`: 1 to [`MAX_BATCH_ROWS`].
fn batch_rows(text: &str) -> Result<NonZeroUsize, String> {
    let rows: NonZeroUsize = text
        .parse()
        .map_err(|e| format!("{e} (a row count from 1 to {MAX_BATCH_ROWS})"))?;
    if rows.get() > MAX_BATCH_ROWS {
        return Err(format!("at most {MAX_BATCH_ROWS} rows per batch"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_arguments_are_consistent() {
        Cli::command().debug_assert();
    }
}
