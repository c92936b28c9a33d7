//! Decorator: the page metadata parquet keeps, charged to the budget as the
//! pages that create it are written.
//!
//! Why charge it as it grows: every finished page leaves an offset-index
//! entry and (with page statistics) a column-index entry on the heap until
//! the *file* closes, and every column chunk leaves its metadata; parquet's
//! `ArrowWriter::memory_size()` counts none of it. Planned from a guess of
//! the file size, a file that outgrows the guess outgrows the limit. Every
//! page passes through a store, so this decorator charges each page's cost
//! (from the planner's calibrated model, per column) as it is put. Heap
//! pages of a tiered store yield to it ([`MemoryBudget`] reclaims them);
//! when the metadata alone would pass the limit, the `put` that would cross
//! it fails with [`Error::PageMetadataExhausted`] — before the limit is
//! passed, never after.
//!
//! Why charge each page's index once: while a chunk is open parquet keeps a
//! page's index entries in builders; when the chunk closes it makes the
//! entries kept until the file closes from them and drops the builders, and
//! only then are the chunk's pages spliced and its store dropped. So a page
//! is charged to its store the larger of the two, with the page keys
//! parquet holds and the backend's entry (both
//! live until the store is dropped), and when the store is dropped the
//! entries' share moves to one [`Reservation`] held until the writer is
//! dropped; the rest is released. The moment a chunk holds both is covered
//! once, for the largest chunk and each thread that may close one.
//!
//! parquet puts each page as two blobs (header, then body), so a page is
//! charged on every second `put` of a store. The small blobs (page headers,
//! tiny pages) the tiered store below keeps in its arena are charged to the
//! store too, at the arena capacity they can take, as they are put, so they
//! never depend on room left for heap pages.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;
use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};
use parquet::basic::Compression;

use crate::blobs::{arena_bound, arena_bytes};
use crate::budget::{MemoryBudget, Reservation};
use crate::dictionary_entries::{Entries, Undo};
use crate::error::{Error, Result};
use crate::file::DEFAULT_INLINE_THRESHOLD;
use crate::page_rows::{Admitted, Counts, PageLoad, PageRoom, PageValues};
use crate::plan::codec;

/// What one column costs in metadata, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ColumnCost {
    /// Per column chunk, until the file closes.
    pub chunk: usize,
    /// Per page, until the file closes: its offset and column index
    /// entries, made from the builders' when the chunk closes.
    pub page: usize,
    /// Per page while its chunk is open: the index builders' entries.
    pub builder: usize,
    /// Per page, until its row group is flushed: parquet's page keys and
    /// the backend's entry.
    pub keys: usize,
    /// Per page, until its row group is flushed: the page header, as the
    /// planner expects it. The meter charges every small blob at its size
    /// instead ([`arena_bound`]).
    pub header: usize,
    /// Its chunks' statistics keep the buffers of the batches their
    /// minimum and maximum came from ([`KeptValues`]): `Some` of the most
    /// a chunk's buffer holds (its row group's values, where the row-group
    /// row limit bounds them; else unbounded).
    pub keeps_values: Option<usize>,
    /// What `keeps_values` keeps is let go when the chunk closes: parquet
    /// copies the minimum and maximum of a type it may truncate (not a
    /// decimal nor `Float16`) into the chunk's metadata, and a
    /// `DELTA_BYTE_ARRAY` page's slices go with the page.
    pub keeps_values_until_chunk: bool,
    /// Its dictionary keeps the buffers of the batches its entries came
    /// from until the chunk closes ([`KeptValues`]): `Some` of the most a
    /// chunk's values take (as for `keeps_values`).
    pub dictionary_keeps_values: Option<usize>,
    /// Its column index keeps each page's minimum and maximum longer than
    /// `page` counts ([`LongStatistics`]).
    pub long_index: Option<LongStatistics>,
    /// Its chunks' statistics keep their minimum and maximum longer than
    /// `chunk` counts.
    pub long_chunk: Option<LongStatistics>,
    /// A byte array with statistics: `Some` of what the costs count of
    /// each minimum and maximum. Until its chunk closes parquet keeps its
    /// open page's and its chunk's whole, truncated only as it builds the
    /// metadata ([`Meter::statistics_in_flight`]).
    pub open_statistics: Option<usize>,
}

/// A byte-array leaf whose statistics keep values longer than its costs
/// count: the caller's truncation length is over [`counted`](Self::counted)
/// or none.
///
/// Why: parquet copies a page's minimum and maximum into the column index
/// (and a chunk's into its metadata) truncated to the caller's length, or
/// whole where that is `None`, until the file closes. A sweep case with a
/// column of 2 MiB values and no truncation kept 4 MiB a page of them: 192.6
/// MiB of heap where its limit left the writer 83.7. A page's minimum and
/// maximum are values of that page, so each is no longer than the longest
/// value admitted for the leaf ([`Meter::admit`] looks; a page longer than
/// the plan's pages counts whole, for writers that do not admit) nor, for
/// a plain-encoded page, than the page (its uncompressed size, from its
/// header; a dictionary-encoded page holds indices): the metered store
/// charges, per data page and per chunk, twice the most of that beyond
/// `counted`, up to `cap`. Not covered: where parquet cannot increment a
/// truncated maximum (a prefix of `0xFF` bytes, or of UTF-8 characters
/// that have no successor of the same length) it keeps the whole value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LongStatistics {
    /// What the page and chunk costs count for a minimum or maximum.
    pub counted: usize,
    /// The caller's truncation length (`usize::MAX`: none).
    pub cap: usize,
    /// The leaf may be dictionary-encoded: its data pages hold indices, so
    /// their size does not bound the values their statistics keep.
    pub dictionary: bool,
}

impl LongStatistics {
    /// Both `a`'s and `b`'s charges covered (for a leaf of unknown cost).
    pub(crate) fn widest(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Self {
                counted: a.counted.min(b.counted),
                cap: a.cap.max(b.cap),
                dictionary: a.dictionary || b.dictionary,
            }),
            (a, b) => a.or(b),
        }
    }

    /// The bytes a minimum or maximum of a data page of `size` bytes keeps
    /// beyond `counted`, the leaf's values being at most `longest`.
    fn beyond(&self, size: usize, longest: usize) -> usize {
        let page = if self.dictionary { usize::MAX } else { size };
        page.min(longest).min(self.cap).saturating_sub(self.counted)
    }
}

impl ColumnCost {
    /// Per page, until its row group is flushed (the header aside): the
    /// keys, and the builders' entries or the index entries made from them,
    /// whichever is more — a chunk holds the one, then the other. When the
    /// store is dropped the index entries' share stays charged until the
    /// file closes.
    pub(crate) fn until_flush(&self) -> usize {
        self.keys + self.builder.max(self.page)
    }

    /// Per page of a chunk being closed, beyond [`until_flush`](Self::until_flush):
    /// for a moment it holds its builders and the entries made from them.
    pub(crate) fn closing(&self) -> usize {
        self.builder.min(self.page)
    }

    /// Once per store, until its row group is flushed: its tables' first
    /// capacity (four entries: the blob tables' smallest size class, and a
    /// `Vec`'s first capacity for parquet's keys), whose growth beyond it
    /// the per-page charges cover — a heap table's (a `Bytes` an entry)
    /// included.
    pub(crate) fn store(&self) -> usize {
        4 * (self.keys + std::mem::size_of::<Bytes>())
    }
}

/// The batch buffers column chunks' statistics keep until the file closes,
/// and their dictionaries until the dictionary page is written (as it
/// falls back to another encoding, or the chunk closes).
///
/// Why: parquet 60.1 copies a batch's fixed-length byte-array values into
/// one buffer and hands each value to its encoder as a slice of it
/// ([`crate::encode_cost::fixed_len_buffer`]). A chunk's minimum and
/// maximum are clones of such slices; for decimals and `Float16`, which it
/// never truncates, they go into the chunk's metadata as they are and keep
/// the whole buffer until the file closes: a `Decimal128(38, 2)` column
/// written in row groups of 65,536 rows (one in five null) kept 0.8 MiB a
/// row group, however small its pages (`tests/calibration.rs`,
/// `statistics_keep_...`). A
/// dictionary of such values keeps them the same way until the chunk
/// closes: every batch that added an entry keeps its whole buffer (12
/// batches of 16,384 `Decimal128(38)` values adding 50 entries each to one
/// row group: 3.09 MiB more heap after the last than after the first,
/// the eleven later buffers being 2.75 MiB), whatever the column's
/// statistics and for every fixed-length type. No
/// store sees it, and it grows with the file, not the batch. A chunk's
/// minimum and maximum keep at most two buffers, and the open page's two
/// more; each buffer is at most the largest a batch admitted has made for
/// that leaf, and (a batch is sliced at row-group boundaries before its
/// values are copied) at most a row group's values, as are a chunk's
/// together; and all of them are no more than the buffers the leaf's
/// batches made.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeptValues {
    /// By leaf index.
    leaves: Vec<KeptLeaf>,
    /// What they need now: the sum of their [`KeptLeaf::needed`].
    needed: usize,
    /// Charged for them, in the meter's until-close reservation.
    charged: usize,
    /// By leaf: a repeated leaf's levels admitted ([`crate::page_rows`]),
    /// undone with the rest should the batch be refused.
    admitted: Vec<Admitted>,
    /// By leaf: the most a repeated leaf's pages have needed beyond the
    /// plan. parquet clears a dictionary's indices, and its level
    /// encoders' buffers, after each page but keeps their capacity until
    /// the chunk closes, so what one page grew stays: a column heavy in
    /// one batch and another heavy in the next hold both.
    rooms: Vec<PageRoom>,
    /// By leaf: the values admitted into its open chunk's dictionary, to
    /// tell the batches that add none ([`crate::dictionary_entries`]).
    entries: Vec<Entries>,
}

/// Batches that may be written into a chunk admitted before it began: the
/// one being written and those a `ParallelWriter` has queued.
const RECENT: usize = 1 + crate::PARALLEL_QUEUED_BATCHES;

/// One leaf's share of [`KeptValues`].
#[derive(Debug, Clone, Copy, Default)]
struct KeptLeaf {
    /// The largest buffer of a batch admitted so far.
    largest: usize,
    /// All of the batches' buffers so far: nothing keeps more (a batch
    /// split between row groups is copied slice by slice).
    written: usize,
    /// Its chunks so far.
    chunks: usize,
    /// The buffers of the batches admitted since its last chunk began,
    /// and of the batches before that which may still be written into it.
    open: usize,
    /// The last [`RECENT`] batches' buffers, the newest at `next - 1`.
    recent: [usize; RECENT],
    next: usize,
    /// Whether its statistics keep buffers, and the most a chunk's buffer
    /// holds ([`ColumnCost::keeps_values`]).
    statistics: Option<usize>,
    /// They keep them only while the chunk is open
    /// ([`ColumnCost::keeps_values_until_chunk`]).
    until_chunk: bool,
    /// Whether its dictionary keeps buffers, and the most a chunk's
    /// values take ([`ColumnCost::dictionary_keeps_values`]).
    dictionary: Option<usize>,
    /// Its open chunk's dictionary page has been written: parquet wrote it
    /// as it fell back to another encoding (or as the chunk closed) and
    /// dropped the dictionary's entries with it
    /// ([`Meter::dictionary_written`]). The next chunk's dictionary is
    /// charged when it opens.
    dictionary_written: bool,
    /// The heap its [`Entries`] take.
    entries: usize,
}

impl KeptLeaf {
    /// What its chunks keep, from their cost.
    fn keeps(&mut self, cost: &ColumnCost) {
        self.statistics = cost.keeps_values;
        self.until_chunk = cost.keeps_values_until_chunk;
        self.dictionary = cost.dictionary_keeps_values;
    }

    /// Statistics: two buffers a chunk so far and two for the open page,
    /// a chunk's no more than its values ([`kept_by_statistics`]).
    /// A dictionary: every buffer its open chunk's entries may have come
    /// from, at most a chunk's values. Together, no more than the buffers
    /// written.
    fn needed(&self) -> usize {
        // Before the first chunk opens (known from the plan's model), as
        // once it has.
        let statistics = self.statistics.map_or(0, |cap| {
            let closed = self.chunks.saturating_sub(1);
            kept_by_statistics(self.largest, cap, self.until_chunk, closed)
        });
        // Once its dictionary is gone, nothing until the next chunk opens
        // and is charged the batches that may be written into it
        // ([`Meter::chunk_keeps_values`]).
        let dictionary = self
            .dictionary
            .map_or(0, |cap| match self.dictionary_written {
                false => self.open.min(cap),
                true => 0,
            });
        statistics
            .saturating_add(dictionary)
            .min(self.written)
            .saturating_add(self.entries)
    }

