//! The sink: each output file written by a planned, spilling writer on a
//! blocking thread, all of them within one budget drawn from the session's
//! memory pool.
//!
//! Why not DataFusion's `ParquetSink`: it keeps every column chunk of a row
//! group in memory until the row group closes (its parallel writer has no
//! page store), and grows its pool reservation for finished row groups with
//! `grow`, which cannot fail. Here every page goes through a
//! `parquet_spill` store; the encoders' memory is planned and reserved from
//! the pool up front, pages stay on the heap only while the pool grants it,
//! and the metadata parquet keeps until the file closes is charged as it
//! grows. A write that cannot fit fails with DataFusion's
//! `ResourcesExhausted`, naming what did not fit.
//!
//! Files: DataFusion's demultiplexer decides them (one file, several files of
//! a directory, hive partitions). The limit is divided among the files open
//! at once ([`SpillSinkOptions::max_open_files`]).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::ArrayData;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::config::TableParquetOptions;
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::{not_impl_err, DataFusionError, Result};
use datafusion::datasource::file_format::write::demux::DemuxedStreamReceiver;
use datafusion::datasource::file_format::write::get_writer_schema;
use datafusion::datasource::physical_plan::{FileSink, FileSinkConfig};
use datafusion::datasource::sink::DataSink;
use datafusion::execution::memory_pool::{MemoryLimit, MemoryPool};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStore, ObjectStoreExt};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType};
use parquet_spill::{MemoryBudget, ParallelWriter, Reservation, SpillOptions, WriteAllError};
use tokio::runtime::Handle;
use tokio::sync::mpsc::Receiver;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::commit;
use crate::upload::{unsent_bytes, upload_bytes, Upload};
use crate::{budget_on_pool, SpillSinkOptions};

/// The writer's limit when none is given and the pool is unbounded.
const UNBOUNDED_POOL_LIMIT: usize = 256 << 20;

/// A DataFusion [`FileSink`] writing Parquet through `parquet_spill`'s
/// planned, spilling writers. Built by
/// [`SpillParquetFormat`](crate::SpillParquetFormat); DataFusion runs it.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread")]
/// # async fn main() -> datafusion::error::Result<()> {
/// use std::sync::Arc;
/// use datafusion::prelude::SessionContext;
/// use parquet_spill_datafusion::SpillParquetFormatFactory;
/// let ctx = SessionContext::new();
/// let factory = SpillParquetFormatFactory::new(Default::default());
/// ctx.state_ref().write().register_file_format(Arc::new(factory), true)?;
/// let plan = ctx
///     .sql("EXPLAIN COPY (SELECT 1 AS x) TO '/tmp/x.parquet' STORED AS PARQUET_SPILL")
///     .await?
///     .collect()
///     .await?;
/// let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)?.to_string();
/// assert!(text.contains("SpillParquetSink"), "{text}");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SpillParquetSink {
    config: FileSinkConfig,
    parquet: TableParquetOptions,
    options: SpillSinkOptions,
    sorting_columns: Option<Vec<SortingColumn>>,
}

impl SpillParquetSink {
    /// A sink for `config` with DataFusion's parquet options and ours.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use datafusion::arrow::datatypes::{DataType, Field, Schema};
    /// use datafusion::common::config::TableParquetOptions;
    /// use datafusion::datasource::listing::ListingTableUrl;
    /// use datafusion::datasource::physical_plan::{FileOutputMode, FileSinkConfig};
    /// use datafusion::datasource::sink::DataSink;
    /// use datafusion::execution::object_store::ObjectStoreUrl;
    /// use datafusion::logical_expr::dml::InsertOp;
    /// use parquet_spill_datafusion::{SpillParquetSink, SpillSinkOptions};
    /// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    /// let config = FileSinkConfig {
    ///     original_url: "file:///tmp/out.parquet".into(),
    ///     object_store_url: ObjectStoreUrl::local_filesystem(),
    ///     file_group: Default::default(),
    ///     table_paths: vec![ListingTableUrl::parse("file:///tmp/out.parquet")?],
    ///     output_schema: schema.clone(),
    ///     table_partition_cols: vec![],
    ///     insert_op: InsertOp::Append,
    ///     keep_partition_by_columns: false,
    ///     file_extension: "parquet".into(),
    ///     file_output_mode: FileOutputMode::SingleFile,
    /// };
    /// let sink = SpillParquetSink::new(config, TableParquetOptions::default(), SpillSinkOptions::default());
    /// assert_eq!(sink.schema(), &schema);
    /// # Ok::<(), datafusion::error::DataFusionError>(())
    /// ```
    pub fn new(
        config: FileSinkConfig,
        parquet: TableParquetOptions,
        options: SpillSinkOptions,
    ) -> Self {
        Self {
            config,
            parquet,
            options,
            sorting_columns: None,
        }
    }

