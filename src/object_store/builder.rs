//! [`ObjectStoreFactoryBuilder`]: sizes of the shared buffer, uploads in
//! flight and read-ahead, the budget they are charged to, and the runtime.
//!
//! Why a builder: every knob trades memory for requests or round trips, and
//! the product of them is the memory the factory holds
//! ([`ObjectStoreFactory::memory_limit`]), reserved once at
//! [`build`](ObjectStoreFactoryBuilder::build).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use object_store::path::Path;
use object_store::ObjectStore;
use tokio::runtime::Handle;

use super::bridge::Bridge;
use super::shared::Shared;
use super::ObjectStoreFactory;
use crate::budget::MemoryBudget;
use crate::error::Result;

/// Builds an [`ObjectStoreFactory`]; see [`ObjectStoreFactory::builder`].
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::{MemoryBudget, ObjectStoreFactory};
///
/// let budget = MemoryBudget::new(64 << 20);
/// let factory = ObjectStoreFactory::builder(
///     Arc::new(object_store::memory::InMemory::new()),
///     "spill".into(),
/// )
/// .buffer_size(8 << 20)
/// .uploads_in_flight(1)
/// .read_ahead(8 << 20)
/// .budget(budget.clone())
/// .build()?;
/// assert_eq!(factory.memory_limit(), 24 << 20);
/// assert_eq!(budget.used(), 24 << 20);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ObjectStoreFactoryBuilder {
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) prefix: Path,
    pub(super) buffer_size: usize,
    pub(super) uploads_in_flight: usize,
    pub(super) read_ahead: usize,
    pub(super) inline_threshold: usize,
    pub(super) budget: Option<MemoryBudget>,
    pub(super) runtime: Option<Handle>,
}

impl ObjectStoreFactoryBuilder {
    /// Size of the shared buffer and of each object (default
    /// [`DEFAULT_BUFFER_SIZE`](super::DEFAULT_BUFFER_SIZE); at least 1 byte).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let factory = parquet_spill::ObjectStoreFactory::builder(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())
    ///     .buffer_size(16 << 20)
    ///     .build()?;
    /// assert_eq!(factory.buffer_size(), 16 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes.max(1);
        self
    }

    /// Full buffers that may upload in the background while the next one
    /// fills (default 1). Each holds `buffer_size` bytes until its upload
    /// finishes. With 0, the `put` that finds the buffer full uploads it and
    /// waits, and other stores' `put`s wait with it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let factory = parquet_spill::ObjectStoreFactory::builder(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())
    ///     .buffer_size(1 << 20)
    ///     .uploads_in_flight(3)
    ///     .read_ahead(0)
    ///     .build()?;
    /// assert_eq!(factory.memory_limit(), 4 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn uploads_in_flight(mut self, uploads: usize) -> Self {
        self.uploads_in_flight = uploads;
        self
    }

    /// Bytes of blobs all stores together may hold read ahead (default
    /// [`DEFAULT_BUFFER_SIZE`](super::DEFAULT_BUFFER_SIZE)); also the most one `take` fetches beyond its
    /// own blob. 0 turns read-ahead off: one `get` per spilled blob.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let factory = parquet_spill::ObjectStoreFactory::builder(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())
    ///     .buffer_size(1 << 20)
    ///     .uploads_in_flight(0)
    ///     .read_ahead(4 << 20)
    ///     .build()?;
    /// assert_eq!(factory.memory_limit(), 5 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_ahead(mut self, bytes: usize) -> Self {
        self.read_ahead = bytes;
        self
    }

    /// Blobs up to this size stay on the store's heap (default
    /// [`DEFAULT_INLINE_THRESHOLD`](crate::DEFAULT_INLINE_THRESHOLD)).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use parquet_spill::PageStore;
    /// let factory = parquet_spill::ObjectStoreFactory::builder(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())
    ///     .inline_threshold(4096)
    ///     .build()?;
    /// let mut store = factory.create_store();
    /// store.put(vec![1u8; 4000].into())?;
    /// assert_eq!(factory.stats().bytes_spilled, 0, "kept on the heap");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inline_threshold(mut self, bytes: usize) -> Self {
        self.inline_threshold = bytes;
        self
    }

    /// Charge [`ObjectStoreFactory::memory_limit`] to `budget` (released
    /// when the factory and its stores are dropped).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let budget = parquet_spill::MemoryBudget::new(1 << 20);
    /// let too_big = parquet_spill::ObjectStoreFactory::builder(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())
    ///     .budget(budget)
    ///     .build();
    /// assert!(too_big.unwrap_err().to_string().contains("budget"));
    /// ```
    pub fn budget(mut self, budget: MemoryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Run requests on this multi-thread runtime instead of one the factory
    /// owns (a current-thread runtime makes [`build`](Self::build) fail with
    /// [`Error::CurrentThreadRuntime`](crate::Error::CurrentThreadRuntime)). `put` and `take`
    /// block the calling thread: best run the writer in `spawn_blocking`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    /// let factory = parquet_spill::ObjectStoreFactory::builder(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())
    ///     .runtime(runtime.handle().clone())
    ///     .build()?;
    /// # drop(factory);
    /// let current_thread = tokio::runtime::Builder::new_current_thread().build()?;
    /// let refused = parquet_spill::ObjectStoreFactory::builder(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())
    ///     .runtime(current_thread.handle().clone())
    ///     .build();
    /// assert!(refused.unwrap_err().to_string().contains("multi-thread"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// What the factory will reserve when built
    /// ([`ObjectStoreFactory::memory_limit`]), known before it is: a
    /// planner takes it out of the limit first.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let builder = parquet_spill::ObjectStoreFactory::builder(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())
    ///     .buffer_size(2 << 20)
    ///     .uploads_in_flight(1)
    ///     .read_ahead(1 << 20);
    /// assert_eq!(builder.memory_limit(), 5 << 20);
    /// assert_eq!(builder.build()?.memory_limit(), 5 << 20);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn memory_limit(&self) -> usize {
        memory_limit(self.buffer_size, self.uploads_in_flight, self.read_ahead)
    }

    /// Build the factory: check the runtime (or start one), reserve the
    /// memory in the budget. No request is made until the buffer first
    /// fills.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let factory = parquet_spill::ObjectStoreFactory::builder(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())
    ///     .build()?;
    /// assert_eq!(factory.stats().puts, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<ObjectStoreFactory> {
        let memory_limit = self.memory_limit();
        let bridge = Bridge::new(self.runtime)?;
        let uploads_in_flight = self.uploads_in_flight;
        let reservation = match &self.budget {
            Some(b) => Some(b.reserve(memory_limit)?),
            None => None,
        };
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let run = format!(
            "run-{}-{nanos}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let dir = self.prefix.clone().join(run.as_str());
        Ok(ObjectStoreFactory {
            shared: Arc::new(Shared::new(
                self.store,
                self.prefix,
                dir,
                bridge,
                self.buffer_size,
                self.inline_threshold,
                uploads_in_flight,
                self.read_ahead,
                reservation,
            )),
        })
    }
}

pub(super) fn memory_limit(
    buffer_size: usize,
    uploads_in_flight: usize,
    read_ahead: usize,
) -> usize {
    buffer_size
        .saturating_mul(uploads_in_flight.saturating_add(1))
        .saturating_add(read_ahead)
}

impl fmt::Debug for ObjectStoreFactoryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreFactoryBuilder")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix.as_ref())
            .field("buffer_size", &self.buffer_size)
            .field("uploads_in_flight", &self.uploads_in_flight)
            .field("read_ahead", &self.read_ahead)
            .finish_non_exhaustive()
    }
}
