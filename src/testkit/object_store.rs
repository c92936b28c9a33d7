//! Object-store test tools (features `testkit` and `object_store`):
//! [`CountingStore`], an `ObjectStore` decorator that counts requests and can
//! fail the N-th one, add latency to each, or hold puts until released; and
//! [`objects_under`], to check nothing was left behind; [`local_objects`],
//! the backend the measurements spill to.
//!
//! Why in the kit: the object-store backend's tests, its benchmark and a
//! user's own tests of an `ObjectStoreFactory` setup all need the same
//! request counts, injected failures and simulated round trips.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use tokio::sync::Semaphore;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Run `f` to completion on a new current-thread runtime.
///
/// ```
/// assert_eq!(parquet_spill::testkit::object_store::block_on(async { 7 }), 7);
/// ```
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(f)
}

/// How many objects `store` holds under `prefix`.
///
/// ```
/// use object_store::memory::InMemory;
/// assert_eq!(parquet_spill::testkit::object_store::objects_under(&InMemory::new(), "spill"), 0);
/// ```
pub fn objects_under(store: &dyn ObjectStore, prefix: &str) -> usize {
    let prefix = Path::from(prefix);
    block_on(store.list(Some(&prefix)).try_collect::<Vec<_>>())
        .unwrap()
        .len()
}

/// An `ObjectStoreFactory` builder spilling into objects under the local
/// directory `dir`, the factory's defaults otherwise: spilled pages go to
/// disk, not the heap, so a measurement of the process sees only what the
/// factory holds (its buffers, read-ahead and runtime).
///
/// ```
/// let dir = tempfile::tempdir()?;
/// let builder = parquet_spill::testkit::object_store::local_objects(dir.path())?;
/// assert_eq!(builder.memory_limit(), 3 * parquet_spill::DEFAULT_BUFFER_SIZE);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn local_objects(
    dir: &std::path::Path,
) -> object_store::Result<crate::ObjectStoreFactoryBuilder> {
    let local = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
    Ok(crate::ObjectStoreFactory::builder(
        Arc::new(local),
        "spill".into(),
    ))
}

/// Counts puts, gets and deletes; optionally fails request number
/// `fail_at` (1-based, puts and gets together) or the first deletes, sleeps
/// `latency` before each put and get, or makes puts wait for a permit of
/// `gate`.
///
/// ```
/// use std::sync::Arc;
/// use object_store::{memory::InMemory, ObjectStoreExt, path::Path};
/// use parquet_spill::testkit::object_store::{block_on, CountingStore};
/// let store = CountingStore::new(Arc::new(InMemory::new()), 2);
/// block_on(async {
///     store.put(&Path::from("a"), vec![1u8].into()).await.unwrap();
///     assert!(store.get(&Path::from("a")).await.is_err(), "request 2 fails");
/// });
/// assert_eq!((store.puts(), store.gets()), (1, 1));
/// ```
#[derive(Debug)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    puts: AtomicU64,
    gets: AtomicU64,
    deletes: Arc<AtomicU64>,
    requests: AtomicU64,
    fail_at: u64,
    latency: Duration,
    gate: Option<Arc<Semaphore>>,
    /// Delete requests still to fail.
    failing_deletes: Arc<AtomicU64>,
    /// Payload bytes of every object put and not yet deleted.
    stored: Arc<Mutex<HashMap<Path, usize>>>,
    /// Hand the inner store exact-size copies of payloads.
    compact: bool,
}

impl CountingStore {
    /// Count requests to `inner`; fail the `fail_at`-th (0: never).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
    /// use parquet_spill::testkit::object_store::{block_on, CountingStore};
    /// let never = CountingStore::new(Arc::new(InMemory::new()), 0);
    /// block_on(async {
    ///     for i in 0..3 {
    ///         never.put(&Path::from(format!("o{i}")), vec![i as u8].into()).await.unwrap();
    ///     }
    /// });
    /// assert_eq!(never.requests(), 3);
    ///
    /// let third = CountingStore::new(Arc::new(InMemory::new()), 3);
    /// let results = block_on(async {
    ///     let mut results = Vec::new();
    ///     for i in 0..4 {
    ///         results.push(third.put(&Path::from(format!("o{i}")), vec![1u8].into()).await.is_ok());
    ///     }
    ///     results
    /// });
    /// assert_eq!(results, [true, true, false, true]);
    /// ```
    pub fn new(inner: Arc<dyn ObjectStore>, fail_at: u64) -> Self {
        Self {
            inner,
            puts: AtomicU64::new(0),
            gets: AtomicU64::new(0),
            deletes: Arc::new(AtomicU64::new(0)),
            requests: AtomicU64::new(0),
            fail_at,
            latency: Duration::ZERO,
            gate: None,
            failing_deletes: Arc::new(AtomicU64::new(0)),
            stored: Arc::default(),
            compact: false,
        }
    }

