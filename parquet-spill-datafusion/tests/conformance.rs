//! The parent crate's conformance suite (`../tests/conformance.rs`, every
//! backend and every decorator, with the counting allocator), compiled here
//! against this package's lockfile: parquet/arrow 59.3.2 and object_store
//! 0.13.2, the versions DataFusion 55.2 uses. The parent's own CI steps run
//! it on parquet 60.1; one source serves both.

#[path = "../../tests/conformance.rs"]
mod suite;
