//! What parquet's reader holds beside the batches it returns, and what a
//! row decodes to.
//!
//! Why: `--memory-limit` is the process's memory, and a Parquet input's
//! reader keeps, for every column at once, the page it is decoding
//! (decompressed, as large as the writer of the input made it: parquet's
//! default is 1 MiB), the column's dictionary, and a codec per column (a
//! zstd decompression context outside the Rust heap). A 1,500-column file
//! of one-page column chunks is read with the whole row group decompressed
//! in memory, whatever the batch size: converting such a file under a
//! 128 MiB limit peaked at 261 MiB before this was counted. The footer
//! does not say how large a page is, so the input's page headers are read
//! (a few hundred bytes a page, before any data is converted) and the
//! largest page of each column reserved.
//!
//! What decoding holds beyond a page is read from parquet 60.1's readers:
//! a byte-array dictionary is decoded into its values (as many bytes as
//! its page) and an offset per entry (a view of 16 bytes for `Utf8View`,
//! which keeps the page), and a delta-encoded byte-array page has every
//! value's length (and prefix length) decoded up front.
//! `cargo run --release --features testkit --example parquet_reader_memory`
//! measures the reading by codec (under the CLI's glibc setting): with
//! 1,500 one-page columns its heap is the file's bytes plus 11–15 KiB a
//! column, and zstd adds 62 KiB a column outside the heap (66 KiB for
//! 1 MiB pages); the constants below round up, and `tests/cli/memory.rs`
//! (`parquet_inputs_are_read_within_the_limit`) holds conversions of such
//! files within the limits their refusals name.
//!
//! The same walk sizes the batches. The footer's bytes per row are
//! encoded bytes, and a dictionary makes a row of long strings a few
//! bits: 10,000 rows of 2 KB strings from an 8-entry dictionary were read
//! as one batch of 78 MiB under a 32 MiB limit. A row is counted as the
//! most any page of each column decodes to a row
//! (`parquet_inputs_are_read_in_batches_of_their_decoded_rows`). Where a
//! header cannot tell that, the page is read ([`super::page_values`]): a
//! byte-array dictionary for its longest entry, a `DELTA_BYTE_ARRAY` page
//! for the prefixes its values share.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_schema::{DataType, Schema};
use parquet::basic::{Compression, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};
use parquet::file::serialized_reader::SerializedPageReader;

use super::page_headers::{
    first_rows, page_rows, read_header, Header, DELTA_BYTE_ARRAY, DICTIONARY_PAGE,
    PLAIN_DICTIONARY, RLE_DICTIONARY,
};
use super::page_values::{densest_records, longest_plain, shared_prefix_bytes};
use super::Reading;

/// The reader's own state per column, beyond its pages (page reader, record
/// reader, level buffers, the read buffer of the page being read).
const PER_COLUMN: u64 = 8 << 10;
/// A zstd decompression context (C memory, kept per column by parquet's
/// `ZSTDCodec`, with a compression context it does not use).
const ZSTD_CONTEXT: u64 = 128 << 10;

