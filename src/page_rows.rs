//! How many values and levels one page of a repeated leaf can hold, from
//! the rows of a batch.
//!
//! Why: parquet 60.1 ends a data page when its encoded size passes the page
//! limit or its rows pass the row limit. A row of a leaf under a list holds
//! any number of values, and three things grow with a page's values or
//! levels where its encoded size barely does: a dictionary's indices (eight
//! bytes each in a vector that doubles, where the page counts an eighth of
//! a byte for one of a single-entry dictionary), a fixed-length
//! `DELTA_BYTE_ARRAY` encoder's handles (32 bytes and the value, where the
//! page counts nothing for a value equal to the one before) and the levels,
//! which the page limit does not count at all. The plan cannot know how
//! many values a row holds, and assumes one; four columns of lists of 1,000
//! equal `Int64` values a row, parquet's default properties, held 504 MiB
//! of heap at a 16 MiB limit in pages of 20,000 rows. A batch tells: before
//! it is written, [`crate::metadata::Meter::admit`] makes room for the
//! values and levels a page can hold given its rows ([`PageLoad`]) and the
//! page left open by the batches before it, or refuses it.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, OffsetSizeTrait};
use arrow_schema::DataType;

use crate::metadata::{LONG_PAGE_COPIES, LONG_PAGE_KEPT};

/// What a repeated leaf's open page keeps per value beyond its encoded
/// bytes, and how the plan bounds its rows; from the plan's model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PageValues {
    /// The page row limit. parquet checks it after each mini-batch of up
    /// to a write batch of levels (widened to the end of a row), so a page
    /// holds fewer rows than the limit and one mini-batch
    /// ([`PageValues::mini_batch`]).
    pub rows: usize,
    /// The write batch size (levels of one mini-batch, before widening).
    pub batch: usize,
    /// Dictionary-encoded: its indices, eight bytes each in a vector that
    /// doubles; `bytes` is the data page limit, which the page's estimated
    /// size (at least an eighth of a byte an index) reaches after eight
    /// indices a byte of it and a mini-batch.
    pub dictionary: Option<PhaseRoom>,
    /// A fixed-length `DELTA_BYTE_ARRAY` encoder's: a 32-byte handle each
    /// in a vector that doubles, and the value (`bytes` wide) in the
    /// buffers its batch's values were copied into.
    pub delta: Option<PhaseRoom>,
    /// Bits a definition and a repetition level take bit-packed, with
    /// the run headers (one byte each eight levels).
    pub level_bits: [usize; 2],
}

/// What the plan counted for a phase's per-value state, and its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PhaseRoom {
    pub planned: usize,
    pub bytes: usize,
}

/// Bytes a dictionary index and a `DELTA_BYTE_ARRAY` handle take.
const INDEX: usize = 8;
const HANDLE: usize = 32;

impl PageValues {
    /// What a page of `values` values (whose longest row holds `row`
    /// levels) keeps beyond what the plan counted: the dictionary's
    /// indices, or later the handles (one phase at a time).
    pub(crate) fn beyond(&self, values: usize, row: usize) -> usize {
        let doubled = |n: usize, each: usize| {
            n.checked_next_power_of_two()
                .unwrap_or(usize::MAX)
                .saturating_mul(each)
        };
        let dictionary = self.dictionary.map_or(0, |d| {
            let cap = d
                .bytes
                .saturating_mul(8)
                .saturating_add(self.batch)
                .saturating_add(row);
            doubled(values.min(cap), INDEX).saturating_sub(d.planned)
        });
        let delta = self.delta.map_or(0, |d| {
            doubled(values, HANDLE)
                .saturating_add(values.saturating_mul(d.bytes))
                .saturating_sub(d.planned)
        });
        dictionary.max(delta)
    }

    /// The most values and levels the mini-batch that ends a page adds to
    /// the rows before it: a write batch widened to the end of a row of up
    /// to `row` levels. Where the levels of a write (a batch, or the slice
    /// of it in a row group) are all alike, parquet takes a row limit of
    /// levels at once; they are alike only for lists that are all null or
    /// empty (`vary`, [`PageLoad::definitions_vary`]), which hold no values.
    pub(crate) fn mini_batch(&self, row: usize, vary: bool) -> Counts {
        let levels = match vary {
            true => self.batch.max(self.rows),
            false => self.batch,
        };
        Counts {
            values: self.batch.saturating_add(row),
            levels: levels.saturating_add(row),
        }
    }

