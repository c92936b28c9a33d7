//! [`SpillMonitor`] and [`WriterStats`]: where a planned writer's memory went.
//!
//! Why a separate handle: a [`SpillPlan`](crate::SpillPlan) is consumed by
//! the writer it configures (so its reservation cannot be shared), but the
//! caller still wants to watch the writer and report on it afterwards. The
//! monitor shares only counters, never the reservation, so keeping it alive
//! keeps no memory from other writers.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytesize::ByteSize;

use crate::budget::{BudgetStats, MemoryBudget};
use crate::metadata::{Admission, Meter};
use crate::plan::Estimate;
use crate::row_groups::{Cut, GroupLimits};
use crate::tiered::TierCounters;

/// A cheap, cloneable view of one planned writer's counters.
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// let schema = Schema::new(vec![Field::new("x", DataType::Int64, false)]);
/// let plan = parquet_spill::SpillOptions::new(32 << 20).plan(&schema)?;
/// let monitor = plan.monitor();
/// assert_eq!(monitor.stats().limit, 32 << 20);
/// # Ok::<(), parquet_spill::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SpillMonitor {
    budget: MemoryBudget,
    tier: Arc<TierCounters>,
    meter: Arc<Meter>,
    estimate: Estimate,
    limit: usize,
    /// The plan's row-group limits, to cut a batch where `ArrowWriter`
    /// would ([`write`](Self::write)).
    groups: GroupLimits,
}

impl SpillMonitor {
    pub(crate) fn new(
        budget: MemoryBudget,
        tier: Arc<TierCounters>,
        meter: Arc<Meter>,
        estimate: Estimate,
        limit: usize,
    ) -> Self {
        Self {
            budget,
            tier,
            meter,
            estimate,
            limit,
            groups: GroupLimits::default(),
        }
    }

    /// With the plan's row-group limits.
    pub(crate) fn with_groups(mut self, groups: GroupLimits) -> Self {
        self.groups = groups;
        self
    }

