//! Measure one writer: peak heap while writing and while flushing, spill-file
//! size, open descriptors, wall time and output size — each in a process of
//! its own.
//!
//! Why: "how much heap does a big row group need" is the number this crate
//! exists to change, so the memory tests and the `wide_skewed` demo must
//! measure it the same way. This module is that one way:
//!
//! - [`measure_write`] writes a [`Workload`] as **one** row group (zstd,
//!   no row-group limits) to a file in a temporary directory and reports a
//!   [`Measurement`]. Input batches are generated inside
//!   [`CountingAlloc::exclude`], so only the writer's heap is charged.
//! - [`ChildRunner`] runs each measurement in a fresh copy of the current
//!   executable (allocators are global, so one measurement per process), and
//!   [`serve_child`] is the other end. It works from a `#[test]` binary (the
//!   child runs one named test) and from an example or any other binary (the
//!   child runs `main` with a flag of your choosing).
//! - [`format_table`] prints the results.
//!
//! A measuring binary installs the allocator and answers child requests
//! before doing anything else:
//!
//! ```
//! use parquet_spill::testkit::measure::{self, ChildRunner, Scenario, Store};
//! use parquet_spill::testkit::workloads::Workload;
//! use parquet_spill::testkit::CountingAlloc;
//!
//! #[global_allocator]
//! static ALLOC: CountingAlloc = CountingAlloc::new();
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // In the child: measure the scenario the parent asked for, print it, stop.
//!     if measure::serve_child(&ALLOC)?.is_some() {
//!         return Ok(());
//!     }
//!     // In the parent: one child process per measurement.
//!     let child = ChildRunner::current_exe(Vec::<String>::new())?;
//!     let workload = Workload::LowCardinality { rows: 50_000 };
//!     let mut results = Vec::new();
//!     for store in [Store::Default, Store::file()] {
//!         let scenario = Scenario::new(workload, store);
//!         let measured = child.measure(&scenario)?;
//!         results.push((scenario, measured));
//!     }
//!     println!("{}", measure::format_table(&results));
//!     assert!(results[1].1.bytes_spilled.unwrap() > 0);
//!     Ok(())
//! }
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;

use super::alloc::CountingAlloc;
use super::workloads::Workload;
use crate::{FileStoreFactory, PageStoreFactory, SpillOptions};

/// Where the measured writer keeps its pages until the row group is flushed.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::measure::Store;
/// use parquet_spill::testkit::SparseMapStoreFactory;
///
/// assert_eq!(Store::Default.name(), "in-memory");
/// assert_eq!(Store::file().name(), "file");
/// let custom = Store::Custom { name: "sparse-map".into(), factory: Arc::new(SparseMapStoreFactory) };
/// assert_eq!(custom.name(), "sparse-map");
/// ```
#[derive(Debug, Clone)]
pub enum Store {
    /// No factory set: parquet's default in-memory store.
    Default,
    /// A fresh [`FileStoreFactory`] that [`measure_write`] creates itself, so
    /// its descriptor is counted and its [`SpillStats`](crate::SpillStats)
    /// are reported.
    File {
        /// Spill directory; `None` is [`std::env::temp_dir`].
        spill_dir: Option<PathBuf>,
    },
    /// [`SpillOptions`] with this memory limit: the
    /// planner fits the encoders and a tiered store spills past the budget.
    /// The plan is told the workload's raw size as the expected file size.
    Budget {
        /// The memory limit in bytes.
        limit: usize,
        /// Spill directory; `None` is [`std::env::temp_dir`].
        spill_dir: Option<PathBuf>,
    },
    /// Any other factory. In-process only: it cannot cross to a child
    /// process, and no spill statistics are reported for it.
    Custom {
        /// The name shown in tables.
        name: String,
        /// The factory.
        factory: Arc<dyn PageStoreFactory>,
    },
}

impl Store {
    /// [`Store::File`] spilling under the OS temporary directory.
    ///
    /// ```
    /// use parquet_spill::testkit::measure::Store;
    /// assert!(matches!(Store::file(), Store::File { spill_dir: None }));
    /// ```
    pub fn file() -> Self {
        Self::File { spill_dir: None }
    }

    /// A short name for tables: `in-memory`, `file`, `budget-64MiB`, or the custom name.
    pub fn name(&self) -> String {
        match self {
            Self::Default => "in-memory".into(),
            Self::File { .. } => "file".into(),
            Self::Budget { limit, .. } => {
                format!("budget-{}", human_bytes(*limit as u64).replace(' ', ""))
            }
            Self::Custom { name, .. } => name.clone(),
        }
    }
}

