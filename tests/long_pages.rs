//! Pages parquet fills past their limit at once, and what it keeps of long
//! values before any store sees them: each case in a child process,
//! measured with a counting allocator and the resident set's high-water
//! mark, must be within its limit, refused up front, or stopped cleanly,
//! and the cases that must be written are.
//!
//! ```text
//! cargo test --release --all-features --test long_pages -- --nocapture
//! ```
//!
//! Found by a review (2026-12-06, at 1658810); each case went over before
//! its fix (`src/long_values.rs`, `MiniBatches`; `src/metadata.rs`,
//! `Meter::statistics_in_flight`):
//! - `dict_batch`: one `Dictionary(Int32, Utf8)` column of 2,048 distinct
//!   20 KB values in one 8,192-row batch. parquet's byte budget does not
//!   cut an Arrow dictionary's mini-batches (a nullable column without
//!   nulls takes a page row limit of rows at once), so a mini-batch of
//!   such values went into one page, or the dictionary, whole: 58.7 MiB
//!   of heap at 32 MiB. Now written, in parts; `dict_plain` the same
//!   with 64 values and dictionary encoding off (78.3 MiB before);
//! - `dict_wide`: 64 such columns of 1.5 KB values: stopped at 4.7 MiB
//!   before, as "a value longer than the page size"; now written;
//! - `list_row`: `List<Utf8>`, each row 250 distinct 40 KB strings: a
//!   record never spans pages, so a 10 MB row is a 10 MB page (57.8 MiB
//!   at 32 MiB for 20 MB rows); now refused as a page too long, before
//!   parquet encodes it; `list_rows` 2 MB rows, written;
//! - `long_index`: 100 strings of 1.06 MB, one a row group, the column
//!   index untruncated: parquet copies a page's minimum and maximum into
//!   the column index before the store sees the page that charges them
//!   (32.4 MiB at 32 MiB before the write stopped).
//!
//! A review of that fix (63f80db) found three more, mended in the next
//! commit: `dict_of_dict`, `dict_batch` with its values a dictionary
//! themselves, whose lengths the scan took as 0 (61.6 MiB at 32 MiB);
//! `dict_of_lists`, a `Dictionary(Int32, List<Utf8>)` whose entries were
//! counted once a key (written by 1658810, stopped by 63f80db); and
//! ordinary rows of a `ListView<Utf8>`, whose rows the scan does not know,
//! all taken as one row (the review's 65,536-row batches of ten 200-byte
//! strings a row were stopped at 32 MiB; `list_view` here, smaller, is
//! written either way and only guards that such rows are). A list view
//! whose views follow one another is now read as its list, rows known:
//! `list_view_row`, `list_row` as a `ListView`, took 38.5 MiB of heap at
//! 32 MiB before the write stopped (eeb3011); now refused before parquet
//! encodes it, and `list_view_rows` written.
//! It also found parquet's byte budget sizes every mini-batch of a chunk
//! from the chunk's first values: `skew`, a `Utf8` column of 2,000
//! one-byte strings then 2,000 distinct 20 KB ones, put 2,000 of the long
//! ones in one mini-batch (115.5 MiB of heap at 32 MiB; `skew_plain` the
//! same without dictionary encoding, 150.7 MiB): now written in parts.
//! Below a list too: `skew_list`, a `List<Utf8>` of 512 rows of one
//! one-byte string then 512 of one distinct 40 KB string (77.5 MiB of heap
//! at 32 MiB, at eeb3011): now written in parts. So is `dict_list`,
//! `dict_batch`'s keys in rows of four below a list, which eeb3011
//! refused (`PageTooLong`) as one batch.
//!
//! A review of 8cf0c1a found three more: `empty_lists`, 64 rows of one
//! 256 KB string then 960 empty lists: parquet scales a chunk's budget by
//! its levels over its values, and empty lists are levels without values,
//! so one mini-batch took all 64 (64.5 MiB of heap at 32 MiB, at eeb3011
//! and 8cf0c1a); `list_view_reversed`, `list_row`'s views out of order,
//! whose rows the scan did not know (38.5 MiB at 32 MiB, at both); and
//! `view_rows_many`, 2,000,000 rows
//! of a `LargeListView`, whose offsets 8cf0c1a copied to read it as a list
//! (15.3 MiB of heap at 12 MiB).
//! A review of that fix (09b9413) found its bound held for chunks of a
//! whole write batch only: `short_chunk`, a 256-row batch of 16 strings of
//! 1.1 MB then 240 nulls, is one chunk of 256 levels whose windows of 16
//! take every string (69.3 MiB of heap at 32 MiB, at 09b9413). Since
//! 6e7dc19 mini-batches are counted in the leaf's levels as parquet
//! writes them (`long_values::Levels`). The last review found a chunk runs
//! to its record's end: `big_record`, 1,000 rows of one 20 KB string, then
//! one row of 200,000 null items, whose chunk's windows took all 1,000
//! strings at once (77.6 MiB of heap at 64 MiB, at eeb3011); and
//! `list_view_nested`, `list_view_reversed` below a list, whose rows the
//! walk does not know: each top-level entry's levels are summed now
//! (`long_values::longest_entry`).
//! `shared_views`: a `ListView<Utf8>` of 64 rows viewing one 256 KB
//! string. parquet's quick count takes a chunk whole where the bytes
//! between its first and last value's slots fit the budget, which holds
//! its values only where slots rise (docs/UPSTREAM.md): all 64 went into
//! one page (64.5 MiB of heap at 32 MiB at e205bd7; `shared_views_empty`,
//! then 960 empty rows, 48.8 MiB). Written in parts now. So is
//! `shared_dict_views`, the string a dictionary's, whose chunks parquet
//! never cuts and the scan counted in the child's slots (64.5 MiB at
//! 7a210b3). `overlapping_views`, 4,096 rows each viewing all 4,096 values
//! of an `Int32` child, is 16,777,216 levels that the scan counted as the
//! child's 4,096 values and the views' 4,096 slots: written at 172.6 MiB
//! of heap at 32 MiB (7a210b3); now stopped before encoding.
//! `spread_nulls`: 64 strings of 16 KB, then one of 1 MiB ending every 64
//! levels, nulls before each. parquet's budget is passed at the 64th
//! value of the chunk's 79, so it cuts the chunk in windows of 830
//! levels, 11 long strings each, where 128 levels fit the budget
//! anywhere: 53.1 MiB of heap at 32 MiB at de9ad8d, written in parts now
//! (`long_values::most_levels_cut`). `runs`: a run array of 2,000 short
//! rows, then 64 of a 256 KB string, which parquet writes expanded and
//! the scan did not count (77.8 MiB at de9ad8d). `dict_of_views`: a
//! dictionary of one list view of one 256 KB string, 64 keys: parquet
//! takes the view by the keys, 64 views of one value, into one page
//! (64.5 MiB at a88fbb5); `dict_of_lists_skew`: a dictionary of 1,024
//! lists, one of 3,072 values, every key that one: 3,145,728 levels that
//! the scan counted as the values' 4,095 (written at 46.7 MiB at
//! a88fbb5). Below a dictionary or run array of nested values, leaves are
//! now counted in the levels parquet takes through the keys, and with the
//! values `take` copies once a key: `runs_of_lists_skew`, 1,000 runs of
//! one list of 2,048 strings of 256 bytes, was written at 146.9 MiB of
//! heap at 32 MiB (a1926da). `runs_of_dictionary`, `runs` with its values
//! a dictionary's, whose chunks parquet does not cut (49.9 MiB at
//! a1926da).
//! arrow's `take` grows a taken list's buffers by doubling from the
//! source's average row, old and new held at once (`src/taken.rs`):
//! `dict_of_strings_skew`, a dictionary of 4,096 lists, 1,000 keys of the
//! one of 2,048 strings of 256 bytes, took 37.1 MiB of heap at 32 MiB at
//! 496ea71 (`runs_of_lists_skew` 33.6, `runs_of_short_lists_skew`, 512
//! strings, 50.9; counted since with a block std moves to grow it held
//! twice for a moment, as it is); `dict_of_lists_sparse`, 1,048,576 keys
//! of an empty list beside one of 64 values, allocated 132.0 MiB for an
//! empty copy. `row_group_cut`: a row group ending inside the batch ends
//! a chunk short there, in windows of eight 1.5 MiB strings (52.1 MiB of
//! heap at 48 MiB at 496ea71); `SpillMonitor::write` now cuts the batch
//! there itself and admits the piece again (`src/row_groups.rs`).
//! `row_group_cut_parallel`, the same on a planned `ParallelWriter` of two
//! threads, was within before too (9.2 MiB at 48 MiB; at 64 MiB since the
//! statistics below are counted whole, which two threads' long-page room
//! no longer fits beside at 48). A review of that found arrow
//! sizes a fixed-size list's child at its size times the elements it
//! expects: `dict_of_fixed_lists_sparse`, 262,144 keys of an empty list
//! beside one of two fixed-size lists of 64 `Float64`s, allocated 129.0
//! MiB at 32 MiB (ca6b7fe), counted as 17 bytes a fixed-size list. And
//! that parquet takes a list's whole child, a dictionary of lists there
//! through all its keys: `sliced_list_of_dict_lists`, a list sliced to one
//! row of 64 keys in a child of 65,536 keys of lists of 128 `Float64`s,
//! took 64.3 MiB of heap at 32 MiB (0c7bf46), now written as a compact
//! copy of the row; `_parallel`, the same on two threads, where
//! `ParallelWriter`'s type check on an empty slice of the column took the
//! whole child too (64.3 MiB). `sliced_list_of_fixed_dict_lists`, the
//! keys four a fixed-size list below the list, whose whole child the walk
//! lost below the fixed-size list (64.3 MiB at cd8de6e, a third review).
//! A review of 222d6ad found parquet keeps byte-array minimums and
//! maximums whole while their page and chunk are open, truncating them
//! only as it builds the metadata: `truncated_statistics`, 32 columns of
//! 20 rising 250 KB strings, default statistics (truncated to 64 bytes),
//! was written at 47.8 MiB of heap at 32 MiB; now stopped before parquet
//! encodes it (`Meter::statistics_in_flight`). `truncated_statistics_few`,
//! eight such columns, guards that they are still written (within before
//! too; at 64 MiB since the pages below are counted).
//! The same review found byte-array pages longer than the plan counted
//! without a value longer than the page: a page holds up to its limit
//! before the values that pass it, and parquet holds the page's buffer
//! (just doubled), its copy and the codec's output (grown past the page)
//! at once. `near_page_values`, two columns of 200-byte strings, every 32nd
//! of 1 MB, statistics off: 12.7 MiB of heap at 12 MiB; `_v2` the same
//! with writer version 2, whose `DELTA_BYTE_ARRAY` keeps its buffer's
//! capacity: 14.8 MiB. Now the plan counts a byte array's largest page
//! with its copies (`model::Leaf::byte_page_copies`), and two values are
//! long where the page they end (the page limit and them) passes the
//! plan's: both stopped before parquet encodes them, and written at 32 MiB
//! (`near_page_values_written`). `short_chunk`, `spread_nulls` and
//! `row_group_cut_parallel`, whose values are as long as a page, are
//! counted so too, and written at 64, 64 and 96 MiB (they were at 32, 32
//! and 48). A review of that found a fixed-size binary's values taken as
//! one value's bytes: `wide_fixed_binary`, 1 MB values in 15-row batches,
//! made pages of three values at a 1 MiB limit, seen only at the store
//! (random bytes: 34.4 MiB of heap at 32 MiB, stopped there, at ebd8989);
//! now refused before
//! parquet encodes them.
//! `tiny_limit`: 100 `Int64`s at 1 MiB, which the planner accepted; the
//! first write pages in parquet's code, counted in the resident set
//! whatever is written (`plan::PROCESS_FLOOR`): refused now, and written
//! at 4 MiB (`tiny_limit_written`).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, DictionaryArray, Int32Array, ListArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet_spill::testkit::measure::{self, ChildRunner};
use parquet_spill::testkit::CountingAlloc;
use parquet_spill::SpillOptions;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const MIB: usize = 1 << 20;
const CASE: &str = "PARQUET_SPILL_LONG_PAGES";