    /// The budget this writer draws on.
    pub(crate) fn budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// This writer's limit (its share of a shared budget).
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Int64, false)]);
    /// let budget = parquet_spill::MemoryBudget::new(64 << 20);
    /// let plan = parquet_spill::SpillOptions::shared(budget, 2).plan(&schema)?;
    /// assert_eq!(plan.monitor().limit(), 32 << 20);
    /// // Its stats name the shared budget the peak is counted in.
    /// let text = plan.monitor().stats().to_string();
    /// assert!(text.contains("of the shared 64.0 MiB budget (32.0 MiB of it"), "{text}");
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The counters right now.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Int64, false)]);
    /// let plan = parquet_spill::SpillOptions::new(32 << 20).plan(&schema)?;
    /// let stats = plan.monitor().stats();
    /// assert_eq!((stats.heap_pages, stats.spilled_bytes), (0, 0));
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn stats(&self) -> WriterStats {
        let (pages, chunks) = self.meter.counts();
        WriterStats {
            limit: self.limit,
            estimate: self.estimate,
            budget: self.budget.stats(),
            page_metadata: self.meter.bytes() as u64,
            pages,
            column_chunks: chunks,
            heap_pages: self.tier.heap.bytes(),
            peak_heap_pages: self.tier.heap.peak(),
            spilled_blobs: self.tier.blobs_passed.load(Ordering::Relaxed),
            spilled_bytes: self.tier.bytes_passed.load(Ordering::Relaxed),
            reclaimed_bytes: self.tier.bytes_reclaimed.load(Ordering::Relaxed),
            long_page_room: self.meter.long_room() as u64,
            batch_room: self.meter.batch_room() as u64,
            batches_in_parts: self.meter.parted(),
        }
    }

    /// Make room, before `batch` is written, for what parquet allocates to
    /// encode it and for its byte-array values longer than the plan's
    /// pages; or refuse it, with nothing of it reserved.
    ///
    /// parquet computes every leaf's levels and value indices for the
    /// whole batch before encoding a column, and copies some types' values
    /// first (booleans, 8- and 16-bit integers, wide decimals, fixed-size
    /// binary): up to ~50 bytes a row per such column, whatever the plan's
    /// pages. Room for the largest batch so far is kept
    /// ([`WriterStats::batch_room`]); a batch the limit cannot hold beside
    /// the plan is refused with
    /// [`Error::BatchTooLarge`](crate::Error::BatchTooLarge): write smaller
    /// batches, or let [`admit_in_parts`](Self::admit_in_parts) slice it.
    /// parquet also writes a value longer than the page size as a
    /// page of its own and holds about five copies of it while writing it;
    /// the plan's stores see that page only once it is made, so the first
    /// one could pass the limit for a moment: room is made for it, or the
    /// batch is refused with
    /// [`Error::PageTooLong`](crate::Error::PageTooLong).
    /// A list's rows may hold any number of values, and parquet ends its
    /// pages by encoded size or rows: the values and levels a page of the
    /// batch's rows can hold (with the page the batches before left open)
    /// are counted, their dictionary indices and `DELTA_BYTE_ARRAY`
    /// handles and their levels past the plan's pages given room, or the
    /// batch refused with
    /// [`Error::PageTooManyValues`](crate::Error::PageTooManyValues).
    /// [`ParallelWriter::try_new_with_plan`](crate::ParallelWriter::try_new_with_plan)
    /// calls this for every batch; with `ArrowWriter`, write each batch
    /// with [`write`](Self::write), which admits it (in parts where need
    /// be) and cuts it where a row group ends. It reads the arrays'
    /// lengths and null counts, a list's offsets, and the values' lengths
    /// (offsets or views) only where a column's values together pass a
    /// page.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, RecordBatch, StringArray};
    /// let long = "x".repeat(16 << 20);
    /// let batch = RecordBatch::try_from_iter([("s", Arc::new(StringArray::from(vec![long])) as ArrayRef)])?;
    /// // Statistics off: their whole minimums and maximums, five copies of
    /// // the value, would refuse it first (`BatchTooLarge`).
    /// use parquet::file::properties::{EnabledStatistics, WriterProperties};
    /// let props = WriterProperties::builder().set_statistics_enabled(EnabledStatistics::None).build();
    /// let plan = parquet_spill::SpillOptions::new(64 << 20).properties(props).plan(&batch.schema())?;
    /// let monitor = plan.monitor();
    /// // Room for six copies of a 16 MiB page, and twice it kept: more than 64 MiB.
    /// let refused = monitor.admit(&batch).unwrap_err();
    /// assert!(matches!(refused, parquet_spill::Error::PageTooLong { column: 0, .. }), "{refused}");
    /// // Short values need nothing beyond the plan.
    /// monitor.admit(&batch.slice(0, 0))?;
    /// assert_eq!(monitor.stats().long_page_room, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn admit(&self, batch: &arrow_array::RecordBatch) -> crate::Result<()> {
        self.meter.admit(batch)
    }

    /// Admit `batch` as [`admit`](Self::admit) does, or, where parquet
    /// could not encode it whole within the limit
    /// ([`Error::BatchTooLarge`](crate::Error::BatchTooLarge), or no room
    /// for the copies of its fixed-length values that statistics keep), in
    /// parts: row slices (no copy, made as they are taken) of even size
    /// (where a slice would have parquet convert values of the batch's
    /// other rows, below a list of `Int16` say, the part's columns copied
    /// instead, compactly, the copies charged),
    /// sized from the plan so that a part takes at most the room already
    /// held for batches and half of what the plan's reservations leave of
    /// the limit less what dictionaries would keep of the whole batch (the
    /// rest is for the chunks and page metadata the parts' pages bring;
    /// statistics are counted keeping two copies of a part for every chunk
    /// so far and every chunk the batch may open), and halved should one
    /// still be refused its room or its statistics' copies; at most 4,096
    /// parts. Every part is admitted before this returns; write them in
    /// order, each with its own `write`: the file holds the same rows, in
    /// pages parquet splits as it would for batches of that size.
    /// [`ParallelWriter::try_new_with_plan`](crate::ParallelWriter::try_new_with_plan)
    /// does this for every batch, and so does [`write`](Self::write) for
    /// an `ArrowWriter` (cutting a part where a row group ends inside it,
    /// as `ArrowWriter` would, and admitting the piece before the cut
    /// again: write a part with its own `write` only where no row-group
    /// limit can end inside it). Two writers given the same batches cut
    /// them alike (so a planned `ParallelWriter` writes `ArrowWriter`'s
    /// bytes) unless a part had to be halved or the whole batch was
    /// admitted by one and not the other: both depend on what the budget
    /// held at that moment.
    ///
    /// Fails as `admit` does where a part is refused for another reason
    /// (a value longer than the pages can take, what a dictionary keeps),
    /// or with the whole batch's refusal where parts of one row are still
    /// refused their room. The copies the earlier parts charged as kept are
    /// then given back and nothing of the batch should be written; the
    /// room made for batches and for long pages stays (it only grows).
    /// Admit on the writer's thread: a chunk opened meanwhile by another
    /// thread would be undone with them. Batches admitted in parts are
    /// counted ([`WriterStats::batches_in_parts`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, Decimal128Array, RecordBatch};
    /// use parquet::arrow::arrow_writer::ArrowWriter;
    /// // Wide decimals: parquet copies each value with a 32-byte handle
    /// // before encoding the column, for the whole batch at once.
    /// let values = Decimal128Array::from_iter_values(0..1 << 20).with_precision_and_scale(38, 2)?;
    /// let batch = RecordBatch::try_from_iter([("d", Arc::new(values) as ArrayRef)])?;
    /// let plan = parquet_spill::SpillOptions::new(32 << 20).plan(&batch.schema())?;
    /// let monitor = plan.monitor();
    /// assert!(monitor.admit(&batch).is_err(), "too large to encode whole in 32 MiB");
    /// let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), plan.into_writer_options())?;
    /// let parts = monitor.admit_in_parts(&batch)?;
    /// assert!(parts.len() > 1);
    /// for part in parts {
    ///     writer.write(&part)?;
    /// }
    /// assert_eq!(writer.close()?.file_metadata().num_rows(), 1 << 20);
    /// assert_eq!(monitor.stats().batches_in_parts, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn admit_in_parts(&self, batch: &arrow_array::RecordBatch) -> crate::Result<Parts> {
        self.parts(batch, false)
    }

    /// Rows of a batch or part admitted already that parquet writes as a
    /// batch of their own, cut where a row group ends
    /// ([`crate::row_groups`]): admitted again as
    /// [`admit_in_parts`](Self::admit_in_parts) admits a batch, their
    /// values and levels not counted twice.
    pub(crate) fn admit_again_in_parts(
        &self,
        rows: &arrow_array::RecordBatch,
    ) -> crate::Result<Parts> {
        self.parts(rows, true)
    }

    /// [`admit_in_parts`](Self::admit_in_parts), or `again`
    /// [`admit_again_in_parts`](Self::admit_again_in_parts).
    fn parts(&self, batch: &arrow_array::RecordBatch, again: bool) -> crate::Result<Parts> {
        let rows = batch.num_rows();
        let how = |joins_last| match again {
            true => Admission::Again,
            false => Admission::Part { joins_last },
        };
        // From the plan, not from what the budget holds right now, so
        // that writers given the same batches split them alike.
        let free = self.limit.saturating_sub(self.estimate.reserved());
        let whole = match again {
            true => Admission::Again,
            false => Admission::Batch {
                within: Some(free / 2),
            },
        };
        let whole = match self.meter.try_admit(batch, whole) {
            Ok(_) => return Ok(Parts::whole(batch)),
            // One row too: as a part, its list columns may be copied
            // compactly (`sliced_list_of_dict_lists` of
            // `tests/long_pages.rs`: a row of 64 keys in a child of 65,536).
            Err(refused) if refused.per_rows > 0 && (rows > 1 || !again) => refused,
            Err(refused) => return Err(refused.error),
        };
        // What a dictionary keeps of every part first.
        let free = free.saturating_sub(whole.whole);
        let room = self.meter.batch_room().saturating_add(free / 2);
        let fit = rows as u128 * room as u128 / whole.per_rows.max(1) as u128;
        let fewest = rows.div_ceil(MAX_PARTS);
        let part = usize::try_from(fit)
            .unwrap_or(usize::MAX)
            .clamp(fewest, (rows / 2).max(fewest));
        let size = rows.div_ceil(rows.div_ceil(part));
        let mut pending: std::collections::VecDeque<(usize, usize)> = (0..rows)
            .step_by(size)
            .map(|start| (start, size.min(rows - start)))
            .collect();
        let snapshot = self.meter.kept_snapshot();
        let mut parts = Vec::new();
        while let Some((start, len)) = pending.pop_front() {
            let joins = !parts.is_empty();
            match self.meter.try_admit(&batch.slice(start, len), how(joins)) {
                Ok(copied) => parts.push(Part { start, len, copied }),
                Err(refused)
                    if refused.smaller
                        && len > 1
                        && parts.len() + pending.len() + 1 < MAX_PARTS =>
                {
                    let half = len / 2;
                    pending.push_front((start + half, len - half));
                    pending.push_front((start, half));
                }
                Err(refused) => {
                    self.meter.restore_kept(snapshot);
                    // A part of one row refused its room is the batch's
                    // refusal; anything else, the part's own.
                    return Err(match refused.room {
                        true => whole.error,
                        false => refused.error,
                    });
                }
            }
        }
        self.meter.count_parted();
        Ok(Parts::new(batch, parts))
    }
}