/// What to measure: a workload, a store, and how to feed the writer.
///
/// ```
/// use parquet_spill::testkit::measure::{Scenario, Store};
/// use parquet_spill::testkit::workloads::Workload;
///
/// let scenario = Scenario::new(Workload::skewed_bytes(16 << 20), Store::file()).with_batch_rows(32);
/// assert_eq!(scenario.batch_rows(), 32);
/// assert_eq!(scenario.label(), "skewed-15MiB/file");
/// ```
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The data written, as one row group.
    pub workload: Workload,
    /// Where pages wait for the flush.
    pub store: Store,
    /// Rows per input batch; `None` is [`Workload::default_batch_rows`].
    pub batch_rows: Option<usize>,
    /// Directory under which the output file's temporary directory is made;
    /// `None` is [`std::env::temp_dir`].
    pub output_dir: Option<PathBuf>,
}

impl Scenario {
    /// `workload` written with `store`, default batches, output under the temp dir.
    ///
    /// ```
    /// use parquet_spill::testkit::measure::{Scenario, Store};
    /// use parquet_spill::testkit::workloads::Workload;
    /// let scenario = Scenario::new(Workload::LowCardinality { rows: 100 }, Store::Default);
    /// assert_eq!((scenario.batch_rows, scenario.output_dir), (None, None));
    /// ```
    pub fn new(workload: Workload, store: Store) -> Self {
        Self {
            workload,
            store,
            batch_rows: None,
            output_dir: None,
        }
    }

    /// Feed the writer batches of `rows` rows.
    ///
    /// ```
    /// # use parquet_spill::testkit::{measure::{Scenario, Store}, workloads::Workload};
    /// let scenario = Scenario::new(Workload::LowCardinality { rows: 100 }, Store::Default);
    /// assert_eq!(scenario.with_batch_rows(10).batch_rows, Some(10));
    /// ```
    pub fn with_batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = Some(rows);
        self
    }

    /// Write the output file under `dir` instead of the OS temporary directory.
    ///
    /// ```
    /// # use parquet_spill::testkit::{measure::{Scenario, Store}, workloads::Workload};
    /// let scenario = Scenario::new(Workload::LowCardinality { rows: 100 }, Store::Default);
    /// let scenario = scenario.with_output_dir("/var/tmp");
    /// assert_eq!(scenario.output_dir.as_deref(), Some(std::path::Path::new("/var/tmp")));
    /// ```
    pub fn with_output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.output_dir = Some(dir.into());
        self
    }

    /// Rows per input batch actually used.
    ///
    /// ```
    /// # use parquet_spill::testkit::{measure::{Scenario, Store}, workloads::Workload};
    /// let workload = Workload::LowCardinality { rows: 100 };
    /// let scenario = Scenario::new(workload, Store::Default);
    /// assert_eq!(scenario.batch_rows(), workload.default_batch_rows());
    /// ```
    pub fn batch_rows(&self) -> usize {
        self.batch_rows
            .unwrap_or_else(|| self.workload.default_batch_rows())
            .max(1)
    }

    /// `workload/store`, e.g. `skewed-64MiB/file`.
    ///
    /// ```
    /// # use parquet_spill::testkit::{measure::{Scenario, Store}, workloads::Workload};
    /// let scenario = Scenario::new(Workload::LowCardinality { rows: 100 }, Store::Default);
    /// assert_eq!(scenario.label(), "dictionary-100/in-memory");
    /// ```
    pub fn label(&self) -> String {
        format!("{}/{}", self.workload.name(), self.store.name())
    }

    /// Serialise for a child process: `key=value` lines.
    fn encode(&self) -> io::Result<String> {
        let mut out = String::new();
        let mut put = |key: &str, value: &dyn fmt::Display| {
            out.push_str(&format!("{key}={value}\n"));
        };
        match self.workload {
            Workload::Skewed { rows, fat_len } => {
                put("workload", &"skewed");
                put("rows", &rows);
                put("fat_len", &fat_len);
            }
            Workload::WideMixed { columns, rows } => {
                put("workload", &"wide-mixed");
                put("rows", &rows);
                put("columns", &columns);
            }
            Workload::LowCardinality { rows } => {
                put("workload", &"low-cardinality");
                put("rows", &rows);
            }
        }
        if let Some(rows) = self.batch_rows {
            put("batch_rows", &rows);
        }
        match &self.store {
            Store::Default => put("store", &"default"),
            Store::File { spill_dir } => {
                put("store", &"file");
                if let Some(dir) = spill_dir {
                    put("spill_dir", &path_value(dir)?);
                }
            }
            Store::Budget { limit, spill_dir } => {
                put("store", &"budget");
                put("limit", limit);
                if let Some(dir) = spill_dir {
                    put("spill_dir", &path_value(dir)?);
                }
            }
            Store::Custom { name, .. } => {
                return Err(invalid(format!(
                    "store {name:?} is a custom factory, which cannot be sent to a child process; \
                     measure it in-process with measure_write"
                )))
            }
        }
        if let Some(dir) = &self.output_dir {
            put("output_dir", &path_value(dir)?);
        }
        Ok(out)
    }

    /// Parse what [`encode`](Self::encode) wrote.
    fn decode(text: &str) -> io::Result<Self> {
        let mut fields = BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| invalid(format!("scenario line without '=': {line:?}")))?;
            fields.insert(key, value);
        }
        let number = |key: &str| -> io::Result<usize> {
            let value = fields
                .get(key)
                .ok_or_else(|| invalid(format!("scenario lacks {key}")))?;
            value
                .parse()
                .map_err(|e| invalid(format!("scenario {key}={value}: {e}")))
        };
        let rows = number("rows")?;
        let workload = match fields.get("workload").copied() {
            Some("skewed") => Workload::Skewed {
                rows,
                fat_len: number("fat_len")?,
            },
            Some("wide-mixed") => Workload::WideMixed {
                columns: number("columns")?,
                rows,
            },
            Some("low-cardinality") => Workload::LowCardinality { rows },
            other => return Err(invalid(format!("unknown scenario workload {other:?}"))),
        };
        let store = match fields.get("store").copied() {
            Some("default") => Store::Default,
            Some("file") => Store::File {
                spill_dir: fields.get("spill_dir").map(PathBuf::from),
            },
            Some("budget") => Store::Budget {
                limit: number("limit")?,
                spill_dir: fields.get("spill_dir").map(PathBuf::from),
            },
            other => return Err(invalid(format!("unknown scenario store {other:?}"))),
        };
        Ok(Self {
            workload,
            store,
            batch_rows: fields
                .contains_key("batch_rows")
                .then(|| number("batch_rows"))
                .transpose()?,
            output_dir: fields.get("output_dir").map(PathBuf::from),
        })
    }
}