/// Each case: its name, limit in MiB, and what it must end as.
const CASES: [(&str, usize, Expect); 48] = [
    ("dict_batch", 32, Expect::Written),
    ("dict_plain", 32, Expect::Written),
    ("dict_wide", 32, Expect::Written),
    ("list_row", 32, Expect::PageTooLong),
    ("list_rows", 32, Expect::Written),
    ("long_index", 32, Expect::Clean),
    ("dict_of_dict", 32, Expect::Written),
    ("list_view", 32, Expect::Written),
    ("dict_of_lists", 32, Expect::Written),
    ("skew", 32, Expect::Written),
    ("skew_plain", 32, Expect::Written),
    ("skew_list", 32, Expect::Written),
    ("list_view_row", 32, Expect::PageTooLong),
    ("list_view_rows", 32, Expect::Written),
    ("dict_list", 32, Expect::Written),
    ("empty_lists", 32, Expect::Written),
    ("list_view_reversed", 32, Expect::PageTooLong),
    ("view_rows_many", 12, Expect::Written),
    ("short_chunk", 64, Expect::Written),
    ("big_record", 64, Expect::Written),
    ("list_view_nested", 32, Expect::PageTooLong),
    ("shared_views", 32, Expect::Written),
    ("shared_views_empty", 32, Expect::Written),
    ("shared_dict_views", 32, Expect::Written),
    ("overlapping_views", 32, Expect::Clean),
    ("spread_nulls", 64, Expect::Written),
    ("runs", 32, Expect::Written),
    ("dict_of_views", 32, Expect::Written),
    ("dict_of_lists_skew", 32, Expect::Clean),
    ("runs_of_dictionary", 32, Expect::Clean),
    ("runs_of_lists_skew", 32, Expect::Clean),
    ("dict_of_strings_skew", 32, Expect::Written),
    ("runs_of_short_lists_skew", 32, Expect::Written),
    ("dict_of_lists_sparse", 32, Expect::Written),
    ("row_group_cut", 48, Expect::Written),
    ("row_group_cut_parallel", 96, Expect::Written),
    ("dict_of_fixed_lists_sparse", 32, Expect::Written),
    ("sliced_list_of_dict_lists", 32, Expect::Written),
    ("sliced_list_of_dict_lists_parallel", 32, Expect::Written),
    ("sliced_list_of_fixed_dict_lists", 32, Expect::Written),
    ("truncated_statistics", 32, Expect::Clean),
    ("truncated_statistics_few", 64, Expect::Written),
    ("near_page_values", 12, Expect::Clean),
    ("near_page_values_v2", 12, Expect::Clean),
    ("near_page_values_written", 32, Expect::Written),
    ("wide_fixed_binary", 32, Expect::Clean),
    ("tiny_limit", 1, Expect::Clean),
    ("tiny_limit_written", 4, Expect::Written),
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Written,
    /// Stopped before parquet made the page.
    PageTooLong,
    /// Written, refused or stopped.
    Clean,
}