impl SpillMonitor {
    /// Admit `batch` ([`admit_in_parts`](Self::admit_in_parts)) and write
    /// it with `writer`, an `ArrowWriter` made from this monitor's plan,
    /// part by part; where the plan's row-group limits
    /// (`max_row_group_row_count`, `max_row_group_bytes`) end a row group
    /// inside a part, cut it there as `ArrowWriter` would, and admit the
    /// piece before the cut again, in parts of its own: its last chunk
    /// ends at the cut, shorter than the part's admission looked at, and
    /// parquet's byte budget can cut such a chunk into windows of many long
    /// values. Where no piece needs parts, the file is the one `write`-ing
    /// each part would make.
    ///
    /// Fails as `admit_in_parts` does, or as the piece's admission or
    /// `writer` fail; rows written before then stay written (finish the
    /// file or drop it).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use arrow_array::{ArrayRef, RecordBatch, StringArray};
    /// use parquet::arrow::ArrowWriter;
    /// use parquet::file::properties::WriterProperties;
    /// let strings = StringArray::from_iter_values((0..1000).map(|i| format!("{i:08}")));
    /// let batch = RecordBatch::try_from_iter([("s", Arc::new(strings) as ArrayRef)])?;
    /// let props = WriterProperties::builder().set_max_row_group_row_count(Some(400)).build();
    /// let plan = parquet_spill::SpillOptions::new(32 << 20).properties(props).plan(&batch.schema())?;
    /// let monitor = plan.monitor();
    /// let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), plan.into_writer_options())?;
    /// monitor.write(&mut writer, &batch)?;
    /// let rows: Vec<i64> = writer.close()?.row_groups().iter().map(|g| g.num_rows()).collect();
    /// assert_eq!(rows, [400, 400, 200]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write<W: std::io::Write + Send>(
        &self,
        writer: &mut parquet::arrow::ArrowWriter<W>,
        batch: &arrow_array::RecordBatch,
    ) -> parquet::errors::Result<()> {
        for part in self.admit_in_parts(batch)? {
            self.write_cut(writer, part)?;
        }
        Ok(())
    }

    /// Write admitted `rows` with `writer`, each piece of them before a
    /// row group ends admitted again ([`Admission::Again`]), in parts, and
    /// written so.
    fn write_cut<W: std::io::Write + Send>(
        &self,
        writer: &mut parquet::arrow::ArrowWriter<W>,
        mut rows: arrow_array::RecordBatch,
    ) -> parquet::errors::Result<()> {
        while rows.num_rows() > 0 {
            let size = || Ok::<_, parquet::errors::ParquetError>(writer.in_progress_size());
            match self
                .groups
                .cut(writer.in_progress_rows(), rows.num_rows(), size)?
            {
                Cut::Flush => writer.flush()?,
                Cut::Rows(all) if all >= rows.num_rows() => return writer.write(&rows),
                Cut::Rows(head) => {
                    for part in self.admit_again_in_parts(&rows.slice(0, head))? {
                        self.write_cut(writer, part)?;
                    }
                    rows = rows.slice(head, rows.num_rows() - head);
                }
            }
        }
        Ok(())
    }
}

