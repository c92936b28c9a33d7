//! [`ObjectStoreFactory`]: spill pages to any [`object_store::ObjectStore`]
//! (S3, GCS, Azure, a local directory, memory) in few, large requests.
//!
//! # Layout: one shared buffer, one object per buffer
//!
//! Every store of a factory appends its blobs to **one shared, bounded
//! buffer** ([`ObjectStoreFactoryBuilder::buffer_size`], default
//! [`DEFAULT_BUFFER_SIZE`]). When the next blob does not fit, the buffer is
//! written as a single object (one `put` of the whole buffer) named
//! `<prefix>/<run>/<n>.spill`, and each blob's key maps to
//! `(object, offset, len, crc32c)`. `take` reads the blob back with one
//! ranged `get`; a blob still in the unflushed buffer is served from memory
//! without any request. So a GiB of pages costs about `1 GiB / buffer_size`
//! puts plus one ranged get per spilled page. Blobs of at most
//! [`DEFAULT_INLINE_THRESHOLD`](crate::DEFAULT_INLINE_THRESHOLD) bytes (page
//! headers) stay on the store's heap, as in [`FileStore`](crate::FileStore),
//! so they do not cost a request each. A blob larger than the buffer is put
//! as an object of its own. Read-ahead is not done: each `take` of a spilled
//! blob is one request.
//!
//! An object is deleted as soon as every blob in it has been taken (or its
//! store dropped), and whatever is left is deleted when the last handle to
//! the factory (and its stores) is dropped. After a crash, nothing deletes
//! the objects: run [`ObjectStoreFactory::cleanup`] on the prefix (for
//! example at start-up, or from a lifecycle rule on the bucket).
//!
//! # Sync over async
//!
//! [`PageStore`] is synchronous and `object_store` is async, so each request
//! is run to completion with [`tokio::runtime::Handle::block_on`]:
//!
//! - [`ObjectStoreFactoryBuilder::runtime`] uses the application's runtime.
//!   `put`/`take` then **block the calling thread**, so the writer should
//!   not run on a worker of that runtime (it would stall the worker, and with
//!   a current-thread runtime could never finish): run it in
//!   [`tokio::task::spawn_blocking`] or a plain thread. Called from inside a
//!   runtime context anyway, the request runs on a helper thread
//!   (`Handle::block_on` would panic there); with a current-thread runtime
//!   that cannot work, and `put`/`take` fail with
//!   [`ObjectStoreSpillError::InsideRuntime`] instead of panicking.
//! - Without one, the factory owns a small multi-thread runtime (one worker).
//!   Multi-thread rather than current-thread because stores are used from
//!   many threads at once (the parallel column writer): a current-thread
//!   runtime is driven only by whoever is inside `block_on`, so HTTP
//!   connections of the pool would stall between calls, and concurrent
//!   `block_on`s would queue behind one another.
//!
//! # Memory
//!
//! The buffer's capacity is charged once to the optional
//! [`MemoryBudget`] when the factory is built (it fails with
//! [`Error::BudgetExhausted`](crate::Error::BudgetExhausted) if it does not
//! fit). Each store's [`PageStore::memory_size`] reports **its share**: the
//! bytes of its own blobs currently in the unflushed buffer plus its
//! heap-kept headers and key table, so the writer's sum over stores is the
//! live part of the buffer, never counted twice.
//!
//! The buffer lock is held while a full buffer is uploaded, so concurrent
//! stores wait for the upload rather than holding a second buffer.
//!
//! # Errors
//!
//! Failures are [`ObjectStoreSpillError`]s wrapped in
//! [`ParquetError::External`](parquet::errors::ParquetError::External); each
//! names the object path, offset and length, and a blob whose CRC32C does not
//! match fails `take` instead of corrupting the file.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};
use parquet::errors::ParquetError;
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

use crate::budget::{MemoryBudget, Reservation};
use crate::error::Error;
use crate::file::DEFAULT_INLINE_THRESHOLD;

/// Default size of the shared buffer, and so of each spill object: 8 MiB.
pub const DEFAULT_BUFFER_SIZE: usize = 8 << 20;

