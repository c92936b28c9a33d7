//! What parquet's encoders keep that a page's size does not bound, and the
//! admission's own look at a batch: each case in a child process, measured
//! with a counting allocator and the resident set's high-water mark, must
//! be within its limit, refused up front, or stopped cleanly, and the
//! cases that must be written are.
//!
//! ```text
//! cargo test --release --all-features --test encoder_state -- --nocapture
//! ```
//!
//! Found by a review (2026-12-06): each case went over before its fix.
//! - `flba_dict`: 16 columns of distinct `FixedSizeBinary(3)`, dictionary
//!   encoded: parquet keeps a 32-byte handle per dictionary entry, counted
//!   at the value's width (93.8 MiB of heap at 64 MiB);
//! - `decimal_dict`: 32 columns of distinct `Decimal128(20, 2)` (9-byte
//!   values) the same way (55.1 MiB at 48 MiB);
//! - `dict_long_value`: a dictionary with one long value its 4 Mi keys do
//!   not use: the admission's scan collected every key as a `usize`
//!   (32.0 MiB at 16 MiB);
//! - `ndv`: parquet 60's distinct-value count keeps a hash of every
//!   distinct value of a row group (101.9 MiB at 32 MiB, a million rows a
//!   row group); `ndv_groups` the same in 65,536-row groups, which fit;
//!   `ndv_dict` a dictionary column of a million distinct strings in
//!   million-row groups, whose keys parquet takes as `usize`s, twice, for
//!   each write (51.0 MiB at 48 MiB, a second review's finding);
//! - `fsl_sparse`: the parts of a batch of lists are copied
//!   (`src/compact.rs`); sized from the parent's rows, the copy of a
//!   fixed-size list below a list of mostly empty rows took 26.3 MiB of
//!   heap at 16 MiB (a review of 3957db3; every 64th of 262,144 rows
//!   holds one list of 256 `Int16`, planned with the batch as a sample);
//! - `delta_block`: parquet 60's delta encoder allocates its block of
//!   `i64`s up front: a caller's block of a million values took 66.2 MiB
//!   at 32 MiB; `delta_small` a block of 4,096, which fits.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, FixedSizeBinaryArray, Int64Array, RecordBatch};
use arrow_schema::{Field, Schema};
use parquet::basic::{Compression, Encoding};
use parquet::file::properties::WriterProperties;
use parquet_spill::testkit::measure::{self, ChildRunner};
use parquet_spill::testkit::CountingAlloc;
use parquet_spill::SpillOptions;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const MIB: usize = 1 << 20;
const CASE: &str = "PARQUET_SPILL_ENCODER_STATE";

/// Each case: its name, columns, rows (one batch), limit in MiB, and
/// whether it must be written (else: written, refused or stopped).
const CASES: [(&str, usize, usize, usize, bool); 9] = [
    ("flba_dict", 16, 80_000, 64, true),
    ("decimal_dict", 32, 25_000, 48, true),
    ("dict_long_value", 1, 1 << 22, 16, true),
    ("ndv", 4, 1 << 20, 32, false),
    ("ndv_groups", 4, 1 << 20, 32, true),
    ("ndv_dict", 1, 1 << 20, 48, true),
    ("delta_block", 8, 1 << 18, 32, false),
    ("delta_small", 8, 1 << 18, 32, true),
    ("fsl_sparse", 1, 1 << 18, 16, true),
];

