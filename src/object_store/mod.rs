//! [`ObjectStoreFactory`]: spill pages to any [`object_store::ObjectStore`]
//! (S3, GCS, Azure, a local directory, memory) in few, large requests.
//!
//! # Layout: one shared buffer, one object per buffer
//!
//! Every store of a factory appends its blobs to **one shared, bounded
//! buffer** ([`ObjectStoreFactoryBuilder::buffer_size`], default
//! [`DEFAULT_BUFFER_SIZE`]). When the next blob does not fit, the buffer is
//! written as a single object (one `put` of the whole buffer) named
//! `<prefix>/run-…/<n>.spill` (`n` zero-padded to 8 digits), and each blob's
//! key maps to
//! `(object, offset, len, crc32c)`. Blobs of at most
//! [`DEFAULT_INLINE_THRESHOLD`](crate::DEFAULT_INLINE_THRESHOLD) bytes (page
//! headers) stay on the store's heap, as in [`FileStore`](crate::FileStore),
//! so they do not cost a request each. A blob larger than the buffer is put
//! as an object of its own, by the `put` that stores it (not in the
//! background), so keep `buffer_size` above the page size.
//!
//! **Writing.** A full buffer is uploaded in the background while the next
//! one fills ([`ObjectStoreFactoryBuilder::uploads_in_flight`], default 1);
//! the `put` that finds the buffer full waits only when that many uploads
//! are still running. Blobs of a buffer or upload still in memory are served
//! from it without a request. No request is awaited while the shared state
//! is locked, so stores that only need memory never wait for the network.
//!
//! **Reading.** When a row group is flushed, parquet takes each column's
//! pages in the order they were put, except the dictionary page, put last
//! and taken first. A `take` that has to read from the
//! object store also reads that store's next blobs ahead, up to
//! [`ObjectStoreFactoryBuilder::read_ahead`] bytes (default 8 MiB, shared by
//! all stores of the factory), merging blobs close together in one object
//! into one ranged `get` and running the `get`s concurrently (and wrapping
//! around to blobs put before the one taken, for the dictionary page). So a
//! GiB of pages costs about `1 GiB / buffer_size` puts; gets depend on page
//! sizes and column count (the README has measured figures).
//!
//! **Why not multipart uploads.** One `put` per buffer already makes every
//! request at least `buffer_size` (8 MiB) long, and the object is readable
//! and deletable as soon as that `put` returns. A multipart object is
//! invisible until its upload is completed, so pages in it could not be read
//! back before the whole object is, and it costs two extra requests
//! (create, complete) per object.
//!
//! An object is deleted as soon as every blob in it has been taken (or its
//! store dropped), and whatever is left is deleted when the last handle to
//! the factory (and its stores) is dropped. After a crash, nothing deletes
//! the objects: run [`ObjectStoreFactory::cleanup`] on the prefix (for
//! example at start-up, or from a lifecycle rule on the bucket).
//!
//! # Sync over async
//!
//! [`PageStore`] is synchronous and `object_store` is async, so requests run
//! on a **multi-thread** tokio runtime and `put`/`take` block the calling
//! thread until they finish:
//!
//! - [`ObjectStoreFactoryBuilder::runtime`] uses the application's runtime
//!   (for example so the S3 client's connections live on it). It must be a
//!   multi-thread runtime: a current-thread runtime runs tasks and drives
//!   I/O only inside its own `Runtime::block_on`, so background uploads would
//!   never run and requests from other threads could hang; `build` refuses
//!   one with [`Error::CurrentThreadRuntime`](crate::Error::CurrentThreadRuntime).
//! - Without one, the factory owns a one-worker multi-thread runtime.
//!
//! Best run the writer on a plain thread or in
//! [`tokio::task::spawn_blocking`]: it blocks on I/O and does CPU-heavy
//! encoding. Run as an async task on a multi-thread runtime's worker, it
//! still works: each wait happens in [`tokio::task::block_in_place`], which
//! first moves the worker's other tasks (our uploads among them) to another
//! thread. Inside a current-thread runtime (say `#[tokio::main(flavor =
//! "current_thread")]`), each request runs on a short-lived helper thread,
//! because blocking in place is not allowed there.
//!
//! # Memory
//!
//! What the factory may hold, [`ObjectStoreFactory::memory_limit`] =
//! `buffer_size * (1 + uploads_in_flight) + read_ahead`, is charged to the
//! optional [`MemoryBudget`] when the factory is built (it fails with
//! [`Error::BudgetExhausted`](crate::Error::BudgetExhausted) if it does not
//! fit). Each store's [`PageStore::memory_size`] reports **its share**: its
//! own untaken blobs in the buffer and in uploads still in memory, the
//! blobs it read ahead, its heap-kept headers and key table. So the writer's
//! sum over stores is what is live, never counted twice.
//!
//! # Errors
//!
//! Failures are the crate's [`Error`](crate::Error) (its `Object…` variants)
//! wrapped in
//! [`ParquetError::External`](parquet::errors::ParquetError::External); each
//! names the object path, offset and length, and a blob whose CRC32C does not
//! match fails `take` instead of corrupting the file. A background upload's
//! failure is reported by the `put` that next needs its slot, and a later
//! `take` of a blob in it says the blob is lost. A failed upload may still
//! have written its object (a timeout after the store committed it), and a
//! delete request can fail: both are retried when the factory drops; what
//! still fails then is left for [`ObjectStoreFactory::cleanup`].

