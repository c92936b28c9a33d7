//! `--memory-limit`: a limited conversion spills and still reads back equal
//! (its settings and JSON report checked too), and it keeps the *process's*
//! peak RSS well below an unlimited run's on a 512 MiB CSV (about ten seconds
//! in all) — the tool's main promise, so it is measured end to end.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet_spill::workloads::SplitMix64;
use tempfile::TempDir;

use crate::support::{
    assert_ok, assert_same_rows, read_parquet, report_json, run, sample, stdout, write_input,
};

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
