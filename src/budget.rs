//! [`MemoryBudget`]: one heap allowance shared by stores, writers and threads.
//!
//! Why: "this writer — or these eight writers together — may use 256 MiB" is
//! a statement about a *shared* number. Every store that wants to keep a page
//! on the heap asks the budget first; when the answer is no, the page spills.
//! Asking is one compare-and-swap on an atomic (no lock), because it happens
//! for every page of every column.
//!
//! Long-lived needs (the encoders' own buffers, planned by
//! [`SpillOptions`](crate::SpillOptions), and the page metadata parquet keeps
//! until the file closes) take a [`Reservation`], which holds its share until
//! dropped and can grow.
//!
//! Pages kept on the heap are a cache, not a need: a
//! [`TieredStoreFactory`](crate::TieredStoreFactory) registers itself as a
//! reclaimer, and a reservation that does not fit asks reclaimers to spill
//! heap pages first. So heap pages yield to metadata as the file grows.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::error::{Error, Result};

/// Room to keep free in a budget, given the budget: what heap pages and the
/// page metadata charged after them leave for writers declared but not
/// planned yet.
pub(crate) type Headroom = std::sync::Arc<dyn Fn(&MemoryBudget) -> usize + Send + Sync>;

/// Reclaim-then-reserve attempts per reclaimer before a reservation fails.
const RECLAIM_ROUNDS: usize = 64;
/// How long a reservation waits for heap pages held by stores busy on other
/// threads before it fails: never waiting forever keeps a store that
/// reserves while it holds its own lock from deadlocking.
const BUSY_WAIT: std::time::Duration = std::time::Duration::from_millis(200);
/// A shared heap allowance in bytes. Cheap to clone: clones share the count.
///
/// ```
/// use parquet_spill::MemoryBudget;
/// let budget = MemoryBudget::new(1000);
/// let shared = budget.clone();
/// assert!(budget.try_reserve(600));
/// assert!(!shared.try_reserve(600), "only 400 bytes left");
/// budget.release(600);
/// assert_eq!((shared.used(), shared.peak()), (0, 600));
/// ```
#[derive(Clone)]
pub struct MemoryBudget {
    inner: Arc<Inner>,
}

struct Inner {
    limit: usize,
    used: AtomicUsize,
    /// Part of `used` held by [`Reservation`]s (planned encoders).
    reserved: AtomicUsize,
    peak: AtomicUsize,
    denied: AtomicU64,
    /// Holders of heap that can give it back (tiered stores' heap pages).
    reclaimers: Mutex<Vec<Weak<dyn Reclaim>>>,
    /// Planned writers alive, and the largest encoder reservation any plan
    /// made: the room kept for writers declared but not planned yet.
    plans: AtomicUsize,
    largest_plan: AtomicUsize,
    /// Where every granted byte is taken from as well, if anywhere.
    pool: Option<Arc<dyn ExternalPool>>,
}