    /// Record `columns` as every row group's `sorting_columns` (the file
    /// format does this for a `COPY (... ORDER BY ...)`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread")]
    /// # async fn main() -> datafusion::error::Result<()> {
    /// use std::sync::Arc;
    /// use datafusion::prelude::SessionContext;
    /// use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
    /// use parquet_spill_datafusion::SpillParquetFormatFactory;
    /// let ctx = SessionContext::new();
    /// let factory = SpillParquetFormatFactory::new(Default::default());
    /// ctx.state_ref().write().register_file_format(Arc::new(factory), true)?;
    /// let dir = tempfile::tempdir()?;
    /// let out = dir.path().join("sorted.parquet");
    /// let copy = format!(
    ///     "COPY (SELECT x FROM generate_series(1, 100) AS t(x) ORDER BY x DESC) TO '{}' \
    ///      STORED AS PARQUET_SPILL OPTIONS (spill_memory_limit '64MiB')",
    ///     out.display()
    /// );
    /// ctx.sql(&copy).await?.collect().await?;
    /// let reader = SerializedFileReader::new(std::fs::File::open(&out)?)?;
    /// let sorting = reader.metadata().row_group(0).sorting_columns().unwrap();
    /// assert_eq!((sorting[0].column_idx, sorting[0].descending), (0, true));
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_sorting_columns(mut self, columns: Option<Vec<SortingColumn>>) -> Self {
        self.sorting_columns = columns;
        self
    }

    /// The writer properties DataFusion's own sink would use (sorting
    /// columns aside), before the planner fits them to the limit.
    fn writer_properties(&self, schema: &SchemaRef) -> Result<WriterProperties> {
        if self.parquet.crypto.file_encryption.is_some() || self.parquet.crypto.factory_id.is_some()
        {
            return not_impl_err!("parquet-spill: Parquet encryption options in COPY");
        }
        let mut options = self.parquet.clone();
        if !options.global.skip_arrow_metadata {
            options.arrow_schema(schema);
        }
        Ok(WriterPropertiesBuilder::try_from(&options)?
            .set_sorting_columns(self.sorting_columns.clone())
            .build())
    }
}

impl DisplayAs for SpillParquetSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpillParquetSink(path={})", self.config.original_url)
    }
}

#[async_trait]
impl DataSink for SpillParquetSink {
    fn schema(&self) -> &SchemaRef {
        self.config.output_schema()
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        context: &Arc<TaskContext>,
    ) -> Result<u64> {
        FileSink::write_all(self, data, context).await
    }
}

/// What every file's writer of one `COPY` shares.
struct Shared {
    budget: MemoryBudget,
    files: usize,
    threads: usize,
    props: WriterProperties,
    skip_arrow_metadata: bool,
    schema: SchemaRef,
    options: SpillSinkOptions,
    /// Input batches a writer holds at once.
    held: usize,
    store: Arc<dyn ObjectStore>,
    runtime: Handle,
    /// Where each writer waits, file written, to commit or abort it.
    commit: commit::Wait,
    /// Files opened so far (each writer's plan draws on `budget`).
    opened: AtomicUsize,
    /// Without partitions, DataFusion closes a file and opens the next
    /// without waiting for its writer: a writer takes one of `files`
    /// permits before it plans and gives it back once its plan is gone, so
    /// writers still finishing never leave a new file without its share.
    /// (With partitions every file stays open to the end: no permits.)
    permits: Option<Arc<Semaphore>>,
}

