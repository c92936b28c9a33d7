//! Demo: one large, skewed row group written with parquet's default
//! in-memory page store, with [`FileStoreFactory`], and within a memory
//! budget (`SpillOptions`, `--budget MIB`, default 64), each measured in a
//! child process of its own.
//!
//! ```text
//! cargo run --release --example wide_skewed
//! ```
//!
//! The default workload is the skewed schema from the design notes (3 ints,
//! 5 short strings, 10 fat 8 KiB strings) at 256 MiB raw, written as one zstd
//! row group. The table shows the writer's peak heap while writing and while
//! flushing, the spill file's peak size, wall time inside the writer, extra
//! open descriptors and the output size. With the default store the heap
//! holds the whole encoded row group; with the file store it holds the
//! encoders' unfinished pages and the spill file holds the rest, in one
//! descriptor.
//!
//! Scale it up with `--mib 1024`, fatten the skew with `--fat-kib 64`, or go
//! wide with `--wide 300` (300 mixed int/string columns instead); put the
//! spill file on another disk with `--spill-dir /fast/scratch`.
//!
//! `--wide` also shows the limit of spilling pages alone: with hundreds of
//! columns, each column's encoder state (its unfinished page, dictionary and
//! write batch) dominates the heap, and only smaller encoder limits shrink it.
//!
//! [`FileStoreFactory`]: parquet_spill::FileStoreFactory

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use parquet_spill::testkit::measure::{self, ChildRunner, Scenario, Store};
use parquet_spill::testkit::CountingAlloc;
use parquet_spill::workloads::Workload;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

/// Write one big row group with and without spilling, and compare the heap.
#[derive(Debug, Parser)]
#[command(name = "wide_skewed")]
struct Args {
    /// Raw input size of the row group, in MiB.
    #[arg(long, default_value_t = 256)]
    mib: u64,
    /// Bytes per fat string value, in KiB (skewed schema).
    #[arg(long, default_value_t = 8, conflicts_with = "wide")]
    fat_kib: usize,
    /// Write this many mixed columns (Int64, ~20-byte and ~200-byte strings)
    /// instead of the skewed schema.
    #[arg(long, value_name = "COLUMNS")]
    wide: Option<usize>,
    /// Rows per input batch [default: a few MiB per batch].
    #[arg(long)]
    batch_rows: Option<usize>,
    /// Also write with `SpillOptions::new(MIB)`: planned encoder
    /// limits plus a tiered store (repeat for several budgets; `0` for none).
    #[arg(long, value_name = "MIB", default_values_t = [64u64])]
    budget: Vec<u64>,
    /// Directory for the spill file [default: the OS temp dir].
    #[arg(long, value_name = "PATH")]
    spill_dir: Option<PathBuf>,
    /// Directory for the (temporary) output files [default: the OS temp dir].
    #[arg(long, value_name = "PATH")]
    out_dir: Option<PathBuf>,
    /// Internal: measure the scenario in the environment and exit.
    #[arg(long, hide = true)]
    measure_child: bool,
}

impl Args {
    /// The chosen shape, with as many rows as make `--mib` of raw data.
    fn workload(&self) -> Workload {
        let shape = |rows| match self.wide {
            Some(columns) => Workload::WideMixed { columns, rows },
            None => Workload::Skewed {
                rows,
                fat_len: self.fat_kib << 10,
            },
        };
        let per_row = shape(1).raw_bytes().max(1);
        shape(((self.mib << 20) / per_row).max(1) as usize)
    }

    fn scenario(&self, store: Store) -> Scenario {
        let mut scenario = Scenario::new(self.workload(), store);
        scenario.batch_rows = self.batch_rows;
        scenario.output_dir = self.out_dir.clone();
        scenario
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wide_skewed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn Error>> {
    if args.measure_child {
        return match measure::serve_child(&ALLOC)? {
            Some(_) => Ok(()),
            None => Err(format!("--measure-child needs {}", measure::SCENARIO_ENV).into()),
        };
    }

    let budgets = args
        .budget
        .iter()
        .filter(|b| **b > 0)
        .map(|mib| Store::Budget {
            limit: (*mib as usize) << 20,
            spill_dir: args.spill_dir.clone(),
        });
    let scenarios: Vec<Scenario> = [
        Store::Default,
        Store::File {
            spill_dir: args.spill_dir.clone(),
        },
    ]
    .into_iter()
    .chain(budgets)
    .map(|store| args.scenario(store))
    .collect();
    let workload = scenarios[0].workload;
    println!(
        "{}: {} rows, {} raw, {} columns, one row group, zstd; batches of {} rows\n",
        workload.name(),
        workload.rows(),
        measure::human_bytes(workload.raw_bytes()),
        workload.schema().fields().len(),
        scenarios[0].batch_rows(),
    );

    let child = ChildRunner::current_exe(["--measure-child"])?;
    let mut results = Vec::new();
    for scenario in scenarios {
        let measured = child.measure(&scenario)?;
        results.push((scenario, measured));
    }
    print!("{}", measure::format_table(&results));

    let memory = results[0].1;
    println!();
    for (scenario, m) in &results[1..] {
        println!(
            "{}: {:.1}x less peak heap than in-memory; {} spilled to one file.",
            scenario.store.name(),
            memory.peak_heap() as f64 / m.peak_heap().max(1) as f64,
            measure::human_bytes(m.bytes_spilled.unwrap_or(0)),
        );
    }
    Ok(())
}
