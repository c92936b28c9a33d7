//! Parquet's page headers and offset index, read from a file.
//!
//! Why by hand: parquet decodes a page header only on the way to its page
//! (`SerializedPageReader`), and the CLI needs the sizes of every page of a
//! file before it reads one. Each header is a few hundred bytes, read with
//! one positional read, decoded by just enough of the Thrift compact
//! protocol to find its sizes, values, encoding and rows, and to skip the
//! rest (statistics included).

use std::fs::File;
use std::os::unix::fs::FileExt;

use anyhow::{Context, Result};
use parquet::file::metadata::ColumnChunkMetaData;

/// A page header is read in pieces of this many bytes, more if it is longer
/// (statistics can make it so).
const HEADER_READ: usize = 256;
/// Longer page headers are taken for a malformed file.
const HEADER_MAX: usize = 16 << 20;

/// Read the page header at `pos` (before `end`) through `buf`.
pub(super) fn read_header(file: &File, pos: u64, end: u64, buf: &mut Vec<u8>) -> Result<Header> {
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

/// Where each page of `chunk` starts and its first row, from the chunk's
/// offset index (`None`: the file has none).
pub(super) fn first_rows(
    file: &File,
    chunk: &ColumnChunkMetaData,
) -> Result<Option<Vec<(i64, i64)>>> {
    let (Some(offset), Some(length)) = (chunk.offset_index_offset(), chunk.offset_index_length())
    else {
        return Ok(None);
    };
    let offset = u64::try_from(offset).context("negative offset")?;
    let length = usize::try_from(length).context("negative length")?;
    anyhow::ensure!(length <= HEADER_MAX, "an offset index of {length} bytes");
    let mut bytes = vec![0; length];
    file.read_exact_at(&mut bytes, offset)
        .with_context(|| format!("the file ends inside the offset index at byte {offset}"))?;
    match Compact::new(&bytes).page_locations() {
        Ok(locations) => Ok(Some(locations)),
        Err(Parse::Short) => anyhow::bail!("the offset index at byte {offset} is cut short"),
        Err(Parse::Malformed(what)) => {
            anyhow::bail!("the offset index at byte {offset} is malformed: {what}")
        }
    }
}

/// The rows of the page at `pos`, from its chunk's pages' `first_rows`
/// (the chunk has `rows` rows).
pub(super) fn page_rows(first_rows: &[(i64, i64)], pos: u64, rows: u64) -> Option<u64> {
    let pos = i64::try_from(pos).ok()?;
    let at = first_rows.binary_search_by_key(&pos, |&(at, _)| at).ok()?;
    let next = match first_rows.get(at + 1) {
        Some(&(_, next)) => u64::try_from(next).ok()?,
        None => rows,
    };
    next.checked_sub(u64::try_from(first_rows[at].1).ok()?)
}

/// parquet.thrift's `Encoding`s that decode other than as their page's bytes.
pub(super) const PLAIN_DICTIONARY: i32 = 2;
pub(super) const DELTA_LENGTH_BYTE_ARRAY: i32 = 6;
pub(super) const DELTA_BYTE_ARRAY: i32 = 7;
pub(super) const RLE_DICTIONARY: i32 = 8;

/// parquet.thrift's `PageType::DICTIONARY_PAGE`.
pub(super) const DICTIONARY_PAGE: i32 = 2;

/// What one page header says (parquet.thrift's `PageHeader`: its type and
/// sizes, and from the data or dictionary page header within it, its
/// values and encoding) and the bytes the header takes.
#[derive(Debug, PartialEq)]
pub(super) struct Header {
    pub(super) kind: i32,
    pub(super) uncompressed: u64,
    pub(super) compressed: u64,
    /// Values in the page (0 if no page header within says).
    pub(super) values: u64,
    /// The page's encoding (-1 if no page header within says).
    pub(super) encoding: i32,
    /// Rows in the page (a version-2 data page's header says).
    pub(super) rows: Option<u64>,
    /// Nulls in the page (a version-2 data page's header says).
    pub(super) nulls: Option<u64>,
    pub(super) len: usize,
}

#[derive(Debug, PartialEq)]
pub(super) enum Parse {
    /// More bytes are needed.
    Short,
    Malformed(&'static str),
}

impl std::fmt::Display for Parse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Parse::Short => f.write_str("cut short"),
            Parse::Malformed(what) => write!(f, "malformed: {what}"),
        }
    }
}