    /// What a page of `values` values and `levels` levels (its longest
    /// row `row` levels; definition levels varying or not) needs beyond the
    /// plan, its codec aside: what it keeps per value
    /// ([`PageValues::beyond`]), and its levels' bytes past `trigger` on a
    /// page of up to `page_limit` bytes of values, kept
    /// ([`LONG_PAGE_KEPT`]) and copied while written ([`LONG_PAGE_COPIES`]).
    pub(crate) fn room(
        &self,
        page: Counts,
        row: usize,
        vary: bool,
        page_limit: usize,
        trigger: usize,
    ) -> PageRoom {
        let levels = self.level_bytes(page.levels, vary);
        let past = page_limit.saturating_add(levels).saturating_sub(trigger);
        PageRoom {
            levels,
            kept: self
                .beyond(page.values, row)
                .saturating_add(past.saturating_mul(LONG_PAGE_KEPT)),
            writing: past.saturating_mul(LONG_PAGE_COPIES),
        }
    }

    /// The most bytes a page's `levels` levels take once encoded,
    /// bit-packed; definition levels only where they `vary` (a definition
    /// level that never varies is one run).
    pub(crate) fn level_bytes(&self, levels: usize, vary: bool) -> usize {
        let [definition, repetition] = self.level_bits;
        let bits = repetition + usize::from(vary) * definition;
        levels.saturating_mul(bits).div_ceil(8)
    }
}

/// Batches (or parts of one) whose rows [`Admitted`] remembers.
const REMEMBERED: usize = 16;

/// The most blocks a batch's rows are cut in ([`RowStarts`]): a page
/// row limit of a few rows would otherwise make a block of every row, and
/// the walk's vectors (some 80 bytes a row, not charged) took 160 MB of
/// heap for 2,000,000-row batches at a row limit of one.
pub(crate) const MAX_BLOCKS: usize = 1024;

/// Steps a page-worth of rows is cut in, to bound what a page holds where
/// the page left open by earlier batches meets a batch: `STEPS` of them
/// err by at most an eighth of a page-worth.
pub(crate) const STEPS: usize = 8;

/// The rows of `m` steps of a page-worth of `page` rows.
fn step_rows(page: usize, m: usize) -> usize {
    page.saturating_mul(m).div_ceil(STEPS)
}

/// The most rows of a page of `page` rows the meter counts where the page
/// left open by earlier batches meets a batch ([`PageLoad::page`]): `m`
/// steps of the rows before, the batch's first `STEPS + 1 - m` steps (a
/// page-worth and a step, rounded up), and a step more where the walk back
/// through the batches before rounds the rows it still wants up to a step
/// of the batch it reaches ([`Admitted::last`]). A window of a batch's
/// own rows ([`RowStarts`]' blocks, of a step) holds no more, up to a
/// block less. The planner gives a repeated leaf's pages their rows from
/// it: counted as a page-worth and one step, 53-row batches met 73-row
/// pages of 1,536-value rows in 91 rows, and on two threads the page's
/// room took what the page metadata needed.
///
/// Exact for a leaf below one list, whose rows the meter knows. Below a
/// second list it takes a row to be a block's levels (and blocks grow
/// past a step for batches of more than [`MAX_BLOCKS`] steps), where the
/// planner takes the sample's longest row: there the meter counts more
/// than this, as it did before (not yet matched).
pub(crate) fn counted_rows(page: usize) -> usize {
    page.saturating_add(step_rows(page, 1).saturating_mul(2))
}

/// One batch as [`Admitted`] remembers it.
#[derive(Debug, Clone, Copy, Default)]
struct Remembered {
    rows: usize,
    levels: usize,
    /// Levels in its last `m` steps of rows ([`PageLoad::tail`]).
    tail: [usize; STEPS + 1],
}

/// What a repeated leaf's page needs beyond the plan: what it keeps (its
/// dictionary indices or handles, [`PageValues::beyond`], and what its
/// levels, beyond the page limit, leave in its buffers and codec), and
/// what it holds besides while it is written (copies of the levels).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PageRoom {
    pub kept: usize,
    pub writing: usize,
    /// The bytes of its levels, encoded.
    pub levels: usize,
}

impl PageRoom {
    /// The most of each.
    pub(crate) fn max(self, other: Self) -> Self {
        Self {
            kept: self.kept.max(other.kept),
            writing: self.writing.max(other.writing),
            levels: self.levels.max(other.levels),
        }
    }
}

/// The levels of a repeated leaf admitted so far, and the rows and levels
/// of the last batches: a page open before a batch holds fewer rows than a
/// page holds, so no more levels than the batches that gave its last rows,
/// nor than its pages have not taken of all admitted (batches admitted in
/// parts, or queued for a `ParallelWriter`, are admitted before any is
/// written, so the second alone would take them all as one page).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Admitted {
    /// Every batch's levels.
    pub levels: usize,
    /// Some batch's definition levels varied ([`PageLoad::definitions_vary`]):
    /// a page it left open may hold them.
    pub varied: bool,
    /// The most levels one row of any batch held ([`PageLoad::row`]).
    row: usize,
    /// The last batches, the newest at `next - 1`.
    recent: [Remembered; REMEMBERED],
    next: usize,
}

