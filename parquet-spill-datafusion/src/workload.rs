//! `parquet_spill`'s synthetic workloads as DataFusion tables.
//!
//! Why: the example, the tests and anyone comparing sinks need a large
//! query result that is the same on every run and never sits in memory as a
//! whole; a streaming table generates each batch when the query pulls it.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use parquet_spill::workloads::Workload;

/// One partition streaming `workload` in batches of `batch_rows` rows.
#[derive(Debug)]
struct Generated {
    workload: Workload,
    batch_rows: usize,
    schema: SchemaRef,
}

impl PartitionStream for Generated {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (workload, rows) = (self.workload, self.batch_rows.max(1));
        let batches = (0..workload.rows().div_ceil(rows)).map(move |k| {
            let first = k * rows;
            Ok(workload.batch(k as u64, rows.min(workload.rows() - first), first))
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            futures_util::stream::iter(batches),
        ))
    }
}

/// A table of `workload`'s rows, generated batch by batch as a query reads
/// them (`batch_rows` rows each).
///
/// ```
/// # #[tokio::main(flavor = "multi_thread")]
/// # async fn main() -> datafusion::error::Result<()> {
/// use std::sync::Arc;
/// use datafusion::prelude::SessionContext;
/// use parquet_spill::workloads::Workload;
/// let ctx = SessionContext::new();
/// let table = parquet_spill_datafusion::workload_table(Workload::WideMixed { columns: 6, rows: 1000 }, 300)?;
/// ctx.register_table("t", Arc::new(table))?;
/// assert_eq!(ctx.table("t").await?.count().await?, 1000);
/// # Ok(())
/// # }
/// ```
pub fn workload_table(workload: Workload, batch_rows: usize) -> Result<StreamingTable> {
    let schema = workload.schema();
    let stream = Generated {
        workload,
        batch_rows,
        schema: Arc::clone(&schema),
    };
    StreamingTable::try_new(schema, vec![Arc::new(stream)])
}
