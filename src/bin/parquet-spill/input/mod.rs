//! Inputs: find each file's format and schema, check they agree, read batches.
//!
//! Why in two steps ([`Input::probe`], then [`Probed::batches`]): every
//! input's schema must be known, and every file must exist, before the
//! output is created and before any data is converted, so a bad third input
//! fails in a second rather than after converting the first two. Probing
//! reads only a sample (text) or the metadata (IPC, Parquet) and closes the
//! file again; reading reopens one input at a time.

mod binary;
mod counting;
mod held;
mod ipc_file;
mod ipc_stream;
mod page_headers;
mod page_values;
mod parquet_pages;
mod text;
mod text_types;
mod views;

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema, SchemaRef};
pub use held::HeldInput;

use crate::cli::Format;

/// Rows per batch aim for about this much input, so wide or fat rows do not
/// make huge input batches (which are on the heap, outside the writer's budget).
const TARGET_BATCH_BYTES: f64 = 4.0 * 1024.0 * 1024.0;
/// The most rows per batch when rows are tiny.
pub const MAX_BATCH_ROWS: usize = 65_536;
/// arrow-csv's decoder, for every field of a batch asked for: a field's
/// offset (`usize`) and its bytes (`AVERAGE_FIELD_SIZE`, 8), that buffer
/// doubling once the fields read are longer.
const CSV_FIELD_BYTES: u64 = 24;

/// What arrow-csv's decoder holds for batches of `rows` rows of `columns`
/// columns ([`CSV_FIELD_BYTES`] a field).
pub fn csv_decoder_bytes(rows: usize, columns: usize) -> u64 {
    (rows as u64)
        .saturating_mul(columns as u64)
        .saturating_mul(CSV_FIELD_BYTES)
}
/// Rows per batch when nothing is known about row sizes.
const DEFAULT_BATCH_ROWS: usize = 8192;

/// A concrete input format (IPC resolved to file or stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Csv,
    Ndjson,
    IpcFile,
    IpcStream,
    Parquet,
}

impl Kind {
    /// CSV and NDJSON carry no schema of their own.
    pub fn is_text(self) -> bool {
        matches!(self, Kind::Csv | Kind::Ndjson)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Csv => "CSV",
            Kind::Ndjson => "NDJSON",
            Kind::IpcFile => "Arrow IPC file",
            Kind::IpcStream => "Arrow IPC stream",
            Kind::Parquet => "Parquet",
        })
    }
}

/// How to read text inputs.
#[derive(Debug, Clone)]
pub struct TextOptions {
    /// `--schema`, instead of inferring.
    pub schema: Option<SchemaRef>,
    /// Rows sampled to infer a schema.
    pub infer_rows: usize,
}

/// An input file that exists, with its format and size.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    pub kind: Kind,
    pub size: u64,
}

/// An input with its schema.
#[derive(Debug, Clone)]
pub struct Probed {
    pub input: Input,
    pub schema: SchemaRef,
    /// Average input bytes per row, when known (to size batches).
    pub bytes_per_row: Option<f64>,
    /// A Parquet file's reading, probed under a limit ([`Probed::reading`]).
    parquet_reading: Option<Reading>,
}

/// What reading an input costs beside its batches ([`Probed::reading`]).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Reading {
    /// What the input's reader holds at most beside its batches, bytes.
    pub held: u64,
    /// The most bytes a row decodes to, where the input tells it (a
    /// Parquet file's pages do: its footer's sizes are encoded ones, which
    /// a dictionary or a delta encoding make far smaller).
    pub bytes_per_row: Option<f64>,
    /// What all its rows decode to, where the input tells it (a Parquet
    /// file's pages: a compressed file of 1.5 MB held 87 MB of values, and
    /// its output as many pages).
    pub decoded_bytes: Option<u64>,
}

/// How large an input's read batches may be.
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchSize {
    /// Rows a batch (`None`: about [`TARGET_BATCH_BYTES`] of input, from the
    /// input's row size).
    pub rows: Option<usize>,
    /// The input bytes planned for a batch (with `--memory-limit`): a text
    /// batch is also ended by the bytes its decoder is fed, not only by
    /// rows ([`text`]'s `Allowance`), since rows may grow after the sample
    /// they were counted from. `None`: rows alone.
    pub bytes: Option<u64>,
}

/// Batches of one input; errors name the file and, for text, the line.
pub type Batches = Box<dyn Iterator<Item = Result<RecordBatch>>>;

