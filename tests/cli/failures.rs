//! Failed, refused and interrupted runs: malformed input names the file,
//! line and column; bad flags are usage errors; missing inputs and unusable
//! directories fail before any work; a too-small limit names the smallest
//! that works. Whatever fails, nothing is left at OUTPUT (an existing file is
//! kept) and no temporary file stays beside it — Ctrl-C included.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use tempfile::TempDir;

use crate::support::{assert_failed, assert_ok, run, sample, stderr, stdout, write_input, BIN};

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

/// A `--schema` type CSV cannot hold is refused before any work, naming
/// the column; a value a cast from text cannot convert names its line.
#[test]
fn csv_types_that_cannot_be_read_are_named_before_any_work() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out.parquet");
    let mut text = String::from("id,wait\n");
    for i in 1..=3000 {
        text.push_str(if i == 2500 {
            "2500,soon\n"
        } else {
            "1,2 days\n"
        });
    }
    let path = dir.path().join("in.csv");
    std::fs::write(&path, &text).unwrap();
    let result = run(&[
        &"convert",
        &path,
        &"-o",
        &out,
        &"--schema",
        &"id:int64,wait:Struct(\"a\": Int32)",
    ]);
    assert_failed(
        &result,
        &["in.csv", "column `wait`", "cannot be read as Struct"],
        &out,
    );
    let result = run(&[
        &"convert",
        &path,
        &"-o",
        &out,
        &"--schema",
        &"id:int64,wait:Interval(DayTime)",
    ]);
    assert_failed(
        &result,
        &["in.csv, line 2501", "column `wait`", "soon"],
        &out,
    );
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

    // An OUTPUT that is a directory fails before the conversion, not at
    // the rename after it.
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    let result = run(&[&"convert", &input, &"-o", &taken]);
    assert_failed(&result, &["taken is a directory"], &out);
    assert_eq!(std::fs::read_dir(&taken).unwrap().count(), 0);
}

/// The JSON report's file is created before the conversion: a report path
/// where no file can be created fails the run before OUTPUT is replaced.
#[test]
fn a_report_that_cannot_be_written_fails_before_the_output_is_replaced() {
    let dir = TempDir::new().unwrap();
    let input = dir.path().join("in.csv");
    write_input(&input, &[sample(10, 0)]);
    let out = dir.path().join("out.parquet");
    std::fs::write(&out, b"precious").unwrap();
    let report = dir.path().join("no/such/dir/report.json");
    let result = run(&[&"convert", &input, &"-o", &out, &"--report-json", &report]);
    assert_eq!(result.status.code(), Some(1), "{}", stderr(&result));
    assert!(
        stderr(&result).contains("report.json"),
        "{}",
        stderr(&result)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
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
        .split("try --memory-limit ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap();
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

/// parquet panics converting a union column's type: refused by name
/// instead, with every thread count and with or without a limit.
#[test]
fn a_union_column_is_refused_not_a_panic() {
    use arrow_array::{Int32Array, UnionArray};
    use arrow_schema::{DataType, Field, UnionFields};
    let dir = TempDir::new().unwrap();
    let fields =
        UnionFields::try_new(vec![0], vec![Field::new("i", DataType::Int32, false)]).unwrap();
    let union = UnionArray::try_new(
        fields,
        vec![0i8, 0].into(),
        None,
        vec![Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef],
    )
    .unwrap();
    let batch = RecordBatch::try_from_iter([("u", Arc::new(union) as ArrayRef)]).unwrap();
    let input = dir.path().join("union.arrow");
    write_input(&input, &[batch]);
    let out = dir.path().join("out.parquet");
    for extra in [&[][..], &["--memory-limit", "64MiB"], &["--threads", "1"]] {
        let mut args: Vec<&dyn AsRef<OsStr>> = vec![&"convert", &input, &"-o", &out];
        args.extend(extra.iter().map(|a| a as &dyn AsRef<OsStr>));
        let result = run(&args);
        assert_failed(&result, &["column u: parquet cannot write a union"], &out);
    }
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
        // Readers allocate a batch's buffers up front: bounded.
        &[
            "convert",
            "a.csv",
            "-o",
            "x.parquet",
            "--batch-rows",
            "100000000000",
        ],
        &["demo", "--mib", "17592186044416"],
        &["demo", "--fat-kib", "0"],
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
