//! What every CLI test needs: running the built binary and reading its
//! output, input files in each format the tool reads, and reading the
//! Parquet output back for comparison. Shared here once so each concern's
//! module holds only its tests.

use std::ffi::OsStr;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_parquet-spill");

/// Run the binary with `args` (strings and paths alike).
pub(crate) fn run(args: &[&dyn AsRef<OsStr>]) -> Output {
    Command::new(BIN)
        .args(args.iter().map(|a| a.as_ref()))
        .stdin(Stdio::null())
        .output()
        .expect("the binary starts")
}

/// `convert INPUT -o OUT --quiet --threads N` and `extra` flags.
pub(crate) fn convert_quietly(input: &Path, out: &Path, threads: usize, extra: &[&str]) -> Output {
    let threads = threads.to_string();
    let mut args: Vec<&dyn AsRef<OsStr>> = vec![
        &"convert",
        &input,
        &"-o",
        &out,
        &"--quiet",
        &"--threads",
        &threads,
    ];
    args.extend(extra.iter().map(|a| a as &dyn AsRef<OsStr>));
    run(&args)
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
pub(crate) fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

/// A failed run: exit code 1, one `error:` line (no panic, no backtrace),
/// every needle in the message, and nothing left at `output` or beside it.
#[track_caller]
pub(crate) fn assert_failed(out: &Output, needles: &[&str], output: &Path) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{err}");
    assert!(err.starts_with("parquet-spill: error: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` missing from:\n{err}");
    }
    assert_no_output(output);
}

/// Nothing at `output`, and no temporary file beside it.
#[track_caller]
pub(crate) fn assert_no_output(output: &Path) {
    assert!(!output.exists(), "{} was left behind", output.display());
    if let Some(dir) = output.parent().filter(|d| d.is_dir()) {
        let leftovers: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }
}

/// `rows` rows of ints, strings (with nulls), floats (with nulls) and booleans.
pub(crate) fn sample(rows: usize, first: usize) -> RecordBatch {
    let ids = (first..first + rows).map(|i| i as i64);
    let names = (first..first + rows).map(|i| (i % 7 != 3).then(|| format!("name {i} «é»")));
    let prices = (first..first + rows).map(|i| (i % 5 != 0).then_some(i as f64 * 0.25 - 3.0));
    let flags = (first..first + rows).map(|i| Some(i % 2 == 0));
    RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from_iter_values(ids)) as ArrayRef,
        ),
        ("name", Arc::new(StringArray::from_iter(names)) as ArrayRef),
        (
            "price",
            Arc::new(Float64Array::from_iter(prices)) as ArrayRef,
        ),
        ("flag", Arc::new(BooleanArray::from_iter(flags)) as ArrayRef),
    ])
    .unwrap()
}

/// Input formats the tests write, by extension.
pub(crate) const FORMATS: [&str; 5] = ["csv", "ndjson", "arrow", "arrows", "parquet"];

/// Write `batches` to `path` in the format its extension names.
pub(crate) fn write_input(path: &Path, batches: &[RecordBatch]) {
    let file = BufWriter::new(File::create(path).unwrap());
    let schema = batches[0].schema();
    match path.extension().and_then(OsStr::to_str).unwrap() {
        "csv" => {
            let mut w = arrow_csv::WriterBuilder::new()
                .with_header(true)
                .build(file);
            batches.iter().for_each(|b| w.write(b).unwrap());
        }
        "ndjson" => {
            let mut w = arrow_json::LineDelimitedWriter::new(file);
            batches.iter().for_each(|b| w.write(b).unwrap());
            w.finish().unwrap();
        }
        "arrow" => {
            let mut w = arrow_ipc::writer::FileWriter::try_new(file, &schema).unwrap();
            batches.iter().for_each(|b| w.write(b).unwrap());
            w.finish().unwrap();
        }
        "arrows" => {
            let mut w = arrow_ipc::writer::StreamWriter::try_new(file, &schema).unwrap();
            batches.iter().for_each(|b| w.write(b).unwrap());
            w.finish().unwrap();
        }
        "parquet" => {
            let mut w = ArrowWriter::try_new(file, schema, None).unwrap();
            batches.iter().for_each(|b| w.write(b).unwrap());
            w.close().unwrap();
        }
        other => panic!("no writer for .{other}"),
    }
}

/// The whole Parquet file as one batch, and its row-group count.
pub(crate) fn read_parquet(path: &Path) -> (RecordBatch, usize) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let rows = builder.metadata().file_metadata().num_rows() as usize;
    let row_groups = builder.metadata().num_row_groups();
    let batches: Vec<RecordBatch> = builder
        .with_batch_size(rows.max(1))
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), 1, "one batch of {rows} rows");
    (batches.into_iter().next().unwrap(), row_groups)
}

/// `actual` holds `expected`'s batches one after another, column by column.
#[track_caller]
pub(crate) fn assert_same_rows(actual: &RecordBatch, expected: &[RecordBatch]) {
    let total: usize = expected.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(actual.num_rows(), total);
    let names: Vec<_> = actual
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let wanted: Vec<_> = expected[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, wanted);
    let mut at = 0;
    for batch in expected {
        let part = actual.slice(at, batch.num_rows());
        for (i, (got, want)) in part.columns().iter().zip(batch.columns()).enumerate() {
            assert_eq!(got.as_ref(), want.as_ref(), "column {} differs", names[i]);
        }
        at += batch.num_rows();
    }
}

pub(crate) fn report_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