#[async_trait]
impl FileSink for SpillParquetSink {
    fn config(&self) -> &FileSinkConfig {
        &self.config
    }

    async fn spawn_writer_tasks_and_join(
        &self,
        context: &Arc<TaskContext>,
        demux_task: SpawnedTask<Result<()>>,
        mut file_stream_rx: DemuxedStreamReceiver,
        object_store: Arc<dyn ObjectStore>,
    ) -> Result<u64> {
        let schema = get_writer_schema(&self.config);
        let execution = &context.session_config().options().execution;
        // As DataFusion's demultiplexer decides it (from the first path).
        let mode = self.config.file_output_mode;
        let single = self.config.table_partition_cols.is_empty()
            && self
                .config
                .table_paths
                .first()
                .is_some_and(|url| mode.single_file_output(url));
        let files = self.options.max_open_files.unwrap_or(if single {
            1
        } else {
            usize::from(execution.minimum_parallel_output_files)
        });
        let props = self.writer_properties(&schema)?;
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let threads = match props.content_defined_chunking() {
            // Content-defined chunking lives inside ArrowWriter, which
            // encodes on one thread: plan and hold batches for one.
            Some(_) => 1,
            None => self
                .options
                .threads
                .unwrap_or(if files == 1 { cores } else { 1 }),
        };
        let pool = context.memory_pool();
        let limit = self
            .options
            .memory_limit
            .unwrap_or_else(|| default_limit(pool));
        // The batch being written, and those a ParallelWriter queues.
        let held = if threads > 1 {
            1 + parquet_spill::PARALLEL_QUEUED_BATCHES
        } else {
            1
        };
        let (verdict, wait) = commit::gate();
        let shared = Arc::new(Shared {
            budget: budget_on_pool(pool, "ParquetSpillSink", limit),
            files,
            threads,
            props,
            skip_arrow_metadata: self.parquet.global.skip_arrow_metadata,
            held,
            schema,
            options: self.options.clone(),
            store: object_store,
            runtime: Handle::current(),
            commit: wait,
            opened: AtomicUsize::new(0),
            // At least the files DataFusion feeds at once, or they would
            // wait for each other.
            permits: self.config.table_partition_cols.is_empty().then(|| {
                Arc::new(Semaphore::new(
                    files.max(usize::from(execution.minimum_parallel_output_files)),
                ))
            }),
        });

        let mut writers = JoinSet::new();
        while let Some((path, rx)) = file_stream_rx.recv().await {
            let shared = Arc::clone(&shared);
            writers.spawn_blocking(move || write_file(&shared, path, rx));
        }
        let spawned = writers.len();
        let demuxed = demux_task
            .join_unwind()
            .await
            .map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))
            .and_then(|r| r);
        // The first failure that is a cause, not a file left uncommitted.
        let mut failure = None;
        let mut rows = 0;
        let mut committed = Vec::new();
        // A writer's panic, raised again once the others are done and the
        // files committed before it are removed.
        let mut panicked = None;
        let mut record =
            |done: std::result::Result<Result<(u64, Path)>, tokio::task::JoinError>,
             failure: &mut Option<DataFusionError>| match done {
                Ok(Ok((written, path))) => {
                    rows += written;
                    committed.push(path);
                }
                Ok(Err(e)) if commit::not_committed(&e) => {}
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                }
                Err(e) if e.is_panic() => {
                    panicked.get_or_insert(e.into_panic());
                }
                Err(e) => {
                    failure.get_or_insert(DataFusionError::External(Box::new(e)));
                }
            };
        if demuxed.is_ok() {
            // Commit once every file is written; a writer ending before
            // then has failed.
            tokio::select! {
                () = verdict.all_ready(spawned) => verdict.commit(),
                Some(done) = writers.join_next() => {
                    record(done, &mut failure);
                    verdict.abort();
                }
            }
        } else {
            verdict.abort();
        }
        while let Some(done) = writers.join_next().await {
            record(done, &mut failure);
        }
        let store = Arc::clone(&shared.store);
        if let Some(payload) = panicked {
            let panic = DataFusionError::Internal("a writer panicked".into());
            drop(remove_committed(store, &committed, panic).await);
            std::panic::resume_unwind(payload);
        }
        match failure {
            // A file failing after the verdict (its upload's last step):
            // the files committed before it go too.
            Some(e) => Err(remove_committed(store, &committed, e).await),
            None => demuxed.map(|()| rows),
        }
    }
}

