//! [`SpillOptions`]: "write this schema in N bytes" as one builder call.
//!
//! Why: the three layers — a spill file, a budget, encoder limits — only
//! keep a memory promise together. This builder wires them: it plans the
//! encoders against the budget ([`crate::plan`]), reserves what they need,
//! and hands the remainder to a [`TieredStoreFactory`] spilling into the
//! directory you chose.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_schema::{Schema, SchemaRef};
use parquet::arrow::arrow_writer::{ArrowRowGroupWriterFactory, ArrowWriterOptions};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::budget::MemoryBudget;
use crate::error::{Error, Result};
use crate::file::FileStoreFactory;
use crate::plan::{self, Estimate, PlanChange, PlanInput};
use crate::tiered::TieredStoreFactory;

/// Share of a writer's allowance the planner prefers to give the encoders.
const PREFERRED_ENCODER_SHARE: f64 = 0.5;
/// The most it gives them before declaring the budget too small.
const MAX_ENCODER_SHARE: f64 = 0.85;
/// File size assumed for page-metadata estimates when none is given.
pub const DEFAULT_EXPECTED_FILE_BYTES: u64 = 1 << 30;

/// Builder for writer options that keep a memory limit.
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
/// let plan = SpillOptions::new()
///     .memory_limit(64 << 20)
///     .spill_dir(std::env::temp_dir())
///     .plan(&batch.schema())?;
/// let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), plan.writer_options())?;
/// writer.write(&batch)?;
/// writer.close()?;
/// assert!(plan.budget().peak() <= 64 << 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SpillOptions {
    limit: Option<usize>,
    budget: Option<MemoryBudget>,
    writers: Option<usize>,
    spill_dir: Option<PathBuf>,
    properties: Option<WriterProperties>,
    expected_file_bytes: Option<u64>,
}

impl SpillOptions {
    /// Options with no limit set yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keep this writer's heap (encoders plus buffered pages) within `bytes`.
    ///
    /// The promise rests on the planner's estimate of encoder memory, which
    /// is conservative (measured at 1.5-2x the real encoder heap on parquet
    /// 60.1). With [`budget`](Self::budget) as well, the smaller of the two
    /// limits is split between [`writers`](Self::writers).
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.limit = Some(bytes);
        self
    }

    /// Share `budget` with other writers: this writer plans for
    /// `budget.limit() / writers` of encoder memory (see [`writers`](Self::writers))
    /// and competes for the rest with everyone else's pages.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet_spill::{MemoryBudget, SpillOptions};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let shared = MemoryBudget::new(256 << 20);
    /// let plans = (0..8)
    ///     .map(|_| SpillOptions::new().budget(shared.clone()).writers(8).plan(&schema))
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// assert!(shared.used() <= 256 << 20);
    /// # drop(plans);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn budget(mut self, budget: MemoryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// How many writers share the budget at once (default 1).
    pub fn writers(mut self, writers: usize) -> Self {
        self.writers = Some(writers.max(1));
        self
    }

    /// Spill under `dir` (default: the OS temporary directory).
    pub fn spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spill_dir = Some(dir.into());
        self
    }

    /// Start from these writer properties. Settings left at parquet's
    /// defaults may be changed by the plan; a page or dictionary size limit set
    /// to anything else is kept as an upper bound, or the plan fails saying so.
    pub fn properties(mut self, properties: WriterProperties) -> Self {
        self.properties = Some(properties);
        self
    }

    /// How many bytes of encoded data the file will hold (default
    /// [`DEFAULT_EXPECTED_FILE_BYTES`]). Every finished page keeps a little
    /// page-index metadata on the heap until the file is closed, so the planner
    /// needs this to choose a page size that keeps that within the limit.
    pub fn expected_file_bytes(mut self, bytes: u64) -> Self {
        self.expected_file_bytes = Some(bytes);
        self
    }

    /// Plan the writer for `schema`.
    ///
    /// # Errors
    ///
    /// [`Error::BudgetTooSmall`] naming the smallest limit that works;
    /// [`Error::Plan`] if the caller's settings cannot fit;
    /// [`Error::SpillDir`] / [`Error::CreateSpillFile`] for an unusable
    /// spill directory; [`Error::BudgetExhausted`] if a shared budget has
    /// no room left for this writer's encoders.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet_spill::{Error, SpillOptions};
    /// let wide = Schema::new(
    ///     (0..2000).map(|i| Field::new(format!("c{i}"), DataType::Utf8, true)).collect::<Vec<_>>(),
    /// );
    /// let err = SpillOptions::new().memory_limit(8 << 20).plan(&wide).unwrap_err();
    /// let Error::BudgetTooSmall { minimum, .. } = err else { panic!("{err}") };
    /// assert!(SpillOptions::new().memory_limit(minimum).plan(&wide).is_ok());
    /// ```
    pub fn plan(&self, schema: &Schema) -> Result<SpillPlan> {
        let budget = match (&self.budget, self.limit) {
            (Some(b), _) => b.clone(),
            (None, Some(limit)) => MemoryBudget::new(limit),
            (None, None) => {
                return Err(Error::Plan(
                    "SpillOptions needs memory_limit(bytes) or budget(shared)".into(),
                ))
            }
        };
        let writers = self.writers.unwrap_or(1);
        let limit = self.limit.unwrap_or(budget.limit()).min(budget.limit());
        let per_writer = limit / writers;
        let props = self.properties.clone().unwrap_or_default();
        let planned = plan::plan(PlanInput {
            schema,
            props,
            allowance: (per_writer as f64 * PREFERRED_ENCODER_SHARE) as usize,
            max_allowance: (per_writer as f64 * MAX_ENCODER_SHARE) as usize,
            expected_bytes: self
                .expected_file_bytes
                .unwrap_or(DEFAULT_EXPECTED_FILE_BYTES),
            limit: per_writer,
            max_share: MAX_ENCODER_SHARE,
        })
        .map_err(|e| match e {
            // Report what the user sets: the whole limit, for all writers.
            Error::BudgetTooSmall {
                columns, minimum, ..
            } if writers > 1 => Error::BudgetTooSmall {
                limit,
                columns,
                minimum: minimum.saturating_mul(writers),
            },
            other => other,
        })?;
        let reservation = Arc::new(budget.reserve(planned.estimate.total())?);
        let files = match &self.spill_dir {
            Some(dir) => FileStoreFactory::in_dir(dir)?,
            None => FileStoreFactory::new()?,
        };
        let factory = Arc::new(TieredStoreFactory::new(budget.clone(), files).holding(
            Arc::clone(&reservation),
            planned.estimate.total().saturating_mul(writers),
        ));
        Ok(SpillPlan {
            properties: planned.props,
            factory,
            budget,
            estimate: planned.estimate,
            changes: planned.changes,
            page_size: planned.page_size,
        })
    }

    /// Plan for `schema` and return the writer options in one call.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet::arrow::ArrowWriter;
    /// let schema = std::sync::Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let options = parquet_spill::SpillOptions::new().memory_limit(32 << 20).writer_options(&schema)?;
    /// let writer = ArrowWriter::try_new_with_options(Vec::new(), schema, options)?;
    /// # drop(writer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writer_options(&self, schema: &Schema) -> Result<ArrowWriterOptions> {
        Ok(self.plan(schema)?.writer_options())
    }
}

