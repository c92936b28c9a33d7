//! The final report: what was written and what it cost, as text or JSON.
//!
//! Why one struct for both: `--report-json` must say exactly what the text
//! says, and the demo reads its child processes' reports back through the
//! same type (serde) to build its comparison table.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use crate::cleanup::Registration;
use crate::output;

use crate::units::{group_digits, human_bytes};

/// What a conversion did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
    pub rows: u64,
    pub row_groups: u64,
    pub columns: u64,
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub compression: String,
    /// `--memory-limit`, if any.
    pub memory_limit: Option<u64>,
    /// Peak heap of the whole process (counting allocator): input batches,
    /// writer, page store.
    pub peak_heap: u64,
    /// Peak of the writer's budget (encoders' reservation + pages kept on the heap).
    pub budget_peak: Option<u64>,
    /// Peak resident set size (`VmHWM`, Linux only).
    pub peak_rss: Option<u64>,
    /// Resident set before the conversion began (the program itself: its
    /// code, libraries and runtime). `--memory-limit` bounds `peak_rss` up
    /// to a fixed process overhead of at most 16 MiB: this baseline plus
    /// code and allocator arenas first touched during the conversion
    /// (measured: 6.4–8.2 MiB baseline, peaks up to limit + 14.2 MiB).
    #[serde(default)]
    pub baseline_rss: Option<u64>,
    /// Bytes of pages written to the spill file.
    pub bytes_spilled: u64,
    /// Largest size the spill file reached.
    pub spill_file_peak: u64,
    /// Data page size limit chosen by the planner (with a memory limit).
    pub planned_page_size: Option<u64>,
    pub wall_seconds: f64,
}

/// The JSON report's file, created beside its path before the conversion
/// starts: a report path where no file can be created fails the run
/// before any work. The report itself is written once the output is in
/// place, so a report that fails then (a full disk) fails the run with the
/// output written.
pub struct ReportFile {
    file: NamedTempFile,
    registration: Registration,
    path: PathBuf,
}

impl ReportFile {
    /// Create the report's temporary file beside `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let (file, registration) = output::beside(path, "JSON report")?;
        Ok(Self {
            file,
            registration,
            path: path.to_path_buf(),
        })
    }

    /// Write `report` as pretty JSON and rename it into place; `fsync`:
    /// sync it, and its directory after the rename, as the output is.
    pub fn write(mut self, report: &Report, fsync: bool) -> Result<()> {
        let writing = || format!("writing the JSON report to {}", self.path.display());
        serde_json::to_writer_pretty(&mut self.file, report).with_context(writing)?;
        self.file.write_all(b"\n").with_context(writing)?;
        if fsync {
            self.file.as_file().sync_all().with_context(writing)?;
        }
        output::rename(
            self.file,
            self.registration,
            &self.path,
            "JSON report",
            fsync,
        )
    }
}

impl Report {
    /// Read a report written by [`ReportFile::write`].
    pub fn read_json(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the report {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// Input bytes per second of wall time.
    pub fn throughput(&self) -> String {
        crate::units::rate(
            self.input_bytes,
            std::time::Duration::from_secs_f64(self.wall_seconds),
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: u64, one: &str, many: &str| {
            format!("{} {}", group_digits(n), if n == 1 { one } else { many })
        };
        writeln!(f, "wrote {}", self.output.display())?;
        writeln!(
            f,
            "  rows          {} in {}, {}",
            group_digits(self.rows),
            plural(self.row_groups, "row group", "row groups"),
            plural(self.columns, "column", "columns"),
        )?;
        writeln!(
            f,
            "  input         {} in {}",
            human_bytes(self.input_bytes),
            plural(self.inputs.len() as u64, "file", "files")
        )?;
        writeln!(
            f,
            "  output        {} ({})",
            human_bytes(self.output_bytes),
            self.compression
        )?;
        let heap = human_bytes(self.peak_heap);
        match (self.memory_limit, self.budget_peak) {
            (Some(limit), Some(budget)) => writeln!(
                f,
                "  peak heap     {heap} with a {} limit (writer budget peak {})",
                human_bytes(limit),
                human_bytes(budget)
            )?,
            _ => writeln!(
                f,
                "  peak heap     {heap} (no limit: parquet's in-memory page store)"
            )?,
        }
        match (self.peak_rss, self.baseline_rss) {
            (Some(rss), Some(base)) => writeln!(
                f,
                "  peak RSS      {} ({} over the {} the program started with)",
                human_bytes(rss),
                human_bytes(rss.saturating_sub(base)),
                human_bytes(base)
            )?,
            (Some(rss), None) => writeln!(f, "  peak RSS      {}", human_bytes(rss))?,
            _ => {}
        }
        if self.memory_limit.is_some() {
            writeln!(
                f,
                "  spilled       {} (spill file peak {})",
                human_bytes(self.bytes_spilled),
                human_bytes(self.spill_file_peak)
            )?;
        }
        if let Some(page) = self.planned_page_size {
            writeln!(f, "  page size     {} (planned)", human_bytes(page))?;
        }
        write!(
            f,
            "  wall time     {:.2} s ({})",
            self.wall_seconds,
            self.throughput()
        )
    }
}

/// Peak resident set size of this process (`VmHWM` in `/proc/self/status`),
/// or `None` where that does not exist.
pub fn peak_rss() -> Option<u64> {
    parquet_spill::rss::peak()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            inputs: vec!["a.csv".into()],
            output: "out.parquet".into(),
            rows: 1_000_000,
            row_groups: 1,
            columns: 18,
            input_bytes: 512 << 20,
            output_bytes: 400 << 20,
            compression: "zstd:1".into(),
            memory_limit: Some(128 << 20),
            peak_heap: 140 << 20,
            budget_peak: Some(120 << 20),
            peak_rss: Some(170 << 20),
            baseline_rss: Some(8 << 20),
            bytes_spilled: 300 << 20,
            spill_file_peak: 310 << 20,
            planned_page_size: Some(1 << 20),
            wall_seconds: 4.0,
        }
    }

    #[test]
    fn json_round_trips() {
        let report = sample();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        ReportFile::create(&path)
            .unwrap()
            .write(&report, false)
            .unwrap();
        assert_eq!(Report::read_json(&path).unwrap(), report);
    }

    #[test]
    fn text_names_every_figure() {
        let text = sample().to_string();
        for needle in [
            "1,000,000",
            "1 row group",
            "128.0 MiB limit",
            "peak RSS",
            "spilled",
            "128.0 MiB/s",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }

    #[test]
    fn peak_rss_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss().unwrap() > 0);
        }
    }
}
