//! [`ParallelWriter`]: `ArrowWriter`'s surface, encoding columns on every
//! core.
//!
//! Why it exists: with pages spilled, writing Parquet is bound by encoding
//! CPU, and `ArrowWriter` encodes every column on the caller's thread.
//! parquet exposes the parallel path (`ArrowRowGroupWriterFactory`,
//! `compute_leaves`, `ArrowColumnChunk`) but no writer on it.
//!
//! How it stays byte-identical to `ArrowWriter`: the file writer and the
//! row-group writer factory come from an `ArrowWriter` built with the same
//! options ([`ArrowWriter::into_serialized_writer`]), so the schema,
//! key-value metadata and page stores are the same; each column writer
//! receives exactly the slices `ArrowWriter` would give it, in order, on one
//! thread at a time; row groups split by the same rules; and the finished
//! column chunks are appended in schema order.
//!
//! How it keeps the workers busy across row groups: with
//! [`ParallelWriter::write_all`] the call owns the loop over the batches,
//! so the row group being spliced into the file can keep it borrowed while
//! the workers encode the next one (with `write`, they wait for the splice).
//! The next row group's writers are made once the last one's columns have
//! all closed, so the splice overlaps encoding but two sets of writers
//! never do.
//!
//! How it stays within a memory limit: the same page stores (a
//! [`SpillPlan`] planned with [`SpillOptions::threads`](crate::SpillOptions::threads)
//! counts one column's transient buffers per thread), and the caller can
//! run at most two batches ahead of the slowest column.
//!
//! How it scales: parquet allocates every page's buffers afresh, and with
//! glibc's allocator each is mapped, faulted in and unmapped again, which
//! on several threads contends in the kernel (two threads take 0.63–0.79
//! of `ArrowWriter`'s time here). An application that installs the
//! recycling allocator (`recycle::Recycling`, feature `recycle`) and
//! reserves its bound gets 0.48–0.60 (README, "All cores").

mod pool;

use std::io::Write;
use std::num::NonZeroUsize;

use arrow_array::{RecordBatch, RecordBatchWriter};
use arrow_schema::{ArrowError, SchemaRef};
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory, ArrowWriter, ArrowWriterOptions,
};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{KeyValue, ParquetMetaData, RowGroupMetaData};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};

use crate::error::Error;
use crate::row_groups::{Cut, GroupLimits};
use crate::spill_plan::SpillPlan;
use crate::stats::{Parts, SpillMonitor};
use pool::{again, Pool, Splice};

/// Batches a [`ParallelWriter`] may still hold after `write` returns (the
/// caller runs at most this many ahead of the slowest column): reserve room
/// for them beside the caller's own batch
/// ([`SpillOptions::reserve`](crate::SpillOptions::reserve)).
///
/// ```
/// let batch_bytes = 8 << 20;
/// let options = parquet_spill::SpillOptions::new(256 << 20)
///     .threads(2)
///     .reserve(batch_bytes * (1 + parquet_spill::PARALLEL_QUEUED_BATCHES));
/// # drop(options);
/// ```
pub const PARALLEL_QUEUED_BATCHES: usize = 2;

/// An error of [`ParallelWriter::write_all`] that keeps the input's errors
/// apart from the writer's: pass it as `E` when the two are handled
/// differently (a read error names the input, a write error the output).
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int32Array, RecordBatch};
/// use parquet_spill::{ParallelWriter, WriteAllError};
///
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int32Array::from_iter_values(0..10)) as ArrayRef)])?;
/// let mut writer = ParallelWriter::try_new(Vec::new(), batch.schema(), None)?;
/// let input = [Ok(batch.clone()), Err(WriteAllError::Input("line 7 is not a number"))];
/// match writer.write_all(input) {
///     Err(WriteAllError::Input(reason)) => assert_eq!(reason, "line 7 is not a number"),
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(writer.close()?.file_metadata().num_rows(), 10, "what came before is kept");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub enum WriteAllError<E> {
    /// The input failed.
    Input(E),
    /// The writer failed.
    Writer(ParquetError),
}

