//! Measure one writer: peak heap while writing and while flushing, spill-file
//! size, open descriptors, wall time and output size — each in a process of
//! its own.
//!
//! Why: "how much heap does a big row group need" is the number this crate
//! exists to change, so the memory tests and the `wide_skewed` demo must
//! measure it the same way. This module is that one way:
//!
//! - [`measure_write`] writes a [`Workload`](crate::workloads::Workload)
//!   as **one** row group (zstd, no row-group limits) to a file in a
//!   temporary directory and reports a [`Measurement`]. Input batches are generated inside
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
//! use parquet_spill::workloads::Workload;
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

mod child;
mod measurement;
mod scenario;
mod table;

use std::fs::File;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use arrow_schema::{Schema, SchemaRef};
use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};

pub use self::child::{
    field, requested_scenario, serve_child, tagged_line, ChildRunner, RESULT_PREFIX, SCENARIO_ENV,
};
pub use self::measurement::Measurement;
pub use self::scenario::{Scenario, Store};
pub use self::table::{format_table, human_bytes, text_table};
use super::alloc::CountingAlloc;
use crate::{FileStoreFactory, PageStoreFactory, ParallelWriter, SpillMonitor, SpillOptions};

/// One planned write measured ([`planned_write`]): peak heap and
/// resident-set growth, and how it ended: `written`, `refused: …` (by the
/// planner) or `stopped: …` (by the writer). Printed as one line by a
/// child process and read back by its parent.
///
/// ```
/// use parquet_spill::testkit::measure::PlannedWrite;
/// let w = PlannedWrite { heap: 10, rss: 20, outcome: "written".into() };
/// let out = format!("noise\nLISTS {w}\n");
/// assert_eq!(PlannedWrite::from_child(&out, "LISTS "), Some(w));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedWrite {
    /// Peak heap over what the process held before, in bytes.
    pub heap: u64,
    /// Peak resident-set growth, in bytes.
    pub rss: u64,
    /// `written`, `refused: …` or `stopped: …`.
    pub outcome: String,
}

impl PlannedWrite {
    /// The one a child printed after `tag`.
    pub fn from_child(out: &str, tag: &str) -> Option<Self> {
        let line = tagged_line(out, tag)?;
        Some(Self {
            heap: field(line, "heap")?,
            rss: field(line, "rss")?,
            outcome: line.split_once("outcome=")?.1.to_string(),
        })
    }

    /// Over `limit` bytes, heap or resident growth.
    pub fn over(&self, limit: u64) -> bool {
        self.heap > limit || self.rss > limit
    }

    /// One readable line for `case` at `limit`, and `OVER` where it was.
    ///
    /// ```
    /// use parquet_spill::testkit::measure::PlannedWrite;
    /// let w = PlannedWrite { heap: 3 << 20, rss: 5 << 20, outcome: "written".into() };
    /// let line = w.line("a,1", 4 << 20);
    /// assert!(line.starts_with("a,1") && line.contains("RSS growth    5.0 MiB"), "{line}");
    /// assert!(line.ends_with("written OVER"), "{line}");
    /// ```
    pub fn line(&self, case: &str, limit: u64) -> String {
        format!(
            "{case:<52} at {:>9}: peak heap {:>10}, RSS growth {:>10}, {}{}",
            human_bytes(limit),
            human_bytes(self.heap),
            human_bytes(self.rss),
            self.outcome,
            if self.over(limit) { " OVER" } else { "" }
        )
    }
}

impl std::fmt::Display for PlannedWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "heap={} rss={} outcome={}",
            self.heap, self.rss, self.outcome
        )
    }
}

