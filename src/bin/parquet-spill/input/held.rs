//! The memory the input batches in flight hold, charged to the writer's
//! budget.
//!
//! Why: `--memory-limit` is the process's memory, and the batches read but
//! not yet encoded are part of it. The plan reserves what the input should
//! need (batches sized from the limit; an IPC file's largest batch, which is
//! read whole). A batch larger than planned (an IPC stream of huge batches,
//! CSV rows that grow) draws the difference from the same budget, heap pages
//! spilling to make room, or stops the conversion with an error naming what
//! it needed: never silently over the limit. Batches larger than the planned
//! batch size are handed to the writer in slices, so its queue holds parts
//! of one batch rather than several whole ones.
//!
//! Counting uses arrow's own buffer accounting (`Array::claim`): a buffer is
//! counted once however many arrays or slices share it (an IPC batch's
//! columns all point into the one block read), and released when the last
//! of them is dropped, on whichever thread the writer drops it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use arrow_array::{Array, RecordBatch};
use arrow_buffer::{MemoryPool, TrackingMemoryPool};
use parquet_spill::{MemoryBudget, Reservation};

use crate::units::human_bytes;

/// Input bytes alive, and the budget they are charged to.
pub struct HeldInput {
    room: Gate,
    /// Batches holding more are written in slices of about this size.
    slice_bytes: usize,
    /// The most bytes one batch added so far.
    largest: usize,
}

/// What the input may hold, shared with readers that learn a batch's size
/// before they read it (an IPC stream's message header gives its body's
/// length): [`Gate::make_room`] takes that room from the budget, or refuses
/// the batch, before anything of it is allocated.
#[derive(Clone)]
pub struct Gate(Arc<Room>);

struct Room {
    tracker: TrackingMemoryPool,
    /// Bytes the plan reserved for input batches.
    planned: AtomicUsize,
    /// Bytes counted in `tracker` that the plan reserved outside the
    /// batches: an IPC file's dictionaries, planned as its reader's
    /// ([`Gate::claim_reserved`]), which its batches' arrays point into.
    reserved_elsewhere: AtomicUsize,
    /// What the input took from the budget beyond `planned`; `None` without
    /// a memory limit.
    beyond: Mutex<Option<Reservation>>,
    /// Whether other threads encode (and release) the batches admitted.
    encoders_elsewhere: AtomicBool,
}

/// The longest the reader waits for the writer to release earlier batches
/// before reading the next one.
pub const WAIT_FOR_ROOM: Duration = Duration::from_secs(2);

