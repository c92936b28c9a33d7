//! What parquet allocates, beyond its encoders, while it encodes one batch.
//!
//! Why: parquet 60.1 does not stream a batch into its encoders. For each
//! top-level column it first computes every leaf's levels for the whole
//! batch (definition and repetition levels, two bytes each, and the index
//! of every non-null value, eight bytes), and then converts a leaf's values
//! where the physical type differs from the Arrow one: a `Vec<bool>` for
//! booleans, an `Int32Array` for 8- and 16-bit integers and small
//! decimals, a dictionary of primitives taken into its values, and for
//! fixed-length byte arrays (wide decimals, `FixedSizeBinary`, `Float16`,
//! intervals) a copy of every value plus a 32-byte handle each. None of it
//! is the caller's batch or a page, and all of it grows with the batch's
//! rows: a 262,144-row batch of `Decimal128(38, 2)` made parquet allocate
//! 15.7 MiB beside its 4.2 MB input (`tests/calibration.rs`,
//! `batch_encoding_is_within_the_admitted_room`). So a planned writer counts it per batch
//! ([`crate::long_values`] walks the leaves) and makes room before parquet
//! starts, or refuses the batch (`Error::BatchTooLarge`).
//!
//! The figures are upper bounds from parquet 60.1's code: vectors that grow
//! by doubling are counted at twice their contents, and a leaf is assumed
//! to have definition levels. `tests/calibration.rs` checks them against
//! a counting allocator for every leaf type.

use crate::page_rows::Counts;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;

/// Per level slot: a two-byte level in a vector that doubles.
const LEVEL: usize = 4;
/// Per non-null value: its index (`usize`) in the batch.
const INDEX: usize = 8;
/// Per fixed-length byte array value: its `FixedLenByteArray` handle.
const FLBA_HANDLE: usize = 32;

/// One leaf's share of a batch: its levels and value indices, which live
/// as long as its top-level column is encoded, and the converted copy of
/// its values, which lives while the leaf itself is written.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LeafCost {
    pub levels: usize,
    pub converted: usize,
    /// Of `converted`, the buffer a fixed-length byte array's values are
    /// copied into ([`fixed_len_buffer`]).
    pub fixed_len: usize,
}

/// What encoding `array` (a leaf, narrowed to the values parquet writes)
/// costs: `repeated` when a list is above it, `extra_slots` the level
/// slots its ancestors add (an empty or null list row takes one), and
/// `whole` the length of the leaf array parquet holds. Below a list that
/// is the list's whole child: slicing a list (a batch's slice, or a part
/// of it) slices its offsets, not its child, and parquet converts the
/// whole child where it converts an array at once (`unary`, `cast`):
/// lists of `Int16` admitted in parts took 24.1 MB of heap at 16 MiB where
/// each part's own values were counted (`tests/list_pages.rs`, `i16`).
/// `distinct`: parquet 60 counts the row group's distinct values, and for
/// a dictionary leaf first takes every key as a `usize` and the non-null
/// ones' again (`ArrowColumnWriter::write_internal`). `written`: the
/// leaf's levels and values where they were counted as parquet writes
/// them (below list views out of order, which may write a value more
/// than once).
pub(crate) fn leaf(
    array: &ArrayRef,
    repeated: bool,
    extra_slots: usize,
    whole: usize,
    distinct: bool,
    written: Option<Counts>,
) -> LeafCost {
    let (slots, values) = match written {
        Some(w) => (w.levels, w.values),
        None => (
            array.len().saturating_add(extra_slots),
            array.len() - array.null_count(),
        ),
    };
    let levels = match repeated {
        // Definition and repetition levels; the indices are extended range
        // by range, so their vector may double too.
        true => slots * 2 * LEVEL + values * 2 * INDEX,
        false => slots * LEVEL + values * INDEX,
    };
    let len = whole.max(array.len());
    LeafCost {
        // A run array's expansion lives with the levels, every leaf's of
        // the column at once.
        levels: levels.saturating_add(expanded_runs(array, len)),
        converted: converted(array.data_type(), len, values).saturating_add(distinct_keys(
            array.data_type(),
            len,
            values,
            distinct,
        )),
        fixed_len: fixed_len_buffer(array.data_type(), values),
    }
}