/// Plan `schema` with `options`, write `batches` to `out` as the plan's
/// docs ask ([`crate::testkit::write_planned`]: a `ParallelWriter` where
/// the options ask for more than one thread), and
/// measure it from here: `alloc`'s peak heap and the resident-set growth
/// (`/proc/self/clear_refs` first; where it cannot be reset, the whole
/// peak, which errs high). Call it once a process, the batches made
/// beforehand (excluded from `alloc`).
///
/// ```
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// use parquet_spill::testkit::{self, measure, CountingAlloc};
/// use parquet_spill::SpillOptions;
///
/// #[global_allocator]
/// static ALLOC: CountingAlloc = CountingAlloc::new();
///
/// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
/// let batches = testkit::random_batches(&schema, &[1000], 1);
/// let options = SpillOptions::new(16 << 20).threads(2);
/// let w = measure::planned_write(&ALLOC, std::io::sink(), schema, options, &batches);
/// assert_eq!(w.outcome, "written");
/// assert!(w.heap > 0 && !w.over(16 << 20));
/// ```
pub fn planned_write<W: std::io::Write + Send>(
    alloc: &'static CountingAlloc,
    out: W,
    schema: SchemaRef,
    options: SpillOptions,
    batches: &[RecordBatch],
) -> PlannedWrite {
    let base = alloc.current();
    let rss_base = crate::rss::reset_peak().unwrap_or(0);
    alloc.reset_peak();
    let outcome = match options.plan(&schema) {
        Err(e) => format!("refused: {e}"),
        Ok(plan) => match super::write_planned(out, schema, plan, batches) {
            Ok(_) => "written".to_string(),
            Err(e) => format!("stopped: {e}"),
        },
    };
    PlannedWrite {
        heap: alloc.peak().saturating_sub(base) as u64,
        rss: crate::rss::peak().unwrap_or(0).saturating_sub(rss_base),
        outcome,
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
    properties(Compression::ZSTD(ZstdLevel::default()), None)
}

/// One row group however large, no dictionaries, `codec`, statistics at
/// `statistics` and the offset index written or not: the shape of the
/// per-page measurements (`examples/per_page_cost.rs`,
/// `examples/parquet_floor.rs`), which add their page limits.
///
/// ```
/// use parquet::basic::Compression;
/// use parquet::file::properties::EnabledStatistics;
/// use parquet_spill::testkit::measure::open_row_group_properties;
/// let props = open_row_group_properties(Compression::LZ4_RAW, EnabledStatistics::None, false).build();
/// assert_eq!(props.max_row_group_row_count(), None);
/// assert!(props.offset_index_disabled(), "parquet obeys it without page statistics");
/// ```
pub fn open_row_group_properties(
    codec: Compression,
    statistics: EnabledStatistics,
    offset_index: bool,
) -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(codec)
        .set_statistics_enabled(statistics)
        .set_offset_index_disabled(!offset_index)
        .set_max_row_group_row_count(None)
        .set_max_row_group_bytes(None)
        .set_dictionary_enabled(false)
}

/// [`writer_properties`] with `codec` and, if given, hand-set
/// `(data page, dictionary page, write batch)` limits.
///
/// ```
/// use parquet::basic::Compression;
/// let props = parquet_spill::testkit::measure::properties(Compression::LZ4_RAW, Some((65536, 65536, 256)));
/// assert_eq!((props.data_page_size_limit(), props.write_batch_size()), (65536, 256));
/// ```
pub fn properties(codec: Compression, limits: Option<(usize, usize, usize)>) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(codec)
        .set_max_row_group_row_count(None)
        .set_max_row_group_bytes(None);
    if let Some((page, dictionary, batch)) = limits {
        b = b
            .set_data_page_size_limit(page)
            .set_dictionary_page_size_limit(dictionary)
            .set_write_batch_size(batch);
    }
    b.build()
}