/// Remove the files of a failed `COPY` that were committed before another
/// failed to complete; `failure` with what could not be removed.
async fn remove_committed(
    store: Arc<dyn ObjectStore>,
    committed: &[Path],
    failure: DataFusionError,
) -> DataFusionError {
    let mut kept = Vec::new();
    for path in committed {
        if let Err(e) = store.delete(path).await {
            kept.push(format!("{path} ({e})"));
        }
    }
    match kept.is_empty() {
        true => failure,
        false => DataFusionError::Context(
            format!(
                "parquet-spill: the COPY failed after these files were committed, and \
                 removing them failed too: {}",
                kept.join(", ")
            ),
            Box::new(failure),
        ),
    }
}

/// Half of what a bounded pool has free (the query's operators keep the
/// rest); [`UNBOUNDED_POOL_LIMIT`] otherwise.
fn default_limit(pool: &Arc<dyn MemoryPool>) -> usize {
    match pool.memory_limit() {
        MemoryLimit::Finite(size) => size.saturating_sub(pool.reserved()) / 2,
        MemoryLimit::Infinite | MemoryLimit::Unknown => UNBOUNDED_POOL_LIMIT,
    }
}

/// Write one file from its batches on this (blocking) thread; the rows
/// written.
///
/// The input batches the writer holds (the one being written, and the two a
/// `ParallelWriter` queues) are part of its memory: the plan reserves room
/// for them, sized from the first batch. Where the batches in flight hold
/// more ([`InFlight`]), the room grows by the difference (pages spill to
/// make it).
fn write_file(shared: &Shared, path: Path, mut rx: Receiver<RecordBatch>) -> Result<(u64, Path)> {
    let opened = shared.opened.fetch_add(1, Ordering::SeqCst) + 1;
    let first = rx.blocking_recv();
    let per_batch = first.as_ref().map_or(0, RecordBatch::get_array_memory_size);
    let permit = match &shared.permits {
        Some(permits) => Some(
            shared
                .runtime
                .block_on(Arc::clone(permits).acquire_owned())
                .map_err(|e| DataFusionError::External(Box::new(e)))?,
        ),
        None => None,
    };
    let part = shared.options.upload_buffer;
    let mut spill = SpillOptions::shared(shared.budget.clone(), shared.files)
        .properties(shared.props.clone())
        .threads(shared.threads)
        .reserve(upload_bytes(part).saturating_add(shared.held * per_batch));
    if let Some(dir) = &shared.options.spill_dir {
        spill = spill.spill_dir(dir);
    }
    if shared.options.chunk_statistics {
        spill = spill.chunk_statistics();
    }
    // The first batch tells how many values its lists' rows hold: list
    // leaves get a page row limit of their own (`SpillOptions::sample`).
    let types = |s: &datafusion::arrow::datatypes::Schema| {
        s.fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect::<Vec<_>>()
    };
    if let Some(first) = first
        .as_ref()
        .filter(|b| types(&b.schema()) == types(&shared.schema))
    {
        spill = spill.sample(first);
    }
    let mut plan = spill.plan(&shared.schema).map_err(|e| match e {
        // Planned for `files` writers, the budget is full: more are open.
        parquet_spill::Error::BudgetExhausted { .. } if shared.permits.is_none() => {
            DataFusionError::ResourcesExhausted(format!(
                "writing {path}: {e}; the limit was divided among {} files open at once \
                 (spill_max_open_files) and this COPY has opened {opened}: raise it to the \
                 number of partitions, or raise spill_memory_limit",
                shared.files
            ))
        }
        // Without partitions: files finished and waiting for the COPY to
        // commit hold their unsent upload buffers.
        parquet_spill::Error::BudgetExhausted { .. } => {
            DataFusionError::ResourcesExhausted(format!(
                "writing {path}: {e}; the limit was divided among {} files open at once \
                 (spill_max_open_files), and files finished before this one keep up to \
                 {} bytes each (their unsent upload buffers) until the COPY commits: lower \
                 spill_upload_buffer, or raise spill_memory_limit",
                shared.files,
                unsent_bytes(part)
            ))
        }
        e => spill_error(&e, &path),
    })?;
    let threads = plan.threads();
    let monitor = plan.monitor();
    // The upload's buffers and the input batches, held apart from the
    // writer: once the file is written they shrink to what the upload
    // still holds, and the writer's plan goes.
    let mut held = plan.take_reserved();
    let options = plan
        .into_writer_options()
        .with_skip_arrow_metadata(shared.skip_arrow_metadata);
    let upload = Upload::new(
        shared.runtime.clone(),
        Arc::clone(&shared.store),
        path.clone(),
        part,
    );
    let schema = Arc::clone(&shared.schema);
    let context = |e: ParquetError| parquet_error(e, &path);
    let mut batches = first
        .into_iter()
        .chain(std::iter::from_fn(|| rx.blocking_recv()));
    let mut rows = 0u64;
    let mut in_flight = InFlight::new(shared.held);
    let planned = held.bytes();
    let mut next = |rows: &mut u64| -> Result<Option<RecordBatch>> {
        let Some(batch) = batches.next() else {
            return Ok(None);
        };
        let holding = in_flight.admit(&batch);
        let needed = upload_bytes(part).saturating_add(holding);
        // Kept once grown: a batch that large may come again, and room given
        // back to the pool may not be there the next time.
        if let Some(more) = needed.checked_sub(held.bytes()).filter(|m| *m > 0) {
            held.try_grow(more).map_err(|e| {
                DataFusionError::ResourcesExhausted(format!(
                    "writing {path}: a batch of {} bytes, which with the {} before it that \
                     the writer may still hold makes {holding} bytes of input, more than the \
                     {} the plan reserved for input from the first ({per_batch} bytes): {e}; raise \
                     spill_memory_limit or make batches even (datafusion.execution.batch_size)",
                    batch.get_array_memory_size(),
                    shared.held - 1,
                    planned.saturating_sub(upload_bytes(part)),
                ))
            })?;
        }
        *rows += batch.num_rows() as u64;
        Ok(Some(batch))
    };
    // Content-defined chunking lives inside ArrowWriter: one thread then.
    let out = if shared.props.content_defined_chunking().is_some() {
        let mut writer =
            ArrowWriter::try_new_with_options(upload, schema, options).map_err(context)?;
        while let Some(batch) = next(&mut rows)? {
            // Room is made before the batch is encoded (for its long values,
            // and to encode it, in parts if need be, cut where a row group
            // ends), or it is refused.
            monitor.write(&mut writer, &batch).map_err(context)?;
        }
        // Its meter's reservations go with the writer's plan.
        drop(monitor);
        await_verdict(writer, shared, &path, held, permit)?
    } else {
        let mut writer = ParallelWriter::try_new_with_options(upload, schema, options)
            .map_err(context)?
            .with_threads(threads)
            .with_monitor(monitor);
        // One stream, so each full row group is spliced while the next is
        // encoded.
        let batches =
            std::iter::from_fn(|| next(&mut rows).map_err(WriteAllError::Input).transpose());
        writer.write_all(batches).map_err(|e| match e {
            WriteAllError::Input(e) => e,
            WriteAllError::Writer(e) => context(e),
        })?;
        await_verdict(writer, shared, &path, held, permit)?
    };
    // Dropped uncommitted (any error above), the upload is aborted; its
    // buffers stay reserved until it is complete.
    let (upload, _buffers) = out;
    upload.finish()?;
    Ok((rows, path))
}

