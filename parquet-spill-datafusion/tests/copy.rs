//! `COPY ... STORED AS PARQUET_SPILL` and `DataFrame::write_parquet_spill`
//! against real files, read back by DataFusion and pyarrow.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{Int64Type, UInt64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryConsumer, MemoryPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use parquet_spill::testkit::measure::ChildRunner;
use parquet_spill::workloads::Workload;
use parquet_spill_datafusion::{
    workload_table, PeakMemoryPool, SpillDataFrameExt, SpillParquetFormatFactory, SpillSinkOptions,
};

const WORKLOAD: Workload = Workload::WideMixed {
    columns: 12,
    rows: 5_000,
};

/// One partition (results in input order), our format registered, the
/// workload as table `t`.
fn session(pool: Option<Arc<dyn MemoryPool>>) -> SessionContext {
    session_with(pool, WORKLOAD)
}

fn session_with(pool: Option<Arc<dyn MemoryPool>>, workload: Workload) -> SessionContext {
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(pool) = pool {
        runtime = runtime.with_memory_pool(pool);
    }
    let ctx = SessionContext::new_with_config_rt(
        SessionConfig::new()
            .with_target_partitions(1)
            .with_batch_size(500)
            // Read strings back as the query produced them (not as views).
            .set_bool(
                "datafusion.execution.parquet.schema_force_view_types",
                false,
            ),
        runtime.build_arc().unwrap(),
    );
    let factory = SpillParquetFormatFactory::new(SpillSinkOptions::default());
    ctx.state_ref()
        .write()
        .register_file_format(Arc::new(factory), true)
        .unwrap();
    let batch_rows = workload.default_batch_rows().min(700);
    ctx.register_table("t", Arc::new(workload_table(workload, batch_rows).unwrap()))
        .unwrap();
    ctx
}

/// `select` (with `{}` for the table) over the Parquet file or directory `path`.
async fn read_back(ctx: &SessionContext, path: impl AsRef<Path>, select: &str) -> RecordBatch {
    let path = path.as_ref().to_str().unwrap();
    read_back_url(ctx, path, select).await
}

/// [`read_back`] for any URL of the session's object-store registry.
async fn read_back_url(ctx: &SessionContext, path: &str, select: &str) -> RecordBatch {
    ctx.deregister_table("back").unwrap();
    ctx.register_parquet("back", path, Default::default())
        .await
        .unwrap();
    rows(ctx, &select.replace("{}", "back")).await
}

async fn rows(ctx: &SessionContext, sql: &str) -> RecordBatch {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let schema = batches[0].schema();
    concat_batches(&schema, &batches).unwrap()
}

const QUERY: &str = "SELECT *, coalesce(abs(c0_i64 % 7), 7) AS p FROM t WHERE c0_i64 % 5 <> 0";