impl<E> From<ParquetError> for WriteAllError<E> {
    fn from(e: ParquetError) -> Self {
        Self::Writer(e)
    }
}

impl<E: std::fmt::Display> std::fmt::Display for WriteAllError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Input(e) => write!(f, "reading the input: {e}"),
            Self::Writer(e) => write!(f, "writing Parquet: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for WriteAllError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Input(e) => Some(e),
            Self::Writer(e) => Some(e),
        }
    }
}

/// Writes Arrow batches to Parquet like `ArrowWriter`, encoding the columns
/// on several threads; the file is byte-identical to `ArrowWriter`'s.
///
/// Worker threads start with the first batch; [`with_threads`](Self::with_threads)
/// sets how many (default: the available parallelism). On one thread the
/// caller's thread encodes, as in `ArrowWriter`: no worker, no hand-over. Content-defined
/// chunking is refused: parquet keeps its chunkers private.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
/// use parquet::arrow::ArrowWriter;
/// use parquet_spill::ParallelWriter;
///
/// let batch = RecordBatch::try_from_iter([
///     ("id", Arc::new(Int64Array::from_iter_values(0..1000)) as ArrayRef),
///     ("name", Arc::new(StringArray::from_iter_values((0..1000).map(|i| format!("n{i}")))) as _),
/// ])?;
/// let mut parallel = ParallelWriter::try_new(Vec::new(), batch.schema(), None)?.with_threads(2);
/// parallel.write(&batch)?;
/// let parallel = parallel.into_inner()?;
///
/// let mut serial = ArrowWriter::try_new(Vec::new(), batch.schema(), None)?;
/// serial.write(&batch)?;
/// assert_eq!(parallel, serial.into_inner()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ParallelWriter<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    encoder: Encoder,
}

/// Everything but the file: split from it so a row group being spliced can
/// borrow the file while the next one is encoded ([`ParallelWriter::write_all`]).
struct Encoder {
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Leaf columns under each top-level field.
    leaves: Vec<usize>,
    threads: usize,
    /// A plan's thread count: each thread's page in flight is reserved in
    /// it, so [`ParallelWriter::with_threads`] never goes past it.
    max_threads: usize,
    pool: Option<Pool>,
    /// Rows in the open row group, `None` when none is open.
    in_progress: Option<usize>,
    /// Row groups closed so far (the next one's index).
    row_groups: usize,
    /// Its row-group limits: row groups are split as `ArrowWriter`
    /// splits them.
    limits: GroupLimits,
    finished: bool,
    /// The first failure of the writer (not of its input): every later
    /// call fails with it, so a failed writer never writes a footer.
    failed: Option<String>,
    /// A plan's monitor: each batch is admitted by it (room to encode it,
    /// in parts if need be, and for its long values:
    /// [`SpillMonitor::admit_in_parts`]) before any column has the batch.
    monitor: Option<SpillMonitor>,
}

impl<W: Write + Send> std::fmt::Debug for ParallelWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelWriter")
            .field("threads", &self.encoder.threads)
            .field("in_progress_rows", &self.in_progress_rows())
            .field("bytes_written", &self.bytes_written())
            .finish_non_exhaustive()
    }
}

impl<W: Write + Send> ParallelWriter<W> {
    /// A writer with `props` (or the defaults), like `ArrowWriter::try_new`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let writer = parquet_spill::ParallelWriter::try_new(Vec::new(), schema, None)?;
    /// assert!(writer.threads() >= 1);
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn try_new(writer: W, schema: SchemaRef, props: Option<WriterProperties>) -> Result<Self> {
        let options = ArrowWriterOptions::new().with_properties(props.unwrap_or_default());
        Self::try_new_with_options(writer, schema, options)
    }

