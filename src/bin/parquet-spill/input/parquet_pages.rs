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
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use parquet::basic::{Compression, Encoding, Type as PhysicalType};
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};
use parquet::file::serialized_reader::SerializedPageReader;

use super::page_headers::{
    first_rows, page_rows, read_header, Header, DELTA_BYTE_ARRAY, DICTIONARY_PAGE,
    PLAIN_DICTIONARY, RLE_DICTIONARY,
};
use super::page_values::{longest_plain, shared_prefix_bytes};
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
/// A row decodes to, in each column, the most any of its pages decodes to
/// a row ([`ChunkPages::row_bytes`]); the file's row to the most those add
/// up to in a row group.
pub fn reading(path: &Path, metadata: &ParquetMetaData) -> Result<Reading> {
    let file = Arc::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    let columns = metadata.file_metadata().schema_descr().num_columns();
    let mut held = vec![0u64; columns];
    let mut transient = 0u64;
    let mut bytes_per_row: Option<f64> = None;
    for row_group in metadata.row_groups() {
        let rows = u64::try_from(row_group.num_rows()).context("negative row count")?;
        let mut row_bytes = 0.0;
        for (held, chunk) in held.iter_mut().zip(row_group.columns()) {
            let pages = chunk_pages(&file, chunk, rows).with_context(|| {
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
        .saturating_add(metadata.memory_size() as u64);
    Ok(Reading {
        held,
        bytes_per_row,
    })
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
    /// one; where none says, the chunk's values decoded over its rows.
    row_bytes: f64,
}

/// What a column's values decode to.
struct Column {
    byte_arrays: bool,
    repeated: bool,
    max_rep: i16,
    max_def: i16,
    /// A value's bytes decoded: fixed by the type, or for byte arrays
    /// (once the dictionary is read) the longest entry with its offset.
    value: u64,
}

impl Column {
    fn of(chunk: &ColumnChunkMetaData) -> Self {
        let descr = chunk.column_descr();
        let value = match chunk.column_type() {
            PhysicalType::BOOLEAN => 1,
            PhysicalType::INT32 | PhysicalType::FLOAT => 4,
            PhysicalType::INT64 | PhysicalType::DOUBLE => 8,
            PhysicalType::INT96 => 12,
            PhysicalType::FIXED_LEN_BYTE_ARRAY => u64::try_from(descr.type_length()).unwrap_or(0),
            PhysicalType::BYTE_ARRAY => 0,
        };
        Self {
            byte_arrays: chunk.column_type() == PhysicalType::BYTE_ARRAY,
            repeated: descr.max_rep_level() > 0,
            max_rep: descr.max_rep_level(),
            max_def: descr.max_def_level(),
            value,
        }
    }

    /// The page's values decoded with what decoding them holds, as its
    /// header tells: a value from the dictionary is copied out whole (a
    /// view for `Utf8View`, 16 bytes); other encodings decode to about
    /// their page's bytes (a `DELTA_BYTE_ARRAY` page's shared prefixes are
    /// added from the page itself), and fixed-width values to their width
    /// whatever their encoding packed them to (delta, run lengths).
    fn decoded(&self, header: &Header) -> u64 {
        let page = header.with_lengths();
        match header.encoding {
            PLAIN_DICTIONARY | RLE_DICTIONARY => header.values.saturating_mul(self.value),
            _ if self.byte_arrays => page,
            _ => page.max(header.values.saturating_mul(self.value)),
        }
    }
}

/// Walk `chunk`'s page headers in `file`, from where parquet's reader
/// starts (`ColumnChunkMetaData::byte_range`); the chunk has `rows` rows.
fn chunk_pages(file: &Arc<File>, chunk: &ColumnChunkMetaData, rows: u64) -> Result<ChunkPages> {
    let start = chunk
        .dictionary_page_offset()
        .unwrap_or(chunk.data_page_offset());
    let start = u64::try_from(start).context("negative page offset")?;
    let length = u64::try_from(chunk.compressed_size()).context("negative chunk size")?;
    let end = start.checked_add(length).context("chunk size")?;
    let mut column = Column::of(chunk);
    let first_rows = match column.repeated {
        true => first_rows(file, chunk).context("reading the offset index")?,
        false => None,
    };
    let mut bodies = Bodies::new(file, chunk, rows, &column)?;
    let mut pages = ChunkPages::default();
    let (mut decoded, mut unplaced) = (0u64, false);
    let mut buf = Vec::new();
    let mut pos = start;
    while pos < end {
        let header = read_header(file, pos, end, &mut buf)?;
        if header.kind == DICTIONARY_PAGE {
            let entries = match column.byte_arrays {
                true => 16 * (header.values + 1),
                false => 0,
            };
            pages.dictionary = pages.dictionary.max(header.uncompressed + entries);
            if column.byte_arrays {
                let page = bodies.read()?;
                anyhow::ensure!(
                    matches!(page, Page::DictionaryPage { .. }),
                    "the dictionary page is not where its header is"
                );
                let longest = longest_plain(page.buffer()).context("reading the dictionary")?;
                column.value = longest.saturating_add(8).max(16);
            }
        } else {
            pages.largest = pages.largest.max(header.with_lengths());
            let mut page = column.decoded(&header);
            if column.byte_arrays && header.encoding == DELTA_BYTE_ARRAY {
                let body = bodies.read()?;
                let prefixes = shared_prefix_bytes(&body, column.max_rep, column.max_def)
                    .with_context(|| format!("reading the prefixes of the page at byte {pos}"))?;
                page = page.saturating_add(prefixes);
            } else {
                bodies.skip()?;
            }
            decoded = decoded.saturating_add(page);
            let page_rows = header
                .rows
                .or((!column.repeated).then_some(header.values))
                .or_else(|| page_rows(first_rows.as_deref()?, pos, rows));
            match page_rows {
                Some(n) => pages.row_bytes = pages.row_bytes.max(page as f64 / n.max(1) as f64),
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
        pages.row_bytes = pages.row_bytes.max(decoded as f64 / rows as f64);
    }
    Ok(pages)
}

/// parquet's reader of a chunk's pages, kept in step with the walk, for
/// the pages whose values the walk reads: a byte-array dictionary's (for
/// its longest entry) and `DELTA_BYTE_ARRAY` pages' (for their prefixes).
/// `None` where the chunk has neither.
struct Bodies(Option<SerializedPageReader<File>>);

impl Bodies {
    fn new(
        file: &Arc<File>,
        chunk: &ColumnChunkMetaData,
        rows: u64,
        column: &Column,
    ) -> Result<Self> {
        let needed = column.byte_arrays
            && (chunk.dictionary_page_offset().is_some()
                || chunk.encodings().any(|e| e == Encoding::DELTA_BYTE_ARRAY));
        if !needed {
            return Ok(Self(None));
        }
        let rows = usize::try_from(rows).context("row count")?;
        let reader = SerializedPageReader::new(Arc::clone(file), chunk, rows, None)?;
        Ok(Self(Some(reader)))
    }

    /// The page the walk is at, read and decompressed.
    fn read(&mut self) -> Result<Page> {
        self.0
            .as_mut()
            .context("no reader for the chunk's pages")?
            .get_next_page()?
            .context("parquet's reader found fewer pages than their headers")
    }

    /// Pass over the page the walk is at.
    fn skip(&mut self) -> Result<()> {
        if let Some(pages) = &mut self.0 {
            pages.skip_next_page()?;
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
            let mut writer =
                ArrowWriter::try_new(File::create(&path).unwrap(), batch.schema(), Some(props))
                    .unwrap();
            writer.write(&batch).unwrap();
            writer.close().unwrap();

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
                    let found = chunk_pages(&file, chunk, rows).unwrap();
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

    /// Write `batch` with `props` and find the most a row of it decodes to.
    fn row_bytes(batch: &RecordBatch, props: WriterProperties) -> f64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.parquet");
        let file = File::create(&path).unwrap();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        writer.write(batch).unwrap();
        writer.close().unwrap();
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        reading(&path, reader.metadata())
            .unwrap()
            .bytes_per_row
            .unwrap()
    }

    /// A row decodes to its column's densest page: a value from a
    /// dictionary to its longest entry (and its offset), and a repeated
    /// column's page to its bytes over the rows its offset index or its
    /// version-2 header gives. Without either, the chunk's average is all
    /// the file tells.
    #[test]
    fn a_row_decodes_to_its_column_s_densest_page() {
        use arrow_array::types::Int64Type;
        use arrow_array::ListArray;
        use parquet::file::properties::WriterVersion;

        // Eight entries of 100 to 800 bytes, every row a dictionary index.
        let strings =
            StringArray::from_iter_values((0..1000).map(|r| "x".repeat(100 * (r % 8 + 1))));
        let batch = RecordBatch::try_from_iter([("s", Arc::new(strings) as ArrayRef)]).unwrap();
        assert_eq!(row_bytes(&batch, WriterProperties::default()), 808.0);

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
        let unindexed = row_bytes(&batch, unindexed.build());
        eprintln!("offset index {indexed}, version 2 {v2}, neither {unindexed}");
        for found in [indexed, v2] {
            assert!((1600.0..1800.0).contains(&found), "{found}");
        }
        assert!((160.0..200.0).contains(&unindexed), "{unindexed}");
    }
}