fn path_value(path: &Path) -> io::Result<&str> {
    path.to_str()
        .filter(|s| !s.contains('\n'))
        .ok_or_else(|| invalid(format!("path {path:?} is not one line of UTF-8")))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

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
    /// Highest spill-file length ([`Store::File`] only): the disk it needed.
    pub spill_peak_file_len: Option<u64>,
    /// Bytes written to the spill file ([`Store::File`] and [`Store::Budget`]).
    pub bytes_spilled: Option<u64>,
    /// Highest use of the memory budget ([`Store::Budget`] only).
    pub budget_peak: Option<u64>,
    /// Most descriptors open at once while writing, minus those open before
    /// the store and writer were made (`None` without `/proc/self/fd`).
    pub extra_fds: Option<u64>,
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
}

fn optional(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "peak_write_heap={} peak_flush_heap={} heap_at_close={} wall_ns={} output_bytes={} \
             row_groups={} spill_peak_file_len={} bytes_spilled={} budget_peak={} extra_fds={}",
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
        })
    }
}

/// The writer properties every measurement uses: zstd at its default level
/// and no row-group limits, so the whole workload is one row group.
///
/// ```
/// use parquet_spill::testkit::measure::writer_properties;
/// let props = writer_properties();
/// assert_eq!(props.max_row_group_row_count(), None);
/// assert_eq!(props.max_row_group_bytes(), None);
/// ```
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(None)
        .set_max_row_group_bytes(None)
        .build()
}

/// Descriptors this process has open, from `/proc/self/fd` (`None` where
/// that does not exist). The directory handle used to count is included, so
/// compare two counts rather than reading one.
///
/// ```
/// use parquet_spill::testkit::measure::open_fds;
/// if let Some(before) = open_fds() {
///     let file = tempfile::tempfile()?;
///     assert_eq!(open_fds(), Some(before + 1));
///     drop(file);
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|dir| dir.count())
}