/// The input batches a writer may still hold: the last `held` with rows
/// it was given (the one it encodes and those a `ParallelWriter` queues;
/// it skips a batch without rows, which so holds nothing).
///
/// Why not `held` times the largest batch: one batch far larger than the
/// rest (a run of long strings) would need room for as many of its size
/// as are in flight, and batches that slice one larger batch (a source's
/// or an operator's slices of what it read) would count its buffers once
/// a slice. Here each buffer counts once, at its capacity, however many of
/// the batches hold it.
struct InFlight {
    held: usize,
    /// Each recent batch's buffers: (allocation, capacity).
    recent: VecDeque<Vec<(usize, usize)>>,
}

impl InFlight {
    fn new(held: usize) -> Self {
        Self {
            held: held.max(1),
            recent: VecDeque::with_capacity(held.max(1)),
        }
    }

    /// Take `batch` in (the oldest out) and return the bytes of the
    /// distinct buffers the batches in flight hold.
    fn admit(&mut self, batch: &RecordBatch) -> usize {
        if batch.num_rows() > 0 {
            if self.recent.len() == self.held {
                self.recent.pop_front();
            }
            let mut buffers = Vec::new();
            for column in batch.columns() {
                buffers_of(&column.to_data(), &mut buffers);
            }
            self.recent.push_back(buffers);
        }
        let mut distinct = HashMap::new();
        for &(at, bytes) in self.recent.iter().flatten() {
            distinct.insert(at, bytes);
        }
        distinct.values().sum()
    }
}