/// The most parts [`SpillMonitor::admit_in_parts`] cuts a batch into: a
/// batch that needs more is refused as `admit` refuses it.
const MAX_PARTS: usize = 4096;

/// The parts of a batch [`SpillMonitor::admit_in_parts`] admitted, in
/// order: each a row slice of it, made as it is taken; where a slice would
/// have parquet convert values of the batch's other rows (below a list of
/// `Int16`, say), its columns copied instead, as the part was admitted.
/// Drop each part once written: the room admitted is for one part at a
/// time (for a `ParallelWriter`, those its columns queue).
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array, RecordBatch};
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef)])?;
/// let plan = parquet_spill::SpillOptions::new(32 << 20).plan(&batch.schema())?;
/// let parts: Vec<RecordBatch> = plan.monitor().admit_in_parts(&batch)?.collect();
/// assert_eq!(parts, [batch], "a batch that fits is one part");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Parts {
    batch: arrow_array::RecordBatch,
    ranges: std::vec::IntoIter<Part>,
}

/// One part: its rows, and the columns to copy ([`crate::compact`]).
#[derive(Debug)]
struct Part {
    start: usize,
    len: usize,
    copied: Vec<usize>,
}

impl Parts {
    /// `batch` as one part.
    pub(crate) fn whole(batch: &arrow_array::RecordBatch) -> Self {
        let whole = Part {
            start: 0,
            len: batch.num_rows(),
            copied: Vec::new(),
        };
        Self::new(batch, vec![whole])
    }

