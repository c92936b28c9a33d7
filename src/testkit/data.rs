//! One record batch with every Arrow type the Parquet writer supports, nulls at
//! every nesting level, for the conformance matrix.

use std::sync::Arc;

use arrow_array::builder::{
    FixedSizeListBuilder, Float64Builder, Int32Builder, Int64Builder, LargeListBuilder,
    LargeStringBuilder, ListBuilder, MapBuilder, StringBuilder,
};
use arrow_array::types::{Int16Type, Int32Type, Int8Type, UInt8Type};
use arrow_array::*;
use arrow_buffer::{i256, NullBuffer};
use arrow_schema::{DataType, Field, Fields};

use super::workloads::SplitMix64;

/// Where nulls go: about one value in seven.
fn maybe<T>(rng: &mut SplitMix64, v: T) -> Option<T> {
    (rng.below(7) != 0).then_some(v)
}

fn text(rng: &mut SplitMix64, max: usize) -> String {
    let mut s = String::new();
    let len = rng.below(max as u64 + 1) as usize;
    rng.push_alnum(&mut s, len);
    s
}

/// A batch of `rows` rows covering primitives, strings and binaries in all three
/// layouts, decimals, dates, times, timestamps with and without time zones,
/// dictionaries, lists, large lists, fixed-size lists, structs and maps, with
/// nulls at every level. Deterministic in `seed`.
///
/// ```
/// let batch = parquet_spill::testkit::all_types_batch(100, 1);
/// assert_eq!(batch.num_rows(), 100);
/// assert!(batch.num_columns() > 30);
/// ```
pub fn all_types_batch(rows: usize, seed: u64) -> RecordBatch {
    let mut r = SplitMix64::new(seed);
    let rng = &mut r;
    let mut cols: Vec<(&str, ArrayRef)> = Vec::new();
    macro_rules! prim {
        ($name:literal, $arr:ty, $e:expr) => {{
            let a: $arr = (0..rows)
                .map(|i| {
                    let v = $e(i, &mut *rng);
                    maybe(rng, v)
                })
                .collect();
            cols.push(($name, Arc::new(a)));
        }};
    }
    prim!("bool", BooleanArray, |_, r: &mut SplitMix64| r.below(2)
        == 1);
    prim!("i8", Int8Array, |_, r: &mut SplitMix64| r.next_u64() as i8);
    prim!("i16", Int16Array, |_, r: &mut SplitMix64| r.next_u64()
        as i16);
    prim!("i32", Int32Array, |_, r: &mut SplitMix64| r.next_u64()
        as i32);
    prim!("i64", Int64Array, |_, r: &mut SplitMix64| r.next_u64()
        as i64);
    prim!("u8", UInt8Array, |_, r: &mut SplitMix64| r.next_u64() as u8);
    prim!("u16", UInt16Array, |_, r: &mut SplitMix64| r.next_u64()
        as u16);
    prim!("u32", UInt32Array, |_, r: &mut SplitMix64| r.next_u64()
        as u32);
    prim!("u64", UInt64Array, |_, r: &mut SplitMix64| r.next_u64());
    prim!(
        "f32",
        Float32Array,
        |_, r: &mut SplitMix64| (r.next_u64() % 100_000) as f32 / 7.0
    );
    prim!(
        "f64",
        Float64Array,
        |_, r: &mut SplitMix64| (r.next_u64() as i64) as f64 / 3.0
    );
    prim!(
        "date32",
        Date32Array,
        |_, r: &mut SplitMix64| r.below(40_000) as i32
    );
    prim!(
        "date64",
        Date64Array,
        |_, r: &mut SplitMix64| r.below(40_000) as i64 * 86_400_000
    );
    prim!(
        "time32ms",
        Time32MillisecondArray,
        |_, r: &mut SplitMix64| r.below(86_400_000) as i32
    );
    prim!(
        "time64us",
        Time64MicrosecondArray,
        |_, r: &mut SplitMix64| r.below(86_400_000_000) as i64
    );
    prim!("utf8", StringArray, |_, r: &mut SplitMix64| text(r, 30));
    prim!(
        "large_utf8",
        LargeStringArray,
        |_, r: &mut SplitMix64| text(r, 30)
    );
    prim!("utf8_view", StringViewArray, |_, r: &mut SplitMix64| text(
        r, 40
    ));
    prim!("binary", BinaryArray, |_, r: &mut SplitMix64| text(r, 20)
        .into_bytes());
    prim!("large_binary", LargeBinaryArray, |_, r: &mut SplitMix64| {
        text(r, 20).into_bytes()
    });
    prim!("binary_view", BinaryViewArray, |_, r: &mut SplitMix64| {
        text(r, 40).into_bytes()
    });

    prim!(
        "time32s",
        Time32SecondArray,
        |_, r: &mut SplitMix64| r.below(86_400) as i32
    );
    prim!(
        "time64ns",
        Time64NanosecondArray,
        |_, r: &mut SplitMix64| r.below(86_400_000_000_000) as i64
    );
    prim!(
        "duration_s",
        DurationSecondArray,
        |_, r: &mut SplitMix64| r.next_u64() as i64 >> 20
    );
    prim!(
        "duration_ms",
        DurationMillisecondArray,
        |_, r: &mut SplitMix64| r.next_u64() as i64 >> 12
    );
    prim!(
        "duration_us",
        DurationMicrosecondArray,
        |_, r: &mut SplitMix64| r.next_u64() as i64 >> 8
    );
    prim!(
        "duration_ns",
        DurationNanosecondArray,
        |_, r: &mut SplitMix64| r.next_u64() as i64
    );
    prim!(
        "interval_ym",
        IntervalYearMonthArray,
        |_, r: &mut SplitMix64| r.below(2400) as i32 - 1200
    );
    prim!(
        "interval_dt",
        IntervalDayTimeArray,
        |_, r: &mut SplitMix64| {
            arrow_buffer::IntervalDayTime::new(r.below(10_000) as i32, r.below(86_400_000) as i32)
        }
    );
    // Float16 without naming `half::f16`: build the buffer from raw bits.
    let halves: Vec<u16> = (0..rows)
        .map(|_| 0x3C00 + (rng.below(0x1000) as u16))
        .collect();
    let valid: Vec<bool> = (0..rows).map(|_| rng.below(7) != 0).collect();
    cols.push((
        "f16",
        Arc::new(Float16Array::new(
            arrow_buffer::ScalarBuffer::new(arrow_buffer::Buffer::from_vec(halves), 0, rows),
            Some(NullBuffer::from(valid)),
        )),
    ));

    let ts = |rng: &mut SplitMix64| -> Vec<Option<i64>> {
        (0..rows)
            .map(|_| {
                let v = rng.below(1 << 40) as i64;
                maybe(rng, v)
            })
            .collect()
    };
    cols.push(("ts_s", Arc::new(TimestampSecondArray::from(ts(rng)))));
    cols.push((
        "ts_ms_utc",
        Arc::new(TimestampMillisecondArray::from(ts(rng)).with_timezone("UTC")),
    ));
    cols.push((
        "ts_us_ist",
        Arc::new(TimestampMicrosecondArray::from(ts(rng)).with_timezone("+05:30")),
    ));
    cols.push((
        "ts_ns_ny",
        Arc::new(TimestampNanosecondArray::from(ts(rng)).with_timezone("America/New_York")),
    ));

    let fsb: Vec<Option<[u8; 16]>> = (0..rows)
        .map(|_| {
            let v = rng.next_u64().to_le_bytes();
            maybe(rng, [v, v].concat().try_into().unwrap_or([0; 16]))
        })
        .collect();
    cols.push((
        "fixed_binary16",
        Arc::new(
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(fsb.into_iter(), 16)
                .unwrap_or_else(|e| unreachable!("{e}")),
        ),
    ));
    let d32: Decimal32Array = (0..rows)
        .map(|_| {
            let v = rng.below(1_000_000) as i32 - 500_000;
            maybe(rng, v)
        })
        .collect();
    cols.push((
        "decimal32",
        Arc::new(
            d32.with_precision_and_scale(9, 2)
                .unwrap_or_else(|e| unreachable!("{e}")),
        ),
    ));
    let d64: Decimal64Array = (0..rows)
        .map(|_| {
            let v = (rng.next_u64() >> 8) as i64;
            maybe(rng, v)
        })
        .collect();
    cols.push((
        "decimal64",
        Arc::new(
            d64.with_precision_and_scale(18, 4)
                .unwrap_or_else(|e| unreachable!("{e}")),
        ),
    ));
    let d128: Decimal128Array = (0..rows)
        .map(|_| {
            let v = (rng.next_u64() as i128) << 20;
            maybe(rng, v)
        })
        .collect();
    cols.push((
        "decimal128",
        Arc::new(
            d128.with_precision_and_scale(38, 10)
                .unwrap_or_else(|e| unreachable!("{e}")),
        ),
    ));
    let d256: Decimal256Array = (0..rows)
        .map(|_| {
            let v = i256::from_i128((rng.next_u64() as i128) << 40);
            maybe(rng, v)
        })
        .collect();
    cols.push((
        "decimal256",
        Arc::new(
            d256.with_precision_and_scale(76, 20)
                .unwrap_or_else(|e| unreachable!("{e}")),
        ),
    ));

    let words = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let dict: DictionaryArray<Int32Type> = (0..rows)
        .map(|_| {
            let w = words[rng.below(5) as usize];
            maybe(rng, w)
        })
        .collect();
    cols.push(("dict_i32_utf8", Arc::new(dict)));
    let dict8: DictionaryArray<UInt8Type> = (0..rows)
        .map(|_| {
            let w = words[rng.below(3) as usize];
            maybe(rng, w)
        })
        .collect();
    cols.push(("dict_u8_utf8", Arc::new(dict8)));
    let keys: Int16Array = (0..rows)
        .map(|_| {
            let k = rng.below(4) as i16;
            maybe(rng, k)
        })
        .collect();
    let values = Arc::new(Int64Array::from(vec![10, -20, 30_000_000_000, 40]));
    cols.push((
        "dict_i16_i64",
        Arc::new(
            DictionaryArray::<Int16Type>::try_new(keys, values)
                .unwrap_or_else(|e| unreachable!("{e}")),
        ),
    ));
    let keys8: Int8Array = (0..rows)
        .map(|_| {
            let k = rng.below(3) as i8;
            maybe(rng, k)
        })
        .collect();
    let lvalues = Arc::new(LargeStringArray::from(vec!["x", "yy", "zzz"]));
    cols.push((
        "dict_i8_large_utf8",
        Arc::new(
            DictionaryArray::<Int8Type>::try_new(keys8, lvalues)
                .unwrap_or_else(|e| unreachable!("{e}")),
        ),
    ));

    // list<int32>: null lists, empty lists, null elements.
    let mut list = ListBuilder::new(Int32Builder::new());
    for _ in 0..rows {
        match rng.below(8) {
            0 => list.append_null(),
            1 => list.append(true),
            _ => {
                for _ in 0..rng.below(5) {
                    let v = rng.next_u64() as i32;
                    list.values().append_option(maybe(rng, v));
                }
                list.append(true);
            }
        }
    }
    cols.push(("list_i32", Arc::new(list.finish())));

    // large_list<large_utf8>
    let mut llist = LargeListBuilder::new(LargeStringBuilder::new());
    for _ in 0..rows {
        if rng.below(6) == 0 {
            llist.append_null();
            continue;
        }
        for _ in 0..rng.below(4) {
            let v = text(rng, 12);
            llist.values().append_option(maybe(rng, v));
        }
        llist.append(true);
    }
    cols.push(("large_list_utf8", Arc::new(llist.finish())));

    // fixed_size_list<float64, 3>
    let mut fsl = FixedSizeListBuilder::new(Float64Builder::new(), 3);
    for _ in 0..rows {
        let valid = rng.below(6) != 0;
        for _ in 0..3 {
            let v = rng.below(1000) as f64 / 8.0;
            fsl.values()
                .append_option(if valid { maybe(rng, v) } else { None });
        }
        fsl.append(valid);
    }
    cols.push(("fixed_list_f64", Arc::new(fsl.finish())));

    // struct<a: int32, b: utf8, c: list<int64>> with nulls at the struct and field level.
    let struct_valid: Vec<bool> = (0..rows).map(|_| rng.below(6) != 0).collect();
    let a: Int32Array = struct_valid
        .iter()
        .map(|&ok| {
            let v = rng.next_u64() as i32;
            if ok {
                maybe(rng, v)
            } else {
                None
            }
        })
        .collect();
    let b: StringArray = struct_valid
        .iter()
        .map(|&ok| {
            let v = text(rng, 10);
            if ok {
                maybe(rng, v)
            } else {
                None
            }
        })
        .collect();
    let mut c = ListBuilder::new(Int64Builder::new());
    for &ok in &struct_valid {
        if !ok || rng.below(5) == 0 {
            c.append_null();
            continue;
        }
        for _ in 0..rng.below(3) {
            let v = rng.next_u64() as i64;
            c.values().append_option(maybe(rng, v));
        }
        c.append(true);
    }
    let c = c.finish();
    let fields = Fields::from(vec![
        Field::new("a", DataType::Int32, true),
        Field::new("b", DataType::Utf8, true),
        Field::new("c", c.data_type().clone(), true),
    ]);
    let strukt = StructArray::try_new(
        fields,
        vec![Arc::new(a), Arc::new(b), Arc::new(c)],
        Some(NullBuffer::from(struct_valid)),
    )
    .unwrap_or_else(|e| unreachable!("{e}"));
    cols.push(("struct", Arc::new(strukt)));

    // map<utf8, int32>: null maps, empty maps, null values.
    let mut map = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
    for _ in 0..rows {
        if rng.below(7) == 0 {
            let _ = map.append(false);
            continue;
        }
        for k in 0..rng.below(4) {
            map.keys().append_value(format!("key{k}"));
            let v = rng.next_u64() as i32;
            map.values().append_option(maybe(rng, v));
        }
        // Keys and values were appended in step, so this cannot fail.
        let _ = map.append(true);
    }
    cols.push(("map", Arc::new(map.finish())));

    // An all-null column.
    cols.push((
        "all_null_utf8",
        Arc::new(StringArray::from(vec![None::<&str>; rows])),
    ));

    // Non-nullable columns of each shape: the writer takes other code paths.
    let nn: Int64Array = (0..rows).map(|_| rng.next_u64() as i64).collect();
    let fields: Vec<(&str, ArrayRef, bool)> = cols
        .into_iter()
        .map(|(n, a)| (n, a, true))
        .chain(std::iter::once((
            "non_null_i64",
            Arc::new(nn) as ArrayRef,
            false,
        )))
        .collect();
    let schema = arrow_schema::Schema::new(
        fields
            .iter()
            .map(|(n, a, nullable)| Field::new(*n, a.data_type().clone(), *nullable))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(
        Arc::new(schema),
        fields.into_iter().map(|(_, a, _)| a).collect(),
    )
    .unwrap_or_else(|e| unreachable!("{e}"))
}
