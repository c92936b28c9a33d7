//! The planner: what it changes, what it keeps, when it refuses.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use parquet::basic::{BrotliLevel, Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use parquet_spill::testkit::{self, Case, SharedFactory};
use parquet_spill::workloads::Workload;
use parquet_spill::{Error, MemoryBudget, SpillOptions};

const MIB: usize = 1 << 20;

fn schema(columns: usize, data_type: DataType) -> Schema {
    Schema::new(
        (0..columns)
            .map(|i| Field::new(format!("c{i}"), data_type.clone(), true))
            .collect::<Vec<_>>(),
    )
}

#[test]
fn a_roomy_budget_keeps_parquets_defaults() {
    let plan = SpillOptions::new(1 << 30)
        .plan(&schema(4, DataType::Utf8))
        .unwrap();
    assert_eq!(plan.page_size(), 1 << 20);
    assert_eq!(plan.properties().data_page_size_limit(), 1 << 20);
}

#[test]
fn wide_schemas_get_smaller_pages_and_every_change_is_listed() {
    let plan = SpillOptions::new(64 * MIB)
        .plan(&schema(500, DataType::Utf8))
        .unwrap();
    assert!(plan.page_size() < 1 << 20);
    assert_eq!(plan.properties().data_page_size_limit(), plan.page_size());
    let report = plan.to_string();
    assert!(
        report.contains("data_page_size_limit: 1048576 -> "),
        "{report}"
    );
    assert!(plan
        .changes()
        .iter()
        .any(|c| c.setting == "dictionary_page_size_limit"));
    assert!(plan.estimate().total() <= 64 * MIB);
    assert_eq!(
        plan.stats().budget.used,
        plan.estimate().reserved(),
        "the estimate is reserved"
    );
    drop(plan);
}

#[test]
fn the_reservation_lives_as_long_as_the_writer_built_from_the_plan() {
    let budget = MemoryBudget::new(64 * MIB);
    let s = Arc::new(schema(10, DataType::Int64));
    let plan = SpillOptions::shared(budget.clone(), 1).plan(&s).unwrap();
    let monitor = plan.monitor();
    let reserved = budget.used();
    assert!(reserved > 0);
    // Building the writer consumes the plan: its reservation cannot be
    // shared with a second writer, nor dropped while this one runs.
    let writer = parquet::arrow::ArrowWriter::try_new_with_options(
        Vec::new(),
        s,
        plan.into_writer_options(),
    )
    .unwrap();
    assert_eq!(budget.used(), reserved, "the writer holds the reservation");
    drop(writer);
    assert_eq!(budget.used(), 0);
    assert_eq!(
        monitor.stats().budget.used,
        0,
        "a monitor holds no reservation"
    );
}

#[test]
fn a_dropped_plan_hands_its_reservation_back() {
    let budget = MemoryBudget::new(64 * MIB);
    let plan = SpillOptions::shared(budget.clone(), 1)
        .plan(&schema(10, DataType::Utf8))
        .unwrap();
    assert!(budget.used() > 0);
    drop(plan);
    assert_eq!(budget.used(), 0);
}

/// Dictionary encoding costs a hash table of ~72 KiB per column however
/// small the dictionary: wide schemas in tight limits lose dictionaries
/// before their pages shrink further, and every column changed is listed.
#[test]
fn wide_schemas_drop_dictionaries_and_list_each_column() {
    let s = schema(1000, DataType::Int64);
    let roomy = SpillOptions::new(8 << 30).plan(&s).unwrap();
    assert!(!roomy
        .changes()
        .iter()
        .any(|c| c.setting == "dictionary_enabled"));
    let tight = SpillOptions::new(128 * MIB).plan(&s).unwrap();
    let dropped = tight
        .changes()
        .iter()
        .filter(|c| c.setting == "dictionary_enabled")
        .count();
    assert_eq!(dropped, 1000, "{tight}");
    assert!(!tight
        .properties()
        .dictionary_enabled(&ColumnPath::from("c7")));
}

#[test]
fn explicit_page_sizes_are_kept_as_upper_bounds() {
    let props = WriterProperties::builder()
        .set_data_page_size_limit(64 * 1024)
        .build();
    let plan = SpillOptions::new(1 << 30)
        .properties(props)
        .plan(&schema(4, DataType::Utf8))
        .unwrap();
    assert_eq!(plan.page_size(), 64 * 1024);
}

/// A page size fixed through `SpillOptions` is kept exactly, whatever its
/// value — parquet's default of 1 MiB included, which the properties alone
/// cannot tell from "left at the default".
#[test]
fn fixed_page_sizes_are_kept_exactly_even_at_the_default_value() {
    let wide = schema(100, DataType::Utf8);
    // parquet's default value, fixed: kept, not taken for "unset".
    let fixed = SpillOptions::new(512 * MIB)
        .data_page_size_limit(1 << 20)
        .plan(&wide)
        .unwrap();
    assert_eq!(fixed.page_size(), 1 << 20);
    assert_eq!(fixed.properties().data_page_size_limit(), 1 << 20);
    assert_eq!(
        fixed
            .properties()
            .column_data_page_size_limit(&ColumnPath::from("c7")),
        1 << 20
    );
    // Smaller than what the planner would choose: kept too.
    let fixed = SpillOptions::new(512 * MIB)
        .data_page_size_limit(64 << 10)
        .dictionary_page_size_limit(1 << 20)
        .write_batch_size(1000)
        .plan(&wide)
        .unwrap();
    assert_eq!(fixed.page_size(), 64 << 10);
    assert_eq!(
        fixed
            .properties()
            .column_dictionary_page_size_limit(&ColumnPath::from("c7")),
        1 << 20
    );
    assert_eq!(fixed.properties().write_batch_size(), 1000);
}