#[tokio::test(flavor = "multi_thread")]
async fn copy_writes_exactly_the_rows_of_the_query() {
    let ctx = session(None);
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.parquet");
    let theirs = dir.path().join("theirs.parquet");
    let copy = |path: &Path, stored_as: &str, options: &str| {
        format!(
            "COPY ({QUERY}) TO '{}' STORED AS {stored_as} OPTIONS ({options})",
            path.display()
        )
    };
    let count = rows(
        &ctx,
        &copy(
            &ours,
            "PARQUET_SPILL",
            "spill_memory_limit '64MiB', compression 'zstd(1)', max_row_group_size 1000000",
        ),
    )
    .await;
    rows(&ctx, &copy(&theirs, "PARQUET", "compression 'zstd(1)'")).await;

    let expected = rows(&ctx, QUERY).await;
    assert_eq!(
        count.column(0).as_primitive::<UInt64Type>().value(0),
        expected.num_rows() as u64,
        "COPY's count"
    );
    let back = read_back(&ctx, &ours, "SELECT * FROM {}").await;
    assert_eq!(back, expected, "read back by DataFusion");
    let back_theirs = read_back(&ctx, &theirs, "SELECT * FROM {}").await;
    assert_eq!(
        back, back_theirs,
        "DataFusion's own sink wrote the same rows"
    );
    assert_eq!(
        pyarrow_rows(&ours),
        (expected.num_rows(), sum_c0(&expected))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sorted_copies_record_the_sorting_columns_datafusion_does() {
    use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    let ctx = session(None);
    let dir = tempfile::tempdir().unwrap();
    let sorting = |path: &Path| {
        let reader = SerializedFileReader::new(std::fs::File::open(path).unwrap()).unwrap();
        reader.metadata().row_group(0).sorting_columns().cloned()
    };
    let mut found = Vec::new();
    for stored_as in ["PARQUET_SPILL", "PARQUET"] {
        let out = dir.path().join(format!("{stored_as}.parquet"));
        rows(
            &ctx,
            &format!(
                "COPY (SELECT * FROM ({QUERY}) ORDER BY c1_s20 DESC NULLS LAST, c0_i64) TO '{}' \
                 STORED AS {stored_as} OPTIONS (compression 'snappy')",
                out.display()
            ),
        )
        .await;
        found.push(sorting(&out));
    }
    assert_eq!(found[0].as_ref().map(Vec::len), Some(2), "{found:?}");
    assert_eq!(found[0], found[1], "ours, then DataFusion's");
}

#[tokio::test(flavor = "multi_thread")]
async fn directories_and_partitions_hold_every_row() {
    let ctx = session(None);
    let dir = tempfile::tempdir().unwrap();
    let sorted = format!("SELECT * FROM ({QUERY}) ORDER BY c0_i64, c1_s20");
    let expected = rows(&ctx, &sorted).await;

    let many = format!("{}/many/", dir.path().display());
    rows(
        &ctx,
        &format!(
            "COPY ({QUERY}) TO '{many}' STORED AS PARQUET_SPILL \
             OPTIONS (spill_memory_limit '128MiB', spill_upload_buffer '1MiB')"
        ),
    )
    .await;
    let files = std::fs::read_dir(&many).unwrap().count();
    assert!(files > 1, "a directory of {files} file(s)");
    let back = read_back(&ctx, &many, "SELECT * FROM {} ORDER BY c0_i64, c1_s20").await;
    assert_eq!(back, expected);

    let parts = format!("{}/parts/", dir.path().display());
    let distinct = rows(&ctx, &format!("SELECT count(DISTINCT p) FROM ({QUERY})")).await;
    let distinct = first_i64(&distinct, 0);
    assert!(distinct > 1);
    rows(
        &ctx,
        &format!(
            "COPY ({QUERY}) TO '{parts}' STORED AS PARQUET_SPILL PARTITIONED BY (p) \
             OPTIONS (spill_memory_limit '256MiB', spill_max_open_files {distinct}, \
             spill_upload_buffer '1MiB')"
        ),
    )
    .await;
    assert_eq!(
        std::fs::read_dir(&parts).unwrap().count() as i64,
        distinct,
        "one directory per p"
    );
    let n = read_back(&ctx, &parts, "SELECT count(*) AS n FROM {}").await;
    let n = first_i64(&n, 0);
    assert_eq!(n as usize, expected.num_rows());
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_to_an_object_store_of_the_sessions_registry() {
    use datafusion::execution::object_store::ObjectStoreUrl;
    use datafusion::object_store::{memory::InMemory, path::Path as ObjectPath, ObjectStoreExt};
    let ctx = session(None);
    let store = Arc::new(InMemory::new());
    let url = ObjectStoreUrl::parse("memory://bucket").unwrap();
    ctx.register_object_store(url.as_ref(), store.clone());
    let out = "memory://bucket/out/data.parquet";
    rows(
        &ctx,
        &format!(
            "COPY ({QUERY}) TO '{out}' STORED AS PARQUET_SPILL \
             OPTIONS (spill_memory_limit '128MiB', spill_upload_buffer '1MiB')"
        ),
    )
    .await;
    let meta = store
        .head(&ObjectPath::from("out/data.parquet"))
        .await
        .unwrap();
    assert!(
        meta.size > 1 << 20,
        "more than one upload part: {} bytes",
        meta.size
    );
    let back = read_back_url(&ctx, out, "SELECT * FROM {}").await;
    assert_eq!(back, rows(&ctx, QUERY).await);
}

/// A current-thread runtime (`#[tokio::test]`'s default): the blocking
/// writer hands its bytes to upload tasks only that one thread can run.
#[tokio::test]
async fn copy_works_on_a_current_thread_runtime() {
    let ctx = session(None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.parquet");
    rows(
        &ctx,
        &format!(
            "COPY ({QUERY}) TO '{}' STORED AS PARQUET_SPILL \
             OPTIONS (spill_memory_limit '128MiB', spill_upload_buffer '1MiB')",
            out.display()
        ),
    )
    .await;
    let back = read_back(&ctx, &out, "SELECT * FROM {}").await;
    assert_eq!(back, rows(&ctx, QUERY).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dataframe_method_writes_the_same_rows() {
    let ctx = session(None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("df.parquet");
    let df = ctx.sql(QUERY).await.unwrap();
    let options = SpillSinkOptions::default().with_memory_limit(64 << 20);
    let parquet = HashMap::from([("compression".to_string(), "snappy".to_string())]);
    df.write_parquet_spill(out.to_str().unwrap(), options, parquet)
        .await
        .unwrap();
    let back = read_back(&ctx, &out, "SELECT * FROM {}").await;
    assert_eq!(back, rows(&ctx, QUERY).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_the_query_already_fills_fails_the_copy_cleanly() {
    let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(48 << 20));
    let operator = MemoryConsumer::new("someone else").register(&pool);
    operator.try_grow(40 << 20).unwrap();
    let ctx = session(Some(Arc::clone(&pool)));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.parquet");
    let err = ctx
        .sql(&format!(
            "COPY ({QUERY}) TO '{}' STORED AS PARQUET_SPILL OPTIONS (spill_memory_limit '32MiB')",
            out.display()
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(
        matches!(err.find_root(), DataFusionError::ResourcesExhausted(_)),
        "{err}"
    );
    assert!(err.to_string().contains("out.parquet"), "{err}");
    assert!(!out.exists(), "no file claimed complete");
    drop(operator);
    assert_eq!(pool.reserved(), 0, "the writer gave everything back");
}

/// One batch far larger than the rest (a run of long strings) needs room
/// for itself beside the batches the writer may still hold, not room for
/// as many batches its size as are in flight: here that is 4 MiB more, not
/// 12, which the limit has, so the COPY is written whole
/// (`PARQUET_SPILL_OUTLIER_LIMIT_MIB` tries another limit; with the old
/// rule it stopped at 20 and 24 MiB). What the process holds is the
/// sweep's to measure.
#[tokio::test(flavor = "multi_thread")]
async fn one_batch_larger_than_the_rest_is_written_beside_those_in_flight() {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;

    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
    let batch = |len: usize| {
        let values = StringArray::from_iter_values((0..8192).map(|i| format!("{i:0len$}")));
        RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(values) as ArrayRef]).unwrap()
    };
    // 8,192 rows each: ~100 KB, but the seventh ~4.2 MB.
    let batches: Vec<RecordBatch> = (0..14)
        .map(|i| batch(if i == 6 { 512 } else { 8 }))
        .collect();
    let (small, large) = (
        batches[0].get_array_memory_size(),
        batches[6].get_array_memory_size(),
    );
    assert!(large > 30 * small, "{small} {large}");
    let ctx = session(None);
    let table = MemTable::try_new(Arc::clone(&schema), vec![batches]).unwrap();
    ctx.register_table("outlier", Arc::new(table)).unwrap();
    let limit: usize = std::env::var("PARQUET_SPILL_OUTLIER_LIMIT_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.parquet");
    let copied = ctx
        .sql(&format!(
            "COPY (SELECT * FROM outlier) TO '{}' STORED AS PARQUET_SPILL OPTIONS \
             (spill_memory_limit '{limit}MiB', spill_threads '2', spill_upload_buffer '64KiB', \
             compression 'lz4_raw')",
            out.display()
        ))
        .await
        .unwrap()
        .collect()
        .await;
    let copied = copied.unwrap_or_else(|e| panic!("at {limit} MiB: {e}"));
    assert_eq!(
        copied[0].column(0).as_primitive::<UInt64Type>().value(0),
        14 * 8192
    );
    let back = read_back(
        &ctx,
        &out,
        "SELECT count(*) AS n, max(length(s)) AS m FROM {}",
    )
    .await;
    assert_eq!(
        back.column(0).as_primitive::<Int64Type>().value(0),
        14 * 8192
    );
    assert_eq!(
        back.column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>()
            .value(0),
        512
    );
}

/// Content-defined chunking runs inside `ArrowWriter`, on one thread: the
/// sink plans for one (so names a lower minimum than for two threads), and
/// the file holds every row.
#[tokio::test(flavor = "multi_thread")]
async fn content_defined_chunking_is_planned_for_one_thread() {
    let ctx = session(None);
    let dir = tempfile::tempdir().unwrap();
    let copy = |options: &str| {
        let out = dir.path().join(format!("out-{}.parquet", options.len()));
        let sql = format!(
            "COPY ({QUERY}) TO '{}' STORED AS PARQUET_SPILL OPTIONS (spill_threads '2'{options})",
            out.display()
        );
        (sql, out)
    };
    let minimum = |cdc: &str| {
        let (sql, _) = copy(&format!(", spill_memory_limit '1KiB'{cdc}"));
        let ctx = &ctx;
        async move {
            let err = ctx.sql(&sql).await.unwrap().collect().await.unwrap_err();
            let text = err.to_string();
            let at = text.find("the smallest limit that works is ").expect(&text);
            let digits: String = text[at + 33..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<usize>().unwrap()
        }
    };
    let cdc = ", 'format.content_defined_chunking.enabled' 'true'";
    let (one, two) = (minimum(cdc).await, minimum("").await);
    println!("minimum on two threads: with chunking {one} bytes, without {two}");
    assert!(one < two, "with chunking {one}, without {two}");
    let (sql, out) = copy(cdc);
    ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let expected = rows(&ctx, &format!("SELECT count(*) FROM ({QUERY})")).await;
    let back = read_back(&ctx, &out, "SELECT count(*) FROM {}").await;
    assert_eq!(back, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_spill_dir_fails_the_copy_naming_it() {
    let ctx = session(None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.parquet");
    let err = ctx
        .sql(&format!(
            "COPY ({QUERY}) TO '{}' STORED AS PARQUET_SPILL \
             OPTIONS (spill_memory_limit '64MiB', spill_dir '/nonexistent/spill')",
            out.display()
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/nonexistent/spill") && err.contains("out.parquet"),
        "{err}"
    );
    assert!(!out.exists(), "no file claimed complete");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_spill_options_are_refused_by_name() {
    let ctx = session(None);
    let sql = "COPY (SELECT 1 AS x) TO '/tmp/never.parquet' STORED AS PARQUET_SPILL \
               OPTIONS (spill_memroy_limit '1GiB')";
    let err = match ctx.sql(sql).await {
        Ok(df) => df.collect().await.map(drop).unwrap_err(),
        Err(e) => e,
    };
    assert!(err.to_string().contains("spill_memroy_limit"), "{err}");
}

/// A `spill_upload_buffer` of 0 made object_store queue empty parts
/// forever; one beyond `usize` overflowed: both are refused by name.
#[tokio::test(flavor = "multi_thread")]
async fn upload_buffers_out_of_range_are_refused_by_name() {
    let ctx = session(None);
    for size in ["0", "10EiB", "1KiB"] {
        let sql = format!(
            "COPY (SELECT 1 AS x) TO '/tmp/never.parquet' STORED AS PARQUET_SPILL \
             OPTIONS (spill_upload_buffer '{size}')"
        );
        let err = match ctx.sql(&sql).await {
            Ok(df) => df.collect().await.map(drop).unwrap_err(),
            Err(e) => e,
        };
        assert!(
            err.to_string().contains("spill_upload_buffer"),
            "{size}: {err}"
        );
    }
}

/// Every file under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// A writer sees its input end the same way whether the query ended or
/// failed: no file is committed until the whole input has succeeded, so a
/// query failing half-way leaves no file looking complete, one output or
/// many partitions (DataFusion's own sink leaves the rows before the error).
#[tokio::test(flavor = "multi_thread")]
async fn a_query_failing_half_way_commits_no_file() {
    let ctx = session(None);
    let failing =
        "SELECT x, x % 4 AS p, 10 / (x - 9000) AS y FROM generate_series(1, 10000) AS t(x)";
    for partitioned in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (to, by) = match partitioned {
            false => (dir.path().join("out.parquet"), ""),
            true => (dir.path().join("parts/"), "PARTITIONED BY (p)"),
        };
        let err = ctx
            .sql(&format!(
                "COPY ({failing}) TO '{}' STORED AS PARQUET_SPILL {by} \
                 OPTIONS (spill_memory_limit '256MiB', spill_max_open_files 4)",
                to.display()
            ))
            .await
            .unwrap()
            .collect()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("Divide by zero"), "{err}");
        let left = files_under(dir.path());
        assert!(left.is_empty(), "partitioned {partitioned}: {left:?}");
    }
}

/// Files a `COPY` writes one after another (DataFusion opens the next
/// every `soft_max_rows_per_output_file` rows without waiting for the last
/// one's writer): a writer plans only once one of the files' shares is free,
/// and a finished file waits for the verdict holding its upload's buffers,
/// not its plan. Eighty files fit a limit that holds about ten plans.
#[tokio::test(flavor = "multi_thread")]
async fn files_written_one_after_another_each_get_their_share() {
    let ctx = files_of_200_rows(&[]).await;
    let (dir, to, copied) = copy_series(
        &ctx,
        40_000,
        "spill_memory_limit '64MiB', spill_max_open_files 4, spill_upload_buffer '64KiB'",
    )
    .await;
    copied.unwrap();
    let files = files_under(dir.path());
    assert!(files.len() >= 40, "{} files", files.len());
    let back = read_back(&ctx, &to, "SELECT count(*), sum(x) FROM {}").await;
    let count = back.column(0).as_primitive::<Int64Type>().value(0);
    let sum = back.column(1).as_primitive::<Int64Type>().value(0);
    assert_eq!((count, sum), (40_000, 40_000 * 40_001 / 2));
}

/// A file whose upload fails in its last step, after the verdict (a small
/// file's only put; here its partition's directory is taken by a file):
/// the files committed before it are removed, and the `COPY` fails naming
/// the upload.
#[tokio::test(flavor = "multi_thread")]
async fn an_upload_failing_after_the_verdict_leaves_no_file_committed() {
    let ctx = session(None);
    let dir = tempfile::tempdir().unwrap();
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    std::fs::write(parts.join("p=3"), b"not a directory").unwrap();
    let err = ctx
        .sql(&format!(
            "COPY (SELECT x, x % 4 AS p FROM generate_series(1, 1000) AS t(x)) TO '{}/' \
             STORED AS PARQUET_SPILL PARTITIONED BY (p) \
             OPTIONS (spill_memory_limit '256MiB', spill_max_open_files 4)",
            parts.display()
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("completing the upload"), "{err}");
    let left: Vec<_> = files_under(&parts)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert!(
        left.is_empty(),
        "a failed COPY left files committed: {left:?}"
    );
}

/// A finished file waiting for the verdict holds only what its upload
/// still holds (a small file: its bytes), not the upload's full buffers
/// beside its plan: with 64 MiB parts, files written one after another
/// under a 300 MiB limit (one plan's share, with the buffers, at once)
/// still each get theirs.
#[tokio::test(flavor = "multi_thread")]
async fn large_upload_buffers_leave_files_written_one_after_another_room() {
    let ctx = files_of_200_rows(&["SET datafusion.execution.batch_size = 200"]).await;
    for buffer in ["8MiB", "64MiB"] {
        let options = format!(
            "spill_memory_limit '300MiB', spill_max_open_files 1, spill_upload_buffer '{buffer}'"
        );
        let (_dir, to, copied) = copy_series(&ctx, 2000, &options).await;
        copied.unwrap_or_else(|e| panic!("upload buffer {buffer}: {e}"));
        let back = read_back(&ctx, &to, "SELECT count(*) FROM {}").await;
        assert_eq!(back.column(0).as_primitive::<Int64Type>().value(0), 2000);
    }
}

/// A session whose `COPY`s write files of 200 rows one after another,
/// with `more` settings.
async fn files_of_200_rows(more: &[&str]) -> SessionContext {
    let ctx = session(None);
    let files = [
        "SET datafusion.execution.soft_max_rows_per_output_file = 200",
        "SET datafusion.execution.minimum_parallel_output_files = 1",
    ];
    for set in files.iter().chain(more) {
        ctx.sql(set).await.unwrap().collect().await.unwrap();
    }
    ctx
}

/// `COPY` rows `x, x * 2` for `x` in `1..=rows` into a new directory with
/// `options`: the directory, its URL and what the `COPY` returned.
async fn copy_series(
    ctx: &SessionContext,
    rows: u64,
    options: &str,
) -> (
    tempfile::TempDir,
    String,
    datafusion::error::Result<Vec<RecordBatch>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let to = format!("{}/", dir.path().join("parts").display());
    let copied = ctx
        .sql(&format!(
            "COPY (SELECT x, x * 2 AS y FROM generate_series(1, {rows}) AS t(x)) TO '{to}' \
             STORED AS PARQUET_SPILL OPTIONS ({options})"
        ))
        .await
        .unwrap()
        .collect()
        .await;
    (dir, to, copied)
}

/// A cancelled `COPY` (its future dropped) commits nothing either: the
/// writers still running when it is dropped abort their uploads.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_copy_commits_no_file() {
    let ctx = session(None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.parquet");
    let copy = ctx
        .sql(&format!(
            "COPY (SELECT x, x * 2 AS y FROM generate_series(1, 1000000000) AS t(x)) \
             TO '{}' STORED AS PARQUET_SPILL OPTIONS (spill_memory_limit '64MiB')",
            out.display()
        ))
        .await
        .unwrap()
        .collect();
    let cancelled = tokio::time::timeout(std::time::Duration::from_millis(1500), copy).await;
    assert!(cancelled.is_err(), "the COPY ended within 1.5 s");
    // The writer's thread runs on until its input closes, then aborts.
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(
            !out.exists(),
            "a cancelled COPY committed {}",
            out.display()
        );
    }
    let left = files_under(dir.path());
    assert!(left.is_empty(), "{left:?}");
}

fn sum_c0(batch: &RecordBatch) -> i64 {
    let c0 = batch
        .column_by_name("c0_i64")
        .unwrap()
        .as_primitive::<Int64Type>();
    c0.iter().flatten().fold(0i64, i64::wrapping_add)
}

/// The first value of Int64 column `column` (an aggregate's result).
fn first_i64(batch: &RecordBatch, column: usize) -> i64 {
    batch.column(column).as_primitive::<Int64Type>().value(0)
}

/// Rows and the (wrapping) sum of `c0_i64`, as pyarrow reads them.
fn pyarrow_rows(path: &Path) -> (usize, i64) {
    let script = "import sys, pyarrow.parquet as pq\n\
                  t = pq.read_table(sys.argv[1], columns=['c0_i64'])\n\
                  s = sum(v for v in t.column('c0_i64').to_pylist() if v is not None)\n\
                  s = (s + 2**63) % 2**64 - 2**63\n\
                  print(t.num_rows, s)";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("python3 (pyarrow is installed by .ci/run)");
    assert!(
        out.status.success(),
        "pyarrow: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut words = text.split_whitespace().map(|w| w.parse::<i64>().unwrap());
    (words.next().unwrap() as usize, words.next().unwrap())
}

// --- memory: a ~1 GiB, 300-column result in one row group, 256 MiB pool ----

/// The pool both sinks get.
const POOL: usize = 256 << 20;
/// What the process adds beyond the pool: the demultiplexer's queued batch,
/// DataFusion's own buffers, allocator slack (measured: see README).
const OVERHEAD: u64 = 32 << 20;
const CHILD: &str = "PARQUET_SPILL_DF_CHILD";

/// MiB of input (`PARQUET_SPILL_DF_MIB`, default 1024).
fn wide() -> Workload {
    let mib: u64 = std::env::var("PARQUET_SPILL_DF_MIB")
        .map(|v| v.parse().expect("PARQUET_SPILL_DF_MIB"))
        .unwrap_or(1024);
    let columns = 300;
    let per_row = Workload::WideMixed { columns, rows: 1 }.raw_bytes();
    Workload::WideMixed {
        columns,
        rows: ((mib << 20) / per_row) as usize,
    }
}

/// The `COPY` of `sink` (`ours` or `theirs`) into `dir`.
fn wide_copy(sink: &str, dir: &str) -> String {
    let common = "compression 'zstd(1)', max_row_group_size 1000000000";
    match sink {
        "ours" => format!(
            "COPY (SELECT * FROM t) TO '{dir}/ours.parquet' STORED AS PARQUET_SPILL \
             OPTIONS ({common}, spill_memory_limit '224MiB')"
        ),
        _ => format!(
            "COPY (SELECT * FROM t) TO '{dir}/theirs.parquet' STORED AS PARQUET OPTIONS ({common})"
        ),
    }
}

/// The child: run one sink's `COPY` in a 256 MiB pool and print its peak
/// RSS growth and pool peak. Does nothing unless started by the parent.
#[test]
fn copy_child() {
    let Ok(job) = std::env::var(CHILD) else {
        return;
    };
    let (sink, dir) = job.split_once(':').unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let line = runtime.block_on(async {
        let peak = Arc::new(PeakMemoryPool::new(GreedyMemoryPool::new(POOL)));
        let ctx = session_with(Some(peak.clone()), wide());
        let df = ctx.sql(&wide_copy(sink, dir)).await.unwrap();
        let before = parquet_spill::rss::reset_peak().unwrap();
        let result = df.collect().await;
        let grown = parquet_spill::rss::peak().unwrap() - before;
        let outcome = match result {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("error: {}", e.to_string().replace('\n', " ")),
        };
        format!("rss_growth={grown} pool_peak={} {outcome}", peak.peak())
    });
    println!("\nDF_RESULT {line}");
}

fn run_child(sink: &str, dir: &Path) -> (u64, u64, String) {
    let out = ChildRunner::test("copy_child")
        .unwrap()
        .run(CHILD, &format!("{sink}:{}", dir.display()))
        .unwrap();
    let line = out
        .lines()
        .find_map(|l| l.split_once("DF_RESULT ").map(|(_, r)| r.to_string()))
        .unwrap_or_else(|| panic!("no result from the {sink} child:\n{out}"));
    let mut words = line.splitn(3, ' ');
    let mut field = |name: &str| -> u64 {
        let word = words.next().unwrap();
        word.strip_prefix(name).unwrap().parse().unwrap()
    };
    let rss = field("rss_growth=");
    let pool = field("pool_peak=");
    (rss, pool, words.next().unwrap_or_default().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wide_copy_in_one_row_group_stays_within_the_pool() {
    let dir = tempfile::tempdir().unwrap();
    let workload = wide();
    let (rss, pool, outcome) = run_child("ours", dir.path());
    let (their_rss, their_pool, their_outcome) = run_child("theirs", dir.path());
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "COPY of {} ({:.0} MiB raw), zstd(1), one row group, GreedyMemoryPool {} MiB:\n\
         \x20 STORED AS PARQUET_SPILL: RSS growth {:.1} MiB, pool peak {:.1} MiB: {outcome}\n\
         \x20 STORED AS PARQUET (DataFusion's): RSS growth {:.1} MiB, pool peak {:.1} MiB: {their_outcome}",
        workload.name(),
        mib(workload.raw_bytes()),
        POOL >> 20,
        mib(rss),
        mib(pool),
        mib(their_rss),
        mib(their_pool),
    );
    assert_eq!(outcome, "ok");
    assert!(pool <= POOL as u64);
    assert!(
        rss <= POOL as u64 + OVERHEAD,
        "RSS grew {:.1} MiB, over the pool plus {} MiB",
        mib(rss),
        OVERHEAD >> 20
    );

    // Exactly the rows of the query, by DataFusion and by pyarrow.
    let ours = dir.path().join("ours.parquet");
    let ctx = session_with(None, workload);
    let check = "SELECT count(*) AS n, sum(c0_i64) AS s, sum(length(c2_s200)) AS l";
    let expected = rows(&ctx, &format!("{check} FROM t")).await;
    let back = read_back(&ctx, &ours, &format!("{check} FROM {{}}")).await;
    assert_eq!(back, expected);
    let n = first_i64(&expected, 0);
    let s = first_i64(&expected, 1);
    assert_eq!(pyarrow_rows(&ours), (n as usize, s));
    let file = std::fs::File::open(&ours).unwrap();
    let reader = datafusion::parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use datafusion::parquet::file::reader::FileReader;
    assert_eq!(reader.metadata().num_row_groups(), 1, "one row group");
}

/// Embeddings, 768 distinct values a row: the sink plans each file with
/// its first batch as a sample (`SpillOptions::sample`), so the list leaf
/// gets a page row limit of its own and the COPY is written at parquet's
/// default properties. Planned from the schema alone at 32 MiB, the writer
/// stopped at the first batch (`PageTooManyValues`: the plan's pages of
/// 8,192 rows of 768 values needed 5.2 MB beyond it, which 32 MiB could not
/// hold). At 40 MiB since the plan keeps 3 MiB for the process (its
/// minimum is 34.0 MiB).
#[tokio::test(flavor = "multi_thread")]
async fn lists_of_many_values_a_row_are_planned_from_the_first_batch() {
    use datafusion::arrow::array::{ArrayRef, Int64Array, ListArray};
    use datafusion::arrow::buffer::OffsetBuffer;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    let item = Arc::new(Field::new("item", DataType::Int64, false));
    let schema = Arc::new(Schema::new(vec![Field::new(
        "embedding",
        DataType::List(item.clone()),
        false,
    )]));
    let (per_batch, items) = (512, 768);
    let batches: Vec<RecordBatch> = (0..8)
        .map(|b| {
            let first = (b * per_batch * items) as i64;
            let values = Int64Array::from_iter_values(first..first + (per_batch * items) as i64);
            let offsets = OffsetBuffer::from_lengths(vec![items; per_batch]);
            let list = ListArray::new(item.clone(), offsets, Arc::new(values), None);
            RecordBatch::try_new(schema.clone(), vec![Arc::new(list) as ArrayRef]).unwrap()
        })
        .collect();
    let ctx = session(None);
    let table = MemTable::try_new(schema.clone(), vec![batches.clone()]).unwrap();
    ctx.register_table("embeddings", Arc::new(table)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("embeddings.parquet");
    let copy = format!(
        "COPY embeddings TO '{}' STORED AS PARQUET_SPILL OPTIONS (spill_memory_limit '40MiB')",
        path.display()
    );
    let count = rows(&ctx, &copy).await;
    assert_eq!(
        count.column(0).as_primitive::<UInt64Type>().value(0),
        (8 * per_batch) as u64
    );
    let back = read_back(&ctx, &path, "SELECT * FROM {}").await;
    assert_eq!(back, concat_batches(&schema, &batches).unwrap());
}
