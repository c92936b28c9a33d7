//! `DataFrame::write_parquet`, through the spilling sink.
//!
//! Why: DataFusion's `DataFrame::write_parquet` is wired to its own Parquet
//! format. The same plan (`LogicalPlan::Copy`) with our format writes
//! through [`SpillParquetSink`](crate::SpillParquetSink), with no SQL.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::Result;
use datafusion::datasource::file_format::format_as_file_type;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::DataFrame;

use crate::{SpillParquetFormatFactory, SpillSinkOptions};

/// Adds [`write_parquet_spill`](Self::write_parquet_spill) to DataFusion's
/// `DataFrame` (example there).
///
/// ```
/// use parquet_spill_datafusion::SpillDataFrameExt;
/// fn writes_spilling<T: SpillDataFrameExt>() {}
/// writes_spilling::<datafusion::prelude::DataFrame>();
/// ```
#[async_trait]
pub trait SpillDataFrameExt {
    /// Write this frame's rows to `path` (one file if it has an extension,
    /// else a directory of files), within `options`' memory limit.
    /// `parquet_options` are DataFusion's Parquet options as `COPY` takes
    /// them (`"compression"` → `"zstd(1)"`, `"max_row_group_size"`, ...).
    /// Returns the count batch `COPY` returns.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread")]
    /// # async fn main() -> datafusion::error::Result<()> {
    /// use std::collections::HashMap;
    /// use datafusion::prelude::SessionContext;
    /// use parquet_spill_datafusion::{SpillDataFrameExt, SpillSinkOptions};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("out.parquet");
    /// let ctx = SessionContext::new();
    /// let df = ctx.sql("SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS t(x, y)").await?;
    /// let options = SpillSinkOptions::default().with_memory_limit(32 << 20);
    /// df.write_parquet_spill(path.to_str().unwrap(), options, HashMap::new()).await?;
    /// let back = ctx.read_parquet(path.to_str().unwrap(), Default::default()).await?.count().await?;
    /// assert_eq!(back, 2);
    /// # Ok(())
    /// # }
    /// ```
    async fn write_parquet_spill(
        self,
        path: &str,
        options: SpillSinkOptions,
        parquet_options: HashMap<String, String>,
    ) -> Result<Vec<RecordBatch>>;
}

#[async_trait]
impl SpillDataFrameExt for DataFrame {
    async fn write_parquet_spill(
        self,
        path: &str,
        options: SpillSinkOptions,
        parquet_options: HashMap<String, String>,
    ) -> Result<Vec<RecordBatch>> {
        let (state, plan) = self.into_parts();
        let format = format_as_file_type(Arc::new(SpillParquetFormatFactory::new(options)));
        let parquet_options = parquet_options
            .into_iter()
            .map(|(k, v)| match k.starts_with("format.") {
                true => (k, v),
                false => (format!("format.{k}"), v),
            })
            .collect();
        let plan =
            LogicalPlanBuilder::copy_to(plan, path.to_string(), format, parquet_options, vec![])?
                .build()?;
        DataFrame::new(state, plan).collect().await
    }
}