mod bridge;
mod builder;
mod shared;
mod store;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_writer::{PageStore, PageStoreArgs, PageStoreFactory};

use self::builder::memory_limit;
pub use self::builder::ObjectStoreFactoryBuilder;
use self::shared::Shared;
pub use self::store::ObjectStoreStore;
pub(crate) use self::store::SLOT;
use crate::error::{Error, Result};
use crate::file::DEFAULT_INLINE_THRESHOLD;

/// Default size of the shared buffer, and so of each spill object: 8 MiB.
///
/// ```
/// assert_eq!(parquet_spill::DEFAULT_BUFFER_SIZE, 8 << 20);
/// ```
pub const DEFAULT_BUFFER_SIZE: usize = 8 << 20;

/// Request and byte counters of one factory (all its stores).
///
/// ```
/// let stats = parquet_spill::ObjectStoreStats::default();
/// assert_eq!((stats.puts, stats.gets, stats.get_rounds, stats.objects_live, stats.heap_bytes), (0, 0, 0, 0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectStoreStats {
    /// Put requests made (one per object; failed ones included).
    pub puts: u64,
    /// Ranged reads (one request each, possibly covering several blobs).
    pub gets: u64,
    /// Times a `take` waited for gets (those of one read-ahead run
    /// concurrently): the round trips a flush pays.
    pub get_rounds: u64,
    /// Objects deleted.
    pub deletes: u64,
    /// Blobs served from the buffer, an upload in flight or the heap,
    /// without a request.
    pub memory_hits: u64,
    /// Blobs served from the read-ahead (fetched by an earlier `get`).
    pub read_ahead_hits: u64,
    /// Times a `put` waited for a background upload to finish.
    pub upload_waits: u64,
    /// Bytes of blobs above the inline threshold given to the spill.
    pub bytes_spilled: u64,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Bytes read back (including gaps between blobs read together).
    pub bytes_read: u64,
    /// Most bytes held read ahead at once, by all stores.
    pub read_ahead_peak: u64,
    /// Objects written and not yet deleted.
    pub objects_live: u64,
    /// Bytes of small blobs (page headers) the stores keep on the heap now.
    pub heap_bytes: u64,
}

/// Creates [`ObjectStoreStore`]s that spill into objects under a prefix of
/// any [`ObjectStore`]. Cloning shares the buffer and the objects.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array, RecordBatch};
/// use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
/// use parquet_spill::ObjectStoreFactory;
///
/// let store = Arc::new(object_store::memory::InMemory::new());
/// let factory = Arc::new(
///     ObjectStoreFactory::builder(store, "spill".into()).buffer_size(64 << 10).build()?,
/// );
/// let options = ArrowWriterOptions::new().with_page_store_factory(factory.clone());
/// let col = Arc::new(Int64Array::from_iter_values(0..100_000)) as ArrayRef;
/// let batch = RecordBatch::try_from_iter([("id", col)])?;
/// let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options)?;
/// writer.write(&batch)?;
/// writer.close()?;
/// let stats = factory.stats();
/// assert!(stats.puts > 0);
/// assert_eq!(stats.objects_live, 0, "every object was deleted once read back");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ObjectStoreFactory {
    shared: Arc<Shared>,
}

impl fmt::Debug for ObjectStoreFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreFactory")
            .field("store", &self.shared.store.to_string())
            .field("dir", &self.shared.dir.as_ref())
            .field("buffer_size", &self.shared.buffer_size)
            .field("stats", &self.stats())
            .finish()
    }
}