impl Admitted {
    /// A batch of `rows` rows bringing `load`.
    pub(crate) fn push(&mut self, rows: usize, load: &PageLoad) {
        self.levels = self.levels.saturating_add(load.total.levels);
        self.varied |= load.definitions_vary;
        self.row = self.row.max(load.row);
        self.recent[self.next] = Remembered {
            rows,
            levels: load.total.levels,
            tail: load.tail,
        };
        self.next = (self.next + 1) % REMEMBERED;
    }

    /// The most levels the last `m` steps of a page-worth of `page` rows
    /// admitted hold, where its pages have taken `paged` levels: what the
    /// batches they came from hold (where those are remembered), and no
    /// more than its pages left.
    pub(crate) fn last(&self, paged: usize, page: usize, m: usize) -> usize {
        let left = self.levels.saturating_sub(paged);
        let (mut wanted, mut levels) = (step_rows(page, m), 0usize);
        if wanted == 0 {
            return 0;
        }
        for back in 1..=REMEMBERED {
            let batch = &self.recent[(self.next + REMEMBERED - back) % REMEMBERED];
            if batch.rows >= wanted {
                // The rows wanted are among its last steps.
                let steps = (1..=STEPS)
                    .find(|&k| step_rows(page, k) >= wanted)
                    .unwrap_or(STEPS);
                return left.min(levels.saturating_add(batch.tail[steps]));
            }
            levels = levels.saturating_add(batch.levels);
            wanted -= batch.rows;
        }
        // Rows older than those remembered: none longer than the longest.
        // (Counted as every level left, parts of a few rows of one batch,
        // admitted before any was written, made a page of up to 707 rows
        // hold 131,123 values, and stopped sampled sweep seed 204.)
        left.min(levels.saturating_add(wanted.saturating_mul(self.row)))
    }
}

/// Values and levels of a span of rows of one leaf.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub values: usize,
    pub levels: usize,
}

/// What one batch brings a repeated leaf's pages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PageLoad {
    /// Its values and levels in the batch.
    pub total: Counts,
    /// In the batch's first `m` steps of a page-worth of rows
    /// ([`PageValues::rows`], [`STEPS`]), which join the page the batches
    /// before left open.
    pub head: [Counts; STEPS + 1],
    /// The most in any page-worth of its consecutive rows (each counted
    /// on its own: the two may come from different rows).
    pub most: Counts,
    /// Levels in its last `m` steps of a page-worth of rows, which a page
    /// left open may hold.
    pub tail: [usize; STEPS + 1],
    /// The most levels one row holds.
    pub row: usize,
    /// Its definition levels vary: a null or an empty list, here or
    /// above it.
    pub definitions_vary: bool,
}

/// Keys of a dictionary (or run-end) array of nested values above a leaf:
/// parquet takes the values by key, so one entry may be written for every
/// key, and a page holds, for each of its keys, at most the largest
/// entry's values and levels (the entries' rows are looked at one by one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keyed {
    /// Keys in the batch (times those of a keyed array above).
    pub keys: usize,
    /// The keys are the batch's rows (no list above): a page holds no
    /// more keys than rows; else any page may hold them all.
    pub rows: bool,
}

impl Keyed {
    /// What the keys bring the leaf's pages of up to `page` rows, its
    /// entries holding at most `entry` levels each.
    pub(crate) fn load(&self, entry: usize, page: usize) -> PageLoad {
        let keys = |rows: usize| match self.rows {
            true => rows.min(self.keys),
            false if rows == 0 => 0,
            false => self.keys,
        };
        let counts = |rows: usize| {
            let n = keys(rows).saturating_mul(entry);
            Counts {
                values: n,
                levels: n,
            }
        };
        PageLoad {
            total: counts(usize::MAX),
            head: std::array::from_fn(|m| counts(step_rows(page, m))),
            tail: std::array::from_fn(|m| counts(step_rows(page, m)).levels),
            most: counts(page),
            row: counts(1).levels,
            definitions_vary: true,
        }
    }
}

impl PageLoad {
    /// A leaf's `all` values and levels of a batch taken as one row (its
    /// rows not known).
    pub(crate) fn one_row(all: Counts) -> Self {
        let mut head = [all; STEPS + 1];
        head[0] = Counts::default();
        let mut tail = [all.levels; STEPS + 1];
        tail[0] = 0;
        PageLoad {
            total: all,
            head,
            most: all,
            tail,
            row: all.levels,
            definitions_vary: true,
        }
    }