#[test]
fn pages_parquet_fills_at_once_stay_within_the_limit() {
    let child = ChildRunner::test("long_pages_child").expect("test executable");
    let mut failed = Vec::new();
    for (case, mib, expect) in CASES {
        let w = child.planned_write(CASE, case, "LONG ").unwrap();
        let limit = (mib * MIB) as u64;
        println!("{}", w.line(case, limit));
        if w.over(limit) {
            failed.push(format!("{case}: {w}, over {limit}"));
        }
        let ok = match expect {
            Expect::Written => w.outcome == "written",
            Expect::PageTooLong => w.outcome.contains("needs a page of"),
            Expect::Clean => ["written", "refused: ", "stopped: "]
                .iter()
                .any(|o| w.outcome.starts_with(o)),
        };
        if !ok {
            failed.push(format!("{case}: expected {expect:?}, {}", w.outcome));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn long_pages_child() {
    let Ok(case) = std::env::var(CASE) else {
        return;
    };
    let Some(&(_, mib, _)) = CASES.iter().find(|c| c.0 == case) else {
        panic!("no case {case}");
    };
    let batches = ALLOC.exclude(|| batches(&case));
    let props = WriterProperties::builder().set_compression(Compression::LZ4_RAW);
    let props = match case.as_str() {
        "dict_plain"
        | "list_row"
        | "list_rows"
        | "skew_plain"
        | "list_view_row"
        | "list_view_rows"
        | "list_view_reversed"
        | "empty_lists"
        | "short_chunk"
        | "big_record"
        | "list_view_nested"
        | "shared_views"
        | "shared_views_empty"
        | "shared_dict_views"
        | "spread_nulls"
        | "runs"
        | "dict_of_views"
        | "dict_of_lists_skew"
        | "runs_of_dictionary"
        | "runs_of_lists_skew"
        | "dict_of_strings_skew"
        | "runs_of_short_lists_skew"
        | "dict_of_lists_sparse"
        | "dict_of_fixed_lists_sparse"
        | "sliced_list_of_dict_lists"
        | "sliced_list_of_dict_lists_parallel"
        | "sliced_list_of_fixed_dict_lists"
        | "truncated_statistics"
        | "truncated_statistics_few" => props.set_dictionary_enabled(false),
        "row_group_cut" | "row_group_cut_parallel" => props
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(400)),
        "near_page_values" | "near_page_values_written" | "wide_fixed_binary" => props
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None),
        "near_page_values_v2" => props
            .set_dictionary_enabled(false)
            .set_statistics_enabled(EnabledStatistics::None)
            .set_writer_version(WriterVersion::PARQUET_2_0),
        "long_index" => props
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(1))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_column_index_truncate_length(None),
        _ => props,
    };
    let options = SpillOptions::new(mib * MIB).properties(props.build());
    let options = match case.as_str() {
        "row_group_cut_parallel" | "sliced_list_of_dict_lists_parallel" => options.threads(2),
        _ => options,
    };
    let schema = batches[0].schema();
    let w = measure::planned_write(&ALLOC, std::io::sink(), schema, options, &batches);
    println!("LONG {w}");
}