impl ObjectStoreFactory {
    /// Start building a factory spilling to `store` under `prefix`. Each
    /// factory writes under its own `<prefix>/run-<pid>-<time>-<n>/`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let factory = parquet_spill::ObjectStoreFactory::builder(
    ///     Arc::new(object_store::memory::InMemory::new()), "tmp/spill".into())
    ///     .build()?;
    /// assert!(factory.dir().as_ref().starts_with("tmp/spill/run-"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(store: Arc<dyn ObjectStore>, prefix: Path) -> ObjectStoreFactoryBuilder {
        ObjectStoreFactoryBuilder {
            store,
            prefix,
            buffer_size: DEFAULT_BUFFER_SIZE,
            uploads_in_flight: 1,
            read_ahead: DEFAULT_BUFFER_SIZE,
            inline_threshold: DEFAULT_INLINE_THRESHOLD,
            budget: None,
            runtime: None,
        }
    }

    /// A factory with the defaults and its own runtime.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let factory = parquet_spill::ObjectStoreFactory::new(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())?;
    /// assert_eq!(factory.memory_limit(), 3 * parquet_spill::DEFAULT_BUFFER_SIZE);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path) -> crate::Result<Self> {
        Self::builder(store, prefix).build()
    }

    /// The prefix given to the builder.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let factory = parquet_spill::ObjectStoreFactory::new(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())?;
    /// assert_eq!(factory.prefix().as_ref(), "spill");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn prefix(&self) -> &Path {
        &self.shared.prefix
    }

    /// Where this factory's objects go: `<prefix>/run-…`.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let factory = parquet_spill::ObjectStoreFactory::new(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())?;
    /// assert!(factory.dir().prefix_matches(factory.prefix()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Size of the shared buffer and of each object.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let factory = parquet_spill::ObjectStoreFactory::new(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())?;
    /// assert_eq!(factory.buffer_size(), parquet_spill::DEFAULT_BUFFER_SIZE);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn buffer_size(&self) -> usize {
        self.shared.buffer_size
    }

    /// The most memory the factory holds for pages in flight:
    /// `buffer_size * (1 + uploads_in_flight) + read_ahead`, charged to the
    /// builder's budget. (Headers kept on the heap and key tables are each
    /// store's own, reported by its `memory_size`.)
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let factory = parquet_spill::ObjectStoreFactory::builder(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())
    ///     .buffer_size(2 << 20)
    ///     .build()?;
    /// assert_eq!(factory.memory_limit(), (2 << 20) * 2 + parquet_spill::DEFAULT_BUFFER_SIZE);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn memory_limit(&self) -> usize {
        let s = &self.shared;
        memory_limit(
            s.buffer_size,
            s.uploads_in_flight,
            s.read_ahead_pool.limit(),
        )
    }

    /// Request and byte counters so far.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// let factory = parquet_spill::ObjectStoreFactory::new(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())?;
    /// assert_eq!(factory.stats(), parquet_spill::ObjectStoreStats::default());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> ObjectStoreStats {
        let c = &self.shared.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        ObjectStoreStats {
            puts: get(&c.puts),
            gets: get(&c.gets),
            get_rounds: get(&c.get_rounds),
            deletes: get(&c.deletes),
            memory_hits: get(&c.memory_hits),
            read_ahead_hits: get(&c.read_ahead_hits),
            upload_waits: get(&c.upload_waits),
            bytes_spilled: get(&c.bytes_spilled),
            bytes_uploaded: get(&c.bytes_uploaded),
            bytes_read: get(&c.bytes_read),
            read_ahead_peak: self.shared.read_ahead_pool.peak() as u64,
            objects_live: get(&c.objects_live),
            heap_bytes: self.shared.heap.bytes(),
        }
    }

    /// A store spilling into this factory's buffer and objects.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use parquet_spill::PageStore;
    /// let factory = parquet_spill::ObjectStoreFactory::new(
    ///     Arc::new(object_store::memory::InMemory::new()), "spill".into())?;
    /// let mut store = factory.create_store();
    /// let key = store.put(vec![7u8; 10_000].into())?;
    /// assert_eq!(store.take(key)?, vec![7u8; 10_000]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_store(&self) -> ObjectStoreStore {
        ObjectStoreStore::new(Arc::clone(&self.shared))
    }

    /// Delete every object under `prefix`, returning how many: removes what
    /// a crashed process left behind (a running factory deletes its own).
    /// Do not run it on a prefix a live factory is using.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use object_store::{memory::InMemory, ObjectStoreExt, path::Path};
    /// let store = Arc::new(InMemory::new());
    /// let rt = tokio::runtime::Builder::new_current_thread().build()?;
    /// rt.block_on(async {
    ///     store.put(&Path::from("spill/run-1/1.spill"), vec![0u8; 3].into()).await?;
    ///     let removed = parquet_spill::ObjectStoreFactory::cleanup(&*store, &"spill".into()).await?;
    ///     assert_eq!(removed, 1);
    ///     Ok::<_, Box<dyn std::error::Error>>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ObjectCleanup`] naming the prefix (listing) or the object
    /// (deleting) that failed.
    pub async fn cleanup(store: &dyn ObjectStore, prefix: &Path) -> Result<usize> {
        let paths = list_all(store, prefix)
            .await
            .map_err(|source| Error::ObjectCleanup {
                path: prefix.to_string(),
                source,
            })?;
        let n = paths.len();
        for p in paths {
            match store.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => {
                    return Err(Error::ObjectCleanup {
                        path: p.to_string(),
                        source,
                    })
                }
            }
        }
        Ok(n)
    }
}

/// Every object under `prefix`, walking delimiter listings (so no stream
/// combinators, and no direct `futures` dependency, are needed).
async fn list_all(
    store: &dyn ObjectStore,
    prefix: &Path,
) -> Result<Vec<Path>, object_store::Error> {
    let mut out = Vec::new();
    let mut dirs = vec![prefix.clone()];
    while let Some(dir) = dirs.pop() {
        let listing = store.list_with_delimiter(Some(&dir)).await?;
        out.extend(listing.objects.into_iter().map(|m| m.location));
        dirs.extend(listing.common_prefixes);
    }
    Ok(out)
}

impl PageStoreFactory for ObjectStoreFactory {
    fn create(&self, _args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        Ok(Box::new(self.create_store()))
    }
}
