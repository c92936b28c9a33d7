//! What a page's values decode to, read from the page itself.
//!
//! Why: a page header gives the page's bytes, and most encodings decode to
//! about that many. Two do not. A dictionary page's values are copied out
//! once a row for every row that points at them, so the longest entry
//! bounds a row ([`longest_plain`]). A `DELTA_BYTE_ARRAY` page stores each
//! value as the length of the prefix it shares with the value before and
//! the rest: 10,000 URLs that share 2 KB of prefix are a few bytes each on
//! disk and 2 KB each decoded ([`shared_prefix_bytes`]). And a list page's
//! header tells its values, not its rows: without an offset index, its
//! repetition levels do ([`densest_records`]).

use anyhow::{bail, ensure, Context, Result};
use parquet::basic::Encoding;
use parquet::column::page::Page;

use super::page_headers::Compact;

/// The longest of the plain-encoded byte arrays (a 4-byte length, then the
/// bytes) that fill `bytes`.
pub(super) fn longest_plain(mut bytes: &[u8]) -> Result<u64> {
    let mut longest = 0;
    while let Some((length, rest)) = bytes.split_first_chunk::<4>() {
        let length = u32::from_le_bytes(*length);
        bytes = rest
            .get(length as usize..)
            .context("a value runs past the page's end")?;
        longest = longest.max(u64::from(length));
    }
    ensure!(bytes.is_empty(), "the page ends inside a value's length");
    Ok(longest)
}

/// The bytes the values of a `DELTA_BYTE_ARRAY` data `page` (decompressed)
/// take from the values before them: the sum of their prefix lengths. The
/// column's levels go up to `max_rep` and `max_def`.
pub(super) fn shared_prefix_bytes(page: &Page, max_rep: i16, max_def: i16) -> Result<u64> {
    let values = match page {
        Page::DataPageV2 {
            buf,
            def_levels_byte_len,
            rep_levels_byte_len,
            ..
        } => {
            let levels = *def_levels_byte_len as usize + *rep_levels_byte_len as usize;
            buf.get(levels..).context("the levels run past the page")?
        }
        Page::DataPage {
            buf,
            num_values,
            rep_level_encoding,
            def_level_encoding,
            ..
        } => {
            let mut rest = &buf[..];
            for (max, encoding) in [(max_rep, rep_level_encoding), (max_def, def_level_encoding)] {
                rest = skip_levels(rest, max, *encoding, *num_values)?;
            }
            rest
        }
        Page::DictionaryPage { .. } => bail!("a dictionary page has no prefixes"),
    };
    delta_sum(values)
}

/// `bytes` past a version-1 page's levels of one kind, up to `max`, for
/// `values` values: run lengths after their 4-byte length, or (the
/// deprecated `BIT_PACKED`) `values` of the levels' width.
fn skip_levels(bytes: &[u8], max: i16, encoding: Encoding, values: u32) -> Result<&[u8]> {
    if max <= 0 {
        return Ok(bytes);
    }
    let length = match encoding {
        Encoding::RLE => {
            let (length, rest) = bytes
                .split_first_chunk::<4>()
                .context("the page ends inside its levels' length")?;
            return rest
                .get(u32::from_le_bytes(*length) as usize..)
                .context("the levels run past the page");
        }
        // Deprecated, and still in files of old writers.
        #[allow(deprecated)]
        Encoding::BIT_PACKED => {
            (u64::from(values) * u64::from(level_width(max))).div_ceil(8) as usize
        }
        other => bail!("levels encoded as {other}"),
    };
    bytes.get(length..).context("the levels run past the page")
}

/// The bits a level up to `max` takes.
fn level_width(max: i16) -> u8 {
    (16 - max.leading_zeros()) as u8
}

/// Runs of a page's records over which [`densest_records`] is taken.
const RECORD_RUNS: u64 = 64;

/// The most levels a record of a version-1 data `page` (decompressed)
/// holds on average over any run of a 64th of its records (its levels of
/// 0 start them; the column's go up to `max_rep`): a page of a whole
/// column chunk can hold millions of empty lists and then the long ones.
/// `None` for other pages (a version-2 header gives their rows), and for
/// levels in the deprecated `BIT_PACKED`.
pub(super) fn densest_records(page: &Page, max_rep: i16) -> Result<Option<f64>> {
    let Page::DataPage {
        buf,
        num_values,
        rep_level_encoding: Encoding::RLE,
        ..
    } = page
    else {
        return Ok(None);
    };
    if max_rep <= 0 {
        return Ok(None);
    }
    let (length, rest) = buf
        .split_first_chunk::<4>()
        .context("the page ends inside its levels' length")?;
    let levels = rest
        .get(..u32::from_le_bytes(*length) as usize)
        .context("the levels run past the page")?;
    let (n, width) = (u64::from(*num_values), level_width(max_rep));
    // Twice through the levels, keeping none: how many records, then how
    // many levels each run of them holds.
    let mut records = 0u64;
    each_zero(levels, width, n, |_| records += 1)?;
    let run = records.div_ceil(RECORD_RUNS).max(1);
    // Levels before the first start end a record of the page before.
    let (mut densest, mut run_start, mut in_run) = (0f64, None::<u64>, 0u64);
    each_zero(levels, width, n, |at| {
        match run_start {
            None => densest = at as f64,
            Some(start) if in_run == run => {
                densest = densest.max((at - start) as f64 / run as f64);
            }
            Some(_) => {
                in_run += 1;
                return;
            }
        }
        (run_start, in_run) = (Some(at), 1);
    })?;
    if let Some(start) = run_start {
        densest = densest.max((n - start) as f64 / in_run as f64);
    } else {
        densest = n as f64;
    }
    Ok(Some(densest))
}