/// What reading the file with `metadata` at `path` costs.
///
/// The reader holds, beside its batches: the decoded footer; for every
/// column its dictionary (decoded, kept for the column chunk) and its
/// largest data page with what decoding it holds, over all row groups (a
/// column may start its next row group before another ends its own);
/// once, the largest page being decompressed or decoded, as read and as
/// decompressed; and every column's codec context and own state.
///
/// The footer is read whole before it is decoded, so its bytes are held
/// besides for a while (uncounted, a review's 41.6 MB footer of 5,000 row
/// groups' statistics took a conversion 7.6 MiB past the limit it was
/// planned at).
///
/// A row decodes to, in each column, the most any of its pages decodes to
/// a row ([`ChunkPages::row_bytes`]); the file's row to the most those add
/// up to in a row group. The pages it reads for that are read only where
/// they fit within `limit` with the footer.
pub fn reading(
    path: &Path,
    metadata: &ParquetMetaData,
    schema: &Schema,
    limit: u64,
) -> Result<Reading> {
    let file = Arc::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    let footer = footer_len(&file).with_context(|| format!("reading {}", path.display()))?;
    let metadata_bytes = (metadata.memory_size() as u64).saturating_add(footer);
    let room = limit.saturating_sub(metadata_bytes);
    let columns = metadata.file_metadata().schema_descr().num_columns();
    let slots = leaf_slots(schema, columns);
    let mut held = vec![0u64; columns];
    let mut transient = 0u64;
    let mut bytes_per_row: Option<f64> = None;
    let mut decoded = 0u64;
    for row_group in metadata.row_groups() {
        let rows = u64::try_from(row_group.num_rows()).context("negative row count")?;
        let mut row_bytes = 0.0;
        for ((held, chunk), &slot) in held.iter_mut().zip(row_group.columns()).zip(&slots) {
            let pages = chunk_pages(&file, chunk, rows, room, slot).with_context(|| {
                format!(
                    "reading the page headers of column {} in {}",
                    chunk.column_path(),
                    path.display()
                )
            })?;
            *held = (*held).max(pages.dictionary.saturating_add(pages.largest));
            let largest = pages.dictionary.max(pages.largest);
            transient = transient.max(largest.saturating_add(pages.largest_compressed));
            row_bytes += pages.row_bytes;
            decoded = decoded.saturating_add(pages.decoded);
        }
        if rows > 0 {
            bytes_per_row = Some(bytes_per_row.map_or(row_bytes, |most| most.max(row_bytes)));
        }
    }
    let codecs: u64 = metadata
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns().iter().map(|c| codec_context(c.compression())))
        .max()
        .map_or(0, |most| most * columns as u64);
    let pages = held.iter().fold(0u64, |sum, &h| sum.saturating_add(h));
    let held = pages
        .saturating_add(transient)
        .saturating_add(codecs)
        .saturating_add(PER_COLUMN * columns as u64)
        .saturating_add(metadata_bytes);
    Ok(Reading {
        held,
        bytes_per_row,
        decoded_bytes: Some(decoded),
    })
}

/// The length of the footer of the Parquet file `file` (its last 8 bytes:
/// the length, then `PAR1`).
pub(super) fn footer_len(file: &File) -> Result<u64> {
    let size = file.metadata()?.len();
    let mut tail = [0u8; 8];
    file.read_exact_at(&mut tail, size.checked_sub(8).context("no footer")?)?;
    let (length, magic) = tail.split_at(4);
    anyhow::ensure!(magic == b"PAR1", "no Parquet footer at the end");
    Ok(u64::from(u32::from_le_bytes([
        length[0], length[1], length[2], length[3],
    ])))
}

/// The row groups and column chunks of the footer of `footer` bytes at the
/// end of the Parquet file `file` (read whole, then walked).
pub(super) fn footer_chunks(file: &File, footer: u64) -> Result<(u64, u64)> {
    let size = file.metadata()?.len();
    let start = size
        .checked_sub(8 + footer)
        .context("the footer is longer than the file")?;
    let mut bytes = vec![0; usize::try_from(footer).context("footer length")?];
    file.read_exact_at(&mut bytes, start)?;
    super::page_headers::Compact::new(&bytes)
        .row_groups_and_chunks()
        .map_err(|e| anyhow::anyhow!("the footer is {e}"))
}

fn codec_context(codec: Compression) -> u64 {
    match codec {
        Compression::ZSTD(_) => ZSTD_CONTEXT,
        _ => 0,
    }
}

/// What the pages of one column chunk cost the reader at most, bytes.
#[derive(Debug, Default, PartialEq)]
struct ChunkPages {
    count: u64,
    /// The largest data page decompressed, with the lengths a delta
    /// encoding of byte arrays decodes up front (4 bytes a value, 8 for
    /// prefixes and suffixes).
    largest: u64,
    largest_compressed: u64,
    /// The dictionary decoded: its page's bytes, and for byte arrays an
    /// offset or view per entry (16 bytes covers `Utf8View`'s, which keeps
    /// the page too; `Utf8`'s offsets take 4).
    dictionary: u64,
    /// The most bytes a row of the chunk decodes to: over its pages, a
    /// page's values decoded ([`Column::decoded`]) over its rows. A page's
    /// rows are in a version-2 header, are its values where the column is
    /// not repeated, and are read from the offset index where the file has
    /// one, or from its repetition levels (at the densest 64th of its
    /// records); where none says (a page too large to read), the chunk's
    /// values decoded over its rows.
    row_bytes: f64,
    /// The chunk's values decoded ([`Column::decoded`]), bytes.
    decoded: u64,
}

