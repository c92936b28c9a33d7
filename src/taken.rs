//! What arrow allocates as parquet takes a dictionary or run array of
//! nested values through its keys.
//!
//! Why: parquet 60.1 writes such a column by first taking its values into
//! one row per key (`arrow_select::take`; a run array's rows by their
//! physical index). arrow-select 60.1 copies a list's child through
//! `MutableArrayData` (or a `MutableBuffer` for primitives without
//! nulls), every buffer below the list first allocated for the source's
//! average row times the rows taken, then grown by doubling. So where the
//! keys take long rows, a buffer grows past its first size, and while it
//! grows the old allocation and the new one, twice it, are held at once:
//! three times the copy's bytes (a review's finding: a dictionary of 4,096
//! lists, every key the one of 2,048 strings of 256 bytes, took 33.6 MiB
//! of heap at 32 MiB counted once; `tests/long_pages.rs`,
//! `dict_of_strings_skew`). Where the keys take short rows of a source
//! whose average row is long, the first size is the larger: 1,048,576 keys
//! of an empty list beside one of 64 values allocated 128 MiB for a copy
//! of nothing (`dict_of_lists_sparse`; docs/UPSTREAM.md). arrow-select
//! 59.3 took a list's child by its value indices, sized exactly: these
//! bounds hold there too.

use arrow_array::cast::AsArray;
use arrow_array::{downcast_run_array, Array, ArrayRef};
use arrow_schema::DataType;

/// Bytes held, at most, per byte of a taken list's child as arrow grows
/// its buffers by doubling: the old allocation and the new one (twice
/// it) at once, during the copy.
pub(crate) const GROWTH: usize = 3;

/// How the values below a dictionary or run array of nested values are
/// copied where parquet takes them through its keys.
#[derive(Debug, Clone, Default)]
pub(crate) enum Take {
    /// Not copied by a list's `take`: not below a dictionary or run array
    /// of nested values, or below a list view (which shares its child).
    #[default]
    Exact,
    /// Taken by `indices` indices from `whole`, the values as parquet
    /// holds them (a run array's whole values, not only those of the
    /// runs its rows use), no list between.
    Rows { indices: usize, whole: ArrayRef },
    /// Below a list taken: every buffer below it is first allocated for
    /// `estimate` elements and grown by doubling; `lists` further lists
    /// between it and the array walked, each with its own offsets.
    Grown { estimate: usize, lists: usize },
}

impl Take {
    /// The values of dictionary or run array `parent`, taken by its keys
    /// `scale` times each (dictionaries or run arrays of nested values
    /// above repeat its rows).
    pub(crate) fn of(parent: &ArrayRef, scale: usize) -> Self {
        let parent_ref = parent.as_ref();
        let whole = match parent.as_any_dictionary_opt() {
            Some(dictionary) => Some(dictionary.values().clone()),
            None => downcast_run_array!(parent_ref => Some(parent_ref.values().clone()), _ => None),
        };
        match whole {
            Some(whole) => Self::Rows {
                indices: parent.len().saturating_mul(scale),
                whole,
            },
            None => Self::Exact,
        }
    }

    /// Through a struct's `index`th child: `take` takes each child by the
    /// same indices.
    pub(crate) fn field(&self, index: usize) -> Self {
        match self {
            Self::Rows { indices, whole } => match whole.as_struct_opt() {
                Some(fields) if index < fields.num_columns() => Self::Rows {
                    indices: *indices,
                    whole: fields.column(index).clone(),
                },
                _ => Self::Exact,
            },
            other => other.clone(),
        }
    }

    /// Through the child of a list of `data_type` (a list, list view, map
    /// or fixed-size list).
    pub(crate) fn list(&self, data_type: &DataType) -> Self {
        match self {
            Self::Exact => Self::Exact,
            // `MutableArrayData` sizes a fixed-size list's child for its
            // size times the elements it was told to expect (a review's
            // finding: 262,144 keys of an empty list beside one of two
            // fixed-size lists of 64 `Float64`s allocated 128 MiB, counted
            // at 17 bytes a fixed-size list).
            Self::Grown { estimate, lists } => match data_type {
                DataType::FixedSizeList(_, size) => Self::Grown {
                    estimate: estimate.saturating_mul(usize::try_from(*size).unwrap_or(0)),
                    lists: *lists,
                },
                _ => Self::Grown {
                    estimate: *estimate,
                    lists: lists.saturating_add(1),
                },
            },
            Self::Rows { indices, whole } => match whole.data_type() {
                // The child's elements the source's rows use, on average,
                // times the rows taken (`take_list`).
                DataType::List(_) | DataType::LargeList(_) | DataType::Map(_, _) => {
                    let used = used_elements(whole);
                    let average = used.checked_div(whole.len()).unwrap_or(0);
                    Self::Grown {
                        estimate: average.saturating_mul(*indices),
                        lists: 0,
                    }
                }
                // Taken by its value indices, exactly.
                DataType::FixedSizeList(_, size) => match whole.as_fixed_size_list_opt() {
                    Some(list) => Self::Rows {
                        indices: indices.saturating_mul(usize::try_from(*size).unwrap_or(0)),
                        whole: list.values().clone(),
                    },
                    None => Self::Exact,
                },
                // A list view's views are taken, its child shared.
                _ => Self::Exact,
            },
        }
    }

