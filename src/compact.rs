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
//! what a view array's views point to, given each node's exact capacity
//! ([`capacities`]): left to size a child from its parent's rows, it made
//! every fixed-size list below a list that many lists long, empty rows
//! too (a review's finding: `tests/encoder_state.rs` case `fsl_sparse`
//! took 26.3 MiB of heap at 16 MiB so).

use arrow_array::{Array, ArrayRef};
use arrow_data::transform::{Capacities, MutableArrayData};
use arrow_schema::DataType;

/// Peak bytes a copy takes per byte [`bytes`] counts: with exact
/// capacities no buffer grows; twice, should one be grown after all (its
/// old and new allocations held at once).
pub(crate) const GROWTH: usize = 2;

/// What `MutableArrayData` rounds each buffer up to.
const ALIGN: usize = 64;

/// Whether parts of `data_type` can be copied compactly: list views copy
/// each view's range on its own (overlapping views twice), run arrays size
/// their children from their rows, which [`bytes`] does not bound; parquet
/// writes no unions.
pub(crate) fn copyable(data_type: &DataType) -> bool {
    match data_type {
        DataType::ListView(_)
        | DataType::LargeListView(_)
        | DataType::RunEndEncoded(_, _)
        | DataType::Union(_, _) => false,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => copyable(f.data_type()),
        DataType::Struct(fields) => fields.iter().all(|f| copyable(f.data_type())),
        DataType::Dictionary(_, values) => copyable(values),
        _ => true,
    }
}

/// The exact capacity of each node of a copy of `array`'s rows.
fn capacities(array: &ArrayRef) -> Capacities {
    let len = array.len();
    match array.data_type() {
        DataType::Utf8 | DataType::Binary | DataType::LargeUtf8 | DataType::LargeBinary => {
            Capacities::Binary(len, Some(crate::long_values::value_bytes(array)))
        }
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::Map(_, _)
        | DataType::FixedSizeList(_, _) => {
            let child = crate::long_values::used_children(array)
                .first()
                .map(capacities)
                .map(Box::new);
            Capacities::List(len, child)
        }
        DataType::Struct(_) => {
            let children = crate::long_values::used_children(array);
            Capacities::Struct(len, Some(children.iter().map(capacities).collect()))
        }
        _ => Capacities::Array(len),
    }
}

/// The bytes a compact copy of `array` allocates, with [`capacities`]
/// (its rows' values; what a dictionary's keys point to and a view
/// array's data are shared, not copied); [`GROWTH`] times it while the
/// copy is made. A validity bitmap at every node (one is made below any
/// node with nulls), and every buffer rounded up.
pub(crate) fn bytes(array: &ArrayRef) -> usize {
    let len = array.len();
    let offsets = |width: usize| len.saturating_add(1).saturating_mul(width);
    let own = match array.data_type() {
        DataType::Null | DataType::FixedSizeList(_, _) | DataType::Struct(_) => 0,
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
        DataType::List(_) | DataType::Map(_, _) => offsets(4),
        DataType::LargeList(_) => offsets(8),
        DataType::Dictionary(key, _) => len.saturating_mul(key.primitive_width().unwrap_or(8)),
        other => len.saturating_mul(other.primitive_width().unwrap_or(0)),
    };
    let children = crate::long_values::used_children(array)
        .iter()
        .map(bytes)
        .fold(0, usize::saturating_add);
    own.saturating_add(len.div_ceil(8))
        .saturating_add(3 * ALIGN)
        .saturating_add(children)
}

