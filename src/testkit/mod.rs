//! Test kit (feature `testkit`): a conformance suite any [`PageStoreFactory`]
//! can run, the data it writes, decorators that inject faults and latency,
//! and tools to measure memory.
//!
//! Why: a page store that loses or reorders one byte produces a Parquet file
//! that may still open. The only safe bar is the one parquet's own test uses:
//! the file must be byte-identical to what the default in-memory store writes.
//! This kit runs that comparison over a matrix of types, nesting, codecs,
//! page layouts, row groups and both writer paths, so every store — ours and
//! yours — is held to it.
//!
//! Checking your own store takes one macro call in an integration test:
//!
//! ```
//! // tests/conformance.rs of your crate, with parquet-spill's `testkit` feature
//! // as a dev-dependency; `SparseMapStoreFactory` stands in for your factory.
//! parquet_spill::conformance_tests!(std::sync::Arc::new(parquet_spill::testkit::SparseMapStoreFactory));
//! # fn main() {}
//! ```
//!
//! Panicking is this module's error handling: it is test code, and a failed
//! check must fail the test with the case's name.
//!
//! [`PageStoreFactory`]: crate::PageStoreFactory
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod alloc;
mod conformance;
mod data;
mod discard;
mod faulty;
pub mod measure;
#[cfg(feature = "object_store")]
pub mod object_store;
mod sparse;
mod throttled;
#[cfg(target_os = "linux")]
mod tmpfs;
mod write;

pub use alloc::{CountingAlloc, Excluded};
pub use conformance::*;
pub use data::{
    all_types_batch, all_types_schema, leaf_types, random_batch, random_batches,
    random_batches_with_lists,
};
pub use discard::{DiscardStore, DiscardStoreFactory};
pub use faulty::{
    error_in_chain, injected_fault, metadata_exhausted, Fault, FaultCounts, FaultyStore,
    FaultyStoreFactory, InjectedFault, Op,
};
pub use sparse::{SparseMapStore, SparseMapStoreFactory};
pub use throttled::{ThrottleConfig, ThrottledStoreFactory};
#[cfg(target_os = "linux")]
pub use tmpfs::Tmpfs;
pub use write::{
    column_row_limit, planned_arrow_writer, read_parquet, set_column_row_limit,
    write_parallel_writer, write_parallel_writer_all, write_parquet, write_parquet_parallel,
    write_planned,
};
