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
//!
//! Why spilled pages keep no entry here: a store keeps its entries until its
//! row group is flushed, so an entry per spilled page would cost a wide
//! writer megabytes of budget for nothing. A key the inner store mints
//! without bit 63 (every key of this crate's backends) is handed out with
//! that bit set and passed back on `take`; only heap pages, pages moved
//! from the heap and other stores' keys have an entry.
//!
//! Why heap pages yield: they are a cache, while encoder buffers and the page
//! metadata parquet keeps until the file closes are needs. The factory
//! registers with the budget as a reclaimer: a [`Reservation`] that does not
//! fit makes the stores spill heap pages (any column's, oldest first within a
//! column) to the inner store until it does. Each store's state sits behind
//! a mutex that only its own column's calls and a reclaim ever take, and a
//! reclaim never waits for a store that is busy (`try_lock`).
//!
//! [`Reservation`]: crate::Reservation

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};

use crate::blobs::{Admission, Blobs, Keep, Large, Taken, PASSED};
use crate::budget::{BudgetStats, MemoryBudget, Reclaim, Reclaimed};
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
    /// Small blobs' arena is charged by a planned writer's meter.
    arena_metered: bool,
    counters: Arc<TierCounters>,
    stores: Arc<Registry>,
    inner: Arc<F>,
}

/// What the tiered stores of one factory did.
#[derive(Debug, Default)]
pub(crate) struct TierCounters {
    pub heap: Arc<HeapGauge>,
    pub blobs_passed: AtomicU64,
    pub bytes_passed: AtomicU64,
    pub bytes_reclaimed: AtomicU64,
    pub reclaim_failures: AtomicU64,
}