/// Bytes a decoded byte-array value takes beside its bytes, null or not,
/// where the Arrow type it is read as is not known: a view (`Utf8View`,
/// `BinaryView`) is the most. An offset takes 4 or 8 bytes, a dictionary
/// key its width ([`leaf_slots`]); each with its validity bit.
const SLOT: u64 = 16;

/// What a byte-array value of each of the file's `columns` leaves takes
/// beside its bytes as it is read into `schema`'s Arrow types, a byte
/// rounding up its validity bit ([`SLOT`] where the Arrow schema's leaves
/// do not line up with the columns). A `Utf8` value counted as a view
/// made batches of a mostly null 300-column file four times too small.
fn leaf_slots(schema: &Schema, columns: usize) -> Vec<u64> {
    let types = parquet_spill::plan::leaf_types(schema);
    if types.len() != columns {
        return vec![SLOT; columns];
    }
    types
        .into_iter()
        .map(|data_type| match data_type {
            DataType::Utf8 | DataType::Binary => 4 + 1,
            DataType::LargeUtf8 | DataType::LargeBinary => 8 + 1,
            DataType::Dictionary(key, _) => key.primitive_width().map_or(SLOT, |w| w as u64 + 1),
            _ => SLOT,
        })
        .collect()
}

/// What a column chunk's values decode to, and what the walk reads of its
/// pages to tell.
struct Column {
    byte_arrays: bool,
    max_rep: i16,
    max_def: i16,
    /// A fixed-width value's bytes; for byte arrays, once the dictionary's
    /// page is read, its longest entry.
    value: u64,
    /// The chunk's values that are not null, where its statistics count
    /// its nulls: no page holds more.
    non_null: Option<u64>,
    /// Where a repeated column's pages start and their first rows, from
    /// its offset index.
    first_rows: Option<Vec<(i64, i64)>>,
    /// What a byte-array value takes beside its bytes ([`leaf_slots`]).
    slot: u64,
}

impl Column {
    fn of(file: &File, chunk: &ColumnChunkMetaData, slot: u64) -> Result<Self> {
        let descr = chunk.column_descr();
        let value = match chunk.column_type() {
            PhysicalType::BOOLEAN => 1,
            PhysicalType::INT32 | PhysicalType::FLOAT => 4,
            PhysicalType::INT64 | PhysicalType::DOUBLE => 8,
            PhysicalType::INT96 => 12,
            PhysicalType::FIXED_LEN_BYTE_ARRAY => u64::try_from(descr.type_length()).unwrap_or(0),
            PhysicalType::BYTE_ARRAY => 0,
        };
        let non_null = chunk
            .statistics()
            .and_then(|s| s.null_count_opt())
            .and_then(|nulls| u64::try_from(chunk.num_values()).ok()?.checked_sub(nulls));
        let first_rows = match descr.max_rep_level() > 0 {
            true => first_rows(file, chunk).context("reading the offset index")?,
            false => None,
        };
        Ok(Self {
            byte_arrays: chunk.column_type() == PhysicalType::BYTE_ARRAY,
            max_rep: descr.max_rep_level(),
            max_def: descr.max_def_level(),
            value,
            non_null,
            first_rows,
            slot,
        })
    }

    /// Whether the walk reads the body of the page with `header`: a
    /// byte-array dictionary (for its longest entry), a `DELTA_BYTE_ARRAY`
    /// page (for the prefixes its values share), and a repeated column's
    /// version-1 page that no offset index places (for its rows, the
    /// repetition levels of 0).
    fn reads(&self, header: &Header) -> bool {
        match header.kind {
            DICTIONARY_PAGE => self.byte_arrays,
            _ if self.byte_arrays && header.encoding == DELTA_BYTE_ARRAY => true,
            _ => self.max_rep > 0 && header.rows.is_none() && self.first_rows.is_none(),
        }
    }