/// A planned writer: properties, a tiered store factory and the budget.
///
/// Keeps the encoders' reservation in the budget for as long as the plan or
/// any writer built from it is alive.
#[derive(Debug, Clone)]
pub struct SpillPlan {
    properties: WriterProperties,
    factory: Arc<TieredStoreFactory>,
    budget: MemoryBudget,
    estimate: Estimate,
    changes: Vec<PlanChange>,
    page_size: usize,
}

impl SpillPlan {
    /// Options for `ArrowWriter` / `AsyncArrowWriter`.
    pub fn writer_options(&self) -> ArrowWriterOptions {
        ArrowWriterOptions::new()
            .with_properties(self.properties.clone())
            .with_page_store_factory(self.factory.clone())
    }

    /// An `ArrowRowGroupWriterFactory` for the parallel, column-per-thread
    /// path. Create `writer` with [`properties`](Self::properties).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet::arrow::ArrowSchemaConverter;
    /// use parquet::file::writer::SerializedFileWriter;
    /// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    /// let plan = parquet_spill::SpillOptions::new().memory_limit(16 << 20).plan(&schema)?;
    /// let parquet_schema = ArrowSchemaConverter::new().convert(&schema)?;
    /// let props = Arc::new(plan.properties().clone());
    /// let writer = SerializedFileWriter::new(Vec::new(), parquet_schema.root_schema_ptr(), props)?;
    /// let factory = plan.row_group_writer_factory(&writer, schema);
    /// assert_eq!(factory.create_column_writers(0)?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn row_group_writer_factory<W: Write + Send>(
        &self,
        writer: &SerializedFileWriter<W>,
        schema: SchemaRef,
    ) -> ArrowRowGroupWriterFactory {
        ArrowRowGroupWriterFactory::new(writer, schema)
            .with_page_store_factory(self.factory.clone())
    }

    /// The planned writer properties.
    pub fn properties(&self) -> &WriterProperties {
        &self.properties
    }

    /// The tiered store factory (its stats show what spilled).
    pub fn factory(&self) -> &Arc<TieredStoreFactory> {
        &self.factory
    }

    /// The budget the plan draws on.
    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// The encoder memory estimate reserved from the budget.
    pub fn estimate(&self) -> Estimate {
        self.estimate
    }

    /// Every setting the planner changed from the caller's properties.
    pub fn changes(&self) -> &[PlanChange] {
        &self.changes
    }

    /// The data page size limit chosen.
    pub fn page_size(&self) -> usize {
        self.page_size
    }
}

impl fmt::Display for SpillPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.estimate;
        writeln!(
            f,
            "budget {} bytes; encoders reserve {} (buffers {}, page metadata {}, transient {}, bloom {}); \
             page size {}",
            self.budget.limit(),
            e.total(),
            e.encoders,
            e.page_metadata,
            e.transient,
            e.bloom_filters,
            self.page_size
        )?;
        for change in &self.changes {
            writeln!(f, "  {change}")?;
        }
        Ok(())
    }
}