    /// Give the inner store an exact-size copy of each payload, so the heap
    /// an in-memory store holds is [`stored_bytes`](Self::stored_bytes)
    /// (the writer's buffers are not kept alive by stored objects).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
    /// use parquet_spill::testkit::object_store::{block_on, CountingStore};
    /// use bytes::Bytes;
    /// let store = CountingStore::new(Arc::new(InMemory::new()), 0).with_compact_copies();
    /// let buffer = Bytes::from(vec![5u8; 1 << 20]);
    /// let payload = buffer.slice(..100); // a view into a 1 MiB buffer
    /// block_on(store.put(&Path::from("small"), payload.into())).unwrap();
    /// drop(buffer);
    /// let stored = block_on(async { store.get(&Path::from("small")).await.unwrap().bytes().await.unwrap() });
    /// assert_eq!(stored, vec![5u8; 100]);
    /// assert_eq!(store.stored_bytes(), 100);
    /// ```
    pub fn with_compact_copies(mut self) -> Self {
        self.compact = true;
        self
    }

    /// Payload bytes of the objects put through this store and not deleted.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
    /// use parquet_spill::testkit::object_store::{block_on, CountingStore};
    /// let store = CountingStore::new(Arc::new(InMemory::new()), 0);
    /// block_on(async {
    ///     store.put(&Path::from("a"), vec![0u8; 300].into()).await.unwrap();
    ///     store.put(&Path::from("b"), vec![0u8; 200].into()).await.unwrap();
    ///     assert_eq!(store.stored_bytes(), 500);
    ///     store.delete(&Path::from("a")).await.unwrap();
    /// });
    /// assert_eq!(store.stored_bytes(), 200);
    /// ```
    pub fn stored_bytes(&self) -> usize {
        lock(&self.stored).values().sum()
    }

    /// Fail the next `n` deletes.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
    /// use parquet_spill::testkit::object_store::{block_on, CountingStore};
    /// let store = CountingStore::new(Arc::new(InMemory::new()), 0).with_failing_deletes(1);
    /// let path = Path::from("spill/1");
    /// block_on(async {
    ///     store.put(&path, vec![1u8; 10].into()).await.unwrap();
    ///     assert!(store.delete(&path).await.is_err(), "the first delete fails");
    ///     assert!(store.head(&path).await.is_ok(), "and leaves the object behind");
    ///     assert!(store.delete(&path).await.is_ok(), "the second goes through");
    /// });
    /// assert_eq!(store.deletes(), 1);
    /// ```
    pub fn with_failing_deletes(self, n: u64) -> Self {
        self.failing_deletes.store(n, Ordering::Relaxed);
        self
    }

