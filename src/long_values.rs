//! One look at a batch before parquet encodes it: its byte-array values
//! longer than a plan's pages, by leaf, and what each column costs parquet
//! to encode beyond its encoders ([`crate::encode_cost`]).
//!
//! Why look before writing: parquet writes a value longer than the page size
//! as a page of its own and holds several copies of that page while it
//! writes it. The metered store sees a page only once parquet has made it,
//! so the first such page could pass the limit before any store could make
//! room for it. Scanning a batch's value lengths first (its offsets or
//! views, no value bytes) lets a planned writer make that room, or refuse
//! the batch, before parquet allocates anything for it.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowPrimitiveType, Int16Type, Int32Type, Int64Type, Int8Type, RunEndIndexType, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{downcast_run_array, Array, ArrayRef, OffsetSizeTrait, RecordBatch, RunArray};
use arrow_schema::DataType;

use crate::page_rows::{
    views_in_order, Counts, Keyed, PageLoad, PageValues, RowStarts, MAX_BLOCKS,
};
use crate::taken::Take;

/// What one look at a batch's leaves finds.
pub(crate) struct Scan {
    /// For each leaf column (in the order parquet numbers them: depth
    /// first) whose two longest values together pass the threshold, its
    /// index and those two values' lengths together: parquet's byte budget
    /// can let a page take two values past its limit. Only values parquet
    /// writes count: those of the batch's rows (not the rest of a sliced
    /// list's child), not null, and of a dictionary only those its keys
    /// use.
    pub long: Vec<(usize, usize)>,
    /// The leaves of `long` whose page is a mini-batch ([`MiniBatches`]),
    /// not a row or a value: a part of the batch with fewer rows makes a
    /// shorter one.
    pub batched: Vec<usize>,
    /// For each top-level column, what parquet allocates beyond its
    /// encoders to encode it ([`crate::encode_cost`]).
    pub columns: Vec<usize>,
    /// For each top-level column, what it would cost as a compact copy of
    /// its rows ([`crate::compact`]): less than `columns` where parquet
    /// converts values below a list that the batch's rows do not use.
    pub compact: Vec<usize>,
    /// For each leaf column, the buffer parquet copies its fixed-length
    /// byte-array values into ([`crate::encode_cost::fixed_len_buffer`];
    /// zero for other types).
    pub fixed_len: Vec<usize>,
    /// For each leaf column watched (`watch`: its statistics keep values
    /// longer than that whole) whose longest value passes its threshold,
    /// its index and that value's length.
    pub statistics: Vec<(usize, usize)>,
    /// For each repeated leaf the plan watches (`repeated`), its index and
    /// what the batch brings its pages ([`crate::page_rows`]).
    pub repeated: Vec<(usize, PageLoad)>,
}

/// What parquet hands a leaf's encoder at once, checking its page limits
/// only after: chunks of the write batch size, or of the page row limit
/// where a leaf's levels are uniform (no nulls, below no list), cut into
/// mini-batches by a byte budget. The budget does not cut an Arrow
/// dictionary's chunk (parquet 59.3 and 60.1 take its values to be
/// short); it sizes every mini-batch of a chunk from the chunk's first
/// values (after short values, as many long ones); and below a list a
/// mini-batch runs to its record's end (a record never spans pages). So a
/// page, or a dictionary page, can pass its limit by a mini-batch of long
/// values, and by a whole row below a list (reviews' findings,
/// `tests/long_pages.rs`: 58.7 MiB of heap at 32 MiB for a dictionary of
/// 20 KB values, 115.5 MiB for short strings then long ones, 38.5 MiB for
/// 10 MB rows). [`scan`] counts such pages as long pages; zero `batch`
/// looks for none.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MiniBatches {
    /// The write batch size and the page row limit.
    pub batch: usize,
    pub rows: usize,
    /// The larger page limit (data or dictionary): what a page may hold
    /// before the mini-batch that passes it.
    pub page_limit: usize,
}

/// Scan `batch`: its values longer than `threshold` bytes, the longest
/// value of each leaf whose `watch` threshold it passes (leaves past the
/// end of `watch` are not watched), what each column costs to encode, and
/// what it brings the pages of each repeated leaf with `Some` in
/// `repeated`; `distinct` where parquet counts distinct values
/// ([`crate::encode_cost::leaf`]); pages that `mini` batches of a
/// dictionary's values or a row's take past the threshold, as long pages.
pub(crate) fn scan(
    batch: &RecordBatch,
    threshold: usize,
    watch: &[usize],
    repeated: &[Option<PageValues>],
    distinct: bool,
    mini: MiniBatches,
) -> Scan {
    let mut walk = Walk {
        distinct,
        mini,
        ..Walk::default()
    };
    walk.walk(batch, threshold, watch, repeated);
    let (mut long, mut batched) = (walk.long, walk.batched);
    // Rows below a list whose values together may pass the threshold:
    // each one's own.
    if !walk.row_leaves.is_empty() {
        let unknown = walk.row_leaves.iter().filter(|(_, _, row)| row.is_none());
        let leaves: Vec<usize> = unknown.map(|&(leaf, _, _)| leaf).collect();
        let rows = longest_row_bytes(batch, &leaves);
        for &(leaf, window, known) in &walk.row_leaves {
            let Some(row) = known.or_else(|| rows.get(leaf).copied().flatten()) else {
                continue;
            };
            let page = mini.page_limit.saturating_add(window).saturating_add(row);
            if page > threshold {
                long.push((leaf, page));
                // Long only by its mini-batch: fewer rows make it shorter.
                if mini.page_limit.saturating_add(row) <= threshold {
                    batched.push(leaf);
                }
            }
        }
    }
    Scan {
        long,
        batched,
        columns: walk.columns,
        compact: walk.compact,
        fixed_len: walk.fixed_len,
        statistics: walk.statistics,
        repeated: walk.loads,
    }
}

/// The most levels one row of `batch` holds at each leaf below a list, by
/// leaf index (the order parquet numbers them); `None` for other leaves.
/// Exact at any depth of lists (below a second, a row's levels are summed
/// over its lists, [`RowStarts`]).
pub(crate) fn longest_rows(batch: &RecordBatch) -> Vec<Option<usize>> {
    row_most(batch, None)
}

/// The most bytes of values one row of `batch` holds at each of `leaves`
/// (below a list), by leaf index; `None` for other leaves. Exact as
/// [`longest_rows`] is.
fn longest_row_bytes(batch: &RecordBatch, leaves: &[usize]) -> Vec<Option<usize>> {
    row_most(batch, Some(leaves))
}

/// The most one row of `batch` holds at each leaf below a list: its
/// levels, or, for `bytes` leaves, its values' bytes.
fn row_most(batch: &RecordBatch, bytes: Option<&[usize]>) -> Vec<Option<usize>> {
    let count = Walk::over(&batch.slice(0, 0), usize::MAX, &[], &[]).leaf;
    let one_row = Some(PageValues {
        rows: 1,
        ..PageValues::default()
    });
    let watch = match bytes {
        None => vec![one_row; count],
        Some(leaves) => {
            let mut watch = vec![None; count];
            for &leaf in leaves {
                if let Some(w) = watch.get_mut(leaf) {
                    *w = one_row;
                }
            }
            watch
        }
    };
    let mut longest = vec![None; count];
    // In slices of `MAX_BLOCKS` rows, whose blocks are single rows: exact
    // below a second list too, and the walk's vectors no larger than that.
    let rows = batch.num_rows();
    for start in (0..rows).step_by(MAX_BLOCKS) {
        let part = batch.slice(start, MAX_BLOCKS.min(rows - start));
        let mut walk = Walk {
            row_bytes: bytes.is_some(),
            ..Walk::default()
        };
        walk.walk(&part, usize::MAX, &[], &watch);
        let found: Vec<(usize, usize)> = match bytes {
            None => walk
                .loads
                .iter()
                .map(|(leaf, load)| (*leaf, load.row))
                .collect(),
            Some(_) => walk.rows_found,
        };
        for (leaf, most) in found {
            if let Some(row) = longest.get_mut(leaf) {
                *row = Some(row.unwrap_or(0).max(most));
            }
        }
    }
    longest
}

/// Whether `array` is a list view whose views are out of order
/// ([`views_in_order`]).
fn views_out_of_order(array: &ArrayRef) -> bool {
    matches!(
        array.data_type(),
        DataType::ListView(_) | DataType::LargeListView(_)
    ) && !views_in_order(array)
}

/// Each leaf holding a value longer than `threshold`, and its longest.
#[cfg(test)]
fn longer_than(batch: &RecordBatch, threshold: usize) -> Vec<(usize, usize)> {
    Walk::over(batch, threshold, &[], &[]).longest
}

#[derive(Default)]
struct Walk<'a> {
    threshold: usize,
    watch: &'a [usize],
    statistics: Vec<(usize, usize)>,
    /// The next leaf's index.
    leaf: usize,
    long: Vec<(usize, usize)>,
    /// Each leaf's longest value, where it passes the threshold (tests).
    #[cfg(test)]
    longest: Vec<(usize, usize)>,
    /// Below a list, and the level slots the lists above add.
    repeated: bool,
    extra_slots: usize,
    /// The lists above the leaf, outermost first: their empty or null
    /// entries are levels of the leaf without a slot ([`budget_window`]).
    lists_above: Vec<ArrayRef>,
    /// How many of them are list views out of order ([`views_in_order`]),
    /// found once a list, not once a leaf.
    unordered_above: usize,
    /// The column being walked: its leaves' levels, and the largest copy
    /// of one leaf's values.
    levels: usize,
    converted: usize,
    columns: Vec<usize>,
    /// The same, were its lists' children copied compactly.
    compact_levels: usize,
    compact_converted: usize,
    compact: Vec<usize>,
    /// Each leaf's fixed-length byte-array buffer ([`Scan::fixed_len`]).
    fixed_len: Vec<usize>,
    /// How many times parquet encodes each value walked here: more than
    /// once under a dictionary or run array of nested values, which it
    /// takes into one row per key or run row.
    scale: usize,
    /// The repeated leaves to look at, and what the batch brings them.
    watch_repeated: &'a [Option<PageValues>],
    /// The page row limit of any of them (the plan's, the same for every
    /// leaf), where there are any.
    page_rows: Option<usize>,
    loads: Vec<(usize, PageLoad)>,
    /// Where the batch's rows begin in the array walked, below a list
    /// (and where some repeated leaf is watched).
    starts: Option<RowStarts>,
    /// A struct above the array walked has nulls.
    nulls_above: bool,
    /// Below a list: the length of its child, which the walk narrows to
    /// the values its rows use and parquet takes whole
    /// ([`crate::encode_cost::leaf`]).
    whole: Option<usize>,
    /// A dictionary or run-end array of nested values above: its keys.
    keyed: Option<Keyed>,
    /// Dictionaries or run arrays of nested values above, which parquet
    /// takes through their keys ([`Walk::expanded`]).
    expanded_above: usize,
    /// What the leaves below the innermost of them counted of the taken
    /// array ([`taken_bytes`]).
    taken: usize,
    /// How `take` copies the array walked, below them ([`Take`]).
    take: Take,
    /// Below a list: the array walked as parquet holds it, the list's
    /// whole child (or a field of it), where it is longer than the rows
    /// use: a dictionary or run array of nested values there is taken
    /// whole ([`Walk::whole_taken`]).
    whole_child: Option<ArrayRef>,
    /// parquet counts the row group's distinct values.
    distinct: bool,
    /// Mini-batches parquet does not cut to its pages ([`MiniBatches`]).
    mini: MiniBatches,
    /// Leaves below a list whose rows may be long pages, the mini-batch
    /// each row's page may hold besides, and the longest row where the
    /// walk found it (below list views out of order, [`longest_entry`]).
    row_leaves: Vec<(usize, usize, Option<usize>)>,
    /// Find each watched leaf's longest row in bytes (`rows_found`).
    row_bytes: bool,
    rows_found: Vec<(usize, usize)>,
    /// Leaves whose long page is a mini-batch ([`Scan::batched`]).
    batched: Vec<usize>,
}