/// The options a [`Store::Budget`] measurement plans with at `limit`: the
/// scenario's codec and statistics, its hint, and room reserved for the
/// input batch the caller holds while writing (the process's memory too)
/// and for the scenario's own [`reserve`](Scenario::reserve).
///
/// ```
/// use parquet_spill::testkit::measure::{spill_options, Scenario, Store};
/// use parquet_spill::workloads::Workload;
/// let w = Workload::LowCardinality { rows: 1000 };
/// let scenario = Scenario::new(w, Store::Budget { limit: 16 << 20, spill_dir: None });
/// let plan = spill_options(&scenario, 16 << 20).plan(&w.schema())?;
/// assert!(plan.estimate().reserved_extra > 0);
/// # Ok::<(), parquet_spill::Error>(())
/// ```
pub fn spill_options(scenario: &Scenario, limit: usize) -> SpillOptions {
    let workload = scenario.workload;
    let batch_bytes = workload
        .batch(0, scenario.batch_rows().min(workload.rows()), 0)
        .get_array_memory_size();
    // The caller's batch, and those a ParallelWriter still encodes.
    let held = if scenario.threads > 1 {
        1 + crate::PARALLEL_QUEUED_BATCHES
    } else {
        1
    };
    let props = properties(scenario.codec, None)
        .into_builder()
        .set_offset_index_disabled(!scenario.offset_index)
        .build();
    let mut options = SpillOptions::new(limit)
        .properties(props)
        .reserve(batch_bytes * held + scenario.reserve)
        .threads(scenario.threads);
    if let Some(hint) = workload.raw_bytes().checked_div(scenario.hint_divisor) {
        options = options.expected_file_bytes(hint);
    }
    if scenario.chunk_statistics {
        options = options.chunk_statistics();
    }
    options
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
/// use parquet_spill::workloads::Workload;
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
/// file cannot be created, or if the writer fails; a writer's failure
/// names the peak heap and resident-set growth it had reached
/// (`peak_write_heap=` and `peak_rss_growth=`, for [`field`]).
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
        Store::PlanOnly { .. } => Some(Arc::new(FileStoreFactory::new()?)),
        Store::File { spill_dir } | Store::Budget { spill_dir, .. } => {
            Some(Arc::new(match spill_dir {
                Some(dir) => FileStoreFactory::in_dir(dir)?,
                None => FileStoreFactory::new()?,
            }))
        }
        _ => None,
    };
    let mut monitor = None;
    let mut estimate = None;
    let props = properties(scenario.codec, scenario.limits);
    let options = match (&scenario.store, &spill) {
        (Store::Budget { limit, .. }, Some(spill)) => planned(
            spill_options(scenario, *limit).backend(Arc::clone(spill) as Arc<dyn PageStoreFactory>),
            &schema,
            &mut monitor,
        )?,
        #[cfg(feature = "object_store")]
        (Store::BudgetObjectStore { limit }, _) => {
            let objects = out.path().join("objects");
            std::fs::create_dir(&objects)?;
            let builder = crate::testkit::object_store::local_objects(&objects)
                .map_err(|e| ParquetError::External(Box::new(e)))?;
            let options = spill_options(scenario, *limit).object_store(builder);
            planned(options, &schema, &mut monitor)?
        }
        (Store::PlanOnly { limit }, Some(spill)) => {
            let plan = spill_options(scenario, *limit).plan(&schema)?;
            let e = plan.estimate();
            estimate = Some((e.reserved() as u64, e.page_metadata as u64));
            ArrowWriterOptions::new()
                .with_properties(plan.properties().clone())
                .with_page_store_factory(Arc::clone(spill) as Arc<dyn PageStoreFactory>)
        }
        (Store::Custom { factory, .. }, _) => ArrowWriterOptions::new()
            .with_properties(props)
            .with_page_store_factory(Arc::clone(factory)),
        (_, Some(spill)) => ArrowWriterOptions::new()
            .with_properties(props)
            .with_page_store_factory(Arc::clone(spill) as Arc<dyn PageStoreFactory>),
        (_, None) => ArrowWriterOptions::new().with_properties(props),
    };
    let mut batches = workload.batches(scenario.batch_rows());

    let workload = &scenario.workload;
    let first = workload.batch(0, workload.rows().min(64), 0);
    warm_up(&first, &properties(scenario.codec, scenario.limits))?;
    let base = alloc.current();
    let since = |peak: usize| peak.saturating_sub(base) as u64;
    let rss_base = crate::rss::reset_peak();
    let started = Instant::now();
    let mut writer = AnyWriter::new(output, schema, options, scenario.threads)?;
    let mut wall = started.elapsed();
    let mut max_fds = fds_before;
    alloc.reset_peak();
    loop {
        let batch = alloc.exclude(|| batches.next());
        let Some(batch) = &*batch else { break };
        let started = Instant::now();
        // A planned writer's caller admits each batch first (in parts, if
        // parquet could not encode it whole within the limit).
        if let Err(e) = writer.write_admitted(monitor.as_ref(), batch) {
            // What the process had spent when it stopped, for the caller to check.
            let rss = rss_base
                .zip(crate::rss::peak())
                .map(|(b, p)| p.saturating_sub(b));
            return Err(ParquetError::General(format!(
                "stopped at peak_write_heap={} peak_rss_growth={} by {e:?}",
                since(alloc.peak()),
                rss.unwrap_or(0)
            )));
        }
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

    let peak_rss_growth = rss_base
        .zip(crate::rss::peak())
        .map(|(base, peak)| peak.saturating_sub(base));
    let stats = spill.map(|f| f.stats());
    let writer = monitor.map(|m| m.stats());
    Ok(Measurement {
        peak_write_heap,
        peak_flush_heap,
        heap_at_close,
        wall,
        output_bytes: std::fs::metadata(&path)?.len(),
        row_groups: metadata.num_row_groups() as u64,
        spill_peak_file_len: stats.map(|s| s.peak_file_len),
        // The planned writer's own count where the backend is not a file
        // store of this function's.
        bytes_spilled: stats
            .map(|s| s.bytes_spilled)
            .or(writer.map(|w| w.spilled_bytes)),
        budget_peak: writer.map(|w| w.budget.peak as u64),
        extra_fds: fds_before
            .zip(max_fds)
            .map(|(before, max)| max.saturating_sub(before) as u64),
        peak_rss_growth,
        reserved: writer
            .map(|w| w.estimate.reserved() as u64)
            .or(estimate.map(|e| e.0)),
        expected_metadata: writer
            .map(|w| w.estimate.page_metadata as u64)
            .or(estimate.map(|e| e.1)),
        page_metadata: writer.map(|w| w.page_metadata),
    })
}

