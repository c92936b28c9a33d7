//! [`ObjectStoreStore`]: one column's view of the shared buffer and
//! objects, and its read-ahead.
//!
//! Why read-ahead: when a row group is flushed, parquet takes a column's
//! pages one after another, in the order they were put (the dictionary page,
//! put last, comes first). Fetched one by one, that is a round trip per
//! page. So a `take` that has to go to the object store also fetches this
//! store's other untaken blobs, next ones first (up to
//! [`read_ahead`](super::ObjectStoreFactoryBuilder::read_ahead) bytes, from
//! a pool all stores of the factory share), merging blobs that lie close
//! together in one object into one ranged `get` and issuing the `get`s
//! concurrently. The blobs fetched ahead are kept, checksummed at `take` as
//! usual, and counted in [`PageStore::memory_size`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_writer::{PageKey, PageStore};

use super::shared::{Counters, Locked, Shared};
use crate::blobs::{Blobs, Keep, Large, Taken};
use crate::error::Error;

/// Blobs closer than this in one object are fetched with one `get`, the gap
/// included (it is read and dropped).
const MAX_GAP: u64 = 64 << 10;
/// `get`s of one read-ahead running at once.
const CONCURRENT_GETS: usize = 8;
/// Slots looked at when planning a read-ahead, bounding the work per `take`.
const MAX_SCAN: usize = 4096;

/// What a store keeps per spilled blob until it is dropped: its entry,
/// growth included. The planner charges it per page.
pub(crate) const SLOT: usize = Blobs::<Blob>::entry_slot();
// A 32-byte entry (24-byte blob and the tag), a quarter more for growth
// (64-bit targets: elsewhere `u64` may be aligned to 4 bytes).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(SLOT == 40, "the object store's entry grew");

/// Where a spilled blob is, and its CRC32C.
#[derive(Clone, Copy, Debug)]
struct Blob {
    object: u64,
    offset: u64,
    /// A `u32`, so the entry is 32 bytes, not 40 (pages are far smaller).
    len: u32,
    crc: u32,
}

impl Blob {
    fn len(self) -> usize {
        self.len as usize
    }
}

/// One ranged `get`: `start..end` of `object`, holding `members` (slot
/// index, blob) in offset order.
struct Fetch {
    object: u64,
    start: u64,
    end: u64,
    members: Vec<(usize, Blob)>,
}

/// A [`PageStore`] writing into its [`ObjectStoreFactory`](super::ObjectStoreFactory)'s
/// shared buffer. Dropping it releases whatever it did not take.
///
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use parquet_spill::{ObjectStoreFactory, PageStore};
///
/// let factory = ObjectStoreFactory::builder(
///     Arc::new(object_store::memory::InMemory::new()),
///     "spill".into(),
/// )
/// .buffer_size(4096)
/// .build()?;
/// let mut store = factory.create_store();
/// let keys: Vec<_> = (0..8u8)
///     .map(|i| store.put(Bytes::from(vec![i; 1000])))
///     .collect::<Result<_, _>>()?;
/// for (i, key) in keys.into_iter().enumerate() {
///     assert_eq!(store.take(key)?, vec![i as u8; 1000]);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ObjectStoreStore {
    shared: Arc<Shared>,
    blobs: Blobs<Blob>,
    /// Bytes of this store's untaken blobs per object still in memory (the
    /// buffer or an upload in flight), oldest first.
    in_memory: Vec<(u64, usize)>,
    /// Blobs fetched ahead, by slot index.
    ahead: HashMap<usize, Bytes>,
    ahead_bytes: usize,
}

impl fmt::Debug for ObjectStoreStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreStore")
            .field("dir", &self.shared.dir.as_ref())
            .field("blobs", &self.blobs)
            .field("read_ahead", &self.ahead.len())
            .finish()
    }
}

