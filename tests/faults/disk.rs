//! Disk full: spilling into a 1 MiB tmpfs (`ENOSPC`, when `mount` is
//! permitted) and, always, in a child process of this test binary under
//! `ulimit -f` (`EFBIG`). The writer reports the spill file's failed write
//! with offset and length, and the space is back once it is dropped.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet_spill::testkit::Tmpfs;
use parquet_spill::workloads::Workload;
use parquet_spill::{Error, FileStoreFactory};

use crate::harness::{no_panic, spill_error};

/// A larger workload: ~2.5 MiB of spilled pages, more than the 1 MiB limits below.
fn big_batches() -> Vec<RecordBatch> {
    Workload::WideMixed {
        columns: 6,
        rows: 8000,
    }
    .batches(2000)
    .collect()
}

/// Write `batches` as one row group spilling into `dir`; return the error.
fn write_until_full(dir: &Path, batches: &[RecordBatch]) -> ParquetError {
    let spill = Arc::new(FileStoreFactory::in_dir(dir).unwrap());
    let options = ArrowWriterOptions::new()
        .with_properties(
            WriterProperties::builder()
                .set_data_page_size_limit(64 * 1024)
                .set_dictionary_enabled(false)
                .build(),
        )
        .with_page_store_factory(spill.clone());
    let mut writer =
        ArrowWriter::try_new_with_options(Vec::new(), batches[0].schema(), options).unwrap();
    let err = no_panic("disk full", || {
        for batch in batches {
            writer.write(batch)?;
        }
        writer.finish().map(drop)
    })
    .expect_err("the spill file outgrew its limit, yet the write succeeded");
    drop(writer);
    let stats = spill.stats();
    assert_eq!(
        (stats.file_bytes_live, stats.file_len, stats.heap_bytes),
        (0, 0, 0)
    );
    assert!(
        stats.bytes_spilled > 0,
        "nothing spilled before the failure"
    );
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0);
    err
}

fn assert_names_the_spill_write(err: &ParquetError, os_error: &str) {
    let msg = err.to_string();
    let Some(Error::Write { offset, len, .. }) = spill_error(err) else {
        panic!("not a spill write error: {msg}");
    };
    assert!(
        msg.contains(&format!(
            "writing {len} bytes to the spill file at offset {offset} failed"
        )),
        "{msg}"
    );
    assert!(msg.contains(os_error), "{msg}");
}

/// Spilling into a full file system: `ENOSPC` from the spill file's write,
/// reported by the writer with offset and length, and the space is back once
/// the writer is gone. Needs `mount` (root); otherwise the `ulimit -f` test
/// below covers the same path.
#[test]
fn disk_full_on_a_one_mib_tmpfs() {
    let tmpfs = match Tmpfs::mount("1m") {
        Ok(t) => t,
        Err(why) => {
            println!("tmpfs not mountable here ({why}); covered by disk_full_under_ulimit_f");
            return;
        }
    };
    let err = write_until_full(tmpfs.path(), &big_batches());
    println!("tmpfs: {err}");
    assert_names_the_spill_write(&err, "No space left on device");
    // All of the tmpfs is free again: a 960 KiB file fits.
    std::fs::write(tmpfs.path().join("fits"), vec![1u8; 960 * 1024]).unwrap();
}

const FSIZE_CHILD: &str = "PARQUET_SPILL_FSIZE_CHILD";

/// The same without privileges: a child process whose file size limit is
/// 1 MiB (`ulimit -f`, SIGXFSZ ignored so the write fails with `EFBIG`
/// instead of killing the process) spills past it.
#[test]
fn disk_full_under_ulimit_f() {
    let exe = std::env::current_exe().unwrap();
    // libtest names the child by its module path in this binary:
    // `disk::disk_full_child` (with `--exact`, a bare name would match no test).
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            "ulimit -f 2048 && trap '' XFSZ && \
             exec \"$0\" disk::disk_full_child --exact --nocapture --test-threads 1",
        )
        .arg(exe)
        .env(FSIZE_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let line = parquet_spill::testkit::measure::tagged_line(&stdout, "FSIZE-CHECK ok")
        .unwrap_or_else(|| panic!("the child did not run the check:\n{stdout}\n{stderr}"));
    println!("FSIZE-CHECK ok{line}");
}

#[test]
fn disk_full_child() {
    if std::env::var_os(FSIZE_CHILD).is_none() {
        return; // only meaningful when started by the test above
    }
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let limit: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max file size"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .expect("a numeric file size limit");
    // dash counts `ulimit -f` in 512-byte blocks, bash in 1024-byte ones.
    assert!((1 << 20..=2 << 20).contains(&limit), "limit {limit}");
    let dir = tempfile::tempdir().unwrap();
    let err = write_until_full(dir.path(), &big_batches());
    assert_names_the_spill_write(&err, "File too large");
    println!("FSIZE-CHECK ok limit={limit}: {err}");
}
