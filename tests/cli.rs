//! The `parquet-spill` binary, run as a user would (feature `cli`).
//!
//! Why end-to-end: what the tool promises is about processes and files — the
//! output reads back equal to the input, a failed or interrupted run leaves
//! nothing at OUTPUT, errors name the file and line, and a memory limit keeps
//! the *process's* resident memory down. So every test here runs the built
//! binary (`CARGO_BIN_EXE_parquet-spill`) on files in a temporary directory.
//!
//! The peak-RSS comparison converts a 512 MiB CSV into one row group with
//! and without `--memory-limit 128MiB` (about ten seconds in all).
#![cfg(feature = "cli")]

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet_spill::workloads::SplitMix64;
use serde_json::Value;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_parquet-spill");

// ---------------------------------------------------------------- helpers

/// Run the binary with `args` (strings and paths alike).
fn run(args: &[&dyn AsRef<OsStr>]) -> Output {
    Command::new(BIN)
        .args(args.iter().map(|a| a.as_ref()))
        .stdin(Stdio::null())
        .output()
        .expect("the binary starts")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output) {
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
fn assert_failed(out: &Output, needles: &[&str], output: &Path) {
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
fn assert_no_output(output: &Path) {
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
fn sample(rows: usize, first: usize) -> RecordBatch {
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
const FORMATS: [&str; 5] = ["csv", "ndjson", "arrow", "arrows", "parquet"];

/// Write `batches` to `path` in the format its extension names.
fn write_input(path: &Path, batches: &[RecordBatch]) {
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
fn read_parquet(path: &Path) -> (RecordBatch, usize) {
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
fn assert_same_rows(actual: &RecordBatch, expected: &[RecordBatch]) {
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

fn report_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

// ---------------------------------------------------------------- round trips

#[test]
fn every_input_format_converts_and_reads_back_equal() {
    let dir = TempDir::new().unwrap();
    // Row 1 has no nulls: NDJSON columns come in the order keys first appear.
    let input = sample(2_500, 1);
    for ext in FORMATS {
        let path = dir.path().join(format!("in.{ext}"));
        write_input(&path, &[input.slice(0, 1000), input.slice(1000, 1500)]);
        let out = dir.path().join(format!("out-{ext}.parquet"));
        let result = run(&[&"convert", &path, &"-o", &out, &"--quiet"]);
        assert_ok(&result);
        assert!(
            stdout(&result).is_empty() && stderr(&result).is_empty(),
            "--quiet"
        );
        let (back, row_groups) = read_parquet(&out);
        assert_same_rows(&back, std::slice::from_ref(&input));
        assert_eq!(row_groups, 1, "one row group unless limited ({ext})");
    }
}

#[test]
fn several_inputs_concatenate_in_order_even_across_formats() {
    let dir = TempDir::new().unwrap();
    let parts = [sample(700, 0), sample(300, 700), sample(1200, 1000)];
    let paths: Vec<PathBuf> = ["a.parquet", "b.arrow", "c.arrows"]
        .iter()
        .zip(&parts)
        .map(|(name, batch)| {
            let path = dir.path().join(name);
            write_input(&path, std::slice::from_ref(batch));
            path
        })
        .collect();
    let out = dir.path().join("all.parquet");
    let result = run(&[&"convert", &paths[0], &paths[1], &paths[2], &"-o", &out]);
    assert_ok(&result);
    assert!(
        stdout(&result).contains("2,200 in 1 row group"),
        "{}",
        stdout(&result)
    );
    assert_same_rows(&read_parquet(&out).0, &parts);

    // Two CSV files: each has its own header, read with one inferred schema.
    let csvs: Vec<PathBuf> = (0..2)
        .map(|i| {
            let path = dir.path().join(format!("part{i}.csv"));
            write_input(&path, std::slice::from_ref(&parts[i]));
            path
        })
        .collect();
    let out = dir.path().join("csvs.parquet");
    assert_ok(&run(&[&"convert", &csvs[0], &csvs[1], &"-o", &out, &"-q"]));
    assert_same_rows(&read_parquet(&out).0, &parts[..2]);
}

#[test]
fn a_memory_limit_spills_and_still_reads_back_equal() {
    let dir = TempDir::new().unwrap();
    let input = sample(300_000, 0);
    let csv = dir.path().join("in.csv");
    write_input(&csv, std::slice::from_ref(&input));
    let out = dir.path().join("out.parquet");
    let json = dir.path().join("report.json");
    let spill = TempDir::new().unwrap();
    let result = run(&[
        &"convert",
        &csv,
        &"-o",
        &out,
        &"--memory-limit",
        &"2MiB",
        &"--spill-dir",
        &spill.path(),
        &"--row-group-rows",
        &"150000",
        &"--compression",
        &"snappy",
        &"--dictionary",
        &"off",
        &"--bloom-filter",
        &"id",
        &"--page-size",
        &"64KiB",
        &"--report-json",
        &json,
    ]);
    assert_ok(&result);
    let (back, row_groups) = read_parquet(&out);
    assert_same_rows(&back, std::slice::from_ref(&input));
    assert_eq!(row_groups, 2);

    let report = report_json(&json);
    assert_eq!(report["rows"], 300_000);
    assert_eq!(report["row_groups"], 2);
    assert_eq!(report["memory_limit"], 2 << 20);
    assert!(report["bytes_spilled"].as_u64().unwrap() > 0, "{report}");
    assert!(
        report["budget_peak"].as_u64().unwrap() <= 2 << 20,
        "{report}"
    );
    assert_eq!(
        report["output_bytes"],
        std::fs::metadata(&out).unwrap().len()
    );
    for key in ["peak_heap", "peak_rss", "wall_seconds", "input_bytes"] {
        assert!(report[key].as_f64().unwrap() > 0.0, "{key}: {report}");
    }
    let text = stdout(&result);
    for needle in [
        "300,000 in 2 row groups",
        "with a 2.0 MiB limit",
        "spilled",
        "snappy",
    ] {
        assert!(text.contains(needle), "`{needle}` missing from\n{text}");
    }

    // The settings reached the file.
    let reader = SerializedFileReader::new(File::open(&out).unwrap()).unwrap();
    let rg = reader.metadata().row_group(0);
    assert_eq!(
        rg.column(0).compression(),
        parquet::basic::Compression::SNAPPY
    );
    assert!(
        rg.column(0).bloom_filter_offset().is_some(),
        "bloom filter on id"
    );
    assert!(rg.column(1).bloom_filter_offset().is_none());
    assert!(
        rg.column(1).dictionary_page_offset().is_none(),
        "--dictionary off"
    );
}

#[test]
fn row_group_bytes_limits_row_groups() {
    let dir = TempDir::new().unwrap();
    let input = sample(50_000, 0);
    let path = dir.path().join("in.parquet");
    write_input(&path, std::slice::from_ref(&input));
    let out = dir.path().join("out.parquet");
    assert_ok(&run(&[
        &"convert",
        &path,
        &"-o",
        &out,
        &"-q",
        &"--row-group-bytes",
        &"64KiB",
        // The byte limit is checked between batches.
        &"--batch-rows",
        &"2000",
        &"--compression",
        &"none",
    ]));
    let (back, row_groups) = read_parquet(&out);
    assert_same_rows(&back, std::slice::from_ref(&input));
    assert!(row_groups > 3, "{row_groups} row groups");
}

#[test]
fn schema_flag_types_csv_columns_and_format_flag_overrides_the_extension() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("data.txt");
    std::fs::write(&path, "id,when,amount\n1,2024-01-02,1.50\n2,,20.25\n").unwrap();
    let out = dir.path().join("out.parquet");
    assert_ok(&run(&[
        &"convert",
        &path,
        &"--format",
        &"csv",
        &"-o",
        &out,
        &"-q",
        &"--schema",
        &"id:int32 not null, when:date32, amount:Decimal128(10, 2)",
    ]));
    let (back, _) = read_parquet(&out);
    let schema = back.schema();
    assert_eq!(schema.field(0).data_type(), &arrow_schema::DataType::Int32);
    assert!(!schema.field(0).is_nullable());
    assert_eq!(schema.field(1).data_type(), &arrow_schema::DataType::Date32);
    assert_eq!(
        schema.field(2).data_type(),
        &arrow_schema::DataType::Decimal128(10, 2)
    );
    assert_eq!(back.column(1).null_count(), 1);

    // Without --format an unknown extension is an error that says what to do.
    let result = run(&[&"convert", &path, &"-o", &out]);
    assert!(stderr(&result).contains("--format"), "{}", stderr(&result));
}

#[test]
fn an_output_that_is_also_an_input_is_replaced_safely() {
    let dir = TempDir::new().unwrap();
    let input = sample(3_000, 0);
    let path = dir.path().join("data.parquet");
    write_input(&path, std::slice::from_ref(&input));
    assert_ok(&run(&[
        &"convert",
        &path,
        &"-o",
        &path,
        &"-q",
        &"--compression",
        &"gzip:6",
    ]));
    assert_same_rows(&read_parquet(&path).0, std::slice::from_ref(&input));
    assert_no_output(&dir.path().join("nothing-else"));
}

// ---------------------------------------------------------------- failures

#[test]
fn malformed_csv_names_file_line_and_column() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.parquet");
    // Past the 1,000 rows sampled for inference, so `price` is Float64.
    let mut text = String::from("id,name,price\n");
    for i in 1..=3000 {
        if i == 2000 {
            text.push_str("2000,n2000,oops\n");
        } else {
            text.push_str(&format!("{i},n{i},{i}.5\n"));
        }
    }
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, &text).unwrap();
    let result = run(&[&"convert", &bad, &"-o", &out]);
    // Line 2001 of the file: the header is line 1.
    assert_failed(&result, &["bad.csv, line 2001", "`price`", "'oops'"], &out);

    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, text.replace("2000,n2000,oops\n", "2000,n2000\n")).unwrap();
    let result = run(&[&"convert", &ragged, &"-o", &out]);
    assert_failed(
        &result,
        &["ragged.csv, line 2001", "expected 3 got 2"],
        &out,
    );

    // A CSV header that does not match --schema.
    let result = run(&[
        &"convert",
        &ragged,
        &"-o",
        &out,
        &"--schema",
        &"id:int64,nom:string,price:float64",
    ]);
    assert_failed(&result, &["ragged.csv", "header", "nom"], &out);
}

#[test]
fn malformed_ndjson_names_file_and_line() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.parquet");
    let line = |i: usize| format!("{{\"id\": {i}, \"name\": \"n{i}\"}}\n");
    let lines = |bad_at: usize, bad: &str| -> String {
        (1..=3000)
            .map(|i| {
                if i == bad_at {
                    format!("{bad}\n")
                } else {
                    line(i)
                }
            })
            .collect()
    };
    let cases = [
        (
            "syntax.ndjson",
            lines(2200, "{\"id\": 2200, \"name\" \"x\"}"),
            "syntax.ndjson, line 2200",
        ),
        (
            "type.ndjson",
            lines(2300, "{\"id\": \"x2300\", \"name\": \"n\"}"),
            "type.ndjson, line 2300",
        ),
        (
            "key.ndjson",
            lines(2400, "{\"id\": 1, \"nme\": \"n\"}"),
            "key.ndjson, line 2400",
        ),
        (
            "early.ndjson",
            lines(5, "{\"id\": 5,"),
            "early.ndjson, line 5",
        ),
    ];
    for (name, text, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let result = run(&[&"convert", &path, &"-o", &out]);
        assert_failed(&result, &[needle], &out);
    }
}

#[test]
fn different_schemas_name_the_file() {
    let dir = TempDir::new().unwrap();
    let a = dir.path().join("a.parquet");
    write_input(&a, &[sample(10, 0)]);
    let b = dir.path().join("b.arrow");
    let other =
        RecordBatch::try_from_iter([("id", Arc::new(StringArray::from(vec!["x"])) as ArrayRef)])
            .unwrap();
    write_input(&b, &[other]);
    let out = dir.path().join("out.parquet");
    let result = run(&[&"convert", &a, &b, &"-o", &out]);
    assert_failed(
        &result,
        &["input ", "b.arrow", "different schema", "1 columns"],
        &out,
    );
}

#[test]
fn missing_input_and_unwritable_directories_fail_before_any_work() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in.csv");
    write_input(&input, &[sample(10, 0)]);
    let out = dir.path().join("out.parquet");

    let missing = dir.path().join("missing.csv");
    let result = run(&[&"convert", &input, &missing, &"-o", &out]);
    assert_failed(&result, &["missing.csv"], &out);

    let proc_out = Path::new("/proc/parquet-spill-test.parquet");
    if Path::new("/proc").is_dir() {
        let result = run(&[&"convert", &input, &"-o", &proc_out]);
        assert_failed(
            &result,
            &["/proc/parquet-spill-test.parquet", "cannot write"],
            proc_out,
        );
    }
    let result = run(&[
        &"convert",
        &input,
        &"-o",
        &dir.path().join("no/such/dir/out.parquet"),
    ]);
    assert_failed(&result, &["no/such/dir"], &out);

    let result = run(&[
        &"convert",
        &input,
        &"-o",
        &out,
        &"--memory-limit",
        &"64MiB",
        &"--spill-dir",
        &"/proc/no-spill-here",
    ]);
    assert_failed(&result, &["spill directory /proc/no-spill-here"], &out);
}

#[test]
fn a_limit_too_small_for_the_schema_names_the_minimum() {
    let dir = TempDir::new().unwrap();
    let header: Vec<String> = (0..400).map(|i| format!("c{i}")).collect();
    let row: Vec<String> = (0..400).map(|i| format!("v{i}")).collect();
    let path = dir.path().join("wide.csv");
    std::fs::write(&path, format!("{}\n{}\n", header.join(","), row.join(","))).unwrap();
    let out = dir.path().join("out.parquet");
    let result = run(&[&"convert", &path, &"-o", &out, &"--memory-limit", &"1MiB"]);
    assert_failed(
        &result,
        &[
            "--memory-limit 1.0 MiB is too small for 400 leaf columns",
            "smallest limit that works is",
            "try --memory-limit",
        ],
        &out,
    );
    // The suggested limit works.
    let err = stderr(&result);
    let suggested = err
        .rsplit("try --memory-limit ")
        .next()
        .unwrap()
        .trim_end_matches([')', '\n']);
    assert_ok(&run(&[
        &"convert",
        &path,
        &"-o",
        &out,
        &"-q",
        &"--memory-limit",
        &suggested,
    ]));
}

#[test]
fn a_failed_run_keeps_an_existing_output() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.parquet");
    std::fs::write(&out, b"precious").unwrap();
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"a\": 1}\n{\"a\": \n").unwrap();
    let result = run(&[&"convert", &bad, &"-o", &out]);
    assert_eq!(result.status.code(), Some(1), "{}", stderr(&result));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &[
            "convert",
            "a.csv",
            "-o",
            "x.parquet",
            "--compression",
            "lzo",
        ][..],
        &[
            "convert",
            "a.csv",
            "-o",
            "x.parquet",
            "--memory-limit",
            "lots",
        ],
        &[
            "convert",
            "a.csv",
            "-o",
            "x.parquet",
            "--row-group-rows",
            "0",
        ],
        &["convert", "a.csv", "-o", "x.parquet", "--spill-dir", "/tmp"],
        &[
            "convert",
            "a.csv",
            "-o",
            "x.parquet",
            "--schema",
            "a:nosuchtype",
        ],
    ] {
        let result = Command::new(BIN).args(args).output().unwrap();
        assert_eq!(
            result.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&result)
        );
    }
    let help = run(&[&"convert", &"--help"]);
    assert_ok(&help);
    assert!(stdout(&help).contains("--memory-limit"));
}