/// What counting distinct values takes of a dictionary leaf of `len` keys
/// (`values` of them not null): each key as a `usize`, sized exactly, and
/// those of the values again, collected through a filter (grown by
/// doubling).
fn distinct_keys(data_type: &DataType, len: usize, values: usize, distinct: bool) -> usize {
    match (distinct, data_type) {
        (true, DataType::Dictionary(_, _)) => len
            .saturating_add(values.saturating_mul(2))
            .saturating_mul(INDEX),
        _ => 0,
    }
}

/// What parquet 60.1 allocates to expand a run array leaf of `len`
/// logical rows before anything else (`levels.rs`, `expand_ree_array`):
/// an `Int32Array` of every row's run, and the `take` of its values over
/// it (a value a row and a validity bit), which stays with the column's
/// levels until the column is written, for every run array leaf of it at
/// once. A run array of 16 runs of 4,096 rows of 1 KiB strings took
/// 68.2 MB of heap at a 32 MiB limit where none of the strings were
/// counted (`tests/list_pages.rs`, `ree`), and a struct of eight went past
/// 16 MiB where the largest alone was counted (a review's probe). The values' bytes are summed run by run where the
/// array is all parquet expands; below a list (`len` past the slice, whose
/// runs are not all parquet expands), every row is taken at the longest
/// value of all.
fn expanded_runs(array: &ArrayRef, len: usize) -> usize {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int16Type, Int32Type, Int64Type};
    let DataType::RunEndEncoded(ends, values) = array.data_type() else {
        return 0;
    };
    let fixed = len.saturating_mul(4).saturating_add(len.div_ceil(8));
    let (offset, data) = match values.data_type() {
        DataType::Utf8 | DataType::Binary => (4, true),
        DataType::LargeUtf8 | DataType::LargeBinary => (8, true),
        // Views are copied; their data buffers are shared.
        DataType::Utf8View | DataType::BinaryView => (16, false),
        other => return fixed.saturating_add(len.saturating_mul(width(other))),
    };
    let mut bytes = fixed.saturating_add(len.saturating_add(1).saturating_mul(offset));
    if data {
        let rows = match ends.data_type() {
            DataType::Int16 => array
                .as_run_opt::<Int16Type>()
                .map(|r| run_value_bytes(r, |i| r.run_ends().values()[i] as usize, len)),
            DataType::Int32 => array
                .as_run_opt::<Int32Type>()
                .map(|r| run_value_bytes(r, |i| r.run_ends().values()[i] as usize, len)),
            DataType::Int64 => array
                .as_run_opt::<Int64Type>()
                .map(|r| run_value_bytes(r, |i| r.run_ends().values()[i] as usize, len)),
            _ => None,
        };
        bytes = bytes.saturating_add(rows.unwrap_or(usize::MAX));
    }
    bytes
}

/// The bytes of the values of a run array's rows, run by run (`end`: the
/// logical end of physical run `i`); `len` rows of its longest value
/// where parquet expands more rows than it has.
fn run_value_bytes<R: arrow_array::types::RunEndIndexType>(
    run: &arrow_array::RunArray<R>,
    end: impl Fn(usize) -> usize,
    len: usize,
) -> usize {
    use arrow_array::cast::AsArray;
    let values = run.values();
    let value = |i: usize| -> usize {
        match values.data_type() {
            DataType::Utf8 => values.as_string::<i32>().value(i).len(),
            DataType::LargeUtf8 => values.as_string::<i64>().value(i).len(),
            DataType::Binary => values.as_binary::<i32>().value(i).len(),
            DataType::LargeBinary => values.as_binary::<i64>().value(i).len(),
            _ => 0,
        }
    };
    let ends = run.run_ends();
    let (start, rows) = (ends.offset(), ends.len());
    if len > rows {
        // A run array's values are never sliced: all of its runs'.
        let longest = (0..values.len()).map(value).max().unwrap_or(0);
        return len.saturating_mul(longest);
    }
    if run.is_empty() {
        return 0;
    }
    let physical = run.get_start_physical_index()..=run.get_end_physical_index();
    let mut from = start;
    let mut bytes = 0usize;
    for i in physical {
        let end = end(i).min(start + rows);
        bytes = bytes.saturating_add(end.saturating_sub(from).saturating_mul(value(i)));
        from = end;
    }
    bytes
}

