//! [`SpillOptions`]: "write this schema in N bytes" as one builder call.
//!
//! Why: the layers — a backend, a budget, encoder limits — only keep a
//! memory promise together. This builder wires them: it plans the encoders
//! against the budget ([`crate::plan`]), reserves what they need, and hands
//! the remainder to a [`TieredStoreFactory`] over the backend you chose (the
//! spill file by default, an object store, or your own store).
//!
//! A [`SpillPlan`] is one writer's (see [`crate::SpillPlan`] for why).

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use parquet::arrow::arrow_writer::PageStoreFactory;
use parquet::file::properties::WriterProperties;

use crate::budget::MemoryBudget;
use crate::error::{Error, Result};
use crate::file::FileStoreFactory;
use crate::metadata::{Meter, MeteredStoreFactory};
use crate::plan::{self, Fixed, PlanInput};
use crate::spill_plan::{PlannedFactory, SpillPlan};
use crate::stats::SpillMonitor;
use crate::tiered::TieredStoreFactory;

/// Where a planned writer's pages go past the budget.
#[derive(Debug, Clone)]
enum Backend {
    /// A [`FileStoreFactory`] in this directory (the OS temp dir if `None`).
    SpillDir(Option<PathBuf>),
    /// Any factory.
    Factory(Arc<dyn PageStoreFactory>),
    /// An object store, built by the plan so its buffers draw on the budget.
    #[cfg(feature = "object_store")]
    ObjectStore(crate::object_store::ObjectStoreFactoryBuilder),
}

/// The memory a plan draws on.
#[derive(Debug, Clone)]
enum Limit {
    /// A budget of its own.
    Own(usize),
    /// A share of a budget other writers use too.
    Shared {
        budget: MemoryBudget,
        writers: usize,
    },
}

/// Builder for a writer that keeps a memory limit.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array, RecordBatch};
/// use parquet::arrow::ArrowWriter;
/// use parquet_spill::SpillOptions;
///
/// let col = Arc::new(Int64Array::from_iter_values(0..100_000)) as ArrayRef;
/// let batch = RecordBatch::try_from_iter([("id", col)])?;
///
/// let plan = SpillOptions::new(64 << 20)
///     .spill_dir(std::env::temp_dir())
///     .plan(&batch.schema())?;
/// let monitor = plan.monitor();
/// let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), plan.into_writer_options())?;
/// writer.write(&batch)?;
/// writer.close()?;
/// assert!(monitor.stats().budget.peak <= 64 << 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SpillOptions {
    limit: Limit,
    backend: Backend,
    properties: WriterProperties,
    fixed: Fixed,
    expected_file_bytes: Option<u64>,
    threads: usize,
    extra: usize,
    chunk_statistics: bool,
    sample: Option<plan::Sample>,
}

impl SpillOptions {
    /// Keep one writer's heap (encoders, buffered pages, page metadata)
    /// within `memory_limit` bytes, in a budget of its own.
    ///
    /// ```
    /// let options = parquet_spill::SpillOptions::new(256 << 20);
    /// # drop(options);
    /// ```
    pub fn new(memory_limit: usize) -> Self {
        Self::with_limit(Limit::Own(memory_limit))
    }