/// Every buffer of `data` and its children: (allocation, capacity).
fn buffers_of(data: &ArrayData, out: &mut Vec<(usize, usize)>) {
    let nulls = data.nulls().map(|n| n.buffer());
    for buffer in data.buffers().iter().chain(nulls) {
        out.push((buffer.data_ptr().as_ptr() as usize, buffer.capacity()));
    }
    for child in data.child_data() {
        buffers_of(child, out);
    }
}

/// A writer of one file.
trait FileWriter {
    /// Write the footer, release the writer (and its plan), return the output.
    fn into_inner(self) -> std::result::Result<std::io::BufWriter<Upload>, ParquetError>;
}

impl FileWriter for ArrowWriter<std::io::BufWriter<Upload>> {
    fn into_inner(self) -> std::result::Result<std::io::BufWriter<Upload>, ParquetError> {
        ArrowWriter::into_inner(self)
    }
}

impl FileWriter for ParallelWriter<std::io::BufWriter<Upload>> {
    fn into_inner(self) -> std::result::Result<std::io::BufWriter<Upload>, ParquetError> {
        ParallelWriter::into_inner(self)
    }
}

/// Finish `writer`'s file and wait for the sink's verdict ([`commit`]),
/// returning the output and what it holds of the budget. Every byte of
/// the file is handed to the upload first and the writer (its plan) let
/// go; `held` shrinks to what the upload can still hold, so files written
/// one after another do not each keep a plan while they wait.
fn await_verdict(
    writer: impl FileWriter,
    shared: &Shared,
    path: &Path,
    mut held: Reservation,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<(Upload, Reservation)> {
    let upload = finish(writer, path)?;
    held.shrink(held.bytes().saturating_sub(upload.unsent()));
    // The plan is gone: the next file may plan.
    drop(permit);
    shared.commit.ready(&shared.runtime, path)?;
    Ok((upload, held))
}

/// Write the footer, let the writer go and hand everything to the upload.
fn finish(writer: impl FileWriter, path: &Path) -> Result<Upload> {
    let out = writer.into_inner().map_err(|e| parquet_error(e, path))?;
    out.into_inner().map_err(|e| {
        DataFusionError::External(format!("parquet-spill: writing {path}: {}", e.error()).into())
    })
}

/// Whether `e` says the limit or the pool ran out (DataFusion's
/// `ResourcesExhausted`) rather than something failing.
fn out_of_memory(e: &parquet_spill::Error) -> bool {
    use parquet_spill::Error;
    matches!(
        e,
        Error::BudgetTooSmall { .. }
            | Error::BudgetExhausted { .. }
            | Error::PageMetadataExhausted { .. }
            | Error::PageTooLong { .. }
            | Error::BatchTooLarge { .. }
            | Error::PageTooManyValues { .. }
    )
}

/// A failure of ours while writing `path`, as DataFusion reports it.
fn spill_error(e: &parquet_spill::Error, path: &Path) -> DataFusionError {
    let message = format!("writing {path}: {e}");
    match out_of_memory(e) {
        true => DataFusionError::ResourcesExhausted(message),
        false => DataFusionError::External(message.into()),
    }
}

/// A writer's failure: ours inside it as [`spill_error`] maps it, anything
/// else (I/O, bad data) as an external error.
fn parquet_error(e: ParquetError, path: &Path) -> DataFusionError {
    match parquet_spill::Error::in_chain(&e) {
        Some(ours) if out_of_memory(ours) => spill_error(ours, path),
        _ => DataFusionError::External(format!("parquet-spill: writing {path}: {e}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slices of one batch count its buffers once; a batch out of the
    /// window counts no more.
    #[test]
    fn batches_in_flight_count_each_buffer_once() {
        use datafusion::arrow::array::{ArrayRef, Int64Array};
        let batch = |n: i64| {
            let values: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
            RecordBatch::try_from_iter([("x", values)]).unwrap()
        };
        let (large, small) = (batch(100_000), batch(1_000));
        let (l, s) = (
            large.column(0).to_data().buffers()[0].capacity(),
            small.column(0).to_data().buffers()[0].capacity(),
        );
        let mut in_flight = InFlight::new(3);
        assert_eq!(in_flight.admit(&large.slice(0, 10)), l);
        assert_eq!(in_flight.admit(&large.slice(10, 10)), l, "the same buffer");
        assert_eq!(in_flight.admit(&small), l + s);
        assert_eq!(in_flight.admit(&small.slice(1, 1)), l + s);
        assert_eq!(
            in_flight.admit(&batch(1_000)),
            2 * s,
            "the large batch is out"
        );
        let mut alone = InFlight::new(1);
        alone.admit(&large);
        assert_eq!(alone.admit(&small), s);
        // parquet skips a batch without rows: it moves nothing out.
        let mut skipping = InFlight::new(3);
        skipping.admit(&large);
        skipping.admit(&batch(100_000));
        assert_eq!(skipping.admit(&large.slice(0, 0)), 2 * l);
        assert_eq!(skipping.admit(&small), 2 * l + s);
    }

    /// A `ParallelWriter` names the column a stop happened in; the stop
    /// inside is still the pool's `ResourcesExhausted`.
    #[test]
    fn a_memory_stop_inside_a_column_is_resources_exhausted() {
        let cause: ParquetError = parquet_spill::Error::BatchTooLarge {
            rows: 10,
            needed: 2,
            statistics: 0,
            limit: 1,
        }
        .into();
        let wrapped: ParquetError = parquet_spill::Error::Encode {
            column: "c".into(),
            source: cause,
        }
        .into();
        let e = parquet_error(wrapped, &Path::from("out.parquet"));
        assert!(matches!(e, DataFusionError::ResourcesExhausted(_)), "{e}");
        assert!(e.to_string().contains("a batch of 10 rows"), "{e}");
    }
}
