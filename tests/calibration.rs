//! The planner's cost model against fresh measurements (one child process
//! each): if parquet's writer changes how much it holds, these fail.
//!
//! - **Codec memory**: the resident-set growth per column writer of zstd
//!   (levels 1 and 3), snappy, gzip and LZ4_RAW, and the heap's growth for
//!   brotli's per-page encoder (qualities 1 and 5), over the same write
//!   without compression, against the tables in `src/plan/codec.rs`.
//! - **The whole model**: each workload planned at a limit, then written
//!   with the planned properties through a plain file store (no heap pages
//!   by choice): the measured peak heap and resident-set growth must stay
//!   within the plan's estimate (its reservation plus the page metadata it
//!   expects), across input batch sizes from 73 to 4,096 rows. The ratio
//!   estimate / measured is printed: how conservative the model is.
//! - **Small row groups**: every leaf type written in row groups of 2 to
//!   2,000 rows holds no more than the plan's encoder estimate.
//! - **Page metadata**: what parquet keeps per column chunk and page once a
//!   row group is flushed, and what an open row group holds per page just
//!   after parquet's vectors doubled (with the pages on the heap, and
//!   spilled), against what the planned writer charges for them.
//!
//! ```text
//! cargo test --all-features --test calibration -- --nocapture
//! PARQUET_SPILL_FULL=1 cargo test --release --all-features --test calibration -- --nocapture  # + zstd 3/9/19, brotli 9, 256 KiB and 1 MiB pages
//! ```

use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet_spill::plan::codec_memory;
use parquet_spill::testkit::measure::{self, ChildRunner, Measurement, Scenario, Store};
use parquet_spill::testkit::CountingAlloc;
use parquet_spill::workloads::Workload;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const MIB: usize = 1 << 20;

#[test]
fn measure_child() -> parquet::errors::Result<()> {
    measure::serve_child(&ALLOC).map(drop)
}