/// Write `scenario`'s workload as one row group to a file in a fresh
/// temporary directory (removed afterwards) and measure it with `alloc`,
/// which must be this process's `#[global_allocator]`.
///
/// Heap is counted from just before the writer is created. The peak is
/// reset after setup and again right before `close`, so
/// [`Measurement::peak_write_heap`] covers the `write` calls and
/// [`Measurement::peak_flush_heap`] the flush. Input batches are generated
/// inside [`CountingAlloc::exclude`] and dropped after each `write`, so they
/// are not charged. Descriptors are sampled after each batch.
///
/// Run one measurement per process ([`ChildRunner`]): the allocator counts
/// everything, and heap freed by an earlier writer may be reused in ways that
/// blur a later one.
///
/// ```
/// use parquet_spill::testkit::measure::{measure_write, Scenario, Store};
/// use parquet_spill::testkit::workloads::Workload;
/// use parquet_spill::testkit::CountingAlloc;
///
/// #[global_allocator]
/// static ALLOC: CountingAlloc = CountingAlloc::new();
///
/// fn main() -> parquet::errors::Result<()> {
///     let scenario = Scenario::new(Workload::WideMixed { columns: 4, rows: 20_000 }, Store::file());
///     let m = measure_write(&ALLOC, &scenario)?;
///     assert_eq!(m.row_groups, 1);
///     assert!(m.peak_write_heap > 0 && m.output_bytes > 0);
///     assert!(m.bytes_spilled.unwrap() > 0);
///     Ok(())
/// }
/// ```
///
/// # Errors
///
/// Fails if `alloc` is not the global allocator, if the output or spill
/// file cannot be created, or if the writer fails.
pub fn measure_write(alloc: &'static CountingAlloc, scenario: &Scenario) -> Result<Measurement> {
    if !alloc.is_installed() {
        return Err(ParquetError::General(
            "measure_write: the CountingAlloc passed is not the #[global_allocator]".into(),
        ));
    }
    let workload = scenario.workload;
    let output_dir = match &scenario.output_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir(),
    };
    let out = tempfile::Builder::new()
        .prefix("parquet-spill-measure")
        .tempdir_in(output_dir)?;
    let path = out.path().join("measured.parquet");
    let output = File::create(&path)?;
    let schema = workload.schema();

    let fds_before = open_fds();
    let spill = match &scenario.store {
        Store::File {
            spill_dir: Some(dir),
        } => Some(Arc::new(FileStoreFactory::in_dir(dir)?)),
        Store::File { spill_dir: None } => Some(Arc::new(FileStoreFactory::new()?)),
        _ => None,
    };
    let plan = match &scenario.store {
        Store::Budget { limit, spill_dir } => {
            let mut options = SpillOptions::new()
                .memory_limit(*limit)
                .properties(writer_properties())
                .expected_file_bytes(workload.raw_bytes());
            if let Some(dir) = spill_dir {
                options = options.spill_dir(dir);
            }
            Some(options.plan(&schema)?)
        }
        _ => None,
    };
    let factory: Option<Arc<dyn PageStoreFactory>> = match &scenario.store {
        Store::Custom { factory, .. } => Some(Arc::clone(factory)),
        _ => spill.clone().map(|f| f as Arc<dyn PageStoreFactory>),
    };
    let mut options = ArrowWriterOptions::new().with_properties(writer_properties());
    if let Some(factory) = factory {
        options = options.with_page_store_factory(factory);
    }
    if let Some(plan) = &plan {
        options = plan.writer_options();
    }
    let mut batches = workload.batches(scenario.batch_rows());

    let base = alloc.current();
    let since = |peak: usize| peak.saturating_sub(base) as u64;
    let started = Instant::now();
    let mut writer = ArrowWriter::try_new_with_options(output, schema, options)?;
    let mut wall = started.elapsed();
    let mut max_fds = fds_before;
    alloc.reset_peak();
    loop {
        let batch = alloc.exclude(|| batches.next());
        let Some(batch) = &*batch else { break };
        let started = Instant::now();
        writer.write(batch)?;
        wall += started.elapsed();
        max_fds = max_fds.max(*alloc.exclude(open_fds));
    }
    let peak_write_heap = since(alloc.peak());

    alloc.reset_peak();
    let heap_at_close = since(alloc.current());
    let started = Instant::now();
    let metadata = writer.close()?;
    wall += started.elapsed();
    let peak_flush_heap = since(alloc.peak());

    let tiered = plan.as_ref().map(|p| p.factory().stats());
    let stats = spill.map(|f| f.stats()).or(tiered.map(|t| t.spill));
    Ok(Measurement {
        peak_write_heap,
        peak_flush_heap,
        heap_at_close,
        wall,
        output_bytes: std::fs::metadata(&path)?.len(),
        row_groups: metadata.num_row_groups() as u64,
        spill_peak_file_len: stats.map(|s| s.peak_file_len),
        bytes_spilled: stats.map(|s| s.bytes_spilled),
        budget_peak: tiered.map(|t| t.budget.peak as u64),
        extra_fds: fds_before
            .zip(max_fds)
            .map(|(before, max)| max.saturating_sub(before) as u64),
    })
}