    /// Its dictionary is open, and may keep the buffers of the batches
    /// that add entries to it.
    fn dictionary_open(&self) -> bool {
        self.dictionary.is_some() && !self.dictionary_written
    }

    /// The last [`RECENT`] batches' buffers.
    fn recent(&self) -> usize {
        self.recent.iter().fold(0, |a, &b| a.saturating_add(b))
    }
}

impl KeptValues {
    /// Chunks leaf `column` has opened.
    fn chunks(&self, column: usize) -> usize {
        self.leaves.get(column).map_or(0, |leaf| leaf.chunks)
    }

    /// Leaf `column`'s dictionary entries.
    fn entries(&mut self, column: usize) -> &mut Entries {
        if self.entries.len() <= column {
            self.entries.resize_with(column + 1, Entries::default);
        }
        &mut self.entries[column]
    }

    /// Leaf `column`'s dictionary is new, or gone: no entries, and none
    /// of their heap.
    fn forget_entries(&mut self, column: usize) {
        if let Some(entries) = self.entries.get_mut(column) {
            *entries = Entries::default();
        }
    }

    /// Back to the leaves and entries as they were before a batch.
    fn restore(&mut self, before: Vec<KeptBefore>) {
        for KeptBefore { column, leaf, undo } in before {
            self.update(column, |l| *l = leaf);
            self.entries(column).undo(undo);
        }
    }

    /// Change leaf `column` with `change`, keeping [`needed`](Self::needed)
    /// up to date; returns the leaf as it was.
    fn update(&mut self, column: usize, change: impl FnOnce(&mut KeptLeaf)) -> KeptLeaf {
        if self.leaves.len() <= column {
            self.leaves.resize(column + 1, KeptLeaf::default());
        }
        let leaf = &mut self.leaves[column];
        let before = *leaf;
        change(leaf);
        self.needed = self
            .needed
            .saturating_sub(before.needed())
            .saturating_add(leaf.needed());
        before
    }
}

/// A leaf as it was before a batch was admitted, to restore should the
/// batch be refused after all.
#[derive(Debug)]
struct KeptBefore {
    column: usize,
    leaf: KeptLeaf,
    undo: Undo,
}

/// What a leaf's statistics keep of buffers of up to `buffer` bytes: the
/// open chunk's minimum and maximum and its open page's, and where a
/// closed chunk does not let its two go (`!until_chunk`), those of the
/// `closed` chunks before. A chunk's are all slices of the copies parquet
/// made of the values written into it, which are no more than a chunk's
/// values (`cap`): charged four buffers a chunk whatever the row group,
/// 16 random `FixedSizeBinary(16)` columns in 131,000-row batches and
/// 50,000-row groups, with dictionaries, were stopped at 64 MiB with 23.3
/// MiB of heap (a review's finding; `tests/budget_memory.rs`, `cut`).
fn kept_by_statistics(buffer: usize, cap: usize, until_chunk: bool, closed: usize) -> usize {
    let buffer = buffer.min(cap);
    let open = buffer.saturating_mul(4).min(cap);
    match until_chunk {
        true => open,
        false => buffer
            .saturating_mul(2)
            .min(cap)
            .saturating_mul(closed)
            .saturating_add(open),
    }
}

/// What [`KeptValues`] charge is for, in [`Error::PageMetadataExhausted`].
const KEPT_VALUES: &str = "fixed-length values kept as slices of their batches' buffers by \
     statistics (decimals and Float16 until the file closes, others until the chunk closes), \
     dictionaries and DELTA_BYTE_ARRAY pages";

/// The cost model: a column's costs from its leaf index.
pub(crate) type CostModel = Arc<dyn Fn(usize) -> ColumnCost + Send + Sync>;

/// How [`Meter::try_admit`] takes a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Admission {
    /// A batch, whole; with `within`, only where what its fixed-length
    /// values' statistics keep of batches its size is within it (else it
    /// is refused for parts: [`Meter::kept_copies`]).
    Batch { within: Option<usize> },
    /// A part of a batch (its columns copied where a slice would have
    /// parquet convert the batch's other rows); `joins_last`: not its
    /// first, counted with the part before as one batch of the recent
    /// ones ([`Meter::batch_keeps_values`]).
    Part { joins_last: bool },
    /// Rows of a batch or part admitted already, which parquet writes as
    /// a batch of their own (cut where a row group ends,
    /// [`crate::row_groups`]): their chunks are looked at again, their
    /// values and levels not counted twice.
    Again,
}

/// Why [`Meter::try_admit`] refused a batch.
#[derive(Debug)]
pub(crate) struct Refused {
    pub error: Error,
    /// Whether it was refused the room to encode it, which parts of it
    /// need less of.
    pub room: bool,
    /// Whether a smaller part of it might be admitted: refused the room,
    /// or where statistics keep copies (of a part's size).
    pub smaller: bool,
    /// About what it needed that parts of it need less of (the room to
    /// encode it, the copies of its fixed-length values statistics keep);
    /// 0 where it was refused for a long value.
    pub per_rows: usize,
    /// What it needed whatever its parts: the copies of its fixed-length
    /// values a dictionary keeps until its chunk closes.
    pub whole: usize,
}

/// The shared, file-lifetime charge of one writer.
pub(crate) struct Meter {
    budget: MemoryBudget,
    held: Mutex<Reservation>,
    /// Room for the chunks closing at once ([`ColumnCost::closing`] of the
    /// largest open chunk, for each encoding thread); it only grows.
    closing: Mutex<Reservation>,
    /// Chunks that may close at once: the encoding threads.
    closers: usize,
    /// Pages longer than the plan's: see [`LongPages`].
    long: LongPages,
    /// Room for them beyond the plan's reservation, and the longest page
    /// each leaf has written; only grow.
    long_room: Mutex<(Reservation, Vec<usize>)>,
    /// Room for the largest batch so far while parquet encodes it
    /// ([`crate::encode_cost`], and [`CompactPages::beyond`]); only grows.
    batch_room: Mutex<Reservation>,
    /// Room for the compact copies of parts in flight at once
    /// ([`crate::compact`]); only grows. Apart from `batch_room`: a
    /// `ParallelWriter` may encode one batch's columns while it holds
    /// another's copies.
    copy_room: Mutex<Reservation>,
    /// The most a page may pass the plan's bound by in the batches
    /// admitted so far ([`CompactPages`]); only grows.
    compact: AtomicUsize,
    /// Batch buffers chunks' statistics and dictionaries keep ([`KeptValues`]).
    kept: Mutex<KeptValues>,
    /// The longest value admitted so far of each leaf in
    /// [`LongPages::statistics`] (what its pages' statistics may keep).
    longest: Mutex<Vec<usize>>,
    /// Levels of the data pages each repeated leaf has put so far.
    paged: Mutex<Vec<usize>>,
    /// Charged to open stores (released or kept when they drop).
    open: AtomicUsize,
    pages: AtomicU64,
    chunks: AtomicU64,
    /// Batches admitted in parts ([`crate::SpillMonitor::admit_in_parts`]).
    parted: AtomicU64,
    /// The plan's cost model: whether a leaf's statistics or dictionary
    /// will keep its batches' buffers, known before its first chunk opens
    /// ([`Meter::with_model`]).
    model: Option<CostModel>,
    /// The row-group row limit: how many chunks a batch may open.
    group_rows: Option<usize>,
    /// Room heap pages leave free for writers declared but not planned
    /// yet ([`Meter::with_headroom`]).
    headroom: Option<crate::budget::Headroom>,
    /// The page metadata the plan counted on ([`Meter::with_planned_metadata`]).
    planned_metadata: usize,
}

impl Meter {
    pub(crate) fn new(budget: &MemoryBudget, closers: usize, long: LongPages) -> Result<Self> {
        Ok(Self {
            held: Mutex::new(budget.reserve(0)?),
            closing: Mutex::new(budget.reserve(0)?),
            closers: closers.max(1),
            long,
            long_room: Mutex::new((budget.reserve(0)?, Vec::new())),
            batch_room: Mutex::new(budget.reserve(0)?),
            copy_room: Mutex::new(budget.reserve(0)?),
            compact: AtomicUsize::new(0),
            kept: Mutex::new(KeptValues::default()),
            longest: Mutex::new(Vec::new()),
            paged: Mutex::new(Vec::new()),
            open: AtomicUsize::new(0),
            budget: budget.clone(),
            pages: AtomicU64::new(0),
            chunks: AtomicU64::new(0),
            parted: AtomicU64::new(0),
            model: None,
            group_rows: None,
            headroom: None,
            planned_metadata: 0,
        })
    }

    /// Keep free, as rooms for batches and long pages grow, the page
    /// metadata the plan counted on and not charged yet
    /// ([`crate::Estimate::page_metadata`]; [`Meter::grow_room`]).
    pub(crate) fn with_planned_metadata(mut self, bytes: usize) -> Self {
        self.planned_metadata = bytes;
        self
    }

    /// Keep `headroom(budget)` free as metadata is charged, as the tiered
    /// store keeps it free of pages.
    pub(crate) fn with_headroom(mut self, headroom: crate::budget::Headroom) -> Self {
        self.headroom = Some(headroom);
        self
    }

    /// Grow `reservation` by `bytes`, first asking heap pages to make room
    /// so that the headroom stays free: a charge the budget has room for
    /// does not reclaim, so page metadata charged after the tier kept its
    /// pages up to the headroom would take that room from the writers it
    /// is kept for.
    fn grow(&self, reservation: &mut Reservation, bytes: usize) -> Result<()> {
        self.grow_leaving(reservation, bytes, 0)
    }

    /// [`grow`](Self::grow), only if `leave` bytes are still free after.
    fn grow_leaving(
        &self,
        reservation: &mut Reservation,
        bytes: usize,
        leave: usize,
    ) -> Result<()> {
        let headroom = self.headroom.as_ref().map_or(0, |h| h(&self.budget));
        if headroom > 0 {
            self.budget
                .reclaim_until_free(headroom.saturating_add(bytes).saturating_add(leave));
        }
        reservation.try_grow_leaving(bytes, leave)
    }

    /// Grow a room for batches, their copies or long pages by `bytes`,
    /// leaving free the page metadata the plan counted on and not charged
    /// yet. Rooms only grow, into what the plan leaves free, where the page
    /// metadata grows too: a room that took it all stopped the write on a
    /// few kilobytes of metadata (an IPC stream of a dictionary of labels
    /// of up to 50 KB, replaced every batch: long pages' room took 19.4 MB
    /// of 64 MiB, and the first chunk's 1,192 bytes found none). Refused,
    /// the batch is cut in parts, which need less room.
    ///
    /// The margin is only checked, never held: page metadata charged on
    /// another thread meanwhile finds it free. Its bytes are part of what
    /// a refused batch or page is said to need ([`Meter::room_margin`]).
    fn grow_room(&self, reservation: &mut Reservation, bytes: usize) -> Result<()> {
        match bytes {
            0 => Ok(()),
            _ => self.grow_leaving(reservation, bytes, self.room_margin()),
        }
    }

    /// What rooms leave free: the page metadata the plan counted on, less
    /// what is charged (which also counts values statistics and
    /// dictionaries keep, which the plan's figure does not: the margin
    /// errs small).
    fn room_margin(&self) -> usize {
        self.planned_metadata.saturating_sub(self.bytes())
    }

    /// Charge the first batches as what the first chunks will keep of them:
    /// without the model a leaf's kept buffers are charged only once its
    /// first chunk opens, after the batch was admitted, and a batch that
    /// took the room left (a sweep's first batch took 12.3 MiB of 64) made
    /// that chunk stop the write with [`Error::PageMetadataExhausted`]
    /// where parts of it would have been written.
    /// `group_rows`, the row-group row limit, tells how many chunks a
    /// batch may open, for sizing its parts.
    pub(crate) fn with_model(mut self, model: CostModel, group_rows: Option<usize>) -> Self {
        self.model = Some(model);
        self.group_rows = group_rows;
        self
    }

