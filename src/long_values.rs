//! The byte-array values of a batch longer than a plan's pages, by leaf.
//!
//! Why look before writing: parquet writes a value longer than the page size
//! as a page of its own and holds several copies of that page while it
//! writes it. The metered store sees a page only once parquet has made it,
//! so the first such page could pass the limit before any store could make
//! room for it. Scanning a batch's value lengths first (its offsets or
//! views, no value bytes) lets a planned writer make that room, or refuse
//! the batch, before parquet allocates anything for it.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef, OffsetSizeTrait, RecordBatch};
use arrow_schema::DataType;

/// For each leaf column of `batch` (in the order parquet numbers them:
/// depth first) holding a value longer than `threshold` bytes, its index
/// and its longest value's length.
pub(crate) fn longer_than(batch: &RecordBatch, threshold: usize) -> Vec<(usize, usize)> {
    let mut walk = Walk {
        threshold,
        leaf: 0,
        long: Vec::new(),
    };
    for column in batch.columns() {
        walk.array(column.as_ref());
    }
    walk.long
}

struct Walk {
    threshold: usize,
    /// The next leaf's index.
    leaf: usize,
    long: Vec<(usize, usize)>,
}

impl Walk {
    fn array(&mut self, array: &dyn Array) {
        match array.data_type() {
            DataType::Struct(_) => {
                for child in array.as_struct_opt().map_or(&[][..], |s| s.columns()) {
                    self.array(child.as_ref());
                }
            }
            DataType::List(_) => self.values(array.as_list_opt::<i32>().map(|a| a.values())),
            DataType::LargeList(_) => self.values(array.as_list_opt::<i64>().map(|a| a.values())),
            DataType::ListView(_) => {
                self.values(array.as_list_view_opt::<i32>().map(|a| a.values()))
            }
            DataType::LargeListView(_) => {
                self.values(array.as_list_view_opt::<i64>().map(|a| a.values()))
            }
            DataType::FixedSizeList(_, _) => {
                self.values(array.as_fixed_size_list_opt().map(|a| a.values()))
            }
            DataType::Map(_, _) => {
                if let Some(map) = array.as_map_opt() {
                    self.array(map.entries());
                }
            }
            _ => {
                let longest = longest(array, self.threshold);
                if longest > self.threshold {
                    self.long.push((self.leaf, longest));
                }
                self.leaf += 1;
            }
        }
    }

    fn values(&mut self, values: Option<&ArrayRef>) {
        if let Some(values) = values {
            self.array(values.as_ref());
        }
    }
}

/// The longest value of a leaf array, or 0 when none can be longer than
/// `threshold` (or it is not a byte array). A dictionary's or a run array's
/// values count whole, referenced or not.
fn longest(array: &dyn Array, threshold: usize) -> usize {
    let values = |values: Option<&ArrayRef>| values.map_or(0, |v| longest(v.as_ref(), threshold));
    match array.data_type() {
        DataType::Utf8 => offsets(
            array.as_string_opt::<i32>().map(|a| a.value_offsets()),
            threshold,
        ),
        DataType::Binary => offsets(
            array.as_binary_opt::<i32>().map(|a| a.value_offsets()),
            threshold,
        ),
        DataType::LargeUtf8 => offsets(
            array.as_string_opt::<i64>().map(|a| a.value_offsets()),
            threshold,
        ),
        DataType::LargeBinary => offsets(
            array.as_binary_opt::<i64>().map(|a| a.value_offsets()),
            threshold,
        ),
        DataType::Utf8View => array.as_string_view_opt().map_or(0, |a| views(a.views())),
        DataType::BinaryView => array.as_binary_view_opt().map_or(0, |a| views(a.views())),
        DataType::FixedSizeBinary(width) => usize::try_from(*width).unwrap_or(0),
        DataType::Dictionary(_, _) => values(array.as_any_dictionary_opt().map(|d| d.values())),
        DataType::RunEndEncoded(ends, _) => match ends.data_type() {
            DataType::Int16 => values(array.as_run_opt::<Int16Type>().map(|r| r.values())),
            DataType::Int32 => values(array.as_run_opt::<Int32Type>().map(|r| r.values())),
            DataType::Int64 => values(array.as_run_opt::<Int64Type>().map(|r| r.values())),
            _ => 0,
        },
        _ => 0,
    }
}

/// The longest value from an offsets buffer; skips the scan when all the
/// values together are no longer than `threshold`.
fn offsets<O: OffsetSizeTrait>(offsets: Option<&[O]>, threshold: usize) -> usize {
    let Some(offsets) = offsets else { return 0 };
    let (Some(first), Some(last)) = (offsets.first(), offsets.last()) else {
        return 0;
    };
    let total = (*last - *first).as_usize();
    if total <= threshold {
        return total;
    }
    offsets
        .windows(2)
        .map(|w| (w[1] - w[0]).as_usize())
        .max()
        .unwrap_or(0)
}

/// The longest value of a view array: a view's low 32 bits are its length.
fn views(views: &[u128]) -> usize {
    views.iter().map(|v| *v as u32 as usize).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{
        ArrayRef, BinaryViewArray, DictionaryArray, Int32Array, LargeBinaryArray, StringArray,
        StructArray,
    };
    use arrow_schema::Field;

    use super::*;

    #[test]
    fn each_leaf_is_numbered_as_parquet_numbers_it() {
        let long = "x".repeat(100);
        let mut list = ListBuilder::new(StringBuilder::new());
        list.values().append_value(&long);
        list.values().append_value("a");
        list.append(true);
        let list = Arc::new(list.finish()) as ArrayRef;
        let inner = StructArray::from(vec![
            (
                Arc::new(Field::new("i", DataType::Int32, false)),
                Arc::new(Int32Array::from(vec![1])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("s", DataType::Utf8, false)),
                Arc::new(StringArray::from(vec!["short"])) as ArrayRef,
            ),
        ]);
        let dictionary: DictionaryArray<Int32Type> = vec![long.as_str()].into_iter().collect();
        let batch = RecordBatch::try_from_iter([
            ("struct", Arc::new(inner) as ArrayRef),
            ("list", list),
            (
                "view",
                Arc::new(BinaryViewArray::from(vec![&[7u8; 60][..]])),
            ),
            ("dict", Arc::new(dictionary) as ArrayRef),
            (
                "large",
                Arc::new(LargeBinaryArray::from(vec![&[1u8; 3][..]])),
            ),
        ])
        .expect("batch");
        // Leaves: struct.i 0, struct.s 1, list.item 2, view 3, dict 4, large 5.
        assert_eq!(longer_than(&batch, 50), vec![(2, 100), (3, 60), (4, 100)]);
        assert_eq!(longer_than(&batch, 60), vec![(2, 100), (4, 100)]);
        assert_eq!(longer_than(&batch, 100), vec![]);
        assert_eq!(
            longer_than(&batch, 2),
            vec![(1, 5), (2, 100), (3, 60), (4, 100), (5, 3)]
        );
    }

    #[test]
    fn a_slice_counts_only_its_own_values() {
        let array = StringArray::from(vec!["x".repeat(100), "ab".into(), "abc".into()]);
        let batch = RecordBatch::try_from_iter([("s", Arc::new(array) as ArrayRef)])
            .expect("batch")
            .slice(1, 2);
        assert_eq!(longer_than(&batch, 4), vec![]);
        assert_eq!(longer_than(&batch, 2), vec![(0, 3)]);
    }
}