/// Bytes of the copy parquet makes of a leaf's values of type `data_type`
/// before encoding them (`len` slots of the array it converts, `values`
/// of the slots written not null).
fn converted(data_type: &DataType, len: usize, values: usize) -> usize {
    if let Some(width) = fixed_len_width(data_type) {
        return values * (FLBA_HANDLE + width);
    }
    match data_type {
        DataType::Boolean => values,
        // Widened to `Int32Array` (or `Int64Array`) over every slot.
        DataType::Int8
        | DataType::Int16
        | DataType::UInt8
        | DataType::UInt16
        | DataType::Date64
        | DataType::Null => len * 8,
        // Decimals of up to 18 digits (wider ones are fixed-length).
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => len * 8,
        // Cast into a plain array of its values, which is then converted
        // as its own type is; byte-array values are encoded through the
        // keys without a copy.
        DataType::Dictionary(_, _) => match value_type(data_type) {
            Some(value) if !is_byte_array(value) => {
                len * width(value) + converted(value, len, values)
            }
            _ => 0,
        },
        // Expanded first ([`expanded_runs`]), then converted as its values.
        DataType::RunEndEncoded(_, _) => {
            value_type(data_type).map_or(0, |value| converted(value, len, values))
        }
        _ => 0,
    }
}

/// Bytes of the buffer parquet 60.1 copies a fixed-length byte array
/// leaf's `values` (not null) into before encoding them (wide decimals,
/// `FixedSizeBinary`, `Float16`, intervals; a dictionary or run array of
/// them taken into its values first), zero for other types. Each value is
/// a slice of that one buffer, so a value kept as a column chunk's minimum
/// or maximum keeps all of it (`crate::metadata::KeptValues`).
pub(crate) fn fixed_len_buffer(data_type: &DataType, values: usize) -> usize {
    match value_type(data_type) {
        Some(value) => fixed_len_buffer(value, values),
        None => fixed_len_width(data_type).map_or(0, |width| values.saturating_mul(width)),
    }
}

/// The bytes parquet writes a value of `data_type` in, where it writes it
/// as a fixed-length byte array.
fn fixed_len_width(data_type: &DataType) -> Option<usize> {
    match data_type {
        DataType::Decimal128(precision, _) | DataType::Decimal256(precision, _)
            if *precision > 18 =>
        {
            Some(decimal_bytes(*precision))
        }
        DataType::FixedSizeBinary(width) => Some(usize::try_from(*width).unwrap_or(0)),
        DataType::Float16 => Some(2),
        DataType::Interval(_) => Some(12),
        _ => None,
    }
}

/// A dictionary's or run array's value type.
fn value_type(data_type: &DataType) -> Option<&DataType> {
    match data_type {
        DataType::Dictionary(_, value) => Some(value),
        DataType::RunEndEncoded(_, value) => Some(value.data_type()),
        _ => None,
    }
}

fn is_byte_array(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::Utf8View
            | DataType::BinaryView
    )
}

/// Bytes a slot of `data_type` takes in a plain Arrow array.
fn width(data_type: &DataType) -> usize {
    data_type.primitive_width().unwrap_or(match data_type {
        DataType::FixedSizeBinary(w) => usize::try_from(*w).unwrap_or(0),
        _ => 16,
    })
}