/// Call `each` with the index of every 0 among the first `n` values of
/// the run-length / bit-packed hybrid run of `width`-bit values in `bytes`.
fn each_zero(bytes: &[u8], width: u8, n: u64, mut each: impl FnMut(u64)) -> Result<()> {
    let mut input = Compact::new(bytes);
    let value_bytes = usize::from(width).div_ceil(8);
    let mut seen = 0u64;
    while seen < n {
        let header = input.varint()?;
        ensure!(header >> 1 > 0, "an empty run");
        if header & 1 == 0 {
            let take = (header >> 1).min(n - seen);
            let value = input.rest().get(..value_bytes).context("cut short")?;
            if value.iter().all(|&b| b == 0) {
                (seen..seen + take).for_each(&mut each);
            }
            input.advance(value_bytes)?;
            seen += take;
        } else {
            let groups = usize::try_from(header >> 1)?;
            let take = (groups as u64 * 8).min(n - seen);
            let packed = input.rest();
            let mut at = seen;
            unpack(packed, width, take as usize, |v| {
                if v == 0 {
                    each(at);
                }
                at += 1;
            })?;
            input.advance(groups.saturating_mul(usize::from(width)).min(packed.len()))?;
            seen += take;
        }
    }
    Ok(())
}

/// The sum of the values of the `DELTA_BINARY_PACKED` run at the start of
/// `bytes` (negative values count as 0: these are lengths).
fn delta_sum(bytes: &[u8]) -> Result<u64> {
    let mut input = Compact::new(bytes);
    let block = usize::try_from(input.varint()?)?;
    let miniblocks = usize::try_from(input.varint()?)?;
    let count = input.varint()?;
    let mut value = input.zigzag()?;
    ensure!(
        miniblocks > 0 && block % miniblocks == 0 && (block / miniblocks) % 8 == 0,
        "blocks of {block} values in {miniblocks} miniblocks"
    );
    let per_miniblock = block / miniblocks;
    let mut sum = u64::try_from(value).unwrap_or(0);
    let mut left = count.saturating_sub(1);
    while left > 0 {
        let min_delta = input.zigzag()?;
        let widths = input
            .rest()
            .get(..miniblocks)
            .context("cut short")?
            .to_vec();
        input.advance(miniblocks)?;
        for width in widths {
            if left == 0 {
                break;
            }
            ensure!(width <= 64, "a miniblock of {width}-bit values");
            let bytes = per_miniblock * usize::from(width) / 8;
            let packed = input.rest();
            let n = per_miniblock.min(usize::try_from(left).unwrap_or(usize::MAX));
            unpack(packed, width, n, |delta| {
                value = value.wrapping_add(min_delta).wrapping_add(delta as i64);
                sum = sum.saturating_add(u64::try_from(value).unwrap_or(0));
            })?;
            // The last miniblock may stop at its last value's byte.
            input.advance(bytes.min(packed.len()))?;
            left -= n as u64;
        }
    }
    Ok(sum)
}