/// The environment variable carrying a [`Scenario`] to a child process.
pub const SCENARIO_ENV: &str = "PARQUET_SPILL_MEASURE_SCENARIO";

/// Marks the line on which a child prints its [`Measurement`].
pub const RESULT_PREFIX: &str = "parquet-spill-measurement: ";

/// Runs measurements in fresh copies of the current executable.
///
/// The child gets the [`Scenario`] in [`SCENARIO_ENV`] and must call
/// [`serve_child`] first thing (see the [module example](self)). Two ways
/// to reach it:
///
/// - From an integration test, [`ChildRunner::test`] runs one named test of
///   the same binary, which calls `serve_child` and returns at once when the
///   variable is absent (in the ordinary test run):
///
///   ```no_run
///   // tests/memory.rs
///   use parquet_spill::testkit::measure::{self, ChildRunner, Scenario, Store};
///   use parquet_spill::testkit::{workloads::Workload, CountingAlloc};
///
///   #[global_allocator]
///   static ALLOC: CountingAlloc = CountingAlloc::new();
///
///   #[test]
///   fn measure_child() -> parquet::errors::Result<()> {
///       measure::serve_child(&ALLOC).map(drop)
///   }
///
///   #[test]
///   fn spilling_bounds_the_heap() {
///       let child = ChildRunner::test("measure_child").unwrap();
///       let scenario = Scenario::new(Workload::skewed_bytes(16 << 20), Store::file());
///       let measured = child.measure(&scenario).unwrap();
///       assert!(measured.peak_heap() < 8 << 20);
///   }
///   # fn main() {}
///   ```
///
/// - From any other binary, [`ChildRunner::current_exe`] re-runs it with
///   arguments of your choosing, e.g. a hidden `--measure-child` flag.
///
/// Works the same under `cargo test` and `cargo nextest run`: both run the
/// libtest binary, which accepts `<name> --exact`.
#[derive(Debug, Clone)]
pub struct ChildRunner {
    program: PathBuf,
    args: Vec<OsString>,
}