/// A fixed size that cannot fit is an error naming the setting, when the
/// planner's own sizes would have fitted.
#[test]
fn fixed_settings_that_cannot_fit_are_an_error_naming_them() {
    let err = SpillOptions::new(64 * MIB)
        .data_page_size_limit(1 << 20)
        .plan(&schema(500, DataType::Utf8))
        .unwrap_err();
    let Error::FixedSettingTooLarge { setting, value, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!((*setting, *value), ("data_page_size_limit", 1 << 20));
    assert!(err.to_string().contains("fixed by the caller"), "{err}");
}

#[test]
fn too_small_budgets_name_the_minimum_that_works() {
    let s = schema(3000, DataType::Utf8);
    let err = SpillOptions::new(4 * MIB).plan(&s).unwrap_err();
    let Error::BudgetTooSmall {
        minimum,
        columns: 3000,
        limit,
        ..
    } = err
    else {
        panic!("{err}")
    };
    assert_eq!(limit, 4 * MIB);
    assert!(err.to_string().contains(&minimum.to_string()));
    SpillOptions::new(minimum).plan(&s).unwrap();
    assert!(SpillOptions::new(minimum - 1024).plan(&s).is_err());
}

#[test]
fn bloom_filters_are_capped_to_the_budget() {
    let props = WriterProperties::builder()
        .set_bloom_filter_enabled(true)
        .build();
    let plan = SpillOptions::new(128 * MIB)
        .properties(props)
        .plan(&schema(100, DataType::Utf8))
        .unwrap();
    let ndv = plan
        .properties()
        .bloom_filter_properties(&ColumnPath::from("c0"))
        .unwrap()
        .ndv();
    assert!(ndv < 1024 * 1024, "ndv {ndv}");
    assert!(plan
        .changes()
        .iter()
        .any(|c| c.setting == "bloom_filter_max_ndv"));
}

#[test]
fn a_shared_budget_refuses_writers_it_cannot_hold() {
    let shared = MemoryBudget::new(64 * MIB);
    let s = schema(200, DataType::Utf8);
    let plans: Vec<_> = (0..6)
        .map(|_| SpillOptions::shared(shared.clone(), 2).plan(&s))
        .collect();
    assert!(plans[0].is_ok() && plans[1].is_ok());
    assert!(plans
        .iter()
        .any(|p| matches!(p, Err(Error::BudgetExhausted { .. }))));
}

/// A writer is planned in its share of a shared budget whatever the other
/// writers hold at that moment: their reservations coming and going while
/// the backend is built are not the backend's (a COPY of partitions was
/// refused intermittently when they were taken for it).
#[test]
fn a_shared_budget_plans_the_same_while_others_reserve() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let shared = MemoryBudget::new(64 * MIB);
    let s = schema(12, DataType::Utf8);
    let alone = SpillOptions::shared(shared.clone(), 2).plan(&s).unwrap();
    let expected = (alone.page_size(), alone.estimate().reserved());
    drop(alone);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                drop(shared.reserve(16 * MIB).unwrap());
            }
        });
        let plans = (0..2_000)
            .map(|_| {
                let plan = SpillOptions::shared(shared.clone(), 2).plan(&s);
                plan.map(|p| (p.page_size(), p.estimate().reserved()))
            })
            .collect::<Vec<_>>();
        stop.store(true, Ordering::Relaxed);
        for plan in plans {
            assert_eq!(plan.unwrap(), expected);
        }
    });
}

/// Planned properties change the layout, never the data: with the planned
/// properties the tiered store writes exactly what parquet's default store
/// writes, and the file reads back equal to the input.
#[test]
fn planned_files_are_byte_identical_and_read_back() {
    let w = Workload::WideMixed {
        columns: 40,
        rows: 30_000,
    };
    for limit in [12 * MIB, 32 * MIB] {
        let plan = SpillOptions::new(limit)
            .expected_file_bytes(w.raw_bytes())
            .plan(&w.schema())
            .unwrap();
        let monitor = plan.monitor();
        let (props, factory): (_, SharedFactory) = plan.into_parts();
        let case = Case {
            name: format!("planned-{limit}"),
            batches: w.batches(7_000).collect(),
            props,
            parallel: false,
        };
        testkit::check_case(&factory, &case);
        assert!(
            monitor.stats().spilled_bytes > 0,
            "{limit}: nothing spilled"
        );
        let all_types = Case {
            name: format!("planned-all-types-{limit}"),
            batches: (0..3).map(|s| testkit::all_types_batch(2000, s)).collect(),
            props: SpillOptions::new(limit)
                .expected_file_bytes(64 * MIB as u64)
                .plan(&testkit::all_types_batch(1, 0).schema())
                .unwrap()
                .properties()
                .clone(),
            parallel: true,
        };
        testkit::check_case(&factory, &all_types);
    }
}

/// A caller page size below the planner's smallest step is used as is.
#[test]
fn tiny_explicit_page_sizes_are_planned_not_refused() {
    let props = WriterProperties::builder()
        .set_data_page_size_limit(256)
        .set_dictionary_page_size_limit(512)
        .build();
    let plan = SpillOptions::new(64 * MIB)
        .expected_file_bytes(16 * MIB as u64)
        .properties(props)
        .plan(&schema(20, DataType::Utf8))
        .unwrap();
    assert_eq!(plan.page_size(), 256);
}