    /// The data page's values decoded, from its `header` and the
    /// `prefixes` its values share (read from a `DELTA_BYTE_ARRAY` page).
    /// A fixed-width value takes its width whatever its encoding packed it
    /// to (delta, run lengths), nulls too. A byte array takes a slot
    /// ([`leaf_slots`]), null or not, and its bytes: from a dictionary, the longest
    /// entry for each value not null (the chunk's statistics and a
    /// version-2 header bound those); otherwise about its page's bytes.
    fn decoded(&self, header: &Header, prefixes: u64) -> u64 {
        let dictionary = matches!(header.encoding, PLAIN_DICTIONARY | RLE_DICTIONARY);
        if !self.byte_arrays {
            let values = header.values.saturating_mul(self.value);
            return match dictionary {
                true => values,
                false => header.with_lengths().max(values),
            };
        }
        let data = match dictionary {
            true => {
                let non_null = header.values.saturating_sub(header.nulls.unwrap_or(0));
                let non_null = self.non_null.map_or(non_null, |most| non_null.min(most));
                non_null.saturating_mul(self.value)
            }
            false => header.with_lengths().saturating_add(prefixes),
        };
        data.saturating_add(header.values.saturating_mul(self.slot))
    }

    /// The rows of the data page at `pos` with `header`, where its header
    /// or the offset index tell them (the chunk has `rows`).
    fn page_rows(&self, header: &Header, pos: u64, rows: u64) -> Option<u64> {
        header
            .rows
            .or((self.max_rep == 0).then_some(header.values))
            .or_else(|| page_rows(self.first_rows.as_deref()?, pos, rows))
    }
}

/// Walk `chunk`'s page headers in `file`, from where parquet's reader
/// starts (`ColumnChunkMetaData::byte_range`); the chunk has `rows` rows.
/// Page bodies are read only where their bytes, read and decompressed, fit
/// in `room`: a larger page alone takes the reader past the limit, which
/// is refused then (what the reader holds counts it), and the walk takes a
/// dictionary's longest entry as its whole page.
fn chunk_pages(
    file: &Arc<File>,
    chunk: &ColumnChunkMetaData,
    rows: u64,
    room: u64,
    slot: u64,
) -> Result<ChunkPages> {
    let start = chunk
        .dictionary_page_offset()
        .unwrap_or(chunk.data_page_offset());
    let start = u64::try_from(start).context("negative page offset")?;
    let length = u64::try_from(chunk.compressed_size()).context("negative chunk size")?;
    let end = start.checked_add(length).context("chunk size")?;
    let mut column = Column::of(file, chunk, slot)?;
    let mut bodies = Bodies::new(file, chunk, rows);
    let mut pages = ChunkPages::default();
    let mut unplaced = false;
    let mut buf = Vec::new();
    let mut pos = start;
    while pos < end {
        let header = read_header(file, pos, end, &mut buf)?;
        let fits = header.compressed.saturating_add(header.uncompressed) <= room;
        let body = match column.reads(&header) && fits {
            true => Some(bodies.read()?),
            false => bodies.skip().map(|()| None)?,
        };
        let body_context = || format!("reading the page at byte {pos}");
        if header.kind == DICTIONARY_PAGE {
            let entries = match column.byte_arrays {
                true => 16 * (header.values + 1),
                false => 0,
            };
            pages.dictionary = pages.dictionary.max(header.uncompressed + entries);
            column.value = match body {
                Some(Page::DictionaryPage { buf, .. }) => {
                    longest_plain(&buf).with_context(body_context)?
                }
                Some(_) => anyhow::bail!("the dictionary page is not where its header is"),
                None if column.byte_arrays => header.uncompressed,
                None => column.value,
            };
        } else {
            pages.largest = pages.largest.max(header.with_lengths());
            let (prefixes, densest) = match &body {
                Some(page) if header.encoding == DELTA_BYTE_ARRAY && column.byte_arrays => (
                    shared_prefix_bytes(page, column.max_rep, column.max_def)
                        .with_context(body_context)?,
                    None,
                ),
                Some(page) => (
                    0,
                    densest_records(page, column.max_rep).with_context(body_context)?,
                ),
                None => (0, None),
            };
            let page = column.decoded(&header, prefixes);
            pages.decoded = pages.decoded.saturating_add(page);
            // Where only the levels place the page's rows, its densest run
            // of them; otherwise, its rows on average.
            let density = match (column.page_rows(&header, pos, rows), densest) {
                (Some(n), _) => Some(page as f64 / n.max(1) as f64),
                (None, Some(levels)) => Some(page as f64 / header.values.max(1) as f64 * levels),
                (None, None) => None,
            };
            match density {
                Some(density) => pages.row_bytes = pages.row_bytes.max(density),
                None => unplaced = true,
            }
        }
        pages.largest_compressed = pages.largest_compressed.max(header.compressed);
        pages.count += 1;
        pos = pos
            .saturating_add(header.len as u64)
            .saturating_add(header.compressed);
    }
    if unplaced && rows > 0 {
        pages.row_bytes = pages.row_bytes.max(pages.decoded as f64 / rows as f64);
    }
    Ok(pages)
}

