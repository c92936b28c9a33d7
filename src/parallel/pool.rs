//! The worker pool behind [`ParallelWriter`](super::ParallelWriter).
//!
//! Work is scheduled per top-level column, not per thread: every column has
//! a queue of arrays to encode, and an idle worker takes the next column
//! that has work and is not being encoded elsewhere. So a few fat columns
//! never pin the rest of the schema behind them on one thread, and a column
//! writer is only ever touched by one thread at a time, in batch order —
//! which is what keeps the output byte-identical to `ArrowWriter`.
//!
//! Memory stays bounded: the caller may run at most `depth` batches ahead
//! of the slowest column, and a column holds only the arrays of those
//! batches.
//!
//! A row group can be spliced while the next one is encoded: a column's
//! `Close` task publishes its chunks, and the owner splices closed columns
//! in order ([`Splice`]) whenever it would otherwise wait. The next row
//! group's writers are handed out once every column has closed (the owner
//! waits for that, splicing meanwhile), so two sets of writers are never
//! alive at once.

use std::any::Any;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::FieldRef;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowColumnWriter};
use parquet::errors::{ParquetError, Result};

use crate::error::Error;

/// What a column is asked to do next.
enum Task {
    Write(ArrayRef),
    /// Close the writers; the chunks wait in `Column::chunks`.
    Close,
}

/// Reborrow an optional [`Splice`] for one call.
pub(crate) fn again<'s>(splice: &'s mut Option<&mut dyn Splice>) -> Option<&'s mut dyn Splice> {
    match splice {
        Some(splice) => Some(&mut **splice),
        None => None,
    }
}

/// Where the owner puts closed columns' chunks, in column order: a row
/// group being spliced into the file.
pub(crate) trait Splice {
    /// The column whose chunks go next, `None` once every column is in.
    fn next_column(&self) -> Option<usize>;
    /// Append the next column's chunks (its leaves, in order).
    fn splice(&mut self, chunks: Vec<ArrowColumnChunk>) -> Result<()>;
}

/// One top-level column: its leaf writers and what is queued for them.
struct Column {
    field: FieldRef,
    /// `None` while a worker holds them, and between row groups.
    writers: Option<Vec<ArrowColumnWriter>>,
    /// Filled by a `Close` task; taken by the row group's owner.
    chunks: Vec<ArrowColumnChunk>,
    /// The `Close` task has run and `chunks` are not taken yet.
    closed: bool,
    pending: VecDeque<Task>,
    /// Tasks submitted and not yet finished (queued or running).
    outstanding: usize,
    /// As last reported by the writers, after their latest task.
    estimated_bytes: usize,
    memory_size: usize,
}

struct State {
    columns: Vec<Column>,
    /// Columns with pending tasks that no worker holds.
    ready: VecDeque<usize>,
    /// Columns whose `outstanding` has reached `depth`.
    saturated: usize,
    /// Sum of every column's `outstanding`.
    outstanding: usize,
    failure: Option<ParquetError>,
    /// Set once a failure was handed to the caller; later calls say so.
    failed: Option<String>,
    shutdown: bool,
    /// The owner is waiting on `progress` for this condition: workers wake
    /// it only when it holds, not after every task (on two cores, each
    /// needless wake-up preempts an encoding worker).
    awaited: Option<Awaited>,
    /// ... or for this column to close, to splice it meanwhile.
    splicing: Option<usize>,
}

/// What the owner waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Awaited {
    /// No column is `depth` batches behind.
    Room,
    /// Every queued task has run.
    Idle,
    /// This column's `Close` task has run.
    Closed(usize),
}

impl State {
    fn holds(&self, awaited: Awaited) -> bool {
        match awaited {
            Awaited::Room => self.saturated == 0,
            Awaited::Idle => self.outstanding == 0,
            Awaited::Closed(index) => self.columns.get(index).is_none_or(|c| c.closed),
        }
    }

    /// Whether a worker that just changed the state must wake the owner.
    fn owner_may_go(&self) -> bool {
        self.failure.is_some()
            || self.awaited.is_some_and(|a| self.holds(a))
            || self
                .splicing
                .is_some_and(|i| self.holds(Awaited::Closed(i)))
    }

    /// Take closed column `index`'s chunks.
    fn take_chunks(&mut self, index: usize) -> Vec<ArrowColumnChunk> {
        match self.columns.get_mut(index) {
            Some(column) => {
                column.closed = false;
                std::mem::take(&mut column.chunks)
            }
            None => Vec::new(),
        }
    }
}

