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

use std::sync::Arc;

use arrow_array::types::*;
use arrow_array::*;
use arrow_buffer::{
    i256, ArrowNativeType, BooleanBuffer, Buffer, IntervalDayTime, NullBuffer, OffsetBuffer,
    ScalarBuffer,
};
use arrow_schema::{DataType, Field, Fields, IntervalUnit, Schema, SchemaRef, TimeUnit};

use crate::workloads::SplitMix64;

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
    let mut gen = Gen::new(seed);
    rows.iter().map(|&n| gen.batch(schema, n)).collect()
}

/// Seeded data for a schema.
struct Gen {
    rng: SplitMix64,
    /// Longest string drawn (short while building dictionary values, as
    /// low-cardinality data is: long ones overflow any dictionary limit).
    max_text: usize,
    /// Highest null density of an array, per mille (1000: all-null arrays).
    max_nulls: usize,
}

impl Gen {
    fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64::new(seed),
            max_text: 200,
            max_nulls: 1000,
        }
    }

    fn batch(&mut self, schema: &SchemaRef, rows: usize) -> RecordBatch {
        let columns = schema
            .fields()
            .iter()
            .map(|f| self.array(f.data_type(), f.is_nullable(), rows))
            .collect();
        RecordBatch::try_new(Arc::clone(schema), columns)
            .unwrap_or_else(|e| panic!("generated batch is invalid: {e}"))
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng.below(n as u64) as usize
    }

    /// A validity mask: none if not nullable, else a random null density.
    fn validity(&mut self, nullable: bool, len: usize) -> Option<NullBuffer> {
        if !nullable {
            return None;
        }
        let per_mille = [0, 0, 100, 500, 1000][self.below(5)].min(self.max_nulls);
        if per_mille == 0 {
            return None;
        }
        Some((0..len).map(|_| self.below(1000) >= per_mille).collect())
    }

    /// `len` values from `value`: independent, or (one array in three) picked
    /// from a pool of at most 16, as low-cardinality data is.
    fn values<T: Clone>(
        &mut self,
        len: usize,
        mut value: impl FnMut(&mut SplitMix64) -> T,
    ) -> Vec<T> {
        if self.below(3) == 0 {
            let pool: Vec<T> = (0..1 + self.below(16))
                .map(|_| value(&mut self.rng))
                .collect();
            (0..len)
                .map(|_| pool[self.below(pool.len())].clone())
                .collect()
        } else {
            (0..len).map(|_| value(&mut self.rng)).collect()
        }
    }

    fn primitive<T: ArrowPrimitiveType>(
        &mut self,
        dt: &DataType,
        nullable: bool,
        len: usize,
        value: impl FnMut(&mut SplitMix64) -> T::Native,
    ) -> ArrayRef {
        let values = self.values(len, value);
        let nulls = self.validity(nullable, len);
        Arc::new(PrimitiveArray::<T>::new(values.into(), nulls).with_data_type(dt.clone()))
    }

    /// Alphanumeric byte strings; the maximum length varies per array so
    /// view types get both inline (≤ 12 bytes) and out-of-line values.
    fn byte_strings(&mut self, nullable: bool, len: usize) -> Vec<Option<String>> {
        let max = [0, 4, 12, 40, 200][self.below(5)].min(self.max_text);
        let values = self.values(len, |r| {
            let mut s = String::new();
            let n = r.below(max as u64 + 1) as usize;
            r.push_alnum(&mut s, n);
            s
        });
        let nulls = self.validity(nullable, len);
        with_nulls(values, nulls.as_ref())
    }

    /// Lengths of `len` list slots (0 under a null slot) and the validity.
    fn list_lengths(&mut self, nullable: bool, len: usize) -> (Vec<usize>, Option<NullBuffer>) {
        let nulls = self.validity(nullable, len);
        let max = 1 + self.below(5);
        let lengths = (0..len)
            .map(|i| match &nulls {
                Some(n) if n.is_null(i) => 0,
                _ => self.below(max),
            })
            .collect();
        (lengths, nulls)
    }

    fn array(&mut self, dt: &DataType, nullable: bool, len: usize) -> ArrayRef {
        use DataType::*;
        match dt {
            Boolean => {
                let values = self.values(len, |r| r.below(2) == 1);
                let nulls = self.validity(nullable, len);
                Arc::new(BooleanArray::new(BooleanBuffer::from_iter(values), nulls))
            }
            Int8 => self.primitive::<Int8Type>(dt, nullable, len, |r| r.next_u64() as i8),
            Int16 => self.primitive::<Int16Type>(dt, nullable, len, |r| r.next_u64() as i16),
            Int32 => self.primitive::<Int32Type>(dt, nullable, len, |r| r.next_u64() as i32),
            Int64 => self.primitive::<Int64Type>(dt, nullable, len, |r| r.next_u64() as i64),
            UInt8 => self.primitive::<UInt8Type>(dt, nullable, len, |r| r.next_u64() as u8),
            UInt16 => self.primitive::<UInt16Type>(dt, nullable, len, |r| r.next_u64() as u16),
            UInt32 => self.primitive::<UInt32Type>(dt, nullable, len, |r| r.next_u64() as u32),
            UInt64 => self.primitive::<UInt64Type>(dt, nullable, len, |r| r.next_u64()),
            Float16 => {
                // Finite halves from raw bits, without naming `half::f16`.
                let bits = self.values(len, |r| 0x3C00 + r.below(0x1000) as u16);
                let nulls = self.validity(nullable, len);
                let values = ScalarBuffer::new(Buffer::from_vec(bits), 0, len);
                Arc::new(Float16Array::new(values, nulls))
            }
            Float32 => self.primitive::<Float32Type>(dt, nullable, len, |r| {
                (r.below(2_000_000) as f32 - 1e6) / 7.0
            }),
            Float64 => self.primitive::<Float64Type>(dt, nullable, len, |r| {
                (r.next_u64() as i64) as f64 / 3.0
            }),
            Date32 => self.primitive::<Date32Type>(dt, nullable, len, |r| r.below(40_000) as i32),
            Date64 => self.primitive::<Date64Type>(dt, nullable, len, |r| {
                r.below(40_000) as i64 * 86_400_000
            }),
            Time32(TimeUnit::Second) => {
                self.primitive::<Time32SecondType>(dt, nullable, len, |r| r.below(86_400) as i32)
            }
            Time32(_) => self.primitive::<Time32MillisecondType>(dt, nullable, len, |r| {
                r.below(86_400_000) as i32
            }),
            Time64(TimeUnit::Microsecond) => {
                self.primitive::<Time64MicrosecondType>(dt, nullable, len, |r| {
                    r.below(86_400_000_000) as i64
                })
            }
            Time64(_) => self.primitive::<Time64NanosecondType>(dt, nullable, len, |r| {
                r.below(86_400_000_000_000) as i64
            }),
            Duration(unit) => {
                let value = |r: &mut SplitMix64| r.next_u64() as i64 >> 8;
                match unit {
                    TimeUnit::Second => {
                        self.primitive::<DurationSecondType>(dt, nullable, len, value)
                    }
                    TimeUnit::Millisecond => {
                        self.primitive::<DurationMillisecondType>(dt, nullable, len, value)
                    }
                    TimeUnit::Microsecond => {
                        self.primitive::<DurationMicrosecondType>(dt, nullable, len, value)
                    }
                    TimeUnit::Nanosecond => {
                        self.primitive::<DurationNanosecondType>(dt, nullable, len, value)
                    }
                }
            }
            Timestamp(unit, _) => {
                let value = |r: &mut SplitMix64| r.below(1 << 40) as i64;
                match unit {
                    TimeUnit::Second => {
                        self.primitive::<TimestampSecondType>(dt, nullable, len, value)
                    }
                    TimeUnit::Millisecond => {
                        self.primitive::<TimestampMillisecondType>(dt, nullable, len, value)
                    }
                    TimeUnit::Microsecond => {
                        self.primitive::<TimestampMicrosecondType>(dt, nullable, len, value)
                    }
                    TimeUnit::Nanosecond => {
                        self.primitive::<TimestampNanosecondType>(dt, nullable, len, value)
                    }
                }
            }
            Interval(IntervalUnit::YearMonth) => {
                self.primitive::<IntervalYearMonthType>(dt, nullable, len, |r| {
                    r.below(2400) as i32 - 1200
                })
            }
            Interval(_) => self.primitive::<IntervalDayTimeType>(dt, nullable, len, |r| {
                IntervalDayTime::new(r.below(10_000) as i32, r.below(86_400_000) as i32)
            }),
            Decimal32(p, _) => {
                self.primitive::<Decimal32Type>(dt, nullable, len, |r| decimal(r, *p) as i32)
            }
            Decimal64(p, _) => {
                self.primitive::<Decimal64Type>(dt, nullable, len, |r| decimal(r, *p) as i64)
            }
            Decimal128(p, _) => {
                self.primitive::<Decimal128Type>(dt, nullable, len, |r| decimal(r, *p))
            }
            Decimal256(p, _) => self.primitive::<Decimal256Type>(dt, nullable, len, |r| {
                i256::from_i128(decimal(r, *p))
            }),
            Utf8 => Arc::new(StringArray::from_iter(self.byte_strings(nullable, len))),
            LargeUtf8 => Arc::new(LargeStringArray::from_iter(
                self.byte_strings(nullable, len),
            )),
            Utf8View => Arc::new(StringViewArray::from_iter(self.byte_strings(nullable, len))),
            Binary => Arc::new(BinaryArray::from_iter(self.byte_strings(nullable, len))),
            LargeBinary => Arc::new(LargeBinaryArray::from_iter(
                self.byte_strings(nullable, len),
            )),
            BinaryView => Arc::new(BinaryViewArray::from_iter(self.byte_strings(nullable, len))),
            FixedSizeBinary(size) => {
                let size = *size;
                let values = self.values(len, |r| {
                    let mut s = String::new();
                    r.push_alnum(&mut s, size as usize);
                    s
                });
                let nulls = self.validity(nullable, len);
                let values = with_nulls(values, nulls.as_ref());
                Arc::new(
                    FixedSizeBinaryArray::try_from_sparse_iter_with_size(values.into_iter(), size)
                        .unwrap_or_else(|e| panic!("{e}")),
                )
            }
            Dictionary(key, value) => self.dictionary(key, value, nullable, len),
            List(item) => {
                let (lengths, nulls) = self.list_lengths(nullable, len);
                let total = lengths.iter().sum();
                let values = self.array(item.data_type(), item.is_nullable(), total);
                let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
                Arc::new(ListArray::new(Arc::clone(item), offsets, values, nulls))
            }
            LargeList(item) => {
                let (lengths, nulls) = self.list_lengths(nullable, len);
                let total = lengths.iter().sum();
                let values = self.array(item.data_type(), item.is_nullable(), total);
                let offsets = OffsetBuffer::<i64>::from_lengths(lengths);
                Arc::new(LargeListArray::new(
                    Arc::clone(item),
                    offsets,
                    values,
                    nulls,
                ))
            }
            FixedSizeList(item, size) => {
                let nulls = self.validity(nullable, len);
                let values = self.array(item.data_type(), item.is_nullable(), len * *size as usize);
                Arc::new(FixedSizeListArray::new(
                    Arc::clone(item),
                    *size,
                    values,
                    nulls,
                ))
            }
            Struct(fields) => {
                let nulls = self.validity(nullable, len);
                let children = fields
                    .iter()
                    .map(|f| self.array(f.data_type(), f.is_nullable(), len))
                    .collect();
                Arc::new(StructArray::new(fields.clone(), children, nulls))
            }
            Map(entries, sorted) => {
                let Struct(members) = entries.data_type() else {
                    panic!("map entries are not a struct: {entries}")
                };
                let (lengths, nulls) = self.list_lengths(nullable, len);
                let total = lengths.iter().sum();
                // Keys unique within each map (readers such as DuckDB
                // reject duplicates): all distinct, in fact.
                let columns = members
                    .iter()
                    .enumerate()
                    .map(|(i, f)| match i {
                        0 => distinct(f.data_type(), total),
                        _ => self.array(f.data_type(), f.is_nullable(), total),
                    })
                    .collect();
                let entries_array = StructArray::new(members.clone(), columns, None);
                Arc::new(MapArray::new(
                    Arc::clone(entries),
                    OffsetBuffer::<i32>::from_lengths(lengths),
                    entries_array,
                    nulls,
                    *sorted,
                ))
            }
            other => panic!("the generator does not produce {other}"),
        }
    }

    /// A dictionary of up to 20 non-null values, keys with nulls where allowed.
    fn dictionary(
        &mut self,
        key: &DataType,
        value: &DataType,
        nullable: bool,
        len: usize,
    ) -> ArrayRef {
        let pool = 1 + self.below(20);
        let max_text = std::mem::replace(&mut self.max_text, 12);
        let values = self.array(value, false, pool);
        self.max_text = max_text;
        let keys: Vec<usize> = (0..len).map(|_| self.below(pool)).collect();
        let nulls = self.validity(nullable, len);
        fn dict<K: ArrowDictionaryKeyType>(
            keys: Vec<usize>,
            nulls: Option<NullBuffer>,
            values: ArrayRef,
        ) -> ArrayRef {
            let keys = keys
                .into_iter()
                .map(|k| K::Native::from_usize(k).unwrap_or_else(|| panic!("key {k}")))
                .collect::<Vec<_>>();
            let keys = PrimitiveArray::<K>::new(keys.into(), nulls);
            Arc::new(DictionaryArray::<K>::try_new(keys, values).unwrap_or_else(|e| panic!("{e}")))
        }
        match key {
            DataType::Int8 => dict::<Int8Type>(keys, nulls, values),
            DataType::Int16 => dict::<Int16Type>(keys, nulls, values),
            DataType::Int32 => dict::<Int32Type>(keys, nulls, values),
            DataType::Int64 => dict::<Int64Type>(keys, nulls, values),
            DataType::UInt8 => dict::<UInt8Type>(keys, nulls, values),
            DataType::UInt16 => dict::<UInt16Type>(keys, nulls, values),
            DataType::UInt32 => dict::<UInt32Type>(keys, nulls, values),
            DataType::UInt64 => dict::<UInt64Type>(keys, nulls, values),
            other => panic!("not a dictionary key type: {other}"),
        }
    }
}

