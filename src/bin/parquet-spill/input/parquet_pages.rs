//! What parquet's reader holds beside the batches it returns.
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

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, Result};
use parquet::basic::Compression;
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};

/// The reader's own state per column, beyond its pages (page reader, record
/// reader, level buffers, the read buffer of the page being read).
const PER_COLUMN: u64 = 8 << 10;
/// A zstd decompression context (C memory, kept per column by parquet's
/// `ZSTDCodec`, with a compression context it does not use).
const ZSTD_CONTEXT: u64 = 128 << 10;
/// A page header is read in pieces of this many bytes, more if it is longer
/// (statistics can make it so).
const HEADER_READ: usize = 256;
/// Longer page headers are taken for a malformed file.
const HEADER_MAX: usize = 16 << 20;

/// Bytes the reader of the file with `metadata` at `path` holds at most
/// beside its batches: the decoded footer; for every column its dictionary
/// (decoded, kept for the column chunk) and its largest data page with what
/// decoding it holds, over all row groups (a column may start its next row
/// group before another ends its own); once, the largest page being
/// decompressed or decoded, as read and as decompressed; and every
/// column's codec context and own state.
pub fn reader_bytes(path: &Path, metadata: &ParquetMetaData) -> Result<u64> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let columns = metadata.file_metadata().schema_descr().num_columns();
    let mut held = vec![0u64; columns];
    let mut transient = 0u64;
    for row_group in metadata.row_groups() {
        for (held, chunk) in held.iter_mut().zip(row_group.columns()) {
            let pages = chunk_pages(&file, chunk).with_context(|| {
                format!(
                    "reading the page headers of column {} in {}",
                    chunk.column_path(),
                    path.display()
                )
            })?;
            *held = (*held).max(pages.dictionary.saturating_add(pages.largest));
            let largest = pages.dictionary.max(pages.largest);
            transient = transient.max(largest.saturating_add(pages.largest_compressed));
        }
    }
    let codecs: u64 = metadata
        .row_groups()
        .iter()
        .flat_map(|rg| rg.columns().iter().map(|c| codec_context(c.compression())))
        .max()
        .map_or(0, |most| most * columns as u64);
    let pages = held.iter().fold(0u64, |sum, &h| sum.saturating_add(h));
    Ok(pages
        .saturating_add(transient)
        .saturating_add(codecs)
        .saturating_add(PER_COLUMN * columns as u64)
        .saturating_add(metadata.memory_size() as u64))
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
}

/// parquet.thrift's `Encoding::DELTA_LENGTH_BYTE_ARRAY` and `DELTA_BYTE_ARRAY`.
const DELTA_LENGTH_BYTE_ARRAY: i32 = 6;
const DELTA_BYTE_ARRAY: i32 = 7;

/// Walk `chunk`'s page headers in `file`, from where parquet's reader
/// starts (`ColumnChunkMetaData::byte_range`).
fn chunk_pages(file: &File, chunk: &ColumnChunkMetaData) -> Result<ChunkPages> {
    let start = chunk
        .dictionary_page_offset()
        .unwrap_or(chunk.data_page_offset());
    let start = u64::try_from(start).context("negative page offset")?;
    let length = u64::try_from(chunk.compressed_size()).context("negative chunk size")?;
    let end = start.checked_add(length).context("chunk size")?;
    let byte_arrays = chunk.column_type() == parquet::basic::Type::BYTE_ARRAY;
    let mut pages = ChunkPages::default();
    let mut buf = Vec::new();
    let mut pos = start;
    while pos < end {
        let header = read_header(file, pos, end, &mut buf)?;
        if header.kind == DICTIONARY_PAGE {
            let entries = match byte_arrays {
                true => 16 * (header.values + 1),
                false => 0,
            };
            pages.dictionary = pages.dictionary.max(header.uncompressed + entries);
        } else {
            let lengths = match header.encoding {
                DELTA_LENGTH_BYTE_ARRAY => 4 * header.values,
                DELTA_BYTE_ARRAY => 8 * header.values,
                _ => 0,
            };
            pages.largest = pages.largest.max(header.uncompressed + lengths);
        }
        pages.largest_compressed = pages.largest_compressed.max(header.compressed);
        pages.count += 1;
        pos = pos
            .saturating_add(header.len as u64)
            .saturating_add(header.compressed);
    }
    Ok(pages)
}

/// Read the page header at `pos` (before `end`) through `buf`.
fn read_header(file: &File, pos: u64, end: u64, buf: &mut Vec<u8>) -> Result<Header> {
    let mut want = HEADER_READ;
    loop {
        let available = usize::try_from(end - pos).unwrap_or(usize::MAX);
        buf.resize(want.min(available), 0);
        // One positional read a header (no seek).
        file.read_exact_at(buf, pos)
            .with_context(|| format!("the file ends inside the page header at byte {pos}"))?;
        match Header::parse(buf) {
            Ok(header) => return Ok(header),
            Err(Parse::Short) if buf.len() < available && want < HEADER_MAX => want *= 16,
            Err(Parse::Short) => anyhow::bail!("page header at byte {pos} is cut short"),
            Err(Parse::Malformed(what)) => {
                anyhow::bail!("page header at byte {pos} is malformed: {what}")
            }
        }
    }
}

