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
//!
//! No request is ever awaited while the state lock is held: a thread that
//! joins an upload takes its task out, unlocks, waits, and locks again to
//! record the outcome; other threads needing the same upload wait on a
//! condition variable. So one slow request never stalls the stores that
//! only need memory, and a runtime worker blocked on the lock can never be
//! the one an upload's task is queued on.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, PutResult};
use tokio::task::JoinHandle;

use super::bridge::Bridge;
use crate::budget::{MemoryBudget, Reservation};
use crate::error::Error;
use crate::metrics::HeapGauge;

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

type PutTask = JoinHandle<object_store::Result<PutResult>>;

/// A full buffer being uploaded as object `id`.
struct Upload {
    id: u64,
    data: Bytes,
    /// Blobs in it not yet taken.
    live: usize,
    /// `None` while some thread is waiting for it (outside the lock).
    task: Option<PutTask>,
}

struct State {
    /// Blobs not yet uploaded; becomes object `buffer_id`.
    buffer: BytesMut,
    buffer_id: u64,
    /// Blobs in `buffer` not yet taken.
    buffer_live: usize,
    next_id: u64,
    /// Background uploads, oldest first.
    uploading: VecDeque<Upload>,
    /// Uploaded objects: blobs not yet taken in each.
    objects: HashMap<u64, usize>,
    /// Objects whose upload failed (their untaken blobs are lost).
    failed: HashSet<u64>,
    /// Objects to delete again on drop: `(id, uploaded)` for failed deletes
    /// (`true`) and failed uploads, which may have left an object (`false`).
    undeleted: Vec<(u64, bool)>,
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
    /// Blobs the stores keep on the heap (at most the inline threshold each).
    pub heap: Arc<HeapGauge>,
    /// Full buffers that may upload while the next one fills (0: the `put`
    /// that seals a buffer waits for its upload, and others wait with it).
    pub uploads_in_flight: usize,
    /// What all stores hold read ahead; its limit is the builder's
    /// `read_ahead`, also the most one `take` fetches beyond its own blob.
    pub read_ahead_pool: MemoryBudget,
    pub _reservation: Option<Reservation>,
    state: Mutex<State>,
    /// Signalled whenever an upload's outcome is recorded.
    joined: Condvar,
    /// No object below this id is in memory: the oldest upload in flight,
    /// or the buffer. Readable without the lock.
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
            heap: Arc::default(),
            uploads_in_flight,
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
                undeleted: Vec::new(),
                spare: None,
            }),
            joined: Condvar::new(),
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
    pub(super) fn append(&self, value: &Bytes) -> Result<Placed, Error> {
        Counters::add(&self.counters.bytes_spilled, value.len() as u64);
        if value.len() > self.buffer_size {
            let id = {
                let mut state = self.lock();
                state.next_id += 1;
                state.next_id - 1
            };
            // Nobody can ask for this blob before `put` returns its key.
            self.upload_now(id, value.clone())?;
            self.lock().objects.insert(id, 1);
            return Ok(Placed {
                object: id,
                offset: 0,
                in_memory: false,
            });
        }
        let mut state = self.lock();
        loop {
            // Joins below unlock; re-check everything after each.
            let front = state
                .uploading
                .front()
                .map(|u| (u.id, u.task.as_ref().is_some_and(|t| t.is_finished())));
            if let (0, Some((id, _))) = (self.uploads_in_flight, front) {
                // Synchronous mode: nobody fills a buffer while one uploads.
                state = self.join(state, id)?;
                continue;
            }
            if state.buffer.len() + value.len() <= self.buffer_size {
                break;
            }
            // Make room for the full buffer's upload: join finished uploads,
            // and wait for the oldest while at the limit. An upload's
            // failure is reported here, before the buffer changes.
            let at_limit = state.uploading.len() >= self.uploads_in_flight.max(1);
            if let Some((id, finished)) = front {
                if finished || at_limit {
                    if !finished {
                        Counters::add(&self.counters.upload_waits, 1);
                    }
                    state = self.join(state, id)?;
                    continue;
                }
            }
            let id = self.seal(&mut state);
            if self.uploads_in_flight == 0 {
                state = self.join(state, id)?;
            }
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

    /// Start uploading the buffer as object `buffer_id`, start the next
    /// buffer, and return the sealed object's id.
    fn seal(&self, state: &mut State) -> u64 {
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
            task: Some(task),
        });
        state.buffer_id = state.next_id;
        state.next_id += 1;
        self.note_first_in_memory(state);
        id
    }

    /// Wait until upload `id` is finished and recorded (by this thread or
    /// another), without holding the lock while waiting. Returns the lock;
    /// fails if this thread found the upload failed.
    fn join<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        id: u64,
    ) -> Result<MutexGuard<'a, State>, Error> {
        loop {
            let Some(upload) = state.uploading.iter_mut().find(|u| u.id == id) else {
                return Ok(state); // recorded already
            };
            let Some(task) = upload.task.take() else {
                // Another thread is waiting for it: wait for its outcome.
                state = self
                    .bridge
                    .blocking(|| self.joined.wait(state).unwrap_or_else(|p| p.into_inner()));
                continue;
            };
            drop(state);
            let outcome = match self.bridge.block_on(task) {
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
            let mut state = self.lock();
            let result = self.record(&mut state, id, outcome);
            self.joined.notify_all();
            return match result {
                Ok(None) => Ok(state),
                Ok(Some(gone)) => {
                    drop(state);
                    self.delete(gone, true);
                    Ok(self.lock())
                }
                Err(err) => Err(err),
            };
        }
    }

    /// Record upload `id`'s outcome; `Some(id)` if the object is to be
    /// deleted at once (all its blobs were taken while it uploaded).
    fn record(
        &self,
        state: &mut State,
        id: u64,
        outcome: object_store::Result<()>,
    ) -> Result<Option<u64>, Error> {
        let Some(index) = state.uploading.iter().position(|u| u.id == id) else {
            return Ok(None);
        };
        let Some(upload) = state.uploading.remove(index) else {
            return Ok(None);
        };
        self.note_first_in_memory(state);
        let len = upload.data.len();
        if state.spare.is_none() {
            state.spare = reusable(upload.data);
        }
        match outcome {
            Ok(()) => {
                Counters::add(&self.counters.bytes_uploaded, len as u64);
                Counters::add(&self.counters.objects_live, 1);
                if upload.live == 0 {
                    return Ok(Some(id));
                }
                state.objects.insert(id, upload.live);
                Ok(None)
            }
            Err(source) => {
                if upload.live > 0 {
                    state.failed.insert(id);
                }
                // A store's put is all or nothing, but a timeout may come
                // after the store committed it: delete it on drop, quietly.
                state.undeleted.push((id, false));
                Err(Error::ObjectPut {
                    path: self.path(id).to_string(),
                    len,
                    source,
                })
            }
        }
    }

    /// Put `data` as object `id`, waiting for it (no lock held).
    fn upload_now(&self, id: u64, data: Bytes) -> Result<(), Error> {
        let path = self.path(id);
        let len = data.len();
        Counters::add(&self.counters.puts, 1);
        let result = self
            .bridge
            .block_on(self.store.put(&path, PutPayload::from(data)))
            .and_then(|r| {
                r.map_err(|source| Error::ObjectPut {
                    path: path.to_string(),
                    len,
                    source,
                })
            });
        match result {
            Ok(_) => {
                Counters::add(&self.counters.bytes_uploaded, len as u64);
                Counters::add(&self.counters.objects_live, 1);
                Ok(())
            }
            Err(err) => {
                self.lock().undeleted.push((id, false));
                Err(err)
            }
        }
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

    /// One blob of each object in `ids` is gone for good (taken, failed to
    /// read, or its store dropped); delete objects that have none left.
    pub(super) fn release(&self, ids: impl IntoIterator<Item = u64>) {
        let mut gone = Vec::new();
        let mut state = self.lock();
        for id in ids {
            if id == state.buffer_id {
                state.buffer_live = state.buffer_live.saturating_sub(1);
                if state.buffer_live == 0 {
                    // Nothing live in the buffer: start it over, no request.
                    state.buffer.clear();
                }
            } else if let Some(upload) = state.uploading.iter_mut().find(|u| u.id == id) {
                upload.live = upload.live.saturating_sub(1);
                if upload.live == 0 {
                    // Wait for it, to delete it now rather than later; had
                    // it failed, no blob of it is needed any more.
                    state = self.join(state, id).unwrap_or_else(|_| self.lock());
                }
            } else if let Some(live) = state.objects.get_mut(&id) {
                *live = live.saturating_sub(1);
                if *live == 0 {
                    state.objects.remove(&id);
                    gone.push(id);
                }
            }
        }
        drop(state);
        for id in gone {
            self.delete(id, true);
        }
    }

    /// Delete object `id`; `counted` if it was uploaded (and so counted in
    /// `objects_live`). A failed delete is retried when the factory drops.
    fn delete(&self, id: u64, counted: bool) {
        let path = self.path(id);
        match self.bridge.block_on(self.store.delete(&path)) {
            Ok(Ok(())) if counted => {
                Counters::add(&self.counters.deletes, 1);
                self.counters.objects_live.fetch_sub(1, Ordering::Relaxed);
            }
            Ok(Ok(())) | Ok(Err(object_store::Error::NotFound { .. })) => {}
            _ if counted => self.lock().undeleted.push((id, true)),
            _ => {}
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
        // Wait for every upload, so nothing is written after the deletes.
        let ids: Vec<u64> = self.lock().uploading.iter().map(|u| u.id).collect();
        let mut state = self.lock();
        for id in ids {
            state = self.join(state, id).unwrap_or_else(|_| self.lock());
        }
        let uploaded: Vec<u64> = state.objects.drain().map(|(id, _)| id).collect();
        let retry = std::mem::take(&mut state.undeleted);
        drop(state);
        for id in uploaded {
            self.delete(id, true);
        }
        for (id, counted) in retry {
            self.delete(id, counted);
        }
        self.bridge.shutdown();
    }
}
