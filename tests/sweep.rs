//! The promise sweep (`tests/common/sweep.rs`) with the system allocator:
//! random schemas, limits, row counts, row groups and codecs, one child
//! process per case, every case within its limit or refused up front.
//!
//! ```text
//! cargo test --all-features --test sweep -- --nocapture                       # CI: 96 + 24 + 48 + 16 + 80 + 40 + 24 + 12 cases
//! PARQUET_SPILL_SWEEP=400 cargo test --release --all-features --test sweep -- --nocapture
//! PARQUET_SPILL_SWEEP_LONG=200 cargo test --release --all-features --test sweep long -- --nocapture      # and 16 "both"
//! PARQUET_SPILL_SWEEP_CALLER=200 cargo test --release --all-features --test sweep caller -- --nocapture  # and 16 "both"
//! PARQUET_SPILL_SWEEP_BOTH=200 cargo test --release --all-features --test sweep both -- --nocapture
//! PARQUET_SPILL_SWEEP_LISTS=200 cargo test --release --all-features --test sweep lists_of_many -- --nocapture
//! PARQUET_SPILL_SWEEP_SAMPLED=200 cargo test --release --all-features --test sweep sampled -- --nocapture
//! PARQUET_SPILL_SWEEP_VIEWS=200 cargo test --release --all-features --test sweep views -- --nocapture
//! PARQUET_SPILL_SWEEP_KEYED=200 cargo test --release --all-features --test sweep keyed -- --nocapture
//! PARQUET_SPILL_SWEEP_FROM=400 PARQUET_SPILL_SWEEP=400 cargo test --release --all-features --test sweep -- --nocapture  # cases no earlier run drew
//! ```

#[path = "common/sweep.rs"]
mod sweep;

use parquet_spill::testkit::CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

#[test]
fn sweep_child() {
    sweep::serve_child(&ALLOC, |_| ());
}

#[test]
fn every_case_is_within_its_limit_or_refused() {
    sweep::run("sweep_child", 96, false, sweep::Kind::Plain);
}

/// The same cases with a last column of a few values longer than any page
/// (256 KiB, 2 MiB or 6 MiB; five types): within the limit, refused up
/// front, or stopped with `PageTooLong` before passing it.
#[test]
fn with_long_values_every_case_is_within_its_limit_or_stopped() {
    sweep::run("sweep_child", 24, false, sweep::Kind::Long);
}

/// The same cases with writer properties a caller set (writer version,
/// dictionaries, statistics and their truncation, their own page, batch
/// and row limits, fallback encodings, bloom filters, content-defined
/// chunking): within the limit, refused up front, or stopped before it.
#[test]
fn with_caller_properties_every_case_is_within_its_limit_or_stopped() {
    sweep::run("sweep_child", 48, false, sweep::Kind::Caller);
}

/// Both at once: a long-value column written with writer properties a
/// caller set (their own page limits, encodings, statistics, 2 to 8
/// threads), as no single kind draws it.
#[test]
fn with_long_values_and_caller_properties_both_every_case_is_within_its_limit_or_stopped() {
    sweep::run("sweep_child", 16, false, sweep::Kind::Both);
}

/// Lists whose rows hold many values (`sweep::Kind::Lists`): within the
/// limit, refused up front, or stopped before it.
#[test]
fn with_lists_of_many_values_every_case_is_within_its_limit_or_stopped() {
    sweep::run("sweep_child", 80, false, sweep::Kind::Lists);
}

/// The lists' cases planned with their first batch as a sample
/// (`SpillOptions::sample`): later batches' rows may hold more values than
/// the sample's, and are still counted as they come.
#[test]
fn with_sampled_lists_every_case_is_within_its_limit_or_stopped() {
    sweep::run("sweep_child", 40, false, sweep::Kind::Sampled);
}

/// The plain cases with their lists read as list views
/// (`sweep::Kind::Views`), in order and out of it: within the limit,
/// refused up front, or stopped before it.
#[test]
fn with_list_views_every_case_is_within_its_limit_or_stopped() {
    sweep::run("sweep_child", 24, false, sweep::Kind::Views);
}

/// The plain cases with their nested columns the values of a dictionary
/// or a run array (`sweep::Kind::Keyed`), which parquet takes through the
/// keys before it writes them: within the limit, refused up front, or
/// stopped before it.
#[test]
fn with_nested_columns_keyed_every_case_is_within_its_limit_or_stopped() {
    sweep::run("sweep_child", 12, false, sweep::Kind::Keyed);
}
