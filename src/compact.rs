//! Compact copies of the columns of a batch's parts.
//!
//! Why: slicing a list slices its offsets, not its child, and parquet 60.1
//! converts some leaves below a list over the list's whole child where it
//! converts an array at once (8- and 16-bit integers and small decimals
//! widened, `Date64`, dictionaries taken into their values; run arrays
//! expanded), so every slice of such a batch costs the whole batch's
//! conversion ([`crate::encode_cost::leaf`]). Cut into slices, a batch too
//! large to encode whole stayed too large in every part and was refused.
//! A part whose list columns are copied holds only its own rows' values,
//! and costs their conversion alone; the copy is charged while it lives
//! ([`crate::SpillMonitor::admit_in_parts`] copies only the columns whose
//! conversion a slice would take whole).
//!
//! Copies are made with arrow's `MutableArrayData`, which copies a list's
//! child range by range and shares what a dictionary's keys point to and
//! what a view array's views point to.

use arrow_array::{Array, ArrayRef};
use arrow_data::transform::MutableArrayData;
use arrow_schema::DataType;

/// Peak bytes a copy takes per byte it holds: its buffers grow by
/// doubling, and a buffer being grown is moved while its old and new
/// allocations are both held (`MutableBuffer::reallocate`).
pub(crate) const GROWTH: usize = 3;

/// Whether parts of `data_type` can be copied compactly: list views copy
/// each view's range on its own (overlapping views twice), which
/// [`bytes`] does not bound, and parquet writes no unions.
pub(crate) fn copyable(data_type: &DataType) -> bool {
    match data_type {
        DataType::ListView(_) | DataType::LargeListView(_) | DataType::Union(_, _) => false,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => copyable(f.data_type()),
        DataType::Struct(fields) => fields.iter().all(|f| copyable(f.data_type())),
        DataType::Dictionary(_, values) => copyable(values),
        DataType::RunEndEncoded(_, values) => copyable(values.data_type()),
        _ => true,
    }
}

/// The bytes a compact copy of `array` holds (its rows' values; what a
/// dictionary's keys point to and a view array's data are shared, not
/// copied); [`GROWTH`] times it while the copy is made.
pub(crate) fn bytes(array: &ArrayRef) -> usize {
    let len = array.len();
    let validity = match array.nulls() {
        Some(_) => len.div_ceil(8),
        None => 0,
    };
    let offsets = |width: usize| len.saturating_add(1).saturating_mul(width);
    let own = match array.data_type() {
        DataType::Null => 0,
        DataType::Boolean => len.div_ceil(8),
        DataType::FixedSizeBinary(width) => {
            len.saturating_mul(usize::try_from(*width).unwrap_or(0))
        }
        DataType::Utf8 | DataType::Binary => {
            offsets(4).saturating_add(crate::long_values::value_bytes(array))
        }
        DataType::LargeUtf8 | DataType::LargeBinary => {
            offsets(8).saturating_add(crate::long_values::value_bytes(array))
        }
        DataType::Utf8View | DataType::BinaryView => len.saturating_mul(16),
        DataType::List(_) | DataType::Map(_, _) => offsets(4).saturating_add(children(array)),
        DataType::LargeList(_) => offsets(8).saturating_add(children(array)),
        DataType::Dictionary(key, _) => len.saturating_mul(key.primitive_width().unwrap_or(8)),
        DataType::RunEndEncoded(ends, _) => {
            let runs = crate::long_values::run_values(array);
            let physical = runs.as_ref().map_or(len, |r| r.len());
            let width = ends.data_type().primitive_width().unwrap_or(8);
            physical
                .saturating_mul(width)
                .saturating_add(runs.as_ref().map_or(0, bytes))
        }
        DataType::FixedSizeList(_, _) | DataType::Struct(_) => children(array),
        other => len.saturating_mul(other.primitive_width().unwrap_or(0)),
    };
    own.saturating_add(validity)
}

/// What the children of a list, map, fixed-size list or struct `array`
/// hold of its rows.
fn children(array: &ArrayRef) -> usize {
    crate::long_values::used_children(array)
        .iter()
        .map(bytes)
        .fold(0, usize::saturating_add)
}

/// A copy of `array` holding only its rows' values; `array` itself where
/// arrow cannot copy it (offsets that overflow, which a slice of a valid
/// array does not reach).
pub(crate) fn copy(array: &ArrayRef) -> ArrayRef {
    let data = array.to_data();
    let mut copy = MutableArrayData::new(vec![&data], false, array.len());
    match copy.try_extend(0, 0, array.len()) {
        Ok(()) => arrow_array::make_array(copy.freeze()),
        Err(_) => array.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int16Array, ListArray, StringArray, StructArray};
    use arrow_buffer::OffsetBuffer;
    use arrow_schema::Field;

    use super::*;

    fn lists(values: ArrayRef, lengths: &[usize]) -> ArrayRef {
        let item = Arc::new(Field::new("item", values.data_type().clone(), true));
        let offsets = OffsetBuffer::from_lengths(lengths.iter().copied());
        Arc::new(ListArray::new(item, offsets, values, None))
    }

    /// A copy of a slice of lists holds the slice's values alone, equal
    /// to the slice, and within what [`bytes`] counts for it.
    #[test]
    fn a_copy_holds_its_rows_alone() {
        let values = Arc::new(Int16Array::from_iter_values(0..10_000)) as ArrayRef;
        let strings = Arc::new(StringArray::from_iter_values(
            (0..10_000).map(|i| i.to_string()),
        ));
        let fields = vec![
            Arc::new(Field::new("i", DataType::Int16, false)),
            Arc::new(Field::new("s", DataType::Utf8, false)),
        ];
        let structs = StructArray::new(fields.into(), vec![values, strings], None);
        let whole = lists(Arc::new(structs), &[100; 100]);
        let slice = whole.slice(10, 3);
        let copy = copy(&slice);
        assert_eq!(copy.to_data(), slice.to_data());
        let held = copy.get_buffer_memory_size();
        let counted = bytes(&slice);
        // 300 values: 600 bytes of Int16, their strings and offsets.
        assert!(counted < 4_000, "{counted}");
        assert!(held <= GROWTH * counted, "{held} held, {counted} counted");
        assert!(held < whole.get_buffer_memory_size() / 10, "{held}");
    }

    #[test]
    fn list_views_and_unions_are_not_copied() {
        let view = DataType::ListView(Arc::new(Field::new("item", DataType::Int16, true)));
        assert!(!copyable(&view));
        assert!(!copyable(&DataType::new_list(view, true)));
        assert!(copyable(&DataType::new_list(DataType::Int16, true)));
    }
}