    /// All metadata charged right now: until the file closes, for chunks
    /// closing, and by open row groups.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes() + lock(&self.closing).bytes() + self.open.load(Ordering::Relaxed)
    }

    /// Pages and column chunks charged so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.pages.load(Ordering::Relaxed),
            self.chunks.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> MutexGuard<'_, Reservation> {
        lock(&self.held)
    }

    fn exhausted(&self, what: &'static str, requested: usize) -> Error {
        Error::PageMetadataExhausted {
            what,
            requested,
            metadata: self.bytes(),
            limit: self.budget.limit(),
        }
    }

    fn charge(&self, bytes: usize, what: &'static str) -> Result<()> {
        let grown = self.grow(&mut self.lock(), bytes);
        grown.map_err(|_| self.exhausted(what, bytes))
    }

    /// Grow the charge for [`KeptValues`] to what they need now.
    fn charge_kept(&self, kept: &mut KeptValues) -> Result<()> {
        if let Some(more) = kept.needed.checked_sub(kept.charged).filter(|&m| m > 0) {
            self.charge(more, KEPT_VALUES)?;
            kept.charged = kept.needed;
        }
        Ok(())
    }

    /// A new chunk of leaf `column`, whose statistics or dictionary keep
    /// values ([`ColumnCost::keeps_values`] and
    /// [`ColumnCost::dictionary_keeps_values`]).
    fn chunk_keeps_values(&self, column: usize, cost: &ColumnCost) -> Result<()> {
        // Where the last chunk's dictionary was written, its recent batches
        // are charged again here, for this chunk's.
        let mut kept = lock(&self.kept);
        kept.forget_entries(column);
        let before = kept.update(column, |leaf| {
            leaf.chunks += 1;
            leaf.open = leaf.recent();
            leaf.dictionary_written = false;
            leaf.entries = 0;
            leaf.keeps(cost);
        });
        let charged = self.charge_kept(&mut kept);
        if charged.is_err() {
            kept.update(column, |leaf| *leaf = before);
        }
        charged
    }

    /// A batch's buffers, by leaf ([`Scan::fixed_len`](crate::long_values::Scan::fixed_len)),
    /// and the arrays of those that are columns of their own
    /// ([`crate::dictionary_entries::flat_leaves`]; a leaf without one
    /// adds entries to its dictionary); returns what to restore if the
    /// batch is refused after all.
    ///
    /// `joins_last`: a part of the batch admitted last
    /// ([`crate::SpillMonitor::admit_in_parts`] admits every part before
    /// any is written), counted with it as one batch of the recent ones.
    fn batch_keeps_values(
        &self,
        batch: &[usize],
        arrays: &[Option<&arrow_array::ArrayRef>],
        joins_last: bool,
    ) -> Result<Vec<KeptBefore>> {
        let mut kept = lock(&self.kept);
        let mut before = Vec::new();
        for (column, &bytes) in batch.iter().enumerate().filter(|(_, &b)| b > 0) {
            // Before its first chunk: what that chunk will keep.
            let first = match (&self.model, kept.chunks(column)) {
                (Some(model), 0) => Some(model(column)),
                _ => None,
            };
            let mut now = kept.leaves.get(column).copied().unwrap_or_default();
            if let Some(cost) = &first {
                now.keeps(cost);
            }
            // A batch of values its open dictionary holds already adds no
            // entry, and keeps no buffer; its set may hold a quarter of
            // the largest buffer it spares.
            let array = arrays.get(column).copied().flatten();
            let (adds, undo, entries) = match array.filter(|_| now.dictionary_open()) {
                Some(array) => {
                    let cap = now.largest.max(bytes) / 4;
                    let set = kept.entries(column);
                    let (adds, undo) = set.add(array.as_ref(), cap);
                    (adds, undo, set.bytes())
                }
                None => (true, Undo::Nothing, now.entries),
            };
            let leaf = kept.update(column, |leaf| {
                if let Some(cost) = &first {
                    leaf.keeps(cost);
                }
                leaf.largest = leaf.largest.max(bytes);
                leaf.written = leaf.written.saturating_add(bytes);
                if adds {
                    leaf.open = leaf.open.saturating_add(bytes);
                }
                leaf.entries = entries;
                if joins_last {
                    let last = (leaf.next + RECENT - 1) % RECENT;
                    leaf.recent[last] = leaf.recent[last].saturating_add(bytes);
                } else {
                    leaf.recent[leaf.next] = bytes;
                    leaf.next = (leaf.next + 1) % RECENT;
                }
            });
            before.push(KeptBefore { column, leaf, undo });
        }
        if let Err(e) = self.charge_kept(&mut kept) {
            kept.restore(before);
            return Err(e);
        }
        Ok(before)
    }

    /// What batches' buffers are charged as kept, to
    /// [`restore_kept`](Self::restore_kept) should the batches be refused.
    /// Not the dictionaries' entries: a copy of every set would be heap
    /// no one charged, where batches are large enough to be cut.
    pub(crate) fn kept_snapshot(&self) -> KeptValues {
        let mut kept = lock(&self.kept);
        let entries = std::mem::take(&mut kept.entries);
        let snapshot = kept.clone();
        kept.entries = entries;
        snapshot
    }

    /// Back to `snapshot`, the charge shrunk to it. The dictionaries'
    /// entries are forgotten (not in the snapshot): every leaf's next
    /// batches are charged as adding entries until its sets are made again.
    pub(crate) fn restore_kept(&self, snapshot: KeptValues) {
        let mut kept = lock(&self.kept);
        let charged = kept.charged;
        *kept = KeptValues {
            charged,
            ..snapshot
        };
        for column in 0..kept.leaves.len() {
            kept.update(column, |leaf| leaf.entries = 0);
        }
        self.release_kept(&mut kept);
    }

    /// Undo [`batch_keeps_values`](Self::batch_keeps_values).
    fn restore_kept_values(&self, before: Vec<KeptBefore>) {
        let mut kept = lock(&self.kept);
        kept.restore(before);
        self.release_kept(&mut kept);
    }

    /// Leaf `column`'s open chunk wrote its dictionary page. parquet drops
    /// a dictionary's entries as it writes the page, so the buffers they
    /// kept are let go: a column of distinct values (UUIDs) falls back
    /// within its first megabyte of entries, where the chunk's values
    /// would have been charged until the chunk closed.
    fn dictionary_written(&self, column: usize) {
        let mut kept = lock(&self.kept);
        kept.forget_entries(column);
        kept.update(column, |leaf| {
            leaf.dictionary_written = true;
            leaf.entries = 0;
        });
        self.release_kept(&mut kept);
    }

    /// Shrink the charge for [`KeptValues`] to what they need now.
    fn release_kept(&self, kept: &mut KeptValues) {
        self.lock().shrink(kept.charged.saturating_sub(kept.needed));
        kept.charged = kept.charged.min(kept.needed);
    }

    /// Make room for chunks that need `bytes` more each while they close;
    /// returns the room there is now (per chunk), at least `bytes`.
    fn cover_closing(&self, bytes: usize) -> Result<usize> {
        let needed = bytes.saturating_mul(self.closers);
        let mut closing = lock(&self.closing);
        let more = needed.saturating_sub(closing.bytes());
        let grown = self.grow(&mut closing, more);
        let room = closing.bytes() / self.closers;
        drop(closing); // `exhausted` reads it
        grown.map_err(|_| self.exhausted("page index of a column chunk while it closes", more))?;
        Ok(room)
    }
}

/// What a batch makes of repeated leaves' open pages ([`Meter::open_pages`]).
#[derive(Debug, Default)]
struct OpenPages {
    /// What their pages keep beyond the plan, all leaves together, each at
    /// its heaviest page so far, this batch's among them ([`PageRoom::kept`]).
    kept: usize,
    /// The most one of them needs while it is written, on one thread.
    writing: usize,
    /// Each leaf's of this batch alone, in the order of the loads.
    each: Vec<PageRoom>,
    /// The leaf of this batch needing most, and the values a page of it
    /// may hold.
    worst: (usize, usize),
    most: usize,
    /// The page row limit.
    rows: usize,
}

/// What the plan assumed of the longest page, for pages longer than that:
/// a byte-array value longer than the page size makes a page as long as the
/// value, and parquet holds several copies of a page while it writes it
/// ([`LONG_PAGE_COPIES`]), which the plan's transient reservation covers
/// only up to `bound`.
#[derive(Debug, Clone)]
pub(crate) struct LongPages {
    /// The longest page (uncompressed) the plan's transient covers.
    pub bound: usize,
    /// The plan's transient reservation (all threads).
    pub covered: usize,
    /// Pages of fixed-width leaves that a large batch lets pass the bound.
    pub compact: CompactPages,
    /// By leaf: the length past which its statistics keep a value longer
    /// than its costs count ([`LongStatistics::counted`]); `usize::MAX`
    /// where they do not. [`Meter::admit`] finds each such leaf's longest
    /// value.
    pub statistics: Vec<usize>,
    /// By leaf: its codec and the longest page the plan's figures for it
    /// cover. zstd keeps a context sized for the longest page a column has
    /// compressed, and brotli builds an encoder for it
    /// ([`crate::plan::codec`]): a longer page costs more of both.
    pub codecs: Vec<(Compression, usize)>,
    /// The plan's larger page limit (data or dictionary): a page of long
    /// values holds them past what the page already held.
    pub page_limit: usize,
    /// By leaf: what a repeated leaf's open page keeps per value and level
    /// ([`crate::page_rows`]); `None` for the others.
    pub repeated: Vec<Option<PageValues>>,
    /// parquet 60 counts a row group's distinct values
    /// ([`crate::encode_cost::leaf`]'s `distinct`).
    pub distinct_values: bool,
}

/// Pages longer than this, for a plan whose longest page is `bound`, are
/// beyond the plan: a page reaches the bound plus its levels and the batch
/// that crossed the limit, and an eighth more is still the plan's.
pub(crate) fn long_page_trigger(bound: usize) -> usize {
    bound.saturating_add(bound / 8)
}

/// Pages of nullable, unrepeated fixed-width leaves in batches without
/// nulls. parquet 60.1 hands such a leaf to its encoder in mini-batches of
/// up to the page row limit instead of the write batch size (its levels
/// are "compact"), and checks the page limits only after each one, so a
/// page can pass them by up to `min(page, rows x width)` where the plan
/// assumed `min(page, batch x width)`: a nullable `Decimal128(38, _)`
/// column without nulls wrote 29,828-value pages at a 20,000-row limit.
/// Only as many rows as a write holds reach one mini-batch, so the excess
/// is known once the batch is: [`Meter::admit`] makes room for it.
#[derive(Debug, Clone, Default)]
pub(crate) struct CompactPages {
    /// The plan's data page size, page row limit and write batch size.
    pub page: usize,
    pub rows: usize,
    pub batch: usize,
    /// The distinct value widths of those leaves.
    pub widths: Vec<usize>,
}

impl CompactPages {
    /// How far beyond the plan's bound a page can grow when a write of
    /// `rows` rows reaches parquet.
    fn beyond(&self, rows: usize) -> usize {
        let mini = rows.min(self.rows);
        let page = |values: usize, width: usize| self.page.min(values.saturating_mul(width));
        self.widths
            .iter()
            .map(|&w| page(mini, w).saturating_sub(page(self.batch, w)))
            .max()
            .unwrap_or(0)
    }
}

impl LongPages {
    /// What leaf `leaf`'s codec keeps, beyond the plan's figure for it,
    /// once it has compressed a page of `long` bytes of long values (and
    /// up to the page limit of others: where `long` is a whole page's
    /// size, that errs safe).
    fn codec_kept(&self, leaf: usize, long: usize) -> usize {
        self.codecs.get(leaf).map_or(0, |&(codec, planned)| {
            let page = long.saturating_add(self.page_limit);
            codec::per_column(codec, page).saturating_sub(codec::per_column(codec, planned))
        })
    }

    /// What leaf `leaf`'s codec holds while it compresses such a page.
    fn codec_transient(&self, leaf: usize, long: usize) -> usize {
        self.codecs.get(leaf).map_or(0, |&(codec, _)| {
            codec::transient(codec, long.saturating_add(self.page_limit))
        })
    }

    /// Pages longer than this are beyond the plan ([`long_page_trigger`]).
    fn trigger(&self) -> usize {
        long_page_trigger(self.bound)
    }
}

/// Bytes parquet 60 holds at once, per byte of a page, while it writes a
/// page of one long value: the value in the encoder's buffer, the encoded
/// page, its compressed copy and the buffers they grow through. Measured
/// with a counting allocator over a store that keeps nothing, the caller's
/// batch aside: 5.0x with LZ4_RAW and zstd, 3.0x uncompressed, 4 and
/// 16 MiB values (`tests/calibration.rs::long_page_copies_are_within_the_meters_room`);
/// one more copy is kept for what the codecs' own buffers may add.
pub(crate) const LONG_PAGE_COPIES: usize = 6;

/// Bytes a column that has written a page this long keeps between its
/// writes, per byte of the page: its buffers keep their capacity (ten
/// columns of 3 MiB values held 72 MiB with every page spilled, where
/// this and [`LONG_PAGE_COPIES`] count 78 MiB;
/// `tests/budget_memory.rs::long_values_stay_within_the_limit`).
pub(crate) const LONG_PAGE_KEPT: usize = 2;