/// A memory pool outside this crate that a [`MemoryBudget`] draws on
/// ([`MemoryBudget::drawing_on`]): the budget grants a byte only if its own
/// limit and the pool both allow it, and gives every byte back to both.
///
/// Called once per page kept on the heap and per reservation, from any
/// thread: keep it cheap (an atomic, or a short lock).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use parquet_spill::{ExternalPool, MemoryBudget};
///
/// /// A pool of 100 bytes that other parts of the program use too.
/// #[derive(Debug, Default)]
/// struct Pool(AtomicUsize);
/// impl ExternalPool for Pool {
///     fn try_grow(&self, bytes: usize) -> bool {
///         self.0
///             .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| {
///                 used.checked_add(bytes).filter(|n| *n <= 100)
///             })
///             .is_ok()
///     }
///     fn shrink(&self, bytes: usize) {
///         self.0.fetch_sub(bytes, Ordering::AcqRel);
///     }
/// }
///
/// let pool = Arc::new(Pool::default());
/// let budget = MemoryBudget::drawing_on(1000, pool.clone());
/// pool.try_grow(70); // someone else's operator
/// assert!(!budget.try_reserve(40), "the pool has 30 bytes left");
/// assert!(budget.try_reserve(30));
/// budget.release(30);
/// assert_eq!(pool.0.load(Ordering::Relaxed), 70);
/// assert_eq!(budget.available(), 1000, "this pool does not say what it has free");
/// ```
pub trait ExternalPool: Send + Sync + fmt::Debug {
    /// Take `bytes` from the pool; `false` (and nothing taken) if it has no
    /// room.
    fn try_grow(&self, bytes: usize) -> bool;
    /// Give back `bytes` taken with [`try_grow`](Self::try_grow).
    fn shrink(&self, bytes: usize);
    /// Bytes the pool could still grant, if it knows (`None` by default):
    /// a budget drawing on it then reports the smaller of this and its own
    /// room as [`MemoryBudget::available`], and asks heap pages to spill
    /// as much as the pool is short.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parquet_spill::{ExternalPool, MemoryBudget};
    /// #[derive(Debug)]
    /// struct Quarter; // a pool that always has 250 bytes free
    /// impl ExternalPool for Quarter {
    ///     fn try_grow(&self, bytes: usize) -> bool { bytes <= 250 }
    ///     fn shrink(&self, _: usize) {}
    ///     fn available(&self) -> Option<usize> { Some(250) }
    /// }
    /// assert_eq!(MemoryBudget::drawing_on(1000, Arc::new(Quarter)).available(), 250);
    /// ```
    fn available(&self) -> Option<usize> {
        None
    }
}

/// Something holding budget it can give back on request: a tiered store
/// spills heap pages.
pub(crate) trait Reclaim: Send + Sync {
    /// Give back about `bytes` (more or less).
    fn reclaim(&self, bytes: usize) -> Reclaimed;
}

/// What one [`Reclaim::reclaim`] gave back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reclaimed {
    /// Bytes given back.
    pub freed: usize,
    /// Some holder was busy on another thread and was skipped: asking again
    /// may free more.
    pub busy: bool,
}

/// A point-in-time copy of a budget's counters.
///
/// ```
/// let stats = parquet_spill::MemoryBudget::new(64 << 20).stats();
/// assert_eq!((stats.limit, stats.used, stats.peak, stats.denied), (64 << 20, 0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetStats {
    /// The limit in bytes.
    pub limit: usize,
    /// Bytes reserved right now.
    pub used: usize,
    /// Highest `used` seen.
    pub peak: usize,
    /// Requests refused because the budget was full (each one a spilled page).
    pub denied: u64,
}

impl MemoryBudget {
    /// A budget of `limit` bytes.
    ///
    /// ```
    /// assert_eq!(parquet_spill::MemoryBudget::new(1 << 20).limit(), 1 << 20);
    /// ```
    pub fn new(limit: usize) -> Self {
        Self::with_pool(limit, None)
    }

    /// A budget of `limit` bytes whose every byte is also taken from
    /// `pool`: the writer never holds more than the pool grants, and gives
    /// it back as pages leave the heap. See [`ExternalPool`].
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use parquet_spill::{ExternalPool, MemoryBudget};
    /// #[derive(Debug)]
    /// struct Full;
    /// impl ExternalPool for Full {
    ///     fn try_grow(&self, _: usize) -> bool { false }
    ///     fn shrink(&self, _: usize) {}
    /// }
    /// let budget = MemoryBudget::drawing_on(1 << 20, Arc::new(Full));
    /// assert!(!budget.try_reserve(1), "the pool refuses, so the page spills");
    /// assert!(budget.reserve(1).is_err());
    /// ```
    pub fn drawing_on(limit: usize, pool: Arc<dyn ExternalPool>) -> Self {
        Self::with_pool(limit, Some(pool))
    }