/// A string of `len` bytes unique to `i`.
fn value(i: usize, len: usize) -> String {
    let mut v = format!("{i:010}-");
    v.extend((v.len()..len).map(|j| char::from(b'a' + ((j * 7 + i) as u8 % 26))));
    v
}

/// `columns` columns of a dictionary of `distinct` values of `len` bytes,
/// `rows` keys cycling through them.
fn dictionaries(columns: usize, distinct: usize, len: usize, rows: usize) -> RecordBatch {
    let values: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..distinct).map(|i| value(i, len)),
    ));
    let arrays = (0..columns).map(|c| {
        let keys = (0..rows).map(|i| ((i * 7 + c * 13) % distinct) as i32);
        let keys = Int32Array::from_iter_values(keys);
        let column: ArrayRef = Arc::new(DictionaryArray::new(keys, values.clone()));
        (format!("c{c}"), column)
    });
    RecordBatch::try_from_iter(arrays).unwrap()
}

/// A `List<Utf8>` column of `rows` rows of `per` distinct `len`-byte strings.
fn lists(rows: usize, per: usize, len: usize) -> RecordBatch {
    let child = StringArray::from_iter_values((0..rows * per).map(|i| value(i, len)));
    let item = Arc::new(Field::new("item", DataType::Utf8, true));
    let offsets = arrow_buffer::OffsetBuffer::from_lengths(std::iter::repeat_n(per, rows));
    let list: ArrayRef = Arc::new(ListArray::new(item, offsets, Arc::new(child), None));
    RecordBatch::try_from_iter([("l", list)]).unwrap()
}

