//! `ObjectStoreFactory` (feature `object_store`): the conformance suite over
//! `InMemory`, `LocalFileSystem` and a moto S3 server, background uploads,
//! read-ahead, a sweep of injected request failures, cleanup, and a
//! requests-per-GiB printout.
//!
//! - Here: the conformance suite over `InMemory` and `LocalFileSystem`, and
//!   the write helpers the modules share.
//! - [`objects`]: blobs packed into objects, and no object outliving its
//!   writer (deleted when taken or dropped, retried, cleaned up).
//! - [`failures`]: injected request failures, a failed background upload and
//!   an altered object are clear errors.
//! - [`concurrency`]: background uploads and every calling context.
//! - [`requests`]: read-ahead and request counts per GiB.
//! - [`memory`]: buffers charged to the budget, peak heap in a child process.
//! - [`s3`]: against moto's S3 API on loopback.
#![cfg(feature = "object_store")]

#[path = "../common/mod.rs"]
mod common;

mod concurrency;
mod failures;
mod memory;
mod objects;
mod requests;
mod s3;

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet_spill::testkit::{CountingAlloc, SharedFactory};
use parquet_spill::workloads::Workload;
use parquet_spill::{ObjectStoreFactory, PageStoreFactory};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

fn in_memory_factory() -> SharedFactory {
    Arc::new(
        ObjectStoreFactory::builder(Arc::new(InMemory::new()), "spill".into())
            .buffer_size(256 << 10)
            .build()
            .unwrap(),
    )
}

fn local_factory() -> SharedFactory {
    // The tempdir is leaked for the test process's life; the factory deletes its objects.
    let dir = tempfile::tempdir().unwrap().keep();
    let store = LocalFileSystem::new_with_prefix(&dir).unwrap();
    Arc::new(
        ObjectStoreFactory::builder(Arc::new(store), "spill".into())
            .buffer_size(256 << 10)
            .build()
            .unwrap(),
    )
}

mod in_memory {
    parquet_spill::conformance_tests!(super::in_memory_factory());
}

mod local_fs {
    parquet_spill::conformance_tests!(super::local_factory());
}

/// The Parquet file `w` makes with `factory`, in one row group.
fn write_bytes(
    factory: Arc<dyn PageStoreFactory>,
    w: &Workload,
) -> parquet::errors::Result<Vec<u8>> {
    write_with(factory, w, WriterProperties::builder())
}

/// [`write_bytes`] with `props` (the row group size is set here).
fn write_with(
    factory: Arc<dyn PageStoreFactory>,
    w: &Workload,
    props: WriterPropertiesBuilder,
) -> parquet::errors::Result<Vec<u8>> {
    let props = props.set_max_row_group_row_count(Some(w.rows())).build();
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_page_store_factory(factory);
    let mut writer = ArrowWriter::try_new_with_options(Vec::new(), w.schema(), options)?;
    for batch in w.batches(w.default_batch_rows()) {
        writer.write(&batch)?;
    }
    writer.into_inner()
}
