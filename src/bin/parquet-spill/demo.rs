//! `parquet-spill demo`: see what a memory limit buys, on this machine, in seconds.
//!
//! Why child processes: peak heap and peak RSS are per process, and an
//! allocator never gives every byte back, so two conversions in one process
//! would measure each other. The demo writes a seeded, skewed data set (the
//! library's `workloads`, the same data as the README's figures) as
//! CSV, then runs `parquet-spill convert` on it twice — parquet's default
//! in-memory page store, then `--memory-limit` — each as a fresh copy of
//! this executable, and prints their reports side by side.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use parquet_spill::workloads::Workload;

use crate::cleanup::Registration;
use crate::cli::DemoArgs;
use crate::report::Report;
use crate::units::{group_digits, human_bytes, size_arg};

/// One conversion of the comparison.
struct Run {
    label: String,
    memory_limit: Option<u64>,
}

pub fn run(args: &DemoArgs) -> Result<()> {
    let workload = workload(args);
    let (dir, _temp) = work_dir(args)?;
    let shape = if args.wide.is_some() {
        "wide"
    } else {
        "skewed"
    };
    let csv = dir.join(format!("{shape}.csv"));
    eprintln!(
        "generating {} columns × {} rows (~{} of values) as CSV ...",
        workload.schema().fields().len(),
        group_digits(workload.rows() as u64),
        human_bytes(workload.raw_bytes())
    );
    generate_csv(&workload, &csv)?;
    let csv_bytes = std::fs::metadata(&csv)?.len();
    eprintln!("wrote {} ({})", csv.display(), human_bytes(csv_bytes));

    let runs = [
        Run {
            label: "in-memory (parquet default)".into(),
            memory_limit: None,
        },
        Run {
            label: format!("--memory-limit {}", human_bytes(args.memory_limit)),
            memory_limit: Some(args.memory_limit),
        },
    ];
    let mut reports = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        let output = dir.join(format!("out-{i}.parquet"));
        let report_path = dir.join(format!("report-{i}.json"));
        let command = convert_command(args, run, &csv, &output, &report_path)?;
        eprintln!("converting: {}", show(&command));
        reports.push((run, run_child(command, &report_path, &run.label)?));
    }
    println!();
    println!("{}", table(&reports));
    if let [(_, default), (_, limited)] = &reports[..] {
        println!(
            "One row group each; with the limit, peak heap is {:.1}× smaller and pages beyond \
             it were spilled to disk.",
            default.peak_heap as f64 / limited.peak_heap.max(1) as f64
        );
    }
    if let Some(keep) = &args.keep {
        println!("Files kept in {}", keep.display());
    }
    Ok(())
}

fn workload(args: &DemoArgs) -> Workload {
    let shape = |rows| match args.wide {
        Some(columns) => Workload::WideMixed {
            columns: columns.max(1),
            rows,
        },
        None => Workload::Skewed {
            rows,
            fat_len: (args.fat_kib as usize) << 10,
        },
    };
    let per_row = shape(1).raw_bytes().max(1);
    shape(((args.mib << 20) / per_row).max(1) as usize)
}

/// `--keep DIR`, or a temporary directory removed at the end and on Ctrl-C.
fn work_dir(args: &DemoArgs) -> Result<(PathBuf, Option<(tempfile::TempDir, Registration)>)> {
    if let Some(keep) = &args.keep {
        std::fs::create_dir_all(keep).with_context(|| format!("creating {}", keep.display()))?;
        return Ok((keep.clone(), None));
    }
    let temp = tempfile::Builder::new()
        .prefix("parquet-spill-demo-")
        .tempdir()
        .context("creating a temporary directory for the demo")?;
    let registration = Registration::dir(temp.path());
    Ok((temp.path().to_path_buf(), Some((temp, registration))))
}

fn generate_csv(workload: &Workload, path: &Path) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut writer = arrow_csv::WriterBuilder::new()
        .with_header(true)
        .build(&mut out);
    for batch in workload.batches(workload.default_batch_rows()) {
        writer
            .write(&batch)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    drop(writer);
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

fn convert_command(
    args: &DemoArgs,
    run: &Run,
    csv: &Path,
    output: &Path,
    report: &Path,
) -> Result<Command> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut command = Command::new(exe);
    command
        .arg("convert")
        .arg(csv)
        .arg("-o")
        .arg(output)
        .args(["--compression", &args.compression.to_string()])
        .arg("--quiet")
        .arg("--report-json")
        .arg(report);
    if let Some(limit) = run.memory_limit {
        command.args(["--memory-limit", &size_arg(limit)]);
        if let Some(dir) = &args.spill_dir {
            command.arg("--spill-dir").arg(dir);
        }
    }
    Ok(command)
}

/// The command line, for people to rerun by hand.
fn show(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn run_child(mut command: Command, report: &Path, label: &str) -> Result<Report> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting the {label} conversion"))?;
    // Interrupted, the demo stops the conversion before removing its files.
    let registration = Registration::child(child.id());
    let output = child
        .wait_with_output()
        .with_context(|| format!("waiting for the {label} conversion"))?;
    drop(registration);
    if !output.status.success() {
        bail!(
            "the {label} conversion failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Report::read_json(report)
}

/// The comparison table, columns aligned.
fn table(reports: &[(&Run, Report)]) -> String {
    let header = [
        "writer",
        "peak heap",
        "peak RSS",
        "spilled",
        "wall time",
        "output",
        "row groups",
    ]
    .map(String::from);
    let rows = reports
        .iter()
        .map(|(run, r)| {
            [
                run.label.clone(),
                human_bytes(r.peak_heap),
                r.peak_rss.map_or("-".into(), human_bytes),
                human_bytes(r.bytes_spilled),
                format!("{:.2} s", r.wall_seconds),
                human_bytes(r.output_bytes),
                group_digits(r.row_groups),
            ]
        })
        .map(|row| {
            let cells = row.into_iter().map(comfy_table::Cell::new);
            comfy_table::Row::from(cells.collect::<Vec<_>>())
        });
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(header).add_rows(rows);
    for column in table.column_iter_mut().skip(1) {
        column.set_cell_alignment(comfy_table::CellAlignment::Right);
    }
    table.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_has_the_requested_size() {
        let args = DemoArgs {
            mib: 64,
            fat_kib: 8,
            wide: None,
            memory_limit: 1 << 20,
            spill_dir: None,
            compression: "zstd".parse().unwrap(),
            keep: None,
        };
        let w = workload(&args);
        assert!(
            w.raw_bytes().abs_diff(64 << 20) < 100_000,
            "{}",
            w.raw_bytes()
        );
        let wide = workload(&DemoArgs {
            wide: Some(30),
            ..args
        });
        assert_eq!(wide.schema().fields().len(), 30);
    }
}