impl<'a> Walk<'a> {
    /// Every column of `batch`, walked.
    fn over(
        batch: &RecordBatch,
        threshold: usize,
        watch: &'a [usize],
        watch_repeated: &'a [Option<PageValues>],
    ) -> Self {
        let mut walk = Walk::default();
        walk.walk(batch, threshold, watch, watch_repeated);
        walk
    }

    /// Walk every column of `batch`.
    fn walk(
        &mut self,
        batch: &RecordBatch,
        threshold: usize,
        watch: &'a [usize],
        watch_repeated: &'a [Option<PageValues>],
    ) {
        let walk = self;
        walk.threshold = threshold;
        walk.watch = watch;
        walk.watch_repeated = watch_repeated;
        walk.page_rows = watch_repeated.iter().flatten().next().map(|p| p.rows);
        walk.scale = 1;
        for column in batch.columns() {
            (walk.levels, walk.converted) = (0, 0);
            (walk.compact_levels, walk.compact_converted) = (0, 0);
            walk.array(column);
            walk.columns
                .push(walk.levels.saturating_add(walk.converted));
            walk.compact
                .push(walk.compact_levels.saturating_add(walk.compact_converted));
        }
    }

    fn array(&mut self, array: &ArrayRef) {
        match array.data_type() {
            DataType::Struct(_) => {
                let saved = (self.nulls_above, self.take.clone(), self.whole_child.take());
                self.nulls_above |= array.null_count() > 0;
                let children = array.as_struct_opt().map_or(&[][..], |s| s.columns());
                let whole = saved.2.as_ref().and_then(|w| w.as_struct_opt());
                for (index, child) in children.iter().enumerate() {
                    self.take = saved.1.field(index);
                    self.whole_child = whole.and_then(|w| w.columns().get(index)).cloned();
                    self.array(child);
                }
                (self.nulls_above, self.take, self.whole_child) = saved;
            }
            DataType::List(_)
            | DataType::LargeList(_)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::Map(_, _) => self.list(array, list_child(array)),
            // Slicing a fixed-size list slices its child; below a list,
            // parquet takes the list's whole child, and its whole child.
            DataType::FixedSizeList(_, size) => {
                let size = usize::try_from(*size).unwrap_or(0);
                let whole = self.whole.map(|w| w.saturating_mul(size));
                self.list(
                    array,
                    array.as_fixed_size_list_opt().map(|a| {
                        let values = a.values().clone();
                        let len = whole.unwrap_or(values.len());
                        (values, len)
                    }),
                )
            }
            // parquet writes a dictionary or run array of nested values as
            // the leaves of its values (every value counted).
            data_type if keyed_nested(data_type) => {
                let taken = self.keyed(array);
                self.whole_taken(array, taken);
            }
            _ => {
                let whole = self.whole.unwrap_or(0);
                // Below list views out of order, as parquet writes them:
                // views that overlap write a value once a view
                // (`overlapping_views` of `tests/long_pages.rs`, 4,096 rows
                // each viewing all 4,096 values, took 172.6 MiB of heap at
                // 32 MiB counted as 8,192 levels).
                let written = match self.unordered_above > 0 {
                    true => written_levels(array, &self.lists_above),
                    false => None,
                };
                let leaf = |whole| {
                    let (repeated, slots) = (self.repeated, self.extra_slots);
                    crate::encode_cost::leaf(array, repeated, slots, whole, self.distinct, written)
                };
                let cost = leaf(whole);
                let compact = match whole > array.len() {
                    true => leaf(0),
                    false => cost,
                };
                let scaled = |bytes: usize| bytes.saturating_mul(self.scale);
                // Levels counted as parquet writes them, through the keys
                // above, are the taken array's already.
                let levels = match written {
                    Some(_) => cost.levels,
                    None => scaled(cost.levels),
                };
                let compact_levels = match written {
                    Some(_) => compact.levels,
                    None => scaled(compact.levels),
                };
                // Below a dictionary or run array of nested values, the
                // leaf's values as parquet takes them through the keys,
                // with an offset and slot a level: `take` copies a value
                // once a key, so keys that repeat a long row copy it as
                // many times (a review's finding: 1,000 keys of one list
                // of 2,048 strings of 256 bytes were counted as one copy;
                // `tests/long_pages.rs`, `runs_of_lists_skew`).
                // Held up to three times over where `take` grows it
                // below a list ([`crate::taken`]).
                let taken = match (written, self.expanded_above > 0) {
                    (Some(w), true) => taken_bytes(array, &self.lists_above, w, &self.take),
                    _ => 0,
                };
                self.taken = self.taken.saturating_add(taken);
                let levels = levels.saturating_add(taken);
                let compact_levels = compact_levels.saturating_add(taken);
                self.levels = self.levels.saturating_add(levels);
                self.converted = self.converted.max(scaled(cost.converted));
                self.compact_levels = self.compact_levels.saturating_add(compact_levels);
                self.compact_converted = self.compact_converted.max(scaled(compact.converted));
                self.fixed_len.push(scaled(cost.fixed_len));
                // A page holds up to its limit before the values that
                // pass it: those two are long where the page they end
                // passes the threshold (a review's finding: two values of
                // 1 MB at a 1 MiB limit made 1.83 MB pages, counted as the
                // plan's; `tests/long_pages.rs`, `near_page_values`).
                // A fixed-size binary's page passes the plan's bound (its
                // limit and a page more) only where two values pass a page
                // (a review's finding: four columns of 699,000-byte values
                // made 2.1 MB pages at a 1 MiB limit, and 1 MB values 3 MB
                // ones, seen only as they reached the store).
                let limit = self.mini.page_limit;
                let (before, room) = match value_width(array.data_type()) {
                    Width::Variable => (limit, self.threshold.saturating_sub(limit)),
                    Width::FixedBinary => (limit, limit),
                    Width::Fixed => (0, self.threshold),
                };
                // One look at the values for both: below the lower of the
                // two thresholds they are found, at or under it they are
                // not needed (statistics' values are as short).
                let watch = self.watch.get(self.leaf).copied().unwrap_or(usize::MAX);
                let found = longest(array, room.min(watch));
                let values_page = match found.two > room {
                    true => before.saturating_add(found.two),
                    false => 0,
                };
                if found.one > watch {
                    self.statistics.push((self.leaf, found.one));
                }
                #[cfg(test)]
                if found.one > self.threshold {
                    self.longest.push((self.leaf, found.one));
                }
                let page = self.watch_repeated.get(self.leaf).copied().flatten();
                if let (true, Some(_), Some(starts)) = (self.row_bytes, page, &self.starts) {
                    // A row's own values (below a dictionary of lists, an
                    // entry is the row each of its keys takes); none where
                    // rows are not known (list views out of order: the
                    // walk sums their entries, [`longest_entry`]).
                    let row = written_lengths(array).and_then(|len| {
                        starts.most_between(|from, to| {
                            (from..to.min(array.len()))
                                .map(&len)
                                .fold(0, usize::saturating_add)
                        })
                    });
                    if let Some(row) = row {
                        self.rows_found.push((self.leaf, row));
                    }
                }
                if let (Some(page), Some(starts)) = (page, &self.starts) {
                    let load = match self.keyed {
                        // Each entry's levels, one by one: the largest.
                        Some(keyed) => keyed.load(starts.load(array, 1, true).row, page.rows),
                        // Counted as parquet writes them (no key above:
                        // `keyed` is set below one).
                        None => match written {
                            Some(w) => PageLoad::one_row(w),
                            None => starts.load(array, self.scale, self.nulls_above),
                        },
                    };
                    self.loads.push((self.leaf, load));
                }
                let batched = self.mini_batch_page(array);
                if values_page.max(batched) > self.threshold {
                    self.long.push((self.leaf, values_page.max(batched)));
                    if batched > values_page {
                        self.batched.push(self.leaf);
                    }
                }
                self.leaf += 1;
            }
        }
    }

