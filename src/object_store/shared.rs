//! The state all stores of one factory share: the buffer being filled, the
//! objects uploading in the background, and the uploaded objects with how
//! many of their blobs are still untaken.
//!
//! Why uploads run in the background: a `put` of a full buffer is the one
//! slow request on the write path. Started as a task and joined only when
//! the next buffer is full too, it overlaps with the encoders filling that
//! next buffer. Its bytes stay in memory until it is joined, so blobs taken
//! meanwhile are served without a request, and memory stays bounded by
//! `buffer_size * (1 + uploads_in_flight)`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, PutResult};
use tokio::task::JoinHandle;

use super::bridge::Bridge;
use super::ObjectStoreSpillError;
use crate::budget::{MemoryBudget, Reservation};

/// Where a blob was put: object `object` at `offset`. `in_memory` when it
/// went into the shared buffer (rather than into an object of its own).
pub(super) struct Placed {
    pub object: u64,
    pub offset: u64,
    pub in_memory: bool,
}

/// Request and byte counters of one factory.
#[derive(Default)]
pub(super) struct Counters {
    pub puts: AtomicU64,
    pub gets: AtomicU64,
    pub get_rounds: AtomicU64,
    pub deletes: AtomicU64,
    pub memory_hits: AtomicU64,
    pub read_ahead_hits: AtomicU64,
    pub upload_waits: AtomicU64,
    pub bytes_spilled: AtomicU64,
    pub bytes_uploaded: AtomicU64,
    pub bytes_read: AtomicU64,
    pub objects_live: AtomicU64,
}

impl Counters {
    pub(super) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A full buffer being uploaded as object `id`.
struct Upload {
    id: u64,
    data: Bytes,
    /// Blobs in it not yet taken.
    live: usize,
    task: JoinHandle<object_store::Result<PutResult>>,
}

struct State {
    /// Blobs not yet uploaded; becomes object `buffer_id`.
    buffer: BytesMut,
    buffer_id: u64,
    /// Blobs in `buffer` not yet taken.
    buffer_live: usize,
    next_id: u64,
    /// Background uploads, oldest first (joined in that order).
    uploading: VecDeque<Upload>,
    /// Uploaded objects: blobs not yet taken in each.
    objects: HashMap<u64, usize>,
    /// Objects whose upload failed (their untaken blobs are lost).
    failed: HashSet<u64>,
    /// An emptied buffer allocation to fill next.
    spare: Option<BytesMut>,
}

pub(super) struct Shared {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    pub dir: Path,
    pub bridge: Bridge,
    pub buffer_size: usize,
    pub inline_threshold: usize,
    /// Full buffers that may upload while the next one fills (0: upload in `put`).
    pub uploads_in_flight: usize,
    /// Read-ahead bytes one `take` may fetch beyond its own blob.
    pub read_ahead: usize,
    /// What all stores hold read ahead, bounded by `read_ahead`.
    pub read_ahead_pool: MemoryBudget,
    pub _reservation: Option<Reservation>,
    state: Mutex<State>,
    /// Lowest object id whose bytes are still in memory (the oldest upload
    /// in flight, or the buffer): readable without the lock.
    first_in_memory: AtomicU64,
    pub counters: Counters,
}

/// A view of the state for one store's read-ahead planning.
pub(super) struct Locked<'a>(MutexGuard<'a, State>);

impl Locked<'_> {
    /// Whether object `id` is uploaded (and not yet deleted).
    pub(super) fn is_uploaded(&self, id: u64) -> bool {
        self.0.objects.contains_key(&id)
    }

    /// Whether object `id` failed to upload.
    pub(super) fn failed(&self, id: u64) -> bool {
        self.0.failed.contains(&id)
    }
}