/// The writer options `options` plan for `schema`, its monitor in `monitor`.
fn planned(
    options: SpillOptions,
    schema: &Schema,
    monitor: &mut Option<SpillMonitor>,
) -> Result<ArrowWriterOptions> {
    let plan = options.plan(schema)?;
    *monitor = Some(plan.monitor());
    Ok(plan.into_writer_options())
}

/// `ArrowWriter`, or a [`ParallelWriter`] on more than one thread.
enum AnyWriter {
    Serial(ArrowWriter<File>),
    Parallel(ParallelWriter<File>),
}

impl AnyWriter {
    fn new(
        output: File,
        schema: SchemaRef,
        options: ArrowWriterOptions,
        threads: usize,
    ) -> Result<Self> {
        Ok(if threads > 1 {
            Self::Parallel(
                ParallelWriter::try_new_with_options(output, schema, options)?
                    .with_threads(threads),
            )
        } else {
            Self::Serial(ArrowWriter::try_new_with_options(output, schema, options)?)
        })
    }

    /// Write `batch`, admitted by `monitor` where there is one: an
    /// `ArrowWriter`'s through [`crate::SpillMonitor::write`], a
    /// `ParallelWriter`'s part by part (it splits its row groups itself).
    fn write_admitted(
        &mut self,
        monitor: Option<&crate::SpillMonitor>,
        batch: &RecordBatch,
    ) -> Result<()> {
        match (self, monitor) {
            (Self::Serial(w), Some(monitor)) => monitor.write(w, batch),
            (Self::Serial(w), None) => w.write(batch),
            (Self::Parallel(w), Some(monitor)) => monitor
                .admit_in_parts(batch)?
                .try_for_each(|part| w.write(&part)),
            (Self::Parallel(w), None) => w.write(batch),
        }
    }

    fn close(self) -> Result<ParquetMetaData> {
        match self {
            Self::Serial(w) => w.close(),
            Self::Parallel(w) => w.close(),
        }
    }
}

/// Write up to 64 rows of `batch` with `props` to nowhere, through
/// parquet's own store, so the code a write with them runs (parquet's
/// encoders for its types, the codec) is paged in before a resident set is
/// measured: that is a fixed cost of the program, about 1.5 MiB, not of
/// the write.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array, RecordBatch};
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)])?;
/// parquet_spill::testkit::measure::warm_up(&batch, &Default::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn warm_up(batch: &RecordBatch, props: &WriterProperties) -> Result<()> {
    let rows = batch.slice(0, batch.num_rows().min(64));
    let options = ArrowWriterOptions::new().with_properties(props.clone());
    let mut writer = ArrowWriter::try_new_with_options(std::io::sink(), rows.schema(), options)?;
    writer.write(&rows)?;
    writer.close().map(drop)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::workloads::Workload;

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
            peak_rss_growth: Some(7),
            reserved: None,
            expected_metadata: Some(8),
            page_metadata: Some(9),
        };
        assert_eq!(m.to_string().parse::<Measurement>().unwrap(), m);
        assert!("peak_write_heap=1".parse::<Measurement>().is_err());
    }
}