    fn with_pool(limit: usize, pool: Option<Arc<dyn ExternalPool>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                limit,
                used: AtomicUsize::new(0),
                reserved: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                denied: AtomicU64::new(0),
                reclaimers: Mutex::new(Vec::new()),
                plans: AtomicUsize::new(0),
                largest_plan: AtomicUsize::new(0),
                pool,
            }),
        }
    }

    /// A budget that never refuses (pages always stay on the heap).
    ///
    /// ```
    /// assert!(parquet_spill::MemoryBudget::unlimited().try_reserve(usize::MAX / 2));
    /// ```
    pub fn unlimited() -> Self {
        Self::new(usize::MAX)
    }

    /// Take `bytes` if they fit; `false` (and nothing taken) if not. Lock-free.
    ///
    /// ```
    /// let budget = parquet_spill::MemoryBudget::new(10);
    /// assert!(budget.try_reserve(10));
    /// assert!(!budget.try_reserve(1));
    /// assert_eq!(budget.stats().denied, 1);
    /// ```
    pub fn try_reserve(&self, bytes: usize) -> bool {
        self.try_reserve_leaving(bytes, 0)
    }

    /// Take `bytes` only if `headroom` bytes are still free afterwards: how
    /// pages leave room for writers that are declared but not yet planned.
    ///
    /// ```
    /// let budget = parquet_spill::MemoryBudget::new(100);
    /// assert!(!budget.try_reserve_leaving(80, 30));
    /// assert!(budget.try_reserve_leaving(70, 30));
    /// ```
    pub fn try_reserve_leaving(&self, bytes: usize, headroom: usize) -> bool {
        let inner = &*self.inner;
        let ceiling = inner.limit.saturating_sub(headroom);
        let mut used = inner.used.load(Ordering::Relaxed);
        loop {
            let Some(next) = used.checked_add(bytes).filter(|n| *n <= ceiling) else {
                inner.denied.fetch_add(1, Ordering::Relaxed);
                return false;
            };
            match inner
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    // Nothing to take is never refused, even by a pool
                    // already over its limit (DataFusion's `grow` cannot fail).
                    if let Some(pool) = inner.pool.as_ref().filter(|_| bytes > 0) {
                        if !pool.try_grow(bytes) {
                            inner.used.fetch_sub(bytes, Ordering::AcqRel);
                            inner.denied.fetch_add(1, Ordering::Relaxed);
                            return false;
                        }
                    }
                    inner.peak.fetch_max(next, Ordering::Relaxed);
                    return true;
                }
                Err(now) => used = now,
            }
        }
    }

    /// Give back `bytes` taken with [`try_reserve`](Self::try_reserve).
    ///
    /// ```
    /// let budget = parquet_spill::MemoryBudget::new(10);
    /// assert!(budget.try_reserve(7));
    /// budget.release(7);
    /// assert_eq!(budget.used(), 0);
    /// budget.release(5); // more than was taken: saturates at 0
    /// assert_eq!(budget.used(), 0);
    /// ```
    pub fn release(&self, bytes: usize) {
        // Saturating: releasing more than was taken (a caller bug) must not
        // wrap `used` and make every later request fail.
        let before = self
            .inner
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(bytes))
            })
            .unwrap_or_else(|used| used);
        if let Some(pool) = &self.inner.pool {
            pool.shrink(bytes.min(before));
        }
    }

    /// Take `bytes` for as long as the returned [`Reservation`] lives, or fail
    /// with [`Error::BudgetExhausted`] saying how much is left.
    ///
    /// ```
    /// use parquet_spill::{Error, MemoryBudget};
    /// let budget = MemoryBudget::new(100);
    /// let held = budget.reserve(70)?;
    /// assert!(matches!(budget.reserve(40), Err(Error::BudgetExhausted { available: 30, .. })));
    /// drop(held);
    /// assert_eq!(budget.used(), 0);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn reserve(&self, bytes: usize) -> Result<Reservation> {
        let mut reservation = Reservation {
            budget: self.clone(),
            bytes: 0,
        };
        reservation.try_grow(bytes)?;
        Ok(reservation)
    }

    /// Register `reclaimer`, asked to give memory back when a reservation
    /// does not fit. Dead registrations are pruned as new ones arrive.
    pub(crate) fn add_reclaimer(&self, reclaimer: Weak<dyn Reclaim>) {
        let mut list = self
            .inner
            .reclaimers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        list.retain(|r| r.strong_count() > 0);
        list.push(reclaimer);
    }

    /// The reclaimers still alive.
    fn live_reclaimers(&self) -> Vec<std::sync::Arc<dyn Reclaim>> {
        self.inner
            .reclaimers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Ask reclaimers to give back what is missing for `free` bytes to be
    /// available, as far as each can at once (a busy one is skipped).
    pub(crate) fn reclaim_until_free(&self, free: usize) {
        if self.available() >= free {
            return;
        }
        let reclaimers = self.live_reclaimers();
        for reclaimer in reclaimers {
            match free.saturating_sub(self.available()) {
                0 => return,
                missing => drop(reclaimer.reclaim(missing)),
            }
        }
    }

    /// Take `bytes`, first asking reclaimers to give back what is missing,
    /// only if `leave` bytes are still free afterwards (heap pages spilled
    /// to make them free too); an external pool is asked for `bytes` alone.
    fn try_reserve_reclaiming_leaving(&self, bytes: usize, leave: usize) -> bool {
        if self.try_reserve_leaving(bytes, leave) {
            return true;
        }
        let wanted = bytes.saturating_add(leave);
        let reclaimers = self.live_reclaimers();
        // Another thread may take what a reclaim freed before this one
        // reserves it (parallel writers), so retry while reclaiming frees
        // something: each round moves pages off the heap for good. A store
        // busy on another thread (a writer sharing the budget, a parallel
        // writer's other column) is asked again, for a while, rather than
        // taken as empty.
        let waited = std::time::Instant::now();
        for reclaimer in reclaimers {
            let mut rounds = 0;
            while rounds < RECLAIM_ROUNDS {
                // Room in the budget yet refused: the external pool (or a
                // writer sharing the budget) is short, so reclaim it all.
                let missing = match wanted.saturating_sub(self.available()) {
                    0 => wanted,
                    missing => missing,
                };
                let reclaimed = reclaimer.reclaim(missing);
                if self.try_reserve_leaving(bytes, leave) {
                    return true;
                }
                if reclaimed.freed > 0 {
                    rounds += 1;
                } else if reclaimed.busy && waited.elapsed() < BUSY_WAIT {
                    std::thread::yield_now();
                } else {
                    break;
                }
            }
        }
        false
    }

    /// Reserve a planned writer's `bytes`, counting the writer among the
    /// budget's live plans until the reservation is dropped.
    pub(crate) fn reserve_plan(&self, bytes: usize) -> Result<PlanReservation> {
        let reservation = self.reserve(bytes)?;
        self.inner.plans.fetch_add(1, Ordering::AcqRel);
        self.inner.largest_plan.fetch_max(bytes, Ordering::AcqRel);
        Ok(PlanReservation(reservation))
    }

    /// Room to keep free for the writers of `writers` not planned yet, each
    /// taken to need the largest reservation planned so far (whatever else
    /// the budget holds: page metadata, buffers, other reservations).
    pub(crate) fn unplanned_room(&self, writers: usize) -> usize {
        let live = self.inner.plans.load(Ordering::Acquire);
        let largest = self.inner.largest_plan.load(Ordering::Acquire);
        writers.saturating_sub(live).saturating_mul(largest)
    }

    /// The limit in bytes.
    ///
    /// ```
    /// assert_eq!(parquet_spill::MemoryBudget::unlimited().limit(), usize::MAX);
    /// ```
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Bytes reserved right now.
    ///
    /// ```
    /// let budget = parquet_spill::MemoryBudget::new(10);
    /// budget.try_reserve(3);
    /// assert_eq!(budget.used(), 3);
    /// ```
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Bytes held by live [`Reservation`]s (part of [`used`](Self::used)).
    ///
    /// ```
    /// let budget = parquet_spill::MemoryBudget::new(10);
    /// let held = budget.reserve(4)?;
    /// budget.try_reserve(2);
    /// assert_eq!((budget.reserved(), budget.used()), (4, 6));
    /// # drop(held);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn reserved(&self) -> usize {
        self.inner.reserved.load(Ordering::Relaxed)
    }

    /// Bytes still available.
    ///
    /// ```
    /// let budget = parquet_spill::MemoryBudget::new(10);
    /// budget.try_reserve(3);
    /// assert_eq!(budget.available(), 7);
    /// ```
    pub fn available(&self) -> usize {
        let own = self.limit().saturating_sub(self.used());
        let pool = self.inner.pool.as_ref().and_then(|p| p.available());
        pool.map_or(own, |pool| own.min(pool))
    }

    /// Highest [`used`](Self::used) seen.
    ///
    /// ```
    /// let budget = parquet_spill::MemoryBudget::new(10);
    /// budget.try_reserve(8);
    /// budget.release(8);
    /// assert_eq!((budget.used(), budget.peak()), (0, 8));
    /// ```
    pub fn peak(&self) -> usize {
        self.inner.peak.load(Ordering::Relaxed)
    }

    /// Counters as a plain value.
    ///
    /// ```
    /// let budget = parquet_spill::MemoryBudget::new(10);
    /// budget.try_reserve(4);
    /// let stats = budget.stats();
    /// assert_eq!((stats.limit, stats.used, stats.peak), (10, 4, 4));
    /// ```
    pub fn stats(&self) -> BudgetStats {
        BudgetStats {
            limit: self.limit(),
            used: self.used(),
            peak: self.peak(),
            denied: self.inner.denied.load(Ordering::Relaxed),
        }
    }

    /// Whether two handles share one budget.
    ///
    /// ```
    /// use parquet_spill::MemoryBudget;
    /// let a = MemoryBudget::new(10);
    /// assert!(a.same_as(&a.clone()) && !a.same_as(&MemoryBudget::new(10)));
    /// ```
    pub fn same_as(&self, other: &MemoryBudget) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.stats();
        f.debug_struct("MemoryBudget")
            .field("limit", &s.limit)
            .field("used", &s.used)
            .field("peak", &s.peak)
            .finish()
    }
}