    /// A writer with `options` (properties, page store factory, schema
    /// options), like `ArrowWriter::try_new_with_options`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// use parquet::arrow::arrow_writer::ArrowWriterOptions;
    /// use parquet_spill::{FileStoreFactory, ParallelWriter};
    /// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let spill = Arc::new(FileStoreFactory::new()?);
    /// let options = ArrowWriterOptions::new().with_page_store_factory(spill);
    /// let writer = ParallelWriter::try_new_with_options(Vec::new(), schema, options)?;
    /// # drop(writer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_new_with_options(
        writer: W,
        schema: SchemaRef,
        options: ArrowWriterOptions,
    ) -> Result<Self> {
        crate::plan::check_schema(&schema)?;
        // Built by ArrowWriter itself, so the file starts exactly as its does.
        let arrow = ArrowWriter::try_new_with_options(writer, SchemaRef::clone(&schema), options)?;
        let (writer, factory) = arrow.into_serialized_writer()?;
        let props = writer.properties();
        if props.content_defined_chunking().is_some() {
            return Err(Error::InvalidOption {
                option: "content-defined chunking",
                reason: "ParallelWriter cannot chunk by content (parquet keeps its chunkers \
                         private); use ArrowWriter for it",
            }
            .into());
        }
        let limits = GroupLimits::of(props);
        let descr = writer.schema_descr();
        let mut leaves = vec![0; schema.fields().len()];
        for leaf in 0..descr.num_columns() {
            if let Some(count) = leaves.get_mut(descr.get_column_root_idx(leaf)) {
                *count += 1;
            }
        }
        let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Ok(Self {
            writer,
            encoder: Encoder {
                factory,
                schema,
                leaves,
                threads,
                max_threads: usize::MAX,
                monitor: None,
                pool: None,
                in_progress: None,
                row_groups: 0,
                limits,
                finished: false,
                failed: None,
            },
        })
    }

    /// A writer for a [`SpillPlan`]: its properties, its stores and its
    /// thread count ([`SpillOptions::threads`](crate::SpillOptions::threads)).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// use parquet_spill::{ParallelWriter, SpillOptions};
    /// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, true)]));
    /// let plan = SpillOptions::new(64 << 20).threads(2).plan(&schema)?;
    /// let writer = ParallelWriter::try_new_with_plan(Vec::new(), schema, plan)?;
    /// assert_eq!(writer.threads(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_new_with_plan(writer: W, schema: SchemaRef, plan: SpillPlan) -> Result<Self> {
        let (threads, monitor) = (plan.threads(), plan.monitor());
        let mut this = Self::try_new_with_options(writer, schema, plan.into_writer_options())?;
        this.encoder.max_threads = threads.max(1);
        Ok(this.with_threads(threads).with_monitor(monitor))
    }

    /// Admit each batch with `monitor` ([`SpillMonitor::admit_in_parts`])
    /// before encoding it: room is made for what parquet allocates to
    /// encode it (a batch too large for that within the limit is written
    /// in row slices that fit) and for the pages its byte-array values
    /// longer than the plan's pages make, or the batch is refused with
    /// [`Error::PageTooLong`], [`Error::BatchTooLarge`] (where even one row
    /// is too large) or [`Error::PageMetadataExhausted`] (no room for the
    /// copies of its values statistics or a dictionary keep) and nothing of
    /// it is written (the writer goes on).
    /// [`try_new_with_plan`](Self::try_new_with_plan) does this itself; use
    /// it when the plan's writer options went to
    /// [`try_new_with_options`](Self::try_new_with_options).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, RecordBatch, StringArray};
    /// let batch = |value: String| RecordBatch::try_from_iter([("s", Arc::new(StringArray::from(vec![value])) as ArrayRef)]);
    /// let long = batch("x".repeat(16 << 20))?;
    /// // Statistics off: their whole minimums and maximums, five copies of
    /// // the value, would refuse it first (`BatchTooLarge`).
    /// use parquet::file::properties::{EnabledStatistics, WriterProperties};
    /// let props = WriterProperties::builder().set_statistics_enabled(EnabledStatistics::None).build();
    /// let plan = parquet_spill::SpillOptions::new(64 << 20).properties(props).plan(&long.schema())?;
    /// let monitor = plan.monitor();
    /// let mut writer = parquet_spill::ParallelWriter::try_new_with_options(Vec::new(), long.schema(), plan.into_writer_options())?
    ///     .with_monitor(monitor);
    /// assert!(writer.write(&long).unwrap_err().to_string().contains("needs a page of"));
    /// writer.write(&batch("short".into())?)?;
    /// assert_eq!(writer.close()?.file_metadata().num_rows(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_monitor(mut self, monitor: SpillMonitor) -> Self {
        self.encoder.monitor = Some(monitor);
        self
    }

    /// Encode on `threads` threads (at least one). Takes effect if no batch
    /// was written yet. A writer made from a plan
    /// ([`try_new_with_plan`](Self::try_new_with_plan)) encodes on at most
    /// the plan's threads: each thread's page in flight is reserved in it.
    /// A plan's writer options passed to
    /// [`try_new_with_options`](Self::try_new_with_options) carry no thread
    /// count: set the plan's ([`SpillPlan::threads`]) or use `try_new_with_plan`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let plan = parquet_spill::SpillOptions::new(64 << 20).threads(2).plan(&schema)?;
    /// let writer = parquet_spill::ParallelWriter::try_new_with_plan(Vec::new(), schema, plan)?;
    /// assert_eq!(writer.with_threads(8).threads(), 2, "the plan reserved two");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let writer = parquet_spill::ParallelWriter::try_new(Vec::new(), schema, None)?.with_threads(3);
    /// assert_eq!(writer.threads(), 3);
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn with_threads(mut self, threads: usize) -> Self {
        if self.encoder.pool.is_none() {
            self.encoder.threads = threads.clamp(1, self.encoder.max_threads);
        }
        self
    }

    /// The number of encoding threads.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let writer = parquet_spill::ParallelWriter::try_new(Vec::new(), schema, None)?.with_threads(0);
    /// assert_eq!(writer.threads(), 1);
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn threads(&self) -> usize {
        self.encoder.threads
    }

    /// Encode `batch`, splitting row groups exactly as `ArrowWriter::write`
    /// does. Returns once the batch is queued; an error from encoding it
    /// may surface from a later call.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_array::{ArrayRef, Int32Array, RecordBatch};
    /// use parquet::file::properties::WriterProperties;
    /// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int32Array::from_iter_values(0..10)) as ArrayRef)])?;
    /// let props = WriterProperties::builder().set_max_row_group_row_count(Some(4)).build();
    /// let mut writer = parquet_spill::ParallelWriter::try_new(Vec::new(), batch.schema(), Some(props))?;
    /// writer.write(&batch)?;
    /// assert_eq!(writer.flushed_row_groups().len(), 2);
    /// assert_eq!(writer.in_progress_rows(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.encoder.healthy()?;
        let mut queue = Queue::default();
        queue.push(self.encoder.check(batch)?);
        while let Some(rows) = queue.next() {
            let step = self.encoder.step(rows, &mut queue, None);
            if self.encoder.record(step)? {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Write every batch of `batches`, as [`write`](Self::write) would one
    /// by one, but splice each full row group into the file while the
    /// workers already encode the next (once every column of the full one
    /// has closed): with [`write`](Self::write) they wait while the
    /// caller's thread copies a row group out of the page store. Returns
    /// the first error of `batches` or of the writer; the row groups before
    /// it are in the file, and the writer can still be finished after an
    /// error of `batches`.
    ///
    /// Only a call that owns the loop over the batches can do this: the
    /// row group being spliced borrows the file across batches. `E` is any
    /// error a `ParquetError` converts into; [`WriteAllError`] keeps the
    /// input's apart.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    /// use parquet::arrow::ArrowWriter;
    /// use parquet::file::properties::WriterProperties;
    /// use parquet_spill::ParallelWriter;
    ///
    /// let batches: Vec<RecordBatch> = (0..10)
    ///     .map(|i| RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from_iter_values(i * 1000..(i + 1) * 1000)) as ArrayRef)]))
    ///     .collect::<Result<_, _>>()?;
    /// let props = WriterProperties::builder().set_max_row_group_row_count(Some(3000)).build();
    ///
    /// let mut parallel = ParallelWriter::try_new(Vec::new(), batches[0].schema(), Some(props.clone()))?.with_threads(2);
    /// parallel.write_all(batches.iter().cloned().map(Ok::<_, parquet::errors::ParquetError>))?;
    /// let parallel = parallel.into_inner()?;
    ///
    /// let mut serial = ArrowWriter::try_new(Vec::new(), batches[0].schema(), Some(props))?;
    /// for batch in &batches {
    ///     serial.write(batch)?;
    /// }
    /// assert_eq!(parallel, serial.into_inner()?, "the same bytes, four row groups");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_all<I, E>(&mut self, batches: I) -> std::result::Result<(), E>
    where
        I: IntoIterator<Item = std::result::Result<RecordBatch, E>>,
        E: From<ParquetError>,
    {
        self.encoder.healthy()?;
        let mut input = Input {
            batches: batches.into_iter(),
            queue: Queue::default(),
        };
        let mut full = match self.encoder.encode_until_full(&mut input, None)? {
            Outcome::Ended => return Ok(()),
            Outcome::Full => true,
        };
        while full {
            let closed = self.encoder.close_columns();
            if !self.encoder.record(closed)? {
                // `Full` always leaves a row group open.
                return Err(ParquetError::General(
                    "parquet-spill: a full row group was not open".into(),
                )
                .into());
            }
            let Self { writer, encoder } = self;
            let row_group = writer.next_row_group();
            let mut pending = Pending::new(encoder.record(row_group)?, encoder.leaves.len());
            // What follows is encoded while the owner splices, except on
            // one thread, where nothing could encode meanwhile.
            let overlapped = (encoder.threads > 1)
                .then(|| encoder.encode_until_full(&mut input, Some(&mut pending)));
            // A failure of the writer while it encoded is the first one.
            let encoding_failed = encoder.failed.is_some();
            // The full row group goes into the file even after an error of
            // the input (a failed pool fails this too).
            let spliced = encoder.pool().and_then(|pool| pending.finish(pool));
            if !encoding_failed {
                // Before the input's error, which would hide why the row
                // group is not in the file.
                encoder.record(spliced)?;
            }
            let outcome = match overlapped {
                Some(outcome) => outcome?,
                None => encoder.encode_until_full(&mut input, None)?,
            };
            full = matches!(outcome, Outcome::Full);
        }
        Ok(())
    }

    /// Close the open row group (waiting for its columns) and write it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_array::{ArrayRef, Int32Array, RecordBatch};
    /// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int32Array::from_iter_values(0..10)) as ArrayRef)])?;
    /// let mut writer = parquet_spill::ParallelWriter::try_new(Vec::new(), batch.schema(), None)?;
    /// writer.write(&batch)?;
    /// writer.flush()?;
    /// writer.write(&batch)?;
    /// assert_eq!(writer.close()?.num_row_groups(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&mut self) -> Result<()> {
        self.encoder.healthy()?;
        let Self { writer, encoder } = self;
        let flushed = encoder.close_columns().and_then(|open| {
            if !open {
                return Ok(());
            }
            let pending = Pending::new(writer.next_row_group()?, encoder.leaves.len());
            encoder.pool().and_then(|pool| pending.finish(pool))
        });
        encoder.record(flushed)
    }

    /// Metadata of the row groups written so far.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let writer = parquet_spill::ParallelWriter::try_new(Vec::new(), schema, None)?;
    /// assert!(writer.flushed_row_groups().is_empty());
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn flushed_row_groups(&self) -> &[RowGroupMetaData] {
        self.writer.flushed_row_groups()
    }

    /// The column writers' memory as of their latest encoded batch (not
    /// waiting for queued ones), as `ArrowWriter::memory_size` counts it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_array::{ArrayRef, Int32Array, RecordBatch};
    /// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int32Array::from_iter_values(0..10)) as ArrayRef)])?;
    /// let mut writer = parquet_spill::ParallelWriter::try_new(Vec::new(), batch.schema(), None)?;
    /// assert_eq!(writer.memory_size(), 0);
    /// writer.write(&batch)?;
    /// writer.in_progress_size()?; // waits for the batch to be encoded
    /// assert!(writer.memory_size() > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn memory_size(&self) -> usize {
        self.encoder.pool.as_ref().map_or(0, Pool::memory_size)
    }

    /// The encoded size of the open row group, as
    /// `ArrowWriter::in_progress_size` estimates it. Waits for every queued
    /// batch, so it is exact, and returns a failure of any.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_array::{ArrayRef, Int32Array, RecordBatch};
    /// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int32Array::from_iter_values(0..10)) as ArrayRef)])?;
    /// let mut writer = parquet_spill::ParallelWriter::try_new(Vec::new(), batch.schema(), None)?;
    /// writer.write(&batch)?;
    /// assert!(writer.in_progress_size()? >= 40);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_progress_size(&self) -> Result<usize> {
        match (&self.encoder.pool, self.encoder.in_progress) {
            (Some(pool), Some(_)) => pool.estimated_bytes(None),
            _ => Ok(0),
        }
    }

    /// Rows in the open row group.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let writer = parquet_spill::ParallelWriter::try_new(Vec::new(), schema, None)?;
    /// assert_eq!(writer.in_progress_rows(), 0);
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn in_progress_rows(&self) -> usize {
        self.encoder.in_progress.unwrap_or_default()
    }

    /// Bytes written to the output so far.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let writer = parquet_spill::ParallelWriter::try_new(Vec::new(), schema, None)?;
    /// assert_eq!(writer.bytes_written(), 4, "the magic");
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn bytes_written(&self) -> usize {
        self.writer.bytes_written()
    }

    /// Key-value metadata written in the footer with the properties' own.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// use parquet::file::metadata::KeyValue;
    /// # let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let mut writer = parquet_spill::ParallelWriter::try_new(Vec::new(), schema, None)?;
    /// writer.append_key_value_metadata(KeyValue::new("origin".into(), "test".to_string()));
    /// let metadata = writer.close()?;
    /// assert!(metadata.file_metadata().key_value_metadata().unwrap().iter().any(|kv| kv.key == "origin"));
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn append_key_value_metadata(&mut self, kv_metadata: KeyValue) {
        self.writer.append_key_value_metadata(kv_metadata)
    }

    /// The underlying output.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let writer = parquet_spill::ParallelWriter::try_new(Vec::new(), schema, None)?;
    /// assert_eq!(writer.inner().len(), 0, "the magic is still buffered");
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn inner(&self) -> &W {
        self.writer.inner()
    }

    /// Write the open row group and the footer; return the file metadata.
    /// Writing afterwards is an error.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_array::{ArrayRef, Int32Array, RecordBatch};
    /// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int32Array::from_iter_values(0..10)) as ArrayRef)])?;
    /// let mut writer = parquet_spill::ParallelWriter::try_new(Vec::new(), batch.schema(), None)?;
    /// writer.write(&batch)?;
    /// assert_eq!(writer.finish()?.file_metadata().num_rows(), 10);
    /// assert!(writer.write(&batch).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(&mut self) -> Result<ParquetMetaData> {
        self.flush()?;
        self.encoder.finished = true;
        let metadata = self.writer.finish();
        let metadata = self.encoder.record(metadata)?;
        self.encoder.pool = None;
        Ok(metadata)
    }

    /// [`finish`](Self::finish), consuming the writer.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let writer = parquet_spill::ParallelWriter::try_new(Vec::new(), schema, None)?;
    /// assert_eq!(writer.close()?.num_row_groups(), 0);
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn close(mut self) -> Result<ParquetMetaData> {
        self.finish()
    }

    /// Write the open row group and the footer; return the output.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let writer = parquet_spill::ParallelWriter::try_new(Vec::new(), schema, None)?;
    /// let bytes = writer.into_inner()?;
    /// assert_eq!(&bytes[bytes.len() - 4..], b"PAR1");
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn into_inner(mut self) -> Result<W> {
        self.flush()?;
        self.encoder.pool = None;
        self.writer.into_inner()
    }
}