impl Meter {
    /// A page of `page` bytes (uncompressed) was written by leaf `column`:
    /// if it is longer than the plan's pages, make room for pages this long
    /// on every encoding thread, beyond the plan's transient (heap pages
    /// yield to it). Fails when the limit cannot hold it.
    fn cover_long_page(&self, column: usize, page: usize, levels: Option<usize>) -> Result<()> {
        // A list's levels make its pages longer, with room made for them
        // when their batch was admitted: up to what its `levels` levels
        // take, and no more than was admitted.
        let bytes = match (levels, self.long.repeated.get(column)) {
            (Some(levels), Some(Some(values))) => values.level_bytes(levels, true),
            _ => 0,
        };
        // Only a list's data pages look (every page of a column passes).
        let page = match bytes {
            0 => page,
            _ => {
                let admitted = lock(&self.kept).rooms.get(column).map_or(0, |r| r.levels);
                page.saturating_sub(bytes.min(admitted))
            }
        };
        self.cover_long_pages_below(&[(column, page)], self.trigger())
    }

    /// [`cover_long_page`](Self::cover_long_page) for several leaves at
    /// once (those longer than `trigger`), all or nothing: refused,
    /// nothing is recorded or reserved, so a refused batch leaves later
    /// ones judged as before it.
    fn cover_long_pages_below(&self, pages: &[(usize, usize)], trigger: usize) -> Result<()> {
        let long = || pages.iter().filter(|(_, page)| *page > trigger);
        let Some(&(column, page)) = long().max_by_key(|(_, page)| *page) else {
            return Ok(());
        };
        let mut guard = lock(&self.long_room);
        let (room, recorded) = &mut *guard;
        let mut longest = recorded.clone();
        for &(leaf, page) in long() {
            if longest.len() <= leaf {
                longest.resize(leaf + 1, 0);
            }
            longest[leaf] = longest[leaf].max(page);
        }
        // What every leaf keeps of its longest page (its codec's context
        // too), and the longest page being written on every thread at once.
        let kept = longest.iter().enumerate().fold(0usize, |sum, (leaf, &p)| {
            sum.saturating_add(p.saturating_mul(LONG_PAGE_KEPT))
                .saturating_add(self.long.codec_kept(leaf, p))
        });
        let writing = longest
            .iter()
            .enumerate()
            .map(|(leaf, &p)| {
                p.saturating_mul(LONG_PAGE_COPIES)
                    .saturating_add(self.long.codec_transient(leaf, p))
            })
            .max()
            .unwrap_or(0)
            .saturating_mul(self.closers);
        // With the allocator's share of it, as the plan takes of the limit.
        let beyond = kept
            .saturating_add(writing)
            .saturating_sub(self.long.covered);
        let needed = beyond.saturating_add(beyond / crate::plan::ALLOCATOR_SHARE);
        let more = needed.saturating_sub(room.bytes());
        self.grow_room(room, more).map_err(|_| Error::PageTooLong {
            column,
            page,
            planned: self.long.bound,
            needed: needed.saturating_add(self.room_margin()),
            limit: self.budget.limit(),
        })?;
        *recorded = longest;
        Ok(())
    }

    /// Make room, before `batch` is written, for what parquet allocates
    /// to encode it ([`crate::encode_cost`]; on every encoding thread) and
    /// for its values longer than the plan's pages
    /// ([`crate::long_values`]), all at once; fails with
    /// [`Error::BatchTooLarge`] or as such a page would, and then nothing
    /// of it is reserved.
    pub(crate) fn admit(&self, batch: &RecordBatch) -> Result<()> {
        self.try_admit(batch, Admission::Batch { within: None })
            .map(drop)
            .map_err(|refused| refused.error)
    }

    /// [`admit`](Self::admit), saying, where the batch is refused, why and
    /// about what parts of it would need ([`Refused`]), as `how` says
    /// ([`Admission`]). A part of a batch is admitted as a compact copy of
    /// the columns whose lists' children parquet would otherwise convert
    /// whole ([`crate::compact`]), with room for the copy: the columns to
    /// copy are returned, and the caller must write the part with them
    /// copied.
    pub(crate) fn try_admit(
        &self,
        batch: &RecordBatch,
        how: Admission,
    ) -> std::result::Result<Vec<usize>, Box<Refused>> {
        let part = matches!(how, Admission::Part { .. });
        let beyond = self.long.compact.beyond(batch.num_rows());
        let compact = beyond.max(self.compact.load(Ordering::Relaxed));
        let threshold = self.long.trigger().saturating_add(compact);
        let long = &self.long;
        let scan = crate::long_values::scan(
            batch,
            threshold,
            &long.statistics,
            &long.repeated,
            long.distinct_values,
            crate::long_values::MiniBatches {
                batch: long.compact.batch,
                rows: long.compact.rows,
                page_limit: long.page_limit,
            },
        );
        if !scan.statistics.is_empty() {
            // Kept however the batch fares: a longer bound errs safe.
            let mut longest = lock(&self.longest);
            for &(leaf, len) in &scan.statistics {
                if longest.len() <= leaf {
                    longest.resize(leaf + 1, 0);
                }
                longest[leaf] = longest[leaf].max(len);
            }
        }
        let statistics = self.statistics_in_flight();
        // A page of those two values, with their 4-byte length prefixes:
        // parquet's byte budget lets a page take up to two values past its
        // limit (a dictionary page held two 2 MiB values in a fresh sweep).
        let pages: Vec<(usize, usize)> = scan
            .long
            .into_iter()
            .map(|(leaf, two)| (leaf, two.saturating_add(8)))
            .collect();
        // What its rows bring repeated leaves' open pages: their levels
        // make them longer than the plan's, and their values' handles
        // need room beyond it. Rows admitted again brought theirs already
        // (counted on top, they were counted twice: two cases of the lists
        // sweep were stopped so).
        let open = match how {
            Admission::Again => OpenPages::default(),
            _ => self.open_pages(&scan.repeated),
        };
        let (columns, copied, copies) = self.copies(batch, &scan.columns, &scan.compact, part);
        // What parquet allocates to encode the batch, and a page `beyond`
        // longer than planned (in the encoder and as the encoded page) on
        // every thread, as the plan's transient counts its pages.
        let encoding = crate::encode_cost::batch(&columns, self.closers)
            .saturating_add(beyond.saturating_mul(2).saturating_mul(self.closers));
        // With the allocator's share of it, as the plan takes of the limit.
        let encoding = encoding.saturating_add(statistics);
        let needed = encoding.saturating_add(encoding / crate::plan::ALLOCATOR_SHARE);
        let copies = copies.saturating_add(copies / crate::plan::ALLOCATOR_SHARE);
        // What parts of it would need: the room, and the copies of its
        // fixed-length values that statistics keep (two a chunk, of the
        // largest part: as many chunks as it may open) or a dictionary
        // keeps (of every part, whatever their size).
        // Looked at only where the batch is refused: not on every batch.
        let by_rows = |error, room| {
            let (statistics, dictionary) =
                self.kept_copies(&scan.fixed_len, batch.num_rows(), false);
            Box::new(Refused {
                error,
                room,
                smaller: room || statistics > 0,
                per_rows: needed.saturating_add(statistics),
                whole: dictionary,
            })
        };
        let too_large = || Error::BatchTooLarge {
            statistics,
            rows: batch.num_rows(),
            needed: needed
                .saturating_add(copies)
                .saturating_add(self.room_margin()),
            limit: self.budget.limit(),
        };
        // Statistics keep up to four buffers a leaf of batches this size
        // (two a chunk, two a page), for as long as the chunk or the file:
        // where a batch makes them larger than the share of the limit it is
        // given, parts keep smaller ones. Admitted whole while the limit
        // held them, 16 columns of random `FixedSizeBinary(16)` in
        // 131,000-row batches filled it with them, and the write stopped at
        // 64 and 96 MiB (`tests/budget_memory.rs`, `fsb`). Parts count as
        // admitted: once a batch is cut, every later one its size is too
        // (admitted whole, it would make the buffers charged that large).
        if let Admission::Batch {
            within: Some(share),
        } = how
        {
            if scan.fixed_len.iter().any(|&bytes| bytes > 0)
                && self.kept_copies(&scan.fixed_len, batch.num_rows(), true).0 > share
            {
                return Err(by_rows(too_large(), false));
            }
        }
        let mut room = lock(&self.batch_room);
        let more = needed.saturating_sub(room.bytes());
        self.grow_room(&mut room, more)
            .map_err(|_| by_rows(too_large(), true))?;
        let mut copy_room = lock(&self.copy_room);
        let more_copies = copies.saturating_sub(copy_room.bytes());
        if self.grow_room(&mut copy_room, more_copies).is_err() {
            room.shrink(more);
            return Err(by_rows(too_large(), true));
        }
        // The open pages' on top: every repeated leaf's heaviest page so
        // far, this batch's among them. Parts of the batch need as much of
        // it (their rows join the same pages) and less room to encode.
        let pages_room = open
            .kept
            .saturating_add(open.writing.saturating_mul(self.closers));
        let with_pages = pages_room.saturating_add(pages_room / crate::plan::ALLOCATOR_SHARE);
        let with_pages = needed.saturating_add(with_pages);
        let more_pages = with_pages.saturating_sub(room.bytes());
        if self.grow_room(&mut room, more_pages).is_err() {
            room.shrink(more);
            copy_room.shrink(more_copies);
            let (column, values) = open.worst;
            let error = Error::PageTooManyValues {
                column,
                values,
                rows: open.rows,
                needed: with_pages.saturating_add(self.room_margin()),
                limit: self.budget.limit(),
            };
            // Parts need less room to encode, and as much for the pages:
            // a part refused is refused for the pages.
            let mut refused = by_rows(error, false);
            refused.smaller = true;
            refused.whole = refused.whole.saturating_add(with_pages - needed);
            return Err(refused);
        }
        let more = more.saturating_add(more_pages);
        // Refused from here on, the batch keeps no room.
        // Only where some leaf's values are copied into buffers.
        let arrays = match scan.fixed_len.iter().any(|&bytes| bytes > 0) {
            true => crate::dictionary_entries::flat_leaves(batch),
            false => Vec::new(),
        };
        let kept = match how {
            // Its values were charged with the rows it was cut from.
            Admission::Again => Ok(Vec::new()),
            Admission::Part { joins_last } => {
                self.batch_keeps_values(&scan.fixed_len, &arrays, joins_last)
            }
            Admission::Batch { .. } => self.batch_keeps_values(&scan.fixed_len, &arrays, false),
        };
        let kept = match kept {
            Ok(kept) => kept,
            Err(e) => {
                room.shrink(more);
                copy_room.shrink(more_copies);
                // The buffers parquet copies the batch's values into.
                // Smaller parts keep smaller copies in statistics.
                return Err(by_rows(e, false));
            }
        };
        let long = self.cover_long_pages_below(&pages, threshold);
        match long {
            Ok(()) => {
                self.compact.fetch_max(beyond, Ordering::Relaxed);
                if !matches!(how, Admission::Again) {
                    self.admitted_levels(batch.num_rows(), &scan.repeated, &open.each);
                }
                Ok(copied)
            }
            Err(error) => {
                room.shrink(more);
                copy_room.shrink(more_copies);
                self.restore_kept_values(kept);
                // Long values: one value makes the page. A mini-batch
                // (of a dictionary's values, or sized from shorter ones):
                // fewer rows make a shorter one.
                let per_rows = match (&error, scan.batched.is_empty()) {
                    (Error::PageTooLong { needed, .. }, false) => *needed,
                    _ => 0,
                };
                Err(Box::new(Refused {
                    error,
                    room: false,
                    smaller: per_rows > 0,
                    per_rows,
                    whole: 0,
                }))
            }
        }
    }

    /// What long minimums and maximums take before any store sees them
    /// ([`LongStatistics`]; charged as their pages are put, in
    /// `MeteredStore::charge_long_statistics`), from the longest value of
    /// each leaf admitted so far:
    /// - each leaf's open page keeps its minimum and maximum whole, three
    ///   while one is replaced (parquet copies the new value before it
    ///   drops the old), and its open chunk its own two, also whole
    ///   whatever the truncation ([`ColumnCost::open_statistics`]; a
    ///   review's finding: 32 columns of 20 rising 250 KB strings, default
    ///   statistics truncated to 64 bytes, took 47.8 MiB of heap at 32
    ///   MiB, written), beyond what the store charges for the chunk's;
    /// - a page being closed, on each encoding thread, its column index
    ///   entry's and its chunk's besides, where they are kept long (a
    ///   review's finding: 1.06 MB strings, one a row group, the column
    ///   index untruncated, took 32.4 MiB of heap at 32 MiB before the put
    ///   that was refused).
    fn statistics_in_flight(&self) -> usize {
        let Some(model) = &self.model else {
            return 0;
        };
        let longest = lock(&self.longest);
        let (mut open, mut closing) = (0usize, 0usize);
        for (leaf, &len) in longest.iter().enumerate().filter(|(_, &len)| len > 0) {
            let cost = model(leaf);
            let beyond = |s: Option<LongStatistics>| s.map_or(0, |s| s.beyond(usize::MAX, len));
            let (index, chunk) = (beyond(cost.long_index), beyond(cost.long_chunk));
            let whole = cost
                .open_statistics
                .map_or(0, |counted| len.saturating_sub(counted));
            let page = whole.max(index).max(chunk).saturating_mul(3);
            let open_chunk = whole.saturating_sub(chunk).saturating_mul(2);
            open = open.saturating_add(page).saturating_add(open_chunk);
            closing = closing.max(index.saturating_add(chunk).saturating_mul(2));
        }
        open.saturating_add(closing.saturating_mul(self.closers))
    }