struct Shared {
    state: Mutex<State>,
    /// Workers wait here for work.
    work: Condvar,
    /// The owner waits here for room, idleness or a failure.
    progress: Condvar,
    depth: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker never panics while holding the lock (encoding runs
        // unlocked, under `catch_unwind`), so a poisoned lock still holds a
        // consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Worker threads encoding the columns of one file.
pub(crate) struct Pool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Pool {
    /// A pool of `threads` workers for the top-level `fields`, letting the
    /// caller run at most `depth` batches ahead. With one thread the
    /// caller's thread encodes, inside `start_row_group`, `submit` and
    /// `close_columns`.
    pub(crate) fn new(fields: &[FieldRef], threads: usize, depth: usize) -> Result<Self> {
        let columns = fields
            .iter()
            .map(|field| Column {
                field: Arc::clone(field),
                writers: None,
                chunks: Vec::new(),
                closed: false,
                pending: VecDeque::new(),
                outstanding: 0,
                estimated_bytes: 0,
                memory_size: 0,
            })
            .collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                columns,
                ready: VecDeque::new(),
                saturated: 0,
                outstanding: 0,
                failure: None,
                failed: None,
                shutdown: false,
                awaited: None,
                splicing: None,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
            depth: depth.max(1),
        });
        let mut pool = Self {
            shared,
            threads: Vec::new(),
        };
        // One thread is the caller's own: no worker, no hand-over.
        let workers = if threads > 1 { threads } else { 0 };
        for index in 0..workers {
            let shared = Arc::clone(&pool.shared);
            let handle = std::thread::Builder::new()
                .name(format!("parquet-spill-encoder-{index}"))
                .spawn(move || work(&shared))
                .map_err(|e| ParquetError::External(Box::new(e)))?;
            pool.threads.push(handle);
        }
        Ok(pool)
    }

    /// Hand a new row group's leaf writers to their columns; `leaves[i]` is
    /// how many leaf writers top-level column `i` has. Every column must be
    /// idle ([`wait_idle`](Self::wait_idle) first): its last row group's
    /// writers closed.
    pub(crate) fn start_row_group(
        &self,
        writers: Vec<ArrowColumnWriter>,
        leaves: &[usize],
    ) -> Result<()> {
        let mut state = self.shared.lock();
        check(&mut state)?;
        let mut writers = writers.into_iter();
        for (index, &count) in leaves.iter().enumerate() {
            let leaf_writers: Vec<_> = writers.by_ref().take(count).collect();
            let Some(column) = state.columns.get_mut(index) else {
                break;
            };
            if column.outstanding > 0 || column.writers.is_some() {
                return Err(Error::WriterFailed {
                    cause: format!(
                        "column {index}: a row group started before the last one closed"
                    ),
                }
                .into());
            }
            column.writers = Some(leaf_writers);
            column.estimated_bytes = 0;
        }
        Ok(())
    }

    /// Queue `batch` for encoding, first waiting while any column is
    /// `depth` batches behind (splicing into `splice` meanwhile).
    pub(crate) fn submit(
        &self,
        batch: &RecordBatch,
        splice: Option<&mut dyn Splice>,
    ) -> Result<()> {
        let mut state = self.wait(Awaited::Room, splice)?;
        let tasks: Vec<Task> = batch.columns().iter().cloned().map(Task::Write).collect();
        self.enqueue(&mut state, tasks);
        drop(state);
        self.run_inline()
    }

    /// Queue a `Close` for every column (they close in parallel); their
    /// chunks wait for [`finish_splice`](Self::finish_splice) or for a
    /// wait that splices.
    pub(crate) fn close_columns(&self) -> Result<()> {
        {
            let mut state = self.shared.lock();
            check(&mut state)?;
            let tasks = (0..state.columns.len()).map(|_| Task::Close).collect();
            self.enqueue(&mut state, tasks);
        }
        self.run_inline()
    }

    /// Hand every column still due to `splice`, each as soon as it is
    /// closed: the owner splices column `i` while the workers still close
    /// the columns after it. A failure of `splice` fails the pool, as a
    /// worker's would.
    pub(crate) fn finish_splice(&self, splice: &mut dyn Splice) -> Result<()> {
        while let Some(index) = splice.next_column() {
            let chunks = self.wait(Awaited::Closed(index), None)?.take_chunks(index);
            self.splice_or_fail(splice, chunks)?;
        }
        Ok(())
    }