/// The caller's batches, and rows already admitted but not yet written:
/// the rest of a part a full row group left, then the parts after it.
struct Input<I> {
    batches: I,
    queue: Queue,
}

/// Rows admitted and not yet queued for the columns, in order: the parts
/// of a piece cut short of its batch ([`Encoder::step`]) before the rest.
#[derive(Default)]
struct Queue {
    stack: Vec<Parts>,
}

impl Queue {
    /// Rows before any queued so far.
    fn push(&mut self, parts: Parts) {
        self.stack.push(parts);
    }

    fn next(&mut self) -> Option<RecordBatch> {
        while let Some(parts) = self.stack.last_mut() {
            match parts.next() {
                Some(rows) if rows.num_rows() > 0 => return Some(rows),
                Some(_) => {}
                None => drop(self.stack.pop()),
            }
        }
        None
    }
}

/// Why [`Encoder::encode_until_full`] stopped.
enum Outcome {
    Ended,
    Full,
}

impl Encoder {
    /// Fail if an earlier call failed, or a worker has since: a writer
    /// that failed never writes a footer over the rows it lost.
    fn healthy(&mut self) -> Result<()> {
        if let Some(cause) = &self.failed {
            return Err(Error::WriterFailed {
                cause: cause.clone(),
            }
            .into());
        }
        let pool = self.pool.as_ref().map_or(Ok(()), Pool::check);
        self.record(pool)
    }