#[test]
fn encoder_state_stays_within_the_limit() {
    let child = ChildRunner::test("encoder_state_child").expect("test executable");
    let mut failed = Vec::new();
    for (case, _, _, mib, written) in CASES {
        let w = child.planned_write(CASE, case, "STATE ").unwrap();
        let limit = (mib * MIB) as u64;
        println!("{}", w.line(case, limit));
        if w.over(limit) {
            failed.push(format!("{case}: {w}, over {limit}"));
        }
        let clean = ["written", "refused: ", "stopped: "];
        if !clean.iter().any(|o| w.outcome.starts_with(o)) || written && w.outcome != "written" {
            failed.push(format!("{case}: {}", w.outcome));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// Without a row-group row limit nothing bounds the distinct values a
/// column's set keeps: the plan is refused, naming the property.
#[test]
fn distinct_value_counts_need_a_row_group_row_limit() {
    let props = WriterProperties::builder()
        .set_write_row_group_number_distinct_values(true)
        .set_max_row_group_row_count(None)
        .build();
    let schema = Schema::new(vec![Field::new("x", arrow_schema::DataType::Int64, false)]);
    let refused = SpillOptions::new(64 * MIB).properties(props).plan(&schema);
    match refused {
        Err(parquet_spill::Error::InvalidOption { option, .. }) => {
            assert_eq!(option, "write_row_group_number_distinct_values")
        }
        other => panic!("expected InvalidOption, got {other:?}"),
    }
}

#[test]
fn encoder_state_child() {
    let Ok(case) = std::env::var(CASE) else {
        return;
    };
    let Some(&(_, columns, rows, mib, _)) = CASES.iter().find(|c| c.0 == case) else {
        panic!("no case {case}");
    };
    let batch = ALLOC.exclude(|| {
        let arrays: Vec<ArrayRef> = (0..columns).map(|_| column(&case, rows)).collect();
        let fields: Vec<Field> = arrays
            .iter()
            .enumerate()
            .map(|(i, a)| Field::new(format!("c{i}"), a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
    });
    let mut props = WriterProperties::builder().set_compression(Compression::LZ4_RAW);
    props = match case.as_str() {
        "ndv" => props.set_write_row_group_number_distinct_values(true),
        "ndv_dict" => props
            .set_write_row_group_number_distinct_values(true)
            .set_max_row_group_row_count(Some(1 << 20)),
        "ndv_groups" => props
            .set_write_row_group_number_distinct_values(true)
            .set_max_row_group_row_count(Some(1 << 16)),
        "delta_block" | "delta_small" => {
            let block = if case == "delta_block" {
                1 << 20
            } else {
                1 << 12
            };
            let layout =
                parquet::file::properties::DeltaBinaryPackedEncoderOptions::try_new(block, 4)
                    .unwrap();
            props
                .set_dictionary_enabled(false)
                .set_encoding(Encoding::DELTA_BINARY_PACKED)
                .set_delta_binary_packed_encoder_options(layout)
        }
        _ => props,
    };
    let mut options = SpillOptions::new(mib * MIB).properties(props.build());
    if case == "fsl_sparse" {
        options = options.sample(&batch);
    }
    let batches = std::slice::from_ref(&*batch);
    let w = measure::planned_write(&ALLOC, std::io::sink(), batch.schema(), options, batches);
    println!("STATE {w}");
}

/// One column of `rows` rows for `case`.
fn column(case: &str, rows: usize) -> ArrayRef {
    match case {
        // Values ["x" x 2.1 MB, "a", "b"], every key 1 or 2.
        "dict_long_value" => {
            let values =
                arrow_array::StringArray::from(vec!["x".repeat(2_100_000), "a".into(), "b".into()]);
            let keys =
                arrow_array::Int32Array::from_iter_values((0..rows as i32).map(|i| 1 + i % 2));
            Arc::new(arrow_array::DictionaryArray::new(keys, Arc::new(values)))
        }
        // Every key its own string.
        "ndv_dict" => {
            let values =
                arrow_array::StringArray::from_iter_values((0..rows).map(|i| format!("{i:08}")));
            let keys = arrow_array::Int32Array::from_iter_values(0..rows as i32);
            Arc::new(arrow_array::DictionaryArray::new(keys, Arc::new(values)))
        }
        // Every 64th row a list of one fixed-size list of 256 `Int16`.
        "fsl_sparse" => {
            let item = Arc::new(Field::new("v", arrow_schema::DataType::Int16, false));
            let lists = rows / 64;
            let values =
                arrow_array::Int16Array::from_iter_values((0..lists * 256).map(|i| i as i16));
            let fsl = arrow_array::FixedSizeListArray::new(item, 256, Arc::new(values), None);
            let lengths = (0..rows).map(|row| usize::from(row % 64 == 0));
            let field = Arc::new(Field::new("item", fsl.data_type().clone(), false));
            let offsets = arrow_buffer::OffsetBuffer::from_lengths(lengths);
            Arc::new(arrow_array::ListArray::new(
                field,
                offsets,
                Arc::new(fsl),
                None,
            ))
        }
        // A 9-byte fixed-length byte array, every value distinct.
        "decimal_dict" => Arc::new(
            arrow_array::Decimal128Array::from_iter_values((0..rows as i128).map(|i| i * 7))
                .with_precision_and_scale(20, 2)
                .unwrap(),
        ),
        // A 3-byte counter, every value distinct.
        "flba_dict" => Arc::new(
            FixedSizeBinaryArray::try_from_iter(
                (0..rows as u32).map(|i| i.to_be_bytes()[1..].to_vec()),
            )
            .unwrap(),
        ),
        _ => Arc::new(Int64Array::from_iter_values(
            (0..rows as i64).map(|i| i * 7919),
        )),
    }
}