    /// Each column's cost to encode `batch` (`scan`), the columns to copy
    /// where it is a `part` ([`crate::compact`]: those whose lists' children
    /// parquet would convert whole, and can be copied), and the copies'
    /// peak, for every part in flight at once: the one being written, and
    /// on a `ParallelWriter` of several threads those its columns queue
    /// ([`crate::PARALLEL_QUEUED_BATCHES`]).
    fn copies(
        &self,
        batch: &RecordBatch,
        sliced: &[usize],
        compact: &[usize],
        part: bool,
    ) -> (Vec<usize>, Vec<usize>, usize) {
        let mut columns = sliced.to_vec();
        if !part {
            return (columns, Vec::new(), 0);
        }
        let copied: Vec<usize> = (0..columns.len())
            .filter(|&c| compact.get(c).is_some_and(|&copy| copy < sliced[c]))
            .filter(|&c| crate::compact::copyable(batch.column(c).data_type()))
            .collect();
        let mut bytes = 0usize;
        for &c in &copied {
            columns[c] = compact[c];
            bytes = bytes.saturating_add(crate::compact::bytes(batch.column(c)));
        }
        let in_flight = match self.closers {
            1 => 1,
            _ => 1 + crate::PARALLEL_QUEUED_BATCHES,
        };
        let copies = bytes
            .saturating_mul(crate::compact::GROWTH)
            .saturating_mul(in_flight);
        (columns, copied, copies)
    }

    /// What a batch bringing `loads` makes of repeated leaves' open pages
    /// ([`crate::page_rows`]): a page holds what the batches before it
    /// left in it (their levels its pages have not taken) and the batch's
    /// first rows, or any row limit's worth of its rows, and one
    /// mini-batch more; what each leaf's heaviest page needs stays
    /// ([`KeptValues::rooms`]).
    fn open_pages(&self, loads: &[(usize, PageLoad)]) -> OpenPages {
        let mut open = OpenPages::default();
        if loads.is_empty() {
            return open;
        }
        // `paged` is taken alone elsewhere: no other order to meet.
        let kept = lock(&self.kept);
        let paged = lock(&self.paged);
        let none = Admitted::default();
        let mut rooms = kept.rooms.clone();
        for &(leaf, load) in loads {
            let Some(Some(page)) = self.long.repeated.get(leaf) else {
                open.each.push(PageRoom::default());
                continue;
            };
            let admitted = kept.admitted.get(leaf).unwrap_or(&none);
            let paged = paged.get(leaf).copied().unwrap_or(0);
            let counts = load.page(|m| admitted.last(paged, page.rows, m));
            // Rows short of the limit, and the mini-batch that ends it.
            let mini = page.mini_batch(load.row, load.definitions_vary);
            let values = counts.values.saturating_add(mini.values);
            let levels = counts.levels.saturating_add(mini.levels);
            // The levels make the page longer by their bytes (its values
            // stay within the page limit); past what the plan's pages
            // reach, the copies of the rest while it is written, and what
            // its buffers and codec keep.
            let vary = load.definitions_vary || admitted.varied;
            let page_counts = Counts { values, levels };
            let (limit, trigger) = (self.long.page_limit, self.long.trigger());
            let mut room = page.room(page_counts, load.row, vary, limit, trigger);
            room.kept = room
                .kept
                .saturating_add(self.long.codec_kept(leaf, room.levels));
            room.writing = room.writing.saturating_add(
                self.long
                    .codec_transient(leaf, room.levels)
                    .saturating_sub(self.long.codec_transient(leaf, 0)),
            );
            open.each.push(room);
            if room.kept >= open.most {
                (open.worst, open.most) = ((leaf, values), room.kept);
            }
            if rooms.len() <= leaf {
                rooms.resize(leaf + 1, PageRoom::default());
            }
            rooms[leaf] = rooms[leaf].max(room);
            open.rows = page.rows;
        }
        // Every leaf's heaviest page so far, this batch's among them.
        for room in &rooms {
            open.kept = open.kept.saturating_add(room.kept);
            open.writing = open.writing.max(room.writing);
        }
        open
    }

    /// Count the rows and levels of an admitted batch's repeated leaves,
    /// and the room their pages need beyond the plan (`rooms`, by load).
    fn admitted_levels(&self, rows: usize, loads: &[(usize, PageLoad)], rooms: &[PageRoom]) {
        if loads.is_empty() {
            return;
        }
        let mut kept = lock(&self.kept);
        for (&(leaf, load), &room) in loads.iter().zip(rooms) {
            if kept.admitted.len() <= leaf {
                kept.admitted.resize(leaf + 1, Admitted::default());
            }
            kept.admitted[leaf].push(rows, &load);
            if kept.rooms.len() <= leaf {
                kept.rooms.resize(leaf + 1, PageRoom::default());
            }
            kept.rooms[leaf] = kept.rooms[leaf].max(room);
        }
    }

    /// Leaf `column` put a data page of `levels` levels.
    fn paged(&self, column: usize, levels: usize) {
        let mut paged = lock(&self.paged);
        if paged.len() <= column {
            paged.resize(column + 1, 0);
        }
        paged[column] = paged[column].saturating_add(levels);
    }

    /// Pages longer than this are beyond what the plan and the batches
    /// admitted so far made room for.
    fn trigger(&self) -> usize {
        let compact = self.compact.load(Ordering::Relaxed);
        self.long.trigger().saturating_add(compact)
    }

    /// The longest a value of leaf `column` in a page of `size` bytes may
    /// be: the longest admitted, or the page itself where it is longer than
    /// the plan's pages (one long value, perhaps of a batch not admitted).
    fn value_bound(&self, column: usize, size: usize) -> usize {
        if size > self.trigger() {
            return size;
        }
        lock(&self.longest).get(column).copied().unwrap_or(0)
    }

    /// What statistics (in proportion to the part's rows) and
    /// dictionaries (whatever the parts) may keep of a batch whose leaves'
    /// copies of their fixed-length values take `fixed_len` bytes: the
    /// plan's model where it is known, else what each leaf's chunks told.
    /// `larger`: statistics' of the leaves whose buffers it makes larger
    /// than any batch or part admitted so far only (the others are charged
    /// as large already, whatever its parts).
    fn kept_copies(&self, fixed_len: &[usize], rows: usize, larger: bool) -> (usize, usize) {
        // The chunks the batch may open.
        let opens = self
            .group_rows
            .map_or(1, |group| rows.div_ceil(group.max(1)).saturating_add(1));
        let kept = lock(&self.kept);
        let (mut statistics, mut dictionary) = (0usize, 0usize);
        for (leaf, &bytes) in fixed_len.iter().enumerate().filter(|(_, &b)| b > 0) {
            let state = kept.leaves.get(leaf).copied().unwrap_or_default();
            let (keeps, until_chunk, dictionary_keeps) = match &self.model {
                Some(model) => {
                    let cost = model(leaf);
                    (
                        cost.keeps_values,
                        cost.keeps_values_until_chunk,
                        cost.dictionary_keeps_values,
                    )
                }
                None => (state.statistics, state.until_chunk, state.dictionary),
            };
            if let Some(cap) = keeps.filter(|&cap| !larger || bytes.min(cap) > state.largest) {
                // Two buffers a chunk so far and for each the batch may
                // open, and the open page's, each of this batch: more than
                // the charge ([`kept_by_statistics`]) where a chunk's
                // values are fewer, as the chunks to come are. Sized so,
                // parts keep the buffers charged for every chunk small (a
                // `Decimal128(38, 2)` column in 300,001-row groups stopped
                // at 80 MiB where the charge sized them,
                // `tests/parallel.rs`,
                // `batches_written_in_parts_split_row_groups_as_arrow_writer`).
                let chunks = match until_chunk {
                    true => 1,
                    false => state.chunks.max(1).saturating_add(opens),
                };
                let per_chunk = bytes.min(cap).saturating_mul(2);
                let kept = per_chunk.saturating_mul(chunks.saturating_add(1));
                statistics = statistics.saturating_add(kept);
            }
            if let Some(cap) = dictionary_keeps {
                dictionary = dictionary.saturating_add(bytes.min(cap));
            }
        }
        (statistics, dictionary)
    }

    /// Count a batch admitted in parts.
    pub(crate) fn count_parted(&self) {
        self.parted.fetch_add(1, Ordering::Relaxed);
    }

    /// Batches admitted in parts so far.
    pub(crate) fn parted(&self) -> u64 {
        self.parted.load(Ordering::Relaxed)
    }

    /// Room held for the largest batch while parquet encodes it, and for
    /// the compact copies of parts in flight.
    pub(crate) fn batch_room(&self) -> usize {
        let copies = lock(&self.copy_room).bytes();
        lock(&self.batch_room).bytes().saturating_add(copies)
    }

    /// Room held for pages longer than the plan's.
    pub(crate) fn long_room(&self) -> usize {
        lock(&self.long_room).0.bytes()
    }
}

/// What the metered store reads of a page header parquet wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageHeader {
    kind: i64,
    /// Uncompressed size.
    size: usize,
    /// A data page's levels ([`data_page_levels`]).
    levels: Option<usize>,
}

/// The page type and uncompressed size in a page header parquet wrote
/// (Thrift compact: field 1, the page type, then field 2,
/// `uncompressed_page_size`, both `i32`), and a data page's levels;
/// `None` for anything else (an encrypted header, another writer).
fn page_header(header: &[u8]) -> Option<PageHeader> {
    let mut bytes = header.iter();
    (*bytes.next()? == NEXT_I32).then_some(())?;
    let kind = zigzag(varint(&mut bytes)?);
    (*bytes.next()? == NEXT_I32).then_some(())?;
    let size = usize::try_from(zigzag(varint(&mut bytes)?)).ok()?;
    let levels = data_page_levels(&mut bytes);
    Some(PageHeader { kind, size, levels })
}

/// The levels of a data page (v1 or v2), from the rest of its header
/// past field 2: its `num_values`, the first field of the page's own
/// header (field 5 or 8, after the compressed size and an optional CRC);
/// `None` for a dictionary page or anything else.
fn data_page_levels(bytes: &mut std::slice::Iter<'_, u8>) -> Option<usize> {
    let mut field = 2u8;
    loop {
        let byte = *bytes.next()?;
        let (delta, kind) = (byte >> 4, byte & 0x0f);
        field = field.checked_add(delta).filter(|_| delta > 0)?;
        match (field, kind) {
            (3..=4, I32) => {
                varint(bytes)?;
            }
            (5 | 8, STRUCT) => {
                (*bytes.next()? == NEXT_I32).then_some(())?;
                return usize::try_from(zigzag(varint(bytes)?)).ok();
            }
            _ => return None,
        }
    }
}

/// Thrift compact types: i32 and struct.
const I32: u8 = 5;
const STRUCT: u8 = 12;

/// Thrift compact field header: delta 1, type i32 (5).
const NEXT_I32: u8 = 0x15;
/// parquet's `PageType::DICTIONARY_PAGE`.
const DICTIONARY_PAGE: i64 = 2;

fn zigzag(value: u64) -> i64 {
    (value >> 1) as i64 ^ -((value & 1) as i64)
}

/// A Thrift compact varint.
fn varint(bytes: &mut std::slice::Iter<'_, u8>) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.next()?;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl fmt::Debug for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (pages, chunks) = self.counts();
        f.debug_struct("Meter")
            .field("bytes", &self.bytes())
            .field("pages", &pages)
            .field("chunks", &chunks)
            .finish()
    }
}

/// Charges each store's pages and chunk to a [`Meter`], then passes the
/// blobs on to the inner factory's store.
pub(crate) struct MeteredStoreFactory {
    inner: Arc<dyn PageStoreFactory>,
    meter: Arc<Meter>,
    model: CostModel,
}

impl MeteredStoreFactory {
    pub(crate) fn new(
        inner: Arc<dyn PageStoreFactory>,
        meter: Arc<Meter>,
        model: CostModel,
    ) -> Self {
        Self {
            inner,
            meter,
            model,
        }
    }
}

