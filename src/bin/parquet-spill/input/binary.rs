//! Arrow IPC (file and stream) and Parquet inputs: self-describing formats.
//!
//! Why together: their schema is in the file, their readers already yield
//! `RecordBatch`es, and their errors have no line to point at, so they share
//! one error wrapper naming the file and the rows read before the failure.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::counting::{CountedFile, CountingRead};
use super::ipc_file::{self, Footer};
use super::ipc_stream::StreamBatches;
use super::{parquet_pages, views, Batches, HeldInput, Input, Kind, Probed, Reading};
use crate::units::human_bytes;

/// The schema stored in the file and, for Parquet, the uncompressed bytes
/// per row (from its footer) and, under a `limit`, what reading it costs
/// ([`parquet_pages::reading`], from the same decoded footer); a footer
/// too large to decode within the limit is refused first ([`check_footer`]).
pub fn probe(
    input: &Input,
    limit: Option<u64>,
) -> Result<(SchemaRef, Option<f64>, Option<Reading>)> {
    let counter = Arc::new(AtomicU64::new(0));
    let path = &input.path;
    let context = || format!("reading the schema of {} ({})", path.display(), input.kind);
    match input.kind {
        Kind::Parquet => {
            if let Some(limit) = limit {
                check_footer(path, limit)?;
            }
            let builder = parquet_builder(path, counter).with_context(context)?;
            let meta = builder.metadata().file_metadata();
            let rows = meta.num_rows();
            let bytes: i64 = builder
                .metadata()
                .row_groups()
                .iter()
                .map(|rg| rg.total_byte_size())
                .sum();
            let per_row = (rows > 0).then(|| bytes as f64 / rows as f64);
            let reading = limit
                .map(|limit| {
                    parquet_pages::reading(path, builder.metadata(), builder.schema(), limit)
                })
                .transpose()?;
            Ok((Arc::clone(builder.schema()), per_row, reading))
        }
        // From the schema message alone: arrow's `FileReader` reads every
        // dictionary before it returns, and a dictionary larger than the
        // limit was read whole before the plan could refuse it.
        Kind::IpcFile => Ok((ipc_file::schema(path).with_context(context)?, None, None)),
        _ => Ok((
            ipc_stream(path, counter).with_context(context)?.schema(),
            None,
            None,
        )),
    }
}

/// What parquet's decoded metadata takes per column chunk and per row
/// group beside the bytes it copies from the footer (statistics, paths,
/// key-value metadata, counted as the footer's bytes again), rounded up
/// from `ParquetMetaData::memory_size` (468 bytes a chunk for `Int32`
/// columns, 868 with 200-byte statistics: the unit test
/// `decoded_footers_are_within_the_estimate`). Counted at three times its
/// bytes, a review's footer of 20,000 row groups of 8 `Int32` columns
/// (14.2 MiB) was decoded at 43 MiB, to 104.2 MiB of resident set.
const DECODED_CHUNK: u64 = 768;
const DECODED_ROW_GROUP: u64 = 512;

/// What decoding the footer of `footer` bytes, `groups` row groups and
/// `chunks` column chunks takes at most: its bytes as read, and the
/// metadata decoded from them.
fn footer_decoding(footer: u64, groups: u64, chunks: u64) -> u64 {
    footer
        .saturating_mul(2)
        .saturating_add(chunks.saturating_mul(DECODED_CHUNK))
        .saturating_add(groups.saturating_mul(DECODED_ROW_GROUP))
}

/// Refuse `limit` for the Parquet file at `path` before its footer is
/// decoded, where decoding it alone would pass the limit: its bytes are
/// read (where they fit) and walked for its row groups and column chunks.
fn check_footer(path: &Path, limit: u64) -> Result<()> {
    let file = open(path)?;
    let footer = parquet_pages::footer_len(&file)
        .with_context(|| format!("reading the footer of {}", path.display()))?;
    // A footer longer than the limit is not read: three times its bytes
    // (its own and some of what decoding copies) is the least it needs.
    let (needed, least) = match footer > limit {
        true => (footer.saturating_mul(3), "at least "),
        false => {
            let (groups, chunks) = parquet_pages::footer_chunks(&file, footer)
                .with_context(|| format!("reading the footer of {}", path.display()))?;
            (footer_decoding(footer, groups, chunks), "")
        }
    };
    if needed > limit {
        let suggested = needed.div_ceil(1 << 20);
        anyhow::bail!(
            "--memory-limit {} is too small to read {}: its footer of {} and what parquet \
             decodes from it take {least}{} before any row is read (try --memory-limit \
             {suggested}MiB or more)",
            human_bytes(limit),
            path.display(),
            human_bytes(footer),
            human_bytes(needed),
        );
    }
    Ok(())
}