    /// The most values and levels one page of the leaf holds while this
    /// batch is written: a page-worth of its rows, or the rows a page
    /// left open by the batches before (`before(m)`: the most levels of
    /// their last `m` steps of rows) and its first rows to make up a
    /// page-worth, for every step where the two may meet (the open rows
    /// taken as levels and as values alike).
    pub(crate) fn page(&self, before: impl Fn(usize) -> usize) -> Counts {
        let mut most = self.most;
        for m in 1..=STEPS {
            let (open, head) = (before(m), self.head[STEPS + 1 - m]);
            most.values = most.values.max(open.saturating_add(head.values));
            most.levels = most.levels.max(open.saturating_add(head.levels));
        }
        most
    }
}

/// Where each row of a batch begins in the array being walked, and the
/// level slots the lists above add before it (one for each empty or null
/// list): `rows + 1` entries each. `None` rows: where values are not in
/// row order (list views, dictionaries of nested values), every value is
/// taken to be in the first row, which errs safe.
#[derive(Debug, Clone)]
pub(crate) struct RowStarts {
    /// The batch's rows and the page-worth of rows windows are taken over.
    rows: usize,
    page: usize,
    /// The rows of a block windows are made of: a step of a page-worth,
    /// or more where the batch has more than [`MAX_BLOCKS`] of those.
    block: usize,
    /// The row starts looked at, in order: each step of a page-worth from
    /// the first row ([`step_rows`]: the blocks windows are made of, and
    /// the first steps), each from the last, and the end. Not every row:
    /// a batch of many rows would take words a row to scan.
    points: Vec<usize>,
    /// Where each point begins in the array walked, and the slots the
    /// lists above add before it.
    at: Option<Vec<usize>>,
    extra: Vec<usize>,
    /// A list above has nulls (whose values, if any, parquet does not
    /// write: the definition levels vary though the counts may not tell).
    nulls: bool,
    /// The most levels one row holds at the leaf where known exactly: below
    /// the first list alone (a slot for each of its items, or one for an
    /// empty or null list). Below a second list, `None`: the blocks bound
    /// it.
    row: Option<usize>,
    /// No list is above yet: the starts are the batch's rows.
    top: bool,
}

impl RowStarts {
    /// The starts of a batch of `rows` rows, for pages of up to
    /// `page_rows` rows.
    pub(crate) fn new(rows: usize, page_rows: usize) -> Self {
        let page = page_rows.max(1);
        let block = step_rows(page, 1).max(rows.div_ceil(MAX_BLOCKS)).max(1);
        let mut points: Vec<usize> = (0..=rows)
            .step_by(block)
            .chain((0..=STEPS).map(|m| step_rows(page, m).min(rows)))
            .chain((0..=STEPS).map(|m| rows.saturating_sub(step_rows(page, m))))
            .chain([rows])
            .collect();
        points.sort_unstable();
        points.dedup();
        Self {
            rows,
            page,
            block,
            at: Some(points.clone()),
            extra: vec![0; points.len()],
            points,
            nulls: false,
            row: None,
            top: true,
        }
    }

    /// The same rows in the values of list `parent` (a list, large list,
    /// fixed-size list or map whose rows these are), its values sliced to
    /// those its offsets use, as the walk slices them.
    pub(crate) fn through_list(&self, parent: &ArrayRef) -> Self {
        let mut starts = self.through_offsets(parent);
        starts.nulls |= parent.null_count() > 0;
        starts.row = self.top.then(|| longest_list(parent)).flatten();
        starts.top = false;
        starts
    }