    /// Sleep this long before each put and get (a remote store's round trip).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
    /// use parquet_spill::testkit::object_store::{block_on, CountingStore};
    /// use std::time::{Duration, Instant};
    /// let store = CountingStore::new(Arc::new(InMemory::new()), 0).with_latency(Duration::from_millis(20));
    /// let started = Instant::now();
    /// block_on(async {
    ///     store.put(&Path::from("a"), vec![1u8].into()).await.unwrap();
    ///     store.get(&Path::from("a")).await.unwrap();
    /// });
    /// assert!(started.elapsed() >= Duration::from_millis(40), "two round trips");
    /// ```
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Each put first takes (and consumes) a permit of `gate`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
    /// use parquet_spill::testkit::object_store::{block_on, CountingStore};
    /// use std::time::Duration;
    /// use tokio::sync::Semaphore;
    /// let gate = Arc::new(Semaphore::new(1));
    /// let store = CountingStore::new(Arc::new(InMemory::new()), 0).with_gate(Arc::clone(&gate));
    /// let (a, b) = (Path::from("a"), Path::from("b"));
    /// block_on(async {
    ///     store.put(&a, vec![1u8].into()).await.unwrap(); // uses the one permit
    ///     let held = tokio::time::timeout(Duration::from_millis(20), store.put(&b, vec![2u8].into()));
    ///     assert!(held.await.is_err(), "the second put waits for a permit");
    ///     gate.add_permits(1);
    ///     store.put(&b, vec![2u8].into()).await.unwrap();
    /// });
    /// assert_eq!(store.stored_bytes(), 2);
    /// ```
    pub fn with_gate(mut self, gate: Arc<Semaphore>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Put requests so far.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
    /// use parquet_spill::testkit::object_store::{block_on, CountingStore};
    /// let store = CountingStore::new(Arc::new(InMemory::new()), 1);
    /// block_on(async {
    ///     assert!(store.put(&Path::from("a"), vec![1u8].into()).await.is_err());
    ///     store.put(&Path::from("a"), vec![1u8].into()).await.unwrap();
    /// });
    /// assert_eq!(store.puts(), 2, "failed puts count too");
    /// ```
    pub fn puts(&self) -> u64 {
        self.puts.load(Ordering::Relaxed)
    }

    /// Get requests so far.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
    /// use parquet_spill::testkit::object_store::{block_on, CountingStore};
    /// let store = CountingStore::new(Arc::new(InMemory::new()), 0);
    /// block_on(async {
    ///     store.put(&Path::from("a"), vec![1u8].into()).await.unwrap();
    ///     store.get(&Path::from("a")).await.unwrap();
    ///     assert!(store.get(&Path::from("missing")).await.is_err());
    /// });
    /// assert_eq!((store.puts(), store.gets()), (1, 2));
    /// ```
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }

    /// Objects deleted so far.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
    /// use parquet_spill::testkit::object_store::{block_on, CountingStore};
    /// let store = CountingStore::new(Arc::new(InMemory::new()), 0);
    /// block_on(async {
    ///     store.put(&Path::from("a"), vec![1u8].into()).await.unwrap();
    ///     store.put(&Path::from("b"), vec![1u8].into()).await.unwrap();
    ///     store.delete(&Path::from("a")).await.unwrap();
    /// });
    /// assert_eq!(store.deletes(), 1);
    /// assert_eq!(store.requests(), 2, "deletes are not requests");
    /// ```
    pub fn deletes(&self) -> u64 {
        self.deletes.load(Ordering::Relaxed)
    }

    /// Puts and gets so far.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, path::Path, ObjectStoreExt};
    /// use parquet_spill::testkit::object_store::{block_on, CountingStore};
    /// let store = CountingStore::new(Arc::new(InMemory::new()), 0);
    /// block_on(async {
    ///     store.put(&Path::from("a"), vec![1u8].into()).await.unwrap();
    ///     store.get(&Path::from("a")).await.unwrap();
    ///     store.get(&Path::from("a")).await.unwrap();
    /// });
    /// assert_eq!(store.requests(), store.puts() + store.gets());
    /// assert_eq!(store.requests(), 3);
    /// ```
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn check(&self) -> object_store::Result<()> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if n == self.fail_at {
            return Err(object_store::Error::Generic {
                store: "CountingStore",
                source: format!("injected failure of request {n}").into(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountingStore({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        if let Some(gate) = &self.gate {
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
        }
        self.check().await?;
        let len = payload.content_length();
        let payload = if self.compact {
            PutPayload::from(Bytes::copy_from_slice(&Bytes::from(payload)))
        } else {
            payload
        };
        let result = self.inner.put_opts(location, payload, opts).await?;
        lock(&self.stored).insert(location.clone(), len);
        Ok(result)
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.check().await?;
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        let deletes = Arc::clone(&self.deletes);
        let stored = Arc::clone(&self.stored);
        let failing = Arc::clone(&self.failing_deletes);
        let locations = locations
            .map(move |location| {
                let fail = failing
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok();
                match location {
                    Ok(path) if fail => Err(object_store::Error::Generic {
                        store: "CountingStore",
                        source: format!("injected failure deleting {path}").into(),
                    }),
                    other => other,
                }
            })
            .boxed();
        self.inner
            .delete_stream(locations)
            .inspect_ok(move |path| {
                deletes.fetch_add(1, Ordering::Relaxed);
                lock(&stored).remove(path);
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
