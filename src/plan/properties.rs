//! Writer properties parquet cannot write with, refused before planning.
//!
//! Why: parquet 60.1 unwraps the encoder and the codec it makes for each
//! column (`GenericColumnWriter::new`), so an encoding a column's type does
//! not take (`DELTA_LENGTH_BYTE_ARRAY` on an `Int64`) or a codec it does
//! not have (LZO) panics when the writer is made, not an error. A review
//! found a plan accepted such properties and the writer then panicked.

use parquet::basic::{Compression, Encoding, Type as PhysicalType};
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::SchemaDescriptor;

/// Check that parquet can write every column of `schema` with `props`: the
/// encoding set for it takes its type, and its codec is one parquet has.
///
/// ```
/// use parquet::basic::{Encoding, Type};
/// use parquet::file::properties::WriterProperties;
/// use parquet::schema::{parser::parse_message_type, types::SchemaDescriptor};
/// use std::sync::Arc;
///
/// let schema = parse_message_type("message m { required int64 id; required binary s; }")?;
/// let schema = SchemaDescriptor::new(Arc::new(schema));
/// let delta = WriterProperties::builder()
///     .set_encoding(Encoding::DELTA_LENGTH_BYTE_ARRAY)
///     .set_dictionary_enabled(false)
///     .build();
/// let refused = parquet_spill::plan::check_properties(&schema, &delta).unwrap_err();
/// assert!(refused.to_string().contains("column id"), "{refused}");
/// assert!(parquet_spill::plan::check_properties(&schema, &WriterProperties::default()).is_ok());
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
///
/// # Errors
///
/// A `ParquetError` naming the column and what parquet does not have.
pub fn check_properties(schema: &SchemaDescriptor, props: &WriterProperties) -> Result<()> {
    for column in schema.columns() {
        let (path, physical) = (column.path(), column.physical_type());
        let name = path.string();
        if let Some(encoding) = props.encoding(path).filter(|&e| !takes(e, physical)) {
            return Err(ParquetError::General(format!(
                "column {name}: parquet has no {encoding} encoder for {physical} values; set \
                 one it has for the column, or leave parquet's default"
            )));
        }
        if props.compression(path) == Compression::LZO {
            return Err(ParquetError::General(format!(
                "column {name}: parquet has no LZO codec; choose another"
            )));
        }
    }
    Ok(())
}

/// Whether parquet 60.1 has an `encoding` encoder for `physical` values
/// (`get_encoder`, and the Arrow writer's own for byte arrays).
fn takes(encoding: Encoding, physical: PhysicalType) -> bool {
    use PhysicalType as T;
    match encoding {
        Encoding::PLAIN => true,
        Encoding::RLE => physical == T::BOOLEAN,
        Encoding::DELTA_BINARY_PACKED => matches!(physical, T::INT32 | T::INT64),
        Encoding::DELTA_LENGTH_BYTE_ARRAY => physical == T::BYTE_ARRAY,
        Encoding::DELTA_BYTE_ARRAY => matches!(physical, T::BYTE_ARRAY | T::FIXED_LEN_BYTE_ARRAY),
        Encoding::BYTE_STREAM_SPLIT => !matches!(physical, T::BOOLEAN | T::INT96 | T::BYTE_ARRAY),
        Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY => false,
        #[allow(deprecated)]
        Encoding::BIT_PACKED => false,
        // `ALP` (parquet 60, not 59: named by its name) takes floats only;
        // encodings to come, parquet decides.
        other => format!("{other:?}") != "ALP" || matches!(physical, T::FLOAT | T::DOUBLE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;

    /// Whether parquet's Arrow writer writes `batch` with `props` (not an
    /// error, not a panic).
    fn writes(batch: &RecordBatch, props: WriterProperties) -> bool {
        let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props)).ok()?;
            writer.write(batch).ok()?;
            writer.close().ok()
        }));
        matches!(written, Ok(Some(_)))
    }

    /// Every encoding [`takes`] accepts for a type, parquet's Arrow writer
    /// writes; every one it refuses, parquet's writer refuses too (by a
    /// panic, caught here), for each physical type the Arrow writer makes.
    #[test]
    fn takes_agrees_with_parquet() {
        let fsb = arrow_array::FixedSizeBinaryArray::try_from_iter([[1u8, 2], [3, 4]].iter());
        let columns: [(&str, ArrayRef); 6] = [
            ("b", Arc::new(BooleanArray::from(vec![true, false]))),
            ("i", Arc::new(Int64Array::from(vec![1, 2]))),
            ("i32", Arc::new(arrow_array::Int32Array::from(vec![1, 2]))),
            ("fsb", Arc::new(fsb.unwrap())),
            (
                "f",
                Arc::new(arrow_array::Float64Array::from(vec![1.0, 2.0])),
            ),
            ("s", Arc::new(StringArray::from(vec!["a", "b"]))),
        ];
        #[allow(deprecated)]
        let encodings = [
            Encoding::PLAIN,
            Encoding::RLE,
            Encoding::DELTA_BINARY_PACKED,
            Encoding::DELTA_LENGTH_BYTE_ARRAY,
            Encoding::DELTA_BYTE_ARRAY,
            Encoding::BYTE_STREAM_SPLIT,
            Encoding::BIT_PACKED,
        ];
        for (name, array) in columns {
            let batch = RecordBatch::try_from_iter([(name, array)]).unwrap();
            for encoding in encodings {
                let props = WriterProperties::builder()
                    .set_dictionary_enabled(false)
                    .set_encoding(encoding)
                    .build();
                let schema = parquet::arrow::ArrowSchemaConverter::new()
                    .convert(&batch.schema())
                    .unwrap();
                let accepted = check_properties(&schema, &props).is_ok();
                assert_eq!(accepted, writes(&batch, props), "{name} with {encoding}");
            }
        }
    }

    /// A plan refuses them with an error, before any writer panics.
    #[test]
    fn a_plan_refuses_them() {
        let schema = arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "id",
            arrow_schema::DataType::Int64,
            false,
        )]);
        let props = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_encoding(Encoding::DELTA_LENGTH_BYTE_ARRAY)
            .build();
        let refused = crate::SpillOptions::new(32 << 20)
            .properties(props)
            .plan(&schema)
            .unwrap_err();
        assert!(matches!(refused, crate::Error::Properties(_)), "{refused}");
        assert!(refused.to_string().contains("column id"), "{refused}");

        // LZO: parquet's writer cannot be made with it either.
        let lzo = WriterProperties::builder()
            .set_compression(Compression::LZO)
            .build();
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let batch = RecordBatch::try_from_iter([("id", ids)]).unwrap();
        assert!(!writes(&batch, lzo.clone()));
        let refused = crate::SpillOptions::new(32 << 20)
            .properties(lzo)
            .plan(&schema)
            .unwrap_err();
        assert!(refused.to_string().contains("no LZO codec"), "{refused}");
    }
}