impl ObjectStoreStore {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        let keep = Keep {
            inline_threshold: shared.inline_threshold,
            large: Large::Never,
            arena_metered: false,
        };
        Self {
            blobs: Blobs::new(keep, Arc::clone(&shared.heap)),
            shared,
            in_memory: Vec::new(),
            ahead: HashMap::new(),
            ahead_bytes: 0,
        }
    }

    fn put_remote(&mut self, value: &Bytes) -> Result<Blob, Error> {
        let len =
            u32::try_from(value.len()).map_err(|_| Error::BlobTooLarge { len: value.len() })?;
        let crc = crc32c::crc32c(value);
        let placed = self.shared.append(value)?;
        if placed.in_memory {
            let first = self.shared.first_in_memory();
            self.in_memory.retain(|&(id, _)| id >= first);
            match self.in_memory.last_mut() {
                Some((id, bytes)) if *id == placed.object => *bytes += value.len(),
                _ => self.in_memory.push((placed.object, value.len())),
            }
        }
        Ok(Blob {
            object: placed.object,
            offset: placed.offset,
            len,
            crc,
        })
    }

    fn take_remote(&mut self, index: usize, blob: Blob) -> Result<Bytes, Error> {
        let result = self.read_blob(index, blob);
        // Taken, or failed to read: either way no longer needed (a failed
        // take fails the writer), so its object can go once the rest are.
        self.shared.release([blob.object]);
        result
    }

    fn read_blob(&mut self, index: usize, blob: Blob) -> Result<Bytes, Error> {
        let shared = Arc::clone(&self.shared);
        let data = if let Some(data) = self.ahead.remove(&index) {
            self.ahead_bytes -= data.len();
            shared.read_ahead_pool.release(data.len());
            Counters::add(&shared.counters.read_ahead_hits, 1);
            data
        } else if let Some(data) = shared.read_memory(blob.object, blob.offset, blob.len()) {
            if let Some((_, bytes)) = self.in_memory.iter_mut().find(|e| e.0 == blob.object) {
                *bytes = bytes.saturating_sub(blob.len());
            }
            data
        } else {
            let locked = shared.locked();
            if locked.failed(blob.object) {
                return Err(Error::ObjectLost {
                    path: shared.path(blob.object).to_string(),
                    offset: blob.offset,
                    len: blob.len(),
                });
            }
            let extra = self.plan_read_ahead(&locked, index);
            drop(locked);
            self.fetch(index, blob, extra)?
        };
        let actual = crc32c::crc32c(&data);
        if actual != blob.crc {
            return Err(Error::ObjectChecksum {
                path: shared.path(blob.object).to_string(),
                offset: blob.offset,
                len: blob.len(),
                expected: blob.crc,
                actual,
            });
        }
        Ok(data)
    }

    /// The untaken blobs in uploaded objects after slot `index`, then those
    /// before it, in put order, up to the read-ahead the pool can give now.
    /// Wrapping around matters: parquet puts a column's dictionary page
    /// last (when the column closes) but takes it first.
    fn plan_read_ahead(&self, locked: &Locked<'_>, index: usize) -> Vec<(usize, Blob)> {
        let quota = self.shared.read_ahead_pool.available();
        let mut total = 0;
        let mut extra = Vec::new();
        let order = (index + 1..self.blobs.len()).chain(0..index);
        for i in order.take(MAX_SCAN) {
            let Some(blob) = self.blobs.stored(i) else {
                continue;
            };
            if self.ahead.contains_key(&i) || !locked.is_uploaded(blob.object) {
                continue;
            }
            if total + blob.len() > quota {
                break;
            }
            total += blob.len();
            extra.push((i, *blob));
        }
        extra
    }

    /// Fetch `blob` (slot `index`) and, if the pool has room, the blobs in
    /// `extra` into the read-ahead.
    fn fetch(
        &mut self,
        index: usize,
        blob: Blob,
        extra: Vec<(usize, Blob)>,
    ) -> Result<Bytes, Error> {
        let shared = Arc::clone(&self.shared);
        let pool = &shared.read_ahead_pool;
        // The blob itself goes to the caller, as with any store; everything
        // else fetched (blobs ahead, and the gaps merged between them) is
        // charged. Gaps can make that more than the pool has: read fewer
        // blobs ahead until it fits.
        let mut extra = extra;
        let (fetches, charged) = loop {
            let fetches = group(index, blob, &extra);
            let fetched: u64 = fetches.iter().map(|f| f.end - f.start).sum();
            let charge = usize::try_from(fetched)
                .unwrap_or(usize::MAX)
                .saturating_sub(blob.len());
            if charge == 0 || pool.try_reserve(charge) {
                break (fetches, charge);
            }
            extra.truncate(extra.len() / 2);
        };
        let mut blobs = match self.run(&fetches) {
            Ok(blobs) => blobs,
            Err(err) => {
                pool.release(charged);
                return Err(err);
            }
        };
        let wanted = blobs.iter().position(|(i, _)| *i == index);
        let Some(data) = wanted.map(|pos| blobs.swap_remove(pos).1) else {
            pool.release(charged);
            return Err(Error::ObjectShortRead {
                path: shared.path(blob.object).to_string(),
                offset: blob.offset,
                len: blob.len(),
                got: 0,
            });
        };
        // Blobs kept ahead stay charged until taken; the gaps are freed.
        let kept: usize = blobs.iter().map(|(_, b)| b.len()).sum();
        pool.release(charged.saturating_sub(kept));
        for (i, bytes) in blobs {
            self.ahead_bytes += bytes.len();
            self.ahead.insert(i, bytes);
        }
        Ok(data)
    }

    /// Issue `fetches` (concurrently) and cut them into blobs by slot index.
    fn run(&self, fetches: &[Fetch]) -> Result<Vec<(usize, Bytes)>, Error> {
        let shared = &*self.shared;
        let requests = fetches.iter().map(|f| {
            let path = shared.path(f.object);
            let range = f.start..f.end;
            async move {
                let got = shared.store.get_range(&path, range).await;
                (path, got)
            }
        });
        Counters::add(&shared.counters.gets, fetches.len() as u64);
        Counters::add(&shared.counters.get_rounds, 1);
        let results: Vec<_> = shared.bridge.block_on(
            stream::iter(requests)
                .buffered(CONCURRENT_GETS)
                .collect::<Vec<_>>(),
        )?;
        let mut blobs = Vec::new();
        for (fetch, (path, got)) in fetches.iter().zip(results) {
            let len = (fetch.end - fetch.start) as usize;
            let data = got.map_err(|source| Error::ObjectGet {
                path: path.to_string(),
                offset: fetch.start,
                len,
                source,
            })?;
            if data.len() != len {
                return Err(Error::ObjectShortRead {
                    path: path.to_string(),
                    offset: fetch.start,
                    len,
                    got: data.len(),
                });
            }
            Counters::add(&shared.counters.bytes_read, len as u64);
            if let [(i, _)] = fetch.members[..] {
                blobs.push((i, data));
                continue;
            }
            for &(i, blob) in &fetch.members {
                // A copy, so the fetched range (gaps, other blobs) is freed
                // now rather than when the last blob cut from it is.
                let start = (blob.offset - fetch.start) as usize;
                blobs.push((i, Bytes::copy_from_slice(&data[start..start + blob.len()])));
            }
        }
        Ok(blobs)
    }
}