    /// The page a mini-batch parquet does not cut to its budget can make
    /// of leaf `array` ([`MiniBatches`]): the page limit and the most bytes
    /// one mini-batch takes ([`budget_window`]; of a dictionary, a whole
    /// chunk's); 0 where none passes the threshold. Below a list, a row's
    /// values are
    /// added where they may pass it (found by [`longest_row_bytes`] once
    /// the walk is done: [`Walk::row_leaves`]).
    fn mini_batch_page(&mut self, array: &ArrayRef) -> usize {
        let mini = self.mini;
        // parquet does not cut an Arrow dictionary's chunks of byte
        // arrays, nor a run array's of such a dictionary (expanded into a
        // dictionary; a review's finding: runs of a dictionary of 512 KB
        // strings, 49.9 MiB of heap at 32 MiB, `tests/long_pages.rs`,
        // `runs_of_dictionary`). A dictionary of other values is cast into
        // them and cut as they are: taken whole, 16 dictionaries of
        // 16-byte values in 16,384-row batches were stopped at 64 MiB
        // before a page was written, 37 KB of heap in use (a review's
        // finding; `tests/budget_memory.rs`, `keyed`).
        let keyed = |v: &DataType| !v.is_nested() && matches!(value_width(v), Width::Variable);
        let dictionary = match array.data_type() {
            DataType::Dictionary(_, v) => keyed(v),
            DataType::RunEndEncoded(_, v) => {
                matches!(v.data_type(), DataType::Dictionary(_, v) if keyed(v))
            }
            _ => false,
        };
        if mini.batch == 0 {
            return 0;
        }
        let room = self.threshold.saturating_sub(mini.page_limit);
        let above = &self.lists_above;
        // A chunk parquet cuts in mini-batches: the write batch size, or
        // the page row limit where the leaf's levels are uniform (taken so
        // without nulls, nullable or not).
        let uniform = !self.repeated && !self.nulls_above && array.logical_null_count() == 0;
        let values = match uniform {
            true => mini.batch.max(mini.rows),
            false => mini.batch,
        };
        if !(dictionary || self.repeated) {
            // parquet's byte budget sizes every mini-batch of a chunk from
            // the chunk's first values: after short values, as many long
            // ones (a review's finding: 2,000 one-byte strings, then 2,000
            // of 20 KB, took 115.5 MiB of heap at 32 MiB).
            // Below a dictionary or run array of nested values, in the
            // order parquet takes them ([`Walk::expanded`]).
            let taken = match self.unordered_above > 0 {
                true => &above[..],
                false => &[],
            };
            let window = match total(array) <= room && taken.is_empty() {
                true => 0,
                false => budget_window(array, values, mini.page_limit, taken, !taken.is_empty()),
            };
            return match window > room {
                true => mini.page_limit.saturating_add(window),
                false => 0,
            };
        }
        let Some(len) = written_lengths(array) else {
            return 0;
        };
        let window = match dictionary {
            true => {
                // At most that many of its longest value (cheap) first.
                let longest = match array.as_any_dictionary_opt() {
                    Some(d) => longest_value(d.values()),
                    // A run array's values, through their keys.
                    None => longest(array, 0).one,
                };
                match (
                    longest.saturating_mul(values) <= room,
                    self.unordered_above > 0,
                ) {
                    (true, _) => 0,
                    (false, false) => most_in_window(array.len(), values, &len),
                    // Views out of order may write a value more than once,
                    // and not with its neighbours (`shared_dict_views`:
                    // 64 rows viewing one 256 KB value, 64.5 MiB of heap at
                    // 32 MiB): in the levels parquet writes.
                    (false, true) => in_levels(array, above, |levels| {
                        most_of_any(levels.map(|slot| slot.map_or(0, &len)), values)
                    }),
                }
            }
            // Below a list, as beside one: mini-batches sized from a
            // chunk's first values (a review's finding: a `List<Utf8>` of
            // 512 one-byte rows, then 512 of 40 KB, took 77.5 MiB of heap
            // at 32 MiB). Counted where it passes the room, as beside a
            // list: a mini-batch of whole rows within the budget is the
            // page a plan's pages reach already.
            // (Views out of order may write the child's values more than
            // once: its total is no bound.)
            _ if total(array) > room || self.unordered_above > 0 => {
                let unordered = self.unordered_above > 0;
                let window = budget_window(array, values, mini.page_limit, above, unordered);
                if window > room {
                    window
                } else {
                    0
                }
            }
            _ => 0,
        };
        // Counted in the levels through the keys above, if any: the taken
        // array's already.
        let window = match self.unordered_above > 0 {
            true => window,
            false => window.saturating_mul(self.scale),
        };
        if !self.repeated {
            return match window > room {
                true => mini.page_limit.saturating_add(window),
                false => 0,
            };
        }
        // No row holds more than the leaf's values together, nor more
        // than its most levels (the page load's, where the leaf is
        // watched) of its longest value: looked at row by row only where
        // both could pass the room.
        let all = match Offsets::of(array) {
            Some(offsets) => offsets.span(),
            None => sum_of(array.len(), &len),
        };
        let levels = self.loads.last().filter(|(leaf, _)| *leaf == self.leaf);
        let row = match levels {
            Some((_, load)) if window.saturating_add(all) > room => {
                all.min(load.row.saturating_mul(longest_value(array)))
            }
            _ => all,
        };
        // Below list views out of order, whose rows the walk does not
        // know: each top-level entry's levels summed (a review's finding;
        // `list_view_nested`, reversed views of 10 MB rows below a list,
        // took 38.5 MiB of heap at 32 MiB uncounted).
        let known = match self.unordered_above > 0 {
            true => longest_entry(array, &self.lists_above),
            false => None,
        };
        if window.saturating_add(known.unwrap_or(row)) > room {
            self.row_leaves.push((self.leaf, window, known));
        }
        0
    }

    fn values(&mut self, values: Option<ArrayRef>) {
        if let Some(values) = values {
            self.array(&values);
        }
    }

    /// The nested `values` of a dictionary or run array `parent`, which
    /// parquet first takes into one row per row of `parent`: their leaves
    /// are counted through its keys (as the levels of a list of one value
    /// a key, [`entries`]), and the taken array is held while the column
    /// is encoded.
    fn expanded(&mut self, parent: &ArrayRef, values: Option<ArrayRef>) -> usize {
        let Some(values) = values else {
            return 0;
        };
        let (rows, len) = (parent.len(), values.len().max(1));
        // The taken array: each leaf's values through the keys
        // ([`taken_bytes`]), or where no leaf below counts them, the
        // values' bytes a row times the rows.
        let taken_before = std::mem::take(&mut self.taken);
        // parquet takes the values into a new array: no whole child.
        let saved = (self.scale, self.starts.clone(), self.keyed);
        let saved_whole = self.whole.take();
        let saved_take = std::mem::replace(&mut self.take, Take::of(parent, saved.0));
        // Taken by the keys, in their order: the leaves' levels below are
        // counted through them ([`entries`]), as below list views out of
        // order (a list view taken so shares its values where keys repeat:
        // `dict_of_views` of `tests/long_pages.rs`).
        self.lists_above.push(parent.clone());
        self.unordered_above += 1;
        self.expanded_above += 1;
        self.scale = saved.0.saturating_mul(rows.div_ceil(len).max(1));
        if self.page_rows.is_some() {
            // Pages: any key may take the largest entry, the entries
            // looked at one by one (a row each).
            self.keyed = Some(Keyed {
                keys: self.keyed.map_or(rows, |k| k.keys.saturating_mul(rows)),
                rows: self.starts.is_none() && self.keyed.is_none(),
            });
            self.starts = Some(RowStarts::new(values.len(), 1));
        }
        self.array(&values);
        (self.scale, self.starts, self.keyed) = saved;
        self.whole = saved_whole;
        self.take = saved_take;
        self.lists_above.pop();
        self.unordered_above -= 1;
        self.expanded_above -= 1;
        let taken = match self.taken {
            0 => {
                let taken = (values.get_array_memory_size() / len).saturating_mul(rows);
                let taken = taken.saturating_mul(self.scale);
                self.levels = self.levels.saturating_add(taken);
                self.compact_levels = self.compact_levels.saturating_add(taken);
                taken
            }
            taken => taken,
        };
        self.taken = taken_before.saturating_add(self.taken);
        taken
    }

    /// A dictionary or run array of nested values, walked through its
    /// keys ([`expanded`](Self::expanded)): what its taken array holds.
    fn keyed(&mut self, array: &ArrayRef) -> usize {
        match array.data_type() {
            DataType::Dictionary(_, _) => {
                let values = array.as_any_dictionary_opt().map(|d| d.values().clone());
                self.expanded(array, values)
            }
            _ => self.expanded(array, run_values(array)),
        }
    }

    /// The `values` of a list (or map) array `parent`: repeated, and each
    /// of its rows may add a level slot (an empty or null list).
    /// `values`: the part of its child its rows use, and the child's
    /// whole length ([`Walk::whole`]).
    fn list(&mut self, parent: &ArrayRef, values: Option<(ArrayRef, usize)>) {
        let (values, whole) = values.unzip();
        let saved = (
            self.repeated,
            self.extra_slots,
            self.starts.take(),
            self.lists_above.len(),
            self.unordered_above,
        );
        let saved_whole = std::mem::replace(&mut self.whole, whole);
        // A fixed-size list's slice is its child's, but below a list
        // parquet holds the list's whole child, and so the whole child of
        // that (a review's finding: a dictionary of lists below a
        // fixed-size list in a sliced list, 64.3 MiB of heap at 32 MiB).
        let whole_child = match parent.data_type() {
            DataType::FixedSizeList(_, _) => self
                .whole_child
                .as_ref()
                .and_then(|w| w.as_fixed_size_list_opt())
                .map(|w| w.values().clone()),
            _ => whole_values(parent),
        };
        let saved_whole_child = std::mem::replace(&mut self.whole_child, whole_child);
        let below = self.take.list(parent.data_type());
        let saved_take = std::mem::replace(&mut self.take, below);
        self.repeated = true;
        self.extra_slots = self.extra_slots.saturating_add(parent.len());
        self.lists_above.push(parent.clone());
        let unordered = views_out_of_order(parent);
        self.unordered_above += usize::from(unordered);
        if let Some(page_rows) = self.page_rows {
            let starts = match &saved.2 {
                Some(starts) => starts.clone(),
                None => RowStarts::new(parent.len(), page_rows),
            };
            // A list view whose views follow one another has a list's rows
            // (a review's finding: `list_view_row` of `tests/long_pages.rs`,
            // 10 MB rows, took 38.5 MiB of heap at 32 MiB uncounted); one
            // out of order is not known.
            self.starts = Some(match unordered {
                true => starts.unknown(),
                false => starts.through_list(parent),
            });
        }
        self.values(values);
        (self.repeated, self.extra_slots, self.starts) = (saved.0, saved.1, saved.2);
        self.lists_above.truncate(saved.3);
        self.unordered_above = saved.4;
        self.whole = saved_whole;
        self.whole_child = saved_whole_child;
        self.take = saved_take;
    }

    /// After dictionary or run array `array` was walked (its rows' taken
    /// array counted at `taken`): where a list above holds it in a longer
    /// child than its rows use, parquet takes that whole child through
    /// all its keys before it writes any row (`LevelInfoBuilder::try_new`
    /// takes a list's whole child; a review's finding: a list sliced to
    /// one row of 64 keys, its child 65,536 keys of lists of 128
    /// `Float64`s, took 64.3 MiB of heap at 32 MiB, counted for its 64
    /// keys). The column's cost grows by the whole child's taken array
    /// beyond the rows'; a compact copy of the rows ([`crate::compact`])
    /// takes only theirs.
    fn whole_taken(&mut self, array: &ArrayRef, taken: usize) {
        let Some(whole) = self.whole_child.take() else {
            return;
        };
        if whole.len() > array.len() && whole.data_type() == array.data_type() {
            let mut walk = Walk {
                threshold: usize::MAX,
                distinct: self.distinct,
                scale: self.scale,
                ..Walk::default()
            };
            let more = walk.keyed(&whole).saturating_sub(taken);
            self.levels = self.levels.saturating_add(more);
        }
        self.whole_child = Some(whole);
    }
}

/// The part of a list's child its (possibly sliced) offsets use.
fn used<O: OffsetSizeTrait>(values: &ArrayRef, offsets: &[O]) -> ArrayRef {
    match (offsets.first(), offsets.last()) {
        (Some(first), Some(last)) => {
            let (first, last) = (first.as_usize(), last.as_usize());
            values.slice(first, last.saturating_sub(first))
        }
        _ => values.slice(0, 0),
    }
}

/// The children of a list, map, fixed-size list or struct `array`,
/// narrowed to what its rows use (slicing a fixed-size list or a struct
/// slices its children; a list's, the walk narrows).
pub(crate) fn used_children(array: &ArrayRef) -> Vec<ArrayRef> {
    match array.data_type() {
        DataType::FixedSizeList(_, _) => array
            .as_fixed_size_list_opt()
            .map(|a| vec![a.values().clone()])
            .unwrap_or_default(),
        DataType::Struct(_) => array
            .as_struct_opt()
            .map(|s| s.columns().to_vec())
            .unwrap_or_default(),
        _ => list_child(array)
            .map(|(used, _)| vec![used])
            .unwrap_or_default(),
    }
}