/// parquet's reader of a chunk's pages, kept in step with the walk, for
/// the pages whose bodies the walk reads ([`Column::reads`]): made at the
/// first of them, past the pages walked before it.
struct Bodies<'a> {
    file: &'a Arc<File>,
    chunk: &'a ColumnChunkMetaData,
    rows: u64,
    reader: Option<SerializedPageReader<File>>,
    /// Pages walked before the reader was made.
    behind: u64,
}

impl<'a> Bodies<'a> {
    fn new(file: &'a Arc<File>, chunk: &'a ColumnChunkMetaData, rows: u64) -> Self {
        Self {
            file,
            chunk,
            rows,
            reader: None,
            behind: 0,
        }
    }

    /// The page the walk is at, read and decompressed.
    fn read(&mut self) -> Result<Page> {
        let reader = match &mut self.reader {
            Some(reader) => reader,
            None => {
                let rows = usize::try_from(self.rows).context("row count")?;
                let file = Arc::clone(self.file);
                let mut reader = SerializedPageReader::new(file, self.chunk, rows, None)?;
                for _ in 0..self.behind {
                    reader.skip_next_page()?;
                }
                self.reader.insert(reader)
            }
        };
        reader
            .get_next_page()?
            .context("parquet's reader found fewer pages than their headers")
    }

    /// Pass over the page the walk is at.
    fn skip(&mut self) -> Result<()> {
        match &mut self.reader {
            Some(reader) => reader.skip_next_page()?,
            None => self.behind += 1,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Encoding, ZstdLevel};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// Write `batch` to a Parquet file at `path` with `props`.
    fn write(path: &Path, batch: &RecordBatch, props: WriterProperties) {
        let file = File::create(path).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
    }

    /// Every page header parquet writes (with statistics, dictionaries,
    /// both data page versions) decodes to the sizes parquet's own reader
    /// finds: the walk lands on each page and reads its sizes.
    #[test]
    fn the_walk_finds_every_page_parquet_wrote() {
        for (v2, dictionary) in [(false, false), (false, true), (true, false), (true, true)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("pages.parquet");
            let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(0..100_000));
            let strings: ArrayRef = Arc::new(StringArray::from_iter_values(
                (0..100_000).map(|i| format!("value {}", i % 3000)),
            ));
            let batch = RecordBatch::try_from_iter([("i", ints), ("s", strings)]).unwrap();
            let props = WriterProperties::builder()
                .set_writer_version(match v2 {
                    true => parquet::file::properties::WriterVersion::PARQUET_2_0,
                    false => parquet::file::properties::WriterVersion::PARQUET_1_0,
                })
                .set_dictionary_enabled(dictionary)
                .set_statistics_enabled(EnabledStatistics::Page)
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_data_page_size_limit(16 << 10)
                .set_max_row_group_row_count(Some(60_000))
                .build();
            write(&path, &batch, props);

            let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
            let metadata = reader.metadata();
            let file = Arc::new(File::open(&path).unwrap());
            let mut delta_pages = 0;
            for (r, row_group) in metadata.row_groups().iter().enumerate() {
                for (c, chunk) in row_group.columns().iter().enumerate() {
                    let mut expected = ChunkPages::default();
                    let mut pages = reader
                        .get_row_group(r)
                        .unwrap()
                        .get_column_page_reader(c)
                        .unwrap();
                    while let Some(page) = pages.get_next_page().unwrap() {
                        let size = page.buffer().len() as u64;
                        let values = u64::from(page.num_values());
                        expected.count += 1;
                        match (page.page_type(), page.encoding()) {
                            (parquet::basic::PageType::DICTIONARY_PAGE, _) => {
                                let entries = match c {
                                    1 => 16 * (values + 1),
                                    _ => 0,
                                };
                                expected.dictionary = expected.dictionary.max(size + entries)
                            }
                            (_, Encoding::DELTA_BYTE_ARRAY) => {
                                delta_pages += 1;
                                expected.largest = expected.largest.max(size + 8 * values)
                            }
                            _ => expected.largest = expected.largest.max(size),
                        }
                    }
                    let rows = row_group.num_rows() as u64;
                    let found = chunk_pages(&file, chunk, rows, u64::MAX, SLOT).unwrap();
                    assert_eq!(
                        (found.count, found.largest, found.dictionary),
                        (expected.count, expected.largest, expected.dictionary),
                        "v2 {v2}, dictionary {dictionary}, row group {r}, column {c}"
                    );
                    assert!(found.count > 1 + u64::from(dictionary));
                    assert!(found.largest_compressed < chunk.compressed_size() as u64);
                }
            }
            assert_eq!(metadata.num_row_groups(), 2);
            // parquet's v2 writer falls back to DELTA_BYTE_ARRAY for strings.
            assert_eq!(delta_pages > 0, v2 && !dictionary);
        }
    }