/// A per-column page limit wins over the global one in parquet: the plan
/// must cap it too, and say so.
#[test]
fn per_column_page_overrides_are_capped() {
    // c0's override equals parquet's default (indistinguishable from none,
    // but it would win over the planned file-wide limit); c1's differs.
    let props = WriterProperties::builder()
        .set_column_data_page_size_limit(ColumnPath::from("c0"), 1 << 20)
        .set_column_data_page_size_limit(ColumnPath::from("c1"), 768 << 10)
        .build();
    let plan = SpillOptions::new(64 * MIB)
        .properties(props)
        .plan(&schema(200, DataType::Utf8))
        .unwrap();
    let c0 = plan
        .properties()
        .column_data_page_size_limit(&ColumnPath::from("c0"));
    assert!(
        c0 <= plan.page_size(),
        "c0 keeps {c0} > {}",
        plan.page_size()
    );
    let c1 = plan
        .properties()
        .column_data_page_size_limit(&ColumnPath::from("c1"));
    assert!(c1 <= plan.page_size());
    assert!(plan
        .changes()
        .iter()
        .any(|c| c.column.as_deref() == Some("c1") && c.setting == "data_page_size_limit"));
}

/// parquet 60's per-column row limit wins over the planned file-wide one:
/// a caller's larger one is lowered to the plan's (a page's dictionary
/// indices grow with its rows, not its bytes: eight columns of one value
/// at a 16 MiB limit took 69.5 MiB of heap with the caller's 100 M rows,
/// `tests/list_pages.rs`), and a smaller one kept. On parquet 59, which has
/// only the file's, nothing is set or listed.
#[test]
fn per_column_row_limits_are_capped() {
    use parquet_spill::testkit::{column_row_limit, set_column_row_limit};
    let b = WriterProperties::builder();
    let b = set_column_row_limit(b, ColumnPath::from("c0"), 100_000_000);
    let b = set_column_row_limit(b, ColumnPath::from("c1"), 10);
    let plan = SpillOptions::new(64 * MIB)
        .properties(b.build())
        .plan(&schema(20, DataType::Int64))
        .unwrap();
    let props = plan.properties();
    let planned = props.data_page_row_count_limit();
    let version = parquet::file::properties::DEFAULT_CREATED_BY;
    let per_column = !version.contains("version 59.");
    let row_limit = |c: &str| column_row_limit(props, &ColumnPath::from(c));
    assert!(planned < 100_000_000);
    assert_eq!(row_limit("c0"), planned);
    assert_eq!(row_limit("c1"), if per_column { 10 } else { planned });
    assert_eq!(row_limit("c2"), planned);
    let listed = |c: &str| {
        plan.changes()
            .iter()
            .any(|x| x.column.as_deref() == Some(c) && x.setting == "data_page_row_count_limit")
    };
    // Only c0 changed.
    assert_eq!(
        (listed("c0"), listed("c1"), listed("c2")),
        (per_column, false, false)
    );
}

/// A batch of `rows` rows: an `Int64` column, and a list column of
/// `items` values a row (`item` values past the first `long` rows).
fn list_batch(rows: usize, items: usize, long: usize, item: usize) -> arrow_array::RecordBatch {
    use arrow_array::{ArrayRef, Int64Array, ListArray};
    let field = Arc::new(Field::new("item", DataType::Int64, true));
    let lengths: Vec<usize> = (0..rows)
        .map(|r| if r < long { items } else { item })
        .collect();
    let n: usize = lengths.iter().sum();
    let values = Arc::new(Int64Array::from_iter_values(0..n as i64));
    let offsets = arrow_buffer::OffsetBuffer::from_lengths(lengths);
    let list = ListArray::new(field, offsets, values, None);
    let id = Arc::new(Int64Array::from_iter_values(0..rows as i64));
    arrow_array::RecordBatch::try_from_iter([("id", id as ArrayRef), ("l", Arc::new(list) as _)])
        .unwrap()
}

/// With a sample batch, a list leaf gets a row limit of its own, fewer
/// for longer rows (the longest row counts, not the average), none
/// without lists or without a sample; a larger limit never gives fewer
/// rows. On parquet 59, which has only the file's limit, that is lowered
/// instead, to no fewer than 64 rows.
#[test]
fn a_sample_gives_list_leaves_their_own_row_limit() {
    let version = parquet::file::properties::DEFAULT_CREATED_BY;
    let per_column = !version.contains("version 59.");
    let rows_of = |limit: usize, sample: Option<&arrow_array::RecordBatch>| {
        let batch = list_batch(64, 1, 0, 1);
        let mut options = SpillOptions::new(limit * MIB);
        if let Some(sample) = sample {
            options = options.sample(sample);
        }
        let plan = options.plan(&batch.schema()).unwrap();
        let props = plan.properties();
        let limit = |c: &str| {
            let path = ColumnPath::new(c.split('.').map(String::from).collect());
            testkit::column_row_limit(props, &path)
        };
        let listed = plan
            .changes()
            .iter()
            .any(|c| c.column.as_deref() == Some("l.list.item"));
        (
            limit("id"),
            limit("l.list.item"),
            listed,
            props.data_page_row_count_limit(),
        )
    };
    let (id, list, listed, file) = rows_of(32, None);
    assert_eq!((id, list, listed), (file, file, false), "no sample");
    let one = list_batch(4096, 1, 0, 1);
    assert_eq!(
        rows_of(32, Some(&one)),
        (id, list, false, file),
        "a value a row"
    );
    let mut last = 0;
    for limit in [16, 32, 64, 256] {
        let wide = list_batch(4096, 768, 4096, 768);
        let (id, rows, listed, file) = rows_of(limit, Some(&wide));
        let (_, unsampled, _, _) = rows_of(limit, None);
        assert!(
            rows < unsampled / 8,
            "{limit} MiB: {rows} rows of {unsampled}"
        );
        assert!(
            rows >= last,
            "{limit} MiB: {rows} rows, fewer than {last} at less"
        );
        last = rows;
        match per_column {
            true => assert_eq!((id, listed, file), (unsampled, true, unsampled)),
            // Every column's, and no fewer than 64 rows.
            false => assert_eq!((id, file, rows.max(64)), (rows, rows, rows)),
        }
        // One long row in the sample bounds them all.
        let one_long = list_batch(4096, 768, 1, 1);
        assert_eq!(rows_of(limit, Some(&one_long)).1, rows, "{limit} MiB");
    }
    // The sample must be of the schema planned for.
    let other = list_batch(8, 1, 0, 1);
    let err = SpillOptions::new(32 * MIB)
        .sample(&other)
        .plan(&schema(2, DataType::Int64))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidOption {
                option: "sample",
                ..
            }
        ),
        "{err}"
    );
}

