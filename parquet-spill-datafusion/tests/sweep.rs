//! `COPY ... STORED AS PARQUET_SPILL` on random tables, each in a child
//! process: within the session's pool, or failed with a clear error and no
//! file.
//!
//! Why: the parent crate's promise sweep writes through the library; a
//! DataFusion user writes through the sink, with DataFusion's batches
//! (string views, several partitions), its writer options and a pool the
//! query shares. Each case draws columns from every type the test kit
//! makes (`all_types_schema`: nested, dictionaries, views, decimals), a
//! row count, a pool, a codec (a quarter of the cases zstd 9 or 19, gzip 9
//! or brotli 1, 5 or 9), the row-group size, one or two partitions
//! and the sink's limit (its own, or its default: half of what the pool
//! has free), and holds the child's resident-set growth to the pool plus
//! [`OVERHEAD`] (the query's own batches and DataFusion's state, which
//! the existing wide-COPY test allows the same) and the pool's peak to the
//! pool. A written file must hold every row.
//!
//! ```text
//! cargo nextest run --test sweep                          # CI: 12 cases
//! PARQUET_SPILL_DF_SWEEP=200 PARQUET_SPILL_DF_SWEEP_FROM=1000 cargo test --test sweep -- --nocapture
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use parquet_spill::testkit::measure::{self, ChildRunner};
use parquet_spill::testkit::{all_types_schema, random_batches};
use parquet_spill::workloads::SplitMix64;
use parquet_spill_datafusion::{PeakMemoryPool, SpillParquetFormatFactory, SpillSinkOptions};

const CASE: &str = "PARQUET_SPILL_DF_SWEEP_CASE";
/// Rows a DataFusion batch holds (`datafusion.execution.batch_size`).
const BATCH: usize = 8192;
const MIB: usize = 1 << 20;
/// What the process may hold beyond the pool: DataFusion's state and the
/// query's batches in flight (as `copy.rs`'s wide COPY allows).
const OVERHEAD: u64 = 32 << 20;

/// One case, all of it drawn from `seed`.
#[derive(Debug)]
struct Case {
    schema: SchemaRef,
    batch_rows: Vec<usize>,
    partitions: usize,
    pool: usize,
    /// `spill_memory_limit`, or the sink's default.
    limit: Option<usize>,
    codec: &'static str,
    row_group: Option<usize>,
    seed: u64,
}

impl Case {
    fn draw(seed: u64) -> Self {
        let mut r = SplitMix64::new(seed);
        let all = all_types_schema();
        let columns = match r.below(3) {
            0 => 1 + r.below(10) as usize,
            1 => 10 + r.below(100) as usize,
            _ => 100 + r.below(500) as usize,
        };
        let fields: Vec<Field> = (0..columns)
            .map(|i| {
                let f = all.field(r.below(all.fields().len() as u64) as usize);
                Field::new(format!("c{i}"), f.data_type().clone(), f.is_nullable())
            })
            .collect();
        let values = if r.below(2) == 0 { 300_000 } else { 3_000_000 };
        let rows = (values / columns).clamp(1, 200_000);
        // DataFusion's batches: 8,192 rows (its `batch_size`) but the last.
        let total: usize = (0..1 + r.below(4))
            .map(|_| 1 + r.below(rows as u64) as usize)
            .sum();
        let batch_rows = (0..total)
            .step_by(BATCH)
            .map(|at| BATCH.min(total - at))
            .collect();
        let pools = [32, 64, 128, 256];
        let pool = pools[r.below(pools.len() as u64) as usize] * MIB;
        let codecs = ["zstd(1)", "snappy", "lz4_raw", "uncompressed", "gzip(6)"];
        let mut case = Case {
            schema: Arc::new(Schema::new(fields)),
            batch_rows,
            partitions: 1 + r.below(2) as usize,
            pool,
            limit: (r.below(2) == 0).then(|| pool * (2 + r.below(6) as usize) / 8),
            codec: codecs[r.below(codecs.len() as u64) as usize],
            row_group: (r.below(3) == 0).then(|| 1 + r.below(rows as u64 * 2) as usize),
            seed,
        };
        // A quarter of the cases write with a costlier codec: higher zstd
        // and gzip levels, brotli. Drawn last, so every other draw of a
        // seed is as it was before these were added.
        if r.below(4) == 0 {
            let costlier = [
                "zstd(9)",
                "zstd(19)",
                "gzip(9)",
                "brotli(1)",
                "brotli(5)",
                "brotli(9)",
            ];
            case.codec = costlier[r.below(costlier.len() as u64) as usize];
        }
        case
    }

    fn rows(&self) -> usize {
        self.batch_rows.iter().sum()
    }

    fn copy(&self, out: &str) -> String {
        let mut options = vec![format!("compression '{}'", self.codec)];
        if let Some(limit) = self.limit {
            options.push(format!("spill_memory_limit '{}MiB'", limit / MIB));
        }
        if let Some(rows) = self.row_group {
            options.push(format!("max_row_group_size {rows}"));
        }
        format!(
            "COPY (SELECT * FROM t) TO '{out}' STORED AS PARQUET_SPILL OPTIONS ({})",
            options.join(", ")
        )
    }
}