    /// Pages are read by a reader made at the first page the walk reads,
    /// past those it skipped: a dictionary too large for the room is not
    /// read, and the `DELTA_BYTE_ARRAY` pages parquet's version-2 writer
    /// falls back to after it still are (their prefixes counted).
    #[test]
    fn pages_after_an_unread_dictionary_are_read_in_step() {
        let strings = StringArray::from_iter_values(
            (0..20_000).map(|r| format!("{}{r:08}", "p".repeat(1000))),
        );
        let batch = RecordBatch::try_from_iter([("s", Arc::new(strings) as ArrayRef)]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fallback.parquet");
        let props = WriterProperties::builder()
            .set_writer_version(parquet::file::properties::WriterVersion::PARQUET_2_0)
            .set_dictionary_page_size_limit(1 << 20)
            .set_data_page_size_limit(64 << 10)
            .set_write_batch_size(64)
            .build();
        write(&path, &batch, props);
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let chunk = reader.metadata().row_group(0).column(0);
        let encodings: Vec<_> = chunk.encodings().collect();
        assert!(
            encodings.contains(&Encoding::DELTA_BYTE_ARRAY),
            "{encodings:?}"
        );
        let file = Arc::new(File::open(&path).unwrap());
        let walk = |room| chunk_pages(&file, chunk, 20_000, room, 5).unwrap();
        // The dictionary (1 MiB) does not fit 600 KB; the delta pages do.
        let (read, unread) = (walk(600_000), walk(0));
        assert_eq!(read.dictionary, unread.dictionary);
        assert!(read.dictionary > 600_000);
        // Every value after the fallback shares 1,000 bytes or more.
        let prefixes = read.decoded - unread.decoded;
        assert!(prefixes > 1_000_000, "{prefixes}");
    }

    /// Write `batch` with `props` and find the most a row of it decodes to.
    fn row_bytes(batch: &RecordBatch, props: WriterProperties) -> f64 {
        row_bytes_within(batch, props, u64::MAX)
    }

    /// [`row_bytes`], reading no page larger than `limit`.
    fn row_bytes_within(batch: &RecordBatch, props: WriterProperties, limit: u64) -> f64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.parquet");
        write(&path, batch, props);
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        reading(&path, reader.metadata(), &batch.schema(), limit)
            .unwrap()
            .bytes_per_row
            .unwrap()
    }