/// The part of a list's (list view's, map's) child its rows use, and the
/// child's whole length.
fn list_child(array: &ArrayRef) -> Option<(ArrayRef, usize)> {
    match array.data_type() {
        DataType::List(_) => array
            .as_list_opt::<i32>()
            .map(|a| (used(a.values(), a.value_offsets()), a.values().len())),
        DataType::LargeList(_) => array
            .as_list_opt::<i64>()
            .map(|a| (used(a.values(), a.value_offsets()), a.values().len())),
        DataType::ListView(_) => array.as_list_view_opt::<i32>().map(|a| {
            let used = used_views(a.values(), a.value_offsets(), a.value_sizes());
            (used, a.values().len())
        }),
        DataType::LargeListView(_) => array.as_list_view_opt::<i64>().map(|a| {
            let used = used_views(a.values(), a.value_offsets(), a.value_sizes());
            (used, a.values().len())
        }),
        DataType::Map(_, _) => array.as_map_opt().map(|a| {
            let entries: ArrayRef = std::sync::Arc::new(a.entries().clone());
            (used(&entries, a.value_offsets()), entries.len())
        }),
        _ => None,
    }
}

/// A dictionary or run array of nested values, which parquet takes through
/// its keys into one row per key before it writes it.
fn keyed_nested(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(_, values) => values.is_nested(),
        DataType::RunEndEncoded(_, values) => values.data_type().is_nested(),
        _ => false,
    }
}

/// A list or list view's whole child, as parquet takes it (slicing a list
/// slices its offsets, not its child); `None` for a fixed-size list,
/// whose slice is its child's.
fn whole_values(list: &ArrayRef) -> Option<ArrayRef> {
    match list.data_type() {
        DataType::List(_) => list.as_list_opt::<i32>().map(|a| a.values().clone()),
        DataType::LargeList(_) => list.as_list_opt::<i64>().map(|a| a.values().clone()),
        DataType::ListView(_) => list.as_list_view_opt::<i32>().map(|a| a.values().clone()),
        DataType::LargeListView(_) => list.as_list_view_opt::<i64>().map(|a| a.values().clone()),
        DataType::Map(_, _) => list.as_map_opt().map(|a| {
            let entries: ArrayRef = std::sync::Arc::new(a.entries().clone());
            entries
        }),
        _ => None,
    }
}

/// The bytes of a byte array's values its rows use.
pub(crate) fn value_bytes(array: &ArrayRef) -> usize {
    Offsets::of(array).map_or(0, |o| o.span())
}

/// The part of a list view's child its views use.
fn used_views<O: OffsetSizeTrait>(values: &ArrayRef, offsets: &[O], sizes: &[O]) -> ArrayRef {
    let spans = offsets
        .iter()
        .zip(sizes)
        .filter(|(_, size)| size.as_usize() > 0)
        .map(|(offset, size)| (offset.as_usize(), offset.as_usize() + size.as_usize()));
    match spans.reduce(|(a, b), (c, d)| (a.min(c), b.max(d))) {
        Some((start, end)) => values.slice(start, end - start),
        None => values.slice(0, 0),
    }
}

/// A run array's values for its (possibly sliced) runs.
fn run_values(array: &ArrayRef) -> Option<ArrayRef> {
    fn physical<R: RunEndIndexType>(run: &RunArray<R>) -> ArrayRef {
        let (start, end) = (run.get_start_physical_index(), run.get_end_physical_index());
        match run.is_empty() {
            true => run.values().slice(0, 0),
            false => run.values().slice(start, end + 1 - start),
        }
    }
    let array = array.as_ref();
    downcast_run_array!(array => Some(physical(array)), _ => None)
}

/// The longest value of a leaf array, and its two longest together.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Longest {
    one: usize,
    two: usize,
}

impl FromIterator<usize> for Longest {
    fn from_iter<I: IntoIterator<Item = usize>>(lengths: I) -> Self {
        let (first, second) =
            lengths.into_iter().fold(
                (0, 0),
                |(a, b), len| {
                    if len > a {
                        (len, a)
                    } else {
                        (a, b.max(len))
                    }
                },
            );
        Longest {
            one: first,
            two: first.saturating_add(second),
        }
    }
}

/// How values of a leaf's type end its pages.
enum Width {
    /// Of any length: a page holds its limit, then those that pass it.
    Variable,
    /// Fixed-size binary: any width, a mini-batch of two past the limit.
    FixedBinary,
    /// Primitive: the plan's bound counts what passes the limit.
    Fixed,
}

/// How values of `data_type` (a dictionary's or run array's values) end
/// its pages.
fn value_width(data_type: &DataType) -> Width {
    match data_type {
        DataType::Dictionary(_, values) => value_width(values),
        DataType::RunEndEncoded(_, values) => value_width(values.data_type()),
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::Utf8View
        | DataType::BinaryView => Width::Variable,
        DataType::FixedSizeBinary(_) => Width::FixedBinary,
        _ => Width::Fixed,
    }
}

/// The longest values of a leaf array that parquet writes, or at most
/// `threshold` together when they are no longer (or it is not a byte
/// array).
fn longest(array: &ArrayRef, threshold: usize) -> Longest {
    match array.data_type() {
        DataType::Dictionary(_, _) => array
            .as_any_dictionary_opt()
            .map_or_else(Longest::default, |d| through_keys(d, threshold)),
        DataType::RunEndEncoded(_, _) => {
            run_values(array).map_or_else(Longest::default, |v| longest(&v, threshold))
        }
        // No more than all the values together.
        _ if total(array) <= threshold => Longest::default(),
        _ => max_len(array),
    }
}

/// The longest values a dictionary's keys use: its values' longest first
/// (cheap, and usually short), then, only when twice that passes
/// `threshold`, each valid key's value (values that are themselves a
/// dictionary or run array count whole).
fn through_keys(d: &dyn arrow_array::AnyDictionaryArray, threshold: usize) -> Longest {
    let values = d.values();
    // Keys may use a value twice: two of the longest are the most.
    let all = longest(values, threshold / 2);
    if all.one.saturating_mul(2) <= threshold || total(values) == 0 {
        return all;
    }
    // Key by key, in place: `normalized_keys` would allocate eight bytes
    // a row (32.0 MiB of heap at 16 MiB for 4 Mi keys of a dictionary
    // with one long value, a review's finding).
    match keyed_lengths(d) {
        Some(len) => (0..d.keys().len()).map(len).collect(),
        // Dictionary keys are integers: every value counted otherwise.
        None => all,
    }
}

/// Value `i`'s length as parquet writes it (0 for a null), of a byte
/// array, of a dictionary's byte-array values through its keys, or of a
/// run array's through its runs; `None` for other leaves.
fn written_lengths(array: &ArrayRef) -> Option<Box<dyn Fn(usize) -> usize + '_>> {
    match array.data_type() {
        DataType::Dictionary(_, _) => keyed_lengths(array.as_any_dictionary_opt()?),
        DataType::RunEndEncoded(_, _) => run_lengths(array),
        DataType::Utf8
        | DataType::Binary
        | DataType::LargeUtf8
        | DataType::LargeBinary
        | DataType::Utf8View
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Some(value_lengths(array)),
        _ => None,
    }
}

/// Row `i`'s value's length of a run array of byte arrays, looked up by
/// its run: parquet writes the runs expanded, every row's value in turn
/// (`expanded_runs` of [`crate::encode_cost`]), so its byte budget cuts
/// them as it cuts any byte array (a review's finding: a run of 2,000
/// one-byte strings, then 64 runs of a 256 KB one, went into one page
/// whole, uncounted; `tests/long_pages.rs`, `runs`).
fn run_lengths(array: &ArrayRef) -> Option<Box<dyn Fn(usize) -> usize + '_>> {
    fn lengths<R: RunEndIndexType>(run: &RunArray<R>) -> Option<Box<dyn Fn(usize) -> usize + '_>> {
        let len = written_lengths(run.values())?;
        let rows = run.len();
        Some(Box::new(move |i| match i < rows {
            true => len(run.get_physical_index(i)),
            false => 0,
        }))
    }
    let array = array.as_ref();
    downcast_run_array!(array => lengths(array), _ => None)
}

/// [`value_len`] of `array`, its offsets and nulls looked up once.
fn value_lengths(array: &ArrayRef) -> Box<dyn Fn(usize) -> usize + '_> {
    let nulls = array.nulls();
    let valid = move |i: usize| nulls.is_none_or(|n| n.is_valid(i));
    match Offsets::of(array) {
        Some(offsets) => Box::new(move |i| match i < array.len() && valid(i) {
            true => offsets.at(i),
            false => 0,
        }),
        None => Box::new(move |i| value_len(array, i)),
    }
}

/// Key `i`'s value's length, key by key in place (values that are
/// themselves a dictionary or run array count 0); `None` for keys that
/// are not integers.
fn keyed_lengths(
    d: &dyn arrow_array::AnyDictionaryArray,
) -> Option<Box<dyn Fn(usize) -> usize + '_>> {
    let keys = keys_of(d)?;
    let values = d.values();
    // Values that are a dictionary themselves, through their keys too
    // (parquet writes the innermost values).
    let lengths = match values.as_any_dictionary_opt() {
        Some(inner) => keyed_lengths(inner)?,
        None => value_lengths(values),
    };
    Some(Box::new(move |i| match keys(i) {
        Some(key) if key < values.len() => lengths(key),
        _ => 0,
    }))
}

/// Key `i` of dictionary `d` as an index (`None` where it is null), read
/// in place; `None` for keys that are not integers.
fn keys_of(
    d: &dyn arrow_array::AnyDictionaryArray,
) -> Option<Box<dyn Fn(usize) -> Option<usize> + '_>> {
    fn typed<K: ArrowPrimitiveType>(
        keys: &dyn Array,
    ) -> Option<Box<dyn Fn(usize) -> Option<usize> + '_>>
    where
        K::Native: TryInto<usize>,
    {
        let keys = keys.as_primitive_opt::<K>()?;
        Some(Box::new(move |i| {
            let key = || keys.value(i).try_into().unwrap_or(usize::MAX);
            keys.is_valid(i).then(key)
        }))
    }
    let keys = d.keys();
    match keys.data_type() {
        DataType::Int8 => typed::<Int8Type>(keys),
        DataType::Int16 => typed::<Int16Type>(keys),
        DataType::Int32 => typed::<Int32Type>(keys),
        DataType::Int64 => typed::<Int64Type>(keys),
        DataType::UInt8 => typed::<UInt8Type>(keys),
        DataType::UInt16 => typed::<UInt16Type>(keys),
        DataType::UInt32 => typed::<UInt32Type>(keys),
        DataType::UInt64 => typed::<UInt64Type>(keys),
        _ => None,
    }
}