/// "Limit by rows only" (`usize::MAX` page size) must not overflow the model.
#[test]
fn huge_caller_limits_do_not_overflow() {
    // Strings with zstd and brotli too: their tables are looked up at the
    // longest page a column can compress.
    let zstd = Compression::ZSTD(ZstdLevel::try_new(19).unwrap());
    let brotli = Compression::BROTLI(BrotliLevel::try_new(9).unwrap());
    for (data_type, codec) in [
        (DataType::Int64, Compression::UNCOMPRESSED),
        (DataType::Utf8, zstd),
        (DataType::Utf8, brotli),
    ] {
        let props = WriterProperties::builder()
            .set_data_page_size_limit(usize::MAX)
            .set_dictionary_page_size_limit(usize::MAX)
            .set_compression(codec)
            .build();
        let plan = SpillOptions::new(64 * MIB)
            .expected_file_bytes(u64::MAX)
            .properties(props)
            .plan(&schema(10, data_type.clone()));
        assert!(
            plan.is_ok() || matches!(plan, Err(Error::BudgetTooSmall { .. })),
            "{data_type} {codec}: {plan:?}"
        );
        if let Ok(plan) = plan {
            assert!(plan.page_size() <= 1 << 20);
        }
    }
}

/// Raising only the dictionary limit does not raise the data page size.
#[test]
fn an_explicit_dictionary_limit_does_not_cap_or_raise_data_pages() {
    let props = WriterProperties::builder()
        .set_dictionary_page_size_limit(8 << 20)
        .build();
    let plan = SpillOptions::new(1 << 30)
        .properties(props)
        .plan(&schema(4, DataType::Utf8))
        .unwrap();
    assert_eq!(plan.page_size(), 1 << 20);
}

/// A larger limit never yields a later rung: never smaller pages, never
/// dictionaries dropped that a smaller limit kept, never a larger share of
/// the limit taken from pages — over schemas from 1 to 2,000 columns.
#[test]
fn larger_limits_never_give_smaller_pages() {
    use parquet::basic::{Compression, ZstdLevel};
    let schemas = [
        schema(1, DataType::Utf8),
        schema(20, DataType::Int64),
        schema(300, DataType::Utf8),
        parquet_spill::workloads::Workload::WideMixed {
            columns: 1500,
            rows: 1,
        }
        .schema()
        .as_ref()
        .clone(),
        schema(2000, DataType::Int32),
    ];
    for s in &schemas {
        for codec in [
            Compression::LZ4_RAW,
            Compression::ZSTD(ZstdLevel::default()),
        ] {
            let props = WriterProperties::builder().set_compression(codec).build();
            let mut last: Option<(usize, usize)> = None;
            let mut limit = 4 * MIB;
            while limit <= 4 << 30 {
                if let Ok(plan) = SpillOptions::new(limit)
                    .properties(props.clone())
                    .expected_file_bytes(1 << 30)
                    .plan(s)
                {
                    let dropped = plan
                        .changes()
                        .iter()
                        .filter(|c| c.setting == "dictionary_enabled")
                        .count();
                    if let Some((page, last_dropped)) = last {
                        assert!(
                            plan.page_size() >= page,
                            "{} columns, {codec}: {limit} gives {} < {page}",
                            s.fields().len(),
                            plan.page_size()
                        );
                        assert!(
                            plan.page_size() > page || dropped <= last_dropped,
                            "{} columns, {codec}: {limit} drops more dictionaries",
                            s.fields().len()
                        );
                    }
                    last = Some((plan.page_size(), dropped));
                } else {
                    assert!(
                        last.is_none(),
                        "{limit} refused after a smaller limit was accepted"
                    );
                }
                limit = limit * 5 / 4;
            }
            assert!(last.is_some(), "never accepted");
        }
    }
}

/// No column writer holds more rows than a row group: with small row
/// groups, fixed-width columns are reserved for those rows, not for full
/// pages (byte arrays keep their page bound: their values' lengths are not
/// known; their dictionary indices are bounded). The measured side is `tests/sweep.rs`: cases with many small
/// row groups that stopped early on this reservation now complete.
#[test]
fn small_row_groups_reserve_less_for_fixed_width_columns() {
    let plan = |data_type: DataType, group_rows: Option<usize>| {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(group_rows)
            .build();
        SpillOptions::new(256 * MIB)
            .properties(props)
            .plan(&schema(500, data_type))
            .unwrap()
    };
    let (small, default) = (
        plan(DataType::Int64, Some(100)),
        plan(DataType::Int64, None),
    );
    assert!(small.page_size() >= default.page_size());
    assert!(
        small.estimate().encoders * 2 < default.estimate().encoders,
        "100-row groups: {:?}, default: {:?}",
        small.estimate(),
        default.estimate()
    );
    // Strings: the dictionary's indices shrink, the page buffers do not.
    let (small, default) = (plan(DataType::Utf8, Some(100)), plan(DataType::Utf8, None));
    assert!(small.estimate().encoders <= default.estimate().encoders);
    assert!(small.estimate().encoders >= 500 * small.page_size());
}