impl fmt::Debug for MeteredStoreFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeteredStoreFactory")
            .field("inner", &self.inner)
            .field("meter", &self.meter)
            .finish()
    }
}

impl PageStoreFactory for MeteredStoreFactory {
    fn create(&self, args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        let cost = (self.model)(args.column_index());
        let store = MeteredStore::new(
            self.inner.create(args)?,
            &self.meter,
            cost,
            args.column_index(),
        )?;
        // Charged once the store exists: a failed create leaves no chunk.
        self.meter
            .charge(cost.chunk, "column chunk until the file closes")?;
        if cost.keeps_values.is_some() || cost.dictionary_keeps_values.is_some() {
            self.meter.chunk_keeps_values(args.column_index(), &cost)?;
        }
        self.meter.chunks.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(store))
    }
}

/// One column's store, charging a page on every second `put`.
struct MeteredStore {
    inner: Box<dyn PageStore>,
    meter: Arc<Meter>,
    cost: ColumnCost,
    /// The leaf column's index.
    column: usize,
    /// The uncompressed size in the last page header put, if parquet's.
    header_size: Option<usize>,
    /// Levels of the data page whose header came last (a list's).
    header_levels: Option<usize>,
    /// The last page header put was a dictionary page's (no statistics).
    dictionary_page: bool,
    puts: u64,
    pages: usize,
    /// Room the meter had for a closing chunk when last asked: it only
    /// grows, so the meter is asked again only when this chunk outgrows it.
    closing_room: usize,
    /// Bytes of small blobs put: the tiered store's arena holds them.
    small: usize,
    /// Charged for its pages' column-index entries beyond `cost.page`
    /// ([`ColumnCost::long_index`]).
    index_beyond: usize,
    /// The most its chunk's minimum or maximum keeps beyond what
    /// `cost.chunk` counts ([`ColumnCost::long_chunk`]), charged twice.
    chunk_beyond: usize,
    /// Released when the store (the row group) is gone.
    until_flush: Reservation,
    /// A repeated leaf's: its data pages' levels are counted
    /// ([`Meter::open_pages`]).
    repeated: bool,
}

impl MeteredStore {
    /// `inner`, its tables' first capacity charged.
    fn new(
        inner: Box<dyn PageStore>,
        meter: &Arc<Meter>,
        cost: ColumnCost,
        column: usize,
    ) -> Result<Self> {
        let mut store = Self {
            inner,
            meter: Arc::clone(meter),
            cost,
            column,
            header_size: None,
            header_levels: None,
            dictionary_page: false,
            puts: 0,
            pages: 0,
            closing_room: 0,
            small: 0,
            index_beyond: 0,
            chunk_beyond: 0,
            until_flush: meter.budget.reserve(0)?,
            repeated: matches!(meter.long.repeated.get(column), Some(Some(_))),
        };
        store.grow_until_flush(
            cost.store(),
            "a store's tables until the row group is flushed",
        )?;
        Ok(store)
    }

    fn grow_until_flush(&mut self, bytes: usize, what: &'static str) -> Result<()> {
        self.meter
            .grow(&mut self.until_flush, bytes)
            .map_err(|_| self.meter.exhausted(what, bytes))?;
        self.meter.open.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// A page of `size` bytes: its minimum and maximum in the column index
    /// and the chunk's statistics, beyond what the costs count
    /// ([`LongStatistics`]).
    fn charge_long_statistics(&mut self, size: usize) -> Result<()> {
        if self.cost.long_index.is_none() && self.cost.long_chunk.is_none() {
            return Ok(());
        }
        let longest = self.meter.value_bound(self.column, size);
        if let Some(index) = self.cost.long_index {
            let more = index.beyond(size, longest).saturating_mul(2);
            if more > 0 {
                self.grow_until_flush(more, LONG_STATISTICS)?;
                self.index_beyond = self.index_beyond.saturating_add(more);
            }
        }
        if let Some(chunk) = self.cost.long_chunk {
            let beyond = chunk.beyond(size, longest);
            if beyond > self.chunk_beyond {
                self.grow_until_flush((beyond - self.chunk_beyond) * 2, LONG_STATISTICS)?;
                self.chunk_beyond = beyond;
            }
        }
        Ok(())
    }
}

/// What [`LongStatistics`] charges are for, in [`Error::PageMetadataExhausted`].
const LONG_STATISTICS: &str = "byte-array minimums and maximums the column index and chunk \
     statistics keep past 256 bytes (the caller's truncation is longer, or none) until the file \
     closes";

impl Drop for MeteredStore {
    fn drop(&mut self) {
        // The row group is flushed (or abandoned): its pages' index entries
        // stay until the file closes, charged from what the store held (at
        // least that much a page); the rest is released.
        let open = self.until_flush.bytes();
        let kept = self
            .pages
            .saturating_mul(self.cost.page)
            .saturating_add(self.index_beyond)
            .saturating_add(self.chunk_beyond.saturating_mul(2))
            .min(open);
        // Under the lock `Meter::bytes` reads `held` (and `open`) under.
        let mut held = self.meter.lock();
        self.until_flush.move_to(&mut held, kept);
        self.meter.open.fetch_sub(open, Ordering::Relaxed);
    }
}

impl PageStore for MeteredStore {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        let page = self.puts.is_multiple_of(2);
        if page {
            self.grow_until_flush(
                self.cost.until_flush(),
                "page keys and index entries until the row group is flushed",
            )?;
            // The builder's long entries are copied into the index too.
            let closing = (self.pages + 1)
                .saturating_mul(self.cost.closing())
                .saturating_add(self.index_beyond);
            if closing > self.closing_room {
                self.closing_room = self.meter.cover_closing(closing)?;
            }
            // The header comes first, while the page's copies are still
            // alive: room made now makes heap pages yield now.
            let header = page_header(&value);
            if let Some(levels) = header.and_then(|h| h.levels).filter(|_| self.repeated) {
                self.meter.paged(self.column, levels);
            }
            self.header_size = header.map(|h| h.size);
            self.header_levels = header.and_then(|h| h.levels);
            self.dictionary_page = header.is_some_and(|h| h.kind == DICTIONARY_PAGE);
            if self.dictionary_page && self.cost.dictionary_keeps_values.is_some() {
                self.meter.dictionary_written(self.column);
            }
        }
        // A header not of parquet's layout: the body's length instead.
        let size = match (page, self.header_size) {
            (true, size) => size,
            (false, None) => Some(value.len()),
            (false, Some(_)) => None,
        };
        if let Some(size) = size {
            let levels = self.header_levels.filter(|_| page);
            self.meter.cover_long_page(self.column, size, levels)?;
        }
        if value.len() <= DEFAULT_INLINE_THRESHOLD {
            let small = self.small + arena_bytes(value.len());
            self.grow_until_flush(
                arena_bound(small) - arena_bound(self.small),
                "page headers until the row group is flushed",
            )?;
            self.small = small;
        }
        if !page && !self.dictionary_page {
            let size = self.header_size.unwrap_or(value.len());
            self.charge_long_statistics(size)?;
        }
        let key = self.inner.put(value)?;
        self.puts += 1;
        // Counted once its body is put too: a failed put leaves no page to
        // keep an index for.
        if !page {
            self.pages += 1;
            self.meter.pages.fetch_add(1, Ordering::Relaxed);
        }
        Ok(key)
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        self.inner.take(key)
    }