#[test]
fn ctrl_c_removes_the_temporary_output_and_exits_non_zero() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in.parquet");
    write_input(&input, &[sample(400_000, 0)]);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("out.parquet");
    // One row per batch keeps the conversion busy for a second or more;
    // the first progress line (after 50 ms) says rows are being converted.
    let mut child = Command::new(BIN)
        .args([
            OsStr::new("convert"),
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ])
        .args(["--batch-rows", "1", "--progress-interval", "0.05"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut progress = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    progress.read_line(&mut first).unwrap();
    assert!(first.contains(" rows"), "not a progress line: {first}");
    let temporary: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert_eq!(
        temporary.len(),
        1,
        "the temporary output exists while converting"
    );

    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    progress.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

// ---------------------------------------------------------------- progress and demo

#[test]
fn progress_is_plain_lines_when_stderr_is_not_a_terminal() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in.csv");
    write_input(&input, &[sample(200_000, 0)]);
    let out = dir.path().join("out.parquet");
    let result = run(&[
        &"convert",
        &input,
        &"-o",
        &out,
        &"--memory-limit",
        &"16MiB",
        &"--progress-interval",
        &"0.05",
    ]);
    assert_ok(&result);
    let err = stderr(&result);
    let last = err.lines().last().unwrap_or_default();
    for needle in [
        "parquet-spill: ",
        "200,000 rows",
        "read ",
        "heap ",
        "budget ",
        "of 16.0 MiB",
        "spilled ",
    ] {
        assert!(
            last.contains(needle),
            "`{needle}` missing from the last progress line:\n{err}"
        );
    }
    assert!(
        !err.contains('\r') && !err.contains('\x1b'),
        "no terminal control codes in a log"
    );
    assert!(stdout(&result).starts_with("wrote "), "{}", stdout(&result));
}

#[test]
fn the_demo_compares_both_writers() {
    let dir = TempDir::new().unwrap();
    let result = run(&[
        &"demo",
        &"--mib",
        &"8",
        &"--memory-limit",
        &"4MiB",
        &"--keep",
        &dir.path(),
    ]);
    assert_ok(&result);
    let table = stdout(&result);
    for needle in [
        "peak heap",
        "peak RSS",
        "in-memory (parquet default)",
        "--memory-limit 4.0 MiB",
    ] {
        assert!(table.contains(needle), "`{needle}` missing from\n{table}");
    }
    let limited = report_json(&dir.path().join("report-1.json"));
    let default = report_json(&dir.path().join("report-0.json"));
    assert_eq!(limited["rows"], default["rows"]);
    assert_eq!(limited["row_groups"], 1);
    assert!(limited["bytes_spilled"].as_u64().unwrap() > 0);
    assert!(limited["peak_heap"].as_u64() < default["peak_heap"].as_u64());
}

// ---------------------------------------------------------------- peak RSS

/// A seeded CSV of about `bytes`: an id, a few short columns and eight
/// ~120-byte strings per row, cut from a 16 MiB random pool so generation
/// is fast even in a debug build, with values that compress like real text
/// would not (random letters), so the encoded row group stays large.
fn write_big_csv(path: &Path, bytes: u64) {
    const POOL: usize = 16 << 20;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = SplitMix64::new(42);
    let mut pool = Vec::with_capacity(POOL);
    while pool.len() < POOL {
        let bits = rng.next_u64();
        pool.extend((0..8).map(|i| ALPHABET[((bits >> (i * 8)) & 63) as usize]));
    }
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    out.write_all(b"id,category,amount,s0,s1,s2,s3,s4,s5,s6,s7\n")
        .unwrap();
    let mut written = 0u64;
    let mut id = 0u64;
    let mut line = Vec::with_capacity(2048);
    while written < bytes {
        line.clear();
        let r = rng.next_u64();
        write!(
            line,
            "{id},k{},{}.{:02}",
            r % 5000,
            (r >> 16) % 100_000,
            (r >> 40) % 100
        )
        .unwrap();
        for _ in 0..8 {
            let r = rng.next_u64();
            let len = 100 + (r % 41) as usize;
            let at = (r >> 8) as usize % (POOL - len);
            line.push(b',');
            line.extend_from_slice(&pool[at..at + len]);
        }
        line.push(b'\n');
        out.write_all(&line).unwrap();
        written += line.len() as u64;
        id += 1;
    }
    out.flush().unwrap();
}

#[test]
fn a_memory_limit_keeps_peak_rss_well_below_the_default() {
    if !Path::new("/proc/self/status").exists() {
        eprintln!("skipped: peak RSS is read from /proc (Linux)");
        return;
    }
    // 512 MiB of CSV: about ten seconds for both runs in the dev profile
    // (dependencies optimised) on two cores, so no env gate is needed.
    let (csv_bytes, limit, limit_bytes) = (512u64 << 20, "128MiB", 128u64 << 20);
    let dir = TempDir::new().unwrap();
    let csv = dir.path().join("big.csv");
    let started = Instant::now();
    write_big_csv(&csv, csv_bytes);
    eprintln!(
        "generated {} MiB of CSV in {:.1?}",
        csv_bytes >> 20,
        started.elapsed()
    );

    let measure = |label: &str, extra: &[&dyn AsRef<OsStr>]| -> (u64, u64) {
        let out = dir.path().join("out.parquet");
        let json = dir.path().join("report.json");
        let mut args: Vec<&dyn AsRef<OsStr>> = vec![
            &"convert",
            &csv,
            &"-o",
            &out,
            &"-q",
            &"--report-json",
            &json,
        ];
        args.extend_from_slice(extra);
        let started = Instant::now();
        assert_ok(&run(&args));
        let report = report_json(&json);
        let rss = report["peak_rss"].as_u64().unwrap();
        let heap = report["peak_heap"].as_u64().unwrap();
        eprintln!(
            "{label}: peak RSS {} MiB, peak heap {} MiB, spilled {} MiB, output {} MiB, {} row group(s), {:.1?}",
            rss >> 20,
            heap >> 20,
            report["bytes_spilled"].as_u64().unwrap() >> 20,
            report["output_bytes"].as_u64().unwrap() >> 20,
            report["row_groups"],
            started.elapsed()
        );
        assert_eq!(report["row_groups"], 1, "{label}: one row group");
        std::fs::remove_file(&out).unwrap();
        (rss, heap)
    };
    let (default_rss, _) = measure("no limit", &[]);
    let (limited_rss, limited_heap) = measure(
        &format!("--memory-limit {limit}"),
        &[&"--memory-limit", &limit],
    );
    assert!(
        limited_rss * 2 < default_rss,
        "limited RSS {limited_rss} should be well below the default's {default_rss}"
    );
    // The heap stays near the limit (input batches and reader buffers come on top).
    assert!(
        limited_heap < limit_bytes + (24 << 20),
        "peak heap {limited_heap}"
    );
}