/// Call `each` with the first `n` values of `width` bits packed in `bytes`
/// (least significant bit first).
fn unpack(bytes: &[u8], width: u8, n: usize, mut each: impl FnMut(u64)) -> Result<()> {
    let width = u32::from(width);
    ensure!(
        (n as u64 * u64::from(width)).div_ceil(8) <= bytes.len() as u64,
        "a miniblock runs past the page"
    );
    let (mut acc, mut bits, mut bytes) = (0u128, 0u32, bytes.iter());
    for _ in 0..n {
        while bits < width {
            acc |= u128::from(*bytes.next().unwrap_or(&0)) << bits;
            bits += 8;
        }
        let mask = if width == 64 {
            u64::MAX
        } else {
            (1u64 << width) - 1
        };
        each(acc as u64 & mask);
        acc >>= width;
        bits -= width;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::sync::Arc;

    use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::{WriterProperties, WriterVersion};
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// The prefixes parquet's `DELTA_BYTE_ARRAY` pages hold add up to what
    /// each value shares with the one before, in both page versions, with
    /// nulls (definition levels) and in lists (repetition levels too).
    #[test]
    fn shared_prefixes_are_read_from_the_pages_parquet_wrote() {
        let values: Vec<Option<String>> = (0..5_000)
            .map(|i| (i % 7 != 3).then(|| format!("{}{}", "p".repeat(i % 300), i)))
            .collect();
        let present: Vec<&String> = values.iter().flatten().collect();
        let expected: u64 = present
            .windows(2)
            .map(|w| {
                w[0].bytes()
                    .zip(w[1].bytes())
                    .take_while(|(a, b)| a == b)
                    .count() as u64
            })
            .sum();
        let strings: ArrayRef = Arc::new(StringArray::from(values.clone()));
        let lists: ArrayRef = Arc::new(arrow_array::ListArray::new(
            Arc::new(arrow_schema::Field::new_list_field(
                arrow_schema::DataType::Utf8,
                true,
            )),
            arrow_buffer::OffsetBuffer::from_lengths((0..1_000).map(|_| 5)),
            Arc::clone(&strings),
            None,
        ));
        for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
            for (name, array) in [("strings", &strings), ("lists", &lists)] {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("delta.parquet");
                let batch = RecordBatch::try_from_iter([("c", Arc::clone(array))]).unwrap();
                let props = WriterProperties::builder()
                    .set_writer_version(version)
                    .set_dictionary_enabled(false)
                    .set_encoding(Encoding::DELTA_BYTE_ARRAY)
                    .set_data_page_size_limit(usize::MAX)
                    .set_data_page_row_count_limit(usize::MAX)
                    .set_write_batch_size(usize::MAX)
                    .build();
                let file = File::create(&path).unwrap();
                let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
                writer.write(&batch).unwrap();
                writer.close().unwrap();
                let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
                let descr = reader.metadata().file_metadata().schema_descr().column(0);
                let mut pages = reader
                    .get_row_group(0)
                    .unwrap()
                    .get_column_page_reader(0)
                    .unwrap();
                let (mut found, mut count) = (0, 0);
                while let Some(page) = pages.get_next_page().unwrap() {
                    assert_eq!(page.encoding(), Encoding::DELTA_BYTE_ARRAY);
                    found +=
                        shared_prefix_bytes(&page, descr.max_rep_level(), descr.max_def_level())
                            .unwrap();
                    count += 1;
                }
                assert_eq!((found, count), (expected, 1), "{version:?}, {name}");
                assert!(expected > 500_000 && strings.null_count() > 0, "{expected}");
            }
        }
    }

    /// How many levels of 0 [`each_zero`] finds.
    fn zeros(bytes: &[u8], width: u8, n: u64) -> Result<u64> {
        let mut zeros = 0;
        each_zero(bytes, width, n, |_| zeros += 1)?;
        Ok(zeros)
    }

    /// Repetition levels of 0, counted in runs and in bit-packed groups; an
    /// empty or cut run is an error.
    #[test]
    fn zeros_are_counted_in_both_kinds_of_run() {
        // A run of 4 zeros, then one of 3 ones.
        assert_eq!(zeros(&[0x08, 0x00, 0x06, 0x01], 1, 7).unwrap(), 4);
        // Only the values asked for count.
        assert_eq!(zeros(&[0x08, 0x00, 0x06, 0x01], 1, 2).unwrap(), 2);
        // One bit-packed group of 8 one-bit values, 4 of them 0.
        assert_eq!(zeros(&[0x03, 0b1010_1010], 1, 8).unwrap(), 4);
        // Two-bit values 0, 1, 2, 3, 0, 0, 0, 0.
        assert_eq!(zeros(&[0x03, 0b1110_0100, 0x00], 2, 8).unwrap(), 5);
        assert!(zeros(&[0x00], 1, 5).is_err());
        assert!(zeros(&[0x03], 1, 8).is_err());
        assert!(zeros(&[0x08], 1, 4).is_err());
    }

    /// A `DELTA_BINARY_PACKED` run cut anywhere, or with a miniblock wider
    /// than 64 bits, is an error, not a panic or a sum of what was there.
    #[test]
    fn a_cut_or_malformed_delta_run_is_an_error() {
        // Blocks of 128 in 4 miniblocks, 3 values, first 1; a block with
        // min delta 1 and widths 1, 0, 0, 0; a miniblock of 32 one-bit deltas.
        let mut run = vec![0x80, 0x01, 0x04, 0x03, 0x02, 0x02, 0x01, 0, 0, 0];
        run.extend([0b11, 0, 0, 0]);
        // 1, then 1 + 1 + 1 = 3, then 3 + 1 + 1 = 5.
        assert_eq!(delta_sum(&run).unwrap(), 9);
        for cut in 0..run.len() - 3 {
            assert!(delta_sum(&run[..cut]).is_err(), "cut at {cut}");
        }
        run[6] = 65;
        assert!(delta_sum(&run).is_err());
        assert!(longest_plain(&[5, 0, 0, 0, b'a']).is_err());
        assert!(longest_plain(&[1, 0]).is_err());
        assert_eq!(longest_plain(&[1, 0, 0, 0, b'a', 0, 0, 0, 0]).unwrap(), 1);
    }
}
