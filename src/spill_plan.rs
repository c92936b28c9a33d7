//! [`SpillPlan`]: one planned writer — its properties, its store factory
//! and the reservation that factory holds.
//!
//! Why a type of its own: the reservation must live exactly as long as the
//! one writer it was made for. So a plan is not `Clone`, and turning it into
//! writer options consumes it; its counters stay readable through a
//! [`SpillMonitor`], which holds no reservation.

use std::fmt;
use std::io::Write;
use std::sync::Arc;

use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{
    ArrowRowGroupWriterFactory, ArrowWriterOptions, PageStore, PageStoreArgs, PageStoreFactory,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use crate::budget::{PlanReservation, Reservation};
use crate::metadata::MeteredStoreFactory;
use crate::plan::{Estimate, PlanChange};
use crate::stats::{SpillMonitor, WriterStats};

/// The planned stack: metadata metered over a tiered store over the
/// backend, holding the plan's reservation until the writer (its last user)
/// is gone.
#[derive(Debug)]
pub(crate) struct PlannedFactory {
    /// Metadata metered, over pages tiered, over the backend.
    pub(crate) stores: MeteredStoreFactory,
    pub(crate) reservation: PlanReservation,
}

impl PageStoreFactory for PlannedFactory {
    fn create(&self, args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        self.stores.create(args)
    }
}

/// One planned writer: properties, a store factory holding the encoders'
/// reservation, and what the planner decided.
///
/// Not `Clone`: turn it into writer options once
/// ([`into_writer_options`](Self::into_writer_options) or
/// [`into_row_group_writer_factory`](Self::into_row_group_writer_factory));
/// the reservation then lives as long as that writer.
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// use parquet_spill::{MemoryBudget, SpillOptions};
/// let schema = std::sync::Arc::new(Schema::new(vec![Field::new("x", DataType::Utf8, true)]));
/// let budget = MemoryBudget::new(64 << 20);
/// let plan = SpillOptions::shared(budget.clone(), 1).plan(&schema)?;
/// assert_eq!(budget.used(), plan.estimate().reserved()); // metadata is charged as it grows
/// let writer = parquet::arrow::ArrowWriter::try_new_with_options(Vec::new(), schema, plan.into_writer_options())?;
/// assert!(budget.used() > 0, "the writer holds the reservation now");
/// drop(writer);
/// assert_eq!(budget.used(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SpillPlan {
    pub(crate) properties: WriterProperties,
    pub(crate) factory: Arc<PlannedFactory>,
    pub(crate) monitor: SpillMonitor,
    pub(crate) estimate: Estimate,
    pub(crate) changes: Vec<PlanChange>,
    pub(crate) page_size: usize,
    pub(crate) threads: usize,
    /// The caller's room still in the plan's reservation
    /// ([`take_reserved`](Self::take_reserved)).
    pub(crate) caller_reserved: usize,
}