/// The longest value of a byte array, or of a dictionary's values (of
/// its values' values, for a dictionary of dictionaries).
fn longest_value(array: &ArrayRef) -> usize {
    match array.as_any_dictionary_opt() {
        Some(d) => longest_value(d.values()),
        None => max_len(array).one,
    }
}

/// `len(0) + .. + len(count - 1)`.
fn sum_of(count: usize, len: &dyn Fn(usize) -> usize) -> usize {
    (0..count).map(len).fold(0, usize::saturating_add)
}

/// The most bytes a mini-batch of a byte array `array` may take, in
/// chunks of `chunk` levels cut by parquet's byte budget of `budget`: the
/// budget counts the values that fit it from a chunk's first value, the
/// one that passes it included, and cuts the chunk in as many levels times
/// the chunk's levels per value, every mini-batch of the chunk alike. So
/// a mini-batch may take as many levels as the most that fit the budget
/// anywhere, and one (the chunks' starts are not known here), in the
/// leaf's levels as parquet writes them ([`Levels`]): a null is a level
/// without bytes, and an empty or null entry of a list above (`lists`,
/// outermost first) a level without a slot (a review's finding: 64 rows
/// of one 256 KB string, then 960 empty lists, went into one page whole).
/// Only variable-length byte arrays: parquet cuts fixed-length ones by
/// their width. `unordered`: some list above is a list view out of order.
fn budget_window(
    array: &ArrayRef,
    chunk: usize,
    budget: usize,
    lists: &[ArrayRef],
    unordered: bool,
) -> usize {
    let runs = matches!(array.data_type(), DataType::RunEndEncoded(_, _));
    if Offsets::of(array).is_none() && views(array).is_none() && !runs {
        return 0;
    }
    let Some(len) = written_lengths(array) else {
        return 0;
    };
    in_levels(array, lists, |levels| {
        let lengths = levels.clone().map(|slot| slot.map_or(0, &len));
        let most = most_within(lengths.clone(), budget).saturating_add(1);
        let cut = most_levels_cut(levels.clone(), array, &len, chunk, budget);
        let window = most_of_any(lengths.clone(), most.max(cut).clamp(1, chunk.max(1)));
        // Before counting, parquet takes a chunk whole where the bytes
        // from its first value's slot to its last's fit the budget: all
        // its values where their slots rise, not where views go back to
        // slots before (views that share values, or in any order but
        // their rows' reversed; `shared_views` of `tests/long_pages.rs`,
        // 64 rows viewing one 256 KB string, went into one page whole).
        match unordered && Offsets::of(array).is_some() && slots_go_back(levels, array) {
            true => window.max(most_of_any(lengths, chunk)),
            false => window,
        }
    })
}

/// The most levels parquet's byte budget cuts a chunk's mini-batches to,
/// over chunks of `chunk` levels from any level of `levels` (and the
/// shorter ones that end at the last): for a chunk of `c` levels holding
/// `n` values whose first `v` reach `budget` (each value's bytes and its
/// 4-byte length; the one that passes it included), `ceil(v * c / n)`.
/// Where the chunk's first values are short and its values spread thin
/// after them, that is many more levels than fit the budget anywhere
/// (a review's finding: 64 strings of 16 KB, then one of 1 MiB every 64
/// levels, nulls between, took 11 of the long ones a mini-batch, 53.1 MiB
/// of heap at 32 MiB; `tests/long_pages.rs`, `spread_nulls`). Four walks of
/// the levels side by side: the chunk's start and end, and its values'
/// first and the one the budget reaches.
fn most_levels_cut(
    levels: Levels,
    array: &ArrayRef,
    len: &dyn Fn(usize) -> usize,
    chunk: usize,
    budget: usize,
) -> usize {
    const LENGTH: usize = 4;
    let total = levels.clone().count();
    let chunk = chunk.max(1);
    // A run array's nulls are its values' (logical).
    let nulls = array.logical_nulls();
    let value =
        |slot: Option<usize>| slot.filter(|&s| nulls.as_ref().is_none_or(|n| n.is_valid(s)));
    let mut end = levels.clone();
    let values = levels.clone().filter_map(value).map(|s| len(s) + LENGTH);
    let (mut first, mut reach) = (values.clone(), values.peekable());
    // Levels `end` passed; values between the start and it; values from
    // the first whose bytes fit the budget, and those bytes.
    let (mut ahead, mut n, mut fit, mut bytes) = (0, 0usize, 0usize, 0usize);
    let mut most = 0;
    for (start, slot) in levels.enumerate() {
        let c = chunk.min(total - start);
        while ahead < start + c {
            n += usize::from(end.next().flatten().and_then(|s| value(Some(s))).is_some());
            ahead += 1;
        }
        while let Some(&next) = reach.peek().filter(|&&next| bytes + next <= budget) {
            (bytes, fit) = (bytes + next, fit + 1);
            reach.next();
        }
        // The budget cuts the chunk where the value that passes it is
        // in the chunk: `fit + 1` values a mini-batch.
        if fit + 1 < n {
            most = most.max((fit + 1).saturating_mul(c).div_ceil(n));
        }
        if value(slot).is_some() {
            n -= 1;
            let gone = first.next().unwrap_or(0);
            match fit {
                0 => drop(reach.next()),
                _ => (bytes, fit) = (bytes - gone, fit - 1),
            }
        }
    }
    most
}

/// Leaf `array`'s levels below `lists` (outermost first) as parquet
/// writes them, and its values not null among them; `None` where a list
/// is not one parquet takes by entries.
fn written_levels(array: &ArrayRef, lists: &[ArrayRef]) -> Option<Counts> {
    let entries: Option<Vec<(usize, Entries)>> = lists.iter().map(entries).collect();
    let entries = entries.filter(|e| !e.is_empty())?;
    let count = |c: Counts, slot: Option<usize>| Counts {
        values: c.values + usize::from(slot.is_some_and(|s| array.is_valid(s))),
        levels: c.levels + 1,
    };
    Some(Levels::new(&entries).fold(Counts::default(), count))
}

/// What leaf `array`'s values take once parquet takes them through the
/// keys above (`lists`, [`written_levels`] giving `written`): their bytes
/// (a byte array's lengths, or the array's bytes a slot) and levels, as
/// `take` holds them ([`Take::leaf`]).
fn taken_bytes(array: &ArrayRef, lists: &[ArrayRef], written: Counts, take: &Take) -> usize {
    let values = match written_lengths(array) {
        Some(len) => in_levels(array, lists, |levels| {
            levels
                .map(|slot| slot.map_or(0, &len))
                .fold(0, usize::saturating_add)
        }),
        None => (array.get_array_memory_size() / array.len().max(1)).saturating_mul(written.values),
    };
    take.leaf(array, values, written.levels)
}

/// `f` of leaf `array`'s [`Levels`] below `lists` (outermost first), or
/// of its slots where there are none (or one parquet does not take by
/// entries).
fn in_levels<T>(array: &ArrayRef, lists: &[ArrayRef], f: impl FnOnce(Levels) -> T) -> T {
    let entries: Option<Vec<(usize, Entries)>> = lists.iter().map(entries).collect();
    match &entries {
        Some(entries) if !entries.is_empty() => f(Levels::new(entries)),
        _ => f(Levels::new(&[]).slots(array.len())),
    }
}

/// Whether some value of `array`, in its `levels`' order, comes after a
/// slot at or before its own with a value going back between them: a
/// chunk from the one to the other holds more than the bytes between
/// their slots (parquet 59.3 and 60.1 count those, docs/UPSTREAM.md).
fn slots_go_back(levels: Levels, array: &ArrayRef) -> bool {
    let (mut last, mut before_back, mut least) = (None, usize::MAX, usize::MAX);
    for slot in levels.flatten().filter(|&slot| array.is_valid(slot)) {
        if last.is_some_and(|last| slot <= last) {
            before_back = least;
        }
        if before_back <= slot {
            return true;
        }
        (least, last) = (least.min(slot), Some(slot));
    }
    false
}

/// Where entry `r` of a list starts and ends in the array below it, and
/// whether it is a level without any (empty or null).
type Entries<'a> = Box<dyn Fn(usize) -> (usize, usize, bool) + 'a>;

/// The [`Entries`] of `list` (a list, large list, map, list view or
/// fixed-size list), as the walk slices its child: from its first offset,
/// or a view's first start.
fn entries(list: &ArrayRef) -> Option<(usize, Entries<'_>)> {
    fn offsets<'a, O: OffsetSizeTrait>(list: &'a ArrayRef, o: &'a [O]) -> (usize, Entries<'a>) {
        let first = o.first().map_or(0, |f| f.as_usize());
        let bounds = move |r: usize| {
            let (from, to) = (o[r].as_usize() - first, o[r + 1].as_usize() - first);
            (from, to, list.is_null(r) || from == to)
        };
        (o.len().saturating_sub(1), Box::new(bounds))
    }
    fn views<'a, O: OffsetSizeTrait>(
        list: &'a ArrayRef,
        o: &'a [O],
        sizes: &'a [O],
    ) -> (usize, Entries<'a>) {
        let used = o.iter().zip(sizes).filter(|(_, size)| size.as_usize() > 0);
        let first = used.map(|(o, _)| o.as_usize()).min().unwrap_or(0);
        let bounds = move |r: usize| {
            let from = o[r].as_usize().saturating_sub(first);
            let to = from + sizes[r].as_usize();
            (from, to, list.is_null(r) || from == to)
        };
        (o.len(), Box::new(bounds))
    }
    match list.data_type() {
        DataType::List(_) => list
            .as_list_opt::<i32>()
            .map(|a| offsets(list, a.value_offsets())),
        DataType::LargeList(_) => list
            .as_list_opt::<i64>()
            .map(|a| offsets(list, a.value_offsets())),
        DataType::Map(_, _) => list.as_map_opt().map(|a| offsets(list, a.value_offsets())),
        DataType::ListView(_) => list
            .as_list_view_opt::<i32>()
            .map(|a| views(list, a.value_offsets(), a.value_sizes())),
        DataType::LargeListView(_) => list
            .as_list_view_opt::<i64>()
            .map(|a| views(list, a.value_offsets(), a.value_sizes())),
        DataType::FixedSizeList(_, size) => {
            let size = usize::try_from(*size).ok()?;
            let bounds = move |r: usize| (r * size, (r + 1) * size, list.is_null(r) || size == 0);
            Some((list.len(), Box::new(bounds) as Entries))
        }
        // parquet takes a dictionary's (run array's) nested values by its
        // keys (rows): each is an entry of one value, the key's.
        DataType::Dictionary(_, _) => {
            let d = list.as_any_dictionary_opt()?;
            let (keys, values) = (keys_of(d)?, d.values().len());
            let bounds = move |r: usize| match keys(r) {
                Some(key) if key < values => (key, key + 1, false),
                _ => (0, 0, true),
            };
            Some((list.len(), Box::new(bounds) as Entries))
        }
        DataType::RunEndEncoded(_, _) => {
            fn rows<R: RunEndIndexType>(run: &RunArray<R>) -> (usize, Entries<'_>) {
                let first = run.get_start_physical_index();
                let bounds = move |r: usize| {
                    let at = run.get_physical_index(r) - first;
                    (at, at + 1, false)
                };
                (run.len(), Box::new(bounds))
            }
            let list = list.as_ref();
            downcast_run_array!(list => Some(rows(list)), _ => None)
        }
        _ => None,
    }
}