    /// Remember the first failure in `result`: every later call fails.
    fn record<T>(&mut self, result: Result<T>) -> Result<T> {
        if let (Err(e), None) = (&result, &self.failed) {
            self.failed = Some(e.to_string());
        }
        result
    }

    /// Refuse a batch this writer cannot take; the parts to write it in
    /// (one, unless the monitor admits it in parts).
    fn check(&self, batch: &RecordBatch) -> Result<Parts> {
        if self.finished {
            return Err(Error::WriterFailed {
                cause: "the file is already finished".into(),
            }
            .into());
        }
        if batch.num_columns() != self.schema.fields().len() {
            return Err(ParquetError::ArrowError(format!(
                "Incompatible schema: the batch has {} columns, the writer's schema {}",
                batch.num_columns(),
                self.schema.fields().len()
            )));
        }
        if batch.num_rows() > 0 {
            // parquet's own rule for each column, on an empty array of its
            // type: a batch it would refuse is refused here, before any
            // column has it. Not an empty slice of it: parquet takes a
            // list's whole child, and a dictionary of lists there through
            // all its keys (64.3 MiB of heap at 32 MiB for a row of 64 keys
            // in a child of 65,536, a review's finding).
            for (field, column) in self.schema.fields().iter().zip(batch.columns()) {
                compute_leaves(field, &arrow_array::new_empty_array(column.data_type()))?;
            }
        }
        match &self.monitor {
            Some(monitor) => Ok(monitor.admit_in_parts(batch)?),
            None => Ok(Parts::whole(batch)),
        }
    }