    fn through_offsets(&self, parent: &ArrayRef) -> Self {
        // `n` lists, list `i` from `start(i)` to `start(i + 1)`.
        fn starting(starts: &RowStarts, n: usize, start: impl Fn(usize) -> usize) -> RowStarts {
            let first = start(0);
            starts.mapped(|at| {
                // The lists of none before each row start, in one pass (the
                // starts only grow).
                let mut empty = 0;
                let mut list = 0;
                at.iter()
                    .map(|&row| {
                        while list < row && list < n {
                            empty += usize::from(start(list + 1) == start(list));
                            list += 1;
                        }
                        let value = match row <= n {
                            true => start(row) - first,
                            false => 0,
                        };
                        (value, empty)
                    })
                    .collect()
            })
        }
        fn offsets<O: OffsetSizeTrait>(starts: &RowStarts, o: &[O]) -> RowStarts {
            starting(starts, o.len().saturating_sub(1), |i| o[i].as_usize())
        }
        // Views in order ([`views_in_order`]): each starts where the one
        // before ends.
        fn views<O: OffsetSizeTrait>(starts: &RowStarts, o: &[O], sizes: &[O]) -> RowStarts {
            let end = o.last().zip(sizes.last());
            let end = end.map_or(0, |(o, size)| o.as_usize() + size.as_usize());
            starting(starts, o.len(), |i| o.get(i).map_or(end, |o| o.as_usize()))
        }
        match parent.data_type() {
            DataType::List(_) => parent
                .as_list_opt::<i32>()
                .map_or_else(|| self.unknown(), |a| offsets(self, a.value_offsets())),
            DataType::LargeList(_) => parent
                .as_list_opt::<i64>()
                .map_or_else(|| self.unknown(), |a| offsets(self, a.value_offsets())),
            DataType::Map(_, _) => parent
                .as_map_opt()
                .map_or_else(|| self.unknown(), |a| offsets(self, a.value_offsets())),
            DataType::ListView(_) if views_in_order(parent) => {
                parent.as_list_view_opt::<i32>().map_or_else(
                    || self.unknown(),
                    |a| views(self, a.value_offsets(), a.value_sizes()),
                )
            }
            DataType::LargeListView(_) if views_in_order(parent) => {
                parent.as_list_view_opt::<i64>().map_or_else(
                    || self.unknown(),
                    |a| views(self, a.value_offsets(), a.value_sizes()),
                )
            }
            DataType::FixedSizeList(_, size) => {
                let size = usize::try_from(*size).unwrap_or(0);
                // A list of none is a slot of its own.
                let slot = usize::from(size == 0);
                self.mapped(|at| at.iter().map(|&i| (i * size, i * slot)).collect())
            }
            _ => self.unknown(),
        }
    }

    /// The most `sum` gives the values of any block of rows (the array
    /// walked's indices from one start to the next: a row where there is
    /// a start for every row); `None` where the rows are not known.
    pub(crate) fn most_between(&self, sum: impl Fn(usize, usize) -> usize) -> Option<usize> {
        let at = self.at.as_ref()?;
        Some(
            at.windows(2)
                .map(|w| sum(w[0], w[1].max(w[0])))
                .max()
                .unwrap_or(0),
        )
    }

    /// Every value taken to be in the first row.
    pub(crate) fn unknown(&self) -> Self {
        Self {
            at: None,
            ..self.clone()
        }
    }

    /// Through a list: `map` gives, for each row start, where it begins in
    /// the list's values and the slots the list adds before it.
    fn mapped(&self, map: impl FnOnce(&[usize]) -> Vec<(usize, usize)>) -> Self {
        let Some(starts) = &self.at else {
            return self.clone();
        };
        let mapped = map(starts);
        Self {
            at: Some(mapped.iter().map(|&(at, _)| at).collect()),
            extra: mapped
                .iter()
                .zip(&self.extra)
                .map(|(&(_, slots), &e)| e + slots)
                .collect(),
            ..self.clone()
        }
    }

    /// What leaf `array` (the values the walk reached, `scale` times each)
    /// brings pages; `nulls_above`: a struct above it has nulls. Windows
    /// of a page-worth of rows are taken over the blocks of a step that
    /// hold them: up to two steps more ([`counted_rows`]), and more where
    /// blocks are larger than a step.
    pub(crate) fn load(&self, array: &ArrayRef, scale: usize, nulls_above: bool) -> PageLoad {
        let (rows, page) = (self.rows, self.page);
        let nulls = array.logical_nulls();
        // Values (not null) of the leaf before each point, or before its
        // end where the rows are not known: counted between points.
        let ends = [0, array.len()];
        let starts = self.at.as_deref().unwrap_or(&ends);
        let mut seen = 0;
        let mut before = 0;
        let valid: Vec<usize> = starts
            .iter()
            .map(|&p| {
                let p = p.min(array.len()).max(seen);
                before += match &nulls {
                    Some(n) => n.inner().slice(seen, p - seen).count_set_bits(),
                    None => p - seen,
                };
                seen = p;
                before
            })
            .collect();
        let scaled = |c: Counts| Counts {
            values: c.values.saturating_mul(scale),
            levels: c.levels.saturating_mul(scale),
        };
        let Some(at) = &self.at else {
            let levels = array.len() + self.extra.last().copied().unwrap_or(0);
            return PageLoad::one_row(scaled(Counts {
                values: valid.last().copied().unwrap_or(0),
                levels,
            }));
        };
        // Counts before row start `row`, one of the points.
        let before = |row: usize| {
            let i = self.points.binary_search(&row).unwrap_or(0);
            Counts {
                values: valid[i],
                levels: at[i] + self.extra[i],
            }
        };
        let span = |from: usize, to: usize| {
            let (a, b) = (before(from), before(to));
            Counts {
                values: b.values - a.values,
                levels: b.levels - a.levels,
            }
        };
        // Blocks of a step from the first row: a page-worth of rows from
        // any row lies within the block it starts in and the next ones it
        // reaches (a page-worth of blocks at most: a step is an eighth of
        // a page-worth, rounded up).
        let block = self.block;
        let window = block.saturating_mul(1 + page.div_ceil(block));
        let mut most = Counts::default();
        let mut row = 0;
        for from in (0..rows).step_by(block) {
            let window = span(from, from.saturating_add(window).min(rows));
            most.values = most.values.max(window.values);
            most.levels = most.levels.max(window.levels);
            // A row lies within a block.
            row = row.max(span(from, (from + block).min(rows)).levels);
        }
        let row = self.row.map_or(row, |longest| longest.min(row));
        // Nor more than a page-worth of the longest rows (blocks longer
        // than a page-worth take in rows no page holds with them).
        let longest = page.saturating_mul(row);
        most.values = most.values.min(longest);
        most.levels = most.levels.min(longest);
        let total = span(0, rows);
        PageLoad {
            definitions_vary: nulls_above || self.nulls || total.levels > total.values,
            total: scaled(total),
            head: std::array::from_fn(|m| scaled(span(0, step_rows(page, m).min(rows)))),
            tail: std::array::from_fn(|m| {
                let from = rows.saturating_sub(step_rows(page, m));
                scaled(span(from, rows)).levels
            }),
            most: scaled(most),
            row: row.saturating_mul(scale),
        }
    }
}