/// The `ListView` of `batch`'s one `List` column: the same rows, each
/// view where its list's offsets put it; `reversed`, in the other order
/// (views out of order).
fn list_view(batch: RecordBatch, reversed: bool) -> RecordBatch {
    let list = batch.column(0).as_list::<i32>();
    let offsets = list.value_offsets();
    let mut sizes = offsets.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>();
    let mut starts = offsets[..offsets.len() - 1].to_vec();
    if reversed {
        sizes.reverse();
        starts.reverse();
    }
    let item = Arc::new(Field::new("item", DataType::Utf8, true));
    let view: ArrayRef = Arc::new(arrow_array::ListViewArray::new(
        item,
        starts.into(),
        sizes.into(),
        list.values().clone(),
        None,
    ));
    RecordBatch::try_from_iter([("l", view)]).unwrap()
}

/// "x", then 64 distinct strings of `len` bytes.
fn one_then_long(len: usize) -> impl Iterator<Item = String> {
    std::iter::once("x".to_string()).chain((0..64).map(move |i| value(i, len)))
}

/// One column of a run array of `values`' 65: the first a run of 2,000
/// rows, each other one row.
fn runs(values: &dyn arrow_array::Array) -> RecordBatch {
    let ends = Int32Array::from_iter_values(std::iter::once(2000).chain(2001..2065));
    let runs = arrow_array::RunArray::<arrow_array::types::Int32Type>::try_new(&ends, values);
    let runs: ArrayRef = Arc::new(runs.unwrap());
    RecordBatch::try_from_iter([("r", runs)]).unwrap()
}

/// `count` distinct strings of `len` bytes.
fn strings(count: usize, len: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(
        (0..count).map(|i| value(i, len)),
    ))
}

/// `count` lists, the first of all of `child`, the others empty.
fn first_of(child: ArrayRef, count: usize) -> ArrayRef {
    let item = Arc::new(Field::new("item", child.data_type().clone(), true));
    let lengths = std::iter::once(child.len()).chain(std::iter::repeat_n(0, count - 1));
    let offsets = arrow_buffer::OffsetBuffer::from_lengths(lengths);
    Arc::new(ListArray::new(item, offsets, child, None))
}

/// One column of a dictionary of `values`, `keys` into them.
fn keyed(values: ArrayRef, keys: Vec<i32>) -> Vec<RecordBatch> {
    let dictionary: ArrayRef = Arc::new(DictionaryArray::new(Int32Array::from(keys), values));
    vec![RecordBatch::try_from_iter([("d", dictionary)]).unwrap()]
}

/// One column of a run array of `values`: a run of `run` rows of the
/// first, then one row of each other.
fn first_run(values: ArrayRef, run: usize) -> RecordBatch {
    let ends = (run..run + values.len()).map(|end| end as i32);
    let ends = Int32Array::from_iter_values(ends);
    let runs = arrow_array::RunArray::<arrow_array::types::Int32Type>::try_new(&ends, &values);
    let runs: ArrayRef = Arc::new(runs.unwrap());
    RecordBatch::try_from_iter([("r", runs)]).unwrap()
}

/// 65,536 keys of a dictionary of 16 lists of 128 `Float64`s.
fn dict_lists() -> ArrayRef {
    let floats = arrow_array::Float64Array::from_iter_values((0..2048).map(f64::from));
    let item = Arc::new(Field::new("item", DataType::Float64, true));
    let offsets = arrow_buffer::OffsetBuffer::from_lengths(std::iter::repeat_n(128, 16));
    let lists = ListArray::new(item, offsets, Arc::new(floats), None);
    let keys = Int32Array::from_iter_values((0..65_536).map(|i| i % 16));
    Arc::new(DictionaryArray::new(keys, Arc::new(lists)))
}

/// A list of `child`, `per` of it a row.
fn list_of(child: ArrayRef, per: usize) -> ArrayRef {
    let item = Arc::new(Field::new("item", child.data_type().clone(), true));
    let lengths = std::iter::repeat_n(per, child.len() / per);
    let offsets = arrow_buffer::OffsetBuffer::from_lengths(lengths);
    Arc::new(ListArray::new(item, offsets, child, None))
}

/// `columns` columns of `rows` distinct `len`-byte strings, rising.
fn rising(columns: usize, rows: usize, len: usize) -> RecordBatch {
    let arrays = (0..columns).map(|c| {
        let column: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| value(i * columns + c, len)),
        ));
        (format!("c{c}"), column)
    });
    RecordBatch::try_from_iter(arrays).unwrap()
}