    /// Queue `batch`'s rows for the open row group (starting one if none
    /// is), splitting row groups exactly as `ArrowWriter::write` does; the
    /// rows left, in `queue`. `true` where the open row group is full and
    /// must be closed. Waits splice into `splice`.
    fn step(
        &mut self,
        batch: RecordBatch,
        queue: &mut Queue,
        mut splice: Option<&mut dyn Splice>,
    ) -> Result<bool> {
        let buffered = match self.in_progress {
            Some(rows) => rows,
            None => self.start_row_group(again(&mut splice))?,
        };
        let limits = self.limits;
        let cut = limits.cut(buffered, batch.num_rows(), || {
            self.pool()?.estimated_bytes(again(&mut splice))
        })?;
        let head = match cut {
            Cut::Flush => {
                queue.push(Parts::whole(&batch));
                return Ok(true);
            }
            Cut::Rows(at) if at < batch.num_rows() => {
                queue.push(Parts::whole(&batch.slice(at, batch.num_rows() - at)));
                // A piece cut short of its batch ends in a chunk shorter
                // than the batch's admission looked at
                // ([`crate::row_groups`]): admitted again, in parts, each
                // queued as a batch (as `SpillMonitor::write` writes them).
                let head = batch.slice(0, at);
                if let Some(monitor) = &self.monitor {
                    queue.push(monitor.admit_again_in_parts(&head)?);
                    return Ok(false);
                }
                head
            }
            Cut::Rows(_) => batch,
        };
        self.pool()?.submit(&head, again(&mut splice))?;
        let rows = buffered + head.num_rows();
        self.in_progress = Some(rows);
        limits.full(rows, || self.pool()?.estimated_bytes(splice))
    }

