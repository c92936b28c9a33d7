//! Decorator: [`TieredStoreFactory`] keeps pages on the heap while a
//! [`MemoryBudget`] allows and hands the rest to *any* inner backend.
//!
//! Why: spilling every page costs a write and a read per page even when the
//! row group would have fit in memory. A tiered store pays that only for the
//! bytes past the budget: a row group that fits causes no spill I/O at all,
//! and a huge one spills exactly its excess. Because the budget is shared,
//! many writers (or the columns of one writer on many threads) compete for
//! one allowance instead of each assuming the whole machine.
//!
//! Why a decorator: where the excess goes is a separate choice — the spill
//! file, an object store, your own store. Like `object_store`'s
//! `LimitStore<T>`, this wraps any [`PageStoreFactory`]; the inner store
//! never sees the blobs kept here (page headers included), and each store's
//! [`PageStore::memory_size`] is its own heap plus the inner store's.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};

use crate::blobs::{Admission, Blobs, Keep, Large, Taken};
use crate::budget::{BudgetStats, MemoryBudget};
use crate::file::DEFAULT_INLINE_THRESHOLD;
use crate::metrics::HeapGauge;

/// Creates stores that keep pages on the heap within a budget and pass the
/// rest to an inner factory `F` (any backend; `dyn PageStoreFactory` by default).
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
/// assert_eq!(stats.bytes_passed, 0, "the row group fit the budget");
/// assert_eq!(tiered.inner().stats().bytes_spilled, 0);
/// assert!(stats.budget.peak > 0);
/// assert_eq!(stats.budget.used, 0, "everything was handed back");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TieredStoreFactory<F: ?Sized = dyn PageStoreFactory> {
    admission: Admission,
    counters: Arc<TierCounters>,
    inner: Arc<F>,
}

/// What the tiered stores of one factory did.
#[derive(Debug, Default)]
pub(crate) struct TierCounters {
    pub heap: Arc<HeapGauge>,
    pub blobs_passed: AtomicU64,
    pub bytes_passed: AtomicU64,
}

impl TierCounters {
    pub(crate) fn stats(&self, budget: &MemoryBudget) -> TieredStats {
        TieredStats {
            budget: budget.stats(),
            heap_bytes: self.heap.bytes(),
            peak_heap_bytes: self.heap.peak(),
            blobs_passed: self.blobs_passed.load(Ordering::Relaxed),
            bytes_passed: self.bytes_passed.load(Ordering::Relaxed),
        }
    }
}

/// Counters of a [`TieredStoreFactory`].
///
/// ```
/// use parquet_spill::{MemoryBudget, MemoryStoreFactory, TieredStoreFactory};
/// let t = TieredStoreFactory::new(MemoryBudget::new(1 << 20), MemoryStoreFactory::new());
/// let stats = t.stats();
/// assert_eq!((stats.budget.limit, stats.heap_bytes, stats.bytes_passed), (1 << 20, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TieredStats {
    /// The shared budget (which other writers may also be using).
    pub budget: BudgetStats,
    /// Bytes of blobs kept on the heap by this factory's stores right now.
    pub heap_bytes: u64,
    /// Highest `heap_bytes` seen.
    pub peak_heap_bytes: u64,
    /// Blobs handed to the inner factory's stores (spilled).
    pub blobs_passed: u64,
    /// Bytes handed to the inner factory's stores (spilled).
    pub bytes_passed: u64,
}

impl<F: PageStoreFactory> TieredStoreFactory<F> {
    /// Keep pages on the heap within `budget`, passing the rest to `inner`.
    ///
    /// ```
    /// use parquet_spill::{FileStoreFactory, MemoryBudget, TieredStoreFactory};
    /// let tiered = TieredStoreFactory::new(MemoryBudget::new(8 << 20), FileStoreFactory::new()?);
    /// assert_eq!(tiered.budget().limit(), 8 << 20);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn new(budget: MemoryBudget, inner: F) -> Self {
        Self::over(budget, Arc::new(inner))
    }
}