impl Input {
    /// Check `path` is a readable file and find its format.
    pub fn resolve(path: &Path, forced: Option<Format>) -> Result<Self> {
        let meta = std::fs::metadata(path)
            .with_context(|| format!("input {} cannot be read", path.display()))?;
        if !meta.is_file() {
            bail!("input {} is not a file", path.display());
        }
        let format = match forced {
            Some(format) => format,
            None => format_from_extension(path)?,
        };
        let kind = match format {
            Format::Csv => Kind::Csv,
            Format::Ndjson => Kind::Ndjson,
            Format::IpcFile => Kind::IpcFile,
            Format::IpcStream => Kind::IpcStream,
            Format::Parquet => Kind::Parquet,
            Format::Ipc => sniff_ipc(path)?,
        };
        Ok(Self {
            path: path.to_path_buf(),
            kind,
            size: meta.len(),
        })
    }

    /// Find the schema: from `--schema`, a sample, or the file's metadata
    /// (under a `limit`, a Parquet file's reading is costed from the same
    /// metadata, and a footer too large to decode within it refused first).
    pub fn probe(&self, text: &TextOptions, limit: Option<u64>) -> Result<Probed> {
        let (schema, bytes_per_row, parquet_reading) = if self.kind.is_text() {
            let (schema, bytes_per_row) = text::probe(self, text)?;
            (schema, bytes_per_row, None)
        } else {
            binary::probe(self, limit)?
        };
        Ok(Probed {
            input: self.clone(),
            schema,
            bytes_per_row,
            parquet_reading,
        })
    }
}

impl Probed {
    /// What reading the input costs beside its batches: a Parquet file's
    /// pages and codec contexts, and the most its rows decode to
    /// ([`parquet_pages`], which reads the file's page headers and its
    /// dictionaries); an IPC file's dictionaries (read first, kept to the
    /// end); nothing worth counting for the other formats. A Parquet
    /// file's is found when it is probed under a limit.
    pub fn reading(&self) -> Result<Reading> {
        match self.input.kind {
            Kind::Parquet => self
                .parquet_reading
                .context("a Parquet input's reading is found when it is probed under a limit"),
            Kind::IpcFile => Ok(Reading {
                held: ipc_file::Footer::read(&self.input.path)?.dictionary_bytes()?,
                ..Reading::default()
            }),
            _ => Ok(Reading::default()),
        }
    }

    /// What the input's decoder holds for batches of `rows` rows beyond
    /// the batches themselves, whatever rows the file has: arrow-csv sizes
    /// its field offsets and field bytes for every field of the batch asked
    /// for before it reads a row ([`CSV_FIELD_BYTES`]).
    pub fn decoder_bytes(&self, rows: usize) -> u64 {
        match self.input.kind {
            Kind::Csv => csv_decoder_bytes(rows, self.schema.fields().len()),
            _ => 0,
        }
    }

    /// The most bytes two consecutive batches hold that the reader reads
    /// whole, whatever the batch size asked for (an IPC file's record
    /// batches, decompressed): one being read, the writer still holding the
    /// other. 0 where batches are read at the size asked for.
    pub fn whole_batches(&self) -> Result<u64> {
        match self.input.kind {
            Kind::IpcFile => ipc_file::Footer::read(&self.input.path)?.batch_pair_bytes(),
            _ => Ok(0),
        }
    }

    /// Open the input and read it in batches of `size.rows` rows (default:
    /// about [`TARGET_BATCH_BYTES`] of input each; a text input's also held
    /// to `size.bytes` of input), counting bytes read in `bytes_read`; the
    /// input they hold is counted in `held`.
    pub fn batches(
        &self,
        size: BatchSize,
        bytes_read: Arc<AtomicU64>,
        held: &HeldInput,
    ) -> Result<Batches> {
        let rows = size.rows.unwrap_or_else(|| match self.bytes_per_row {
            // A text input whose sample held no row holds none: arrow-csv
            // would size its fields for 8,192 rows of every column anyway.
            None if self.input.kind.is_text() => 1,
            bytes => default_batch_rows(bytes),
        });
        if self.input.kind.is_text() {
            text::batches(self, rows, size.bytes, bytes_read, held.gate())
        } else {
            binary::batches(self, rows, bytes_read, held)
        }
    }
}

fn default_batch_rows(bytes_per_row: Option<f64>) -> usize {
    match bytes_per_row {
        Some(bytes) if bytes > 0.0 => {
            ((TARGET_BATCH_BYTES / bytes) as usize).clamp(1, MAX_BATCH_ROWS)
        }
        _ => DEFAULT_BATCH_ROWS,
    }
}