/// The most slots one list of `parent` takes (one for an empty or null
/// list), in one pass over its offsets; `None` for other arrays.
fn longest_list(parent: &ArrayRef) -> Option<usize> {
    fn longest<O: OffsetSizeTrait>(o: &[O]) -> usize {
        o.windows(2)
            .map(|w| (w[1].as_usize() - w[0].as_usize()).max(1))
            .max()
            .unwrap_or(1)
    }
    fn largest<O: OffsetSizeTrait>(sizes: &[O]) -> usize {
        sizes.iter().map(|s| s.as_usize().max(1)).max().unwrap_or(1)
    }
    match parent.data_type() {
        DataType::List(_) => Some(longest(parent.as_list_opt::<i32>()?.value_offsets())),
        DataType::LargeList(_) => Some(longest(parent.as_list_opt::<i64>()?.value_offsets())),
        DataType::Map(_, _) => Some(longest(parent.as_map_opt()?.value_offsets())),
        DataType::FixedSizeList(_, size) => Some(usize::try_from(*size).ok()?.max(1)),
        DataType::ListView(_) if views_in_order(parent) => {
            Some(largest(parent.as_list_view_opt::<i32>()?.value_sizes()))
        }
        DataType::LargeListView(_) if views_in_order(parent) => {
            Some(largest(parent.as_list_view_opt::<i64>()?.value_sizes()))
        }
        _ => None,
    }
}

