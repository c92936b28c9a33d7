//! Random Arrow schemas, data and writer properties, shared by the property
//! tests (`tests/proptest_stores.rs`) and the soak test (`tests/soak.rs`).
//!
//! Why one generator: the conformance matrix covers the shapes someone
//! thought of; a store bug that depends on an unusual mix (a map of
//! fixed-size lists under a nullable struct with 64-byte pages and LZ4) is
//! found by drawing shapes at random. Schemas and settings are proptest
//! strategies, so a failing case shrinks to a small schema; the data is
//! generated from a seed by [`SplitMix64`], so a case's `Debug` output
//! (schema, row counts, seed) is all it takes to reproduce it.
//!
//! What is generated: primitives (every integer width, floats incl. `Float16`,
//! dates, times, durations, intervals, timestamps with and without time
//! zone), decimals of all four widths, strings and binaries in all three
//! layouts, fixed-size binaries, dictionaries, and — nested up to depth 3 —
//! lists, large lists, fixed-size lists, structs and maps. Every field is
//! randomly nullable or not; nulls appear only where the type allows them
//! (non-nullable children never hold a null, even under a null parent), with
//! a per-array density of none, some, half or all. Values are sometimes drawn
//! from a small pool so dictionary encoding, fallback and RLE are exercised.
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

#[cfg(feature = "object_store")]
pub mod counting_store;
#[cfg(feature = "object_store")]
pub mod s3_server;

use std::fmt;
use std::sync::Arc;

use arrow_array::types::*;
use arrow_array::*;
use arrow_buffer::{
    i256, ArrowNativeType, BooleanBuffer, Buffer, IntervalDayTime, NullBuffer, OffsetBuffer,
    ScalarBuffer,
};
use arrow_schema::{DataType, Field, Fields, IntervalUnit, Schema, SchemaRef, TimeUnit};
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet_spill::testkit::workloads::SplitMix64;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// Leaf types the Parquet writer supports, outside dictionaries.
fn leaf_types() -> Vec<DataType> {
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

/// Dictionary-encoded leaves: every key width, common value types.
fn dictionary_type() -> impl Strategy<Value = DataType> {
    use DataType::*;
    let keys = select(vec![
        Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32, UInt64,
    ]);
    let values = select(vec![Utf8, LargeUtf8, Binary, LargeBinary, Int32, Int64]);
    (keys, values).prop_map(|(k, v)| Dictionary(Box::new(k), Box::new(v)))
}

/// Map keys: non-null primitives or strings.
fn map_key_type() -> impl Strategy<Value = DataType> {
    use DataType::*;
    select(vec![Utf8, LargeUtf8, Int32, Int64, Binary, Date32])
}

/// Any supported Arrow type, nested at most 3 levels deep.
pub fn data_type() -> BoxedStrategy<DataType> {
    let leaf = prop_oneof![6 => select(leaf_types()), 1 => dictionary_type()];
    leaf.prop_recursive(3, 12, 3, |inner| {
        let item = (inner.clone(), any::<bool>())
            .prop_map(|(dt, nullable)| Arc::new(Field::new("item", dt, nullable)));
        let members = proptest::collection::vec((inner.clone(), any::<bool>()), 1..=3);
        prop_oneof![
            item.clone().prop_map(DataType::List),
            item.clone().prop_map(DataType::LargeList),
            (item, 1..=3i32).prop_map(|(f, n)| DataType::FixedSizeList(f, n)),
            members.prop_map(|m| DataType::Struct(named(m, "f"))),
            (map_key_type(), inner, any::<bool>()).prop_map(|(k, v, nullable)| {
                let entries = Fields::from(vec![
                    Field::new("keys", k, false),
                    Field::new("values", v, nullable),
                ]);
                let entries = Field::new("entries", DataType::Struct(entries), false);
                DataType::Map(Arc::new(entries), false)
            }),
        ]
    })
    .boxed()
}

fn named(members: Vec<(DataType, bool)>, prefix: &str) -> Fields {
    members
        .into_iter()
        .enumerate()
        .map(|(i, (dt, nullable))| Field::new(format!("{prefix}{i}"), dt, nullable))
        .collect()
}

/// A schema of 1 to 5 top-level columns.
pub fn schema() -> impl Strategy<Value = SchemaRef> {
    proptest::collection::vec((data_type(), any::<bool>()), 1..=5)
        .prop_map(|columns| Arc::new(Schema::new(named(columns, "c"))))
}

/// What to write: a schema, the row count of each batch and the data seed.
#[derive(Clone)]
pub struct Input {
    pub schema: SchemaRef,
    pub batch_rows: Vec<usize>,
    pub seed: u64,
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns: Vec<_> = self
            .schema
            .fields()
            .iter()
            .map(|c| {
                format!(
                    "{}: {} (nullable: {})",
                    c.name(),
                    c.data_type(),
                    c.is_nullable()
                )
            })
            .collect();
        f.debug_struct("Input")
            .field("columns", &columns)
            .field("batch_rows", &self.batch_rows)
            .field("seed", &self.seed)
            .finish()
    }
}