    fn memory_size(&self) -> usize {
        self.inner.memory_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileStoreFactory;

    /// Every page within the plan's.
    const NO_LONG_PAGES: LongPages = LongPages {
        bound: usize::MAX,
        covered: 0,
        compact: CompactPages {
            page: 0,
            rows: 0,
            batch: 0,
            widths: Vec::new(),
        },
        statistics: Vec::new(),
        codecs: Vec::new(),
        page_limit: 0,
        repeated: Vec::new(),
        distinct_values: false,
    };

    const COST: ColumnCost = ColumnCost {
        keeps_values: None,
        keeps_values_until_chunk: false,
        dictionary_keeps_values: None,
        long_index: None,
        long_chunk: None,
        open_statistics: None,
        chunk: 0,
        page: 10,
        builder: 30,
        keys: 5,
        header: 0,
    };

    /// A leaf whose statistics keep buffers of at most `cap` bytes.
    fn statistics(cap: usize) -> ColumnCost {
        ColumnCost {
            keeps_values: Some(cap),
            ..COST
        }
    }

    /// A leaf whose dictionary keeps buffers of at most `cap` bytes.
    fn dictionary(cap: usize) -> ColumnCost {
        ColumnCost {
            dictionary_keeps_values: Some(cap),
            ..COST
        }
    }

    #[test]
    fn rooms_leave_the_planned_metadata_free() {
        let budget = MemoryBudget::new(2000);
        let meter = Meter::new(&budget, 1, NO_LONG_PAGES)
            .unwrap()
            .with_planned_metadata(600);
        let mut room = lock(&meter.batch_room);
        assert!(meter.grow_room(&mut room, 1500).is_err(), "500 left of 600");
        assert_eq!((room.bytes(), budget.used()), (0, 0));
        meter.grow_room(&mut room, 1400).unwrap();
        assert_eq!(budget.used(), 1400, "the margin is kept free, not held");
        drop(room);
        // The metadata has what the room left, and as it is charged the
        // margin shrinks with it.
        meter.charge(400, "test").unwrap();
        let mut room = lock(&meter.batch_room);
        assert!(
            meter.grow_room(&mut room, 1).is_err(),
            "200 planned, 200 free"
        );
        drop(room);
        meter.charge(200, "test").unwrap();
        assert_eq!(budget.used(), 2000);
        // Past the plan's metadata, a room takes what is free.
        let budget = MemoryBudget::new(2000);
        let meter = Meter::new(&budget, 1, NO_LONG_PAGES)
            .unwrap()
            .with_planned_metadata(600);
        meter.charge(700, "test").unwrap();
        let mut room = lock(&meter.batch_room);
        meter.grow_room(&mut room, 1300).unwrap();
    }

    #[test]
    fn a_dictionary_keeps_what_was_written_up_to_a_chunks_values() {
        let budget = MemoryBudget::new(1000);
        let meter = Meter::new(&budget, 1, NO_LONG_PAGES).unwrap();
        let dictionary = dictionary(250);
        meter.chunk_keeps_values(0, &dictionary).unwrap();
        for written in [100, 200, 250, 250] {
            meter.batch_keeps_values_of(&[100], false).unwrap();
            assert_eq!(meter.bytes(), written);
        }
        // With statistics too: no more than was written.
        let both = ColumnCost {
            keeps_values: Some(usize::MAX),
            ..dictionary
        };
        meter.chunk_keeps_values(0, &both).unwrap();
        assert_eq!(meter.bytes(), 400, "all four buffers written");
        meter.batch_keeps_values_of(&[100], false).unwrap();
        assert_eq!(meter.bytes(), 500, "250 + 600 needed, but only 500 written");
    }

    impl Meter {
        /// A batch of leaves without arrays: each adds entries.
        fn batch_keeps_values_of(
            &self,
            batch: &[usize],
            joins_last: bool,
        ) -> Result<Vec<KeptBefore>> {
            self.batch_keeps_values(batch, &[], joins_last)
        }
    }

    #[test]
    fn a_batch_that_adds_no_entry_keeps_no_buffer() {
        let budget = MemoryBudget::new(1 << 20);
        let meter = Meter::new(&budget, 1, NO_LONG_PAGES).unwrap();
        meter
            .chunk_keeps_values(0, &dictionary(usize::MAX))
            .unwrap();
        let few: arrow_array::ArrayRef = Arc::new(arrow_array::Decimal128Array::from_iter_values(
            (0..1000).map(|i| i % 10),
        ));
        let buffer = 16_000;
        meter
            .batch_keeps_values(&[buffer], &[Some(&few)], false)
            .unwrap();
        let first = meter.bytes();
        assert!(first > buffer, "the buffer and the set: {first}");
        for _ in 0..5 {
            meter
                .batch_keeps_values(&[buffer], &[Some(&few)], false)
                .unwrap();
            assert_eq!(meter.bytes(), first, "no entry added");
        }
        // A new value keeps its batch's buffer; refused, it is not there.
        let more: arrow_array::ArrayRef = Arc::new(arrow_array::Decimal128Array::from(vec![10]));
        let taken = meter
            .batch_keeps_values(&[buffer], &[Some(&more)], false)
            .unwrap();
        assert_eq!(meter.bytes(), first + buffer);
        meter.restore_kept_values(taken);
        assert_eq!(meter.bytes(), first);
        meter
            .batch_keeps_values(&[buffer], &[Some(&more)], false)
            .unwrap();
        assert_eq!(meter.bytes(), first + buffer);
        // Written, the dictionary keeps nothing, nor does its set.
        meter.dictionary_written(0);
        assert_eq!(meter.bytes(), 0);
        // A new chunk may hold the recent batches' entries, all charged.
        meter
            .chunk_keeps_values(0, &dictionary(usize::MAX))
            .unwrap();
        assert_eq!(meter.bytes(), buffer * RECENT);
        meter
            .batch_keeps_values(&[buffer], &[Some(&few)], false)
            .unwrap();
        assert!(
            meter.bytes() > buffer * (RECENT + 1),
            "its values are new to this chunk"
        );
        let now = meter.bytes();
        meter
            .batch_keeps_values(&[buffer], &[Some(&few)], false)
            .unwrap();
        assert_eq!(meter.bytes(), now);
        // Too many values for a set a quarter of the buffer: every batch.
        let many: arrow_array::ArrayRef =
            Arc::new(arrow_array::Decimal128Array::from_iter_values(0..1000));
        let meter = Meter::new(&budget, 1, NO_LONG_PAGES).unwrap();
        meter
            .chunk_keeps_values(0, &dictionary(usize::MAX))
            .unwrap();
        let opened = meter.bytes();
        for n in 1..=3 {
            meter
                .batch_keeps_values(&[buffer], &[Some(&many)], false)
                .unwrap();
            assert_eq!(meter.bytes(), opened + n * buffer);
        }
    }

    #[test]
    fn a_written_dictionary_page_lets_its_entries_buffers_go() {
        let budget = MemoryBudget::new(100_000);
        let meter = Meter::new(&budget, 1, NO_LONG_PAGES).unwrap();
        let dictionary = dictionary(10_000);
        meter.chunk_keeps_values(0, &dictionary).unwrap();
        for _ in 0..5 {
            meter.batch_keeps_values_of(&[100], false).unwrap();
        }
        assert_eq!(meter.bytes(), 500);
        // It fell back: nothing is kept for this chunk.
        meter.dictionary_written(0);
        assert_eq!(meter.bytes(), 0);
        for _ in 0..5 {
            meter.batch_keeps_values_of(&[100], false).unwrap();
        }
        assert_eq!(meter.bytes(), 0, "no more for this chunk");
        // The next chunk's dictionary may keep the batches that may still
        // be written into it, and those to come.
        meter.chunk_keeps_values(0, &dictionary).unwrap();
        assert_eq!(meter.bytes(), 100 * RECENT);
        meter.batch_keeps_values_of(&[100], false).unwrap();
        assert_eq!(meter.bytes(), 100 * (RECENT + 1));
    }

    #[test]
    fn values_kept_until_the_chunk_closes_are_not_charged_for_closed_chunks() {
        let budget = MemoryBudget::new(10_000);
        let meter = Meter::new(&budget, 1, NO_LONG_PAGES).unwrap();
        let until_chunk = ColumnCost {
            keeps_values_until_chunk: true,
            ..statistics(usize::MAX)
        };
        meter.chunk_keeps_values(0, &until_chunk).unwrap();
        for _ in 0..4 {
            meter.batch_keeps_values_of(&[100], false).unwrap();
        }
        assert_eq!(meter.bytes(), 400, "the open chunk's two, the page's two");
        for _ in 0..3 {
            meter.chunk_keeps_values(0, &until_chunk).unwrap();
            meter.batch_keeps_values_of(&[100], false).unwrap();
        }
        assert_eq!(meter.bytes(), 400, "closed chunks let theirs go");
        // Kept until the file closes: two for every chunk (1,200), up to
        // the seven buffers written.
        meter
            .chunk_keeps_values(0, &statistics(usize::MAX))
            .unwrap();
        assert_eq!(meter.bytes(), 700);
    }

    #[test]
    fn kept_values_are_charged_per_chunk_up_to_what_was_written() {
        let budget = MemoryBudget::new(1000);
        let meter = Meter::new(&budget, 1, NO_LONG_PAGES).unwrap();
        // Leaf 1 keeps values; leaf 0 has none to keep.
        let before = meter.batch_keeps_values_of(&[0, 100], false).unwrap();
        assert_eq!(before.len(), 1, "only leaves with buffers change");
        assert_eq!(meter.bytes(), 0, "no chunk keeps anything yet");
        meter
            .chunk_keeps_values(1, &statistics(usize::MAX))
            .unwrap();
        assert_eq!(meter.bytes(), 100, "no more than was written");
        meter.batch_keeps_values_of(&[0, 100], false).unwrap();
        meter.batch_keeps_values_of(&[0, 100], false).unwrap();
        // One chunk: its two, the open page's two, of at most 100 each.
        assert_eq!(meter.bytes(), 300);
        meter.batch_keeps_values_of(&[0, 100], false).unwrap();
        assert_eq!(meter.bytes(), 400);
        meter.batch_keeps_values_of(&[0, 100], false).unwrap();
        assert_eq!(meter.bytes(), 400, "four buffers at most for one chunk");
        meter
            .chunk_keeps_values(1, &statistics(usize::MAX))
            .unwrap();
        assert_eq!(meter.bytes(), 500, "two more for the first, closed");
        // Leaf 2's row groups hold 30 bytes of its values: so does a buffer,
        // and so do a chunk's four together (they are slices of the values
        // written into it).
        for _ in 0..3 {
            meter.batch_keeps_values_of(&[0, 0, 80], false).unwrap();
        }
        meter.chunk_keeps_values(2, &statistics(30)).unwrap();
        assert_eq!(meter.bytes(), 500 + 30);
        // A batch refused after all takes its buffers back.
        let taken = meter.batch_keeps_values_of(&[0, 150], false).unwrap();
        assert_eq!(meter.bytes(), 650 + 30);
        meter.restore_kept_values(taken);
        assert_eq!(meter.bytes(), 530);
        // Past the limit: refused, and nothing changes.
        let err = meter.batch_keeps_values_of(&[0, 1000], false).unwrap_err();
        assert!(matches!(err, Error::PageMetadataExhausted { what, .. } if what == KEPT_VALUES));
        assert_eq!(meter.bytes(), 530);
        meter.batch_keeps_values_of(&[0, 100], false).unwrap();
        assert_eq!(meter.bytes(), 600 + 30, "the refused batch left no trace");
    }

    #[test]
    fn the_parts_of_one_batch_are_one_of_the_recent_batches() {
        let budget = MemoryBudget::new(10_000);
        let meter = Meter::new(&budget, 1, NO_LONG_PAGES).unwrap();
        let dictionary = dictionary(usize::MAX);
        // Five parts of one batch, all admitted before its chunk opens:
        // the chunk's dictionary may keep all of them.
        let snapshot = meter.kept_snapshot();
        for part in 0..5 {
            meter.batch_keeps_values_of(&[100], part > 0).unwrap();
        }
        meter.chunk_keeps_values(0, &dictionary).unwrap();
        assert_eq!(meter.bytes(), 500, "every part, not the last three");
        // Restored: as before the parts.
        meter.restore_kept(snapshot);
        assert_eq!(meter.bytes(), 0);
    }

    #[test]
    fn with_the_model_the_first_batch_is_charged_before_its_chunk_opens() {
        let budget = MemoryBudget::new(1000);
        let model: CostModel = Arc::new(|leaf| match leaf {
            1 => statistics(usize::MAX),
            _ => COST,
        });
        let meter = Meter::new(&budget, 1, NO_LONG_PAGES)
            .unwrap()
            .with_model(model, None);
        meter.batch_keeps_values_of(&[0, 100], false).unwrap();
        assert_eq!(meter.bytes(), 100, "what the first chunk will keep");
        meter
            .chunk_keeps_values(1, &statistics(usize::MAX))
            .unwrap();
        assert_eq!(meter.bytes(), 100, "charged once");
        // Too large for the limit beside it: refused at the batch, not
        // when the chunk opens.
        let meter = Meter::new(&budget, 1, NO_LONG_PAGES)
            .unwrap()
            .with_model(Arc::new(|_| statistics(usize::MAX)), None);
        let err = meter.batch_keeps_values_of(&[2000], false).unwrap_err();
        assert!(matches!(err, Error::PageMetadataExhausted { what, .. } if what == KEPT_VALUES));
        assert_eq!(meter.bytes(), 0);
    }

    #[test]
    fn a_flushed_store_leaves_its_pages_index_charged_once() {
        let budget = MemoryBudget::new(1 << 20);
        let meter = Arc::new(Meter::new(&budget, 2, NO_LONG_PAGES).unwrap());
        let inner = Box::new(FileStoreFactory::new().unwrap().create_store());
        let mut store = MeteredStore::new(inner, &meter, COST, 0).unwrap();
        // The store's tables' first capacity: four entries of each.
        let tables = 4 * (5 + 32);
        assert_eq!(COST.store(), tables);
        // Two pages of two blobs each, none small enough for the arena.
        for _ in 0..4 {
            store.put(Bytes::from(vec![1u8; 1000])).unwrap();
        }
        // Each page: its keys and the larger of builder and index (35);
        // and room for two chunks closing at once with two pages (2 x 2 x 10).
        let open = tables + 70 + 40;
        assert_eq!((meter.bytes(), budget.used()), (open, open));
        drop(store);
        // The index entries stay (2 x 10), the closing room stays, the rest goes.
        assert_eq!((meter.bytes(), budget.used()), (20 + 40, 60));
        assert_eq!(meter.counts(), (2, 0));
    }

    /// A store whose puts fail after the first `ok`.
    struct FailsAfter {
        ok: usize,
    }

    impl PageStore for FailsAfter {
        fn put(&mut self, _: Bytes) -> parquet::errors::Result<PageKey> {
            match self.ok.checked_sub(1) {
                Some(left) => {
                    self.ok = left;
                    Ok(PageKey::new(0))
                }
                None => Err(parquet::errors::ParquetError::General("full".into())),
            }
        }
        fn take(&mut self, _: PageKey) -> parquet::errors::Result<Bytes> {
            Err(parquet::errors::ParquetError::General("empty".into()))
        }
        fn memory_size(&self) -> usize {
            0
        }
    }

    #[test]
    fn data_page_levels_are_read_from_the_headers_parquet_writes() {
        use arrow_array::{ArrayRef, Int64Array, ListArray};
        use parquet::arrow::ArrowWriter;
        use parquet::file::properties::{WriterProperties, WriterVersion};
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let item = Arc::new(arrow_schema::Field::new(
            "item",
            arrow_schema::DataType::Int64,
            true,
        ));
        let values = Int64Array::from_iter((0..3000).map(|i| (i % 7 != 0).then_some(i % 5)));
        let offsets = arrow_buffer::OffsetBuffer::from_lengths([1000, 0, 2000]);
        let list: ArrayRef = Arc::new(ListArray::new(item, offsets, Arc::new(values), None));
        let batch = RecordBatch::try_from_iter([("l", list)]).unwrap();
        for (version, dictionary) in [
            (WriterVersion::PARQUET_1_0, true),
            (WriterVersion::PARQUET_2_0, false),
        ] {
            let props = WriterProperties::builder()
                .set_writer_version(version)
                .set_dictionary_enabled(dictionary)
                .build();
            let mut file = Vec::new();
            let mut writer = ArrowWriter::try_new(&mut file, batch.schema(), Some(props)).unwrap();
            writer.write(&batch).unwrap();
            writer.close().unwrap();
            let reader = SerializedFileReader::new(Bytes::from(file.clone())).unwrap();
            let chunk = reader.metadata().row_group(0).column(0).clone();
            let at = |offset: i64| &file[usize::try_from(offset).unwrap()..];
            // 3,001 levels: the empty list is one.
            let levels = |offset| page_header(at(offset)).and_then(|h| h.levels);
            assert_eq!(levels(chunk.data_page_offset()), Some(3001));
            if let Some(dictionary) = chunk.dictionary_page_offset() {
                assert_eq!(levels(dictionary), None);
            }
        }
    }

    /// A parquet data page header giving `size` as the uncompressed size;
    /// `u32::MAX`: a dictionary page's of 1,000 bytes.
    fn header(size: u32) -> Bytes {
        let (kind, size) = match size {
            u32::MAX => (2 << 1, 1000),
            size => (0, size),
        };
        let mut out = vec![0x15, kind, 0x15];
        let mut zigzag = size << 1;
        while zigzag >= 0x80 {
            out.push((zigzag as u8) | 0x80);
            zigzag >>= 7;
        }
        out.push(zigzag as u8);
        out.push(0x15);
        Bytes::from(out)
    }

    /// What a store of `cost` charges for pages of `sizes` (header and
    /// body each), the meter having admitted values as long as `longest`,
    /// once the store is dropped, beyond what a store without long
    /// statistics charges.
    fn long_statistics_charge(cost: ColumnCost, longest: usize, sizes: &[u32]) -> usize {
        let long = LongPages {
            bound: 8_000, // a page past 9,000 bytes is longer than planned
            covered: usize::MAX,
            statistics: vec![256],
            ..NO_LONG_PAGES
        };
        let charged = |cost: ColumnCost| {
            let budget = MemoryBudget::new(64 << 20);
            let meter = Arc::new(Meter::new(&budget, 1, long.clone()).unwrap());
            lock(&meter.longest).push(longest);
            let inner = Box::new(FileStoreFactory::new().unwrap().create_store());
            let mut store = MeteredStore::new(inner, &meter, cost, 0).unwrap();
            for &size in sizes {
                store.put(header(size)).unwrap();
                store.put(Bytes::from(vec![0u8; 100])).unwrap();
            }
            drop(store);
            meter.bytes()
        };
        charged(cost) - charged(COST)
    }

    #[test]
    fn long_minimums_and_maximums_are_charged_per_page_and_chunk() {
        let plain = LongStatistics {
            counted: 256,
            cap: usize::MAX,
            dictionary: false,
        };
        let long = Some(plain);
        let index = ColumnCost {
            long_index: long,
            ..COST
        };
        let chunk = ColumnCost {
            long_chunk: long,
            ..COST
        };
        // Values of at most 200 bytes admitted: nothing beyond the costs.
        assert_eq!(long_statistics_charge(index, 200, &[5000, 5000]), 0);
        // 3,000-byte values: each page's minimum and maximum may be that
        // long, kept in the index (and copied once more while the chunk
        // closes: the closing room); the chunk's, once.
        let beyond = 2 * (3000 - 256);
        assert_eq!(
            long_statistics_charge(index, 3000, &[5000, 5000, 1000]),
            2 * beyond + 2 * (1000 - 256) + (beyond + beyond) // index + closing room
        );
        assert_eq!(long_statistics_charge(chunk, 3000, &[5000, 5000]), beyond);
        // A page longer than the plan's is counted whole, admitted or not.
        assert_eq!(
            long_statistics_charge(chunk, 0, &[5000, 20_000]),
            2 * (20_000 - 256)
        );
        // The caller's truncation caps it.
        let capped = ColumnCost {
            long_chunk: Some(LongStatistics {
                counted: 256,
                cap: 1000,
                dictionary: false,
            }),
            ..COST
        };
        assert_eq!(
            long_statistics_charge(capped, 3000, &[5000]),
            2 * (1000 - 256)
        );
        // A dictionary-encoded page holds indices: its size bounds nothing
        // (a 1,000-byte page of indices to 3,000-byte values).
        let dictionary = ColumnCost {
            long_index: Some(LongStatistics {
                dictionary: true,
                ..plain
            }),
            ..COST
        };
        assert_eq!(
            long_statistics_charge(dictionary, 3000, &[1000, 1000]),
            2 * beyond + beyond // index + closing room
        );
        // A dictionary page keeps no statistics.
        assert_eq!(long_statistics_charge(dictionary, 3000, &[u32::MAX]), 0);
    }

    /// The room a meter keeps for batches once it admitted `batches`, two
    /// columns of lists of `Int64` under a dictionary whose indices the
    /// plan counted none of, in pages of up to 64 rows.
    fn list_batch_room(batches: &[RecordBatch]) -> usize {
        let page = crate::page_rows::PageValues {
            rows: 64,
            batch: 16,
            dictionary: Some(crate::page_rows::PhaseRoom {
                planned: 0,
                bytes: 1 << 20,
            }),
            ..Default::default()
        };
        let long = LongPages {
            repeated: vec![Some(page); 2],
            ..NO_LONG_PAGES
        };
        let meter = Meter::new(&MemoryBudget::new(256 << 20), 1, long).unwrap();
        for batch in batches {
            meter.admit(batch).unwrap();
        }
        meter.batch_room()
    }

    /// A batch of 256 rows of two list columns: the first 32 rows of
    /// column `heavy` hold 1,000 values each, every other row one.
    fn lists_heavy_in(heavy: usize) -> RecordBatch {
        use arrow_array::{ArrayRef, Int64Array, ListArray};
        use arrow_buffer::OffsetBuffer;
        let item = Arc::new(arrow_schema::Field::new(
            "item",
            arrow_schema::DataType::Int64,
            false,
        ));
        let column = |c: usize| -> (String, ArrayRef) {
            let lengths: Vec<usize> = (0..256)
                .map(|row| if c == heavy && row < 32 { 1000 } else { 1 })
                .collect();
            let values = Int64Array::from(vec![0i64; lengths.iter().sum()]);
            let offsets = OffsetBuffer::from_lengths(lengths);
            let list = ListArray::new(item.clone(), offsets, Arc::new(values), None);
            (format!("l{c}"), Arc::new(list))
        };
        RecordBatch::try_from_iter([column(0), column(1)]).unwrap()
    }

    /// The room a meter keeps for one batch of 256 rows of `values`
    /// values each, one list column of `Int64` without a dictionary, pages
    /// of up to 64 rows and 64 KiB whose levels take `bits` bits each.
    fn level_room(values: usize, bits: usize) -> usize {
        level_meter(values, bits).batch_room()
    }

    /// The meter of [`level_room`], the batch admitted.
    fn level_meter(values: usize, bits: usize) -> Meter {
        let page = crate::page_rows::PageValues {
            rows: 64,
            batch: 16,
            level_bits: [0, bits],
            ..Default::default()
        };
        let long = LongPages {
            bound: 64 << 10,
            page_limit: 64 << 10,
            repeated: vec![Some(page)],
            ..NO_LONG_PAGES
        };
        let meter = Meter::new(&MemoryBudget::new(256 << 20), 1, long).unwrap();
        let item = Arc::new(arrow_schema::Field::new(
            "item",
            arrow_schema::DataType::Int64,
            false,
        ));
        let values = arrow_array::Int64Array::from(vec![0i64; 256 * values]);
        let offsets = arrow_buffer::OffsetBuffer::from_lengths([values.len() / 256; 256]);
        let list = arrow_array::ListArray::new(item, offsets, Arc::new(values), None);
        let batch = RecordBatch::try_from_iter([("l", Arc::new(list) as _)]).unwrap();
        meter.admit(&batch).unwrap();
        meter
    }

    #[test]
    fn a_lists_page_is_judged_long_without_the_levels_it_holds() {
        // Pages of 1,000-value rows were admitted: their levels take up to
        // 16,254 bytes past the page's values.
        let meter = level_meter(1000, 2);
        let trigger = meter.trigger();
        // A page that long for the levels it holds is not a long page.
        meter
            .cover_long_page(0, trigger + 8_000, Some(65_016))
            .unwrap();
        assert_eq!(meter.long_room(), 0);
        // One of ten levels is: its values are that long.
        meter.cover_long_page(0, trigger + 8_000, Some(10)).unwrap();
        assert!(meter.long_room() > 0);
    }

    #[test]
    fn levels_past_the_plans_pages_take_room_for_their_copies() {
        // Ten values a row: a page's levels (64 rows and a write batch,
        // two bits each) keep it within what the plan's pages reach.
        assert_eq!(level_room(10, 2), level_room(10, 0));
        // A thousand: 65,016 levels (a page-worth of 64 of the longest
        // rows, the write batch and a row) take 16,254 bytes, 8,062 past
        // the 72 KiB the plan's pages reach: written in six copies, two
        // kept.
        let past = 65_536 + 16_254 - 73_728;
        let more = level_room(1000, 2) - level_room(1000, 0);
        assert!(more >= past * (LONG_PAGE_COPIES + LONG_PAGE_KEPT), "{more}");
        assert!(
            more < 2 * past * (LONG_PAGE_COPIES + LONG_PAGE_KEPT),
            "{more}"
        );
    }

    #[test]
    fn a_leaf_keeps_what_its_heaviest_page_grew() {
        // A page of 64 rows holding the 32 heavy rows: 32,032 values,
        // 256 KiB of indices in a vector of 32,768.
        let heavy_page = 32_768 * 8;
        let first = list_batch_room(&[lists_heavy_in(0)]);
        let alone = list_batch_room(&[lists_heavy_in(1)]);
        assert!(
            first >= heavy_page && alone >= heavy_page,
            "{first}, {alone}"
        );
        // parquet clears the indices after each page and keeps their
        // capacity until the chunk closes: the first column's stays while
        // the second grows its own, however many batches come between
        // (and a `ParallelWriter`'s columns may be on different batches).
        let both = list_batch_room(&[lists_heavy_in(0), lists_heavy_in(1)]);
        assert!(both >= first.max(alone) + heavy_page, "{both} vs {first}");
        let light = || lists_heavy_in(2);
        let later = [
            lists_heavy_in(0),
            light(),
            light(),
            light(),
            lists_heavy_in(1),
        ];
        let later = list_batch_room(&later);
        assert!(later >= both, "{later} vs {both}");
    }

    /// What the meter keeps room for once leaf 0 wrote a `page`-byte page
    /// with `codec`, planned for 64 KiB pages.
    fn long_page_room(codec: Compression, page: usize) -> Result<usize> {
        let long = LongPages {
            bound: 128 << 10,
            codecs: vec![(codec, 128 << 10)],
            page_limit: 64 << 10,
            ..NO_LONG_PAGES
        };
        let meter = Meter::new(&MemoryBudget::new(256 << 20), 1, long)?;
        meter.cover_long_page(0, page, None)?;
        Ok(meter.long_room())
    }

    #[test]
    fn a_long_page_makes_room_for_the_codec_it_grows() {
        use parquet::basic::{BrotliLevel, ZstdLevel};
        let page = 4 << 20;
        let lz4 = long_page_room(Compression::LZ4_RAW, page).unwrap();
        // zstd 19's context for a 4 MiB page (~54 MiB) beyond the plan's
        // for 128 KiB (~1.7 MiB); brotli 9's encoder for it (~68 MiB).
        let zstd = Compression::ZSTD(ZstdLevel::try_new(19).unwrap());
        let zstd19 = long_page_room(zstd, page).unwrap();
        assert!(zstd19 > lz4 + (48 << 20), "{zstd19} vs {lz4}");
        let brotli = Compression::BROTLI(BrotliLevel::try_new(9).unwrap());
        let brotli9 = long_page_room(brotli, page).unwrap();
        assert!(brotli9 > lz4 + (60 << 20), "{brotli9} vs {lz4}");
        // A 12 MiB page: zstd 22's context for it (~215 MiB) does not fit
        // 256 MiB beside the page's copies (~100 MiB, all LZ4_RAW needs).
        let zstd22 = Compression::ZSTD(ZstdLevel::try_new(22).unwrap());
        let err = long_page_room(zstd22, 12 << 20).unwrap_err();
        assert!(matches!(err, Error::PageTooLong { .. }), "{err}");
        assert!(long_page_room(Compression::LZ4_RAW, 12 << 20).is_ok());
    }

    #[test]
    fn a_page_headers_type_and_uncompressed_size_are_read_or_none() {
        // Thrift compact: field 1 (type 0), field 2 (64, zigzag 128), ...
        let read = |header: &[u8]| page_header(header).map(|h| (h.kind, h.size));
        assert_eq!(read(&[0x15, 0x00, 0x15, 0x80, 0x01, 0x15]), Some((0, 64)));
        // A dictionary page (type 2, zigzag 4) of 32,767 bytes.
        assert_eq!(
            read(&[0x15, 0x04, 0x15, 0xfe, 0xff, 0x03]),
            Some((DICTIONARY_PAGE, 32767))
        );
        // An encrypted header, a negative size, a truncated one.
        assert_eq!(page_header(&[0x9a, 0x15, 0x00]), None);
        assert_eq!(page_header(&[0x15, 0x00, 0x15, 0x01]), None);
        assert_eq!(page_header(&[0x15, 0x00, 0x15, 0x80]), None);
    }

    #[test]
    fn a_failed_put_leaves_no_page_to_keep() {
        let budget = MemoryBudget::new(1 << 20);
        let meter = Arc::new(Meter::new(&budget, 1, NO_LONG_PAGES).unwrap());
        // The header is put, its body is not.
        let inner = Box::new(FailsAfter { ok: 1 });
        let mut store = MeteredStore::new(inner, &meter, COST, 0).unwrap();
        store.put(Bytes::from(vec![1u8; 1000])).unwrap();
        assert!(store.put(Bytes::from(vec![1u8; 1000])).is_err());
        assert_eq!(meter.counts(), (0, 0));
        drop(store);
        // No index entry stays for it; the closing room it asked for does.
        assert_eq!((meter.bytes(), budget.used()), (10, 10));
    }
}
