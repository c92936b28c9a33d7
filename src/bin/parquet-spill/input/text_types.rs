//! Column types arrow's text decoders cannot build, read as strings and cast.
//!
//! Why: `--schema` offers every Arrow type, but arrow-csv decodes only
//! numbers, booleans, decimals, dates, times, timestamps, `Utf8`,
//! `Utf8View` and dictionaries of strings — `large_string` and `binary`,
//! both in `--schema`'s own short names, failed at the first row
//! ("Unsupported data type LargeUtf8"). Such a column is decoded as `Utf8`
//! and cast to its type with arrow's cast kernel, which fails on a value it
//! cannot convert (never a silent null). A type neither a decoder nor the
//! cast can make is refused before any work, naming the column. What each
//! decoder can build is asked of the decoder itself (a one-row decode of a
//! null), not kept as a list here, so a newer arrow that decodes more needs
//! no change.

use std::sync::Arc;

use anyhow::{bail, Result};
use arrow_array::RecordBatch;
use arrow_cast::{can_cast_types, cast_with_options, CastOptions};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

use super::Kind;

/// The schema a text decoder reads for `schema`: each column as is where
/// the decoder builds its type, as `Utf8` where only a cast can.
pub fn decoded_schema(kind: Kind, schema: &SchemaRef) -> Result<SchemaRef> {
    let mut changed = false;
    let mut fields = Vec::with_capacity(schema.fields().len());
    // Asked once per type: a wide schema has thousands of columns, few types.
    let mut asked: Vec<(&DataType, bool)> = Vec::new();
    for field in schema.fields() {
        let decoded = match asked.iter().find(|(t, _)| *t == field.data_type()) {
            Some(&(_, decoded)) => decoded,
            None => {
                let decoded = decodes(kind, field.data_type());
                asked.push((field.data_type(), decoded));
                decoded
            }
        };
        if decoded {
            fields.push(Arc::clone(field));
        } else if can_cast_types(&DataType::Utf8, field.data_type()) {
            changed = true;
            fields.push(Arc::new(Field::new(
                field.name(),
                DataType::Utf8,
                field.is_nullable(),
            )));
        } else {
            bail!(
                "column `{}`: {} input cannot be read as {}",
                field.name(),
                kind_name(kind),
                field.data_type()
            );
        }
    }
    Ok(if changed {
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
    } else {
        Arc::clone(schema)
    })
}

/// `batch`, decoded with [`decoded_schema`], with `target`'s types: the
/// columns decoded as strings cast, the others as they are.
pub fn cast_to(batch: RecordBatch, target: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    if batch.schema_ref() == target {
        return Ok(batch);
    }
    // Unsafe casts: a value that does not convert is an error, not a null.
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let columns = batch
        .columns()
        .iter()
        .zip(target.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                cast_with_options(column, field.data_type(), &options)
                    .map_err(|e| ArrowError::CastError(format!("column `{}`: {e}", field.name())))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(target), columns)
}

/// Whether `kind`'s decoder builds `data_type`: it decodes one null of it
/// (in CSV, the empty first field of a row of two: a blank line is no row).
fn decodes(kind: Kind, data_type: &DataType) -> bool {
    let field = |name| Field::new(name, data_type.clone(), true);
    match kind {
        Kind::Csv => {
            let two = Schema::new(vec![field("c"), Field::new("d", DataType::Utf8, true)]);
            let mut decoder = arrow_csv::ReaderBuilder::new(Arc::new(two))
                .with_header(false)
                .build_decoder();
            decoder.decode(b",x\n").is_ok()
                && matches!(decoder.flush(), Ok(Some(batch)) if batch.num_rows() == 1)
        }
        _ => arrow_json::ReaderBuilder::new(Arc::new(Schema::new(vec![field("c")])))
            .build_decoder()
            .is_ok_and(|mut decoder| {
                decoder.decode(b"{\"c\": null}\n").is_ok()
                    && matches!(decoder.flush(), Ok(Some(batch)) if batch.num_rows() == 1)
            }),
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Csv => "CSV",
        _ => "NDJSON",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, BinaryArray, LargeStringArray, StringArray};
    use arrow_schema::IntervalUnit;

    fn schema(types: &[DataType]) -> SchemaRef {
        let fields: Vec<_> = types
            .iter()
            .enumerate()
            .map(|(i, t)| Field::new(format!("c{i}"), t.clone(), true))
            .collect();
        Arc::new(Schema::new(fields))
    }

    #[test]
    fn types_the_csv_decoder_lacks_are_read_as_strings_and_cast() {
        let wanted = schema(&[DataType::Int64, DataType::LargeUtf8, DataType::Binary]);
        let read = decoded_schema(Kind::Csv, &wanted).unwrap();
        let types: Vec<_> = read
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(types, [DataType::Int64, DataType::Utf8, DataType::Utf8]);
        let batch = RecordBatch::try_new(
            read,
            vec![
                Arc::new(arrow_array::Int64Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
                Arc::new(StringArray::from(vec![None, Some("b")])),
            ],
        )
        .unwrap();
        let cast = cast_to(batch, &wanted).unwrap();
        assert_eq!(cast.schema(), wanted);
        let large = cast.column(1).as_any().downcast_ref::<LargeStringArray>();
        assert_eq!(large.unwrap().value(0), "a");
        let binary = cast.column(2).as_any().downcast_ref::<BinaryArray>();
        assert_eq!(binary.unwrap().value(1), b"b");
        assert!(cast.column(2).is_null(0));
    }

    #[test]
    fn a_schema_the_decoder_reads_whole_is_kept() {
        let wanted = schema(&[DataType::Int64, DataType::Utf8, DataType::Date32]);
        assert!(Arc::ptr_eq(
            &decoded_schema(Kind::Csv, &wanted).unwrap(),
            &wanted
        ));
        assert!(Arc::ptr_eq(
            &decoded_schema(Kind::Ndjson, &wanted).unwrap(),
            &wanted
        ));
    }

    #[test]
    fn a_type_neither_decoded_nor_cast_is_refused_naming_the_column() {
        let fields = vec![Field::new("a", DataType::Int32, true)];
        let nested = DataType::Struct(fields.into());
        let err = decoded_schema(Kind::Csv, &schema(&[DataType::Int8, nested]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("column `c1`: CSV input cannot be read as Struct"),
            "{err}"
        );
    }

    #[test]
    fn a_value_the_cast_cannot_convert_is_an_error_not_a_null() {
        let wanted = schema(&[DataType::Interval(IntervalUnit::MonthDayNano)]);
        let read = decoded_schema(Kind::Csv, &wanted).unwrap();
        assert_eq!(read.field(0).data_type(), &DataType::Utf8);
        let strings = StringArray::from(vec![Some("1 day"), None, Some("not an interval")]);
        let batch = RecordBatch::try_new(Arc::clone(&read), vec![Arc::new(strings)]).unwrap();
        let err = cast_to(batch, &wanted).unwrap_err().to_string();
        assert!(err.contains("column `c0`"), "{err}");
        let good = StringArray::from(vec![Some("1 day"), None]);
        let batch = RecordBatch::try_new(read, vec![Arc::new(good)]).unwrap();
        let cast = cast_to(batch, &wanted).unwrap();
        assert_eq!((cast.column(0).null_count(), cast.num_rows()), (1, 2));
    }
}
