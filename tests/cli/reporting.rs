//! What the tool prints: plain progress lines (no terminal control codes)
//! when stderr is a log, and the demo's comparison of parquet's default
//! writer with a memory-limited one (its table and JSON reports).

use tempfile::TempDir;

use crate::support::{assert_ok, report_json, run, sample, stderr, stdout, write_input};

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
        // Above zstd:1's minimum for the 18 skewed columns (12.4 MiB), low
        // enough that pages spill.
        &"--memory-limit",
        &"16MiB",
        &"--keep",
        &dir.path(),
    ]);
    assert_ok(&result);
    let table = stdout(&result);
    for needle in [
        "peak heap",
        "peak RSS",
        "in-memory (parquet default)",
        "--memory-limit 16.0 MiB",
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