/// A leaf's levels as parquet writes them below lists (their
/// [`entries`], outermost first): each one's slot, and `None` for a level
/// without one (an empty or null entry, whose slots below, if any, it
/// skips). A depth-first walk with a stack of the entries left at each
/// depth.
#[derive(Clone)]
struct Levels<'a> {
    lists: &'a [(usize, Entries<'a>)],
    /// At each depth, the next entry (or slot, below the last list) and
    /// the end.
    stack: Vec<(usize, usize)>,
}

impl<'a> Levels<'a> {
    fn new(lists: &'a [(usize, Entries<'a>)]) -> Self {
        let top = lists.first().map_or(0, |(n, _)| *n);
        Self {
            lists,
            stack: vec![(0, top)],
        }
    }

    /// The leaf's own `count` slots, no list above.
    fn slots(mut self, count: usize) -> Self {
        self.stack = vec![(0, count)];
        self
    }

    /// From here, only the levels below top-level entry `r`.
    fn entry(&mut self, r: usize) -> &mut Self {
        self.stack.clear();
        self.stack.push((r, r + 1));
        self
    }
}

impl Iterator for Levels<'_> {
    type Item = Option<usize>;

    fn next(&mut self) -> Option<Option<usize>> {
        loop {
            let depth = self.stack.len().checked_sub(1)?;
            let (at, end) = self.stack[depth];
            if at >= end {
                self.stack.pop();
                continue;
            }
            self.stack[depth].0 += 1;
            let Some((_, bounds)) = self.lists.get(depth) else {
                return Some(Some(at));
            };
            let (from, to, none) = bounds(at);
            if none {
                return Some(None);
            }
            self.stack.push((from, to));
        }
    }
}

/// The most bytes one top-level entry of `lists` (outermost first, the
/// batch's rows) writes of leaf `array` below them: its [`Levels`] summed.
fn longest_entry(array: &ArrayRef, lists: &[ArrayRef]) -> Option<usize> {
    let len = written_lengths(array)?;
    let entries: Option<Vec<(usize, Entries)>> = lists.iter().map(entries).collect();
    let entries = entries?;
    let rows = entries.first()?.0;
    // One walk's stack for every entry.
    let mut levels = Levels::new(&entries);
    let row = |r: usize| {
        let lengths = levels.entry(r).map(|slot| slot.map_or(0, &len));
        lengths.fold(0, usize::saturating_add)
    };
    (0..rows).map(row).max()
}

/// The most consecutive `lengths` whose sum is within `budget` (two
/// iterators, the second trailing).
fn most_within<I: Iterator<Item = usize> + Clone>(lengths: I, budget: usize) -> usize {
    let mut tail = lengths.clone();
    let (mut most, mut count, mut sum) = (0, 0, 0usize);
    for len in lengths {
        (sum, count) = (sum.saturating_add(len), count + 1);
        while sum > budget && count > 0 {
            (sum, count) = (sum - tail.next().unwrap_or(0), count - 1);
        }
        most = most.max(count);
    }
    most
}

/// The most any `window` consecutive `lengths` sum to.
fn most_of_any<I: Iterator<Item = usize> + Clone>(lengths: I, window: usize) -> usize {
    let mut tail = lengths.clone();
    let (mut most, mut count, mut sum) = (0, 0, 0usize);
    for len in lengths {
        (sum, count) = (sum.saturating_add(len), count + 1);
        if count > window.max(1) {
            (sum, count) = (sum.saturating_sub(tail.next().unwrap_or(0)), count - 1);
        }
        most = most.max(sum);
    }
    most
}

/// The most `len` gives any `window` consecutive indices below `count`
/// together.
fn most_in_window(count: usize, window: usize, len: &dyn Fn(usize) -> usize) -> usize {
    let window = window.max(1);
    let (mut sum, mut most) = (0usize, 0usize);
    for i in 0..count {
        sum = sum.saturating_add(len(i));
        if i >= window {
            sum = sum.saturating_sub(len(i - window));
        }
        most = most.max(sum);
    }
    most
}

/// A `Utf8`/`Binary` array's offsets, or a large one's.
enum Offsets<'a> {
    Small(&'a [i32]),
    Large(&'a [i64]),
}

impl<'a> Offsets<'a> {
    fn of(array: &'a ArrayRef) -> Option<Self> {
        match array.data_type() {
            DataType::Utf8 => array
                .as_string_opt()
                .map(|a| Self::Small(a.value_offsets())),
            DataType::Binary => array
                .as_binary_opt()
                .map(|a| Self::Small(a.value_offsets())),
            DataType::LargeUtf8 => array
                .as_string_opt()
                .map(|a| Self::Large(a.value_offsets())),
            DataType::LargeBinary => array
                .as_binary_opt()
                .map(|a| Self::Large(a.value_offsets())),
            _ => None,
        }
    }

    /// The longest values for which `valid` holds.
    fn longest(&self, valid: impl Fn(usize) -> bool) -> Longest {
        fn lengths<O: OffsetSizeTrait>(o: &[O]) -> impl Iterator<Item = usize> + '_ {
            o.windows(2).map(|w| (w[1] - w[0]).as_usize())
        }
        match *self {
            Self::Small(o) => longest_valid(lengths(o), valid),
            Self::Large(o) => longest_valid(lengths(o), valid),
        }
    }

    /// Value `i`'s length (0 past the end).
    fn at(&self, i: usize) -> usize {
        fn at<O: OffsetSizeTrait>(o: &[O], i: usize) -> usize {
            match (o.get(i), o.get(i + 1)) {
                (Some(start), Some(end)) => (*end - *start).as_usize(),
                _ => 0,
            }
        }
        match *self {
            Self::Small(o) => at(o, i),
            Self::Large(o) => at(o, i),
        }
    }

    /// All the values' bytes together.
    fn span(&self) -> usize {
        fn span<O: OffsetSizeTrait>(o: &[O]) -> usize {
            match (o.first(), o.last()) {
                (Some(first), Some(last)) => (*last - *first).as_usize(),
                _ => 0,
            }
        }
        match *self {
            Self::Small(o) => span(o),
            Self::Large(o) => span(o),
        }
    }
}

/// A view array's views (a view's low 32 bits are its value's length).
fn views(array: &ArrayRef) -> Option<&[u128]> {
    match array.data_type() {
        DataType::Utf8View => Some(array.as_string_view_opt()?.views()),
        DataType::BinaryView => Some(array.as_binary_view_opt()?.views()),
        _ => None,
    }
}

fn view_len(view: &u128) -> usize {
    *view as u32 as usize
}

/// All the values' bytes together, or `usize::MAX` where that is not
/// cheap (views); 0 for anything not a byte array.
fn total(array: &ArrayRef) -> usize {
    match array.data_type() {
        // Every value is as long as the width (it was taken as one value's:
        // two 1 MB values then fitted a 1 MiB room, and the page of three
        // they ended was seen only at the store, a review's finding).
        DataType::FixedSizeBinary(width) => usize::try_from(*width)
            .unwrap_or(0)
            .saturating_mul(array.len()),
        DataType::Utf8View | DataType::BinaryView => usize::MAX,
        DataType::RunEndEncoded(_, _) => usize::MAX,
        _ => Offsets::of(array).map_or(0, |o| o.span()),
    }
}

/// The longest values of a byte array that are not null (parquet writes
/// no bytes for a null; an array may keep some under it, say after
/// `nullif`).
fn max_len(array: &ArrayRef) -> Longest {
    let nulls = array.logical_nulls();
    let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
    if let DataType::FixedSizeBinary(width) = array.data_type() {
        let width = usize::try_from(*width).unwrap_or(0);
        return (0..array.len())
            .filter(|&i| valid(i))
            .take(2)
            .map(|_| width)
            .collect();
    }
    match (Offsets::of(array), views(array)) {
        (Some(offsets), _) => offsets.longest(valid),
        (None, Some(views)) => longest_valid(views.iter().map(view_len), valid),
        (None, None) => Longest::default(),
    }
}

/// The longest two of `lengths` whose index is `valid`.
fn longest_valid(lengths: impl Iterator<Item = usize>, valid: impl Fn(usize) -> bool) -> Longest {
    lengths
        .enumerate()
        .filter(|(i, _)| valid(*i))
        .map(|(_, len)| len)
        .collect()
}