/// Whether list view `array`'s views follow one another, each starting
/// where the one before ends (as a list's rows do, empty views too): its
/// rows are then known as a list's. Views out of order, apart or shared
/// are not (nor are other arrays).
pub(crate) fn views_in_order(array: &ArrayRef) -> bool {
    fn in_order<O: OffsetSizeTrait>(o: &[O], sizes: &[O]) -> bool {
        o.windows(2)
            .zip(sizes)
            .all(|(w, size)| w[0].as_usize() + size.as_usize() == w[1].as_usize())
    }
    match array.data_type() {
        DataType::ListView(_) => array
            .as_list_view_opt::<i32>()
            .is_some_and(|a| in_order(a.value_offsets(), a.value_sizes())),
        DataType::LargeListView(_) => array
            .as_list_view_opt::<i64>()
            .is_some_and(|a| in_order(a.value_offsets(), a.value_sizes())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, ListArray};
    use arrow_buffer::{NullBuffer, OffsetBuffer};
    use arrow_schema::Field;

    use super::*;

    fn list(lengths: &[usize], nulls: Option<Vec<bool>>, item_nulls: bool) -> ArrayRef {
        let n: usize = lengths.iter().sum();
        let values: Int64Array = (0..n)
            .map(|i| (!item_nulls || i % 2 == 0).then_some(i as i64))
            .collect();
        let field = Arc::new(Field::new("item", DataType::Int64, true));
        Arc::new(ListArray::new(
            field,
            OffsetBuffer::from_lengths(lengths.iter().copied()),
            Arc::new(values),
            nulls.map(NullBuffer::from),
        ))
    }

    fn load(array: &ArrayRef, page_rows: usize) -> PageLoad {
        let starts = RowStarts::new(array.len(), page_rows).through_list(array);
        let values = array.as_list::<i32>();
        let first = values.value_offsets()[0] as usize;
        let last = *values.value_offsets().last().unwrap() as usize;
        starts.load(&values.values().slice(first, last - first), 1, false)
    }

    #[test]
    fn windows_of_rows_count_their_values_and_levels() {
        // Rows of 1, 5, 0 (one slot), 2, 10 values.
        let array = list(&[1, 5, 0, 2, 10], None, false);
        let got = load(&array, 2);
        assert_eq!(
            got.total,
            Counts {
                values: 18,
                levels: 19
            }
        );
        assert_eq!(
            got.head[STEPS],
            Counts {
                values: 6,
                levels: 6
            }
        );
        // Rows 3 to 5 (a window is a block more than a page-worth).
        assert_eq!(
            got.most,
            Counts {
                values: 12,
                levels: 13
            }
        );
        assert_eq!(got.row, 10);
        // Null items are levels, not values.
        let got = load(&list(&[4, 4], None, true), 1);
        assert_eq!(got.row, 4);
        // One row a page: no more than the longest row.
        assert_eq!(
            got.most,
            Counts {
                values: 4,
                levels: 4
            }
        );
        assert_eq!(
            got.total,
            Counts {
                values: 4,
                levels: 8
            }
        );
    }

    #[test]
    fn a_page_ends_within_a_write_batch_and_a_row_past_its_row_limit() {
        let page = PageValues {
            rows: 100,
            batch: 16,
            ..Default::default()
        };
        // Rows of up to 40 levels: 16 levels widened to the row's end.
        let mini = page.mini_batch(40, false);
        assert_eq!((mini.values, mini.levels), (56, 56));
        // Lists all null or empty: parquet may take a row limit of levels
        // at once, with no values.
        let mini = page.mini_batch(1, true);
        assert_eq!((mini.values, mini.levels), (17, 101));
    }

    #[test]
    fn a_row_below_one_list_is_counted_exactly() {
        // Pages of 80 rows: blocks of 10 rows, which hold all eight rows
        // (17 levels); the longest row holds 9.
        let got = load(&list(&[2, 9, 0, 1, 1, 1, 1, 1], None, false), 80);
        assert_eq!(got.row, 9);
        // Below a second list, the blocks bound it.
        let inner = list(&[2, 9, 0, 1, 1, 1, 1, 1], None, false);
        let field = Arc::new(Field::new("item", inner.data_type().clone(), true));
        let outer: ArrayRef = Arc::new(ListArray::new(
            field,
            OffsetBuffer::from_lengths([4, 4]),
            inner,
            None,
        ));
        let starts = RowStarts::new(2, 80).through_list(&outer);
        let inner = outer.as_list::<i32>().values().clone();
        let starts = starts.through_list(&inner);
        let leaf = inner.as_list::<i32>().values().clone();
        assert_eq!(starts.load(&leaf, 1, false).row, 17);
    }

    #[test]
    fn a_null_list_is_one_slot_and_a_slice_counts_its_own_rows() {
        let array = list(&[3, 0, 3], Some(vec![true, false, true]), false);
        let got = load(&array, 1);
        assert_eq!(
            got.total,
            Counts {
                values: 6,
                levels: 7
            }
        );
        // A null list over values: as many levels as values counted, its
        // definition levels vary all the same.
        let array = list(&[3, 3], Some(vec![true, false]), false);
        assert!(load(&array, 1).definitions_vary);
        assert!(!load(&list(&[3, 3], None, false), 1).definitions_vary);
        let sliced = list(&[100, 1, 1, 100], None, false).slice(1, 2);
        let got = load(&sliced, 8);
        assert_eq!(
            got.total,
            Counts {
                values: 2,
                levels: 2
            }
        );
        assert_eq!(got.row, 1);
    }

    #[test]
    fn keys_may_each_take_the_largest_entry() {
        let top = Keyed {
            keys: 100,
            rows: true,
        };
        let load = top.load(1000, 16);
        assert_eq!(load.most.levels, 16_000);
        assert_eq!(load.total.values, 100_000);
        assert_eq!(load.head[1].levels, 2000);
        let below = Keyed { rows: false, ..top };
        assert_eq!(below.load(1000, 16).most.levels, 100_000);
        assert_eq!(below.load(1000, 16).head[0].levels, 0);
    }

    #[test]
    fn values_out_of_row_order_are_taken_as_one_row() {
        let array = list(&[1, 2, 3], None, false);
        let starts = RowStarts::new(3, 1).unknown();
        let values = array.as_list::<i32>().values().clone();
        let got = starts.load(&values, 2, false);
        assert_eq!(
            got.most,
            Counts {
                values: 12,
                levels: 12
            }
        );
        assert_eq!(got.head[STEPS], got.most);
    }

    #[test]
    fn a_page_left_open_holds_no_more_than_its_last_rows() {
        // Batches of 100 rows of 10 levels each, pages of 80 rows: ten
        // rows (one step) hold 100 levels.
        let batch = load(&list(&[10; 100], None, false), 80);
        assert_eq!(batch.tail[1], 100);
        assert_eq!(batch.tail[STEPS], 800);
        let mut admitted = Admitted::default();
        for _ in 0..10 {
            admitted.push(100, &batch);
        }
        // Nothing paged: the last step and the last page-worth.
        assert_eq!(admitted.last(0, 80, 1), 100);
        assert_eq!(admitted.last(0, 80, STEPS), 800);
        // Paged all but 500 levels.
        assert_eq!(admitted.last(9500, 80, STEPS), 500);
        // Batches of fewer rows than a step: whole batches.
        let small = load(&list(&[10; 4], None, false), 80);
        for _ in 0..3 {
            admitted.push(4, &small);
        }
        assert_eq!(admitted.last(0, 80, 1), 120);
        assert_eq!(admitted.last(0, 80, 2), 120 + 100);
        // More rows than the batches remembered: what pages left.
        for _ in 0..20 {
            admitted.push(1, &load(&list(&[10], None, false), 80));
        }
        assert_eq!(admitted.last(10_000, 80, STEPS), 320);
        // Nothing paged (parts of a batch, all admitted before any is
        // written): the 16 rows remembered, and 64 more of at most the
        // longest row's 10 levels, not every level admitted (10,320).
        assert_eq!(admitted.last(0, 80, STEPS), 800);
        // A page meeting the next batch: an eighth of a page-worth past
        // the 800 levels of 80 rows, where taking both whole would count
        // 1,600.
        let mut admitted = Admitted::default();
        admitted.push(100, &batch);
        let page = batch.page(|m| admitted.last(0, 80, m));
        assert_eq!(page.levels, 900);
    }

    #[test]
    fn a_page_holds_no_more_rows_than_the_planner_counts() {
        // Batches of any rows meeting pages of any row limit, rows of 3
        // levels below one list: the meter's page never holds more than
        // `counted_rows`, which the planner gives repeated leaves' pages
        // their rows by.
        // Pages of 73 rows hold up to 92 (of 12-row batches; 91 of the
        // embeddings' 53-row ones), past a page-worth and one step (83).
        let row = 3;
        let (mut worst, mut embeddings) = ((0, 0, 0), 0);
        for page in 1..=96 {
            for rows in 1..=96 {
                let batch = load(&list(&vec![row; rows], None, false), page);
                let mut admitted = Admitted::default();
                for _ in 0..REMEMBERED {
                    admitted.push(rows, &batch);
                }
                let held = batch.page(|m| admitted.last(0, page, m)).levels / row;
                assert!(
                    held <= counted_rows(page),
                    "{rows}-row batches, {page}-row pages: {held} rows"
                );
                if page == 73 && held > worst.2 {
                    worst = (rows, page, held);
                }
                if (rows, page) == (53, 73) {
                    embeddings = held;
                }
            }
        }
        assert_eq!((worst, embeddings), ((12, 73, 92), 91));
    }

    #[test]
    fn handles_beyond_the_plan() {
        let dictionary = PageValues {
            rows: 100,
            batch: 10,
            dictionary: Some(PhaseRoom {
                planned: 1024,
                bytes: 1000,
            }),
            delta: None,
            level_bits: [2, 2],
        };
        // 100 values: 128 indices, within the 1,024 bytes planned.
        assert_eq!(dictionary.beyond(100, 1), 0);
        assert_eq!(dictionary.beyond(1000, 1), 1024 * 8 - 1024);
        // No more than eight indices a byte of the page, and a mini-batch.
        assert_eq!(dictionary.beyond(1 << 30, 1), 8192 * 8 - 1024);
        let delta = PageValues {
            delta: Some(PhaseRoom {
                planned: 0,
                bytes: 16,
            }),
            dictionary: None,
            ..dictionary
        };
        assert_eq!(delta.beyond(1000, 1), 1024 * 32 + 16_000);
        // Both: one phase at a time.
        let both = PageValues {
            dictionary: dictionary.dictionary,
            ..delta
        };
        assert_eq!(both.beyond(1000, 1), 1024 * 32 + 16_000);
        let plain = PageValues {
            delta: None,
            ..delta
        };
        assert_eq!(plain.beyond(1 << 30, 1), 0);
        assert_eq!(plain.level_bytes(10, true), 5);
        assert_eq!(plain.level_bytes(10, false), 3);
    }
}