/// What went wrong talking to the object store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectStoreSpillError {
    /// Uploading a buffer as an object failed.
    #[error("parquet-spill: writing spill object {path} ({len} bytes) failed: {source}")]
    Put {
        /// The object.
        path: String,
        /// Its length.
        len: usize,
        /// The store's reason.
        source: object_store::Error,
    },
    /// Reading a blob back failed.
    #[error(
        "parquet-spill: reading {len} bytes at offset {offset} of spill object {path} failed: {source}"
    )]
    Get {
        /// The object.
        path: String,
        /// Offset of the blob in it.
        offset: u64,
        /// Length of the blob.
        len: usize,
        /// The store's reason.
        source: object_store::Error,
    },
    /// A ranged read came back with the wrong length.
    #[error(
        "parquet-spill: reading {len} bytes at offset {offset} of spill object {path} returned {got} bytes"
    )]
    ShortRead {
        /// The object.
        path: String,
        /// Offset of the blob in it.
        offset: u64,
        /// Length of the blob.
        len: usize,
        /// Bytes returned.
        got: usize,
    },
    /// A blob read back does not match what was written.
    #[error(
        "parquet-spill: checksum mismatch for the {len}-byte blob at offset {offset} of spill \
         object {path} (crc32c expected {expected:#010x}, found {actual:#010x}): the object was altered"
    )]
    Checksum {
        /// The object (or `<buffer>` for the unflushed buffer).
        path: String,
        /// Offset of the blob in it.
        offset: u64,
        /// Length of the blob.
        len: usize,
        /// CRC32C computed when the blob was written.
        expected: u32,
        /// CRC32C of the bytes read back.
        actual: u32,
    },
    /// `put`/`take` was called from inside the context of the
    /// current-thread runtime passed to the builder (which only its own
    /// `block_on` can drive), or a request's helper thread panicked.
    #[error(
        "parquet-spill: the object-store spill cannot block on its current-thread runtime from \
         inside that runtime; run the writer in tokio::task::spawn_blocking, a plain thread, or \
         pass a multi-thread runtime"
    )]
    InsideRuntime,
    /// The factory could not start its own runtime.
    #[error("parquet-spill: cannot start a tokio runtime for the object-store spill: {0}")]
    Runtime(std::io::Error),
}

impl From<ObjectStoreSpillError> for ParquetError {
    fn from(err: ObjectStoreSpillError) -> Self {
        ParquetError::External(Box::new(err))
    }
}

/// Request and byte counters of one factory (all its stores).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectStoreStats {
    /// Objects written (one request each).
    pub puts: u64,
    /// Ranged reads (one request each).
    pub gets: u64,
    /// Objects deleted.
    pub deletes: u64,
    /// Blobs served from the unflushed buffer or the heap, without a request.
    pub memory_hits: u64,
    /// Bytes appended to the buffer (blobs above the inline threshold).
    pub bytes_spilled: u64,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Objects written and not yet deleted.
    pub objects_live: u64,
}

enum Bridge {
    Handle(Handle),
    Owned(Runtime),
}

impl Bridge {
    fn handle(&self) -> &Handle {
        match self {
            Bridge::Handle(h) => h,
            Bridge::Owned(rt) => rt.handle(),
        }
    }

    /// Run `fut` to completion, blocking the calling thread.
    ///
    /// `Handle::block_on` panics on a thread inside a runtime context (an
    /// async task, or `spawn_blocking`, which cannot be told apart), so
    /// there the request runs on a short-lived helper thread instead. That
    /// cannot work for a current-thread runtime (only its own `block_on`
    /// drives its I/O), which gets [`ObjectStoreSpillError::InsideRuntime`].
    fn block_on<F: Future + Send>(&self, fut: F) -> Result<F::Output, ObjectStoreSpillError>
    where
        F::Output: Send,
    {
        let handle = self.handle();
        if Handle::try_current().is_err() {
            return Ok(handle.block_on(fut));
        }
        if handle.runtime_flavor() == RuntimeFlavor::CurrentThread {
            return Err(ObjectStoreSpillError::InsideRuntime);
        }
        std::thread::scope(|scope| {
            scope
                .spawn(|| handle.block_on(fut))
                .join()
                .map_err(|_| ObjectStoreSpillError::InsideRuntime)
        })
    }
}

/// Builds an [`ObjectStoreFactory`]; see [`ObjectStoreFactory::builder`].
pub struct ObjectStoreFactoryBuilder {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    buffer_size: usize,
    inline_threshold: usize,
    budget: Option<MemoryBudget>,
    runtime: Option<Handle>,
}