impl std::error::Error for Parse {}

/// The fields of a page header within a `PageHeader` that hold the page's
/// values, encoding, rows and nulls (0: none).
struct Fields {
    values: i16,
    encoding: i16,
    rows: i16,
    nulls: i16,
}

/// [`Fields`] of `DataPageHeader` (5), `DictionaryPageHeader` (7) and
/// `DataPageHeaderV2` (8).
fn page_header_fields(page_header: i16) -> Option<Fields> {
    let (values, encoding, rows, nulls) = match page_header {
        5 | 7 => (1, 2, 0, 0),
        8 => (1, 4, 3, 2),
        _ => return None,
    };
    Some(Fields {
        values,
        encoding,
        rows,
        nulls,
    })
}

impl Header {
    /// The page decompressed, with the lengths a delta encoding of byte
    /// arrays decodes up front (4 bytes a value, 8 for prefixes and
    /// suffixes).
    pub(super) fn with_lengths(&self) -> u64 {
        let lengths = match self.encoding {
            DELTA_LENGTH_BYTE_ARRAY => 4 * self.values,
            DELTA_BYTE_ARRAY => 8 * self.values,
            _ => 0,
        };
        self.uncompressed.saturating_add(lengths)
    }

    /// Decode a header (Thrift compact protocol) at the start of `bytes`.
    fn parse(bytes: &[u8]) -> Result<Self, Parse> {
        let mut input = Compact::new(bytes);
        let (mut kind, mut uncompressed, mut compressed) = (None, None, None);
        let (mut values, mut encoding, mut rows, mut nulls) = (0u64, -1i32, None, None);
        let count =
            |value: i32| u64::try_from(value).map_err(|_| Parse::Malformed("negative count"));
        input.fields(|input, id, ty| {
            match (id, ty, page_header_fields(id)) {
                (1..=3, I32, _) => {
                    let value = input.i32()?;
                    match id {
                        1 => kind = Some(value),
                        2 => uncompressed = Some(value),
                        _ => compressed = Some(value),
                    }
                }
                (_, STRUCT, Some(fields)) => input.fields(|input, id, ty| {
                    match (id, ty) {
                        (_, I32) if id == fields.values => values = count(input.i32()?)?,
                        (_, I32) if id == fields.encoding => encoding = input.i32()?,
                        (_, I32) if id == fields.rows => rows = Some(count(input.i32()?)?),
                        (_, I32) if id == fields.nulls => nulls = Some(count(input.i32()?)?),
                        _ => input.skip(ty, 1)?,
                    }
                    Ok(())
                })?,
                _ => input.skip(ty, 0)?,
            }
            Ok(())
        })?;
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
            rows,
            nulls,
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
/// and skip everything else in it (its varints serve
/// `DELTA_BINARY_PACKED` too).
pub(super) struct Compact<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Compact<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// parquet.thrift's `FileMetaData`: how many row groups (its field 4)
    /// and column chunks (each row group's field 1) it holds.
    pub(super) fn row_groups_and_chunks(&mut self) -> Result<(u64, u64), Parse> {
        let (mut groups, mut chunks) = (0u64, 0u64);
        self.structs_at(4, "row groups are not structs", |input| {
            groups += 1;
            input.fields(|input, id, ty| match (id, ty) {
                (1, LIST) => {
                    let (ty, n) = input.list_header()?;
                    chunks += n as u64;
                    input.elements(ty, n, 1)
                }
                _ => input.skip(ty, 1),
            })
        })?;
        Ok((groups, chunks))
    }

    /// parquet.thrift's `OffsetIndex`: each `PageLocation`'s offset and
    /// first row.
    fn page_locations(&mut self) -> Result<Vec<(i64, i64)>, Parse> {
        let mut locations = Vec::new();
        self.structs_at(1, "page locations are not structs", |input| {
            let (mut offset, mut first_row) = (None, None);
            input.fields(|input, id, ty| {
                match (id, ty) {
                    (1, I64) => offset = Some(input.zigzag()?),
                    (3, I64) => first_row = Some(input.zigzag()?),
                    _ => input.skip(ty, 1)?,
                }
                Ok(())
            })?;
            match (offset, first_row) {
                (Some(offset), Some(first_row)) => locations.push((offset, first_row)),
                _ => return Err(Parse::Malformed("a page location lacks a field")),
            }
            Ok(())
        })?;
        Ok(locations)
    }

    /// Walk a struct's fields to its end: `each` is given each field's id
    /// and type, and reads or skips its value.
    fn fields(
        &mut self,
        mut each: impl FnMut(&mut Self, i16, u8) -> Result<(), Parse>,
    ) -> Result<(), Parse> {
        let mut last = 0i16;
        while let Some((id, ty)) = self.field(&mut last)? {
            each(self, id, ty)?;
        }
        Ok(())
    }

    /// Walk a struct whose field `list` is a list of structs (`what`, if
    /// it is not): `each` walks each of them; the other fields are skipped.
    fn structs_at(
        &mut self,
        list: i16,
        what: &'static str,
        mut each: impl FnMut(&mut Self) -> Result<(), Parse>,
    ) -> Result<(), Parse> {
        self.fields(|input, id, ty| {
            if (id, ty) != (list, LIST) {
                return input.skip(ty, 0);
            }
            let (ty, n) = input.list_header()?;
            if ty != STRUCT {
                return Err(Parse::Malformed(what));
            }
            (0..n).try_for_each(|_| each(input))
        })
    }

    /// The bytes not read yet.
    pub(super) fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }

    pub(super) fn byte(&mut self) -> Result<u8, Parse> {
        let byte = *self.bytes.get(self.pos).ok_or(Parse::Short)?;
        self.pos += 1;
        Ok(byte)
    }

    pub(super) fn advance(&mut self, n: usize) -> Result<(), Parse> {
        let end = self.pos.checked_add(n).ok_or(Parse::Malformed("length"))?;
        if end > self.bytes.len() {
            return Err(Parse::Short);
        }
        self.pos = end;
        Ok(())
    }

    pub(super) fn varint(&mut self) -> Result<u64, Parse> {
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

    pub(super) fn zigzag(&mut self) -> Result<i64, Parse> {
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
                let (ty, n) = self.list_header()?;
                self.elements(ty, n, depth)
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
            STRUCT => self.fields(|input, _, ty| input.skip(ty, depth + 1)),
            _ => Err(Parse::Malformed("unknown type")),
        }
    }

    /// A list's or set's element type and length.
    fn list_header(&mut self) -> Result<(u8, usize), Parse> {
        let header = self.byte()?;
        let n = match header >> 4 {
            15 => self.length()?,
            n => usize::from(n),
        };
        Ok((header & 0x0f, n))
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

    /// An offset index's page locations give each page's rows; cut, it
    /// asks for more bytes, and a page it does not place has no rows.
    #[test]
    fn an_offset_index_gives_each_page_s_rows() {
        let bytes = [
            0x19, 0x2c, // 1: list of 2 PageLocation {
            0x16, 0x08, 0x15, 0x14, 0x16, 0x00, 0x00, //   offset 4, size 10, row 0
            0x16, 0x28, 0x15, 0x14, 0x16, 0x0a, 0x00, //   offset 20, size 10, row 5
            0x00, // }
        ];
        let locations = Compact::new(&bytes).page_locations().unwrap();
        assert_eq!(locations, [(4, 0), (20, 5)]);
        assert_eq!(page_rows(&locations, 4, 9), Some(5));
        assert_eq!(page_rows(&locations, 20, 9), Some(4));
        assert_eq!(page_rows(&locations, 7, 9), None);
        for cut in 0..bytes.len() {
            assert_eq!(
                Compact::new(&bytes[..cut]).page_locations(),
                Err(Parse::Short),
                "cut at {cut}"
            );
        }
        // A location without its first row.
        let bytes = [0x19, 0x1c, 0x16, 0x08, 0x00, 0x00];
        assert_eq!(
            Compact::new(&bytes).page_locations(),
            Err(Parse::Malformed("a page location lacks a field"))
        );
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
                rows: None,
                nulls: None,
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
                rows: None,
                nulls: None,
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