fn measure(scenario: &Scenario) -> Measurement {
    ChildRunner::test("measure_child")
        .and_then(|c| c.measure(scenario))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Resident growth per column of `codec` over no compression, and the
/// growth of the peak heap, with pages of `page` bytes (hand-set, one row
/// group), on `columns` Int64/string columns fed `batch_rows` rows at a time.
fn codec_costs(codec: Compression, page: usize, columns: usize, batch_rows: usize) -> (f64, f64) {
    let w = Workload::WideMixed {
        columns,
        // Enough rows for every column to compress full pages (an Int64
        // column fills a 64 KiB page in 8,192 rows), and no more: each case
        // runs two child processes.
        rows: (12 * batch_rows).max(4096),
    };
    let run = |codec| {
        measure(
            &Scenario::new(w, Store::file())
                .with_codec(codec)
                .with_limits(page, page / 4, 1024)
                .with_batch_rows(batch_rows),
        )
    };
    let (with, without) = (run(codec), run(Compression::UNCOMPRESSED));
    let rss = |m: &Measurement| m.peak_rss_growth.expect("Linux /proc") as f64;
    let heap = |m: &Measurement| m.peak_heap() as f64;
    (
        (rss(&with) - rss(&without)) / columns as f64,
        heap(&with) - heap(&without),
    )
}

/// The longest value [`codec_costs`]' columns hold as parquet encodes it
/// plain: the 200-byte strings and their 4-byte length.
const LONGEST_VALUE: usize = 204;

/// zstd's, snappy's and gzip's memory per column writer, and brotli's per
/// page, through parquet's writer against [`codec_memory`]: no more than it
/// gives the longest page this configuration writes (parquet checks the
/// limit after each mini-batch of up to 1,024 rows, so a page of strings
/// can pass it by a mini-batch of the longest values: 64 KiB pages reach
/// 268 KiB here), and not far below what it gives the limit.
#[test]
fn codec_contexts_match_the_table() {
    let zstd = |l| Compression::ZSTD(ZstdLevel::try_new(l).unwrap());
    let brotli = |q| Compression::BROTLI(BrotliLevel::try_new(q).unwrap());
    // (codec, page, columns, batch rows)
    let mut cases = vec![
        (zstd(1), 16 << 10, 300, 1024),
        (zstd(1), 64 << 10, 300, 1024),
        // zstd's small-input tables: pages under 16 KiB cost more than 16 KiB ones.
        (zstd(1), 8 << 10, 1500, 73),
        (zstd(1), 16 << 10, 1500, 73),
        (zstd(3), 16 << 10, 300, 1024),
        (Compression::SNAPPY, 64 << 10, 300, 1024),
        (Compression::LZ4_RAW, 64 << 10, 300, 1024),
        // The child runs under `rss::GLIBC_TUNABLES`: gzip's freed deflate
        // state is returned (~340 KiB a column stays resident without it).
        (Compression::GZIP(GzipLevel::default()), 64 << 10, 300, 1024),
        (brotli(1), 64 << 10, 30, 1024),
        (brotli(5), 64 << 10, 30, 1024),
    ];
    // The slow ones (high levels compress slowly): with PARQUET_SPILL_FULL=1.
    if std::env::var_os("PARQUET_SPILL_FULL").is_some() {
        cases.extend([
            (zstd(1), 256 << 10, 300, 1024),
            (zstd(1), 64 << 10, 1500, 73),
            (zstd(3), 64 << 10, 300, 1024),
            (zstd(9), 64 << 10, 300, 1024),
            (zstd(9), 256 << 10, 100, 1024),
            (zstd(19), 64 << 10, 300, 1024),
            (zstd(19), 256 << 10, 100, 1024),
            (brotli(9), 64 << 10, 30, 1024),
            (brotli(9), 1 << 20, 30, 4096),
        ]);
    }
    let mut failures = Vec::new();
    for (codec, page, columns, batch) in cases {
        let (kept, held) = codec_costs(codec, page, columns, batch);
        let longest = page + batch.min(1024) * LONGEST_VALUE;
        let (at_page, at_longest) = (codec_memory(codec, page), codec_memory(codec, longest));
        // brotli's encoder is freed after each page: the heap's peak grows.
        let (measured, low, high, what) = match codec {
            Compression::BROTLI(_) => (held, at_page.per_page, at_longest.per_page, "per page"),
            // This process did not start under `rss::GLIBC_TUNABLES`, the
            // child did: the table's figure for a process that returns
            // gzip's freed state (16 KiB a column).
            Compression::GZIP(_) => (kept, 16 << 10, 16 << 10, "per column"),
            _ => (
                kept,
                at_page.per_column,
                at_longest.per_column,
                "per column",
            ),
        };
        println!(
            "{codec} at {} KiB pages, {columns} columns, batches of {batch}: {:.0} KiB {what} \
             measured, the table {} to {} KiB",
            page >> 10,
            measured / 1024.0,
            low >> 10,
            high >> 10
        );
        if measured > high as f64 + 16_384.0 || measured < low as f64 * 0.45 - 16_384.0 {
            failures.push(format!(
                "{codec} at {page}: measured {measured:.0}, the table {low} to {high}"
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn the_model_covers_every_workload_and_batch_size() {
    let cases = [
        (Workload::skewed_bytes(64 << 20), 64 * MIB),
        (
            Workload::WideMixed {
                columns: 300,
                rows: 16_384,
            },
            64 * MIB,
        ),
        (
            Workload::WideMixed {
                columns: 1500,
                rows: 4_096,
            },
            256 * MIB,
        ),
        (Workload::LowCardinality { rows: 2 << 20 }, 32 * MIB),
    ];
    let mut rows = Vec::new();
    for (w, limit) in cases {
        for batch_rows in [73, 1024, 4096] {
            for codec in [
                Compression::LZ4_RAW,
                Compression::ZSTD(ZstdLevel::default()),
            ] {
                let scenario = Scenario::new(w, Store::PlanOnly { limit })
                    .with_codec(codec)
                    .with_batch_rows(batch_rows);
                if measure::spill_options(&scenario, limit)
                    .plan(&w.schema())
                    .is_err()
                {
                    continue; // refused: nothing to calibrate
                }
                let m = measure(&scenario);
                let estimate = m.reserved.unwrap() + m.expected_metadata.unwrap();
                let heap = m.peak_heap();
                let rss = m.peak_rss_growth.unwrap_or(0);
                println!(
                    "{:<40} batch {batch_rows:>5} {codec:<20} estimate {:>10} heap {:>10} rss {:>10} estimate/max {:.2}",
                    scenario.label(),
                    measure::human_bytes(estimate),
                    measure::human_bytes(heap),
                    measure::human_bytes(rss),
                    estimate as f64 / heap.max(rss).max(1) as f64
                );
                rows.push((scenario.label(), estimate, heap, rss));
            }
        }
    }
    for (label, estimate, heap, rss) in rows {
        assert!(
            heap <= estimate,
            "{label}: heap {heap} over the estimate {estimate}"
        );
        assert!(
            rss <= estimate,
            "{label}: resident growth {rss} over the estimate {estimate}"
        );
    }
}

const METADATA_CASE: &str = "PARQUET_SPILL_METADATA_CASE";

/// One metadata case, in a child: `columns` leaves of `kind` ("int64",
/// "utf8", or "list3": Int64 in three nested nullable lists), statistics
/// `stats`, batches of `rows` rows in pages of `page_rows`.
///
/// Closed row groups (these six fields): each batch is a row group, flushed;
/// prints the heap parquet kept for the row groups after the first
/// (everything else is gone after a flush) and what the planned writer's
/// meter charged for them.
///
/// Open row group (a seventh field, the limit in MiB): every batch goes
/// into one row group, never flushed; prints the heap that grew after the
/// first batch (page keys, index builders, stores' entries, heap pages,
/// all of it) and what the budget's accounting grew by.
#[test]
fn metadata_child() {
    use std::sync::Arc;

    use arrow_array::builder::{Int64Builder, ListBuilder};
    use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use parquet_spill::SpillOptions;

    let Ok(case) = std::env::var(METADATA_CASE) else {
        return;
    };
    let parts: Vec<&str> = case.split(',').collect();
    let (columns, kind, stats, rows, page_rows, groups, open) = match parts[..] {
        [c, k, s, r, p, g] => (c, k, s, r, p, g, None),
        [c, k, s, r, p, g, limit] => (c, k, s, r, p, g, Some(limit)),
        _ => panic!("bad case {case}"),
    };
    let open: Option<usize> = open.map(|mib| mib.parse::<usize>().unwrap() * MIB);
    let (columns, rows, page_rows, groups): (usize, usize, usize, usize) = (
        columns.parse().unwrap(),
        rows.parse().unwrap(),
        page_rows.parse().unwrap(),
        groups.parse().unwrap(),
    );
    let utf8 = kind == "utf8";
    let list3 = |first: usize| -> ArrayRef {
        let mut b = ListBuilder::new(ListBuilder::new(ListBuilder::new(Int64Builder::new())));
        for r in first..first + rows {
            b.values().values().values().append_value(r as i64 * 7919);
            b.values().values().append(true);
            b.values().append(true);
            b.append(true);
        }
        Arc::new(b.finish())
    };
    // "none-nooi": no statistics and no offset index either.
    let offset_index = stats != "none-nooi";
    let stats = match stats {
        "page" => EnabledStatistics::Page,
        "chunk" => EnabledStatistics::Chunk,
        _ => EnabledStatistics::None,
    };
    let data_type = match kind {
        "utf8" => DataType::Utf8,
        "list3" => list3(0).data_type().clone(),
        _ => DataType::Int64,
    };
    let schema = Arc::new(Schema::new(
        (0..columns)
            .map(|i| Field::new(format!("c{i}"), data_type.clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = |group: usize| {
        let first = group * rows;
        let arrays: Vec<ArrayRef> = (0..columns)
            .map(|c| -> ArrayRef {
                if kind == "list3" {
                    list3(first)
                } else if utf8 {
                    Arc::new(StringArray::from_iter_values(
                        (first..first + rows).map(|r| format!("value-{r:08}-{c}")),
                    ))
                } else {
                    Arc::new(Int64Array::from_iter_values(
                        (first..first + rows).map(|r| r as i64 * 7919 + c as i64),
                    ))
                }
            })
            .collect();
        RecordBatch::try_new(schema.clone(), arrays).unwrap()
    };
    let props = WriterProperties::builder()
        .set_statistics_enabled(stats)
        .set_offset_index_disabled(!offset_index)
        .set_max_row_group_row_count(open.is_none().then_some(rows))
        .set_max_row_group_bytes(None)
        .set_dictionary_enabled(false)
        .set_data_page_row_count_limit(page_rows)
        .set_write_batch_size(page_rows.min(1024))
        .set_compression(Compression::UNCOMPRESSED)
        .build();
    let plan = SpillOptions::new(open.unwrap_or(256 * MIB))
        .properties(props)
        .plan(&schema)
        .unwrap();
    let (monitor, mut writer) =
        parquet_spill::testkit::planned_arrow_writer(std::io::sink(), schema.clone(), plan)
            .unwrap();
    if open.is_some() {
        // The first batch (and the writer's own state) outside the count.
        writer.write(&batch(0)).unwrap();
        let stats = monitor.stats();
        let (heap, used, pages) = (ALLOC.current(), stats.budget.used, stats.pages);
        let heap_pages = stats.heap_pages;
        for group in 1..=groups {
            writer.write(&batch(group)).unwrap();
        }
        let stats = monitor.stats();
        println!(
            "OPEN kept={} charged={} pages={} heap_pages={} heap_pages_grew={}",
            ALLOC.current() as f64 - heap as f64,
            stats.budget.used as f64 - used as f64,
            stats.pages - pages,
            stats.heap_pages,
            stats.heap_pages as f64 - heap_pages as f64
        );
        return writer.close().map(drop).unwrap();
    }
    // The first row group (and the writer's own state) outside the count.
    let first = batch(0);
    writer.write(&first).unwrap();
    writer.flush().unwrap();
    drop(first);
    let (heap, charged) = (ALLOC.current(), monitor.stats().page_metadata);
    for group in 1..=groups {
        let b = batch(group);
        writer.write(&b).unwrap();
        writer.flush().unwrap();
    }
    let kept = ALLOC.current() - heap;
    let charged = monitor.stats().page_metadata - charged;
    println!("METADATA kept={kept} charged={charged}");
    writer.close().unwrap();
}

/// Run one metadata case in a child; its `tag` line's fields by name.
fn metadata_case(runner: &ChildRunner, case: &str, tag: &str) -> impl Fn(&str) -> f64 {
    let out = runner
        .run(METADATA_CASE, case)
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    let line = measure::tagged_line(&out, tag)
        .unwrap_or_else(|| panic!("{case}: no result:\n{out}"))
        .to_string();
    let case = case.to_string();
    move |key| measure::field(&line, key).unwrap_or_else(|| panic!("{case}: {line}"))
}

/// The charge covers what was kept, and by at most `most` times.
fn assert_covers(case: &str, kept: f64, charged: f64, most: f64) {
    assert!(charged >= kept, "{case}: charged {charged} < kept {kept}");
    assert!(
        charged <= kept * most,
        "{case}: charged {charged} is more than {most}x the {kept} kept"
    );
}

/// What parquet keeps per column chunk and page until the file closes,
/// measured, against what the planned writer's meter charges for it: the
/// charge must cover it, and not by much (the model's per-chunk and
/// per-page costs in `src/plan/model.rs`). Byte-array values are charged
/// at the column-index truncation length, longer than these (~19 bytes).
#[test]
fn page_metadata_charge_covers_what_parquet_keeps() {
    let runner = ChildRunner::test("metadata_child").expect("test executable");
    // (columns, kind, statistics, rows per row group, rows per page, row groups, most charge / kept)
    let cases = [
        (100, "int64", "page", 10, 20_000, 200, 1.4),
        (100, "utf8", "page", 10, 20_000, 200, 1.4),
        (100, "int64", "chunk", 10, 20_000, 200, 1.4),
        (100, "utf8", "none", 10, 20_000, 200, 2.0),
        (100, "utf8", "none-nooi", 10, 20_000, 200, 2.0),
        (20, "int64", "none-nooi", 10_000, 100, 20, 1.4),
        (3, "int64", "page", 10, 20_000, 5_000, 1.4),
        (20, "int64", "page", 10_000, 100, 20, 1.4),
        (20, "utf8", "page", 10_000, 100, 20, 2.0),
        (20, "int64", "chunk", 10_000, 100, 20, 1.4),
        (100, "list3", "page", 10, 20_000, 200, 1.4),
        (20, "list3", "page", 10_000, 100, 20, 1.6),
    ];
    for (columns, kind, stats, rows, page_rows, groups, most) in cases {
        let case = format!("{columns},{kind},{stats},{rows},{page_rows},{groups}");
        let field = metadata_case(&runner, &case, "METADATA ");
        let (kept, charged) = (field("kept"), field("charged"));
        let chunks = (columns * groups) as f64;
        println!(
            "{case}: kept {:.0} B per chunk, charged {:.0} ({:.2}x)",
            kept / chunks,
            charged / chunks,
            charged / kept
        );
        assert_covers(&case, kept, charged, most);
    }
}

/// What one row group keeps per page while it is open — parquet's page keys
/// and index builders, the stores' entries and page headers, the pages kept
/// on the heap — against what the planned writer's budget accounts for it:
/// the accounting must cover it. With every page on the heap (a roomy
/// limit) and with most of them spilled (a limit the metadata squeezes).
#[test]
fn open_row_group_charge_covers_what_is_kept() {
    let runner = ChildRunner::test("metadata_child").expect("test executable");
    // (columns, kind, statistics, limit in MiB, most charge / kept of the
    // metadata). The limits that squeeze are about the lowest these cases
    // finish at (the plan reserves more encoder memory at some larger
    // limits). Charged for its worst moment (every growing vector just
    // doubled), each page's index once (its builders' entries, the larger
    // of them and the entries kept after the flush), and strings' min and
    // max at the truncation length (64): up to 1.4x, 1.6x for strings with
    // page statistics. A page kept on the heap is charged its table slots
    // there besides the backend's slot it takes if it is moved (charged
    // with every page): up to 1.5x where little else is kept.
    let cases = [
        (20, "int64", "page", 1024, 1.4),
        (20, "int64", "none", 1024, 1.5),
        (20, "utf8", "page", 1024, 1.6),
        (20, "utf8", "none", 1024, 1.5),
        (100, "int64", "page", 56, 1.4),
        (100, "int64", "none", 28, 1.4),
        (100, "utf8", "page", 180, 1.6),
        (100, "utf8", "none", 52, 1.4),
        // Without the offset index a page leaves only its keys and the
        // stores' entries.
        (20, "int64", "none-nooi", 1024, 1.4),
        (100, "int64", "none-nooi", 28, 1.4),
        (100, "utf8", "none-nooi", 48, 1.4),
    ];
    for (columns, kind, stats, limit, most) in cases {
        // 64-row pages in 17 batches of 4,096 rows: 1,088 pages a column
        // and 2,176 page keys, just past 1,024 and 2,048: every doubling
        // vector (parquet's page keys and index builders) has just
        // doubled, its worst moment.
        let case = format!("{columns},{kind},{stats},4096,64,16,{limit}");
        let field = metadata_case(&runner, &case, "OPEN ");
        let (kept, charged, pages) = (field("kept"), field("charged"), field("pages"));
        // Heap pages are charged at their length, and the tier evicts them
        // as the metadata grows: both sides moved by the same bytes. The
        // metadata alone is what the constants must cover, and by how much.
        let grew = field("heap_pages_grew");
        let (kept_metadata, charged_metadata) = (kept - grew, charged - grew);
        println!(
            "{case}: metadata kept {:.0} B per page, charged {:.0} ({:.2}x); \
             {:.1} MiB of pages on the heap at the end ({:+.1} MiB)",
            kept_metadata / pages,
            charged_metadata / pages,
            charged_metadata / kept_metadata,
            field("heap_pages") / MIB as f64,
            grew / MIB as f64
        );
        assert!(charged >= kept, "{case}: charged {charged} < kept {kept}");
        assert_covers(&case, kept_metadata, charged_metadata, most);
    }
}

const SMALL_GROUPS_CASE: &str = "PARQUET_SPILL_SMALL_GROUPS_CASE";

/// The schema of the small-row-group cases: every leaf type the writer
/// supports, nullable and not, plus a nullable struct of a nullable leaf
/// (two levels) and a list (repeated: rows do not bound its values).
fn small_groups_schema() -> arrow_schema::SchemaRef {
    use std::sync::Arc;

    use arrow_schema::{DataType, Field, Fields, Schema};
    let mut fields = Vec::new();
    for (i, t) in parquet_spill::testkit::leaf_types().into_iter().enumerate() {
        for nullable in [true, false] {
            fields.push(Field::new(format!("c{i}_{nullable}"), t.clone(), nullable));
        }
    }
    let inner = Fields::from(vec![Field::new("x", DataType::Int64, true)]);
    fields.push(Field::new("s", DataType::Struct(inner), true));
    let item = Arc::new(Field::new("item", DataType::Utf8, true));
    fields.push(Field::new("l", DataType::List(item), true));
    Arc::new(Schema::new(fields))
}

/// One small-row-group case, in a child: the schema planned at 256 MiB with
/// row groups of at most `group` rows, then `group - 1` rows (so the row
/// group stays open) written with the planned properties into a store that
/// keeps nothing. Prints the plan's encoder and transient estimates, the
/// heap the writer holds after the write and its peak during it.
#[test]
fn small_groups_child() {
    use std::sync::Arc;

    use parquet::arrow::arrow_writer::ArrowWriterOptions;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;
    use parquet_spill::testkit::{random_batches, DiscardStoreFactory};
    use parquet_spill::SpillOptions;

    let Ok(case) = std::env::var(SMALL_GROUPS_CASE) else {
        return;
    };
    let group: usize = case.parse().expect("rows per row group");
    let schema = small_groups_schema();
    let props = WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_max_row_group_row_count(Some(group))
        .build();
    let plan = SpillOptions::new(256 * MIB)
        .properties(props)
        .plan(&schema)
        .unwrap();
    let estimate = plan.estimate();
    let options = ArrowWriterOptions::new()
        .with_properties(plan.properties().clone())
        .with_page_store_factory(Arc::new(DiscardStoreFactory));
    let batches = random_batches(&schema, &[group - 1], 7);
    let before = ALLOC.current();
    ALLOC.reset_peak();
    let mut writer = ArrowWriter::try_new_with_options(std::io::sink(), schema, options).unwrap();
    writer.write(&batches[0]).unwrap();
    let held = ALLOC.current().saturating_sub(before);
    let peak = ALLOC.peak().saturating_sub(before);
    println!(
        "SMALL encoders={} transient={} held={held} peak={peak}",
        estimate.encoders, estimate.transient
    );
}

/// Writers of small row groups hold no more than the model says: the heap
/// held after a write within the plan's encoder estimate, the peak during
/// it within that plus its transient, with row groups of 2 to 2,000 rows.
/// The model bounds fixed-width values by the row group, but a byte-array
/// column by its page (its values' sizes are unknown to the planner) and
/// every dictionary by its hash table (created with room for 4,096
/// entries), so the estimate reads many times what small row groups hold.
#[test]
fn small_row_groups_stay_within_the_encoder_estimate() {
    let runner = ChildRunner::test("small_groups_child").expect("test executable");
    for group in [2, 10, 100, 700, 2000] {
        let out = runner
            .run(SMALL_GROUPS_CASE, &group.to_string())
            .unwrap_or_else(|e| panic!("{group}: {e}"));
        let line = measure::tagged_line(&out, "SMALL ")
            .unwrap_or_else(|| panic!("{group}: no result:\n{out}"))
            .to_string();
        let field = |key: &str| -> u64 {
            measure::field(&line, key).unwrap_or_else(|| panic!("{group}: {line}"))
        };
        let (encoders, transient) = (field("encoders"), field("transient"));
        let (held, peak) = (field("held"), field("peak"));
        println!(
            "rows per row group {group:>5}: encoders {:>10} held {:>10} ({:.2}x), peak {:>10} of {:>10}",
            measure::human_bytes(encoders),
            measure::human_bytes(held),
            encoders as f64 / held.max(1) as f64,
            measure::human_bytes(peak),
            measure::human_bytes(encoders + transient),
        );
        assert!(held <= encoders, "{group} rows: held {held} > {encoders}");
        assert!(
            peak <= encoders + transient,
            "{group} rows: peak {peak} > {encoders} + {transient}"
        );
    }
}

/// Names a long-page case for [`long_page_child`]: `codec,MiB`.
const LONG_PAGE_CASE: &str = "PARQUET_SPILL_LONG_PAGE_CASE";

/// Long page (child): one `Utf8` column holding one value of the case's
/// size (generated outside the count), written by `ArrowWriter` through a
/// store that keeps nothing; prints the peak heap of the write over the
/// value's length: the copies parquet holds of a page of one long value.
#[test]
fn long_page_child() {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
    use parquet::file::properties::WriterProperties;
    use parquet_spill::testkit::DiscardStoreFactory;

    let Ok(case) = std::env::var(LONG_PAGE_CASE) else {
        return;
    };
    let (codec, mib) = case.split_once(',').expect("codec,MiB");
    let codec = match codec {
        "lz4_raw" => Compression::LZ4_RAW,
        "zstd" => Compression::ZSTD(ZstdLevel::default()),
        _ => Compression::UNCOMPRESSED,
    };
    let len = mib.parse::<usize>().expect("MiB") * MIB;
    let batch = ALLOC.exclude(|| {
        let value = "x".repeat(len);
        let column = Arc::new(StringArray::from(vec![value.as_str()])) as ArrayRef;
        RecordBatch::try_from_iter([("s", column)]).expect("batch")
    });
    let options = ArrowWriterOptions::new()
        .with_properties(WriterProperties::builder().set_compression(codec).build())
        .with_page_store_factory(Arc::new(DiscardStoreFactory));
    let mut writer =
        ArrowWriter::try_new_with_options(std::io::sink(), batch.schema(), options).unwrap();
    let base = ALLOC.current();
    ALLOC.reset_peak();
    writer.write(&batch).unwrap();
    let copies = ALLOC.peak().saturating_sub(base) as f64 / len as f64;
    println!("LONGPAGE copies={copies:.3}");
}

/// What parquet holds while it writes a page of one value longer than the
/// page size, per byte of the page (the caller's batch aside), against the
/// meter's room for the page being written (`LONG_PAGE_COPIES` = 6 in
/// `src/metadata.rs`).
#[test]
fn long_page_copies_are_within_the_meters_room() {
    let runner = ChildRunner::test("long_page_child").expect("test executable");
    for codec in ["lz4_raw", "zstd", "none"] {
        for mib in [4, 16] {
            let case = format!("{codec},{mib}");
            let out = runner
                .run(LONG_PAGE_CASE, &case)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            let line = measure::tagged_line(&out, "LONGPAGE ")
                .unwrap_or_else(|| panic!("{case}: no result:\n{out}"));
            let copies: f64 = measure::field(line, "copies").expect("copies");
            println!("{codec:>8}, {mib:>2} MiB value: {copies:.2} copies");
            assert!(copies <= 6.0, "{case}: {copies} copies");
        }
    }
}

const BATCH_CASE: &str = "PARQUET_SPILL_BATCH_CASE";

/// Rows of the batch each kind of column is written in.
const BATCH_ROWS: usize = 1 << 18;

/// One column of `BATCH_ROWS` rows of the kind `kind` names: the leaf
/// types whose levels and converted values cost parquet the most per byte
/// of input, flat and nested.
fn batch_column(kind: &str) -> arrow_array::ArrayRef {
    use std::sync::Arc;

    use arrow_array::builder::{BooleanBuilder, Int8Builder, ListBuilder};
    use arrow_array::types::Float16Type;
    use arrow_array::{
        ArrowPrimitiveType, BooleanArray, Decimal128Array, DictionaryArray, FixedSizeBinaryArray,
        Float16Array, Int32Array, Int64Array, Int8Array, StringArray,
    };
    let n = BATCH_ROWS;
    let maybe = |i: usize| !i.is_multiple_of(5);
    match kind {
        "bool" => Arc::new(BooleanArray::from_iter(
            (0..n).map(|i| maybe(i).then_some(i % 3 == 0)),
        )),
        "int8" => Arc::new(Int8Array::from_iter(
            (0..n).map(|i| maybe(i).then_some(i as i8)),
        )),
        "int64" => Arc::new(Int64Array::from_iter(
            (0..n).map(|i| maybe(i).then_some(i as i64)),
        )),
        "decimal128(10)" | "decimal128(38)" => {
            let precision = if kind == "decimal128(10)" { 10 } else { 38 };
            Arc::new(
                Decimal128Array::from_iter((0..n).map(|i| maybe(i).then_some(i as i128)))
                    .with_precision_and_scale(precision, 2)
                    .expect("decimal"),
            )
        }
        "float16" => Arc::new(Float16Array::from_iter_values(
            (0..n).map(|_| Float16Type::default_value()),
        )),
        "fsb24" => Arc::new(
            FixedSizeBinaryArray::try_from_iter((0..n).map(|i| [i as u8; 24])).expect("fsb"),
        ),
        "dictionary<int64>" => Arc::new(DictionaryArray::new(
            Int32Array::from_iter_values((0..n).map(|i| (i % 100) as i32)),
            Arc::new(Int64Array::from_iter_values(0..100)),
        )),
        "dictionary<struct>" => {
            use arrow_schema::{DataType, Field};
            let values = arrow_array::StructArray::from(vec![
                (
                    Arc::new(Field::new("a", DataType::Int64, false)),
                    Arc::new(Int64Array::from_iter_values(0..100)) as arrow_array::ArrayRef,
                ),
                (
                    Arc::new(Field::new("b", DataType::Int8, true)),
                    Arc::new(Int8Array::from_iter(
                        (0..100).map(|i| maybe(i).then_some(i as i8)),
                    )),
                ),
            ]);
            Arc::new(DictionaryArray::new(
                Int32Array::from_iter_values((0..n).map(|i| (i % 100) as i32)),
                Arc::new(values),
            ))
        }
        // Below a dictionary or run array of nested values, lists that
        // `take` copies through the keys (`src/taken.rs`): 2,048 keys of
        // the one list of 64 strings of 512 bytes among 4,096, or
        // `BATCH_ROWS` keys of an empty list beside one of 64 values.
        "dictionary<list<utf8>> skewed" | "run<list<utf8>> skewed" => {
            let strings = (0..64).map(|i| format!("{i:0512}"));
            let lists = first_of(Arc::new(StringArray::from_iter_values(strings)), 4096);
            match kind.starts_with("run") {
                true => {
                    let ends = Int32Array::from_iter_values(2048..2048 + 4096);
                    let runs = arrow_array::RunArray::<arrow_array::types::Int32Type>::try_new(
                        &ends, &lists,
                    );
                    Arc::new(runs.expect("runs"))
                }
                false => Arc::new(DictionaryArray::new(Int32Array::from(vec![0; 2048]), lists)),
            }
        }
        "dictionary<list<int32>> sparse" => {
            let lists = first_of(Arc::new(Int32Array::from_iter_values(0..64)), 2);
            Arc::new(DictionaryArray::new(Int32Array::from(vec![1; n]), lists))
        }
        "list<bool>" => {
            let mut list = ListBuilder::new(BooleanBuilder::new());
            for i in 0..n / 4 {
                for j in 0..4 {
                    list.values().append_value((i + j) % 2 == 0);
                }
                list.append(maybe(i));
            }
            Arc::new(list.finish())
        }
        "list<list<int8>>" => {
            let mut list = ListBuilder::new(ListBuilder::new(Int8Builder::new()));
            for i in 0..n / 8 {
                for _ in 0..2 {
                    for j in 0..4 {
                        list.values().values().append_value((i + j) as i8);
                    }
                    list.values().append(true);
                }
                list.append(true);
            }
            Arc::new(list.finish())
        }
        _ => Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| format!("{}", i % 1000)),
        )),
    }
}

/// `count` lists, the first of all of `child`, the others empty.
fn first_of(child: arrow_array::ArrayRef, count: usize) -> arrow_array::ArrayRef {
    let item = std::sync::Arc::new(arrow_schema::Field::new(
        "item",
        child.data_type().clone(),
        true,
    ));
    let lengths = std::iter::once(child.len()).chain(std::iter::repeat_n(0, count - 1));
    let offsets = arrow_buffer::OffsetBuffer::from_lengths(lengths);
    std::sync::Arc::new(arrow_array::ListArray::new(item, offsets, child, None))
}

/// A planned `ArrowWriter` for `batch`'s schema at 512 MiB with `props`,
/// over a store that keeps nothing, and its monitor.
fn discard_writer(
    batch: &arrow_array::RecordBatch,
    props: parquet::file::properties::WriterProperties,
) -> (
    parquet_spill::SpillMonitor,
    parquet::arrow::ArrowWriter<std::io::Sink>,
) {
    let plan = parquet_spill::SpillOptions::new(512 * MIB)
        .properties(props)
        .backend(std::sync::Arc::new(
            parquet_spill::testkit::DiscardStoreFactory,
        ))
        .plan(&batch.schema())
        .expect("plan");
    parquet_spill::testkit::planned_arrow_writer(std::io::sink(), batch.schema(), plan)
        .expect("writer")
}

/// Child: write one batch of the kind the case names, admitted by a plan
/// over a store that keeps nothing; print the peak heap of the write and
/// what the plan and the monitor hold for it.
#[test]
fn batch_encoding_child() {
    use arrow_array::RecordBatch;

    let Ok(kind) = std::env::var(BATCH_CASE) else {
        return;
    };
    let batch =
        ALLOC.exclude(|| RecordBatch::try_from_iter([("c", batch_column(&kind))]).expect("batch"));
    let (monitor, mut writer) = discard_writer(&batch, Default::default());
    let base = ALLOC.current();
    ALLOC.reset_peak();
    monitor.admit(&batch).expect("admitted");
    writer.write(&batch).expect("written");
    let measured = ALLOC.peak().saturating_sub(base);
    let stats = monitor.stats();
    let e = &stats.estimate;
    // The plan's own parts (its allocator share aside), the pages kept on
    // the heap and the metadata charged, and the room for the batch.
    let held = e.encoders + e.codec + e.transient;
    let kept = stats.peak_heap_pages + stats.page_metadata;
    println!(
        "BATCH measured={measured} held={held} kept={kept} room={}",
        stats.batch_room
    );
}

/// What parquet allocates while it encodes one large batch (levels, value
/// indices, converted values; the caller's batch aside) against the plan's
/// encoders and the room `SpillMonitor::admit` makes for the batch
/// (`src/encode_cost.rs`): covered for every kind, and mostly by the room.
#[test]
fn batch_encoding_is_within_the_admitted_room() {
    let runner = ChildRunner::test("batch_encoding_child").expect("test executable");
    for kind in [
        "bool",
        "int8",
        "int64",
        "decimal128(10)",
        "decimal128(38)",
        "float16",
        "fsb24",
        "dictionary<int64>",
        "dictionary<struct>",
        "list<bool>",
        "list<list<int8>>",
        "dictionary<list<utf8>> skewed",
        "run<list<utf8>> skewed",
        "dictionary<list<int32>> sparse",
        "utf8",
    ] {
        let out = runner
            .run(BATCH_CASE, kind)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let line = measure::tagged_line(&out, "BATCH ")
            .unwrap_or_else(|| panic!("{kind}: no result:\n{out}"));
        let field = |key: &str| -> u64 { measure::field(line, key).expect(key) };
        let (measured, held, kept, room) = (
            field("measured"),
            field("held"),
            field("kept"),
            field("room"),
        );
        let cover = (held + kept + room) as f64 / measured as f64;
        println!(
            "{kind:>30}: measured {:>6.1} MiB, plan {:>5.1} + kept {:>5.1} + batch room {:>6.1} MiB: {cover:.2}x",
            measured as f64 / MIB as f64,
            held as f64 / MIB as f64,
            kept as f64 / MIB as f64,
            room as f64 / MIB as f64,
        );
        assert!(cover >= 1.0, "{kind}: {line}");
        // Without the room the plan would not cover it: the check bites
        // (a short-string column's encoders, reserved a page whatever its
        // data, cover its levels at this size, and so do a boolean list's,
        // reserved twice a page since fixed-width buffers are counted just
        // past a doubling).
        if kind != "utf8" && kind != "list<bool>" {
            assert!(held + kept < measured, "{kind}: {line}");
        }
    }
}

const KEPT_CASE: &str = "PARQUET_SPILL_KEPT_CASE";

/// Row groups each kind is written in, one batch of `BATCH_ROWS / 4` rows each.
const KEPT_GROUPS: usize = 12;

/// Child: write `KEPT_GROUPS` row groups of one column of the kind the
/// case names (`kind` or `kind/none` for no statistics) through a plan over
/// a store that keeps nothing; print how much the heap and the metadata
/// charged grew from the first row group flushed to the last.
#[test]
fn kept_values_child() {
    use arrow_array::RecordBatch;
    use parquet::file::properties::{EnabledStatistics, WriterProperties};

    let Ok(case) = std::env::var(KEPT_CASE) else {
        return;
    };
    // "dictionary": KEPT_GROUPS batches in one row group, each adding 50
    // decimals to the column's dictionary, no statistics.
    let dictionary = case == "dictionary";
    let (kind, statistics) = match case.split_once('/') {
        Some((kind, _)) => (kind, EnabledStatistics::None),
        None if dictionary => ("decimal128(38)", EnabledStatistics::None),
        None => (case.as_str(), EnabledStatistics::Chunk),
    };
    let batches: Vec<_> = (0..KEPT_GROUPS)
        .map(|b| {
            ALLOC.exclude(|| {
                let column: arrow_array::ArrayRef = match dictionary {
                    true => std::sync::Arc::new(
                        arrow_array::Decimal128Array::from_iter_values(
                            (0..BATCH_ROWS / 16).map(|i| (b * 50 + i % 50) as i128),
                        )
                        .with_precision_and_scale(38, 2)
                        .expect("decimal"),
                    ),
                    false => batch_column(kind).slice(0, BATCH_ROWS / 4),
                };
                RecordBatch::try_from_iter([("c", column)]).expect("batch")
            })
        })
        .collect();
    let props = WriterProperties::builder()
        .set_statistics_enabled(statistics)
        .build();
    let (monitor, mut writer) = discard_writer(&batches[0], props);
    let mut first = None;
    for batch in &batches {
        monitor.admit(batch).expect("admitted");
        writer.write(batch).expect("written");
        if !dictionary {
            writer.flush().expect("flushed");
        }
        first.get_or_insert((ALLOC.current(), monitor.stats().page_metadata));
    }
    let (heap, charged) = first.expect("a row group");
    let stats = monitor.stats();
    println!(
        "KEPT heap={} charged={} encoders={}",
        ALLOC.current().saturating_sub(heap),
        stats.page_metadata.saturating_sub(charged),
        stats.estimate.encoders
    );
}

/// Child of [`long_statistics_are_charged_as_pages_show_them`]: the case
/// names the truncation ("none" or "default"; "pages": none, and pages of
/// 1,000 rows); KEPT_GROUPS row groups of a dictionary-encoded string
/// column of 1,000 rows (20,000 for "pages") with a 200,000-byte value in
/// every 1,000 (each page's maximum), over a store that keeps nothing;
/// print how much the heap and the metadata charged grew from the first
/// row group flushed to the last.
#[test]
fn long_statistics_child() {
    use arrow_array::{RecordBatch, StringArray};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};

    let Ok(case) = std::env::var(LONG_STATISTICS_CASE) else {
        return;
    };
    let rows = if case == "pages" { 20_000 } else { 1000 };
    let batches: Vec<_> = (0..KEPT_GROUPS)
        .map(|b| {
            ALLOC.exclude(|| {
                let values = (0..rows).map(|i| match i % 1000 {
                    500 => format!("z{}", (b'a' + b as u8) as char).repeat(LONG_STATISTIC / 2),
                    _ => format!("a{i}"),
                });
                let column = StringArray::from_iter_values(values);
                RecordBatch::try_from_iter([("c", std::sync::Arc::new(column) as _)])
                    .expect("batch")
            })
        })
        .collect();
    let mut props = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(1000);
    if case != "default" {
        props = props
            .set_column_index_truncate_length(None)
            .set_statistics_truncate_length(None);
    }
    let (monitor, mut writer) = discard_writer(&batches[0], props.build());
    let mut first = None;
    for batch in &batches {
        monitor.admit(batch).expect("admitted");
        writer.write(batch).expect("written");
        writer.flush().expect("flushed");
        first.get_or_insert((ALLOC.current(), monitor.stats().page_metadata));
    }
    let (heap, charged) = first.expect("a row group");
    println!(
        "LONG heap={} charged={}",
        ALLOC.current().saturating_sub(heap),
        monitor.stats().page_metadata.saturating_sub(charged),
    );
}

const LONG_STATISTICS_CASE: &str = "PARQUET_SPILL_LONG_STATISTICS_CASE";
/// The long value's length in [`long_statistics_child`].
const LONG_STATISTIC: usize = 200_000;

/// parquet copies a page's minimum and maximum into the column index, and
/// a chunk's into its metadata, truncated to the caller's lengths or whole
/// where the caller set none, until the file closes: each row group here
/// keeps its 200,000-byte maximum twice, and with "pages" once more for
/// each of its 20 pages. The metered store charges each data page's and
/// chunk's minimum and maximum as long as the longest value admitted (and,
/// plain-encoded, the page) allow (`src/metadata.rs`, `LongStatistics`);
/// with parquet's default truncation (64 bytes) nothing long is kept or
/// charged.
#[test]
fn long_statistics_are_charged_as_pages_show_them() {
    let runner = ChildRunner::test("long_statistics_child").expect("test executable");
    for (case, pages) in [("none", 1), ("pages", 20), ("default", 1)] {
        let out = runner
            .run(LONG_STATISTICS_CASE, case)
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        let line = measure::tagged_line(&out, "LONG ")
            .unwrap_or_else(|| panic!("{case}: no result:\n{out}"));
        let field = |key: &str| -> u64 { measure::field(line, key).expect(key) };
        let (heap, charged) = (field("heap"), field("charged"));
        println!(
            "{case:>8} truncation: {} row groups later kept {:>6.2} MiB more heap, charged {:>6.2} MiB more",
            KEPT_GROUPS - 1,
            heap as f64 / MIB as f64,
            charged as f64 / MIB as f64
        );
        let long = ((KEPT_GROUPS - 1) * LONG_STATISTIC) as u64;
        if case != "default" {
            // Each page's maximum in the index and the chunk's, every row group.
            assert!(heap * 10 >= long * (pages + 1) * 9, "{case}: {line}");
            assert!(charged >= heap, "{case}: charged {charged} < kept {heap}");
            // A page's minimum is charged as long as its maximum (twice
            // what is kept), and one chunk's index entries twice while it
            // closes (the builder's and the index's, held as room).
            assert!(charged * 4 <= heap * 9 + MIB as u64, "{case}: {line}");
        } else {
            assert!(heap < long / 10 && charged < long / 10, "{case}: {line}");
        }
    }
}

/// parquet 60.1 keeps, until the file closes, the buffer of converted
/// values a chunk's minimum and maximum were sliced from, for decimals
/// stored as fixed-length byte arrays and `Float16` (it never truncates
/// their statistics): the heap grows by a batch's values a row group. The
/// planned writer charges it as it grows (`src/metadata.rs`,
/// `KeptValues`); `FixedSizeBinary` (statistics copied when truncated) and
/// columns without statistics keep nothing. A dictionary keeps every
/// buffer its entries came from until its chunk closes: "dictionary"
/// writes batches adding 50 entries each to one row group.
#[test]
fn statistics_keep_the_buffers_their_values_came_from_and_are_charged() {
    let runner = ChildRunner::test("kept_values_child").expect("test executable");
    let rows = (BATCH_ROWS / 4) as u64;
    // Kind, and the bytes parquet copies a value into (0: nothing kept).
    for (kind, width) in [
        ("decimal128(38)", 16),
        ("float16", 2),
        ("decimal128(38)/none", 0),
        ("fsb24", 0),
        ("dictionary", 16),
    ] {
        let out = runner
            .run(KEPT_CASE, kind)
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let line = measure::tagged_line(&out, "KEPT ")
            .unwrap_or_else(|| panic!("{kind}: no result:\n{out}"));
        let field = |key: &str| -> u64 { measure::field(line, key).expect(key) };
        let (heap, charged, encoders) = (field("heap"), field("charged"), field("encoders"));
        // The dictionary case's batches are a quarter as long, not null.
        let buffers = match kind {
            "dictionary" => (KEPT_GROUPS as u64 - 1) * (rows / 4) * width,
            _ => (KEPT_GROUPS as u64 - 1) * rows * width,
        };
        println!(
            "{kind:>20}: {} batches later kept {:>6.2} MiB more heap ({:>6.2} MiB of value buffers), charged {:>6.2} MiB more (encoders reserved {:>5.2} MiB)",
            KEPT_GROUPS - 1,
            heap as f64 / MIB as f64,
            buffers as f64 / MIB as f64,
            charged as f64 / MIB as f64,
            encoders as f64 / MIB as f64
        );
        if width > 0 {
            // Every row group keeps its batch's buffer ("decimal128(38)"'s
            // nulls are not copied: four in five values are).
            assert!(heap * 10 >= buffers * 7, "{kind}: {line}");
        } else {
            assert!(heap < rows, "{kind}: nothing kept: {line}");
        }
        // What the encoders hold grows within their reservation, made up
        // front; the kept buffers are charged as they are kept.
        assert!(
            charged + encoders >= heap,
            "{kind}: charged {charged} + encoders {encoders} < kept {heap}"
        );
        // Nor far above what is kept, where something is.
        assert!(
            width == 0 || charged < heap * 2 + MIB as u64,
            "{kind}: {line}"
        );
    }
}