/// The row-group bound counts how parquet's buffers grow: a page buffer
/// (and dictionary indices) grows by doubling from the first write's size,
/// so a row group of 4,096 Int64 rows written 1,000 rows at a time holds a
/// 64,000-byte buffer for 32,768 bytes of values. The writer's own
/// `memory_size()` (encoders only: no page is flushed within these row
/// groups) must stay within the plan's encoder estimate, with and without
/// dictionaries.
#[test]
fn row_group_bounded_buffers_stay_within_the_estimate() {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    use parquet::arrow::ArrowWriter;

    let schema = Arc::new(schema(20, DataType::Int64));
    for dictionary in [false, true] {
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(4096))
            .set_dictionary_enabled(dictionary)
            .build();
        let plan = SpillOptions::new(256 * MIB)
            .properties(props)
            .plan(&schema)
            .unwrap();
        let estimate = plan.estimate().encoders;
        let mut writer = ArrowWriter::try_new(
            std::io::sink(),
            schema.clone(),
            Some(plan.properties().clone()),
        )
        .unwrap();
        let mut peak = 0;
        for b in 0..12 {
            let columns: Vec<ArrayRef> = (0..20)
                .map(|c| {
                    Arc::new(Int64Array::from_iter_values(
                        (0..1000).map(|r| (b * 1000 + r) * 7919 + c),
                    )) as ArrayRef
                })
                .collect();
            writer
                .write(&RecordBatch::try_new(schema.clone(), columns).unwrap())
                .unwrap();
            peak = peak.max(writer.memory_size());
        }
        writer.close().unwrap();
        assert!(
            peak <= estimate,
            "dictionary {dictionary}: encoders held {peak} bytes, the plan estimated {estimate}"
        );
    }
}

/// The caller's `set_offset_index_disabled` is honoured where parquet
/// honours it: with page statistics parquet writes the offset index anyway,
/// and the plan charges it; with chunk statistics it is left out, and the
/// plan charges pages for neither it nor its builder.
#[test]
fn a_disabled_offset_index_is_charged_only_where_parquet_writes_it() {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::EnabledStatistics;

    let schema = schema(300, DataType::Int64);
    let disabled = WriterProperties::builder()
        .set_offset_index_disabled(true)
        .build();
    let metadata = |options: SpillOptions| {
        options
            .expected_file_bytes(1 << 30)
            .plan(&schema)
            .unwrap()
            .estimate()
            .page_metadata
    };
    let page = metadata(SpillOptions::new(96 * MIB));
    let page_statistics = disabled
        .clone()
        .into_builder()
        .set_statistics_enabled(EnabledStatistics::Page)
        .build();
    let page_asked = metadata(SpillOptions::new(96 * MIB).properties(page_statistics));
    assert_eq!(page, page_asked, "page statistics keep the offset index");
    let chunk = metadata(SpillOptions::new(96 * MIB).chunk_statistics());
    let chunk_without = metadata(
        SpillOptions::new(96 * MIB)
            .properties(disabled.clone())
            .chunk_statistics(),
    );
    // A page's charge drops from 146 bytes to 98 (the offset index
    // builder's entries, larger than the entry kept after the flush); the
    // chunks' stays.
    assert!(
        chunk_without * 5 < chunk * 4,
        "{chunk_without} vs {chunk} with the offset index"
    );

    // And parquet leaves it out of the file the plan writes.
    let plan = SpillOptions::new(96 * MIB)
        .properties(disabled)
        .chunk_statistics()
        .plan(&schema)
        .unwrap();
    let columns: Vec<ArrayRef> = (0..300i64)
        .map(|c| Arc::new(Int64Array::from_iter_values((0..10_000).map(|r| r * c))) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(Arc::new(schema.clone()), columns).unwrap();
    let mut out = Vec::new();
    let mut writer =
        ArrowWriter::try_new_with_options(&mut out, batch.schema(), plan.into_writer_options())
            .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(out)).unwrap();
    for group in reader.metadata().row_groups() {
        assert!(group
            .columns()
            .iter()
            .all(|c| c.offset_index_offset().is_none()));
    }
    let mut offset = 0;
    for read in reader.build().unwrap() {
        let read = read.unwrap();
        assert_eq!(read, batch.slice(offset, read.num_rows()));
        offset += read.num_rows();
    }
    assert_eq!(offset, batch.num_rows());
}

/// Page headers that carry the page's statistics are expected to be larger:
/// the plan counts their min and max with each page.
#[test]
fn page_header_statistics_are_expected_with_each_page() {
    let schema = schema(100, DataType::Int64);
    let expected = |props: WriterProperties| {
        SpillOptions::new(96 * MIB)
            .properties(props)
            .expected_file_bytes(1 << 30)
            .plan(&schema)
            .unwrap()
            .estimate()
            .page_metadata
    };
    let plain = expected(WriterProperties::builder().build());
    let with_statistics = expected(
        WriterProperties::builder()
            .set_write_page_header_statistics(true)
            .build(),
    );
    assert!(with_statistics > plain, "{with_statistics} > {plain}");
}