impl ChildRunner {
    /// Re-run this executable with `args`.
    ///
    /// ```
    /// use parquet_spill::testkit::measure::ChildRunner;
    /// let runner = ChildRunner::current_exe(["--measure-child"])?;
    /// assert_eq!(runner.args(), ["--measure-child"]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn current_exe<I, S>(args: I) -> io::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Ok(Self {
            program: std::env::current_exe()?,
            args: args.into_iter().map(Into::into).collect(),
        })
    }

    /// Re-run this test binary for the single test `name`
    /// (`<name> --exact --nocapture`).
    ///
    /// ```
    /// use parquet_spill::testkit::measure::ChildRunner;
    /// let runner = ChildRunner::test("measure_child")?;
    /// assert_eq!(runner.args(), ["measure_child", "--exact", "--nocapture"]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn test(name: &str) -> io::Result<Self> {
        Self::current_exe([name, "--exact", "--nocapture"])
    }

    /// The arguments each child is started with (see [`current_exe`](Self::current_exe)).
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// Measure `scenario` in a new child process and return what it printed.
    ///
    /// The [module example](self) shows a full round trip. Only
    /// [`Store::Default`] and [`Store::File`] can be sent to a child:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parquet_spill::testkit::measure::{ChildRunner, Scenario, Store};
    /// use parquet_spill::testkit::workloads::Workload;
    /// use parquet_spill::InMemoryPageStoreFactory;
    ///
    /// let child = ChildRunner::current_exe(["--measure-child"])?;
    /// let custom = Store::Custom { name: "mine".into(), factory: Arc::new(InMemoryPageStoreFactory) };
    /// let err = child.measure(&Scenario::new(Workload::LowCardinality { rows: 10 }, custom)).unwrap_err();
    /// assert!(err.to_string().contains("in-process"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Fails if the scenario cannot be sent ([`Store::Custom`]), the child
    /// cannot start, exits unsuccessfully, or prints no parsable
    /// [`RESULT_PREFIX`] line; the error includes the child's output.
    pub fn measure(&self, scenario: &Scenario) -> io::Result<Measurement> {
        let stdout = self
            .run(SCENARIO_ENV, &scenario.encode()?)
            .map_err(|e| io::Error::other(format!("measuring {}: {e}", scenario.label())))?;
        // libtest may print "test name ... " on the same line, so search
        // within lines rather than at their start.
        let line = stdout
            .lines()
            .find_map(|line| line.find(RESULT_PREFIX).map(|at| &line[at..]))
            .ok_or_else(|| {
                io::Error::other(format!(
                    "measuring {}: child printed no measurement:\n{stdout}",
                    scenario.label()
                ))
            })?;
        line[RESULT_PREFIX.len()..].parse().map_err(|e| {
            io::Error::other(format!(
                "measuring {}: bad measurement line: {e}",
                scenario.label()
            ))
        })
    }

    /// Run the child with `key=value` in its environment and return its
    /// stdout; an unsuccessful exit is an error carrying both outputs.
    ///
    /// ```no_run
    /// use parquet_spill::testkit::measure::ChildRunner;
    /// let out = ChildRunner::test("my_child_test")?.run("MY_CHILD", "1")?;
    /// assert!(out.contains("my-result"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn run(&self, key: &str, value: &str) -> io::Result<String> {
        let output = Command::new(&self.program)
            .args(&self.args)
            .env(key, value)
            .stdin(Stdio::null())
            .output()?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            return Err(io::Error::other(format!(
                "{} {:?} exited with {}\n--- child stdout ---\n{stdout}\n--- child stderr ---\n{}",
                self.program.display(),
                self.args,
                output.status,
                String::from_utf8_lossy(&output.stderr),
            )));
        }
        Ok(stdout)
    }
}

/// The child side of [`ChildRunner`]: if [`SCENARIO_ENV`] is set, measure
/// that scenario with [`measure_write`], print the result after
/// [`RESULT_PREFIX`] on stdout and return it; otherwise return `Ok(None)` at
/// once. See the [module example](self) for a child that measures.
///
/// ```
/// use parquet_spill::testkit::{measure, CountingAlloc};
/// static ALLOC: CountingAlloc = CountingAlloc::new();
/// // Not started by a ChildRunner: nothing to do.
/// assert!(std::env::var_os(measure::SCENARIO_ENV).is_none());
/// assert_eq!(measure::serve_child(&ALLOC)?, None);
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
///
/// # Errors
///
/// Fails if the variable does not hold a valid scenario or the measurement fails.
pub fn serve_child(alloc: &'static CountingAlloc) -> Result<Option<Measurement>> {
    let Some(encoded) = std::env::var_os(SCENARIO_ENV) else {
        return Ok(None);
    };
    let encoded = encoded
        .into_string()
        .map_err(|_| invalid(format!("{SCENARIO_ENV} is not UTF-8")))?;
    let measured = measure_write(alloc, &Scenario::decode(&encoded)?)?;
    println!("{RESULT_PREFIX}{measured}");
    Ok(Some(measured))
}

/// `bytes` for people: `812 B`, `3.2 KiB`, `18.3 MiB`, `1.20 GiB`.
///
/// ```
/// use parquet_spill::testkit::measure::human_bytes;
/// assert_eq!(human_bytes(812), "812 B");
/// assert_eq!(human_bytes(3 << 20 | 1 << 19), "3.5 MiB");
/// assert_eq!(human_bytes(5 << 30), "5.00 GiB");
/// ```
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1024 => format!("{bytes} B"),
        1024..0x10_0000 => format!("{:.1} KiB", b / 1024.0),
        0x10_0000..0x4000_0000 => format!("{:.1} MiB", b / (1024.0 * 1024.0)),
        _ => format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0)),
    }
}