impl SpillPlan {
    /// Options for one `ArrowWriter` / `AsyncArrowWriter`.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet::arrow::ArrowWriter;
    /// let schema = std::sync::Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
    /// let plan = parquet_spill::SpillOptions::new(32 << 20).plan(&schema)?;
    /// let writer = ArrowWriter::try_new_with_options(Vec::new(), schema, plan.into_writer_options())?;
    /// # drop(writer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_writer_options(self) -> ArrowWriterOptions {
        let (properties, factory) = self.into_parts();
        ArrowWriterOptions::new()
            .with_properties(properties)
            .with_page_store_factory(factory)
    }

    /// The planned properties and the store factory (holding the
    /// reservation), for writers built by hand.
    ///
    /// The plan assumes row groups of at most the properties'
    /// `max_row_group_row_count` rows, as `ArrowWriter` and
    /// [`ParallelWriter`](crate::ParallelWriter) split them; writers built by
    /// hand must keep to it (parquet's low-level writers do not check it).
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Int32, false)]);
    /// let (props, factory) = parquet_spill::SpillOptions::new(32 << 20).plan(&schema)?.into_parts();
    /// assert!(props.data_page_size_limit() > 0);
    /// # drop(factory);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn into_parts(self) -> (WriterProperties, Arc<dyn PageStoreFactory>) {
        (self.properties, self.factory)
    }

    /// An `ArrowRowGroupWriterFactory` for the parallel, column-per-thread
    /// path. Create `writer` with [`properties`](Self::properties). As with
    /// [`into_parts`](Self::into_parts), row groups must keep to the
    /// properties' `max_row_group_row_count`: the plan counts on it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_schema::{DataType, Field, Schema};
    /// use parquet::arrow::ArrowSchemaConverter;
    /// use parquet::file::writer::SerializedFileWriter;
    /// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    /// let plan = parquet_spill::SpillOptions::new(16 << 20).plan(&schema)?;
    /// let parquet_schema = ArrowSchemaConverter::new().convert(&schema)?;
    /// let props = Arc::new(plan.properties().clone());
    /// let writer = SerializedFileWriter::new(Vec::new(), parquet_schema.root_schema_ptr(), props)?;
    /// let factory = plan.into_row_group_writer_factory(&writer, schema);
    /// assert_eq!(factory.create_column_writers(0)?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_row_group_writer_factory<W: Write + Send>(
        self,
        writer: &SerializedFileWriter<W>,
        schema: SchemaRef,
    ) -> ArrowRowGroupWriterFactory {
        ArrowRowGroupWriterFactory::new(writer, schema).with_page_store_factory(self.factory)
    }

    /// The room the plan reserved for the caller
    /// ([`SpillOptions::reserve`](crate::SpillOptions::reserve)), as a
    /// reservation the caller holds as long as it likes instead of as long
    /// as the writer: say for output buffers that outlive the writer, or to
    /// shrink it once the input is read. Taken once; later calls return an
    /// empty reservation.
    ///
    /// ```
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Schema::new(vec![Field::new("x", DataType::Int32, false)]);
    /// let budget = parquet_spill::MemoryBudget::new(64 << 20);
    /// let mut plan = parquet_spill::SpillOptions::shared(budget.clone(), 1).reserve(8 << 20).plan(&schema)?;
    /// let held = plan.take_reserved();
    /// assert_eq!(held.bytes(), 8 << 20);
    /// assert_eq!(plan.take_reserved().bytes(), 0);
    /// let used = budget.used();
    /// drop(plan); // the writer's part goes with it, the caller's stays
    /// assert_eq!(budget.used(), 8 << 20);
    /// assert!(used > 8 << 20);
    /// drop(held);
    /// assert_eq!(budget.used(), 0);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn take_reserved(&mut self) -> Reservation {
        let bytes = std::mem::take(&mut self.caller_reserved);
        match Arc::get_mut(&mut self.factory) {
            Some(factory) => factory.reservation.split_off(bytes),
            // Unreachable: the plan is the factory's only owner until it is
            // turned into options. An empty reservation keeps it whole.
            None => Reservation::empty(self.monitor.budget()),
        }
    }

    /// The encoding threads the plan counts
    /// ([`SpillOptions::threads`](crate::SpillOptions::threads)); a
    /// [`ParallelWriter`](crate::ParallelWriter) built from the plan uses
    /// this many.
    ///
    /// ```
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Schema::new(vec![Field::new("x", DataType::Int32, false)]);
    /// let plan = parquet_spill::SpillOptions::new(32 << 20).threads(2).plan(&schema)?;
    /// assert_eq!(plan.threads(), 2);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The planned writer properties.
    ///
    /// ```
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Schema::new(vec![Field::new("x", DataType::Int32, false)]);
    /// let plan = parquet_spill::SpillOptions::new(32 << 20).plan(&schema)?;
    /// assert_eq!(plan.properties().data_page_size_limit(), plan.page_size());
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn properties(&self) -> &WriterProperties {
        &self.properties
    }

    /// A handle on this writer's counters that holds no reservation.
    ///
    /// ```
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Schema::new(vec![Field::new("x", DataType::Int32, false)]);
    /// let plan = parquet_spill::SpillOptions::new(32 << 20).plan(&schema)?;
    /// let monitor = plan.monitor();
    /// drop(plan);
    /// assert_eq!(monitor.stats().budget.used, 0, "the reservation went with the plan");
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn monitor(&self) -> SpillMonitor {
        self.monitor.clone()
    }

    /// What the planner expects each part to use, reserved from the budget.
    ///
    /// ```
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Schema::new(vec![Field::new("x", DataType::Int32, false)]);
    /// let plan = parquet_spill::SpillOptions::new(32 << 20).plan(&schema)?;
    /// assert_eq!(plan.monitor().stats().budget.used, plan.estimate().reserved());
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn estimate(&self) -> Estimate {
        self.estimate
    }

    /// Every setting the planner changed from the caller's properties.
    ///
    /// ```
    /// # use arrow_schema::{DataType, Field, Schema};
    /// let wide = Schema::new((0..500).map(|i| Field::new(format!("c{i}"), DataType::Utf8, true)).collect::<Vec<_>>());
    /// let plan = parquet_spill::SpillOptions::new(64 << 20).plan(&wide)?;
    /// assert!(plan.changes().iter().any(|c| c.setting == "data_page_size_limit"));
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn changes(&self) -> &[PlanChange] {
        &self.changes
    }

    /// The data page size limit chosen.
    ///
    /// ```
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Schema::new(vec![Field::new("x", DataType::Int32, false)]);
    /// let plan = parquet_spill::SpillOptions::new(1 << 30).plan(&schema)?;
    /// assert_eq!(plan.page_size(), 1 << 20, "a roomy limit keeps parquet's default");
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// The counters right now (same as `monitor().stats()`).
    ///
    /// ```
    /// # use arrow_schema::{DataType, Field, Schema};
    /// # let schema = Schema::new(vec![Field::new("x", DataType::Int32, false)]);
    /// let plan = parquet_spill::SpillOptions::new(32 << 20).plan(&schema)?;
    /// assert_eq!(plan.stats().spilled_bytes, 0);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn stats(&self) -> WriterStats {
        self.monitor.stats()
    }
}

impl fmt::Debug for SpillPlan {
    // The properties and changes can hold thousands of columns: sizes only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpillPlan")
            .field("page_size", &self.page_size)
            .field("estimate", &self.estimate)
            .field("changes", &self.changes.len())
            .field("limit", &self.monitor.limit())
            .finish_non_exhaustive()
    }
}

impl fmt::Display for SpillPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.estimate;
        writeln!(
            f,
            "limit {} bytes; reserved {} (encoders {}, codec contexts {}, transient {}, caller {}, \
             allocator {}); expected page metadata {}; page size {}",
            self.monitor.limit(),
            e.reserved(),
            e.encoders,
            e.codec,
            e.transient,
            e.reserved_extra,
            e.allocator,
            e.page_metadata,
            self.page_size
        )?;
        for change in &self.changes {
            writeln!(f, "  {change}")?;
        }
        Ok(())
    }
}