/// parquet computes a batch's levels and converts wide decimals into
/// copies of their own before encoding: a million-row `Decimal128(38, 2)`
/// batch needs ~64 MB beside its 16 MB. `admit` refuses it under 32 MiB,
/// keeps no room for it, and a smaller batch of the same column is admitted
/// and written by the same writer. `admit_in_parts` admits it in parts
/// (`ParallelWriter` from a plan does so itself, to the same bytes); a
/// batch of which one row is too large is refused, keeping nothing.
#[test]
fn a_batch_too_large_to_encode_whole_is_refused_by_admit_and_written_in_parts() {
    use arrow_array::{ArrayRef, Decimal128Array, RecordBatch};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let column = Decimal128Array::from_iter_values((0..1 << 20).map(i128::from))
        .with_precision_and_scale(38, 2)
        .unwrap();
    let batch = RecordBatch::try_from_iter([("d", Arc::new(column) as ArrayRef)]).unwrap();
    let plan = SpillOptions::new(32 << 20).plan(&batch.schema()).unwrap();
    let mut out = Vec::new();
    let (monitor, mut writer) =
        parquet_spill::testkit::planned_arrow_writer(&mut out, batch.schema(), plan).unwrap();
    match monitor.admit(&batch) {
        Err(Error::BatchTooLarge {
            rows,
            needed,
            limit,
            ..
        }) => {
            assert_eq!((rows, limit), (1 << 20, 32 << 20));
            assert!(needed > 32 << 20, "{needed}");
        }
        other => panic!("expected BatchTooLarge, got {other:?}"),
    }
    assert_eq!(
        monitor.stats().batch_room,
        0,
        "a refused batch keeps no room"
    );
    let small = batch.slice(0, 1 << 16);
    monitor.admit(&small).unwrap();
    let room = monitor.stats().batch_room;
    assert!(room > 1 << 20, "room for the smaller batch: {room}");
    writer.write(&small).unwrap();
    writer.close().unwrap();
    let rows: usize = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(out))
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(rows, 1 << 16);

    // In parts: `admit_in_parts` halves it until each part is admitted, and
    // a planned `ParallelWriter` does so itself, to the same bytes.
    let plan = || SpillOptions::new(32 << 20).plan(&batch.schema()).unwrap();
    let mut serial = Vec::new();
    let (monitor, mut writer) =
        parquet_spill::testkit::planned_arrow_writer(&mut serial, batch.schema(), plan()).unwrap();
    let parts: Vec<RecordBatch> = monitor.admit_in_parts(&batch).unwrap().collect();
    assert!(parts.len() > 1, "{} parts", parts.len());
    assert_eq!(parts.iter().map(|p| p.num_rows()).sum::<usize>(), 1 << 20);
    let room = monitor.stats().batch_room;
    assert!(room > 0 && room < 32 << 20, "room for a part: {room}");
    for part in &parts {
        writer.write(part).unwrap();
    }
    writer.close().unwrap();
    assert_eq!(monitor.stats().batches_in_parts, 1);
    assert!(monitor.stats().to_string().contains("1 batch too large"));
    let mut parallel =
        parquet_spill::ParallelWriter::try_new_with_plan(Vec::new(), batch.schema(), plan())
            .unwrap();
    parallel.write(&batch).unwrap();
    let parallel = parallel.into_inner().unwrap();
    assert!(parallel == serial, "ParallelWriter wrote other bytes");
    let batches = testkit::read_parquet(serial).unwrap();
    let decimals = batches.iter().map(|b| {
        b.column(0)
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap()
    });
    let read: Vec<i128> = decimals.flat_map(|d| d.values().to_vec()).collect();
    assert!(
        read.into_iter().eq((0..1 << 20).map(i128::from)),
        "the rows read back differ"
    );

    // A batch that fits is one part.
    let one = batch.slice(0, 1);
    assert_eq!(plan().monitor().admit_in_parts(&one).unwrap().len(), 1);

    // A batch of which one row is too large is refused as `admit` refuses
    // the whole batch, and keeps nothing: a list of 8 Mi `Int8`s in one
    // row (levels, and the values copied as `Int32`s, ~100 MB) and a short one.
    let values = arrow_array::Int8Array::from_iter_values((0..(8 << 20) + 1).map(|i| i as i8));
    let offsets = arrow_buffer::OffsetBuffer::new(vec![0, 8 << 20, (8 << 20) + 1].into());
    let item = Arc::new(Field::new("item", DataType::Int8, false));
    let list = arrow_array::ListArray::new(item, offsets, Arc::new(values), None);
    let lists = RecordBatch::try_from_iter([("l", Arc::new(list) as ArrayRef)]).unwrap();
    let plan = SpillOptions::new(32 << 20).plan(&lists.schema()).unwrap();
    let monitor = plan.monitor();
    match monitor.admit_in_parts(&lists) {
        Err(Error::BatchTooLarge { rows: 2, .. }) => {}
        other => panic!("expected BatchTooLarge for the 2 rows, got {other:?}"),
    }
    let stats = monitor.stats();
    assert_eq!((stats.batch_room, stats.batches_in_parts), (0, 0));
    // The short row alone: a slice of the batch still carries the list's
    // whole child, which parquet converts whole, and `admit` refuses it;
    // in parts, it is one part, a compact copy of the row (since cd8de6e;
    // refused before). Built on its own, it is admitted as it is.
    assert!(matches!(
        monitor.admit(&lists.slice(1, 1)),
        Err(Error::BatchTooLarge { rows: 1, .. })
    ));
    let parts: Vec<RecordBatch> = monitor
        .admit_in_parts(&lists.slice(1, 1))
        .unwrap()
        .collect();
    assert_eq!(parts.len(), 1);
    let copy = parts[0]
        .column(0)
        .as_any()
        .downcast_ref::<arrow_array::ListArray>();
    assert_eq!(copy.map(|l| l.values().len()), Some(1), "a compact copy");
    let item = Arc::new(Field::new("item", DataType::Int8, false));
    let short = arrow_array::ListArray::new(
        item,
        arrow_buffer::OffsetBuffer::from_lengths([1]),
        Arc::new(arrow_array::Int8Array::from(vec![1i8])),
        None,
    );
    let short = RecordBatch::try_from_iter([("l", Arc::new(short) as ArrayRef)]).unwrap();
    assert_eq!(monitor.admit_in_parts(&short).unwrap().len(), 1);
}

