//! Write DataFusion query results to Parquet through
//! [`parquet_spill`]'s planned, spilling writers, within the session's
//! memory pool.
//!
//! DataFusion's own Parquet sink keeps every column chunk of a row group in
//! memory until the row group closes, so a wide schema or a large row group
//! grows with the data. This crate registers a file format whose sink writes
//! each file with a `parquet_spill` plan: encoder memory planned and reserved
//! from the session's [`MemoryPool`](datafusion::execution::memory_pool::MemoryPool),
//! pages on the heap only while the pool grants them (the rest spill to a
//! file), page metadata charged as it grows, columns encoded on every core.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! use std::sync::Arc;
//! use datafusion::prelude::SessionContext;
//! use parquet_spill_datafusion::{SpillParquetFormatFactory, SpillSinkOptions};
//!
//! let ctx = SessionContext::new();
//! let factory = SpillParquetFormatFactory::new(SpillSinkOptions::default());
//! ctx.state_ref().write().register_file_format(Arc::new(factory), true)?;
//!
//! let dir = tempfile::tempdir()?;
//! let out = dir.path().join("out.parquet");
//! let copy = format!(
//!     "COPY (SELECT x, x * 2 AS y FROM generate_series(1, 1000) AS t(x)) TO '{}' \
//!      STORED AS PARQUET_SPILL OPTIONS (spill_memory_limit '64MiB', compression 'zstd(1)')",
//!     out.display()
//! );
//! ctx.sql(&copy).await?.collect().await?;
//! let rows = ctx.read_parquet(out.to_str().unwrap(), Default::default()).await?.count().await?;
//! assert_eq!(rows, 1000);
//! # Ok(())
//! # }
//! ```
//!
//! Versions: DataFusion 55 uses parquet/arrow 59 and object_store 0.13;
//! `parquet_spill` accepts 59 and 60, and this crate's lockfile keeps one of
//! each. A project that resolved `parquet_spill` to parquet 60 brings it back
//! with `cargo update -p parquet@60.1.0 --precise 59.3.2` (see the
//! parquet-spill README).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod commit;
mod dataframe;
mod format;
mod options;
mod pool;
mod sink;
mod upload;
mod workload;

pub use dataframe::SpillDataFrameExt;
pub use format::{SpillParquetFormat, SpillParquetFormatFactory, DEFAULT_EXT};
pub use options::SpillSinkOptions;
pub use pool::{budget_on_pool, PeakMemoryPool};
pub use sink::SpillParquetSink;
pub use workload::workload_table;