/// A copy of `array` holding only its rows' values; `array` itself where
/// arrow cannot copy it (offsets that overflow, which a slice of a valid
/// array does not reach).
pub(crate) fn copy(array: &ArrayRef) -> ArrayRef {
    let data = array.to_data();
    let mut copy = MutableArrayData::with_capacities(vec![&data], false, capacities(array));
    match copy.try_extend(0, 0, array.len()) {
        Ok(()) => arrow_array::make_array(copy.freeze()),
        Err(_) => array.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{Int8Builder, ListBuilder, MapBuilder, StringBuilder};
    use arrow_array::{FixedSizeListArray, Int16Array, ListArray, StringArray, StructArray};
    use arrow_buffer::OffsetBuffer;
    use arrow_schema::{Field, Fields};

    use super::*;

    fn lists(values: ArrayRef, lengths: &[usize]) -> ArrayRef {
        let item = Arc::new(Field::new("item", values.data_type().clone(), true));
        let offsets = OffsetBuffer::from_lengths(lengths.iter().copied());
        Arc::new(ListArray::new(item, offsets, values, None))
    }

    /// A copy of `slice` equals it, and holds no more than [`bytes`]
    /// counts (its buffers' capacities: a buffer grown past its capacity
    /// holds more).
    fn copied_within_bytes(slice: &ArrayRef) -> usize {
        let copy = copy(slice);
        assert_eq!(copy.to_data(), slice.to_data());
        let (held, counted) = (copy.get_buffer_memory_size(), bytes(slice));
        assert!(
            held <= counted,
            "{held} held, {counted} counted: {:?}",
            slice.data_type()
        );
        counted
    }

    /// A copy of a slice of lists holds the slice's values alone.
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
        // 300 values: 600 bytes of Int16, their strings and offsets.
        let counted = copied_within_bytes(&whole.slice(10, 3));
        assert!(counted < 8_000, "{counted}");
    }

    /// Capacities from the used children, not the parent's rows: a
    /// fixed-size list below a list of mostly empty rows (the old
    /// constructor held 131,392 bytes for 3,021 counted), a wide struct
    /// below a list.
    #[test]
    fn children_get_the_capacity_of_what_the_rows_use() {
        let inner = Arc::new(Field::new("v", DataType::Int16, false));
        let v = Int16Array::from_iter_values((0..64 * 1024).map(|i| i as i16));
        let fsl = FixedSizeListArray::new(inner, 1024, Arc::new(v), None);
        let mut lengths = vec![0; 4096];
        for row in (0..4096).step_by(64) {
            lengths[row] = 1;
        }
        let sparse = lists(Arc::new(fsl), &lengths);
        // One list of 1,024 values in the slice.
        let counted = copied_within_bytes(&sparse.slice(64, 64));
        assert!(counted < 4 * 1024, "{counted}");

        let fields: Fields = (0..64)
            .map(|i| Field::new(format!("f{i}"), DataType::Int16, false))
            .collect();
        let columns: Vec<ArrayRef> = (0..64)
            .map(|_| Arc::new(Int16Array::from_iter_values(0..4096)) as ArrayRef)
            .collect();
        let wide = lists(
            Arc::new(StructArray::new(fields, columns, None)),
            &[1; 4096],
        );
        copied_within_bytes(&wide.slice(100, 1000));
    }

    /// Nulls at every level, maps, lists of lists.
    #[test]
    fn nulls_maps_and_nested_lists_are_copied_within_their_count() {
        let mut nested = ListBuilder::new(ListBuilder::new(Int8Builder::new()));
        for row in 0..2000 {
            match row % 7 {
                0 => nested.append_null(),
                _ => {
                    for inner in 0..row % 5 {
                        match inner % 3 {
                            0 => nested.values().append_null(),
                            _ => {
                                nested.values().values().append_value(row as i8);
                                nested.values().values().append_null();
                                nested.values().append(true);
                            }
                        }
                    }
                    nested.append(true);
                }
            }
        }
        let nested: ArrayRef = Arc::new(nested.finish());
        copied_within_bytes(&nested.slice(500, 700));

        let mut map = MapBuilder::new(None, StringBuilder::new(), Int8Builder::new());
        for row in 0..2000 {
            for k in 0..row % 4 {
                map.keys().append_value(format!("key {k}"));
                map.values().append_option((k % 2 == 0).then_some(k as i8));
            }
            map.append(row % 9 != 0).unwrap();
        }
        let map: ArrayRef = Arc::new(map.finish());
        copied_within_bytes(&map.slice(1000, 333));
    }

    #[test]
    fn list_views_run_arrays_and_unions_are_not_copied() {
        let view = DataType::ListView(Arc::new(Field::new("item", DataType::Int16, true)));
        assert!(!copyable(&view));
        assert!(!copyable(&DataType::new_list(view, true)));
        let run = DataType::RunEndEncoded(
            Arc::new(Field::new("run_ends", DataType::Int32, false)),
            Arc::new(Field::new("values", DataType::Utf8, true)),
        );
        assert!(!copyable(&DataType::new_list(run, true)));
        assert!(copyable(&DataType::new_list(DataType::Int16, true)));
    }
}