/// A share of a [`MemoryBudget`] held until dropped.
///
/// ```
/// let budget = parquet_spill::MemoryBudget::new(10);
/// let r = budget.reserve(4)?;
/// assert_eq!((r.bytes(), budget.available()), (4, 6));
/// # Ok::<(), parquet_spill::Error>(())
/// ```
#[derive(Debug)]
pub struct Reservation {
    budget: MemoryBudget,
    bytes: usize,
}

impl Reservation {
    /// Hold `bytes` more, asking the budget's reclaimers (tiered stores'
    /// heap pages) to give memory back if needed.
    ///
    /// # Errors
    ///
    /// [`Error::BudgetExhausted`] if it does not fit even then; the
    /// reservation keeps what it held.
    ///
    /// ```
    /// let budget = parquet_spill::MemoryBudget::new(100);
    /// let mut r = budget.reserve(10)?;
    /// r.try_grow(50)?;
    /// assert_eq!((r.bytes(), budget.used()), (60, 60));
    /// assert!(r.try_grow(41).is_err());
    /// assert_eq!(r.bytes(), 60);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn try_grow(&mut self, bytes: usize) -> Result<()> {
        self.try_grow_leaving(bytes, 0)
    }

    /// [`try_grow`](Self::try_grow) only if `leave` bytes are still free
    /// afterwards (heap pages spilled to make them free if need be).
    pub(crate) fn try_grow_leaving(&mut self, bytes: usize, leave: usize) -> Result<()> {
        if !self.budget.try_reserve_reclaiming_leaving(bytes, leave) {
            return Err(Error::BudgetExhausted {
                requested: bytes,
                available: self.budget.available(),
                limit: self.budget.limit(),
            });
        }
        self.budget
            .inner
            .reserved
            .fetch_add(bytes, Ordering::AcqRel);
        self.bytes += bytes;
        Ok(())
    }

    /// Bytes held.
    ///
    /// ```
    /// let budget = parquet_spill::MemoryBudget::new(100);
    /// assert_eq!(budget.reserve(64)?.bytes(), 64);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Give up to `bytes` back to the budget.
    ///
    /// ```
    /// let budget = parquet_spill::MemoryBudget::new(100);
    /// let mut r = budget.reserve(60)?;
    /// r.shrink(45);
    /// assert_eq!((r.bytes(), budget.used()), (15, 15));
    /// r.shrink(99);
    /// assert_eq!((r.bytes(), budget.used()), (0, 0));
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn shrink(&mut self, bytes: usize) {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        self.budget
            .inner
            .reserved
            .fetch_sub(bytes, Ordering::AcqRel);
        self.budget.release(bytes);
    }

    /// A reservation of `budget` holding nothing (yet).
    pub(crate) fn empty(budget: &MemoryBudget) -> Self {
        Self {
            budget: budget.clone(),
            bytes: 0,
        }
    }

    /// Hand `bytes` of this reservation to `to`, a reservation of the same
    /// budget: what one holds becomes the other's without ever being free
    /// in between (a row group's index entries, kept after its flush).
    pub(crate) fn move_to(&mut self, to: &mut Reservation, bytes: usize) {
        debug_assert!(self.budget.same_as(&to.budget));
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        to.bytes += bytes;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.shrink(self.bytes);
    }
}

