//! [`ThrottledStoreFactory`]: make any [`PageStoreFactory`] slow, on purpose.
//!
//! Why: a store backed by a network or a busy disk takes time per call, and
//! some bugs only show when it does — a writer that holds a lock across a
//! slow `take`, a parallel writer whose workers wait on each other, a flush
//! that serialises round trips. Like `object_store`'s `ThrottledStore`, this
//! decorator sleeps a fixed time before each call and otherwise passes it
//! through unchanged, so the conformance suite can run over it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};
use parquet::errors::Result;

/// How long each call waits before it runs.
///
/// ```
/// use std::time::Duration;
/// let config = parquet_spill::testkit::ThrottleConfig { wait_put: Duration::from_millis(1), ..Default::default() };
/// assert_eq!(config.wait_take, Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Before each [`PageStoreFactory::create`].
    pub wait_create: Duration,
    /// Before each [`PageStore::put`].
    pub wait_put: Duration,
    /// Before each [`PageStore::take`].
    pub wait_take: Duration,
}

/// Wraps a factory; every store it creates sleeps per [`ThrottleConfig`].
///
/// ```
/// use std::sync::Arc;
/// use std::time::{Duration, Instant};
/// use parquet_spill::testkit::{ThrottleConfig, ThrottledStoreFactory};
/// use parquet_spill::{MemoryStoreFactory, PageStore};
///
/// let config = ThrottleConfig { wait_put: Duration::from_millis(5), ..Default::default() };
/// let slow = ThrottledStoreFactory::new(Arc::new(MemoryStoreFactory::new()), config);
/// let mut store = parquet_spill::testkit::create_store(&(Arc::new(slow) as _))?;
/// let started = Instant::now();
/// store.put(vec![1u8; 10].into())?;
/// assert!(started.elapsed() >= Duration::from_millis(5));
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
pub struct ThrottledStoreFactory<F: ?Sized = dyn PageStoreFactory> {
    inner: Arc<F>,
    config: ThrottleConfig,
}

impl<F: PageStoreFactory + ?Sized> ThrottledStoreFactory<F> {
    /// Wrap `inner`, sleeping per `config` before each call.
    ///
    /// The waits change nothing else: the file is byte-identical.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use parquet_spill::testkit::{all_types_batch, write_parquet, SparseMapStoreFactory};
    /// use parquet_spill::testkit::{ThrottleConfig, ThrottledStoreFactory};
    /// let config = ThrottleConfig { wait_take: Duration::from_micros(50), ..Default::default() };
    /// let slow = Arc::new(ThrottledStoreFactory::new(Arc::new(SparseMapStoreFactory), config));
    /// let batch = all_types_batch(50, 0);
    /// let expected = write_parquet(&[batch.clone()], Default::default(), None)?;
    /// assert_eq!(write_parquet(&[batch], Default::default(), Some(slow))?, expected);
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn new(inner: Arc<F>, config: ThrottleConfig) -> Self {
        Self { inner, config }
    }

    /// The wrapped factory, with its concrete type.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parquet_spill::testkit::{all_types_batch, write_parquet, ThrottleConfig, ThrottledStoreFactory};
    /// use parquet_spill::MemoryStoreFactory;
    /// let memory = Arc::new(MemoryStoreFactory::new());
    /// let slow = Arc::new(ThrottledStoreFactory::new(Arc::clone(&memory), ThrottleConfig::default()));
    /// assert!(Arc::ptr_eq(slow.inner(), &memory));
    /// write_parquet(&[all_types_batch(50, 0)], Default::default(), Some(slow.clone()))?;
    /// assert!(slow.inner().peak_bytes() > 0, "the pages passed through the wrapped store");
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn inner(&self) -> &Arc<F> {
        &self.inner
    }

    /// The waits.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use parquet_spill::testkit::{SparseMapStoreFactory, ThrottleConfig, ThrottledStoreFactory};
    /// let config = ThrottleConfig { wait_create: Duration::from_millis(2), ..Default::default() };
    /// let slow = ThrottledStoreFactory::new(Arc::new(SparseMapStoreFactory), config);
    /// assert_eq!(slow.config(), config);
    /// assert_eq!(slow.config().wait_put, Duration::ZERO);
    /// ```
    pub fn config(&self) -> ThrottleConfig {
        self.config
    }
}

impl<F: fmt::Debug + ?Sized> fmt::Debug for ThrottledStoreFactory<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThrottledStoreFactory")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

fn wait(d: Duration) {
    if !d.is_zero() {
        std::thread::sleep(d);
    }
}

impl<F: PageStoreFactory + ?Sized> PageStoreFactory for ThrottledStoreFactory<F> {
    fn create(&self, args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
        wait(self.config.wait_create);
        Ok(Box::new(ThrottledStore {
            inner: self.inner.create(args)?,
            config: self.config,
        }))
    }
}

/// A store created by [`ThrottledStoreFactory`].
struct ThrottledStore {
    inner: Box<dyn PageStore>,
    config: ThrottleConfig,
}

impl PageStore for ThrottledStore {
    fn put(&mut self, value: Bytes) -> Result<PageKey> {
        wait(self.config.wait_put);
        self.inner.put(value)
    }

    fn take(&mut self, key: PageKey) -> Result<Bytes> {
        wait(self.config.wait_take);
        self.inner.take(key)
    }

    fn memory_size(&self) -> usize {
        self.inner.memory_size()
    }
}
