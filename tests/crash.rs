//! A writer killed with SIGKILL in the middle of a row group leaves nothing
//! behind: the spill file is unlinked from the moment it is created, so the
//! kernel reclaims it when the process's descriptors close, whatever killed it.
//!
//! The parent re-runs this test binary as a child (`crash_child`, selected by
//! an environment variable) that spills a large row group into a directory,
//! reports its spill statistics on stdout, and keeps writing. The parent
//! checks the child really holds a deleted spill file with data in it
//! (`/proc/<pid>/fd`), kills it with SIGKILL, and checks the directory is
//! empty. When `mount` is permitted (root), the directory is a fresh tmpfs and
//! the parent also checks the file system's free space drops while the child
//! spills and comes all the way back after the kill.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::file::properties::WriterProperties;
use parquet_spill::testkit::Tmpfs;
use parquet_spill::workloads::Workload;
use parquet_spill::{FileStoreFactory, SpillOptions, SpillStats};

/// Selects the child's mode (`file` or `budget`); the spill directory follows a colon.
const CHILD: &str = "PARQUET_SPILL_CRASH_CHILD";
/// Spill this much before telling the parent.
const SPILL_BEFORE_REPORT: u64 = 12 << 20;

#[test]
fn sigkill_mid_row_group_leaves_nothing_file_store() {
    crash("file");
}

#[test]
fn sigkill_mid_row_group_leaves_nothing_memory_limit() {
    crash("budget");
}

/// The child: spill a big row group, report, keep writing, wait to be killed.
#[test]
fn crash_child() {
    let Some(spec) = std::env::var_os(CHILD) else {
        return; // only meaningful when started by the tests above
    };
    let spec = spec.into_string().unwrap();
    let (mode, dir) = spec.split_once(':').unwrap();
    let w = Workload::skewed_bytes(48 << 20);
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(None)
        .build();
    let (options, stats): (ArrowWriterOptions, Box<dyn Fn() -> SpillStats>) = match mode {
        "file" => {
            let files = Arc::new(FileStoreFactory::in_dir(dir).unwrap());
            let options = ArrowWriterOptions::new()
                .with_properties(props)
                .with_page_store_factory(files.clone());
            (options, Box::new(move || files.stats()))
        }
        "budget" => {
            let files = Arc::new(FileStoreFactory::in_dir(dir).unwrap());
            let plan = SpillOptions::new(16 << 20)
                .backend(files.clone())
                .properties(props)
                .expected_file_bytes(w.raw_bytes())
                .plan(&w.schema())
                .unwrap();
            let options = plan.into_writer_options();
            (options, Box::new(move || files.stats()))
        }
        other => panic!("unknown mode {other}"),
    };
    let mut writer =
        ArrowWriter::try_new_with_options(std::io::sink(), w.schema(), options).unwrap();
    let mut reported = false;
    for batch in w.batches(w.default_batch_rows()) {
        writer.write(&batch).unwrap();
        let s = stats();
        if !reported && s.bytes_spilled >= SPILL_BEFORE_REPORT {
            assert!(
                writer.flushed_row_groups().is_empty(),
                "still in the first row group"
            );
            println!(
                "SPILLING pid={} bytes_spilled={} file_len={} heap_bytes={}",
                std::process::id(),
                s.bytes_spilled,
                s.file_len,
                s.heap_bytes
            );
            reported = true;
        }
    }
    assert!(reported, "never spilled {SPILL_BEFORE_REPORT} bytes");
    // Hold the unflushed row group (and its spill file) until killed.
    std::thread::sleep(Duration::from_secs(60));
    panic!("the parent did not kill this process within 60 s");
}

fn crash(mode: &str) {
    let tmpfs = Tmpfs::mount("96m");
    let scratch;
    let dir: &Path = match &tmpfs {
        Ok(t) => t.path(),
        Err(why) => {
            println!("tmpfs not mountable ({why}): using a temporary directory, no space checks");
            scratch = tempfile::tempdir().unwrap();
            scratch.path()
        }
    };
    let free_before = tmpfs.as_ref().ok().map(|_| free_bytes(dir));

    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash_child",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, format!("{mode}:{}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let report = loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            // libtest may print "test crash_child ... " on the same line first.
            Ok(line) if line.contains("SPILLING ") => {
                break line[line.find("SPILLING ").unwrap()..].to_string()
            }
            Ok(_) => continue,
            Err(e) => {
                let _ = child.kill();
                let status = child.wait().unwrap();
                panic!("no SPILLING line from the child ({e}); it exited with {status}");
            }
        }
    };
    let reported_at = started.elapsed();
    let field = |name: &str| -> u64 {
        report
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {report:?}"))
    };
    assert_eq!(field("pid"), pid as u64);
    assert!(field("bytes_spilled") >= SPILL_BEFORE_REPORT, "{report}");
    let file_len = field("file_len");
    assert!(file_len >= SPILL_BEFORE_REPORT / 2, "{report}");

    // While the child runs: it holds a deleted spill file with data in it,
    // and the directory lists nothing.
    let spill_files = deleted_files_under(pid, dir);
    assert_eq!(
        spill_files.len(),
        1,
        "child {pid} spill files: {spill_files:?}"
    );
    let (target, size) = &spill_files[0];
    assert!(*size > 0, "the spill file {target} is empty");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0);
    let free_while_spilling = tmpfs.as_ref().ok().map(|_| free_bytes(dir));

    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child was not killed: {status}"
    );

    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        left.is_empty(),
        "files left in the spill directory: {left:?}"
    );
    println!(
        "{mode}: child {pid} reported after {reported_at:?}: {report}; held {target} \
         ({size} bytes); killed, spill directory empty"
    );

    if let (Some(before), Some(during)) = (free_before, free_while_spilling) {
        assert!(
            before - during >= file_len / 2,
            "free space {before} -> {during} while {file_len} bytes were spilled"
        );
        // The kernel frees the unlinked inode as the dead process's files close.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut after = free_bytes(dir);
        while after != before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            after = free_bytes(dir);
        }
        assert_eq!(after, before, "tmpfs space not given back after the kill");
        println!("{mode}: tmpfs free {before} -> {during} while spilling -> {after} after SIGKILL");
    }
}

/// Deleted files under `dir` that process `pid` holds open, with their sizes.
fn deleted_files_under(pid: u32, dir: &Path) -> Vec<(String, u64)> {
    let fds = PathBuf::from(format!("/proc/{pid}/fd"));
    std::fs::read_dir(&fds)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let target = std::fs::read_link(&path).ok()?;
            let target = target.to_string_lossy().into_owned();
            let inside = target.starts_with(&*dir.to_string_lossy());
            (inside && target.ends_with(" (deleted)")).then(|| {
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                (target, size)
            })
        })
        .collect()
}

/// Free bytes of the file system holding `dir` (`stat -f`, i.e. statvfs).
fn free_bytes(dir: &Path) -> u64 {
    let out = Command::new("stat")
        .args(["-f", "-c", "%f %S"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "stat -f failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace().map(|v| v.parse::<u64>().unwrap());
    parts.next().unwrap() * parts.next().unwrap()
}
