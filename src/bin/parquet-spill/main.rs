//! `parquet-spill`: convert CSV, NDJSON, Arrow IPC and Parquet files to
//! Parquet within a memory limit, and a demo that shows what the limit buys.
//!
//! Why a binary: the library's promise ("a big row group in a budget you
//! choose") is easiest to check on your own data with one command. This file
//! only wires things up: the counting allocator (so the report shows the true
//! peak heap), Ctrl-C cleanup, argument parsing, and turning errors into one
//! clear line plus their causes and a non-zero exit code. The work lives in
//! [`convert`] and [`demo`].
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![forbid(unsafe_code)]

mod cleanup;
mod cli;
mod convert;
mod demo;
mod input;
mod output;
mod progress;
mod report;
mod schema_spec;
mod settings;
mod units;

use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use clap::Parser;
use parquet_spill::recycle::{self, Recycling};
use peak_alloc::PeakAlloc;

/// Every allocation of the process is counted, so the report's "peak heap"
/// is the real peak (input batches, writer and spill bookkeeping together,
/// and the freed blocks kept for reuse, at most [`recycle::bound_for`] of
/// the limit).
#[global_allocator]
static ALLOC: Recycling<PeakAlloc> = Recycling::new(PeakAlloc);

/// Freed blocks the allocator keeps under `--memory-limit` (the plan
/// reserves them): [`recycle::bound_for`] the limit, [`recycle::MAX_BOUND`]
/// without one.
fn recycle_bound(limit: Option<u64>) -> usize {
    limit.map_or(recycle::MAX_BOUND, |l| {
        recycle::bound_for(usize::try_from(l).unwrap_or(usize::MAX))
    })
}

/// Exit code for failures (bad input, unwritable output, too small a limit).
const EXIT_FAILURE: u8 = 1;

fn main() -> ExitCode {
    if let Some(code) = with_malloc_setting() {
        return code;
    }
    quiet_panics();
    let args = cli::Cli::parse();
    let result = cleanup::install().and_then(|()| match &args.command {
        cli::Command::Convert(convert) => {
            ALLOC.set_bound(recycle_bound(convert.memory_limit));
            convert::run(convert, ALLOC.inner()).map(drop)
        }
        cli::Command::Demo(demo) => demo::run(demo),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("parquet-spill: error: {err}");
            for cause in new_causes(&err) {
                eprintln!("  caused by: {cause}");
            }
            // A stop is within the limit too: say so with the figure.
            if let cli::Command::Convert(cli::ConvertArgs {
                memory_limit: Some(limit),
                ..
            }) = &args.command
            {
                if let Some(peak) = parquet_spill::rss::peak() {
                    eprintln!(
                        "  peak RSS {} with a {} limit",
                        units::human_bytes(peak),
                        units::human_bytes(*limit)
                    );
                }
            }
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// The causes of `err` worth printing under it: parquet's and this crate's
/// errors repeat their source's text in their own, so a cause already
/// said by the message before it is left out.
fn new_causes(err: &anyhow::Error) -> Vec<String> {
    let mut said = err.to_string();
    let mut causes = Vec::new();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !said.contains(&text) {
            causes.push(text.clone());
            said = text;
        }
    }
    causes
}

/// On glibc, run this program again with [`parquet_spill::rss::GLIBC_TUNABLES`]
/// unless it already runs with a setting of its own, and return its exit
/// code: with glibc's default the resident set can sit 15–20 % above the heap
/// (freed page buffers stay resident), which `--memory-limit` would not see.
/// `None` when this process is the one to do the work.
fn with_malloc_setting() -> Option<ExitCode> {
    if !cfg!(all(target_os = "linux", target_env = "gnu"))
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    // A terminal's Ctrl-C reaches both processes; a signal sent to this one
    // alone (`kill -INT`) is passed on. The child cleans up and exits; this
    // one waits for it.
    let child_pid = Arc::new(AtomicI32::new(0));
    let forward = Arc::clone(&child_pid);
    ctrlc::set_handler(move || {
        let pid = forward.load(Ordering::SeqCst);
        if pid > 0 {
            let _ = kill(Pid::from_raw(pid), Signal::SIGINT);
        }
    })
    .ok()?;
    let status = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .env("GLIBC_TUNABLES", parquet_spill::rss::GLIBC_TUNABLES)
        .spawn()
        .and_then(|mut child| {
            child_pid.store(i32::try_from(child.id()).unwrap_or(0), Ordering::SeqCst);
            child.wait()
        });
    Some(match status {
        Ok(status) => ExitCode::from(
            status
                .code()
                .map_or(EXIT_FAILURE, |c| u8::try_from(c).unwrap_or(EXIT_FAILURE)),
        ),
        Err(err) => {
            eprintln!(
                "parquet-spill: error: cannot start {}: {err}",
                exe.display()
            );
            ExitCode::from(EXIT_FAILURE)
        }
    })
}

/// A panic is a bug in this tool or a dependency, not something a user can
/// act on from a backtrace: print one line and let unwinding remove the
/// temporary output file.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("parquet-spill: internal error (please report): {info}");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_its_message_already_says_is_printed_once() {
        use parquet::errors::ParquetError;
        let inner = parquet_spill::Error::BatchTooLarge {
            rows: 10,
            needed: 20,
            statistics: 0,
            limit: 30,
        };
        let text = inner.to_string();
        let wrapped = parquet_spill::Error::Encode {
            column: "c".into(),
            source: ParquetError::External(Box::new(inner)),
        };
        let err = anyhow::Error::new(wrapped).context("writing out.parquet");
        let causes = new_causes(&err);
        assert_eq!(causes.len(), 1, "{causes:#?}");
        assert!(causes[0].contains("encoding column c") && causes[0].contains(&text));
        // A cause that adds something is kept.
        let err = anyhow::anyhow!("disk full").context("writing out.parquet");
        assert_eq!(new_causes(&err), ["disk full"]);
    }
}