/// Bytes parquet writes for a decimal of `precision` digits (parquet's
/// `decimal_length_from_precision`).
fn decimal_bytes(precision: u8) -> usize {
    (((10f64.powi(i32::from(precision)) + 1.0).log2() + 1.0) / 8.0).ceil() as usize
}

/// The most a batch's columns cost at once on `threads` encoding threads:
/// each thread encodes one top-level column at a time, but the threads of
/// a `ParallelWriter` may be on columns of different batches it holds, so
/// each is counted at the batch's costliest column (the room kept is the
/// most over the batches admitted).
pub(crate) fn batch(columns: &[usize], threads: usize) -> usize {
    let costliest = columns.iter().copied().max().unwrap_or(0);
    costliest.saturating_mul(threads.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run array of strings is expanded into a string a row: its rows'
    /// values, run by run, a slice's own rows, and every row at the
    /// longest where parquet expands more rows than the array has.
    #[test]
    fn run_arrays_of_strings_cost_a_value_a_row() {
        let ends = arrow_array::Int32Array::from(vec![2, 5, 10]);
        let values = arrow_array::StringArray::from(vec!["a", "bb", "ccc"]);
        let run: ArrayRef = std::sync::Arc::new(
            arrow_array::RunArray::try_new(&ends, &values).expect("a run array"),
        );
        // Values, offsets, validity and the run indices parquet takes
        // them by.
        let fixed = |len: usize| len * 4 + len.div_ceil(8);
        assert_eq!(
            expanded_runs(&run, 10),
            2 + 3 * 2 + 5 * 3 + 11 * 4 + fixed(10)
        );
        let slice = run.slice(1, 6);
        assert_eq!(
            expanded_runs(&slice, 6),
            1 + 3 * 2 + 2 * 3 + 7 * 4 + fixed(6)
        );
        // Below a list: every row at the longest value of all the runs,
        // not only the slice's (its first row's run, "a", alone here).
        let first = run.slice(0, 1);
        assert_eq!(expanded_runs(&first, 100), 100 * 3 + 101 * 4 + fixed(100));
        let empty = run.slice(0, 0);
        assert_eq!(expanded_runs(&empty, 100), 100 * 3 + 101 * 4 + fixed(100));
        let numbers =
            arrow_array::RunArray::try_new(&ends, &arrow_array::Int64Array::from(vec![1, 2, 3]))
                .expect("a run array");
        let numbers: ArrayRef = std::sync::Arc::new(numbers);
        assert_eq!(expanded_runs(&numbers, 10), 10 * 8 + fixed(10));
    }

    #[test]
    fn decimal_bytes_are_parquets() {
        // parquet's `decimal_length_from_precision`.
        for (precision, bytes) in [(1, 1), (2, 1), (3, 2), (9, 4), (18, 8), (19, 9), (38, 16)] {
            assert_eq!(decimal_bytes(precision), bytes, "precision {precision}");
        }
    }

    #[test]
    fn fixed_len_buffers_are_values_times_parquets_width() {
        let dictionary =
            |value: DataType| DataType::Dictionary(Box::new(DataType::Int32), Box::new(value));
        for (data_type, bytes) in [
            (DataType::Decimal128(38, 2), 160),
            (DataType::Decimal128(18, 2), 0), // an INT64 column
            (DataType::Decimal256(76, 0), 320),
            (DataType::Float16, 20),
            (DataType::FixedSizeBinary(5), 50),
            (dictionary(DataType::Decimal128(20, 0)), 90),
            (dictionary(DataType::Utf8), 0),
            (DataType::Int64, 0),
        ] {
            assert_eq!(fixed_len_buffer(&data_type, 10), bytes, "{data_type}");
        }
    }

    #[test]
    fn the_costliest_column_on_each_thread() {
        assert_eq!(batch(&[1, 5, 3], 1), 5);
        assert_eq!(batch(&[1, 5, 3], 2), 10);
        assert_eq!(batch(&[], 2), 0);
    }
}
