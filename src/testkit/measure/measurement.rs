//! [`Measurement`]: what one measured write took, and its one-line form.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::str::FromStr;
use std::time::Duration;

use super::scenario::invalid;

/// What one measured write took. Heap figures are bytes above the level just
/// before the writer was created, so they are the writer's own heap (its
/// encoders, buffered pages and stores), not the caller's input batches.
///
/// Prints as, and parses from, one line of `key=value` pairs (`-` for
/// `None`), which is how a child process reports it:
///
/// ```
/// use parquet_spill::testkit::measure::Measurement;
/// let m = Measurement { peak_write_heap: 3 << 20, peak_flush_heap: 1 << 20, ..Default::default() };
/// assert_eq!(m.peak_heap(), 3 << 20);
/// let line = m.to_string();
/// assert!(line.starts_with("peak_write_heap=3145728 peak_flush_heap=1048576"));
/// assert_eq!(line.parse::<Measurement>()?, m);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measurement {
    /// Peak writer heap while `write` calls were encoding the row group.
    pub peak_write_heap: u64,
    /// Peak writer heap during `close`: the final pages and the splice of
    /// every column chunk into the file.
    pub peak_flush_heap: u64,
    /// Writer heap when `close` began (encoders' unfinished pages and
    /// dictionaries, plus whatever the store keeps on the heap), so
    /// `peak_flush_heap - heap_at_close` is what flushing itself added.
    pub heap_at_close: u64,
    /// Time inside the writer (creation, `write` calls, `close`); input
    /// generation is not included.
    pub wall: Duration,
    /// Size of the Parquet file written.
    pub output_bytes: u64,
    /// Row groups in the file (1 unless the workload is empty).
    pub row_groups: u64,
    /// Highest spill-file length ([`Store::File`](super::Store::File) only): the disk it needed.
    pub spill_peak_file_len: Option<u64>,
    /// Bytes written to the spill file ([`Store::File`](super::Store::File)
    /// and [`Store::Budget`](super::Store::Budget)).
    pub bytes_spilled: Option<u64>,
    /// Highest use of the memory budget ([`Store::Budget`](super::Store::Budget) only).
    pub budget_peak: Option<u64>,
    /// Most descriptors open at once while writing, minus those open before
    /// the store and writer were made (`None` without `/proc/self/fd`).
    pub extra_fds: Option<u64>,
    /// Growth of the process's peak resident set over its level just before
    /// the writer was made (`VmHWM` after `clear_refs`; `None` off Linux):
    /// heap, native codec memory, and the input batch being written.
    pub peak_rss_growth: Option<u64>,
    /// What the plan reserved up front ([`Store::Budget`](super::Store::Budget) only).
    pub reserved: Option<u64>,
    /// The plan's page metadata estimate for the expected file ([`Store::Budget`](super::Store::Budget) only).
    pub expected_metadata: Option<u64>,
    /// Page metadata charged while writing ([`Store::Budget`](super::Store::Budget) only).
    pub page_metadata: Option<u64>,
}

impl Measurement {
    /// The higher of the write and flush peaks: the heap the writer needed.
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::Measurement;
    /// let m = Measurement { peak_write_heap: 5, peak_flush_heap: 7, ..Default::default() };
    /// assert_eq!(m.peak_heap(), 7);
    /// ```
    pub fn peak_heap(&self) -> u64 {
        self.peak_write_heap.max(self.peak_flush_heap)
    }

    /// The memory promise for one measurement: peak heap, peak resident-set
    /// growth and the budget's peak (those measured) all within `limit`;
    /// otherwise which one was over, and by how much.
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::Measurement;
    /// let m = Measurement { peak_write_heap: 90, peak_rss_growth: Some(120), ..Default::default() };
    /// assert!(m.check_within(150).is_ok());
    /// assert!(m.check_within(100).unwrap_err().contains("resident-set growth"));
    /// ```
    ///
    /// # Errors
    ///
    /// A message naming the part over the limit.
    pub fn check_within(&self, limit: usize) -> Result<(), String> {
        let limit = limit as u64;
        let parts = [
            ("peak heap", Some(self.peak_heap())),
            ("peak resident-set growth", self.peak_rss_growth),
            ("budget peak", self.budget_peak),
        ];
        for (name, value) in parts {
            if let Some(value) = value.filter(|&v| v > limit) {
                return Err(format!(
                    "{name} {} exceeds the {} limit",
                    super::human_bytes(value),
                    super::human_bytes(limit)
                ));
            }
        }
        Ok(())
    }
}

pub(super) fn optional(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "peak_write_heap={} peak_flush_heap={} heap_at_close={} wall_ns={} output_bytes={} \
             row_groups={} spill_peak_file_len={} bytes_spilled={} budget_peak={} extra_fds={} \
             peak_rss_growth={} reserved={} expected_metadata={} page_metadata={}",
            self.peak_write_heap,
            self.peak_flush_heap,
            self.heap_at_close,
            self.wall.as_nanos(),
            self.output_bytes,
            self.row_groups,
            optional(self.spill_peak_file_len),
            optional(self.bytes_spilled),
            optional(self.budget_peak),
            optional(self.extra_fds),
            optional(self.peak_rss_growth),
            optional(self.reserved),
            optional(self.expected_metadata),
            optional(self.page_metadata),
        )
    }
}

impl FromStr for Measurement {
    type Err = io::Error;

    fn from_str(line: &str) -> io::Result<Self> {
        let fields: BTreeMap<&str, &str> = line
            .split_whitespace()
            .map(|pair| {
                pair.split_once('=')
                    .ok_or_else(|| invalid(format!("measurement field without '=': {pair:?}")))
            })
            .collect::<io::Result<_>>()?;
        let field = |key: &str| -> io::Result<Option<u64>> {
            match fields.get(key).copied() {
                None => Err(invalid(format!("measurement lacks {key}: {line:?}"))),
                Some("-") => Ok(None),
                Some(value) => value
                    .parse()
                    .map(Some)
                    .map_err(|e| invalid(format!("measurement {key}={value}: {e}"))),
            }
        };
        let required = |key: &str| {
            field(key)?.ok_or_else(|| invalid(format!("measurement {key} is required")))
        };
        Ok(Self {
            peak_write_heap: required("peak_write_heap")?,
            peak_flush_heap: required("peak_flush_heap")?,
            heap_at_close: required("heap_at_close")?,
            wall: Duration::from_nanos(required("wall_ns")?),
            output_bytes: required("output_bytes")?,
            row_groups: required("row_groups")?,
            spill_peak_file_len: field("spill_peak_file_len")?,
            bytes_spilled: field("bytes_spilled")?,
            budget_peak: field("budget_peak")?,
            extra_fds: field("extra_fds")?,
            peak_rss_growth: field("peak_rss_growth")?,
            reserved: field("reserved")?,
            expected_metadata: field("expected_metadata")?,
            page_metadata: field("page_metadata")?,
        })
    }
}