    /// Share `budget` with `writers` writers in all (this one included):
    /// this writer plans its encoders for `budget.limit() / writers` and
    /// competes for the rest with everyone else's pages. `writers` of 0 is
    /// taken as 1.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet_spill::{MemoryBudget, SpillOptions};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let shared = MemoryBudget::new(256 << 20);
    /// let plans = (0..8)
    ///     .map(|_| SpillOptions::shared(shared.clone(), 8).plan(&schema))
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// assert!(shared.used() <= 256 << 20);
    /// # drop(plans);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn shared(budget: MemoryBudget, writers: usize) -> Self {
        Self::with_limit(Limit::Shared {
            budget,
            writers: writers.max(1),
        })
    }

    fn with_limit(limit: Limit) -> Self {
        Self {
            limit,
            backend: Backend::SpillDir(None),
            properties: WriterProperties::default(),
            fixed: Fixed::default(),
            expected_file_bytes: None,
            threads: 1,
            extra: 0,
            chunk_statistics: false,
            sample: None,
        }
    }

    /// Spill to a [`FileStoreFactory`] under `dir` (the default backend,
    /// under the OS temporary directory).
    ///
    /// ```
    /// let options = parquet_spill::SpillOptions::new(64 << 20).spill_dir("/var/tmp");
    /// # drop(options);
    /// ```
    pub fn spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.backend = Backend::SpillDir(Some(dir.into()));
        self
    }

    /// Spill to any backend (or your own store) instead of the spill file.
    /// Its own fixed buffers, if any, are not counted: charge them to the
    /// budget yourself (or use [`object_store`](Self::object_store)). Per
    /// page until its row group is flushed, it is assumed to keep what the
    /// spill file keeps (a 24-byte entry) and to hand out keys without bit
    /// 63 (for a key with it the tiered store keeps a 16-byte entry of its
    /// own); a store keeping more per page is undercharged by the difference.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet_spill::{MemoryStoreFactory, SpillOptions};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Int64, false)]);
    /// let plan = SpillOptions::new(16 << 20).backend(Arc::new(MemoryStoreFactory::new())).plan(&schema)?;
    /// # drop(plan);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn backend(mut self, factory: Arc<dyn PageStoreFactory>) -> Self {
        self.backend = Backend::Factory(factory);
        self
    }

    /// Spill to an object store. The plan builds the factory, charging its
    /// buffers ([`ObjectStoreFactoryBuilder::memory_limit`](crate::ObjectStoreFactoryBuilder::memory_limit))
    /// to this writer's budget; a limit too small for them and the writer
    /// is refused with [`Error::BudgetTooSmall`](crate::Error::BudgetTooSmall)
    /// naming the minimum for both.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet_spill::{Error, ObjectStoreFactory, SpillOptions};
    /// let s3_or_any = Arc::new(object_store::memory::InMemory::new());
    /// let schema = Schema::new(vec![Field::new("x", DataType::Int64, false)]);
    /// let spill = ObjectStoreFactory::builder(s3_or_any, "spill".into()).buffer_size(4 << 20);
    /// let plan = SpillOptions::new(64 << 20).object_store(spill.clone()).plan(&schema)?;
    /// assert!(plan.monitor().stats().budget.used >= 8 << 20, "buffers and read-ahead are reserved");
    /// let Err(Error::BudgetTooSmall { minimum, .. }) = SpillOptions::new(4 << 20).object_store(spill.clone()).plan(&schema)
    /// else { panic!("4 MiB cannot hold the buffers") };
    /// assert!(minimum > (4 << 20) * 2);
    /// assert!(SpillOptions::new(minimum).object_store(spill).plan(&schema).is_ok());
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    #[cfg(feature = "object_store")]
    pub fn object_store(mut self, builder: crate::object_store::ObjectStoreFactoryBuilder) -> Self {
        self.backend = Backend::ObjectStore(builder);
        self
    }

    /// Start from these writer properties. The planner may lower the data
    /// page, dictionary page, write batch and bloom filter limits in them
    /// (never raise them) and lists each change in [`SpillPlan::changes`];
    /// everything else is kept. To keep a limit exactly, fix it with
    /// [`data_page_size_limit`](Self::data_page_size_limit) and friends.
    ///
    /// ```
    /// use parquet::basic::{Compression, ZstdLevel};
    /// use parquet::file::properties::WriterProperties;
    /// let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?)).build();
    /// let options = parquet_spill::SpillOptions::new(64 << 20).properties(props);
    /// # drop(options);
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn properties(mut self, properties: WriterProperties) -> Self {
        self.properties = properties;
        self
    }

    /// Use exactly this data page size limit for every column, whatever
    /// its value; the plan fails with [`Error::FixedSettingTooLarge`] if it
    /// cannot fit.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let plan = parquet_spill::SpillOptions::new(64 << 20).data_page_size_limit(1 << 20).plan(&schema)?;
    /// assert_eq!(plan.properties().data_page_size_limit(), 1 << 20);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn data_page_size_limit(mut self, bytes: usize) -> Self {
        self.fixed.data_page = Some(bytes);
        self
    }

    /// Use exactly this dictionary page size limit for every column.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet::schema::types::ColumnPath;
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let plan = parquet_spill::SpillOptions::new(64 << 20).dictionary_page_size_limit(1 << 20).plan(&schema)?;
    /// assert_eq!(plan.properties().column_dictionary_page_size_limit(&ColumnPath::from("x")), 1 << 20);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn dictionary_page_size_limit(mut self, bytes: usize) -> Self {
        self.fixed.dictionary_page = Some(bytes);
        self
    }

    /// Use exactly this write batch size.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let plan = parquet_spill::SpillOptions::new(64 << 20).write_batch_size(1024).plan(&schema)?;
    /// assert_eq!(plan.properties().write_batch_size(), 1024);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn write_batch_size(mut self, rows: usize) -> Self {
        self.fixed.write_batch = Some(rows);
        self
    }

    /// A hint: how many bytes of encoded data the file will hold. Every
    /// finished page keeps a little metadata on the heap until the file is
    /// closed; it is charged to the budget as it is written whatever the hint
    /// says (heap pages yield to it), so the hint only lets the planner choose
    /// pages large enough that the expected file's metadata fits, instead of
    /// failing with [`Error::PageMetadataExhausted`] late in a huge write.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let plan = parquet_spill::SpillOptions::new(64 << 20).expected_file_bytes(8 << 30).plan(&schema)?;
    /// assert!(plan.estimate().page_metadata > 0);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn expected_file_bytes(mut self, bytes: u64) -> Self {
        self.expected_file_bytes = Some(bytes);
        self
    }

    /// Plan for `threads` column writers encoding at once (the parallel
    /// path): each holds a page being compressed. Default 1; 0 is taken as 1.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let one = parquet_spill::SpillOptions::new(64 << 20).plan(&schema)?.estimate();
    /// let four = parquet_spill::SpillOptions::new(64 << 20).threads(4).plan(&schema)?.estimate();
    /// assert!(four.transient > one.transient);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Reserve `bytes` of the limit for the caller's own use (say, the input
    /// batches it holds while writing): the plan fits the writer in the rest.
    /// The room is held as long as the writer, or, once taken with
    /// [`SpillPlan::take_reserved`](crate::SpillPlan::take_reserved), as
    /// long as the caller keeps it.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let plan = parquet_spill::SpillOptions::new(64 << 20).reserve(16 << 20).plan(&schema)?;
    /// assert_eq!(plan.estimate().reserved_extra, 16 << 20);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn reserve(mut self, bytes: usize) -> Self {
        self.extra = bytes;
        self
    }

    /// Write chunk-level statistics instead of page-level ones (no column
    /// index): each page then leaves a few dozen bytes of metadata instead of
    /// about a hundred, which lets very wide schemas fit smaller limits.
    /// Readers lose page-level pruning. Every column changed is listed in
    /// [`SpillPlan::changes`].
    ///
    /// parquet still writes the offset index (an entry per page until the
    /// file closes, and its builder's until the row group is flushed). To
    /// leave it out as well, pass [`properties`](Self::properties) with
    /// `set_offset_index_disabled(true)`: parquet obeys that only where no
    /// column has page statistics, and the plan charges what parquet
    /// writes. Readers then lose page-level row selection too.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet::file::properties::WriterProperties;
    /// use parquet_spill::SpillOptions;
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let plan = SpillOptions::new(64 << 20).chunk_statistics().plan(&schema)?;
    /// assert!(plan.changes().iter().any(|c| c.setting == "statistics_enabled"));
    ///
    /// // 1 GiB of 100 columns: the page metadata the plan expects drops.
    /// let fields: Vec<_> = (0..100)
    ///     .map(|i| Field::new(format!("c{i}"), DataType::Int64, true))
    ///     .collect();
    /// let wide = Schema::new(fields);
    /// let expected = |options: SpillOptions| -> Result<usize, parquet_spill::Error> {
    ///     let plan = options.chunk_statistics().expected_file_bytes(1 << 30).plan(&wide)?;
    ///     Ok(plan.estimate().page_metadata)
    /// };
    /// let no_offset_index = WriterProperties::builder().set_offset_index_disabled(true).build();
    /// let with = expected(SpillOptions::new(96 << 20))?;
    /// let without = expected(SpillOptions::new(96 << 20).properties(no_offset_index))?;
    /// assert!(without < with, "{without} < {with}");
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn chunk_statistics(mut self) -> Self {
        self.chunk_statistics = true;
        self
    }

    /// Plan with a batch like those to come, for its lists' rows: a row of
    /// a list column holds any number of values, and the plan, from the
    /// schema alone, takes one. parquet ends a page by its encoded size or
    /// its rows, and a page of many values a row keeps per value what its
    /// encoded size barely counts (a dictionary's indices, the levels), so
    /// without a sample the writer finds out at the first batch and may
    /// stop there with [`Error::PageTooManyValues`]. With one, the plan
    /// gives list leaves a page row limit of their own (parquet 60; on 59
    /// every column's, and no fewer than 64 rows there) at which a page
    /// of the sample's longest rows needs no more beyond the plan than its
    /// share of a sixteenth of the limit, and lists it in
    /// [`SpillPlan::changes`]. Columns without lists keep the plan's.
    ///
    /// The batch is read here (its rows' lengths, one pass over each
    /// list's offsets), not kept. Later batches are still counted as they
    /// come: rows longer than the sample's take room of the budget, or stop
    /// the write as before. The sample must have the columns of the schema
    /// planned for ([`Error::InvalidOption`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, Int64Array, ListArray, RecordBatch};
    /// use arrow_buffer::OffsetBuffer;
    /// use arrow_schema::{DataType, Field};
    /// use parquet::arrow::ArrowWriter;
    /// use parquet_spill::SpillOptions;
    ///
    /// // Embeddings: 512 values a row.
    /// let item = Arc::new(Field::new("item", DataType::Int64, false));
    /// let values = Int64Array::from_iter_values(0..512 * 2048);
    /// let offsets = OffsetBuffer::from_lengths([512; 2048]);
    /// let list = ListArray::new(item, offsets, Arc::new(values), None);
    /// let batch = RecordBatch::try_from_iter([("embedding", Arc::new(list) as ArrayRef)])?;
    ///
    /// let plan = SpillOptions::new(16 << 20).sample(&batch).plan(&batch.schema())?;
    /// let change = plan.changes().iter().find(|c| c.setting == "data_page_row_count_limit");
    /// assert!(change.is_some_and(|c| c.column.as_deref() == Some("embedding.list.item")));
    /// let monitor = plan.monitor();
    /// let mut writer =
    ///     ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), plan.into_writer_options())?;
    /// writer.write(&batch)?;
    /// writer.close()?;
    /// assert!(monitor.stats().budget.peak <= 16 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sample(mut self, batch: &RecordBatch) -> Self {
        self.sample = Some(plan::Sample::of(batch));
        self
    }

    /// Plan the writer for `schema`: choose the encoder limits, reserve
    /// their memory and build the store factory.
    ///
    /// # Errors
    ///
    /// [`Error::BudgetTooSmall`] naming the smallest limit that works;
    /// [`Error::FixedSettingTooLarge`] if a setting you fixed cannot fit;
    /// [`Error::Schema`] / [`Error::EmptySchema`] for a schema Parquet cannot
    /// hold; [`Error::SpillDir`] / [`Error::CreateSpillFile`] for an unusable
    /// spill directory; [`Error::BudgetExhausted`] if a shared budget has
    /// no room left for this writer's encoders.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet_spill::{Error, SpillOptions};
    /// let wide = Schema::new(
    ///     (0..2000).map(|i| Field::new(format!("c{i}"), DataType::Utf8, true)).collect::<Vec<_>>(),
    /// );
    /// let err = SpillOptions::new(8 << 20).plan(&wide).unwrap_err();
    /// let Error::BudgetTooSmall { minimum, .. } = err else { panic!("{err}") };
    /// assert!(SpillOptions::new(minimum).plan(&wide).is_ok());
    /// ```
    pub fn plan(&self, schema: &Schema) -> Result<SpillPlan> {
        let (budget, writers) = match &self.limit {
            Limit::Own(limit) => (MemoryBudget::new(*limit), 1),
            Limit::Shared { budget, writers } => (budget.clone(), *writers),
        };
        let limit = budget.limit();
        // A backend that holds buffers of its own (the object store's upload
        // and read-ahead buffers) has them taken out first; the writer is
        // planned in what is left, so a limit too small for both is refused
        // naming the minimum for both, before the backend is built.
        let backend_bytes = self.backend_bytes();
        let per_writer = (limit / writers).saturating_sub(backend_bytes);
        let planned = plan::plan(PlanInput {
            schema,
            props: self.properties.clone(),
            fixed: self.fixed,
            limit: per_writer,
            expected_bytes: self.expected_file_bytes,
            threads: self.threads,
            extra: self.extra,
            chunk_statistics: self.chunk_statistics,
            backend_slot: self.backend_slot(),
            sample: self.sample.as_ref(),
            floor: crate::plan::PROCESS_FLOOR / writers,
        })
        .map_err(|e| match e {
            // Report what the user sets: the whole limit, for all writers.
            Error::BudgetTooSmall {
                columns,
                minimum,
                alternative,
                ..
            } => Error::BudgetTooSmall {
                limit,
                columns,
                minimum: minimum
                    .saturating_add(backend_bytes)
                    .saturating_mul(writers),
                alternative: alternative.map(|mut a| {
                    a.minimum = a
                        .minimum
                        .saturating_add(backend_bytes)
                        .saturating_mul(writers);
                    a
                }),
            },
            Error::FixedSettingTooLarge {
                setting,
                column,
                value,
                needed,
                ..
            } => Error::FixedSettingTooLarge {
                setting,
                column,
                value,
                needed: needed.saturating_add(backend_bytes).saturating_mul(writers),
                limit,
            },
            other => other,
        })?;
        let backend = self.build_backend(&budget)?;
        let reserved = planned.estimate.reserved();
        let reservation = budget.reserve_plan(reserved)?;
        // Pages leave room for the writers declared but not planned yet
        // (not eaten into by page metadata or other writers' buffers).
        let headroom: crate::budget::Headroom = Arc::new(move |b| b.unplanned_room(writers));
        let tiered = TieredStoreFactory::over(budget.clone(), backend)
            .with_headroom(Arc::clone(&headroom))
            .with_metered_arena();
        let meter = Arc::new(
            Meter::new(&budget, self.threads, planned.long_pages)?
                .with_model(
                    Arc::clone(&planned.metadata),
                    planned.props.max_row_group_row_count(),
                )
                .with_headroom(headroom)
                .with_planned_metadata(planned.estimate.page_metadata),
        );
        let monitor = SpillMonitor::new(
            budget,
            Arc::clone(tiered.counters()),
            Arc::clone(&meter),
            planned.estimate,
            limit / writers,
        )
        .with_groups(crate::row_groups::GroupLimits::of(&planned.props));
        let tiered: Arc<dyn PageStoreFactory> = Arc::new(tiered);
        Ok(SpillPlan {
            properties: planned.props,
            factory: Arc::new(PlannedFactory {
                stores: MeteredStoreFactory::new(tiered, meter, planned.metadata),
                reservation,
            }),
            monitor,
            estimate: planned.estimate,
            changes: planned.changes,
            page_size: planned.page_size,
            threads: self.threads,
            caller_reserved: planned.estimate.reserved_extra,
        })
    }

    /// The backend, built: one that holds buffers of its own reserves
    /// them in `budget` ([`backend_bytes`](Self::backend_bytes)).
    fn build_backend(&self, budget: &MemoryBudget) -> Result<Arc<dyn PageStoreFactory>> {
        let _ = budget; // only the object store draws on it
        Ok(match &self.backend {
            Backend::SpillDir(Some(dir)) => Arc::new(FileStoreFactory::in_dir(dir)?),
            Backend::SpillDir(None) => Arc::new(FileStoreFactory::new()?),
            Backend::Factory(factory) => Arc::clone(factory),
            #[cfg(feature = "object_store")]
            Backend::ObjectStore(builder) => {
                Arc::new(builder.clone().budget(budget.clone()).build()?)
            }
        })
    }

    /// What the backend reserves for itself when built.
    fn backend_bytes(&self) -> usize {
        match &self.backend {
            #[cfg(feature = "object_store")]
            Backend::ObjectStore(builder) => builder.memory_limit(),
            _ => 0,
        }
    }

    /// What the backend keeps per spilled page until its row group is
    /// flushed; a store of the caller's is assumed to keep what the spill
    /// file's does.
    fn backend_slot(&self) -> usize {
        match &self.backend {
            #[cfg(feature = "object_store")]
            Backend::ObjectStore(_) => crate::object_store::SLOT,
            _ => crate::file::SLOT,
        }
    }
}