/// parquet.thrift's `PageType::DICTIONARY_PAGE`.
const DICTIONARY_PAGE: i32 = 2;

/// What one page header says (parquet.thrift's `PageHeader`: its type and
/// sizes, and from the data or dictionary page header within it, its
/// values and encoding) and the bytes the header takes.
#[derive(Debug, PartialEq)]
struct Header {
    kind: i32,
    uncompressed: u64,
    compressed: u64,
    /// Values in the page (0 if no page header within says).
    values: u64,
    /// The page's encoding (-1 if no page header within says).
    encoding: i32,
    len: usize,
}

#[derive(Debug, PartialEq)]
enum Parse {
    /// More bytes are needed.
    Short,
    Malformed(&'static str),
}

/// The fields of `DataPageHeader` (5), `DictionaryPageHeader` (7) and
/// `DataPageHeaderV2` (8) that hold the page's values and encoding.
fn values_and_encoding_fields(page_header: i16) -> Option<(i16, i16)> {
    match page_header {
        5 | 7 => Some((1, 2)),
        8 => Some((1, 4)),
        _ => None,
    }
}

impl Header {
    /// Decode a header (Thrift compact protocol) at the start of `bytes`.
    fn parse(bytes: &[u8]) -> Result<Self, Parse> {
        let mut input = Compact { bytes, pos: 0 };
        let (mut kind, mut uncompressed, mut compressed) = (None, None, None);
        let (mut values, mut encoding) = (0u64, -1i32);
        let mut last = 0i16;
        while let Some((id, ty)) = input.field(&mut last)? {
            match (id, ty, values_and_encoding_fields(id)) {
                (1..=3, I32, _) => {
                    let value = input.i32()?;
                    match id {
                        1 => kind = Some(value),
                        2 => uncompressed = Some(value),
                        _ => compressed = Some(value),
                    }
                }
                (_, STRUCT, Some((values_field, encoding_field))) => {
                    let mut last = 0i16;
                    while let Some((id, ty)) = input.field(&mut last)? {
                        match (id, ty) {
                            (_, I32) if id == values_field => {
                                values = u64::try_from(input.i32()?)
                                    .map_err(|_| Parse::Malformed("negative value count"))?;
                            }
                            (_, I32) if id == encoding_field => encoding = input.i32()?,
                            _ => input.skip(ty, 1)?,
                        }
                    }
                }
                _ => input.skip(ty, 0)?,
            }
        }
        let size = |v: Option<i32>| {
            v.and_then(|v| u64::try_from(v).ok())
                .ok_or(Parse::Malformed("a page size is missing or negative"))
        };
        Ok(Self {
            kind: kind.ok_or(Parse::Malformed("the page type is missing"))?,
            uncompressed: size(uncompressed)?,
            compressed: size(compressed)?,
            values,
            encoding,
            len: input.pos,
        })
    }
}

/// Thrift compact protocol types (the field header's low nibble).
const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;
/// Deeper nesting is taken for a malformed header.
const MAX_DEPTH: usize = 32;

/// Just enough of the Thrift compact protocol to read a page header's sizes
/// and skip everything else in it.
struct Compact<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Result<u8, Parse> {
        let byte = *self.bytes.get(self.pos).ok_or(Parse::Short)?;
        self.pos += 1;
        Ok(byte)
    }