impl Shared {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        store: Arc<dyn ObjectStore>,
        prefix: Path,
        dir: Path,
        bridge: Bridge,
        buffer_size: usize,
        inline_threshold: usize,
        uploads_in_flight: usize,
        read_ahead: usize,
        reservation: Option<Reservation>,
    ) -> Self {
        Self {
            store,
            prefix,
            dir,
            bridge,
            buffer_size,
            inline_threshold,
            uploads_in_flight,
            read_ahead,
            read_ahead_pool: MemoryBudget::new(read_ahead),
            _reservation: reservation,
            state: Mutex::new(State {
                buffer: BytesMut::new(),
                buffer_id: 0,
                buffer_live: 0,
                next_id: 1,
                uploading: VecDeque::new(),
                objects: HashMap::new(),
                failed: HashSet::new(),
                spare: None,
            }),
            first_in_memory: AtomicU64::new(0),
            counters: Counters::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn locked(&self) -> Locked<'_> {
        Locked(self.lock())
    }

    pub(super) fn path(&self, id: u64) -> Path {
        self.dir.clone().join(format!("{id:08}.spill").as_str())
    }

    pub(super) fn first_in_memory(&self) -> u64 {
        self.first_in_memory.load(Ordering::Relaxed)
    }

    fn note_first_in_memory(&self, state: &State) {
        let first = state.uploading.front().map_or(state.buffer_id, |u| u.id);
        self.first_in_memory.store(first, Ordering::Relaxed);
    }

    /// Append `value` to the buffer (uploading the buffer first if full), or
    /// upload it as an object of its own if it is larger than the buffer.
    pub(super) fn append(&self, value: &Bytes) -> Result<Placed, ObjectStoreSpillError> {
        Counters::add(&self.counters.bytes_spilled, value.len() as u64);
        let mut state = self.lock();
        if value.len() > self.buffer_size {
            let id = state.next_id;
            state.next_id += 1;
            self.upload_now(id, value.clone())?;
            state.objects.insert(id, 1);
            return Ok(Placed {
                object: id,
                offset: 0,
                in_memory: false,
            });
        }
        if state.buffer.len() + value.len() > self.buffer_size {
            self.seal(&mut state)?;
        }
        if state.buffer.capacity() == 0 {
            state.buffer = state
                .spare
                .take()
                .unwrap_or_else(|| BytesMut::with_capacity(self.buffer_size));
        }
        let offset = state.buffer.len() as u64;
        state.buffer.extend_from_slice(value);
        state.buffer_live += 1;
        Ok(Placed {
            object: state.buffer_id,
            offset,
            in_memory: true,
        })
    }

    /// Upload the full buffer as object `buffer_id` and start the next one.
    fn seal(&self, state: &mut State) -> Result<(), ObjectStoreSpillError> {
        if self.uploads_in_flight == 0 {
            let id = state.buffer_id;
            let data = std::mem::take(&mut state.buffer).freeze();
            let live = std::mem::take(&mut state.buffer_live);
            self.next_buffer(state);
            let result = self.upload_now(id, data.clone());
            state.spare = reusable(data);
            result?;
            state.objects.insert(id, live);
            return Ok(());
        }
        // Join finished uploads, then wait for the oldest while at the
        // limit: this is where a writer outrunning the store slows down.
        // An upload's failure is reported here, before the buffer changes.
        let mut gone = Vec::new();
        let mut result = Ok(());
        while result.is_ok()
            && state
                .uploading
                .front()
                .is_some_and(|u| u.task.is_finished())
        {
            result = self.join_oldest(state, &mut gone);
        }
        while result.is_ok() && state.uploading.len() >= self.uploads_in_flight {
            Counters::add(&self.counters.upload_waits, 1);
            result = self.join_oldest(state, &mut gone);
        }
        for id in gone {
            self.delete(id);
        }
        result?;
        let id = state.buffer_id;
        let data = std::mem::take(&mut state.buffer).freeze();
        let live = std::mem::take(&mut state.buffer_live);
        Counters::add(&self.counters.puts, 1);
        let store = Arc::clone(&self.store);
        let path = self.path(id);
        let payload = PutPayload::from(data.clone());
        let task = self
            .bridge
            .spawn(async move { store.put(&path, payload).await });
        state.uploading.push_back(Upload {
            id,
            data,
            live,
            task,
        });
        self.next_buffer(state);
        Ok(())
    }

    fn next_buffer(&self, state: &mut State) {
        state.buffer_id = state.next_id;
        state.next_id += 1;
        self.note_first_in_memory(state);
    }

    /// Wait for the oldest background upload.
    fn join_oldest(
        &self,
        state: &mut State,
        gone: &mut Vec<u64>,
    ) -> Result<(), ObjectStoreSpillError> {
        self.join_at(state, 0, gone)
    }

    /// Wait for background upload number `index`; an object whose blobs
    /// were all taken meanwhile goes into `gone` (to delete once the lock is
    /// released).
    fn join_at(
        &self,
        state: &mut State,
        index: usize,
        gone: &mut Vec<u64>,
    ) -> Result<(), ObjectStoreSpillError> {
        let Some(upload) = state.uploading.remove(index) else {
            return Ok(());
        };
        self.note_first_in_memory(state);
        let len = upload.data.len();
        let outcome = match self.bridge.block_on(upload.task) {
            Ok(Ok(Ok(_))) => Ok(()),
            Ok(Ok(Err(source))) => Err(source),
            Ok(Err(join)) => Err(object_store::Error::Generic {
                store: "parquet-spill",
                source: Box::new(join),
            }),
            Err(bridge) => Err(object_store::Error::Generic {
                store: "parquet-spill",
                source: Box::new(bridge),
            }),
        };
        state.spare = reusable(upload.data);
        match outcome {
            Ok(()) => {
                self.uploaded(len);
                if upload.live == 0 {
                    gone.push(upload.id);
                } else {
                    state.objects.insert(upload.id, upload.live);
                }
                Ok(())
            }
            Err(source) => {
                if upload.live > 0 {
                    state.failed.insert(upload.id);
                }
                Err(ObjectStoreSpillError::Put {
                    path: self.path(upload.id).to_string(),
                    len,
                    source,
                })
            }
        }
    }

    fn uploaded(&self, len: usize) {
        Counters::add(&self.counters.bytes_uploaded, len as u64);
        Counters::add(&self.counters.objects_live, 1);
    }

    /// Put `data` as object `id`, waiting for it.
    fn upload_now(&self, id: u64, data: Bytes) -> Result<(), ObjectStoreSpillError> {
        let path = self.path(id);
        let len = data.len();
        Counters::add(&self.counters.puts, 1);
        self.bridge
            .block_on(self.store.put(&path, PutPayload::from(data)))?
            .map_err(|source| ObjectStoreSpillError::Put {
                path: path.to_string(),
                len,
                source,
            })?;
        self.uploaded(len);
        Ok(())
    }

    /// A copy of the blob at `offset..offset + len` of object `id` if that
    /// object is still in memory (the buffer or an upload in flight).
    pub(super) fn read_memory(&self, id: u64, offset: u64, len: usize) -> Option<Bytes> {
        let state = self.lock();
        let data: &[u8] = if id == state.buffer_id {
            &state.buffer
        } else {
            &state.uploading.iter().find(|u| u.id == id)?.data
        };
        let start = usize::try_from(offset).ok()?;
        let blob = data.get(start..start.checked_add(len)?)?;
        Counters::add(&self.counters.memory_hits, 1);
        Some(Bytes::copy_from_slice(blob))
    }

    /// One blob of each object in `ids` is gone for good (taken, or its
    /// store dropped); delete objects that have none left.
    pub(super) fn release(&self, ids: impl IntoIterator<Item = u64>) {
        let mut gone = Vec::new();
        {
            let mut state = self.lock();
            for id in ids {
                if id == state.buffer_id {
                    state.buffer_live = state.buffer_live.saturating_sub(1);
                    if state.buffer_live == 0 {
                        // Nothing live in the buffer: start it over, no request.
                        state.buffer.clear();
                    }
                } else if let Some(index) = state.uploading.iter().position(|u| u.id == id) {
                    let upload = &mut state.uploading[index];
                    upload.live = upload.live.saturating_sub(1);
                    if upload.live == 0 {
                        // Wait for it, to delete it now rather than later;
                        // had it failed, no blob of it is needed any more.
                        let _ = self.join_at(&mut state, index, &mut gone);
                    }
                } else if let Some(live) = state.objects.get_mut(&id) {
                    *live = live.saturating_sub(1);
                    if *live == 0 {
                        state.objects.remove(&id);
                        gone.push(id);
                    }
                }
            }
        }
        for id in gone {
            self.delete(id);
        }
    }

    fn delete(&self, id: u64) {
        let path = self.path(id);
        if let Ok(Ok(())) = self.bridge.block_on(self.store.delete(&path)) {
            Counters::add(&self.counters.deletes, 1);
            self.counters.objects_live.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The allocation behind `data` for the next buffer, if nobody else holds it.
fn reusable(data: Bytes) -> Option<BytesMut> {
    let mut buffer = data.try_into_mut().ok()?;
    buffer.clear();
    Some(buffer)
}

impl Drop for Shared {
    fn drop(&mut self) {
        let mut gone = Vec::new();
        {
            let mut state = self.lock();
            while !state.uploading.is_empty() {
                // Wait for every upload, so nothing is written after the
                // deletes below; a failed one left no object.
                let _ = self.join_oldest(&mut state, &mut gone);
            }
            gone.extend(state.objects.drain().map(|(id, _)| id));
        }
        for id in gone {
            self.delete(id);
        }
        self.bridge.shutdown();
    }
}
