//! Seeded random Arrow data for any schema the Parquet writer supports, and
//! a fixed schema with every type in it.
//!
//! Why one generator: the conformance matrix, the property tests and the
//! soak test all need data for arbitrary (nested, nullable) schemas; one
//! seeded generator makes every case reproducible from its schema, row
//! counts and seed. Nulls appear only where the type allows them
//! (non-nullable children never hold a null, even under a null parent), with
//! a per-array density of none, some, half or all, and values are sometimes
//! drawn from a small pool so dictionary encoding, fallback and RLE are
//! exercised.

mod gen;

use std::sync::Arc;

use arrow_array::{new_null_array, RecordBatch};
use arrow_schema::{DataType, Field, Fields, IntervalUnit, Schema, SchemaRef, TimeUnit};

use self::gen::Gen;

/// Every leaf type the Parquet writer supports, outside dictionaries.
///
/// ```
/// assert!(parquet_spill::testkit::leaf_types().len() > 50);
/// ```
pub fn leaf_types() -> Vec<DataType> {
    use DataType::*;
    let mut types = vec![
        Boolean,
        Int8,
        Int16,
        Int32,
        Int64,
        UInt8,
        UInt16,
        UInt32,
        UInt64,
        Float16,
        Float32,
        Float64,
        Date32,
        Date64,
        Time32(TimeUnit::Second),
        Time32(TimeUnit::Millisecond),
        Time64(TimeUnit::Microsecond),
        Time64(TimeUnit::Nanosecond),
        Duration(TimeUnit::Second),
        Duration(TimeUnit::Millisecond),
        Duration(TimeUnit::Microsecond),
        Duration(TimeUnit::Nanosecond),
        Interval(IntervalUnit::YearMonth),
        Interval(IntervalUnit::DayTime),
        Utf8,
        LargeUtf8,
        Utf8View,
        Binary,
        LargeBinary,
        BinaryView,
        FixedSizeBinary(1),
        FixedSizeBinary(5),
        FixedSizeBinary(16),
        Decimal32(9, 2),
        Decimal32(4, 0),
        Decimal64(18, 4),
        Decimal64(11, 11),
        Decimal128(38, 10),
        Decimal128(20, 0),
        Decimal128(7, 3),
        Decimal256(76, 20),
        Decimal256(40, 0),
    ];
    for unit in [
        TimeUnit::Second,
        TimeUnit::Millisecond,
        TimeUnit::Microsecond,
        TimeUnit::Nanosecond,
    ] {
        for tz in [None, Some("UTC"), Some("+05:30")] {
            types.push(Timestamp(unit, tz.map(Into::into)));
        }
    }
    types
}

/// The conformance matrix's schema: every primitive, temporal, decimal,
/// string and binary type (all three layouts), dictionaries of four key
/// widths, a list, a large list, a fixed-size list, a struct holding a list,
/// a map, an all-null column and a non-nullable one. Every type here reads
/// back losslessly in pyarrow and DuckDB too (the interop test checks), which
/// [`leaf_types`] as a whole does not promise.
///
/// ```
/// let schema = parquet_spill::testkit::all_types_schema();
/// assert!(schema.fields().len() > 40);
/// assert!(schema.field_with_name("all_null_utf8").is_ok());
/// ```
pub fn all_types_schema() -> SchemaRef {
    use DataType::*;
    let tz = |unit, zone: &str| Timestamp(unit, Some(zone.into()));
    let item = |dt: DataType| Arc::new(Field::new("item", dt, true));
    let dict = |k: DataType, v: DataType| Dictionary(Box::new(k), Box::new(v));
    let entries = Fields::from(vec![
        Field::new("keys", Utf8, false),
        Field::new("values", Int32, true),
    ]);
    let nullable = [
        ("bool", Boolean),
        ("i8", Int8),
        ("i16", Int16),
        ("i32", Int32),
        ("i64", Int64),
        ("u8", UInt8),
        ("u16", UInt16),
        ("u32", UInt32),
        ("u64", UInt64),
        ("f32", Float32),
        ("f64", Float64),
        ("date32", Date32),
        ("date64", Date64),
        ("time32ms", Time32(TimeUnit::Millisecond)),
        ("time64us", Time64(TimeUnit::Microsecond)),
        ("utf8", Utf8),
        ("large_utf8", LargeUtf8),
        ("utf8_view", Utf8View),
        ("binary", Binary),
        ("large_binary", LargeBinary),
        ("binary_view", BinaryView),
        ("time32s", Time32(TimeUnit::Second)),
        ("time64ns", Time64(TimeUnit::Nanosecond)),
        ("duration_s", Duration(TimeUnit::Second)),
        ("duration_ms", Duration(TimeUnit::Millisecond)),
        ("duration_us", Duration(TimeUnit::Microsecond)),
        ("duration_ns", Duration(TimeUnit::Nanosecond)),
        ("interval_ym", Interval(IntervalUnit::YearMonth)),
        ("interval_dt", Interval(IntervalUnit::DayTime)),
        ("f16", Float16),
        ("ts_s", Timestamp(TimeUnit::Second, None)),
        ("ts_ms_utc", tz(TimeUnit::Millisecond, "UTC")),
        ("ts_us_ist", tz(TimeUnit::Microsecond, "+05:30")),
        ("ts_ns_ny", tz(TimeUnit::Nanosecond, "America/New_York")),
        ("fixed_binary16", FixedSizeBinary(16)),
        ("decimal32", Decimal32(9, 2)),
        ("decimal64", Decimal64(18, 4)),
        ("decimal128", Decimal128(38, 10)),
        ("decimal256", Decimal256(76, 20)),
        ("dict_i32_utf8", dict(Int32, Utf8)),
        ("dict_u8_utf8", dict(UInt8, Utf8)),
        ("dict_i16_i64", dict(Int16, Int64)),
        ("dict_i8_large_utf8", dict(Int8, LargeUtf8)),
        ("list_i32", List(item(Int32))),
        ("large_list_utf8", LargeList(item(LargeUtf8))),
        ("fixed_list_f64", FixedSizeList(item(Float64), 3)),
        (
            "struct",
            Struct(Fields::from(vec![
                Field::new("a", Int32, true),
                Field::new("b", Utf8, true),
                Field::new("c", List(item(Int64)), true),
            ])),
        ),
        (
            "map",
            Map(
                Arc::new(Field::new("entries", Struct(entries), false)),
                false,
            ),
        ),
        ("all_null_utf8", Utf8),
    ];
    let mut fields: Vec<Field> = nullable
        .into_iter()
        .map(|(name, dt)| Field::new(name, dt, true))
        .collect();
    fields.push(Field::new("non_null_i64", Int64, false));
    Arc::new(Schema::new(fields))
}