    /// What leaf `array`'s taken values hold at most: `values` their
    /// bytes and `levels` their slots as `take` copies them, an offset
    /// and a slot (8 bytes) a level. Below a list taken, each buffer is
    /// its first allocation where that holds what is copied into it, and
    /// three times what is copied where it grows.
    pub(crate) fn leaf(&self, array: &ArrayRef, values: usize, levels: usize) -> usize {
        let slots = levels.saturating_mul(8);
        let Self::Grown { estimate, lists } = self else {
            return values.saturating_add(slots);
        };
        let buffer = |width: usize, need: usize| {
            let first = estimate.saturating_mul(width);
            match need <= first {
                true => first,
                false => need.saturating_mul(GROWTH),
            }
        };
        let (value_width, offset_width) = widths(array.data_type());
        let offsets = lists
            .saturating_add(usize::from(offset_width > 0))
            .saturating_mul(buffer(8, levels.saturating_mul(8)));
        // The validity bitmap, and a slot a level.
        let rest = (estimate / 8).saturating_add(levels.saturating_mul(4));
        buffer(value_width, values)
            .saturating_add(offsets)
            .saturating_add(rest)
    }
}

/// The child elements a list or map array's rows use.
fn used_elements(list: &ArrayRef) -> usize {
    fn span<O: arrow_array::OffsetSizeTrait>(offsets: &[O]) -> usize {
        match (offsets.first(), offsets.last()) {
            (Some(first), Some(last)) => (*last - *first).as_usize(),
            _ => 0,
        }
    }
    match list.data_type() {
        DataType::List(_) => list
            .as_list_opt::<i32>()
            .map_or(0, |l| span(l.value_offsets())),
        DataType::LargeList(_) => list
            .as_list_opt::<i64>()
            .map_or(0, |l| span(l.value_offsets())),
        DataType::Map(_, _) => list.as_map_opt().map_or(0, |m| span(m.value_offsets())),
        _ => 0,
    }
}