/// A planned writer's encoder reservation (see
/// [`MemoryBudget::reserve_plan`]).
#[derive(Debug)]
pub(crate) struct PlanReservation(Reservation);

impl PlanReservation {
    /// Up to `bytes` of the plan's reservation as a reservation of its own.
    pub(crate) fn split_off(&mut self, bytes: usize) -> Reservation {
        let mut part = Reservation::empty(&self.0.budget);
        self.0.move_to(&mut part, bytes);
        part
    }
}

impl Drop for PlanReservation {
    fn drop(&mut self) {
        self.0.budget.inner.plans.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_threads_never_overshoot_the_limit() {
        let budget = MemoryBudget::new(10_000);
        std::thread::scope(|s| {
            for t in 0..8 {
                let budget = budget.clone();
                s.spawn(move || {
                    for i in 0..20_000usize {
                        let bytes = 1 + (i * 7 + t) % 900;
                        if budget.try_reserve(bytes) {
                            assert!(budget.used() <= 10_000);
                            budget.release(bytes);
                        }
                    }
                });
            }
        });
        let s = budget.stats();
        assert_eq!(s.used, 0);
        assert!(s.peak <= 10_000 && s.peak > 0);
    }

    /// A pool that counts, refusing past its size.
    #[derive(Debug)]
    struct Counted(AtomicUsize, usize);

    impl ExternalPool for Counted {
        fn try_grow(&self, bytes: usize) -> bool {
            self.0
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |u| {
                    u.checked_add(bytes).filter(|n| *n <= self.1)
                })
                .is_ok()
        }
        fn shrink(&self, bytes: usize) {
            self.0.fetch_sub(bytes, Ordering::AcqRel);
        }
    }