impl ObjectStoreFactoryBuilder {
    /// Size of the shared buffer and of each object (default [`DEFAULT_BUFFER_SIZE`]).
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes.max(1);
        self
    }

    /// Blobs up to this size stay on the store's heap (default
    /// [`DEFAULT_INLINE_THRESHOLD`](crate::DEFAULT_INLINE_THRESHOLD)).
    pub fn inline_threshold(mut self, bytes: usize) -> Self {
        self.inline_threshold = bytes;
        self
    }

    /// Charge the buffer's capacity to `budget`.
    pub fn budget(mut self, budget: MemoryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Run requests on this runtime instead of one the factory owns. `put`
    /// and `take` then block the calling thread, which must not be a worker
    /// of that runtime (use `spawn_blocking`).
    pub fn runtime(mut self, handle: Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Build the factory: reserve the buffer in the budget, start the runtime
    /// if none was given. No request is made until the buffer first fills.
    pub fn build(self) -> crate::Result<ObjectStoreFactory, ParquetError> {
        let reservation = match &self.budget {
            Some(b) => Some(b.reserve(self.buffer_size).map_err(ParquetError::from)?),
            None => None,
        };
        let bridge = match self.runtime {
            Some(h) => Bridge::Handle(h),
            None => Bridge::Owned(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("parquet-spill-object-store")
                    .enable_all()
                    .build()
                    .map_err(ObjectStoreSpillError::Runtime)?,
            ),
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
            shared: Arc::new(Shared {
                store: self.store,
                prefix: self.prefix,
                dir,
                bridge,
                buffer_size: self.buffer_size,
                inline_threshold: self.inline_threshold,
                _reservation: reservation,
                state: Mutex::new(State {
                    buffer: BytesMut::new(),
                    buffer_id: 0,
                    buffer_live: 0,
                    next_id: 1,
                    objects: HashMap::new(),
                }),
                buffer_gen: AtomicU64::new(0),
                counters: Counters::default(),
            }),
        })
    }
}