    /// Write the input's batches until the open row group is full or the
    /// input ends; waits splice into `splice`.
    fn encode_until_full<I, E>(
        &mut self,
        input: &mut Input<I>,
        mut splice: Option<&mut dyn Splice>,
    ) -> std::result::Result<Outcome, E>
    where
        I: Iterator<Item = std::result::Result<RecordBatch, E>>,
        E: From<ParquetError>,
    {
        loop {
            let batch = match input.queue.next() {
                Some(batch) => batch,
                None => match input.batches.next() {
                    Some(batch) => {
                        input.queue.push(self.check(&batch?)?);
                        continue;
                    }
                    None => return Ok(Outcome::Ended),
                },
            };
            let step = self.step(batch, &mut input.queue, again(&mut splice));
            if self.record(step)? {
                return Ok(Outcome::Full);
            }
        }
    }

    /// Close the open row group's columns without waiting for them;
    /// `false` if none was open.
    fn close_columns(&mut self) -> Result<bool> {
        if self.in_progress.take().is_none() {
            return Ok(false);
        }
        self.row_groups += 1;
        self.pool()?.close_columns()?;
        Ok(true)
    }

    fn start_row_group(&mut self, splice: Option<&mut dyn Splice>) -> Result<usize> {
        // The last row group's writers close first (the owner splices
        // meanwhile): created while they were open, the new writers'
        // dictionaries, bloom filters and buffers came on top of theirs,
        // and the plan reserves one set (a `write_all` of 516 leaves in
        // row groups of 256 rows peaked 16-24 MiB higher than `write`).
        self.pool()?.wait_idle(splice)?;
        let writers = self.factory.create_column_writers(self.row_groups)?;
        if let Some(pool) = &self.pool {
            pool.start_row_group(writers, &self.leaves)?;
        }
        self.in_progress = Some(0);
        Ok(0)
    }