/// Lists of `Int16`: parquet widens a list's whole child at once, also for
/// a slice, so slices of a batch too large to encode whole cost as much as
/// the batch. `admit_in_parts` copies such columns part by part, the copy
/// charged: each part holds its own rows' values, and the file is the one
/// `ArrowWriter` writes from the batch (a `ParallelWriter` cuts alike).
#[test]
fn a_batch_of_lists_parquet_converts_whole_is_written_in_copied_parts() {
    use arrow_array::{Array, ArrayRef, Int16Array, ListArray, RecordBatch};

    let values = Int16Array::from_iter_values((0..1 << 22).map(|i| i as i16));
    let offsets = arrow_buffer::OffsetBuffer::from_lengths([256; 1 << 14]);
    let item = Arc::new(Field::new("item", DataType::Int16, false));
    let list = ListArray::new(item, offsets, Arc::new(values), None);
    let batch = RecordBatch::try_from_iter([("l", Arc::new(list) as ArrayRef)]).unwrap();
    let props = || {
        WriterProperties::builder()
            .set_data_page_row_count_limit(64)
            .build()
    };
    let plan = || {
        SpillOptions::new(16 << 20)
            .properties(props())
            .plan(&batch.schema())
            .unwrap()
    };
    let mut written = Vec::new();
    let (monitor, mut writer) =
        testkit::planned_arrow_writer(&mut written, batch.schema(), plan()).unwrap();
    assert!(matches!(
        monitor.admit(&batch),
        Err(Error::BatchTooLarge { .. })
    ));
    let parts = monitor.admit_in_parts(&batch).unwrap();
    assert!(parts.len() > 1, "{} parts", parts.len());
    let mut rows = Vec::new();
    for part in parts {
        let list = part.column(0).as_any().downcast_ref::<ListArray>().unwrap();
        assert_eq!(list.values().len(), 256 * part.num_rows(), "a compact copy");
        rows.push(part.num_rows());
        writer.write(&part).unwrap();
    }
    writer.close().unwrap();

    // The same rows as slices of the batch, with the plan's settings.
    let mut expected = Vec::new();
    let options = plan().into_writer_options();
    let mut sliced =
        parquet::arrow::ArrowWriter::try_new_with_options(&mut expected, batch.schema(), options)
            .unwrap();
    let mut start = 0;
    for len in rows {
        sliced.write(&batch.slice(start, len)).unwrap();
        start += len;
    }
    sliced.close().unwrap();
    assert!(written == expected, "the copies wrote other bytes");
    let mut parallel =
        parquet_spill::ParallelWriter::try_new_with_plan(Vec::new(), batch.schema(), plan())
            .unwrap();
    parallel.write(&batch).unwrap();
    assert!(
        parallel.into_inner().unwrap() == written,
        "ParallelWriter wrote other bytes"
    );
}

/// A nullable fixed-width column without nulls reaches parquet's encoder in
/// mini-batches of up to the page row limit, so its pages pass the plan's
/// row-limited bound (here 20,000 x 16 bytes) by up to a batch's rows (a
/// 50,000-row write leaves 10,000 rows in the open page, and the next
/// write's first mini-batch adds 20,000 to them):
/// `admit` makes room for that from the batch's size, and the store's check
/// of page headers finds no page longer than it was told to expect (before,
/// it took room for "long pages", or refused them under a tight limit).
#[test]
fn pages_of_nullable_columns_without_nulls_are_expected_from_the_batch() {
    use arrow_array::{ArrayRef, Decimal128Array, RecordBatch};

    let schema = Arc::new(Schema::new(vec![Field::new(
        "d",
        DataType::Decimal128(38, 10),
        true,
    )]));
    let props = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .build();
    let plan = SpillOptions::new(64 << 20)
        .properties(props)
        .plan(&schema)
        .unwrap();
    assert_eq!(plan.properties().data_page_row_count_limit(), 20_000);
    let mut out = Vec::new();
    let (monitor, mut writer) =
        parquet_spill::testkit::planned_arrow_writer(&mut out, schema.clone(), plan).unwrap();
    let mut random = parquet_spill::workloads::SplitMix64::new(3);
    for _ in 0..4 {
        let values = (0..50_000).map(|_| Some(i128::from(random.next_u64())));
        let column = Decimal128Array::from_iter(values)
            .with_precision_and_scale(38, 10)
            .unwrap();
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(column) as ArrayRef]).unwrap();
        monitor.admit(&batch).unwrap();
        writer.write(&batch).unwrap();
    }
    writer.close().unwrap();
    let stats = monitor.stats();
    assert!(stats.batch_room > 0);
    assert_eq!(stats.long_page_room, 0, "{stats}");
    // The pages this is about: longer than 20,000 values of 16 bytes.
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader = SerializedFileReader::new(bytes::Bytes::from(out)).unwrap();
    let mut pages = reader
        .get_row_group(0)
        .unwrap()
        .get_column_page_reader(0)
        .unwrap();
    let mut largest = 0;
    while let Some(page) = pages.get_next_page().unwrap() {
        largest = largest.max(page.buffer().len());
    }
    println!("largest page {largest} bytes; the row limit alone bounds 320,000");
    assert!(largest > 20_000 * 16, "{largest}");
}