    fn new(batch: &arrow_array::RecordBatch, ranges: Vec<Part>) -> Self {
        Self {
            batch: batch.clone(),
            ranges: ranges.into_iter(),
        }
    }
}

impl Iterator for Parts {
    type Item = arrow_array::RecordBatch;

    fn next(&mut self) -> Option<Self::Item> {
        let part = self.ranges.next()?;
        let slice = self.batch.slice(part.start, part.len);
        if part.copied.is_empty() {
            return Some(slice);
        }
        let mut columns = slice.columns().to_vec();
        for &c in &part.copied {
            if let Some(column) = columns.get_mut(c) {
                *column = crate::compact::copy(column);
            }
        }
        // The copies have the slice's types and length: the slice itself
        // only where that did not hold.
        let copy = arrow_array::RecordBatch::try_new(slice.schema(), columns);
        Some(copy.unwrap_or(slice))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ranges.size_hint()
    }
}

impl ExactSizeIterator for Parts {}

/// One planned writer's memory, part by part.
///
/// Prints as one line per part:
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// let schema = Schema::new(vec![Field::new("x", DataType::Int64, false)]);
/// let plan = parquet_spill::SpillOptions::new(32 << 20).plan(&schema)?;
/// let text = plan.stats().to_string();
/// assert!(text.contains("encoders"), "{text}");
/// assert!(text.contains("of the 32.0 MiB limit"), "{text}");
/// # Ok::<(), parquet_spill::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriterStats {
    /// The writer's limit.
    pub limit: usize,
    /// What the planner reserved, part by part.
    pub estimate: Estimate,
    /// The budget (shared with other writers, if any).
    pub budget: BudgetStats,
    /// Page and chunk metadata charged right now: what parquet keeps until
    /// the file closes, and what the open row groups' pages hold until
    /// they are flushed (keys, index builders, headers).
    pub page_metadata: u64,
    /// Pages written so far.
    pub pages: u64,
    /// Column chunks started so far.
    pub column_chunks: u64,
    /// Bytes of pages (and headers) kept on the heap right now.
    pub heap_pages: u64,
    /// Highest `heap_pages` seen.
    pub peak_heap_pages: u64,
    /// Blobs passed to the backend.
    pub spilled_blobs: u64,
    /// Bytes passed to the backend.
    pub spilled_bytes: u64,
    /// Part of `spilled_bytes` first kept on the heap, then spilled to make
    /// room for page metadata or another writer's reservation.
    pub reclaimed_bytes: u64,
    /// Room taken beyond the plan's transient for pages longer than the
    /// plan's (byte-array values longer than the page size): 0 unless the
    /// data had such values.
    pub long_page_room: u64,
    /// Room taken for the largest batch admitted so far while parquet
    /// encodes it: its levels and converted values, which grow with the
    /// batch's rows, and what the open pages of lists whose rows hold many
    /// values keep beyond the plan (dictionary indices, `DELTA_BYTE_ARRAY`
    /// handles, levels) ([`SpillMonitor::admit`]), and the compact copies
    /// of parts in flight ([`SpillMonitor::admit_in_parts`]).
    pub batch_room: u64,
    /// Batches too large to encode whole within the limit, written in
    /// parts ([`SpillMonitor::admit_in_parts`]).
    pub batches_in_parts: u64,
}