    /// The pool, started on first use.
    fn pool(&mut self) -> Result<&Pool> {
        if self.pool.is_none() {
            self.pool = Some(Pool::new(
                self.schema.fields(),
                self.threads,
                PARALLEL_QUEUED_BATCHES,
            )?);
        }
        self.pool
            .as_ref()
            .ok_or_else(|| ParquetError::General("parquet-spill: no encoder pool".into()))
    }
}

/// A row group being spliced into the file, column by column as each
/// closes (while the next row group is encoded, in `write_all`).
struct Pending<'a, W: Write + Send> {
    row_group: SerializedRowGroupWriter<'a, W>,
    next: usize,
    columns: usize,
}

impl<'a, W: Write + Send> Pending<'a, W> {
    fn new(row_group: SerializedRowGroupWriter<'a, W>, columns: usize) -> Self {
        Self {
            row_group,
            next: 0,
            columns,
        }
    }

    /// Splice every column still due as it closes, then close the row group.
    fn finish(mut self, pool: &Pool) -> Result<()> {
        pool.finish_splice(&mut self)?;
        self.row_group.close().map(drop)
    }
}

impl<W: Write + Send> Splice for Pending<'_, W> {
    fn next_column(&self) -> Option<usize> {
        (self.next < self.columns).then_some(self.next)
    }

    fn splice(&mut self, chunks: Vec<ArrowColumnChunk>) -> Result<()> {
        self.next += 1;
        chunks
            .into_iter()
            .try_for_each(|chunk| chunk.append_to_row_group(&mut self.row_group))
    }
}

impl<W: Write + Send> RecordBatchWriter for ParallelWriter<W> {
    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), ArrowError> {
        ParallelWriter::write(self, batch).map_err(Into::into)
    }

    fn close(self) -> std::result::Result<(), ArrowError> {
        ParallelWriter::close(self).map(|_| ()).map_err(Into::into)
    }
}
