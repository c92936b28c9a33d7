//! View arrays read from Parquet, copied out of the pages they point into.
//!
//! Why: parquet 60.1 decodes a plain-encoded page of `Utf8View` or
//! `BinaryView` values without copying them: every batch cut from the page
//! holds views into the whole decompressed page. So a batch of a few
//! thousand short strings keeps a megabyte page a column alive until the
//! writer has encoded it, and each batch hands the page out as a buffer of
//! its own, counted again for every batch in flight: 8 such columns were
//! refused after reading at 32 MiB, "a batch of 1294 rows holds 5.3 MiB",
//! on a named minimum of 25 MiB (docs/MEMORY.md;
//! `tests/cli/memory.rs::string_views_are_read_within_the_limit`). The
//! plan counts a batch as its rows' own values ([`super::parquet_pages`]);
//! [`compact`] makes it so, copying out the values of a view array that
//! holds more than twice their bytes (arrow's `gc`), and leaving one whose
//! buffers its views use (a dictionary's values, many times over) as it
//! is. Without a limit the batches are left as read: the copies made a
//! conversion of such a file 1.12x slower (`farm-bench`, five pairs,
//! 2026-12-07).

use std::sync::Arc;

use anyhow::Result;
use arrow_array::cast::AsArray;
use arrow_array::types::ByteViewType;
use arrow_array::{make_array, Array, ArrayRef, GenericByteViewArray, RecordBatch};
use arrow_data::ArrayData;
use arrow_schema::{DataType, Schema};

/// Whether any column of `schema` has view arrays, at any depth.
pub fn any(schema: &Schema) -> bool {
    fn has_views(data_type: &DataType) -> bool {
        match data_type {
            DataType::Utf8View | DataType::BinaryView => true,
            DataType::List(f)
            | DataType::LargeList(f)
            | DataType::ListView(f)
            | DataType::LargeListView(f)
            | DataType::FixedSizeList(f, _)
            | DataType::Map(f, _) => has_views(f.data_type()),
            DataType::Struct(fields) => fields.iter().any(|f| has_views(f.data_type())),
            DataType::Union(fields, _) => fields.iter().any(|(_, f)| has_views(f.data_type())),
            DataType::Dictionary(_, values) => has_views(values),
            DataType::RunEndEncoded(_, values) => has_views(values.data_type()),
            _ => false,
        }
    }
    schema.fields().iter().any(|f| has_views(f.data_type()))
}

/// `batch` with every view array's values copied out of buffers that hold
/// more than twice their bytes.
pub fn compact(batch: RecordBatch) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .map(|column| Ok(make_array(compact_data(column.to_data())?)))
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

fn compact_data(data: ArrayData) -> Result<ArrayData> {
    let array = match data.data_type() {
        DataType::Utf8View | DataType::BinaryView => make_array(data),
        _ if data.child_data().is_empty() => return Ok(data),
        _ => {
            let children = data
                .child_data()
                .iter()
                .map(|child| compact_data(child.clone()))
                .collect::<Result<Vec<_>>>()?;
            return Ok(data.into_builder().child_data(children).build()?);
        }
    };
    let copied = match array.data_type() {
        DataType::Utf8View => copied_out(array.as_string_view()),
        _ => copied_out(array.as_binary_view()),
    };
    Ok(copied.unwrap_or(array).to_data())
}

/// `views` with its values copied out of buffers that hold more than twice
/// their bytes; `None` where its views use its buffers.
fn copied_out<T: ByteViewType>(views: &GenericByteViewArray<T>) -> Option<ArrayRef> {
    let held: usize = views.data_buffers().iter().map(|b| b.len()).sum();
    let used = views.total_buffer_bytes_used();
    (held > used.saturating_mul(2)).then(|| Arc::new(views.gc()) as ArrayRef)
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow_array::{ListArray, StringViewArray};
    use arrow_schema::Field;

    /// A slice of a view array over a large buffer is copied out, at any
    /// depth; one whose views use its buffers is left as it is.
    #[test]
    fn views_into_larger_buffers_are_copied_out() {
        let long: Vec<String> = (0..1000).map(|i| format!("{i:0>40}")).collect();
        let whole: ArrayRef = Arc::new(StringViewArray::from_iter_values(&long));
        let few = whole.slice(0, 10);
        let list: ArrayRef = Arc::new(ListArray::new(
            Arc::new(Field::new("item", DataType::Utf8View, true)),
            arrow_buffer::OffsetBuffer::from_lengths([4, 6]),
            Arc::clone(&few),
            None,
        ));
        let held = |a: &ArrayRef| -> usize {
            let buffers = a.as_string_view().data_buffers();
            buffers.iter().map(|b| b.len()).sum()
        };
        let compacted = |column: &ArrayRef| {
            let batch = RecordBatch::try_from_iter([("c", Arc::clone(column))]).unwrap();
            assert!(any(&batch.schema()));
            let after = compact(batch.clone()).unwrap();
            assert_eq!(after, batch);
            Arc::clone(after.column(0))
        };
        assert_eq!(held(&few), held(&whole));
        assert_eq!(held(&compacted(&few)), 10 * 40);
        assert_eq!(held(compacted(&list).as_list::<i32>().values()), 10 * 40);
        assert_eq!(held(&compacted(&whole)), held(&whole));
    }
}