    fn advance(&mut self, n: usize) -> Result<(), Parse> {
        let end = self.pos.checked_add(n).ok_or(Parse::Malformed("length"))?;
        if end > self.bytes.len() {
            return Err(Parse::Short);
        }
        self.pos = end;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, Parse> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Parse::Malformed("varint longer than 10 bytes"))
    }

    fn zigzag(&mut self) -> Result<i64, Parse> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn i32(&mut self) -> Result<i32, Parse> {
        i32::try_from(self.zigzag()?).map_err(|_| Parse::Malformed("i32 out of range"))
    }

    fn length(&mut self) -> Result<usize, Parse> {
        usize::try_from(self.varint()?).map_err(|_| Parse::Malformed("length"))
    }

    /// The next field's id and type, `None` at the struct's end.
    fn field(&mut self, last: &mut i16) -> Result<Option<(i16, u8)>, Parse> {
        let header = self.byte()?;
        if header == 0 {
            return Ok(None);
        }
        let delta = i16::from(header >> 4);
        let id = match delta {
            0 => i16::try_from(self.zigzag()?).map_err(|_| Parse::Malformed("field id"))?,
            _ => last
                .checked_add(delta)
                .ok_or(Parse::Malformed("field id"))?,
        };
        *last = id;
        Ok(Some((id, header & 0x0f)))
    }

    /// Skip a value of type `ty` (a field's; in a collection, booleans
    /// take a byte each).
    fn skip(&mut self, ty: u8, depth: usize) -> Result<(), Parse> {
        if depth > MAX_DEPTH {
            return Err(Parse::Malformed("nested too deep"));
        }
        match ty {
            BOOL_TRUE | BOOL_FALSE => Ok(()),
            BYTE => self.advance(1),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.advance(8),
            BINARY => {
                let n = self.length()?;
                self.advance(n)
            }
            LIST | SET => {
                let header = self.byte()?;
                let n = match header >> 4 {
                    15 => self.length()?,
                    n => usize::from(n),
                };
                self.elements(header & 0x0f, n, depth)
            }
            MAP => {
                let n = self.length()?;
                if n == 0 {
                    return Ok(());
                }
                let types = self.byte()?;
                for _ in 0..n {
                    self.elements(types >> 4, 1, depth)?;
                    self.elements(types & 0x0f, 1, depth)?;
                }
                Ok(())
            }
            STRUCT => {
                let mut last = 0;
                while let Some((_, ty)) = self.field(&mut last)? {
                    self.skip(ty, depth + 1)?;
                }
                Ok(())
            }
            _ => Err(Parse::Malformed("unknown type")),
        }
    }

    /// Skip `n` elements of a collection of type `ty`.
    fn elements(&mut self, ty: u8, n: usize, depth: usize) -> Result<(), Parse> {
        for _ in 0..n {
            match ty {
                BOOL_TRUE | BOOL_FALSE => self.advance(1)?,
                _ => self.skip(ty, depth + 1)?,
            }
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
            let file = File::open(&path).unwrap();
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
                    let found = chunk_pages(&file, chunk).unwrap();
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

    #[test]
    fn malformed_or_cut_headers_are_errors_not_panics() {
        // Field 1 (i32 5), then a field of unknown type 13.
        assert_eq!(
            Header::parse(&[0x15, 0x0a, 0x1d]),
            Err(Parse::Malformed("unknown type"))
        );
        // Fields 1 and 2, then the input ends.
        assert_eq!(Header::parse(&[0x15, 0x00, 0x15, 0x80]), Err(Parse::Short));
        // A struct without fields 2 and 3.
        assert_eq!(
            Header::parse(&[0x15, 0x00, 0x00]),
            Err(Parse::Malformed("a page size is missing or negative"))
        );
        // Negative sizes.
        assert_eq!(
            Header::parse(&[0x15, 0x00, 0x15, 0x01, 0x15, 0x01, 0x00]),
            Err(Parse::Malformed("a page size is missing or negative"))
        );
        // Nested structs past the depth limit.
        let deep: Vec<u8> = vec![0x1c; 100];
        assert_eq!(
            Header::parse(&[&[0x4c][..], &deep].concat()),
            Err(Parse::Malformed("nested too deep"))
        );
        // A well-formed header: type 0, sizes 100 and 60, a binary field 4.
        assert_eq!(
            Header::parse(&[
                0x15, 0x00, 0x15, 0xc8, 0x01, 0x15, 0x78, 0x18, 0x02, b'a', b'b', 0x00
            ]),
            Ok(Header {
                kind: 0,
                uncompressed: 100,
                compressed: 60,
                values: 0,
                encoding: -1,
                len: 12
            })
        );
    }

    /// Every Thrift compact type parquet's own headers never hold (doubles,
    /// lists with the long size form, booleans in a list, maps, sets,
    /// long-form field ids) is skipped to the field after it, and the data
    /// page header's values and encoding are read from within.
    #[test]
    fn every_compact_type_is_skipped() {
        let mut bytes = vec![
            0x15, 0x00, // 1: type 0
            0x15, 0xc8, 0x01, // 2: uncompressed 100
            0x15, 0x78, // 3: compressed 60
            0x2c, // 5: DataPageHeader {
            0x15, 0xd0, 0x0f, //   1: values 1000
            0x15, 0x0e, //   2: encoding 7
            0x15, 0x06, //   3: 3
            0x2c, //   5: Statistics {
            0x18, 0x02, b'x', b'y', //     1: binary "xy"
            0x17, 1, 2, 3, 4, 5, 6, 7, 8, //     2: double
            0x19, 0xf5, 0x10, //     3: list of 16 i32 (long size form)
        ];
        bytes.extend([0x02; 16]);
        bytes.extend([
            0x19, 0x21, 0x01, 0x02, //     4: list of 2 booleans, a byte each
            0x1b, 0x01, 0x85, 0x01, b'k', 0x04, //     5: map {"k": 2}
            0x1a, 0x00, //     6: empty set
            0x05, 0x28, 0x04, //     20 (long-form id): i32 2
            0x11, //     21: true
            0x00, //   }
            0x00, // }
            0x00,
        ]);
        assert_eq!(
            Header::parse(&bytes),
            Ok(Header {
                kind: 0,
                uncompressed: 100,
                compressed: 60,
                values: 1000,
                encoding: 7,
                len: bytes.len()
            })
        );
        // Cut anywhere, it asks for more bytes.
        for cut in 0..bytes.len() {
            assert_eq!(
                Header::parse(&bytes[..cut]),
                Err(Parse::Short),
                "cut at {cut}"
            );
        }
    }
}