/// Read a self-describing input in batches (`rows` applies to Parquet; IPC
/// batches are read as they were written), the input they hold counted in
/// `held` (an IPC stream asks it for each batch's room before reading it).
pub fn batches(
    probed: &Probed,
    rows: usize,
    bytes_read: Arc<AtomicU64>,
    held: &HeldInput,
) -> Result<Batches> {
    let path = &probed.input.path;
    let context = || format!("opening {} ({})", path.display(), probed.input.kind);
    let batches: Batches = match probed.input.kind {
        Kind::Parquet => {
            let reader = parquet_builder(path, bytes_read)
                .with_context(context)?
                .with_batch_size(rows)
                .build()
                .with_context(context)?
                .map(|r| r.map_err(anyhow::Error::new));
            // Only within a limit: the copy took a tenth longer unlimited.
            match held.limited() && views::any(&probed.schema) {
                true => Box::new(reader.map(|r| r.and_then(views::compact))),
                false => Box::new(reader),
            }
        }
        Kind::IpcFile => Box::new(
            Footer::read(path)?
                .batches(
                    Arc::clone(&probed.schema),
                    bytes_read,
                    held.pool(),
                    &held.gate(),
                )?
                .map(|r| r.map_err(anyhow::Error::new)),
        ),
        _ => Box::new(StreamBatches::open(path, bytes_read, held.gate()).with_context(context)?),
    };
    Ok(Box::new(Located {
        inner: batches,
        path: path.display().to_string(),
        rows: 0,
    }))
}

fn open(path: &Path) -> Result<File> {
    File::open(path).with_context(|| format!("opening {}", path.display()))
}

fn parquet_builder(
    path: &Path,
    counter: Arc<AtomicU64>,
) -> Result<ParquetRecordBatchReaderBuilder<CountedFile>> {
    Ok(ParquetRecordBatchReaderBuilder::try_new(CountedFile::new(
        open(path)?,
        counter,
    ))?)
}

fn ipc_stream(
    path: &Path,
    counter: Arc<AtomicU64>,
) -> Result<StreamReader<BufReader<CountingRead<File>>>> {
    let reader = BufReader::new(CountingRead::new(open(path)?, counter));
    Ok(StreamReader::try_new(reader, None)?)
}

/// Adds the file and the rows read so far to a reader's errors.
struct Located {
    inner: Batches,
    path: String,
    rows: u64,
}

impl Iterator for Located {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.inner.next()? {
            Ok(batch) => {
                self.rows += batch.num_rows() as u64;
                Ok(batch)
            }
            Err(e) => Err(e.context(format!(
                "{}: reading the rows after row {}",
                self.path, self.rows
            ))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow_array::{ArrayRef, Int32Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    /// The footer's estimate covers its bytes and what parquet decodes
    /// from them, for columns with and without long statistics.
    #[test]
    fn decoded_footers_are_within_the_estimate() {
        let ints: ArrayRef = Arc::new(Int32Array::from_iter_values(0..2_000));
        let strings: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..2_000).map(|i| format!("{i:0>200}")),
        ));
        for (name, column) in [("ints", ints), ("strings", strings)] {
            let batch = RecordBatch::try_from_iter(
                (0..8).map(|c| (format!("{name}{c}"), Arc::clone(&column))),
            )
            .unwrap();
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("footer.parquet");
            let props = WriterProperties::builder()
                .set_max_row_group_row_count(Some(1))
                .set_statistics_truncate_length(None)
                .build();
            let file = File::create(&path).unwrap();
            let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
            writer.write(&batch).unwrap();
            writer.close().unwrap();

            let file = File::open(&path).unwrap();
            let footer = parquet_pages::footer_len(&file).unwrap();
            let (groups, chunks) = parquet_pages::footer_chunks(&file, footer).unwrap();
            assert_eq!((groups, chunks), (2_000, 16_000), "{name}");
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            let decoded = builder.metadata().memory_size() as u64;
            let estimate = footer_decoding(footer, groups, chunks);
            eprintln!(
                "{name}: footer {footer}, decoded {decoded} ({} a chunk), estimate {estimate}",
                decoded / chunks
            );
            assert!(
                estimate >= footer + decoded,
                "{name}: {estimate} < {footer} + {decoded}"
            );
        }
    }
}