impl Input {
    /// The batches, the same on every call.
    pub fn batches(&self) -> Vec<RecordBatch> {
        let mut gen = Gen {
            rng: SplitMix64::new(self.seed),
        };
        self.batch_rows
            .iter()
            .map(|&rows| gen.batch(&self.schema, rows))
            .collect()
    }

    pub fn rows(&self) -> usize {
        self.batch_rows.iter().sum()
    }
}

/// 1 to 3 batches of up to `max_rows` rows each, empty and tiny batches
/// drawn more often than their share (edge cases live there).
pub fn input(max_rows: usize) -> impl Strategy<Value = Input> {
    let rows = prop_oneof![
        1 => Just(0usize),
        1 => 1..=16usize,
        6 => 0..=max_rows,
    ];
    (
        schema(),
        proptest::collection::vec(rows, 1..=3),
        any::<u64>(),
    )
        .prop_map(|(schema, batch_rows, seed)| Input {
            schema,
            batch_rows,
            seed,
        })
}

/// Writer properties worth varying for a page store: page and row-group
/// boundaries decide how many blobs there are and how big.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_page_size: usize,
    pub page_row_limit: usize,
    pub write_batch_size: usize,
    pub dictionary: bool,
    pub dictionary_page_size: usize,
    pub statistics: EnabledStatistics,
    pub writer_version: WriterVersion,
    pub compression: Compression,
    pub max_row_group_rows: Option<usize>,
    pub bloom_filter: bool,
}

impl Settings {
    pub fn properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_data_page_size_limit(self.data_page_size)
            .set_data_page_row_count_limit(self.page_row_limit)
            .set_write_batch_size(self.write_batch_size)
            .set_dictionary_enabled(self.dictionary)
            .set_dictionary_page_size_limit(self.dictionary_page_size)
            .set_statistics_enabled(self.statistics)
            .set_writer_version(self.writer_version)
            .set_compression(self.compression)
            .set_max_row_group_row_count(self.max_row_group_rows)
            .set_bloom_filter_enabled(self.bloom_filter)
            .build()
    }
}

pub fn settings() -> impl Strategy<Value = Settings> {
    (
        select(vec![1024 * 1024, 64, 512, 4096, 64 * 1024]),
        select(vec![20_000, 1, 50, 1000]),
        select(vec![1024, 1, 7, 64, 8192]),
        any::<bool>(),
        select(vec![1024 * 1024, 256, 4096]),
        select(vec![
            EnabledStatistics::Page,
            EnabledStatistics::None,
            EnabledStatistics::Chunk,
        ]),
        select(vec![WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0]),
        select(parquet_spill::testkit::codecs().to_vec()),
        prop_oneof![Just(None), (1..=5000usize).prop_map(Some)],
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(
                data_page_size,
                page_row_limit,
                write_batch_size,
                dictionary,
                dictionary_page_size,
                statistics,
                writer_version,
                compression,
                max_row_group_rows,
                bloom_filter,
            )| Settings {
                data_page_size,
                page_row_limit,
                write_batch_size,
                dictionary,
                dictionary_page_size,
                statistics,
                writer_version,
                compression,
                max_row_group_rows,
                bloom_filter,
            },
        )
}

/// One value of `strategy`, determined by `seed` (for tests that draw cases
/// themselves instead of running them under proptest).
pub fn draw<S: Strategy>(strategy: &S, seed: u64) -> S::Value {
    let mut runner = TestRunner::new(Config {
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    });
    strategy
        .new_tree(&mut runner)
        .unwrap_or_else(|e| panic!("cannot draw a value: {e}"))
        .current()
}

/// Seeded data for a schema.
struct Gen {
    rng: SplitMix64,
}

impl Gen {
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
        let per_mille = [0, 0, 100, 500, 1000][self.below(5)];
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
        let max = [0, 4, 12, 40, 200][self.below(5)];
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
                let columns = members
                    .iter()
                    .map(|f| self.array(f.data_type(), f.is_nullable(), total))
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
        let values = self.array(value, false, pool);
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
