//! A [`MemoryBudget`] that draws on a DataFusion [`MemoryPool`].
//!
//! Why: a query and the writer at its end run in one process, so they should
//! share one limit. Every byte the writer's budget grants (a page kept on the
//! heap, an encoder reservation, page metadata) is first granted by the
//! session's pool through a [`MemoryReservation`] with `try_grow`; when the
//! pool is short, a page spills and a reservation fails with the pool's
//! verdict, exactly as if the writer's own limit were reached. The consumer is
//! registered as spillable: a refusal costs the writer disk I/O, not the query.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use parquet_spill::{ExternalPool, MemoryBudget};

/// The writer's side of a DataFusion pool: one spillable [`MemoryReservation`],
/// and the pool, to tell what it has free.
#[derive(Debug)]
struct PoolLink(MemoryReservation, Arc<dyn MemoryPool>);

impl ExternalPool for PoolLink {
    fn try_grow(&self, bytes: usize) -> bool {
        self.0.try_grow(bytes).is_ok()
    }

    fn shrink(&self, bytes: usize) {
        // The budget never gives back more than it took; the clamp keeps a
        // caller's stray `release` from panicking inside DataFusion.
        self.0.shrink(bytes.min(self.0.size()));
    }

    fn available(&self) -> Option<usize> {
        match self.1.memory_limit() {
            MemoryLimit::Finite(limit) => Some(limit.saturating_sub(self.1.reserved())),
            MemoryLimit::Infinite | MemoryLimit::Unknown => None,
        }
    }
}

/// A budget of at most `limit` bytes, every byte of it taken from `pool` by
/// a spillable consumer named `name` (as DataFusion's memory reports show it).
///
/// ```
/// use std::sync::Arc;
/// use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool};
/// let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1000));
/// let budget = parquet_spill_datafusion::budget_on_pool(&pool, "writer", 800);
/// assert!(budget.try_reserve(600));
/// assert_eq!(pool.reserved(), 600);
/// assert!(!budget.try_reserve(300), "the writer's own limit");
/// budget.release(600);
/// assert_eq!(pool.reserved(), 0);
/// ```
pub fn budget_on_pool(pool: &Arc<dyn MemoryPool>, name: &str, limit: usize) -> MemoryBudget {
    let reservation = MemoryConsumer::new(name)
        .with_can_spill(true)
        .register(pool);
    MemoryBudget::drawing_on(limit, Arc::new(PoolLink(reservation, Arc::clone(pool))))
}

/// Any [`MemoryPool`], remembering the most it ever had reserved: how the
/// example and the tests report a `COPY`'s peak against its pool.
///
/// ```
/// use std::sync::Arc;
/// use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryConsumer, MemoryPool};
/// use parquet_spill_datafusion::PeakMemoryPool;
/// let peak = Arc::new(PeakMemoryPool::new(GreedyMemoryPool::new(1000)));
/// let pool: Arc<dyn MemoryPool> = peak.clone();
/// let r = MemoryConsumer::new("x").register(&pool);
/// r.try_grow(700)?;
/// r.shrink(500);
/// assert_eq!((pool.reserved(), peak.peak()), (200, 700));
/// # Ok::<(), datafusion::error::DataFusionError>(())
/// ```
#[derive(Debug)]
pub struct PeakMemoryPool<P> {
    inner: P,
    peak: AtomicUsize,
}

impl<P: MemoryPool> PeakMemoryPool<P> {
    /// Wrap `inner`.
    ///
    /// ```
    /// # use datafusion::execution::memory_pool::GreedyMemoryPool;
    /// let pool = parquet_spill_datafusion::PeakMemoryPool::new(GreedyMemoryPool::new(1 << 20));
    /// assert_eq!(pool.peak(), 0);
    /// ```
    pub fn new(inner: P) -> Self {
        Self {
            inner,
            peak: AtomicUsize::new(0),
        }
    }

    /// The most reserved at any time so far.
    ///
    /// ```
    /// # use datafusion::execution::memory_pool::UnboundedMemoryPool;
    /// let pool = parquet_spill_datafusion::PeakMemoryPool::new(UnboundedMemoryPool::default());
    /// assert_eq!(pool.peak(), 0);
    /// ```
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn saw(&self) {
        self.peak
            .fetch_max(self.inner.reserved(), Ordering::Relaxed);
    }
}

impl<P: MemoryPool> fmt::Display for PeakMemoryPool<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (peak {} bytes)", self.inner, self.peak())
    }
}

impl<P: MemoryPool> MemoryPool for PeakMemoryPool<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.inner.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.inner.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.inner.grow(reservation, additional);
        self.saw();
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.inner.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        self.inner.try_grow(reservation, additional)?;
        self.saw();
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.inner.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.inner.memory_limit()
    }
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    use super::*;

    #[test]
    fn the_pool_refuses_what_others_hold() {
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1000));
        let operator = MemoryConsumer::new("operator").register(&pool);
        operator.try_grow(700).unwrap();
        let budget = budget_on_pool(&pool, "writer", 1000);
        assert!(!budget.try_reserve(400), "300 left in the pool");
        let err = budget.reserve(400).unwrap_err();
        assert!(
            matches!(err, parquet_spill::Error::BudgetExhausted { .. }),
            "{err}"
        );
        assert!(budget.try_reserve(300));
        assert_eq!(pool.reserved(), 1000);
        budget.release(300);
        drop(operator);
        assert_eq!(pool.reserved(), 0);
    }
}