/// A plain-text table of results, one row per measurement: workload, store,
/// peak write heap, peak flush heap, spill-file peak, wall time, extra
/// descriptors, output size.
///
/// ```
/// use parquet_spill::testkit::measure::{format_table, Measurement, Scenario, Store};
/// use parquet_spill::testkit::workloads::Workload;
/// let row = (Scenario::new(Workload::LowCardinality { rows: 10 }, Store::Default), Measurement::default());
/// let table = format_table(&[row]);
/// assert!(table.lines().next().unwrap().starts_with("workload"));
/// assert!(table.contains("dictionary-10"));
/// ```
pub fn format_table(results: &[(Scenario, Measurement)]) -> String {
    let header = [
        "workload",
        "store",
        "peak write heap",
        "peak flush heap",
        "spill file peak",
        "spilled",
        "budget peak",
        "wall time",
        "extra fds",
        "output",
    ]
    .map(String::from);
    let rows: Vec<[String; 10]> = results
        .iter()
        .map(|(scenario, m)| {
            [
                scenario.workload.name(),
                scenario.store.name(),
                human_bytes(m.peak_write_heap),
                human_bytes(m.peak_flush_heap),
                m.spill_peak_file_len.map_or("-".into(), human_bytes),
                m.bytes_spilled.map_or("-".into(), human_bytes),
                m.budget_peak.map_or("-".into(), human_bytes),
                format!("{:.2?}", m.wall),
                optional(m.extra_fds),
                human_bytes(m.output_bytes),
            ]
        })
        .collect();
    text_table(&header, &rows, 2)
}

/// Align `rows` under `header` in columns two spaces apart: the first
/// `left` columns left-aligned (names), the rest right-aligned (figures).
///
/// ```
/// use parquet_spill::testkit::measure::text_table;
/// let table = text_table(&["store", "heap"], &[["file", "1.1 MiB"], ["in-memory", "9.9 MiB"]], 1);
/// assert_eq!(table, "store         heap\nfile       1.1 MiB\nin-memory  9.9 MiB\n");
/// ```
pub fn text_table<H: AsRef<str>, C: AsRef<str>, R: AsRef<[C]>>(
    header: &[H],
    rows: &[R],
    left: usize,
) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.as_ref().chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row.as_ref()) {
            *width = (*width).max(cell.as_ref().chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let cells: Vec<String> = cells
            .into_iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &width))| {
                if i < left {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    };
    line(header.iter().map(AsRef::as_ref).collect());
    for row in rows {
        line(row.as_ref().iter().map(AsRef::as_ref).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_survive_the_trip_to_a_child() {
        let cases = [
            Scenario::new(Workload::skewed_bytes(1 << 20), Store::Default),
            Scenario::new(
                Workload::WideMixed {
                    columns: 7,
                    rows: 9,
                },
                Store::File {
                    spill_dir: Some("/tmp/a b".into()),
                },
            )
            .with_batch_rows(3)
            .with_output_dir("/var/tmp"),
            Scenario::new(Workload::LowCardinality { rows: 5 }, Store::file()),
        ];
        for case in cases {
            let back = Scenario::decode(&case.encode().unwrap()).unwrap();
            assert_eq!(back.workload, case.workload);
            assert_eq!(back.batch_rows, case.batch_rows);
            assert_eq!(back.output_dir, case.output_dir);
            assert_eq!(format!("{:?}", back.store), format!("{:?}", case.store));
        }
    }

    #[test]
    fn custom_stores_stay_in_process() {
        let store = Store::Custom {
            name: "x".into(),
            factory: Arc::new(crate::InMemoryPageStoreFactory),
        };
        let err = Scenario::new(Workload::LowCardinality { rows: 1 }, store)
            .encode()
            .unwrap_err();
        assert!(err.to_string().contains("in-process"), "{err}");
    }

    #[test]
    fn measurements_parse_back_with_options() {
        let m = Measurement {
            peak_write_heap: 1,
            peak_flush_heap: 2,
            heap_at_close: 1,
            wall: Duration::from_nanos(3),
            output_bytes: 4,
            row_groups: 1,
            spill_peak_file_len: Some(5),
            bytes_spilled: None,
            budget_peak: Some(6),
            extra_fds: Some(0),
        };
        assert_eq!(m.to_string().parse::<Measurement>().unwrap(), m);
        assert!("peak_write_heap=1".parse::<Measurement>().is_err());
    }
}