/// Two columns of 4,096 strings of 200 bytes, every 32nd of 1 MB instead
/// (in the second column, half a period later).
fn near_page() -> RecordBatch {
    let column = |offset: usize| -> ArrayRef {
        Arc::new(StringArray::from_iter_values((0..4096).map(|i| {
            let len = if (i + offset).is_multiple_of(32) {
                1_000_000
            } else {
                200
            };
            value(i, len)
        })))
    };
    RecordBatch::try_from_iter([("a", column(0)), ("b", column(16))]).unwrap()
}

fn batches(case: &str) -> Vec<RecordBatch> {
    match case {
        "near_page_values" | "near_page_values_v2" | "near_page_values_written" => {
            vec![near_page()]
        }
        "tiny_limit" | "tiny_limit_written" => vec![RecordBatch::try_from_iter([(
            "i",
            Arc::new(arrow_array::Int64Array::from_iter_values(0..100)) as ArrayRef,
        )])
        .unwrap()],
        "wide_fixed_binary" => (0..4)
            .map(|b| {
                // Random bytes (a xorshift), as incompressible as the review's.
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (b as u64 + 1);
                let values = (0..15).map(|_| {
                    (0..1_000_000)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            x as u8
                        })
                        .collect::<Vec<u8>>()
                });
                let column = arrow_array::FixedSizeBinaryArray::try_from_iter(values).unwrap();
                RecordBatch::try_from_iter([("f", Arc::new(column) as ArrayRef)]).unwrap()
            })
            .collect(),
        "truncated_statistics" => vec![rising(32, 20, 250_000)],
        "truncated_statistics_few" => vec![rising(8, 20, 250_000)],
        "dict_batch" => vec![dictionaries(1, 2048, 20_000, 8192)],
        "dict_plain" => vec![dictionaries(1, 64, 20_000, 8192)],
        "dict_wide" => vec![dictionaries(64, 4096, 1500, 8192)],
        "list_row" => vec![lists(4, 250, 40_000)],
        "list_rows" => vec![lists(16, 50, 40_000)],
        "dict_of_dict" => {
            let values = StringArray::from_iter_values((0..2048).map(|i| value(i, 20_000)));
            let keys = arrow_array::Int16Array::from_iter_values(0..2048);
            let inner: ArrayRef = Arc::new(DictionaryArray::new(keys, Arc::new(values)));
            let keys = Int32Array::from_iter_values((0..8192).map(|i| i % 2048));
            let outer: ArrayRef = Arc::new(DictionaryArray::new(keys, inner));
            vec![RecordBatch::try_from_iter([("d", outer)]).unwrap()]
        }
        "list_view" => {
            let (rows, per) = (8192, 10);
            let child = StringArray::from_iter_values((0..rows * per).map(|i| value(i, 200)));
            let item = Arc::new(Field::new("item", DataType::Utf8, true));
            let offsets = (0..rows).map(|i| (i * per) as i32).collect::<Vec<_>>();
            let sizes = vec![per as i32; rows];
            let list: ArrayRef = Arc::new(arrow_array::ListViewArray::new(
                item,
                offsets.into(),
                sizes.into(),
                Arc::new(child),
                None,
            ));
            vec![RecordBatch::try_from_iter([("l", list)]).unwrap()]
        }
        "list_view_row" => vec![list_view(lists(4, 250, 40_000), false)],
        "list_view_rows" => vec![list_view(lists(16, 50, 40_000), false)],
        "list_view_reversed" => vec![list_view(lists(4, 250, 40_000), true)],
        "empty_lists" => {
            let child = StringArray::from_iter_values((0..64).map(|i| value(i, 262_144)));
            let item = Arc::new(Field::new("item", DataType::Utf8, true));
            let lengths = (0..1024).map(|i| usize::from(i < 64));
            let offsets = arrow_buffer::OffsetBuffer::from_lengths(lengths);
            let list: ArrayRef = Arc::new(ListArray::new(item, offsets, Arc::new(child), None));
            vec![RecordBatch::try_from_iter([("l", list)]).unwrap()]
        }
        "spread_nulls" => {
            // 64 strings of 16 KB, then one of 1 MiB ending every 64
            // levels, nulls before each: one chunk of 1,024 levels.
            let strings = (0..1024).map(|i| match i {
                i if i < 64 => Some(value(i + 1, 16_384)),
                i if (i - 64) % 64 == 63 => Some(value(i + 1, 1 << 20)),
                _ => None,
            });
            let strings: ArrayRef = Arc::new(StringArray::from_iter(strings));
            vec![RecordBatch::try_from_iter([("n", strings)]).unwrap()]
        }
        "runs" => {
            // A run of 2,000 rows of "x", then 64 runs of one row of a
            // distinct 256 KB string.
            vec![runs(&StringArray::from_iter_values(one_then_long(262_144)))]
        }
        "dict_of_views" => {
            // 64 keys, all of one in-order view of one 256 KB string.
            let child = StringArray::from_iter_values([value(0, 262_144)]);
            let item = Arc::new(Field::new("item", DataType::Utf8, true));
            let view: ArrayRef = Arc::new(arrow_array::ListViewArray::new(
                item,
                vec![0].into(),
                vec![1].into(),
                Arc::new(child),
                None,
            ));
            let keys = Int32Array::from(vec![0; 64]);
            let dictionary: ArrayRef = Arc::new(DictionaryArray::new(keys, view));
            vec![RecordBatch::try_from_iter([("d", dictionary)]).unwrap()]
        }
        "dict_of_lists_skew" => {
            // 1,024 list values, the first of 3,072 `Int32`s, the others
            // empty; 1,024 keys, all the first.
            let lists = first_of(Arc::new(Int32Array::from_iter_values(0..3072)), 1024);
            keyed(lists, vec![0; 1024])
        }
        "dict_of_strings_skew" => {
            // 4,096 list values, the first of 2,048 strings of 256 bytes;
            // 1,000 keys, all the first.
            keyed(first_of(strings(2048, 256), 4096), vec![0; 1000])
        }
        "sliced_list_of_dict_lists" | "sliced_list_of_dict_lists_parallel" => {
            // A list of 1,024 rows of 64 keys of a dictionary of 16 lists
            // of 128 `Float64`s, sliced to its first row.
            let rows = list_of(dict_lists(), 64);
            vec![RecordBatch::try_from_iter([("l", rows.slice(0, 1))]).unwrap()]
        }
        "sliced_list_of_fixed_dict_lists" => {
            // The same keys four a fixed-size list, 16 a row.
            let item = Arc::new(Field::new("item", dict_lists().data_type().clone(), true));
            let fixed = arrow_array::FixedSizeListArray::new(item, 4, dict_lists(), None);
            let rows = list_of(Arc::new(fixed), 16);
            vec![RecordBatch::try_from_iter([("l", rows.slice(0, 1))]).unwrap()]
        }
        "dict_of_fixed_lists_sparse" => {
            // Two list values, the first of two fixed-size lists of 64
            // `Float64`s, the second empty; 262,144 keys, all the second.
            let floats = arrow_array::Float64Array::from_iter_values((0..128).map(f64::from));
            let item = Arc::new(Field::new("item", DataType::Float64, true));
            let fixed = arrow_array::FixedSizeListArray::new(item, 64, Arc::new(floats), None);
            keyed(first_of(Arc::new(fixed), 2), vec![1; 262_144])
        }
        "dict_of_lists_sparse" => {
            // Two list values, the first of 64 `Int32`s, the second
            // empty; 1,048,576 keys, all the second.
            let lists = first_of(Arc::new(Int32Array::from_iter_values(0..64)), 2);
            keyed(lists, vec![1; 1 << 20])
        }
        "runs_of_dictionary" => {
            // `runs` with 512 KB strings, the run array's values a
            // dictionary's.
            let strings = StringArray::from_iter_values(one_then_long(524_288));
            let keys = Int32Array::from_iter_values(0..65);
            vec![runs(&DictionaryArray::new(keys, Arc::new(strings)))]
        }
        // A run array of 4,096 lists, the first of 2,048 (or 512) strings
        // of 256 bytes, the others empty: a run of 1,000 rows of the
        // first, then one row of each other.
        "runs_of_lists_skew" => vec![first_run(first_of(strings(2048, 256), 4096), 1000)],
        "runs_of_short_lists_skew" => vec![first_run(first_of(strings(512, 256), 4096), 1000)],
        "row_group_cut" | "row_group_cut_parallel" => {
            // 400 rows: 16 strings of 64 KiB, then one of 1.5 MiB ending
            // every 24 rows, nulls before each; then 624 rows of 64 KiB.
            let strings = (0..1024).map(|i| match i {
                0..16 => Some(value(i, 65_536)),
                16..400 => ((i - 16) % 24 == 23).then(|| value(i, 1_572_864)),
                _ => Some(value(i, 65_536)),
            });
            let strings: ArrayRef = Arc::new(StringArray::from_iter(strings));
            vec![RecordBatch::try_from_iter([("s", strings)]).unwrap()]
        }
        "short_chunk" => {
            let strings = (0..256).map(|i| (i < 16).then(|| value(i, 1_100_000)));
            let strings: ArrayRef = Arc::new(StringArray::from_iter(strings));
            let schema = Schema::new(vec![Field::new("s", DataType::Utf8, true)]);
            vec![RecordBatch::try_new(Arc::new(schema), vec![strings]).unwrap()]
        }
        "big_record" => {
            let strings = (0..201_000).map(|i| (i < 1000).then(|| value(i, 20_000)));
            let child = StringArray::from_iter(strings);
            let item = Arc::new(Field::new("item", DataType::Utf8, true));
            let lengths = (0..1001).map(|i| if i < 1000 { 1 } else { 200_000 });
            let offsets = arrow_buffer::OffsetBuffer::from_lengths(lengths);
            let list: ArrayRef = Arc::new(ListArray::new(item, offsets, Arc::new(child), None));
            vec![RecordBatch::try_from_iter([("l", list)]).unwrap()]
        }
        "list_view_nested" => {
            let views = list_view(lists(4, 250, 40_000), true).column(0).clone();
            let item = Arc::new(Field::new("item", views.data_type().clone(), true));
            let offsets = arrow_buffer::OffsetBuffer::from_lengths(std::iter::repeat_n(1, 4));
            let list: ArrayRef = Arc::new(ListArray::new(item, offsets, views, None));
            vec![RecordBatch::try_from_iter([("l", list)]).unwrap()]
        }
        "shared_views" | "shared_views_empty" | "shared_dict_views" => {
            // 64 rows viewing one 256 KB string (`_dict`: a dictionary's),
            // then (`_empty`) 960 empty rows.
            let child: ArrayRef = Arc::new(StringArray::from_iter_values([value(0, 262_144)]));
            let child: ArrayRef = match case {
                "shared_dict_views" => {
                    Arc::new(DictionaryArray::new(Int32Array::from(vec![0]), child))
                }
                _ => child,
            };
            let item = Arc::new(Field::new("item", child.data_type().clone(), true));
            let rows = if case == "shared_views" { 64 } else { 1024 };
            let sizes = (0..rows).map(|i| i32::from(i < 64)).collect::<Vec<_>>();
            let view: ArrayRef = Arc::new(arrow_array::ListViewArray::new(
                item,
                vec![0; rows].into(),
                sizes.into(),
                child,
                None,
            ));
            vec![RecordBatch::try_from_iter([("l", view)]).unwrap()]
        }
        "overlapping_views" => {
            // 4,096 rows each viewing all 4,096 values of an Int32 child:
            // 16,777,216 levels.
            let n = 4096;
            let child: ArrayRef = Arc::new(Int32Array::from_iter_values(0..n));
            let item = Arc::new(Field::new("item", DataType::Int32, true));
            let view: ArrayRef = Arc::new(arrow_array::ListViewArray::new(
                item,
                vec![0; n as usize].into(),
                vec![n; n as usize].into(),
                child,
                None,
            ));
            vec![RecordBatch::try_from_iter([("l", view)]).unwrap()]
        }
        "view_rows_many" => {
            let rows = 2_000_000;
            let child = StringArray::from_iter_values((0..rows).map(|i| value(i, 8)));
            let item = Arc::new(Field::new("item", DataType::Utf8, true));
            let view: ArrayRef = Arc::new(arrow_array::LargeListViewArray::new(
                item,
                (0..rows as i64).collect::<Vec<_>>().into(),
                vec![1i64; rows].into(),
                Arc::new(child),
                None,
            ));
            vec![RecordBatch::try_from_iter([("l", view)]).unwrap()]
        }
        "dict_list" => {
            let keys = dictionaries(1, 2048, 20_000, 8192).column(0).clone();
            let item = Arc::new(Field::new("item", keys.data_type().clone(), true));
            let offsets = arrow_buffer::OffsetBuffer::from_lengths(std::iter::repeat_n(4, 2048));
            let list: ArrayRef = Arc::new(ListArray::new(item, offsets, keys, None));
            vec![RecordBatch::try_from_iter([("l", list)]).unwrap()]
        }
        "dict_of_lists" => {
            let list = lists(2, 5, 40_000).column(0).clone();
            let keys = Int32Array::from_iter_values((0..64).map(|i| i % 2));
            let dictionary: ArrayRef = Arc::new(DictionaryArray::new(keys, list));
            vec![RecordBatch::try_from_iter([("d", dictionary)]).unwrap()]
        }
        "skew" | "skew_plain" => {
            let strings = (0..4000).map(|i| match i < 2000 {
                true => "a".to_string(),
                false => value(i, 20_000),
            });
            let strings: ArrayRef = Arc::new(StringArray::from_iter_values(strings));
            // Nullable, without nulls: parquet takes a page row limit of
            // rows in one chunk (not nullable, a write batch of them).
            let schema = Schema::new(vec![Field::new("s", DataType::Utf8, true)]);
            vec![RecordBatch::try_new(Arc::new(schema), vec![strings]).unwrap()]
        }
        "skew_list" => {
            let strings = (0..1024).map(|i| match i < 512 {
                true => "a".to_string(),
                false => value(i, 40_000),
            });
            let child = StringArray::from_iter_values(strings);
            let item = Arc::new(Field::new("item", DataType::Utf8, true));
            let offsets = arrow_buffer::OffsetBuffer::from_lengths(std::iter::repeat_n(1, 1024));
            let list: ArrayRef = Arc::new(ListArray::new(item, offsets, Arc::new(child), None));
            vec![RecordBatch::try_from_iter([("l", list)]).unwrap()]
        }
        "long_index" => {
            let strings = StringArray::from_iter_values((0..100).map(|i| value(i, 1_060_000)));
            let schema = Schema::new(vec![Field::new("s", DataType::Utf8, true)]);
            vec![RecordBatch::try_new(Arc::new(schema), vec![Arc::new(strings)]).unwrap()]
        }
        other => panic!("no case {other}"),
    }
}
