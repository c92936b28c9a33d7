//! How-to: `AsyncArrowWriter` writing to an object store (through
//! `object_store`'s `BufWriter`, which parquet 60 takes directly in place of
//! the deprecated `ParquetObjectWriter`), with its pages spilled to the same
//! object store.
//!
//! ```text
//! cargo run --example async_object_store --features object_store
//! ```
//!
//! Here the store is a `LocalFileSystem` under a temporary directory; an S3,
//! GCS or Azure store from `object_store` works the same way.
//!
//! # What blocking spill I/O means inside an async runtime
//!
//! parquet's `PageStore` is synchronous: `AsyncArrowWriter::write` encodes
//! on the task that awaits it, and every page it finishes goes through the
//! store *on that thread*. So:
//!
//! - The object-store backend runs its requests on a **multi-thread** tokio
//!   runtime — here the application's own (`.runtime(Handle::current())`).
//!   Called from a worker of that runtime, each wait happens in
//!   `block_in_place`, which hands the worker's other tasks to another thread
//!   first; a current-thread runtime is refused when the factory is built.
//! - The file backend does plain `pwrite`/`pread` on the calling thread:
//!   microseconds on a local disk, but it still blocks the worker.
//! - Encoding itself is CPU work. Either way, the writer is best driven from
//!   `tokio::task::spawn_blocking` (or a plain thread) when the runtime also
//!   serves latency-sensitive tasks; this example shows both.
//!
//! # Why the row group size still matters with `AsyncArrowWriter`
//!
//! `AsyncArrowWriter` splices each finished row group into an in-memory
//! `Vec<u8>` before it uploads it, so while a row group is flushed its whole
//! encoded size is on the heap, whatever the page store. Spilled pages bound
//! the memory *while encoding*; for a bounded flush too, run the synchronous
//! `ArrowWriter` over a streaming sink in `spawn_blocking` (second part).

use std::sync::Arc;

use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::async_writer::AsyncArrowWriter;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use parquet_spill::workloads::Workload;
use parquet_spill::{ObjectStoreFactory, SpillOptions};
use tokio::runtime::Handle;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir.path())?);
    let workload = Workload::WideMixed {
        columns: 60,
        rows: 40_000,
    };
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(20_000))
        .build();

    // 1. AsyncArrowWriter on the runtime, pages spilled to the object store.
    let spill = ObjectStoreFactory::builder(Arc::clone(&store), "spill".into())
        .buffer_size(4 << 20)
        .read_ahead(4 << 20)
        .runtime(Handle::current());
    let plan = SpillOptions::new(48 << 20)
        .properties(props.clone())
        .object_store(spill)
        .expected_file_bytes(workload.raw_bytes())
        .plan(&workload.schema())?;
    let monitor = plan.monitor();
    let output = BufWriter::new(Arc::clone(&store), Path::from("out/async.parquet"));
    let mut writer = AsyncArrowWriter::try_new_with_options(
        output,
        workload.schema(),
        plan.into_writer_options(),
    )?;
    for batch in workload.batches(5_000) {
        writer.write(&batch).await?; // encodes and spills on this worker
    }
    let metadata = writer.close().await?;
    let size = store.head(&Path::from("out/async.parquet")).await?.size;
    println!(
        "async: {} rows in {} row groups, {size} bytes; spilled {} bytes\n{}",
        metadata.file_metadata().num_rows(),
        metadata.num_row_groups(),
        monitor.stats().spilled_bytes,
        monitor.stats()
    );

    // 2. The synchronous writer in spawn_blocking: encoding and spill I/O
    //    stay off the runtime's workers, and the flush streams into the file.
    let path = dir.path().join("blocking.parquet");
    let schema = workload.schema();
    let written = tokio::task::spawn_blocking(move || -> parquet::errors::Result<_> {
        let plan = SpillOptions::new(48 << 20)
            .properties(props)
            .expected_file_bytes(workload.raw_bytes())
            .plan(&schema)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))?;
        let mut writer = ArrowWriter::try_new_with_options(
            std::fs::File::create(&path)?,
            schema,
            plan.into_writer_options(),
        )?;
        for batch in workload.batches(5_000) {
            writer.write(&batch)?;
        }
        writer.close()
    })
    .await??;
    println!(
        "spawn_blocking: {} rows in {} row groups",
        written.file_metadata().num_rows(),
        written.num_row_groups()
    );
    let left = store
        .list_with_delimiter(Some(&Path::from("spill")))
        .await?;
    assert!(
        left.objects.is_empty(),
        "spill objects are deleted once read back"
    );
    Ok(())
}