    /// Wait until every queued task has run, splicing into `splice`
    /// meanwhile.
    pub(crate) fn wait_idle(&self, splice: Option<&mut dyn Splice>) -> Result<()> {
        self.wait(Awaited::Idle, splice).map(drop)
    }

    /// Wait until every queued task has run (splicing into `splice`
    /// meanwhile); then the estimates are exact.
    pub(crate) fn estimated_bytes(&self, splice: Option<&mut dyn Splice>) -> Result<usize> {
        let state = self.wait(Awaited::Idle, splice)?;
        Ok(state.columns.iter().map(|c| c.estimated_bytes).sum())
    }

    /// The writers' memory as of their latest finished task (no waiting).
    pub(crate) fn memory_size(&self) -> usize {
        let state = self.shared.lock();
        state.columns.iter().map(|c| c.memory_size).sum()
    }

    /// Wait until `until` holds; meanwhile splice every column due to
    /// `splice` that has closed.
    fn wait(
        &self,
        until: Awaited,
        mut splice: Option<&mut dyn Splice>,
    ) -> Result<MutexGuard<'_, State>> {
        let mut state = self.shared.lock();
        loop {
            state.awaited = None;
            state.splicing = None;
            check(&mut state)?;
            if state.holds(until) {
                return Ok(state);
            }
            if let Some(splice) = again(&mut splice) {
                match splice.next_column() {
                    Some(index) if state.holds(Awaited::Closed(index)) => {
                        let chunks = state.take_chunks(index);
                        drop(state);
                        self.splice_or_fail(splice, chunks)?;
                        state = self.shared.lock();
                        continue;
                    }
                    Some(index) => state.splicing = Some(index),
                    None => {}
                }
            }
            state.awaited = Some(until);
            state = self
                .shared
                .progress
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Splice `chunks`; a failure fails the pool, as a worker's would.
    fn splice_or_fail(&self, splice: &mut dyn Splice, chunks: Vec<ArrowColumnChunk>) -> Result<()> {
        splice.splice(chunks).inspect_err(|e| {
            let mut state = self.shared.lock();
            if state.failure.is_none() && state.failed.is_none() {
                state.failed = Some(e.to_string());
            }
            drop_queued(&mut state, self.shared.depth);
        })
    }

    /// Give `tasks[i]` to column `i`.
    fn enqueue(&self, state: &mut State, tasks: Vec<Task>) {
        for (index, task) in tasks.into_iter().enumerate() {
            self.enqueue_one(state, index, task);
        }
        self.shared.work.notify_all();
    }

    /// Give `task` to column `index` (waking no worker).
    fn enqueue_one(&self, state: &mut State, index: usize, task: Task) {
        let depth = self.shared.depth;
        let Some(column) = state.columns.get_mut(index) else {
            return;
        };
        let was_idle = column.outstanding == 0;
        column.pending.push_back(task);
        column.outstanding += 1;
        if column.outstanding == depth {
            state.saturated += 1;
        }
        state.outstanding += 1;
        if was_idle {
            state.ready.push_back(index);
        }
    }

    /// With no workers, encode what was queued now, on the caller's
    /// thread, and return its failure at once (as `ArrowWriter` would).
    fn run_inline(&self) -> Result<()> {
        if self.threads.is_empty() {
            drain(&self.shared);
            return self.check();
        }
        Ok(())
    }

    /// A failure any task has had, without waiting for anything.
    pub(crate) fn check(&self) -> Result<()> {
        check(&mut self.shared.lock())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.work.notify_all();
        for handle in self.threads.drain(..) {
            // A worker catches its own panics; nothing is left to report.
            let _ = handle.join();
        }
    }
}

/// Return the failure a worker recorded, once as itself, then as a
/// [`Error::WriterFailed`] naming it.
fn check(state: &mut State) -> Result<()> {
    if let Some(failure) = state.failure.take() {
        state.failed = Some(failure.to_string());
        return Err(failure);
    }
    match &state.failed {
        Some(cause) => Err(Error::WriterFailed {
            cause: cause.clone(),
        }
        .into()),
        None => Ok(()),
    }
}

/// A worker: take a column with work, run its tasks unlocked, report back.
fn work(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if state.shutdown {
            return;
        }
        state = match state.ready.pop_front() {
            Some(index) => step(shared, state, index),
            None => shared
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

/// On one thread: run every ready column on the caller's thread.
fn drain(shared: &Shared) {
    let mut state = shared.lock();
    while let Some(index) = state.ready.pop_front() {
        state = step(shared, state, index);
    }
}

/// Take column `index`'s queued tasks (up to its next `Close`, so the
/// owner gets the chunks without waiting for the next row group's writes),
/// run them unlocked, report back.
fn step<'a>(
    shared: &'a Shared,
    mut state: MutexGuard<'a, State>,
    index: usize,
) -> MutexGuard<'a, State> {
    let column = &mut state.columns[index];
    let mut tasks = Vec::with_capacity(column.pending.len());
    while let Some(task) = column.pending.pop_front() {
        let close = matches!(task, Task::Close);
        tasks.push(task);
        if close {
            break;
        }
    }
    let writers = column.writers.take();
    let field = Arc::clone(&column.field);
    drop(state);

    let count = tasks.len();
    let outcome =
        catch_unwind(AssertUnwindSafe(|| run(&field, writers, tasks))).unwrap_or_else(|panic| {
            Err(Error::WorkerPanicked {
                column: field.name().clone(),
                message: panic_message(panic.as_ref()),
            }
            .into())
        });

    let mut state = shared.lock();
    let depth = shared.depth;
    let column = &mut state.columns[index];
    if column.outstanding >= depth && column.outstanding - count < depth {
        state.saturated -= 1;
    }
    let column = &mut state.columns[index];
    column.outstanding -= count;
    state.outstanding -= count;
    match outcome {
        Ok(Done { writers, chunks }) => {
            let column = &mut state.columns[index];
            if let Some(chunks) = chunks {
                column.chunks = chunks;
                column.closed = true;
            }
            let leaves = writers.as_deref().unwrap_or_default();
            column.estimated_bytes = leaves
                .iter()
                .map(ArrowColumnWriter::get_estimated_total_bytes)
                .sum();
            column.memory_size = leaves.iter().map(ArrowColumnWriter::memory_size).sum();
            column.writers = writers;
            if !column.pending.is_empty() {
                state.ready.push_back(index);
            }
        }
        Err(e) => abandon(&mut state, e, depth),
    }
    if state.owner_may_go() {
        shared.progress.notify_all();
    }
    state
}

/// After a failure: drop every queued task, so the owner sees the error
/// and nothing more is encoded.
fn abandon(state: &mut State, error: ParquetError, depth: usize) {
    if state.failure.is_none() && state.failed.is_none() {
        state.failure = Some(error);
    }
    drop_queued(state, depth);
}

/// Drop every queued task (not those a worker is running): after a failure
/// nothing more is encoded or closed.
fn drop_queued(state: &mut State, depth: usize) {
    state.ready.clear();
    for column in &mut state.columns {
        let queued = column.pending.len();
        column.pending.clear();
        column.outstanding -= queued;
        state.outstanding -= queued;
    }
    // Tasks a worker is still running stay counted until it reports.
    state.saturated = state
        .columns
        .iter()
        .filter(|c| c.outstanding >= depth)
        .count();
}

/// What a column's run leaves: its writers (none after a `Close`) and the
/// chunks a `Close` made.
struct Done {
    writers: Option<Vec<ArrowColumnWriter>>,
    chunks: Option<Vec<ArrowColumnChunk>>,
}

/// Run one column's tasks in order.
fn run(
    field: &FieldRef,
    mut writers: Option<Vec<ArrowColumnWriter>>,
    tasks: Vec<Task>,
) -> Result<Done> {
    let column = || field.name().clone();
    let out_of_order = |what: &str| {
        ParquetError::from(Error::WriterFailed {
            cause: format!("column {}: {what}", field.name()),
        })
    };
    let mut chunks = None;
    for task in tasks {
        match task {
            Task::Write(array) => {
                let writers = writers
                    .as_mut()
                    .ok_or_else(|| out_of_order("no open row group"))?;
                let mut encode = || -> Result<()> {
                    for (writer, leaf) in writers.iter_mut().zip(compute_leaves(field, &array)?) {
                        writer.write(&leaf)?;
                    }
                    Ok(())
                };
                encode().map_err(|source| Error::Encode {
                    column: column(),
                    source,
                })?;
            }
            Task::Close => {
                let closing = writers
                    .take()
                    .ok_or_else(|| out_of_order("no open row group to close"))?;
                let closed = closing
                    .into_iter()
                    .map(ArrowColumnWriter::close)
                    .collect::<Result<Vec<_>>>()
                    .map_err(|source| Error::Encode {
                        column: column(),
                        source,
                    })?;
                chunks = Some(closed);
            }
        }
    }
    Ok(Done { writers, chunks })
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}