/// The child: run the case [`CASE`] names, print its resident growth, the
/// pool's peak and the outcome. Does nothing unless started by the parent.
#[test]
fn sweep_child() {
    let Some(seed) = std::env::var(CASE).ok().and_then(|s| s.parse().ok()) else {
        return;
    };
    let case = Case::draw(seed);
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = dir.path().join("out.parquet");
    let batches = random_batches(&case.schema, &case.batch_rows, case.seed);
    // Each partition a share of the batches, made before the measurement.
    let mut partitions: Vec<Vec<RecordBatch>> = vec![Vec::new(); case.partitions];
    for (i, batch) in batches.into_iter().enumerate() {
        partitions[i % case.partitions].push(batch);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let line = runtime.block_on(async {
        let pool = Arc::new(PeakMemoryPool::new(GreedyMemoryPool::new(case.pool)));
        let ctx = SessionContext::new_with_config_rt(
            SessionConfig::new().with_target_partitions(case.partitions),
            RuntimeEnvBuilder::new()
                .with_memory_pool(pool.clone())
                .build_arc()
                .expect("runtime env"),
        );
        let factory = SpillParquetFormatFactory::new(SpillSinkOptions::default());
        ctx.state_ref()
            .write()
            .register_file_format(Arc::new(factory), true)
            .expect("format");
        let table = MemTable::try_new(Arc::clone(&case.schema), partitions).expect("table");
        ctx.register_table("t", Arc::new(table)).expect("table");
        let df = ctx
            .sql(&case.copy(&out.display().to_string()))
            .await
            .expect("plan");
        let before = parquet_spill::rss::reset_peak().unwrap_or(0);
        let result = df.collect().await;
        let grown = parquet_spill::rss::peak()
            .unwrap_or(0)
            .saturating_sub(before);
        let outcome = match result {
            Ok(_) => {
                let read = ctx
                    .read_parquet(out.display().to_string(), Default::default())
                    .await
                    .expect("read back");
                let rows = read.count().await.expect("count");
                format!("ok rows={rows}")
            }
            Err(e) => format!(
                "error file={} {}",
                out.exists(),
                e.to_string().replace('\n', " ")
            ),
        };
        format!("rss={grown} pool_peak={} {outcome}", pool.peak())
    });
    println!("\nDF_SWEEP {line}");
}

/// `PARQUET_SPILL_DF_SWEEP` cases (default 12) from seed
/// `PARQUET_SPILL_DF_SWEEP_FROM` (default 0): each within its pool, or
/// failed with an error and no file.
#[test]
fn random_copies_stay_within_the_pool_or_fail_cleanly() {
    let cases: u64 = std::env::var("PARQUET_SPILL_DF_SWEEP")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let from: u64 = std::env::var("PARQUET_SPILL_DF_SWEEP_FROM")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let runner = ChildRunner::test("sweep_child").expect("test executable");
    let (mut worst, mut failed, mut bad) = (0f64, 0, Vec::new());
    for seed in from..from + cases {
        let case = Case::draw(seed);
        let out = runner
            .run(CASE, &seed.to_string())
            .unwrap_or_else(|e| panic!("seed {seed} {case:?}: {e}"));
        let line = measure::tagged_line(&out, "DF_SWEEP ")
            .unwrap_or_else(|| panic!("seed {seed}: no result:\n{out}"));
        let field = |key: &str| -> u64 { measure::field(line, key).expect(key) };
        let (rss, peak) = (field("rss"), field("pool_peak"));
        let ratio = rss as f64 / (case.pool as u64 + OVERHEAD) as f64;
        worst = worst.max(ratio);
        let ok = line.contains(" ok rows=");
        println!(
            "seed {seed:>4}: {:>3} columns, {:>7} rows, {} partition(s), pool {:>3} MiB, limit {:?}, {:<12} rss {:>6.1} MiB, pool peak {:>6.1} MiB: {}",
            case.schema.fields().len(),
            case.rows(),
            case.partitions,
            case.pool / MIB,
            case.limit.map(|l| l / MIB),
            case.codec,
            rss as f64 / MIB as f64,
            peak as f64 / MIB as f64,
            line.split_once(&format!("pool_peak={peak} ")).map_or(line, |(_, o)| o)
        );
        if ok {
            let rows: usize = measure::field(line, "rows").expect("rows");
            if rows != case.rows() {
                bad.push(format!(
                    "seed {seed}: {rows} rows read back of {}",
                    case.rows()
                ));
            }
        } else {
            failed += 1;
            if line.contains("file=true") {
                bad.push(format!("seed {seed}: a failed COPY left its file: {line}"));
            }
        }
        if peak > case.pool as u64 || ratio > 1.0 {
            bad.push(format!("seed {seed} {case:?}: over its pool: {line}"));
        }
    }
    println!(
        "{cases} COPY cases from seed {from}: {failed} failed cleanly; worst RSS growth / (pool + {} MiB) {worst:.3}",
        OVERHEAD >> 20
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