/// Group `blob` (slot `index`) and `extra` into ranged `get`s: per object,
/// in offset order, merging blobs at most [`MAX_GAP`] apart.
fn group(index: usize, blob: Blob, extra: &[(usize, Blob)]) -> Vec<Fetch> {
    let mut all: Vec<(usize, Blob)> = Vec::with_capacity(extra.len() + 1);
    all.push((index, blob));
    all.extend_from_slice(extra);
    all.sort_by_key(|(_, b)| (b.object, b.offset));
    let mut fetches: Vec<Fetch> = Vec::new();
    for (i, b) in all {
        let end = b.offset + u64::from(b.len);
        match fetches.last_mut() {
            Some(f) if f.object == b.object && b.offset <= f.end + MAX_GAP => {
                f.end = f.end.max(end);
                f.members.push((i, b));
            }
            _ => fetches.push(Fetch {
                object: b.object,
                start: b.offset,
                end,
                members: vec![(i, b)],
            }),
        }
    }
    fetches
}

impl PageStore for ObjectStoreStore {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        if let Some(key) = self.blobs.try_keep(&value)? {
            return Ok(key);
        }
        let blob = self.put_remote(&value)?;
        Ok(self.blobs.push_stored(blob))
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        match self.blobs.take(key)? {
            Taken::Bytes(data) => {
                Counters::add(&self.shared.counters.memory_hits, 1);
                Ok(data)
            }
            Taken::Stored(blob) => {
                // Keys are indexes into the table (minted by `Blobs`).
                let index = key.get() as usize;
                Ok(self.take_remote(index, blob)?)
            }
        }
    }

    fn memory_size(&self) -> usize {
        let first = self.shared.first_in_memory();
        let buffered: usize = self
            .in_memory
            .iter()
            .filter(|&&(id, _)| id >= first)
            .map(|&(_, bytes)| bytes)
            .sum();
        self.blobs.memory_size()
            + self.in_memory.capacity() * std::mem::size_of::<(u64, usize)>()
            + self.ahead.capacity() * (std::mem::size_of::<(usize, Bytes)>() + 1)
            + buffered
            + self.ahead_bytes
    }
}

impl Drop for ObjectStoreStore {
    fn drop(&mut self) {
        self.shared.read_ahead_pool.release(self.ahead_bytes);
        let objects: Vec<u64> = self.blobs.drain_stored().iter().map(|b| b.object).collect();
        self.shared.release(objects);
    }
}