fn b(n: impl TryInto<u64>) -> ByteSize {
    ByteSize(n.try_into().unwrap_or(u64::MAX))
}

impl fmt::Display for WriterStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.estimate;
        writeln!(f, "encoders        {} reserved", b(e.encoders))?;
        writeln!(f, "codec contexts  {} reserved", b(e.codec))?;
        writeln!(f, "transient       {} reserved", b(e.transient))?;
        writeln!(f, "allocator       {} reserved", b(e.allocator))?;
        if e.reserved_extra > 0 {
            writeln!(f, "caller          {} reserved", b(e.reserved_extra))?;
        }
        if self.batch_room > 0 {
            write!(
                f,
                "batch encoding  {} reserved (levels and converted values of the largest batch, list pages' values, copies of parts)",
                b(self.batch_room)
            )?;
            match self.batches_in_parts {
                0 => writeln!(f)?,
                1 => writeln!(f, "; 1 batch too large for it written in parts")?,
                n => writeln!(f, "; {n} batches too large for it written in parts")?,
            }
        }
        if self.long_page_room > 0 {
            writeln!(
                f,
                "long pages      {} reserved (values longer than the page size)",
                b(self.long_page_room)
            )?;
        }
        writeln!(
            f,
            "page metadata   {} for {} pages and {} column chunks",
            b(self.page_metadata),
            self.pages,
            self.column_chunks
        )?;
        writeln!(
            f,
            "pages on heap   {} now, {} at peak",
            b(self.heap_pages),
            b(self.peak_heap_pages)
        )?;
        writeln!(
            f,
            "spilled         {} in {} blobs ({} of it reclaimed from the heap)",
            b(self.spilled_bytes),
            self.spilled_blobs,
            b(self.reclaimed_bytes)
        )?;
        if self.budget.limit == self.limit {
            write!(
                f,
                "peak            {} of the {} limit",
                b(self.budget.peak),
                b(self.limit)
            )
        } else {
            // A shared budget's peak is every writer's, not this one's.
            write!(
                f,
                "peak            {} of the shared {} budget ({} of it this writer's share)",
                b(self.budget.peak),
                b(self.budget.limit),
                b(self.limit)
            )
        }
    }
}