    /// What the reader holds counts the footer twice: read whole, then
    /// decoded.
    #[test]
    fn the_footer_is_held_as_read_and_as_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("footer.parquet");
        let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1000));
        let batch = RecordBatch::try_from_iter([("i", ints)]).unwrap();
        write(&path, &batch, WriterProperties::default());
        let file = File::open(&path).unwrap();
        let footer = footer_len(&file).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        let metadata = reader.metadata();
        let held = reading(&path, metadata, &batch.schema(), u64::MAX)
            .unwrap()
            .held;
        assert!(footer > 100 && held >= footer + metadata.memory_size() as u64);
        assert!(footer_len(&tempfile::tempfile().unwrap()).is_err());
    }

    /// A row decodes to its column's densest page: a value from a
    /// dictionary to its longest entry (and its slot), and a repeated
    /// column's page to its bytes over the rows its offset index, its
    /// version-2 header or its repetition levels give. With none of them
    /// (a page too large to read within the limit), the chunk's average
    /// is all the file tells.
    #[test]
    fn a_row_decodes_to_its_column_s_densest_page() {
        use arrow_array::types::Int64Type;
        use arrow_array::ListArray;
        use parquet::file::properties::WriterVersion;

        // Eight entries of 100 to 800 bytes, every row a dictionary index.
        let strings =
            StringArray::from_iter_values((0..1000).map(|r| "x".repeat(100 * (r % 8 + 1))));
        let batch = RecordBatch::try_from_iter([("s", Arc::new(strings) as ArrayRef)]).unwrap();
        assert_eq!(row_bytes(&batch, WriterProperties::default()), 800.0 + 5.0);

        // 9,000 rows of one Int64, then 1,000 of 200: 1,600 bytes a row in
        // the pages of the last rows, 167 on average.
        let lists = ListArray::from_iter_primitive::<Int64Type, _, _>((0..10_000).map(|r| {
            let n = if r < 9_000 { 1 } else { 200 };
            Some((0..n).map(Some))
        }));
        let batch = RecordBatch::try_from_iter([("l", Arc::new(lists) as ArrayRef)]).unwrap();
        let props = || {
            WriterProperties::builder()
                .set_dictionary_enabled(false)
                .set_data_page_size_limit(16 << 10)
                .set_write_batch_size(64)
        };
        let indexed = row_bytes(&batch, props().build());
        let v2 = props()
            .set_writer_version(WriterVersion::PARQUET_2_0)
            .set_offset_index_disabled(true)
            .set_statistics_enabled(EnabledStatistics::None);
        let v2 = row_bytes(&batch, v2.build());
        let unindexed = props()
            .set_offset_index_disabled(true)
            .set_statistics_enabled(EnabledStatistics::None);
        let levels = row_bytes(&batch, unindexed.clone().build());
        let unread = row_bytes_within(&batch, unindexed.clone().build(), 0);
        // In one page, the densest 64th of its rows.
        let one_page = unindexed
            .set_data_page_size_limit(usize::MAX)
            .set_write_batch_size(usize::MAX);
        let one_page = row_bytes(&batch, one_page.build());
        eprintln!(
            "offset index {indexed}, version 2 {v2}, levels {levels}, one page {one_page}, \
             none {unread}"
        );
        for found in [indexed, v2, levels, one_page] {
            assert!((1600.0..1800.0).contains(&found), "{found}");
        }
        assert!((160.0..200.0).contains(&unread), "{unread}");

        // 100,000 rows, null but for 10 values of 64 KB from a dictionary:
        // the chunk's statistics bound what its pages hold (each page
        // about 20,000 rows of slots and at most the 10 values, under 100
        // bytes a row), where counting every row's value as 64 KB would
        // give 64 KB.
        let sparse = StringArray::from_iter(
            (0..100_000).map(|r| (r % 10_000 == 0).then(|| "n".repeat(64 << 10))),
        );
        let batch = RecordBatch::try_from_iter([("s", Arc::new(sparse) as ArrayRef)]).unwrap();
        let found = row_bytes(&batch, WriterProperties::default());
        assert!((5.0..100.0).contains(&found), "{found}");

        // All null, not from a dictionary: a slot a row (an offset and a
        // validity bit, a view for `Utf8View`), not the page's few bytes
        // of levels.
        let plain = || WriterProperties::builder().set_dictionary_enabled(false);
        let nulls = StringArray::from_iter((0..100_000).map(|_| None::<&str>));
        let batch = RecordBatch::try_from_iter([("s", Arc::new(nulls) as ArrayRef)]).unwrap();
        let found = row_bytes(&batch, plain().build());
        assert!((5.0..6.0).contains(&found), "{found}");
        let views = arrow_array::StringViewArray::from_iter((0..100_000).map(|_| None::<&str>));
        let batch = RecordBatch::try_from_iter([("s", Arc::new(views) as ArrayRef)]).unwrap();
        let found = row_bytes(&batch, plain().build());
        assert!((16.0..17.0).contains(&found), "{found}");
    }
}