impl fmt::Debug for ObjectStoreFactoryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreFactoryBuilder")
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix.as_ref())
            .field("buffer_size", &self.buffer_size)
            .finish_non_exhaustive()
    }
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
    pub fn builder(store: Arc<dyn ObjectStore>, prefix: Path) -> ObjectStoreFactoryBuilder {
        ObjectStoreFactoryBuilder {
            store,
            prefix,
            buffer_size: DEFAULT_BUFFER_SIZE,
            inline_threshold: DEFAULT_INLINE_THRESHOLD,
            budget: None,
            runtime: None,
        }
    }

    /// A factory with the defaults and its own runtime.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path) -> crate::Result<Self, ParquetError> {
        Self::builder(store, prefix).build()
    }

    /// The prefix given to the builder.
    pub fn prefix(&self) -> &Path {
        &self.shared.prefix
    }

    /// Where this factory's objects go: `<prefix>/run-…`.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Request and byte counters so far.
    pub fn stats(&self) -> ObjectStoreStats {
        let c = &self.shared.counters;
        let puts = c.puts.load(Ordering::Relaxed);
        let deletes = c.deletes.load(Ordering::Relaxed);
        ObjectStoreStats {
            puts,
            gets: c.gets.load(Ordering::Relaxed),
            deletes,
            memory_hits: c.memory_hits.load(Ordering::Relaxed),
            bytes_spilled: c.bytes_spilled.load(Ordering::Relaxed),
            bytes_uploaded: c.bytes_uploaded.load(Ordering::Relaxed),
            objects_live: puts.saturating_sub(deletes),
        }
    }

    /// A store spilling into this factory's buffer and objects.
    pub fn create_store(&self) -> ObjectStoreStore {
        ObjectStoreStore {
            shared: Arc::clone(&self.shared),
            slots: Vec::new(),
            heap_live: 0,
            buffered: 0,
            buffered_in: 0,
        }
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
    pub async fn cleanup(
        store: &dyn ObjectStore,
        prefix: &Path,
    ) -> Result<usize, object_store::Error> {
        let paths = list_all(store, prefix).await?;
        let n = paths.len();
        for p in paths {
            match store.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
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

#[derive(Default)]
struct Counters {
    puts: AtomicU64,
    gets: AtomicU64,
    deletes: AtomicU64,
    memory_hits: AtomicU64,
    bytes_spilled: AtomicU64,
    bytes_uploaded: AtomicU64,
}

struct Shared {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    dir: Path,
    bridge: Bridge,
    buffer_size: usize,
    inline_threshold: usize,
    _reservation: Option<Reservation>,
    state: Mutex<State>,
    /// `State::buffer_id`, readable without the lock.
    buffer_gen: AtomicU64,
    counters: Counters,
}

struct State {
    /// Blobs not yet uploaded; becomes object `buffer_id`.
    buffer: BytesMut,
    buffer_id: u64,
    /// Blobs in `buffer` not yet taken.
    buffer_live: usize,
    next_id: u64,
    /// Uploaded objects: blobs not yet taken in each.
    objects: HashMap<u64, usize>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, id: u64) -> Path {
        self.dir.clone().join(format!("{id:08}.spill").as_str())
    }

    fn upload(&self, id: u64, data: Bytes) -> Result<(), ObjectStoreSpillError> {
        let path = self.path(id);
        let len = data.len();
        self.counters.puts.fetch_add(1, Ordering::Relaxed);
        self.bridge
            .block_on(self.store.put(&path, PutPayload::from(data)))?
            .map_err(|source| ObjectStoreSpillError::Put {
                path: path.to_string(),
                len,
                source,
            })?;
        self.counters
            .bytes_uploaded
            .fetch_add(len as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Upload the buffer (lock held) and start a new one.
    fn flush(&self, state: &mut State) -> Result<(), ObjectStoreSpillError> {
        let id = state.buffer_id;
        let data = std::mem::take(&mut state.buffer).freeze();
        let live = state.buffer_live;
        state.buffer_id = state.next_id;
        state.next_id += 1;
        self.buffer_gen.store(state.buffer_id, Ordering::Relaxed);
        state.buffer_live = 0;
        let result = self.upload(id, data.clone());
        // Reuse the allocation when the store did not keep a reference.
        state.buffer = match data.try_into_mut() {
            Ok(mut b) => {
                b.clear();
                b
            }
            Err(_) => BytesMut::with_capacity(self.buffer_size),
        };
        result?;
        state.objects.insert(id, live);
        Ok(())
    }

    fn delete(&self, id: u64) {
        let path = self.path(id);
        if let Ok(Ok(())) = self.bridge.block_on(self.store.delete(&path)) {
            self.counters.deletes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One blob of object `id` is gone; delete the object if it was the last.
    fn release(&self, state: &mut State, id: u64) -> Option<u64> {
        if id == state.buffer_id {
            state.buffer_live = state.buffer_live.saturating_sub(1);
            if state.buffer_live == 0 {
                // Nothing live in the buffer: start it over, no request.
                state.buffer.clear();
            }
            return None;
        }
        let live = state.objects.get_mut(&id)?;
        *live = live.saturating_sub(1);
        if *live == 0 {
            state.objects.remove(&id);
            return Some(id);
        }
        None
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let ids: Vec<u64> = self.lock().objects.keys().copied().collect();
        for id in ids {
            self.delete(id);
        }
        // Dropping a runtime from inside an async context panics; nothing
        // is running on ours any more, so shut it down without waiting.
        let handle = self.bridge.handle().clone();
        if let Bridge::Owned(rt) = std::mem::replace(&mut self.bridge, Bridge::Handle(handle)) {
            rt.shutdown_background();
        }
    }
}

#[derive(Clone, Copy)]
enum Slot {
    Taken,
    Empty,
    Heap,
    Remote {
        object: u64,
        offset: u64,
        len: usize,
        crc: u32,
    },
}

/// A [`PageStore`] writing into its [`ObjectStoreFactory`]'s shared buffer.
/// Dropping it releases whatever it did not take.
pub struct ObjectStoreStore {
    shared: Arc<Shared>,
    slots: Vec<(Slot, Option<Bytes>)>,
    heap_live: usize,
    /// Bytes of this store's untaken blobs in buffer `buffered_in`; they
    /// count only while that buffer is still the unflushed one.
    buffered: usize,
    buffered_in: u64,
}

impl fmt::Debug for ObjectStoreStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreStore")
            .field("dir", &self.shared.dir.as_ref())
            .field("blobs", &self.slots.len())
            .finish()
    }
}

impl ObjectStoreStore {
    fn put_remote(&mut self, value: &Bytes) -> Result<Slot, ObjectStoreSpillError> {
        let shared = &*self.shared;
        let crc = crc32c::crc32c(value);
        let len = value.len();
        shared
            .counters
            .bytes_spilled
            .fetch_add(len as u64, Ordering::Relaxed);
        let mut state = shared.lock();
        if len > shared.buffer_size {
            // Too big for the buffer: an object of its own.
            let id = state.next_id;
            state.next_id += 1;
            shared.upload(id, value.clone())?;
            state.objects.insert(id, 1);
            return Ok(Slot::Remote {
                object: id,
                offset: 0,
                len,
                crc,
            });
        }
        if state.buffer.len() + len > shared.buffer_size {
            shared.flush(&mut state)?;
        }
        if self.buffered_in != state.buffer_id {
            self.buffered = 0;
            self.buffered_in = state.buffer_id;
        }
        if state.buffer.capacity() == 0 {
            state.buffer.reserve(shared.buffer_size);
        }
        let offset = state.buffer.len() as u64;
        state.buffer.extend_from_slice(value);
        state.buffer_live += 1;
        self.buffered += len;
        Ok(Slot::Remote {
            object: state.buffer_id,
            offset,
            len,
            crc,
        })
    }

    fn take_remote(
        &mut self,
        object: u64,
        offset: u64,
        len: usize,
        crc: u32,
    ) -> Result<Bytes, ObjectStoreSpillError> {
        let shared = &*self.shared;
        let mut state = shared.lock();
        let (data, path) = if object == state.buffer_id {
            let start = offset as usize;
            let data = Bytes::copy_from_slice(&state.buffer[start..start + len]);
            if self.buffered_in == object {
                self.buffered = self.buffered.saturating_sub(len);
            }
            shared.counters.memory_hits.fetch_add(1, Ordering::Relaxed);
            (data, "<buffer>".to_string())
        } else {
            drop(state);
            let path = shared.path(object);
            shared.counters.gets.fetch_add(1, Ordering::Relaxed);
            let range = offset..offset + len as u64;
            let data = shared
                .bridge
                .block_on(shared.store.get_range(&path, range))?
                .map_err(|source| ObjectStoreSpillError::Get {
                    path: path.to_string(),
                    offset,
                    len,
                    source,
                })?;
            if data.len() != len {
                return Err(ObjectStoreSpillError::ShortRead {
                    path: path.to_string(),
                    offset,
                    len,
                    got: data.len(),
                });
            }
            state = shared.lock();
            (data, path.to_string())
        };
        let actual = crc32c::crc32c(&data);
        if actual != crc {
            return Err(ObjectStoreSpillError::Checksum {
                path,
                offset,
                len,
                expected: crc,
                actual,
            });
        }
        let gone = shared.release(&mut state, object);
        drop(state);
        if let Some(id) = gone {
            shared.delete(id);
        }
        Ok(data)
    }
}

impl PageStore for ObjectStoreStore {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        let key = PageKey::new(self.slots.len() as u64);
        let entry = if value.is_empty() {
            (Slot::Empty, None)
        } else if value.len() <= self.shared.inline_threshold {
            self.heap_live += value.len();
            (Slot::Heap, Some(value))
        } else {
            (self.put_remote(&value)?, None)
        };
        self.slots.push(entry);
        Ok(key)
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        let raw = key.get();
        let Some(entry) = usize::try_from(raw)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
        else {
            return Err(Error::UnknownKey { key: raw }.into());
        };
        let (slot, heap) = std::mem::replace(entry, (Slot::Taken, None));
        match slot {
            Slot::Taken => Err(Error::UnknownKey { key: raw }.into()),
            Slot::Empty => Ok(Bytes::new()),
            Slot::Heap => {
                let data = heap.unwrap_or_default();
                self.heap_live -= data.len();
                self.shared
                    .counters
                    .memory_hits
                    .fetch_add(1, Ordering::Relaxed);
                Ok(data)
            }
            Slot::Remote {
                object,
                offset,
                len,
                crc,
            } => Ok(self.take_remote(object, offset, len, crc)?),
        }
    }

    fn memory_size(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<(Slot, Option<Bytes>)>()
            + self.heap_live
            + if self.buffered_in == self.shared.buffer_gen.load(Ordering::Relaxed) {
                self.buffered
            } else {
                0
            }
    }
}

impl Drop for ObjectStoreStore {
    fn drop(&mut self) {
        let shared = Arc::clone(&self.shared);
        let mut gone = Vec::new();
        {
            let mut state = shared.lock();
            for (slot, _) in self.slots.drain(..) {
                if let Slot::Remote { object, .. } = slot {
                    gone.extend(shared.release(&mut state, object));
                }
            }
        }
        for id in gone {
            shared.delete(id);
        }
    }
}