impl Room {
    /// Cover `extra` bytes beside what the input holds now from the
    /// budget; where it has no room while other threads encode earlier
    /// batches, wait for them to release some, up to [`WAIT_FOR_ROOM`].
    /// The budget's error when it has none.
    fn cover(&self, extra: usize, wait: bool) -> Result<(), String> {
        let deadline = Instant::now() + WAIT_FOR_ROOM;
        loop {
            let live = self.tracker.used();
            let mut guard = self.beyond.lock().unwrap_or_else(PoisonError::into_inner);
            let Some(beyond) = guard.as_mut() else {
                return Ok(());
            };
            let want = live.saturating_add(extra);
            let covered = self
                .planned
                .load(Ordering::Relaxed)
                .saturating_add(self.reserved_elsewhere.load(Ordering::Relaxed))
                .saturating_add(beyond.bytes());
            if want <= covered {
                return Ok(());
            }
            let err = match beyond.try_grow(want - covered) {
                Ok(()) => return Ok(()),
                Err(e) => e.to_string(),
            };
            drop(guard);
            let elsewhere = self.encoders_elsewhere.load(Ordering::Relaxed);
            if !wait || !elsewhere || live == 0 || Instant::now() >= deadline {
                return Err(err);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Gate {
    /// Count `buffer` as input held from now (a reader's buffer no batch
    /// holds yet, such as a dictionary its decoder keeps); counted once
    /// however many arrays share it later.
    pub fn claim(&self, buffer: &arrow_buffer::Buffer) {
        buffer.claim(&self.0.tracker);
    }

    /// Count `buffer` as input held, covered by what the plan reserved for
    /// the reader rather than by the batches' room, for as long as the
    /// returned guard lives: an IPC file's dictionary, which the plan
    /// reserves as its reader's ([`super::Probed::reading`]) and which
    /// every batch's dictionary arrays point into (so [`HeldInput::admit`]
    /// would count it again as the first batch's).
    pub fn claim_reserved(&self, buffer: &arrow_buffer::Buffer) -> Reserved {
        buffer.claim(&self.0.tracker);
        let bytes = buffer.capacity();
        self.0
            .reserved_elsewhere
            .fetch_add(bytes, Ordering::Relaxed);
        Reserved {
            room: Arc::clone(&self.0),
            bytes,
        }
    }

    /// Make room for `bytes` a reader is about to allocate for `what` (an
    /// IPC stream's message), beside the input held now: from the plan's
    /// reservation, then the budget (heap pages spill for it), waiting for
    /// the writer to release earlier batches as [`HeldInput::before_read`]
    /// does.
    ///
    /// # Errors
    ///
    /// When the budget cannot hold it, naming `what` and its size, before
    /// any of it is allocated.
    pub fn make_room(&self, bytes: usize, what: &str) -> Result<()> {
        self.make_room_for(
            bytes,
            || format!("{what} of {}", human_bytes(bytes as u64)),
            "write the input with smaller batches",
        )
    }

    /// [`Gate::make_room`] for `bytes` a reader is about to allocate as it
    /// decodes; `what` (built only for the error) names them and their
    /// size, `instead` what to do besides raising the limit.
    pub fn make_room_for(
        &self,
        bytes: usize,
        what: impl FnOnce() -> String,
        instead: &str,
    ) -> Result<()> {
        self.0.cover(bytes, true).map_err(|e| {
            let held = match self.0.tracker.used() {
                0 => String::new(),
                live => format!(
                    " beside the {} of input in flight",
                    human_bytes(live as u64)
                ),
            };
            no_room(
                format!("{}{held}", what()),
                self.0.planned.load(Ordering::Relaxed),
                &e,
                instead,
            )
        })
    }
}

/// Bytes [`Gate::claim_reserved`] counted as reserved elsewhere, until
/// dropped.
pub struct Reserved {
    room: Arc<Room>,
    bytes: usize,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.room
            .reserved_elsewhere
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl HeldInput {
    /// Charge input beyond `planned` bytes to `budget`; `None` counts only.
    pub fn new(budget: Option<&MemoryBudget>, planned: usize, slice_bytes: usize) -> Result<Self> {
        let beyond = budget.map(|b| b.reserve(0)).transpose()?;
        Ok(Self {
            room: Gate(Arc::new(Room {
                tracker: TrackingMemoryPool::default(),
                planned: AtomicUsize::new(planned),
                reserved_elsewhere: AtomicUsize::new(0),
                beyond: Mutex::new(beyond),
                encoders_elsewhere: AtomicBool::new(false),
            })),
            slice_bytes: slice_bytes.max(1),
            largest: 0,
        })
    }

    /// Count `batch` (what it holds that is not counted yet), take what the
    /// input now holds beyond the plan from the budget, and split the batch
    /// into the slices to write.
    ///
    /// # Errors
    ///
    /// When the budget cannot hold the input even with every heap page
    /// spilled, naming the batch's size and what the input held.
    pub fn admit(&mut self, batch: RecordBatch) -> Result<Vec<RecordBatch>> {
        let room = &self.room.0;
        let before = room.tracker.used();
        for column in batch.columns() {
            column.claim(&room.tracker);
        }
        let live = room.tracker.used();
        let bytes = live.saturating_sub(before);
        self.largest = self.largest.max(bytes);
        room.cover(0, false).map_err(|e| {
            no_room(
                format!(
                    "a batch of {} rows holds {} in memory, and the input batches in flight {} \
                     in all",
                    batch.num_rows(),
                    human_bytes(bytes as u64),
                    human_bytes(live as u64),
                ),
                room.planned.load(Ordering::Relaxed),
                &e,
                "use smaller input batches (--batch-rows, or an IPC file written with smaller \
                 batches)",
            )
        })?;
        Ok(slices(batch, bytes, self.slice_bytes))
    }

    /// Before the next batch is read, make room for one as large as the
    /// largest so far beside what the input holds now (heap pages spill for
    /// it): a reader allocates a batch before it can be counted, and this
    /// keeps that allocation within the budget. Where the budget has no such room
    /// while earlier batches are still held, and other threads are encoding
    /// them ([`HeldInput::with_encoders_elsewhere`]), wait for the writer to
    /// release them, up to [`WAIT_FOR_ROOM`]; then the batch is read anyway
    /// and [`HeldInput::admit`] decides on its actual size (a reader that
    /// knows the size first asks its [`Gate`]).
    pub fn before_read(&mut self) {
        // No room is no error yet: the batch may be smaller.
        let _ = self.room.0.cover(self.largest, true);
    }

    /// Other threads encode the batches admitted (a `ParallelWriter` on
    /// more than one thread), so the input held falls while the reader
    /// waits in [`HeldInput::before_read`].
    pub fn with_encoders_elsewhere(self, elsewhere: bool) -> Self {
        self.room
            .0
            .encoders_elsewhere
            .store(elsewhere, Ordering::Relaxed);
        self
    }

    /// The pool input memory is counted in, for readers that keep buffers
    /// between batches.
    pub fn pool(&self) -> &dyn MemoryPool {
        &self.room.0.tracker
    }

    /// Whether the input is held within a memory limit.
    pub fn limited(&self) -> bool {
        let beyond = self.room.0.beyond.lock();
        beyond.unwrap_or_else(PoisonError::into_inner).is_some()
    }

    /// Give back to the budget what the input holds beyond the room
    /// planned for it, and count `planned` bytes, or what the input holds
    /// if more, as planned from now on; returns how much more than
    /// `planned` that is. The caller plans the writer with `planned` and
    /// that much more room for input: the first batch is read before the
    /// writer is planned, with no room planned (so all of it is taken from
    /// the budget), and an IPC stream's is as large as the stream made it.
    pub fn plan_room(&self, planned: usize) -> usize {
        let room = &self.room.0;
        let mut beyond = room.beyond.lock().unwrap_or_else(PoisonError::into_inner);
        let held = beyond.as_ref().map_or(0, Reservation::bytes);
        if let Some(reservation) = beyond.as_mut() {
            reservation.shrink(held);
        }
        let extra = held.saturating_sub(planned);
        room.planned
            .store(planned.saturating_add(extra), Ordering::Relaxed);
        extra
    }

    /// The gate readers that know a batch's size before reading it ask.
    pub fn gate(&self) -> Gate {
        self.room.clone()
    }

    /// Input bytes alive now.
    #[cfg(test)]
    fn live(&self) -> usize {
        self.room.0.tracker.used()
    }
}

/// The error for input the limit has no room for: `what` it is, the
/// plan's reservation for input (none for the first batch, read before the
/// writer is planned), the budget's refusal, what to do instead.
fn no_room(what: String, planned: usize, refused: &str, instead: &str) -> anyhow::Error {
    let planned = match planned {
        0 => String::from("the first batch, read before the writer is planned"),
        n => format!("{} planned", human_bytes(n as u64)),
    };
    anyhow!(
        "{what}: more than the memory limit leaves for input ({planned}; {refused}). Raise \
         --memory-limit, or {instead}"
    )
}

/// `batch` in consecutive slices of about `slice_bytes` each (zero-copy).
fn slices(batch: RecordBatch, bytes: usize, slice_bytes: usize) -> Vec<RecordBatch> {
    let rows = batch.num_rows();
    let parts = bytes.div_ceil(slice_bytes).clamp(1, rows.max(1));
    if parts == 1 {
        return vec![batch];
    }
    let per_slice = rows.div_ceil(parts);
    (0..rows)
        .step_by(per_slice)
        .map(|offset| batch.slice(offset, per_slice.min(rows - offset)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::Int64Array;

    use super::*;

    fn batch(rows: i64) -> RecordBatch {
        RecordBatch::try_from_iter([(
            "x",
            Arc::new(Int64Array::from_iter_values(0..rows)) as Arc<dyn Array>,
        )])
        .unwrap()
    }

    #[test]
    fn slices_share_the_batch_and_are_counted_once() {
        let mut held = HeldInput::new(None, 0, 100 << 10).unwrap();
        let parts = held.admit(batch(100_000)).unwrap();
        assert_eq!(parts.len(), 8, "800 KB in slices of at most 100 KiB");
        assert_eq!(
            parts.iter().map(RecordBatch::num_rows).sum::<usize>(),
            100_000
        );
        let live = held.live();
        assert!((800_000..900_000).contains(&live), "{live}");
        let kept = parts[7].clone();
        drop(parts);
        assert_eq!(held.live(), live, "a slice keeps the whole buffer");
        drop(kept);
        assert_eq!(held.live(), 0, "released with the last slice");
    }

    #[test]
    fn input_beyond_the_plan_is_taken_from_the_budget_or_refused() {
        let budget = MemoryBudget::new(1 << 20);
        let mut held = HeldInput::new(Some(&budget), 400_000, usize::MAX).unwrap();
        let first = held.admit(batch(40_000)).unwrap();
        assert_eq!(budget.used(), 0, "320 KB is within the plan");
        let second = held.admit(batch(40_000)).unwrap();
        assert!(budget.used() >= 240_000, "the excess is reserved");
        let err = held.admit(batch(200_000)).unwrap_err().to_string();
        assert!(
            err.contains("200000 rows") && err.contains("--memory-limit"),
            "{err}"
        );
        drop((first, second));
    }

    #[test]
    fn room_for_the_next_batch_is_made_before_it_is_read() {
        let budget = MemoryBudget::new(1 << 20);
        let mut held = HeldInput::new(Some(&budget), 0, usize::MAX).unwrap();
        held.before_read();
        assert_eq!(budget.used(), 0, "nothing read yet, nothing to expect");
        let first = held.admit(batch(40_000)).unwrap();
        let one = budget.used();
        assert!(one >= 320_000, "{one}");
        held.before_read();
        assert!(
            budget.used() >= 2 * one,
            "the next batch's room beside the first"
        );
        let second = held.admit(batch(40_000)).unwrap();
        assert!(
            budget.used() < 2 * one + 1000,
            "the second batch is in that room"
        );
        // No room for a third: reading goes on, and admit decides.
        let other = budget.reserve(budget.limit() - budget.used()).unwrap();
        held.before_read();
        drop((first, second, other));
    }

    #[test]
    fn the_reader_waits_for_the_writer_to_release_earlier_batches() {
        let budget = MemoryBudget::new(500_000);
        let mut held = HeldInput::new(Some(&budget), 0, usize::MAX)
            .unwrap()
            .with_encoders_elsewhere(true);
        // 320 KB held: no room for another as large under 500 KB until the
        // writer (another thread) releases it.
        let first = held.admit(batch(40_000)).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(first);
        });
        let start = Instant::now();
        held.before_read();
        let waited = start.elapsed();
        writer.join().unwrap();
        assert!(
            waited >= Duration::from_millis(40) && waited < WAIT_FOR_ROOM,
            "{waited:?}"
        );
        assert_eq!(held.live(), 0);

        // Encoded on this thread, nothing is released while it waits.
        let budget = MemoryBudget::new(500_000);
        let mut alone = HeldInput::new(Some(&budget), 0, usize::MAX).unwrap();
        let kept = alone.admit(batch(40_000)).unwrap();
        let start = Instant::now();
        alone.before_read();
        assert!(start.elapsed() < Duration::from_millis(40));
        drop(kept);
    }
}