/// `rows` rows of [`all_types_schema`], deterministic in `seed`.
///
/// ```
/// let batch = parquet_spill::testkit::all_types_batch(100, 1);
/// assert_eq!(batch.num_rows(), 100);
/// assert_eq!(batch, parquet_spill::testkit::all_types_batch(100, 1));
/// ```
pub fn all_types_batch(rows: usize, seed: u64) -> RecordBatch {
    // At most half nulls per array, so every column holds values (the
    // all-null case has a column of its own).
    let mut gen = Gen::new(seed);
    gen.max_nulls = 500;
    let batch = gen.batch(&all_types_schema(), rows);
    let schema = batch.schema();
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, column)| match f.name().as_str() {
            "all_null_utf8" => new_null_array(f.data_type(), rows),
            _ => Arc::clone(column),
        })
        .collect();
    RecordBatch::try_new(schema, columns).unwrap_or_else(|e| panic!("all-types batch: {e}"))
}

/// `rows` rows of random data for `schema`, deterministic in `seed`.
///
/// ```
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, true)]));
/// let batch = parquet_spill::testkit::random_batch(&schema, 10, 7);
/// assert_eq!(batch.num_rows(), 10);
/// ```
pub fn random_batch(schema: &SchemaRef, rows: usize, seed: u64) -> RecordBatch {
    Gen::new(seed).batch(schema, rows)
}

/// Several batches of `schema` with the given row counts, from one seed.
///
/// ```
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
/// let batches = parquet_spill::testkit::random_batches(&schema, &[3, 0, 5], 1);
/// assert_eq!(batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [3, 0, 5]);
/// ```
pub fn random_batches(schema: &SchemaRef, rows: &[usize], seed: u64) -> Vec<RecordBatch> {
    batches_of(Gen::new(seed), schema, rows)
}

fn batches_of(mut gen: Gen, schema: &SchemaRef, rows: &[usize]) -> Vec<RecordBatch> {
    rows.iter().map(|&n| gen.batch(schema, n)).collect()
}

/// [`random_batches`] whose lists hold up to `items` values a row (each
/// list array draws its own most, up to `items`; one array in three draws
/// its values from a pool of at most 16): lists whose rows hold many
/// values, few of them distinct.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::cast::AsArray;
/// use arrow_schema::{DataType, Field, Schema};
/// let item = Arc::new(Field::new("item", DataType::Int64, true));
/// let schema = Arc::new(Schema::new(vec![Field::new("l", DataType::List(item), false)]));
/// let batches = parquet_spill::testkit::random_batches_with_lists(&schema, &[100], 3, 1000);
/// let values = batches[0].column(0).as_list::<i32>().values().len();
/// assert!(values > 500, "{values} values in 100 rows");
/// ```
pub fn random_batches_with_lists(
    schema: &SchemaRef,
    rows: &[usize],
    seed: u64,
    items: usize,
) -> Vec<RecordBatch> {
    let mut gen = Gen::new(seed);
    gen.max_items = Some(items.max(1));
    batches_of(gen, schema, rows)
}