impl<F: PageStoreFactory + ?Sized> TieredStoreFactory<F> {
    /// Like [`new`](TieredStoreFactory::new), over a shared (possibly `dyn`) factory.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parquet_spill::{FileStoreFactory, MemoryBudget, PageStoreFactory, TieredStoreFactory};
    /// let backend: Arc<dyn PageStoreFactory> = Arc::new(FileStoreFactory::new()?);
    /// let tiered: TieredStoreFactory = TieredStoreFactory::over(MemoryBudget::new(1 << 20), backend);
    /// # drop(tiered);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn over(budget: MemoryBudget, inner: Arc<F>) -> Self {
        Self {
            admission: Admission::new(budget),
            counters: Arc::default(),
            inner,
        }
    }

    /// Keep pages out of `headroom(budget)` bytes of the budget, for
    /// reservations promised but not made yet.
    pub(crate) fn with_headroom(
        mut self,
        headroom: impl Fn(&MemoryBudget) -> usize + Send + Sync + 'static,
    ) -> Self {
        self.admission.headroom = Arc::new(headroom);
        self
    }

    pub(crate) fn counters(&self) -> &Arc<TierCounters> {
        &self.counters
    }

    /// The budget pages are charged to.
    ///
    /// ```
    /// use parquet_spill::{MemoryBudget, MemoryStoreFactory, TieredStoreFactory};
    /// let budget = MemoryBudget::new(100);
    /// let tiered = TieredStoreFactory::new(budget.clone(), MemoryStoreFactory::new());
    /// assert!(tiered.budget().same_as(&budget));
    /// ```
    pub fn budget(&self) -> &MemoryBudget {
        &self.admission.budget
    }

    /// The factory pages past the budget go to.
    ///
    /// ```
    /// use parquet_spill::{FileStoreFactory, MemoryBudget, TieredStoreFactory};
    /// let tiered = TieredStoreFactory::new(MemoryBudget::new(100), FileStoreFactory::new()?);
    /// assert_eq!(tiered.inner().stats().bytes_spilled, 0);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn inner(&self) -> &Arc<F> {
        &self.inner
    }

    /// Counters for the budget and what was kept or passed on.
    ///
    /// ```
    /// use parquet_spill::{MemoryBudget, MemoryStoreFactory, TieredStoreFactory};
    /// let tiered = TieredStoreFactory::new(MemoryBudget::new(100), MemoryStoreFactory::new());
    /// assert_eq!(tiered.stats().blobs_passed, 0);
    /// ```
    pub fn stats(&self) -> TieredStats {
        self.counters.stats(self.budget())
    }
}

impl<F: ?Sized> Clone for TieredStoreFactory<F> {
    fn clone(&self) -> Self {
        Self {
            admission: self.admission.clone(),
            counters: Arc::clone(&self.counters),
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<F: fmt::Debug + ?Sized> fmt::Debug for TieredStoreFactory<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredStoreFactory")
            .field("budget", &self.admission.budget)
            .field("inner", &self.inner)
            .finish()
    }
}

impl<F: PageStoreFactory + ?Sized> PageStoreFactory for TieredStoreFactory<F> {
    fn create(&self, args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        let keep = Keep {
            inline_threshold: DEFAULT_INLINE_THRESHOLD,
            large: Large::Budget(self.admission.clone()),
        };
        Ok(Box::new(TieredStore {
            blobs: Blobs::new(keep, Arc::clone(&self.counters.heap)),
            inner: self.inner.create(args)?,
            counters: Arc::clone(&self.counters),
        }))
    }
}

/// One column's tiered store: heap blobs here, the rest in `inner`.
struct TieredStore {
    blobs: Blobs<PageKey>,
    inner: Box<dyn PageStore>,
    counters: Arc<TierCounters>,
}

impl PageStore for TieredStore {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        if let Some(key) = self.blobs.try_keep(&value)? {
            return Ok(key);
        }
        let len = value.len() as u64;
        let inner = self.inner.put(value)?;
        self.counters.blobs_passed.fetch_add(1, Ordering::Relaxed);
        self.counters.bytes_passed.fetch_add(len, Ordering::Relaxed);
        Ok(self.blobs.push_stored(inner))
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        match self.blobs.take(key)? {
            Taken::Bytes(bytes) => Ok(bytes),
            Taken::Stored(inner) => self.inner.take(inner),
        }
    }

    fn memory_size(&self) -> usize {
        self.blobs.memory_size() + self.inner.memory_size()
    }
}

impl Drop for TieredStore {
    fn drop(&mut self) {
        // The inner store frees its own blobs when it drops.
        drop(self.blobs.drain_stored());
    }
}