/// The bytes arrow allocates per element of a leaf of `data_type` it is
/// told to expect (`new_buffers`), for its values (a byte array: one) and
/// for its offsets (a byte array's; none for others).
fn widths(data_type: &DataType) -> (usize, usize) {
    match data_type {
        DataType::Utf8 | DataType::Binary => (1, 4),
        DataType::LargeUtf8 | DataType::LargeBinary => (1, 8),
        DataType::Utf8View | DataType::BinaryView => (16, 0),
        DataType::Boolean | DataType::Null => (1, 0),
        DataType::FixedSizeBinary(width) => (usize::try_from(*width).unwrap_or(0), 0),
        DataType::Dictionary(key, _) => (key.primitive_width().unwrap_or(8), 0),
        other => (other.primitive_width().unwrap_or(8), 0),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::types::Int32Type;
    use arrow_array::{DictionaryArray, Int32Array, ListArray, RunArray, StringArray, StructArray};
    use arrow_buffer::OffsetBuffer;
    use arrow_schema::Field;

    use super::*;

    /// `count` lists, the first of all of `child`, the others empty.
    fn first_of(child: ArrayRef, count: usize) -> ArrayRef {
        let item = Arc::new(Field::new("item", child.data_type().clone(), true));
        let lengths = std::iter::once(child.len()).chain(std::iter::repeat_n(0, count - 1));
        Arc::new(ListArray::new(
            item,
            OffsetBuffer::from_lengths(lengths),
            child,
            None,
        ))
    }

    fn lists_type() -> DataType {
        first_of(strings(1), 1).data_type().clone()
    }

    fn strings(count: usize) -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            (0..count).map(|i| format!("{i:04}")),
        ))
    }

    #[test]
    fn a_taken_lists_child_is_first_sized_from_the_average_row() {
        // 64 values over 2 lists: 32 on average, times 1,000 keys.
        let lists = first_of(strings(64), 2);
        let keys = Int32Array::from(vec![1; 1000]);
        let dictionary: ArrayRef = Arc::new(DictionaryArray::new(keys, lists));
        let below = Take::of(&dictionary, 1).list(&lists_type());
        assert!(
            matches!(
                below,
                Take::Grown {
                    estimate: 32_000,
                    lists: 0
                }
            ),
            "{below:?}"
        );
        // A `Utf8` leaf's buffers: what arrow first allocates for 32,000
        // strings (a byte each, an offset, counted at 8 bytes, a bit of
        // validity) where they hold the copy, or three times the copy
        // where it outgrows them; and 4 bytes a level.
        assert_eq!(
            below.leaf(&strings(1), 10, 10),
            32_000 + 256_000 + 4_000 + 40
        );
        let grown = (3 << 20) + 3 * 800_000 + 4_000 + 400_000;
        assert_eq!(below.leaf(&strings(1), 1 << 20, 100_000), grown);
        // Copied exactly: its bytes, and 8 a level.
        assert_eq!(Take::Exact.leaf(&strings(1), 10, 1), 18);
        // A list further down has its own offsets.
        assert!(matches!(
            below.list(&lists_type()),
            Take::Grown { lists: 1, .. }
        ));
        // Repeated by a dictionary above: its keys taken that many times.
        assert!(matches!(
            Take::of(&dictionary, 3).list(&lists_type()),
            Take::Grown {
                estimate: 96_000,
                ..
            }
        ));
    }

    #[test]
    fn a_run_arrays_whole_values_give_the_average() {
        // Sliced to its first run, the run array still takes from all its
        // values: 64 over 4 lists, 16 on average, times the 10 rows.
        let lists = first_of(strings(64), 4);
        let ends = Int32Array::from(vec![10, 11, 12, 13]);
        let runs: ArrayRef = Arc::new(RunArray::<Int32Type>::try_new(&ends, &lists).unwrap());
        let first = runs.slice(0, 10);
        assert!(matches!(
            Take::of(&first, 1).list(&lists_type()),
            Take::Grown { estimate: 160, .. }
        ));
    }

    #[test]
    fn fields_and_fixed_size_lists_are_taken_by_index_and_views_share_their_child() {
        let lists = first_of(strings(64), 2);
        let values = StructArray::from(vec![(
            Arc::new(Field::new("l", lists.data_type().clone(), true)),
            lists,
        )]);
        let keys = Int32Array::from(vec![0; 100]);
        let dictionary: ArrayRef = Arc::new(DictionaryArray::new(keys, Arc::new(values)));
        let take = Take::of(&dictionary, 1);
        assert!(matches!(
            take.field(0).list(&lists_type()),
            Take::Grown { estimate: 3200, .. }
        ));
        assert!(matches!(take.field(1), Take::Exact), "no such field");
        // A list view's views are taken, its child shared.
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        let views = arrow_array::ListViewArray::new(
            item,
            vec![0, 0].into(),
            vec![64, 0].into(),
            strings(64),
            None,
        );
        let keys = Int32Array::from(vec![0; 100]);
        let dictionary: ArrayRef = Arc::new(DictionaryArray::new(keys, Arc::new(views)));
        assert!(matches!(
            Take::of(&dictionary, 1).list(&lists_type()),
            Take::Exact
        ));
        // A fixed-size list's child is taken by its value indices: a list
        // below it from there.
        let sizes = Arc::new(Field::new("item", lists_type(), true));
        let fixed = arrow_array::FixedSizeListArray::new(sizes, 2, first_of(strings(64), 4), None);
        let fixed_type = fixed.data_type().clone();
        let keys = Int32Array::from(vec![0; 100]);
        let dictionary: ArrayRef = Arc::new(DictionaryArray::new(keys, Arc::new(fixed)));
        let below = Take::of(&dictionary, 1)
            .list(&fixed_type)
            .list(&lists_type());
        // 64 values over 4 lists, 16 on average, times 100 keys of two.
        assert!(
            matches!(
                below,
                Take::Grown {
                    estimate: 3200,
                    lists: 0
                }
            ),
            "{below:?}"
        );
        // Below a list taken, a fixed-size list's child is expected at its
        // size times the elements.
        let below = Take::Grown {
            estimate: 100,
            lists: 0,
        }
        .list(&fixed_type);
        assert!(
            matches!(
                below,
                Take::Grown {
                    estimate: 200,
                    lists: 0
                }
            ),
            "{below:?}"
        );
        // Not below a dictionary or run array: copied exactly, if at all.
        assert!(matches!(Take::of(&strings(3), 1), Take::Exact));
        assert_eq!(Take::Exact.list(&lists_type()).leaf(&strings(1), 10, 0), 10);
    }
}
