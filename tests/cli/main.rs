//! The `parquet-spill` binary, run as a user would (feature `cli`).
//!
//! Why end-to-end: what the tool promises is about processes and files — the
//! output reads back equal to the input, a failed or interrupted run leaves
//! nothing at OUTPUT, errors name the file and line, and a memory limit keeps
//! the *process's* resident memory down. So every test here runs the built
//! binary (`CARGO_BIN_EXE_parquet-spill`) on files in a temporary directory.
//!
//! - [`conversion`]: successful conversions of every format and option.
//! - [`failures`]: errors, refusals and interruptions leave nothing behind.
//! - [`memory`]: `--memory-limit` spills, and keeps peak RSS down. The
//!   peak-RSS comparison converts a 512 MiB CSV into one row group with and
//!   without `--memory-limit 128MiB` (about ten seconds in all).
//! - [`reporting`]: progress lines and the demo's comparison table.
//! - [`support`]: running the binary, writing inputs, reading outputs back.
#![cfg(feature = "cli")]

mod conversion;
mod failures;
mod memory;
mod reporting;
mod support;
