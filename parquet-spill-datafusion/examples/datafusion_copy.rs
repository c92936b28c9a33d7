//! A query over generated data, written by `COPY ... STORED AS PARQUET_SPILL`
//! in one row group, with the peak memory it took from the pool.
//!
//! The package's dev profile optimises parquet and arrow (DataFusion, which only
//! plans and passes batches through, is left unoptimised to build fast).
//!
//! ```sh
//! cargo run --example datafusion_copy            # 256 MiB of input
//! cargo run --example datafusion_copy -- 1024    # 1 GiB
//! ```

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use parquet_spill::workloads::Workload;
use parquet_spill_datafusion::{
    workload_table, PeakMemoryPool, SpillParquetFormatFactory, SpillSinkOptions,
};

const POOL: usize = 256 << 20;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let mib: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().map_err(|_| {
            datafusion::error::DataFusionError::Configuration(format!(
                "expected MiB of input, got {arg}"
            ))
        })?,
        None => 256,
    };
    let columns = 300;
    let per_row = Workload::WideMixed { columns, rows: 1 }.raw_bytes();
    let workload = Workload::WideMixed {
        columns,
        rows: ((mib << 20) / per_row) as usize,
    };

    // One pool for the whole session: the query's operators and the writer.
    let peak = Arc::new(PeakMemoryPool::new(GreedyMemoryPool::new(POOL)));
    let pool: Arc<dyn MemoryPool> = peak.clone();
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(pool)
        .build_arc()?;
    // 300 columns of ~76 bytes: 1024-row batches are ~22 MiB each.
    let config = SessionConfig::new().with_batch_size(1024);
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let factory = SpillParquetFormatFactory::new(SpillSinkOptions::default());
    ctx.state_ref()
        .write()
        .register_file_format(Arc::new(factory), true)?;
    let table = workload_table(workload, workload.default_batch_rows())?;
    ctx.register_table("t", Arc::new(table))?;

    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out.parquet");
    let df = ctx
        .sql(&format!(
            "COPY (SELECT * FROM t WHERE c0_i64 % 10 <> 0) TO '{}' STORED AS PARQUET_SPILL \
         OPTIONS (compression 'zstd(1)', max_row_group_size 1000000000, \
                  spill_memory_limit '224MiB')",
            out.display()
        ))
        .await?;
    let started = std::time::Instant::now();
    let before = parquet_spill::rss::reset_peak().unwrap_or(0);
    df.collect().await?;
    let grown = parquet_spill::rss::peak()
        .unwrap_or(0)
        .saturating_sub(before);
    let elapsed = started.elapsed();

    let rows = ctx
        .read_parquet(out.to_str().unwrap_or_default(), Default::default())
        .await?
        .count()
        .await?;
    let size = std::fs::metadata(&out)?.len();
    println!(
        "{}: {rows} rows of {columns} columns, {:.1} MiB file in {:.1} s; \
         peak taken from the {} MiB pool: {:.1} MiB; peak RSS growth {:.1} MiB",
        workload.name(),
        size as f64 / f64::from(1 << 20),
        elapsed.as_secs_f64(),
        POOL >> 20,
        peak.peak() as f64 / f64::from(1 << 20),
        grown as f64 / f64::from(1 << 20),
    );
    Ok(())
}