/// `len` distinct, non-null values of a map key type.
fn distinct(dt: &DataType, len: usize) -> ArrayRef {
    let n = 0..len;
    match dt {
        DataType::Utf8 => Arc::new(StringArray::from_iter_values(n.map(|i| format!("k{i}")))),
        DataType::LargeUtf8 => Arc::new(LargeStringArray::from_iter_values(
            n.map(|i| format!("k{i}")),
        )),
        DataType::Binary => Arc::new(BinaryArray::from_iter_values(
            n.map(|i| (i as u64).to_le_bytes()),
        )),
        DataType::Int32 => Arc::new(Int32Array::from_iter_values(n.map(|i| i as i32))),
        DataType::Int64 => Arc::new(Int64Array::from_iter_values(n.map(|i| i as i64))),
        DataType::Date32 => Arc::new(Date32Array::from_iter_values(n.map(|i| i as i32))),
        other => panic!("the generator has no distinct map keys of type {other}"),
    }
}

/// `values` with `None` where `nulls` says so.
fn with_nulls<T>(values: Vec<T>, nulls: Option<&NullBuffer>) -> Vec<Option<T>> {
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| nulls.is_none_or(|n| n.is_valid(i)).then_some(v))
        .collect()
}

/// A signed value with at most `precision` decimal digits (38 at most).
fn decimal(r: &mut SplitMix64, precision: u8) -> i128 {
    let limit = 10u128.pow(u32::from(precision.min(38)));
    let magnitude = ((u128::from(r.next_u64()) << 64) | u128::from(r.next_u64())) % limit;
    let value = magnitude as i128;
    if r.below(2) == 0 {
        value
    } else {
        -value
    }
}