    #[test]
    fn a_budget_on_a_pool_takes_and_returns_every_byte_there() {
        let pool = Arc::new(Counted(AtomicUsize::new(0), 5_000));
        let budget = MemoryBudget::drawing_on(10_000, pool.clone());
        std::thread::scope(|s| {
            for t in 0..4 {
                let budget = budget.clone();
                let pool = pool.clone();
                s.spawn(move || {
                    for i in 0..20_000usize {
                        let bytes = 1 + (i * 7 + t) % 900;
                        if budget.try_reserve(bytes) {
                            assert!(pool.0.load(Ordering::Relaxed) <= 5_000);
                            budget.release(bytes);
                        }
                    }
                });
            }
        });
        assert_eq!((budget.used(), pool.0.load(Ordering::Relaxed)), (0, 0));
        assert!(budget.peak() <= 5_000, "the pool is the tighter limit");
        let held = budget.reserve(4_000).unwrap();
        assert!(budget.reserve(2_000).is_err(), "the pool has 1000 left");
        assert_eq!(budget.used(), 4_000, "a refused reservation takes nothing");
        drop(held);
        budget.release(10); // more than held: neither count wraps
        assert_eq!((budget.used(), pool.0.load(Ordering::Relaxed)), (0, 0));
    }

    #[test]
    fn overflowing_requests_are_refused() {
        let budget = MemoryBudget::unlimited();
        assert!(budget.try_reserve(usize::MAX - 1));
        assert!(!budget.try_reserve(2));
        assert_eq!(budget.stats().denied, 1);
    }
}