/// The live stores of one factory, for reclaiming their heap pages.
#[derive(Default)]
struct Registry {
    stores: Mutex<Vec<Weak<Mutex<Core>>>>,
    counters: Arc<TierCounters>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Reclaim for Registry {
    fn reclaim(&self, bytes: usize) -> Reclaimed {
        let stores: Vec<_> = lock(&self.stores)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        let (mut freed, mut busy) = (0, false);
        for store in stores {
            if freed >= bytes {
                break;
            }
            // A store busy on another thread is skipped, never waited for
            // here (the caller asks again).
            let Ok(mut core) = store.try_lock() else {
                busy = true;
                continue;
            };
            let core = &mut *core;
            let (blobs, inner) = (&mut core.blobs, &mut core.inner);
            let mut failed = false;
            freed += blobs.evict_heap(bytes - freed, |blob| {
                inner.put(blob).inspect_err(|_| failed = true)
            });
            if failed {
                self.counters
                    .reclaim_failures
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        let c = &self.counters;
        c.bytes_reclaimed.fetch_add(freed as u64, Ordering::Relaxed);
        c.bytes_passed.fetch_add(freed as u64, Ordering::Relaxed);
        // Waiting for a busy store only helps while heap pages are left.
        let busy = busy && c.heap.bytes() > 0;
        Reclaimed { freed, busy }
    }
}

impl TierCounters {
    pub(crate) fn stats(&self, budget: &MemoryBudget) -> TieredStats {
        TieredStats {
            budget: budget.stats(),
            heap_bytes: self.heap.bytes(),
            peak_heap_bytes: self.heap.peak(),
            blobs_passed: self.blobs_passed.load(Ordering::Relaxed),
            bytes_passed: self.bytes_passed.load(Ordering::Relaxed),
            bytes_reclaimed: self.bytes_reclaimed.load(Ordering::Relaxed),
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
    /// Bytes handed to the inner factory's stores (spilled), reclaimed
    /// heap pages included.
    pub bytes_passed: u64,
    /// Bytes of heap pages spilled later to make room for a reservation.
    pub bytes_reclaimed: u64,
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
        let counters = Arc::<TierCounters>::default();
        let stores = Arc::new(Registry {
            stores: Mutex::default(),
            counters: Arc::clone(&counters),
        });
        let reclaim: Arc<dyn Reclaim> = stores.clone();
        budget.add_reclaimer(Arc::downgrade(&reclaim));
        Self {
            admission: Admission::new(budget),
            arena_metered: false,
            counters,
            stores,
            inner,
        }
    }

    /// Keep pages out of `headroom(budget)` bytes of the budget, for
    /// reservations promised but not made yet.
    pub(crate) fn with_headroom(mut self, headroom: crate::budget::Headroom) -> Self {
        self.admission.headroom = headroom;
        self
    }

    /// Keep every small blob (page headers, tiny pages) in the stores'
    /// arenas without charging the budget for them: a planned writer's
    /// meter charges them as they are put ([`crate::metadata`]), so they
    /// never go to the inner store, whose own arena no budget would see.
    pub(crate) fn with_metered_arena(mut self) -> Self {
        self.arena_metered = true;
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
            arena_metered: self.arena_metered,
            counters: Arc::clone(&self.counters),
            stores: Arc::clone(&self.stores),
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
        Ok(Box::new(self.wrap(self.inner.create(args)?)))
    }
}

impl<F: PageStoreFactory + ?Sized> TieredStoreFactory<F> {
    /// A tiered store over `inner`, registered for reclaiming.
    fn wrap(&self, inner: Box<dyn PageStore>) -> TieredStore {
        let keep = Keep {
            inline_threshold: DEFAULT_INLINE_THRESHOLD,
            large: Large::Budget(self.admission.clone()),
            arena_metered: self.arena_metered,
        };
        let core = Arc::new(Mutex::new(Core {
            blobs: Blobs::new(keep, Arc::clone(&self.counters.heap)),
            inner,
        }));
        let mut stores = lock(&self.stores.stores);
        if stores.len() % 1024 == 1023 {
            stores.retain(|s| s.strong_count() > 0);
        }
        stores.push(Arc::downgrade(&core));
        drop(stores);
        TieredStore {
            core,
            counters: Arc::clone(&self.counters),
        }
    }
}

/// One column's blobs: heap ones here, the rest in `inner`.
struct Core {
    blobs: Blobs<PageKey>,
    inner: Box<dyn PageStore>,
}

/// One column's tiered store.
struct TieredStore {
    core: Arc<Mutex<Core>>,
    counters: Arc<TierCounters>,
}

impl PageStore for TieredStore {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        let mut core = lock(&self.core);
        if let Some(key) = core.blobs.try_keep(&value)? {
            return Ok(key);
        }
        let len = value.len() as u64;
        let inner = core.inner.put(value)?;
        self.counters.blobs_passed.fetch_add(1, Ordering::Relaxed);
        self.counters.bytes_passed.fetch_add(len, Ordering::Relaxed);
        if inner.get() & PASSED == 0 {
            // Passed through with bit 63 set: no entry here (this crate's
            // backends never set it; another store's keys get an entry).
            return Ok(PageKey::new(inner.get() | PASSED));
        }
        Ok(core.blobs.push_stored(inner))
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        let mut core = lock(&self.core);
        if key.get() & PASSED != 0 {
            // The inner store refuses a key taken twice.
            return core.inner.take(PageKey::new(key.get() & !PASSED));
        }
        match core.blobs.take(key)? {
            Taken::Bytes(bytes) => Ok(bytes),
            Taken::Stored(inner) => core.inner.take(inner),
        }
    }

    fn memory_size(&self) -> usize {
        let core = lock(&self.core);
        core.blobs.memory_size() + core.inner.memory_size()
    }
}

impl Drop for TieredStore {
    fn drop(&mut self) {
        // The inner store frees its own blobs when it drops.
        drop(lock(&self.core).blobs.drain_stored());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileStoreFactory;

    fn store_over(inner: Box<dyn PageStore>) -> TieredStore {
        let factory = Arc::new(FileStoreFactory::new().unwrap());
        TieredStoreFactory::over(MemoryBudget::new(0), factory).wrap(inner)
    }

    #[test]
    fn spilled_pages_keep_no_entry_here() {
        let mut store = store_over(Box::new(FileStoreFactory::new().unwrap().create_store()));
        let keys: Vec<_> = (0..1000u32)
            .map(|i| store.put(Bytes::from(vec![i as u8; 1000])).unwrap())
            .collect();
        assert!(keys.iter().all(|k| k.get() & PASSED != 0));
        // The file store's entries only: 1,000 of 24 bytes, a quarter more.
        assert!(
            store.memory_size() <= 1000 * crate::file::SLOT + 64,
            "{}",
            store.memory_size()
        );
        assert_eq!(store.take(keys[7]).unwrap(), Bytes::from(vec![7u8; 1000]));
        assert!(
            store.take(keys[7]).is_err(),
            "the inner store refuses it twice"
        );
    }

    /// Mints keys with bit 63 set, as a store of someone else's may.
    struct HighKeys(Vec<Bytes>);

    impl PageStore for HighKeys {
        fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
            self.0.push(value);
            Ok(PageKey::new(u64::MAX - self.0.len() as u64 + 1))
        }
        fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
            Ok(std::mem::take(&mut self.0[(u64::MAX - key.get()) as usize]))
        }
    }

    #[test]
    fn an_inner_key_with_bit_63_gets_an_entry() {
        let mut store = store_over(Box::new(HighKeys(Vec::new())));
        let a = store.put(Bytes::from(vec![1u8; 1000])).unwrap();
        let b = store.put(Bytes::from(vec![2u8; 1000])).unwrap();
        assert_eq!((a.get(), b.get()), (0, 1), "entries of the tiered store");
        assert_eq!(store.take(b).unwrap(), Bytes::from(vec![2u8; 1000]));
        assert_eq!(store.take(a).unwrap(), Bytes::from(vec![1u8; 1000]));
        assert!(store.take(a).is_err());
    }
}
