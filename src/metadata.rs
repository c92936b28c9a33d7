//! Decorator: the page metadata parquet keeps, charged to the budget as the
//! pages that create it are written.
//!
//! Why charge it as it grows: every finished page leaves an offset-index
//! entry and (with page statistics) a column-index entry on the heap until
//! the *file* closes, and every column chunk leaves its metadata; parquet's
//! `ArrowWriter::memory_size()` counts none of it. Planned from a guess of
//! the file size, a file that outgrows the guess outgrows the limit. Every
//! page passes through a store, so this decorator charges each page's cost
//! (from the planner's calibrated model, per column) to one growing
//! [`Reservation`] held until the writer is dropped. Heap pages of a tiered
//! store yield to it ([`MemoryBudget`] reclaims them); when the metadata
//! alone would pass the limit, the `put` that would cross it fails with
//! [`Error::PageMetadataExhausted`] — before the limit is passed, never after.
//!
//! parquet puts each page as two blobs (header, then body), so a page is
//! charged on every second `put` of a store. The page keys parquet holds and
//! the stores' own entries live only until the row group is flushed (the
//! store is dropped then): they are charged to the store and released with it.
//! So are the small blobs (page headers, tiny pages) the tiered store below
//! keeps in its arena: charged here at the arena capacity they can take, as
//! they are put, so they never depend on room left for heap pages.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};

use crate::blobs::{arena_bound, arena_bytes};
use crate::budget::{MemoryBudget, Reservation};
use crate::error::{Error, Result};
use crate::file::DEFAULT_INLINE_THRESHOLD;

/// What one column costs in metadata, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ColumnCost {
    /// Per column chunk, until the file closes.
    pub chunk: usize,
    /// Per page, until the file closes.
    pub page: usize,
    /// Per page, until its row group is flushed.
    pub page_until_flush: usize,
    /// Per page, until its row group is flushed: the page header, as the
    /// planner expects it. The meter charges every small blob at its size
    /// instead ([`arena_bound`]).
    pub header: usize,
}

/// The cost model: a column's costs from its leaf index.
pub(crate) type CostModel = Arc<dyn Fn(usize) -> ColumnCost + Send + Sync>;

/// The shared, file-lifetime charge of one writer.
pub(crate) struct Meter {
    budget: MemoryBudget,
    held: Mutex<Reservation>,
    pages: AtomicU64,
    chunks: AtomicU64,
}

impl Meter {
    pub(crate) fn new(budget: &MemoryBudget) -> Result<Self> {
        Ok(Self {
            held: Mutex::new(budget.reserve(0)?),
            budget: budget.clone(),
            pages: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
        })
    }

    /// Bytes of file-lifetime metadata charged so far.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes()
    }

    /// Pages and column chunks charged so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.pages.load(Ordering::Relaxed),
            self.chunks.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reservation> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn charge(&self, bytes: usize, what: &'static str) -> Result<()> {
        let mut held = self.lock();
        held.try_grow(bytes)
            .map_err(|_| Error::PageMetadataExhausted {
                what,
                requested: bytes,
                metadata: held.bytes(),
                limit: self.budget.limit(),
            })
    }
}

impl fmt::Debug for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (pages, chunks) = self.counts();
        f.debug_struct("Meter")
            .field("bytes", &self.bytes())
            .field("pages", &pages)
            .field("chunks", &chunks)
            .finish()
    }
}

/// Charges each store's pages and chunk to a [`Meter`], then passes the
/// blobs on to the inner factory's store.
pub(crate) struct MeteredStoreFactory {
    inner: Arc<dyn PageStoreFactory>,
    meter: Arc<Meter>,
    model: CostModel,
}

impl MeteredStoreFactory {
    pub(crate) fn new(
        inner: Arc<dyn PageStoreFactory>,
        meter: Arc<Meter>,
        model: CostModel,
    ) -> Self {
        Self {
            inner,
            meter,
            model,
        }
    }
}

impl fmt::Debug for MeteredStoreFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeteredStoreFactory")
            .field("inner", &self.inner)
            .field("meter", &self.meter)
            .finish()
    }
}

impl PageStoreFactory for MeteredStoreFactory {
    fn create(&self, args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        let cost = (self.model)(args.column_index());
        self.meter
            .charge(cost.chunk, "column chunk until the file closes")?;
        self.meter.chunks.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(MeteredStore {
            inner: self.inner.create(args)?,
            meter: Arc::clone(&self.meter),
            cost,
            puts: 0,
            small: 0,
            until_flush: self.meter.budget.reserve(0)?,
        }))
    }
}

/// One column's store, charging a page on every second `put`.
struct MeteredStore {
    inner: Box<dyn PageStore>,
    meter: Arc<Meter>,
    cost: ColumnCost,
    puts: u64,
    /// Bytes of small blobs put: the tiered store's arena holds them.
    small: usize,
    /// Released when the store (the row group) is gone.
    until_flush: Reservation,
}

impl MeteredStore {
    fn grow_until_flush(&mut self, bytes: usize, what: &'static str) -> Result<()> {
        self.until_flush
            .try_grow(bytes)
            .map_err(|_| Error::PageMetadataExhausted {
                what,
                requested: bytes,
                metadata: self.meter.bytes(),
                limit: self.meter.budget.limit(),
            })
    }
}

impl PageStore for MeteredStore {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        if self.puts.is_multiple_of(2) {
            self.meter
                .charge(self.cost.page, "page index until the file closes")?;
            self.meter.pages.fetch_add(1, Ordering::Relaxed);
            self.grow_until_flush(
                self.cost.page_until_flush,
                "page keys until the row group is flushed",
            )?;
        }
        if value.len() <= DEFAULT_INLINE_THRESHOLD {
            let small = self.small + arena_bytes(value.len());
            self.grow_until_flush(
                arena_bound(small) - arena_bound(self.small),
                "page headers until the row group is flushed",
            )?;
            self.small = small;
        }
        self.puts += 1;
        self.inner.put(value)
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        self.inner.take(key)
    }

    fn memory_size(&self) -> usize {
        self.inner.memory_size()
    }
}
