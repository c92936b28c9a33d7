//! The generator: seeded random arrays for any type the Parquet writer
//! supports, nested and nullable.

use std::sync::Arc;

use arrow_array::types::*;
use arrow_array::*;
use arrow_buffer::{
    i256, ArrowNativeType, BooleanBuffer, Buffer, IntervalDayTime, NullBuffer, OffsetBuffer,
    ScalarBuffer,
};
use arrow_schema::{DataType, IntervalUnit, SchemaRef, TimeUnit};

use crate::workloads::SplitMix64;

/// Seeded data for a schema.
pub(super) struct Gen {
    rng: SplitMix64,
    /// Longest string drawn (short while building dictionary values, as
    /// low-cardinality data is: long ones overflow any dictionary limit).
    max_text: usize,
    /// Highest null density of an array, per mille (1000: all-null arrays).
    pub(super) max_nulls: usize,
    /// Lists of up to this many values a row, where set: each list array
    /// draws its own most, up to this (else up to five values a row).
    pub(super) max_items: Option<usize>,
}

impl Gen {
    pub(super) fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64::new(seed),
            max_text: 200,
            max_nulls: 1000,
            max_items: None,
        }
    }

    pub(super) fn batch(&mut self, schema: &SchemaRef, rows: usize) -> RecordBatch {
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
        let max = 1 + self.below(self.max_items.unwrap_or(5));
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