/// The length of value `i` of a byte array (0 if null, out of range or
/// not a byte array).
fn value_len(array: &ArrayRef, i: usize) -> usize {
    if i >= array.len() || array.is_null(i) {
        return 0;
    }
    if let DataType::FixedSizeBinary(width) = array.data_type() {
        return usize::try_from(*width).unwrap_or(0);
    }
    match (Offsets::of(array), views(array)) {
        (Some(offsets), _) => offsets.at(i),
        (None, Some(views)) => views.get(i).map_or(0, view_len),
        (None, None) => 0,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::builder::{ListBuilder, StringBuilder};
    use arrow_array::{
        ArrayRef, BinaryViewArray, DictionaryArray, Int32Array, LargeBinaryArray, StringArray,
        StructArray,
    };
    use arrow_schema::Field;

    use super::*;

    #[test]
    fn each_leaf_is_numbered_as_parquet_numbers_it() {
        let long = "x".repeat(100);
        let mut list = ListBuilder::new(StringBuilder::new());
        list.values().append_value(&long);
        list.values().append_value("a");
        list.append(true);
        let list = Arc::new(list.finish()) as ArrayRef;
        let inner = StructArray::from(vec![
            (
                Arc::new(Field::new("i", DataType::Int32, false)),
                Arc::new(Int32Array::from(vec![1])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("s", DataType::Utf8, false)),
                Arc::new(StringArray::from(vec!["short"])) as ArrayRef,
            ),
        ]);
        let dictionary: DictionaryArray<Int32Type> = vec![long.as_str()].into_iter().collect();
        let batch = RecordBatch::try_from_iter([
            ("struct", Arc::new(inner) as ArrayRef),
            ("list", list),
            (
                "view",
                Arc::new(BinaryViewArray::from(vec![&[7u8; 60][..]])),
            ),
            ("dict", Arc::new(dictionary) as ArrayRef),
            (
                "large",
                Arc::new(LargeBinaryArray::from(vec![&[1u8; 3][..]])),
            ),
        ])
        .expect("batch");
        // Leaves: struct.i 0, struct.s 1, list.item 2, view 3, dict 4, large 5.
        assert_eq!(longer_than(&batch, 50), vec![(2, 100), (3, 60), (4, 100)]);
        assert_eq!(longer_than(&batch, 60), vec![(2, 100), (4, 100)]);
        assert_eq!(longer_than(&batch, 100), vec![]);
        assert_eq!(
            longer_than(&batch, 2),
            vec![(1, 5), (2, 100), (3, 60), (4, 100), (5, 3)]
        );
    }

    /// parquet's own numbering: write `batch` in pages of about one value,
    /// read each leaf column's pages back, and find each value longer than
    /// `threshold` in a page at least that long of the leaf it is counted
    /// for. Returns how many were found.
    fn assert_in_pages_of_their_leaves(batch: &RecordBatch, threshold: usize) -> usize {
        use parquet::arrow::ArrowWriter;
        use parquet::file::properties::WriterProperties;
        use parquet::file::reader::{FileReader, SerializedFileReader};

        let props = WriterProperties::builder()
            .set_data_page_size_limit(16)
            .set_dictionary_page_size_limit(16)
            .set_write_batch_size(1)
            .build();
        let walk = Walk::over(batch, threshold, &[], &[]);
        let long = walk.longest.clone();
        let mut file = Vec::new();
        let mut writer =
            ArrowWriter::try_new(&mut file, batch.schema(), Some(props)).expect("writer");
        writer.write(batch).expect("write");
        writer.close().expect("close");
        let reader = SerializedFileReader::new(bytes::Bytes::from(file)).expect("reader");
        let row_group = reader.get_row_group(0).expect("row group");
        let leaves = reader
            .metadata()
            .file_metadata()
            .schema_descr()
            .num_columns();
        assert_eq!(walk.leaf, leaves, "leaves counted");
        for &(leaf, longest) in &long {
            assert!(leaf < leaves, "leaf {leaf} of {leaves}");
            let mut pages = row_group.get_column_page_reader(leaf).expect("pages");
            let mut largest = 0;
            while let Some(page) = pages.get_next_page().expect("page") {
                largest = largest.max(page.buffer().len());
            }
            assert!(
                largest >= longest,
                "leaf {leaf} counted a value of {longest} bytes, its pages reach {largest}"
            );
        }
        long.len()
    }

    #[cfg(feature = "testkit")]
    #[test]
    fn every_long_value_is_in_a_page_of_the_leaf_it_is_counted_for() {
        let found: usize = (0..8)
            .map(|seed| {
                let batch = crate::testkit::all_types_batch(300, seed);
                // Last, long strings: a leaf miscounted before them shows.
                let tail = StringArray::from_iter_values((0..300).map(|i| "t".repeat(60 + i % 9)));
                let mut columns = batch.columns().to_vec();
                columns.push(Arc::new(tail));
                let mut fields = batch.schema().fields().to_vec();
                fields.push(Arc::new(Field::new("tail", DataType::Utf8, false)));
                let schema = Arc::new(arrow_schema::Schema::new(fields));
                let batch = RecordBatch::try_new(schema, columns).expect("batch");
                assert_in_pages_of_their_leaves(&batch.slice(7, 250), 48)
            })
            .sum();
        // Strings up to 200 bytes in about one array in five.
        assert!(found >= 8, "{found} long values");
    }

    /// A dictionary or run array of nested values is written as the leaves
    /// of its values; of leaf values, only the ones its keys use count.
    #[test]
    fn dictionaries_count_their_values_as_parquet_writes_them() {
        use arrow_array::{Int8Array, RunArray};
        let long = "x".repeat(100);
        let of_structs = Arc::new(
            DictionaryArray::try_new(
                Int8Array::from(vec![0, 1, 1, 0, 0]),
                Arc::new(StructArray::from(vec![
                    (
                        Arc::new(Field::new("a", DataType::Utf8, false)),
                        Arc::new(StringArray::from(vec!["a", long.as_str()])) as ArrayRef,
                    ),
                    (
                        Arc::new(Field::new("b", DataType::Utf8, false)),
                        Arc::new(StringArray::from(vec!["b", "c"])) as ArrayRef,
                    ),
                ])),
            )
            .expect("dictionary"),
        ) as ArrayRef;
        let unused = Arc::new(
            DictionaryArray::try_new(
                Int8Array::from(vec![Some(0), None, Some(0), Some(0), None]),
                Arc::new(StringArray::from(vec!["a", long.as_str()])),
            )
            .expect("dictionary"),
        ) as ArrayRef;
        let runs = Arc::new(
            RunArray::try_new(
                &Int32Array::from(vec![2, 5]),
                &StringArray::from(vec![long.as_str(), "b"]),
            )
            .expect("run array"),
        ) as ArrayRef;
        let s = Arc::new(StringArray::from(vec!["a", "b", "c", "d", long.as_str()])) as ArrayRef;
        let batch = RecordBatch::try_from_iter([
            ("of_structs", of_structs),
            ("unused", unused),
            ("runs", runs),
            ("s", s),
        ])
        .expect("batch");
        // Leaves: of_structs.a 0, of_structs.b 1, unused 2, runs 3, s 4.
        assert_eq!(longer_than(&batch, 50), vec![(0, 100), (3, 100), (4, 100)]);
        assert_eq!(assert_in_pages_of_their_leaves(&batch, 50), 3);
        // Sliced past the long run and the long string: the struct values
        // all count, the rest is gone.
        assert_eq!(longer_than(&batch.slice(2, 2), 50), vec![(0, 100)]);
        // A dictionary of a dictionary: its values count whole.
        let inner = DictionaryArray::try_new(
            Int8Array::from(vec![0, 1]),
            Arc::new(StringArray::from(vec!["a", long.as_str()])),
        )
        .expect("dictionary");
        let outer = DictionaryArray::try_new(Int8Array::from(vec![0, 0]), Arc::new(inner))
            .expect("dictionary");
        let batch =
            RecordBatch::try_from_iter([("outer", Arc::new(outer) as ArrayRef)]).expect("batch");
        assert_eq!(longer_than(&batch, 50), vec![(0, 100)]);
    }

    /// A null's bytes (an array may keep them, say after `nullif`) and the
    /// part of a list's child outside a slice are not written.
    #[test]
    fn nulls_and_values_outside_a_slice_do_not_count() {
        let long = "x".repeat(100);
        let strings = StringArray::from(vec![long.as_str(), "a"]);
        let (offsets, values, _) = strings.clone().into_parts();
        let nulled = StringArray::new(offsets, values, Some(vec![false, true].into()));
        let mut list = ListBuilder::new(StringBuilder::new());
        list.values().append_value(&long);
        list.append(true);
        list.values().append_value("a");
        list.append(true);
        let batch = RecordBatch::try_from_iter([
            ("nulled", Arc::new(nulled) as ArrayRef),
            ("list", Arc::new(list.finish()) as ArrayRef),
            ("plain", Arc::new(strings) as ArrayRef),
        ])
        .expect("batch");
        assert_eq!(longer_than(&batch, 50), vec![(1, 100), (2, 100)]);
        assert_eq!(longer_than(&batch.slice(1, 1), 50), vec![]);
    }

    #[test]
    fn a_slice_counts_only_its_own_values() {
        let array = StringArray::from(vec!["x".repeat(100), "ab".into(), "abc".into()]);
        let batch = RecordBatch::try_from_iter([("s", Arc::new(array) as ArrayRef)])
            .expect("batch")
            .slice(1, 2);
        assert_eq!(longer_than(&batch, 4), vec![]);
        assert_eq!(longer_than(&batch, 2), vec![(0, 3)]);
    }

    /// parquet hands an Arrow dictionary's encoder a mini-batch of keys at
    /// once (a page row limit of them where its levels are uniform), and
    /// a list's rows whole: such a leaf is reported as a page of the page
    /// limit and its longest mini-batch or row.
    #[test]
    fn mini_batches_parquet_does_not_cut_are_long_pages() {
        let mini = MiniBatches {
            batch: 4,
            rows: 8,
            page_limit: 10,
        };
        let values: ArrayRef = Arc::new(StringArray::from(vec![
            "a".to_string(),
            "bb".into(),
            "ccc".into(),
            "x".repeat(50),
        ]));
        let dictionary = |keys: Vec<Option<i32>>| {
            let keys = Int32Array::from(keys);
            let array = DictionaryArray::new(keys, values.clone());
            RecordBatch::try_from_iter([("d", Arc::new(array) as ArrayRef)]).expect("batch")
        };
        let scan = |batch: &RecordBatch| scan(batch, 20, &[], &[], false, mini);
        // A null key: mini-batches of 4 keys, the longest 1 + 2 + 3 + 50.
        let mut keys = vec![Some(0), Some(1), Some(2), Some(3), Some(0), Some(0), None];
        let nulls = scan(&dictionary(keys.clone()));
        assert_eq!((nulls.long, nulls.batched), (vec![(0, 66)], vec![0]));
        // None: of 8 keys (the row limit), the longest holding both 50s.
        keys.truncate(6);
        keys.extend([Some(0), Some(0), Some(3)]);
        assert_eq!(scan(&dictionary(keys)).long, vec![(0, 10 + 109)]);
        // Not long: none passes the threshold, however many keys.
        let short = dictionary(vec![Some(0); 100]);
        assert_eq!(scan(&short).long, vec![]);
        // Rows of 8, 1 and 60 bytes: the last, whole, in one page, after
        // a mini-batch sized from the first values (3 fit the budget of
        // 10, and parquet counts the one that passes it: then any 4
        // values, at most bbbb, c, x and y's 65 bytes). Loose where the
        // two overlap, as here.
        let mut rows = ListBuilder::new(StringBuilder::new());
        for row in [vec!["aaaa", "bbbb"], vec!["c"]] {
            row.iter().for_each(|v| rows.values().append_value(v));
            rows.append(true);
        }
        rows.values().append_value("x".repeat(30));
        rows.values().append_value("y".repeat(30));
        rows.append(true);
        let lists = RecordBatch::try_from_iter([("l", Arc::new(rows.finish()) as ArrayRef)])
            .expect("batch");
        let long = scan(&lists).long;
        assert_eq!(long.iter().map(|&(_, page)| page).max(), Some(10 + 65 + 60));
        assert!(scan(&lists).batched.is_empty(), "parts do not cut a row");
    }

    /// A page can take two values past its byte budget, so a leaf is
    /// reported with its two longest values together, a dictionary's keys
    /// using one value twice counting it twice.
    #[test]
    fn two_values_a_page_may_take_are_counted_together() {
        let strings = StringArray::from(vec!["x".repeat(100), "ab".into(), "y".repeat(60)]);
        let batch = RecordBatch::try_from_iter([("s", Arc::new(strings) as ArrayRef)]).unwrap();
        assert_eq!(
            scan(&batch, 50, &[], &[], false, MiniBatches::default()).long,
            vec![(0, 160)]
        );
        // Neither value passes 120; together they do.
        assert_eq!(
            scan(&batch, 120, &[], &[], false, MiniBatches::default()).long,
            vec![(0, 160)]
        );
        assert_eq!(longer_than(&batch, 120), vec![]);
        assert_eq!(
            scan(&batch, 160, &[], &[], false, MiniBatches::default()).long,
            vec![]
        );

        let values = StringArray::from(vec!["x".repeat(100), "ab".into()]);
        let keys = Int32Array::from(vec![0, 1, 0]);
        let dictionary = DictionaryArray::new(keys, Arc::new(values));
        let batch = RecordBatch::try_from_iter([("d", Arc::new(dictionary) as ArrayRef)]).unwrap();
        assert_eq!(
            scan(&batch, 150, &[], &[], false, MiniBatches::default()).long,
            vec![(0, 200)]
        );
        assert_eq!(
            scan(&batch, 200, &[], &[], false, MiniBatches::default()).long,
            vec![]
        );
    }

    /// parquet takes a dictionary of structs into one struct per key before
    /// encoding it: ten values under 100,000 keys cost as 100,000 rows.
    #[test]
    fn a_dictionary_of_nested_values_costs_as_many_rows_as_keys() {
        let values = StructArray::from(vec![(
            Arc::new(Field::new("a", DataType::Int64, false)),
            Arc::new(arrow_array::Int64Array::from_iter_values(0..10)) as ArrayRef,
        )]);
        let keys = Int32Array::from_iter_values((0..100_000).map(|i| i % 10));
        let dictionary = DictionaryArray::new(keys, Arc::new(values));
        let batch = RecordBatch::try_from_iter([("d", Arc::new(dictionary) as ArrayRef)]).unwrap();
        let cost = scan(&batch, usize::MAX, &[], &[], false, MiniBatches::default()).columns[0];
        // The leaf's levels and indices, and the taken struct's 8 bytes a row.
        assert!(cost >= 100_000 * (4 + 8 + 8), "{cost}");
        assert!(cost <= 100_000 * 40, "{cost}");
    }

    /// A list of `Int16` (converted whole by parquet) whose one row of a
    /// slice holds one value and the other 8,191: `child` wraps the values.
    fn sliced_list_cost(child: impl Fn(ArrayRef) -> ArrayRef) -> (usize, usize) {
        let values: ArrayRef = Arc::new(arrow_array::Int16Array::from(vec![1i16; 8192]));
        let items = child(values);
        let field = Arc::new(Field::new("item", items.data_type().clone(), false));
        let offsets = arrow_buffer::OffsetBuffer::from_lengths([items.len() - 1, 1]);
        let list = arrow_array::ListArray::new(field, offsets, items, None);
        let batch = RecordBatch::try_from_iter([("l", Arc::new(list) as ArrayRef)]).unwrap();
        let cost = |b: &RecordBatch| {
            scan(b, usize::MAX, &[], &[], false, MiniBatches::default()).columns[0]
        };
        (cost(&batch), cost(&batch.slice(1, 1)))
    }

    /// parquet converts a leaf below a list over the list's whole child,
    /// whatever the slice: a slice costs that conversion as the batch does,
    /// also where a fixed-size list (whose slice slices its child) is
    /// between the list and the leaf.
    #[test]
    fn a_slice_of_lists_costs_the_conversion_of_their_whole_child() {
        let (whole, slice) = sliced_list_cost(|values| values);
        assert!(slice >= 8192 * 4, "{slice} of {whole}");
        let (whole, slice) = sliced_list_cost(|values| {
            let item = Arc::new(Field::new("item", DataType::Int16, false));
            let fixed = arrow_array::FixedSizeListArray::new(item, 64, values, None);
            Arc::new(fixed) as ArrayRef
        });
        assert!(slice >= 8192 * 4, "{slice} of {whole}");
    }

    /// A sample's longest rows are exact below a second list too, however
    /// many rows it has (it is walked 1,024 rows at a time).
    #[test]
    fn longest_rows_are_exact_below_two_lists() {
        // Rows of ten lists of ten values; row 3,000 of ten lists of 30.
        let inner: Vec<usize> = (0..4096 * 10)
            .map(|i| if i / 10 == 3000 { 30 } else { 10 })
            .collect();
        let n: usize = inner.iter().sum();
        let values = arrow_array::Int64Array::from_iter_values(0..n as i64);
        let item = Arc::new(Field::new("item", DataType::Int64, false));
        let offsets = arrow_buffer::OffsetBuffer::from_lengths(inner);
        let lists = arrow_array::ListArray::new(item, offsets, Arc::new(values), None);
        let field = Arc::new(Field::new("item", lists.data_type().clone(), false));
        let offsets = arrow_buffer::OffsetBuffer::from_lengths([10; 4096]);
        let outer = arrow_array::ListArray::new(field, offsets, Arc::new(lists), None);
        let id = arrow_array::Int64Array::from_iter_values(0..4096);
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(id) as ArrayRef),
            ("l", Arc::new(outer) as ArrayRef),
        ])
        .unwrap();
        assert_eq!(longest_rows(&batch), vec![None, Some(300)]);
    }

    /// parquet expands every run array leaf of a column before it writes
    /// any (each stays with its levels): a struct of eight costs eight
    /// expansions, not the largest one.
    #[test]
    fn a_structs_run_arrays_are_expanded_together() {
        let ends = Int32Array::from(vec![4096]);
        let values = StringArray::from(vec!["x".repeat(1024)]);
        let run: ArrayRef = Arc::new(RunArray::try_new(&ends, &values).unwrap());
        let fields: Vec<(Arc<Field>, ArrayRef)> = (0..8)
            .map(|i| {
                let field = Field::new(format!("r{i}"), run.data_type().clone(), false);
                (Arc::new(field), run.clone())
            })
            .collect();
        let columns = [
            ("one", run.clone()),
            ("eight", Arc::new(StructArray::from(fields)) as ArrayRef),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let cost = scan(&batch, usize::MAX, &[], &[], false, MiniBatches::default()).columns;
        assert!(cost[0] >= 4096 * 1024, "{cost:?}");
        assert!(cost[1] >= 8 * cost[0], "{cost:?}");
    }

    /// A list view whose views follow one another has its list's rows:
    /// the same longest rows, in levels and in bytes; one whose views do
    /// not has its entries' levels summed.
    #[test]
    fn list_views_in_order_have_their_lists_rows() {
        let values: ArrayRef = Arc::new(StringArray::from(vec!["a", "bb", "ccc", "dddd"]));
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        let batch = |array: ArrayRef| RecordBatch::try_from_iter([("l", array)]).expect("batch");
        let view = |offsets: Vec<i32>, sizes: Vec<i32>| {
            batch(Arc::new(arrow_array::ListViewArray::new(
                item.clone(),
                offsets.into(),
                sizes.into(),
                values.clone(),
                None,
            )))
        };
        let offsets = arrow_buffer::OffsetBuffer::new(vec![0, 1, 1, 4].into());
        let list = batch(Arc::new(arrow_array::ListArray::new(
            item.clone(),
            offsets,
            values.clone(),
            None,
        )));
        let in_order = view(vec![0, 1, 1], vec![1, 0, 3]);
        assert!(views_in_order(in_order.column(0)));
        assert_eq!(longest_rows(&in_order), longest_rows(&list));
        assert_eq!(longest_rows(&list), vec![Some(3)]);
        assert_eq!(longest_row_bytes(&in_order, &[0]), vec![Some(9)]);
        // Reversed: not known to the walk; each entry's levels summed.
        let reversed = view(vec![1, 1, 0], vec![3, 0, 1]);
        assert!(!views_in_order(reversed.column(0)));
        assert_eq!(longest_row_bytes(&reversed, &[0]), vec![None]);
        assert_eq!(
            longest_entry(&values, &[reversed.column(0).clone()]),
            Some(9)
        );
        // Apart (a gap between two views): not in order.
        assert!(!views_in_order(view(vec![0, 2], vec![1, 2]).column(0)));
        // Views of none, below a list of empty rows (a sweep's finding:
        // the end of no view was looked up).
        let none = view(vec![], vec![]).column(0).clone();
        assert!(views_in_order(&none));
        let field = Arc::new(Field::new("item", none.data_type().clone(), true));
        let offsets = arrow_buffer::OffsetBuffer::new(vec![0, 0, 0].into());
        let outer = arrow_array::ListArray::new(field, offsets, none, None);
        assert_eq!(longest_rows(&batch(Arc::new(outer))), vec![Some(1)]);
    }

    #[test]
    fn views_that_go_back_are_taken_in_chunks_whole() {
        // Four one-value rows of 100 bytes.
        let long = "x".repeat(100);
        let values: ArrayRef = Arc::new(StringArray::from(vec![long.as_str(); 4]));
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        let view = |offsets: Vec<i32>| -> ArrayRef {
            Arc::new(arrow_array::ListViewArray::new(
                item.clone(),
                offsets.into(),
                vec![1; 4].into(),
                values.clone(),
                None,
            ))
        };
        let goes_back = |list: &ArrayRef| {
            let entries: Vec<_> = std::iter::once(list).filter_map(entries).collect();
            slots_go_back(Levels::new(&entries), &values)
        };
        // Rising (apart too) or each row before the last: parquet's quick
        // count holds (a chunk's first slot past its last, or the bytes
        // between them all its values').
        for rising in [vec![0, 1, 2, 3], vec![3, 2, 1, 0], vec![2, 3, 0, 1]] {
            assert!(!goes_back(&view(rising.clone())), "{rising:?}");
        }
        // Shared, or back to a slot a later one passes: not.
        for back in [vec![0, 0, 1, 2], vec![1, 0, 2, 3], vec![2, 3, 0, 3]] {
            assert!(goes_back(&view(back.clone())), "{back:?}");
        }
        // Shared, a chunk of four is four values whole (the budget fits
        // the 100 bytes between its first slot and its last); in order,
        // one past the budget.
        let window = |offsets| budget_window(&values, 4, 150, &[view(offsets)], true);
        assert_eq!(window(vec![0, 0, 0, 0]), 400);
        assert_eq!(window(vec![0, 1, 2, 3]), 200);
    }

    #[test]
    fn a_chunks_values_spread_thin_after_short_ones_cut_it_in_long_windows() {
        // Four values of 50 bytes, then one of 250 ending every 4 levels,
        // nulls before each: a chunk of 16 levels holds 7 values, the
        // budget of 250 is passed at the fifth (with their 4-byte lengths),
        // so parquet cuts it in windows of ceil(5 * 16 / 7) = 12 levels,
        // where no more than 7 levels fit the budget anywhere.
        let (short, long) = ("s".repeat(50), "l".repeat(250));
        let strings = (0..16).map(|i| match i {
            i if i < 4 => Some(short.as_str()),
            i if i % 4 == 3 => Some(long.as_str()),
            _ => None,
        });
        let values: ArrayRef = Arc::new(StringArray::from_iter(strings));
        let len = value_lengths(&values);
        let levels = Levels::new(&[]).slots(values.len());
        assert_eq!(most_levels_cut(levels.clone(), &values, &len, 16, 250), 12);
        assert_eq!(most_within(levels.map(|s| s.map_or(0, &len)), 250), 7);
        // Chunks of 8: those from the first four levels hold no value past
        // the one that passes the budget (no cut); from the fifth, two
        // long values, the first passing it: windows of ceil(1 * 8 / 2).
        let levels = Levels::new(&[]).slots(values.len());
        assert_eq!(most_levels_cut(levels, &values, &len, 8, 250), 4);
    }
}