/// Fixed-length byte arrays encoded `DELTA_BYTE_ARRAY` (writer version 2's
/// default, or the caller's choice) keep a handle per value of a page, so
/// before anything else at a page size the planner tries fewer rows a page
/// (1,024, then 256, with a write batch no larger); version 1's plain
/// encoding needs none of it.
#[test]
fn delta_encoded_fixed_length_leaves_get_fewer_rows_a_page() {
    use parquet::file::properties::WriterVersion;

    let mut fields: Vec<Field> = (0..100)
        .map(|i| Field::new(format!("d{i}"), DataType::Decimal128(38, 0), false))
        .collect();
    fields.extend((0..100).map(|i| Field::new(format!("i{i}"), DataType::Int64, true)));
    let schema = Schema::new(fields);
    let plan = |version, limit| {
        let props = WriterProperties::builder()
            .set_writer_version(version)
            .build();
        SpillOptions::new(limit)
            .properties(props)
            .plan(&schema)
            .unwrap()
    };
    let mut seen = Vec::new();
    for limit in [24 * MIB, 48 * MIB, 96 * MIB, 256 * MIB, 1 << 30] {
        let v1 = plan(WriterVersion::PARQUET_1_0, limit);
        let v2 = plan(WriterVersion::PARQUET_2_0, limit);
        let (rows, batch) = (
            v2.properties().data_page_row_count_limit(),
            v2.properties().write_batch_size(),
        );
        assert!(v1.properties().data_page_row_count_limit() >= 1024, "{v1}");
        assert!(batch <= rows, "{v2}");
        if rows == 20_000 {
            // The handles are charged: 100 leaves of up to 40,000 values.
            assert!(
                v2.estimate().encoders >= v1.estimate().encoders + 100 * 40_000 * 32,
                "{v2}\n{v1}"
            );
        }
        seen.push(rows);
    }
    println!("rows a page by limit: {seen:?}");
    assert_eq!(seen, [256, 1024, 1024, 1024, 20_000]);
}

/// parquet converts an `Interval(MonthDayNano)` column's schema but cannot
/// write it: the plan refuses it up front, as it would fail in the write.
#[test]
fn leaves_parquet_cannot_write_are_refused_by_the_plan() {
    use arrow_schema::IntervalUnit::MonthDayNano;
    let interval = DataType::Interval(MonthDayNano);
    let nested = DataType::new_list(interval.clone(), true);
    for data_type in [interval, nested] {
        let schema = Schema::new(vec![Field::new("i", data_type.clone(), true)]);
        match SpillOptions::new(64 << 20).plan(&schema) {
            Err(Error::Schema(e)) => assert!(e.to_string().contains("MonthDayNano"), "{e}"),
            other => panic!("{data_type}: expected Error::Schema, got {other:?}"),
        }
    }
    // As parquet itself fails it.
    let values = arrow_array::IntervalMonthDayNanoArray::from(vec![
        arrow_array::types::IntervalMonthDayNano::new(1, 2, 3),
    ]);
    let batch =
        arrow_array::RecordBatch::try_from_iter([("i", Arc::new(values) as arrow_array::ArrayRef)])
            .unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(Vec::new(), batch.schema(), None).unwrap();
    assert!(writer
        .write(&batch)
        .and_then(|_| writer.close().map(drop))
        .is_err());
}

/// `SpillMonitor::write` cuts a batch where `ArrowWriter` ends a row group
/// inside it, by rows and by bytes (at the average row so far), and writes
/// each piece as a batch of its own: where no piece needs parts, the file
/// is `ArrowWriter`'s own, byte for byte (cut anywhere else, the pieces'
/// chunks would start elsewhere and the pages differ).
#[test]
fn the_monitor_writes_the_row_groups_arrow_writer_would() {
    use parquet::arrow::ArrowWriter;
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    for (seed, props) in [
        (
            1,
            WriterProperties::builder().set_max_row_group_row_count(Some(700)),
        ),
        (
            2,
            WriterProperties::builder().set_max_row_group_row_count(Some(333)),
        ),
        (
            3,
            WriterProperties::builder().set_max_row_group_bytes(Some(4_000)),
        ),
        (
            4,
            WriterProperties::builder()
                .set_max_row_group_row_count(Some(900))
                .set_max_row_group_bytes(Some(6_000)),
        ),
    ] {
        let props = props.set_write_batch_size(64).build();
        let batches = testkit::random_batches(&schema, &[500, 1200, 90, 2500, 10], seed);
        let plan = SpillOptions::new(64 * MIB)
            .properties(props)
            .plan(&schema)
            .unwrap();
        let mut plain_bytes = Vec::new();
        let props = Some(plan.properties().clone());
        let mut plain = ArrowWriter::try_new(&mut plain_bytes, schema.clone(), props).unwrap();
        for batch in &batches {
            plain.write(batch).unwrap();
        }
        let groups: Vec<i64> = (plain.close().unwrap().row_groups().iter())
            .map(|g| g.num_rows())
            .collect();
        let monitor = plan.monitor();
        let mut cut = ArrowWriter::try_new_with_options(
            Vec::new(),
            schema.clone(),
            plan.into_writer_options(),
        )
        .unwrap();
        for batch in &batches {
            monitor.write(&mut cut, batch).unwrap();
        }
        let cut = cut.into_inner().unwrap();
        assert_eq!(
            monitor.stats().batches_in_parts,
            0,
            "{seed}: a batch needed parts"
        );
        assert!(groups.len() > 3, "{seed}: {groups:?}");
        assert!(
            cut == plain_bytes,
            "{seed}: other bytes than ArrowWriter's ({groups:?})"
        );
    }
}