fn format_from_extension(path: &Path) -> Result<Format> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "csv" => Format::Csv,
        "json" | "ndjson" | "jsonl" => Format::Ndjson,
        "arrow" | "ipc" | "feather" => Format::Ipc,
        "arrows" => Format::IpcStream,
        "parquet" | "pq" => Format::Parquet,
        _ => bail!(
            "cannot tell the format of {} from its extension; give --format \
             (csv, ndjson, ipc, ipc-file, ipc-stream or parquet)",
            path.display()
        ),
    })
}

/// IPC files start with `ARROW1`; anything else is read as a stream.
fn sniff_ipc(path: &Path) -> Result<Kind> {
    let mut magic = [0u8; 6];
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut filled = 0;
    while filled < magic.len() {
        match file.read(&mut magic[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(if &magic[..filled] == b"ARROW1" {
        Kind::IpcFile
    } else {
        Kind::IpcStream
    })
}

/// The schema all inputs share: column names and types must match; a
/// column is nullable if it is nullable in any input; metadata is dropped.
pub fn common_schema(inputs: &[Probed]) -> Result<SchemaRef> {
    let Some((first, rest)) = inputs.split_first() else {
        bail!("no inputs");
    };
    let mut fields: Vec<Field> = first
        .schema
        .fields()
        .iter()
        .map(|f| {
            f.as_ref()
                .clone()
                .with_metadata(std::collections::HashMap::new())
        })
        .collect();
    for other in rest {
        check_same_columns(first, other)?;
        for (field, theirs) in fields.iter_mut().zip(other.schema.fields()) {
            if theirs.is_nullable() {
                field.set_nullable(true);
            }
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

fn check_same_columns(first: &Probed, other: &Probed) -> Result<()> {
    let describe = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), f.data_type()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (a, b) = (&first.schema, &other.schema);
    let difference = if a.fields().len() != b.fields().len() {
        Some(format!(
            "it has {} columns ({}), {} has {} ({})",
            b.fields().len(),
            describe(b),
            first.input.path.display(),
            a.fields().len(),
            describe(a)
        ))
    } else {
        a.fields()
            .iter()
            .zip(b.fields())
            .enumerate()
            .find(|(_, (x, y))| x.name() != y.name() || x.data_type() != y.data_type())
            .map(|(i, (x, y))| {
                format!(
                    "column {} is `{}: {}` there but `{}: {}` in {}",
                    i + 1,
                    y.name(),
                    y.data_type(),
                    x.name(),
                    x.data_type(),
                    first.input.path.display()
                )
            })
    };
    match difference {
        None => Ok(()),
        Some(difference) => {
            let hint = if first.input.kind.is_text() || other.input.kind.is_text() {
                " (for CSV/NDJSON inputs, --schema reads every file with the same schema)"
            } else {
                ""
            };
            bail!(
                "input {} has a different schema: {difference}; all inputs must have the same \
                 columns{hint}",
                other.input.path.display()
            )
        }
    }
}

/// `batch` with the writer's schema (same columns; nullability and metadata
/// may differ between inputs).
pub fn conform(schema: &SchemaRef, batch: RecordBatch) -> Result<RecordBatch> {
    if batch.schema_ref() == schema {
        return Ok(batch);
    }
    Ok(RecordBatch::try_new(
        Arc::clone(schema),
        batch.columns().to_vec(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_hold_a_few_mib_of_input() {
        assert_eq!(default_batch_rows(None), DEFAULT_BATCH_ROWS);
        assert_eq!(default_batch_rows(Some(10.0)), MAX_BATCH_ROWS);
        assert_eq!(default_batch_rows(Some(1024.0)), 4096);
        assert_eq!(default_batch_rows(Some(64.0 * 1024.0 * 1024.0)), 1);
    }

    #[test]
    fn formats_come_from_extensions() {
        assert_eq!(
            format_from_extension(Path::new("a.CSV")).unwrap(),
            Format::Csv
        );
        assert_eq!(
            format_from_extension(Path::new("a.jsonl")).unwrap(),
            Format::Ndjson
        );
        assert_eq!(
            format_from_extension(Path::new("a.arrows")).unwrap(),
            Format::IpcStream
        );
        assert!(format_from_extension(Path::new("a.txt"))
            .unwrap_err()
            .to_string()
            .contains("--format"));
    }
}
