//! Write Parquet with arrow-rs's [`ArrowWriter`] in a memory budget you choose.
//!
//! # The problem
//!
//! Parquet needs every column chunk contiguous in the file, but record batches
//! arrive with all columns interleaved. So a writer holds every column's
//! encoded pages for a whole row group and splices them into the file at
//! flush: peak memory grows with the row group size and the column count,
//! while readers want *large* row groups.
//!
//! The `parquet` crate lets the page buffer be swapped out
//! ([`PageStore`], [`PageStoreFactory`],
//! [`ArrowWriterOptions::with_page_store_factory`]) but ships only the
//! in-memory store. This crate ships the stores that make that API useful:
//!
//! - [`FileStoreFactory`]: every page goes to **one shared, unlinked spill
//!   file** per factory (not one descriptor per column), with positional I/O,
//!   a CRC32C per blob and disk space reused between row groups.
//! - [`TieredStoreFactory`] and [`SpillOptions`]: pages stay on the heap
//!   while a shared [`MemoryBudget`] allows and spill beyond it; a planner
//!   fits the encoders' own limits to the budget.
//! - `ObjectStoreFactory` (feature `object_store`): spill to S3, GCS, Azure or
//!   any `object_store::ObjectStore`, in few large requests.
//! - [`testkit`] (feature `testkit`): a conformance suite any
//!   [`PageStoreFactory`] can run, requiring byte-identical output to
//!   parquet's default store.
//!
//! # Quick start
//!
//! ```
//! use std::sync::Arc;
//! use arrow_array::{ArrayRef, RecordBatch, StringArray};
//! use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
//! use parquet_spill::FileStoreFactory;
//!
//! let spill = Arc::new(FileStoreFactory::new()?); // or FileStoreFactory::in_dir("/fast/scratch")
//! let options = ArrowWriterOptions::new().with_page_store_factory(spill.clone());
//!
//! let names = Arc::new(StringArray::from_iter_values((0..10_000).map(|i| format!("row {i}"))));
//! let batch = RecordBatch::try_from_iter([("name", names as ArrayRef)])?;
//! let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options)?;
//! writer.write(&batch)?; // pages go to the spill file, not the heap
//! let parquet_bytes = writer.into_inner()?;
//!
//! assert!(spill.stats().bytes_spilled > 0);
//! assert!(!parquet_bytes.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors
//!
//! Stores return [`Error`] converted into [`ParquetError::External`], so the
//! writer's error names what failed (spill directory, offset and length,
//! checksum) and nothing is silently corrupted: a spilled byte that changed on
//! disk makes `write`/`close` fail instead of producing a file.
//!
//! [`ArrowWriter`]: parquet::arrow::ArrowWriter
//! [`ParquetError::External`]: parquet::errors::ParquetError::External
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![cfg_attr(
    not(any(feature = "testkit", feature = "recycle")),
    forbid(unsafe_code)
)]
#![cfg_attr(any(feature = "testkit", feature = "recycle"), deny(unsafe_code))]
#![warn(missing_docs)]

mod blobs;
mod budget;
mod compact;
mod compat;
mod dictionary_entries;
mod encode_cost;
mod error;
mod extents;
mod file;
mod long_values;
mod memory;
mod metadata;
pub mod metrics;
#[cfg(feature = "object_store")]
mod object_store;
mod options;
mod page_rows;
mod parallel;
pub mod plan;
#[cfg(feature = "recycle")]
pub mod recycle;
mod row_groups;
pub mod rss;
pub mod spill_file;
mod spill_plan;
mod stats;
mod taken;
#[cfg(feature = "testkit")]
pub mod testkit;
mod tiered;
#[cfg(feature = "workloads")]
pub mod workloads;

#[cfg(feature = "object_store")]
pub use crate::object_store::{
    ObjectStoreFactory, ObjectStoreFactoryBuilder, ObjectStoreStats, ObjectStoreStore,
    DEFAULT_BUFFER_SIZE,
};
pub use budget::{BudgetStats, ExternalPool, MemoryBudget, Reservation};
pub use error::{Alternative, Error, Result};
pub use file::{FileStore, FileStoreFactory, DEFAULT_INLINE_THRESHOLD};
pub use memory::{MemoryStore, MemoryStoreFactory};
pub use metrics::SpillStats;
pub use options::SpillOptions;
pub use parallel::{ParallelWriter, WriteAllError, PARALLEL_QUEUED_BATCHES};
pub use spill_plan::SpillPlan;
pub use stats::{Parts, SpillMonitor, WriterStats};
pub use tiered::{TieredStats, TieredStoreFactory};

/// Parquet's page-store API, re-exported so one import path serves.
///
/// ```
/// use parquet_spill::{InMemoryPageStoreFactory, PageStoreFactory};
/// let default: &dyn PageStoreFactory = &InMemoryPageStoreFactory;
/// # let _ = default;
/// ```
pub use parquet::arrow::arrow_writer::{
    ArrowWriterOptions, InMemoryPageStore, InMemoryPageStoreFactory, PageKey, PageStore,
    PageStoreArgs, PageStoreFactory,
};
