//! [`TieredStoreFactory`]: pages on the heap while a [`MemoryBudget`] allows,
//! in the spill file beyond it.
//!
//! Why: spilling every page costs a write and a read per page even when the
//! row group would have fit in memory. A tiered store pays that only for the
//! bytes past the budget: a row group that fits causes no spill I/O at all,
//! and a huge one spills exactly its excess. Because the budget is shared,
//! many writers (or the columns of one writer on many threads) compete for
//! one allowance instead of each assuming the whole machine.

use parquet::arrow::arrow_writer::{PageStore, PageStoreArgs, PageStoreFactory};

use std::sync::Arc;

use crate::budget::{BudgetStats, MemoryBudget, Reservation};
use crate::file::FileStoreFactory;
use crate::metrics::SpillStats;

/// Creates stores that keep pages on the heap within `budget` and spill the rest.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array, RecordBatch};
/// use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
/// use parquet_spill::{FileStoreFactory, MemoryBudget, TieredStoreFactory};
///
/// let budget = MemoryBudget::new(64 << 20);
/// let tiered = Arc::new(TieredStoreFactory::new(budget.clone(), FileStoreFactory::new()?));
/// let options = ArrowWriterOptions::new().with_page_store_factory(tiered.clone());
///
/// let col = Arc::new(Int64Array::from_iter_values(0..200_000)) as ArrayRef;
/// let batch = RecordBatch::try_from_iter([("id", col)])?;
/// let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options)?;
/// writer.write(&batch)?;
/// writer.close()?;
///
/// let stats = tiered.stats();
/// assert_eq!(stats.spill.bytes_spilled, 0, "the row group fit the budget");
/// assert!(stats.budget.peak > 0);
/// assert_eq!(stats.budget.used, 0, "everything was handed back");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct TieredStoreFactory {
    budget: MemoryBudget,
    inner: FileStoreFactory,
    /// A reservation (the planned encoders' share) released when the last
    /// writer using this factory is gone.
    holds: Option<Arc<Reservation>>,
}

/// Counters of a [`TieredStoreFactory`]: its budget and its spill file.
///
/// ```
/// use parquet_spill::{FileStoreFactory, MemoryBudget, TieredStoreFactory};
/// let t = TieredStoreFactory::new(MemoryBudget::new(1 << 20), FileStoreFactory::new()?);
/// assert_eq!(t.stats().budget.limit, 1 << 20);
/// # Ok::<(), parquet_spill::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TieredStats {
    /// The shared budget (which other writers may also be using).
    pub budget: BudgetStats,
    /// This factory's spill file; `heap_bytes` are its pages on the heap.
    pub spill: SpillStats,
}

impl TieredStoreFactory {
    /// Keep pages on the heap within `budget`, spilling the rest to `spill`'s file.
    pub fn new(budget: MemoryBudget, spill: FileStoreFactory) -> Self {
        Self {
            inner: spill.with_budget(budget.clone()),
            budget,
            holds: None,
        }
    }

    /// Keep `reservation` alive as long as this factory, and keep pages out
    /// of the `encoder_pool` bytes promised to all writers sharing the budget.
    pub(crate) fn holding(mut self, reservation: Arc<Reservation>, encoder_pool: usize) -> Self {
        self.holds = Some(reservation);
        self.inner = self.inner.with_encoder_pool(encoder_pool);
        self
    }

    /// The budget pages are charged to.
    pub fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// The underlying file store factory (with the budget applied).
    pub fn file_store(&self) -> &FileStoreFactory {
        &self.inner
    }

    /// Counters for the budget and the spill file.
    pub fn stats(&self) -> TieredStats {
        TieredStats {
            budget: self.budget().stats(),
            spill: self.inner.stats(),
        }
    }
}

impl PageStoreFactory for TieredStoreFactory {
    fn create(&self, args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        self.inner.create(args)
    }
}
