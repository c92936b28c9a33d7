//! A best-fit free-list allocator for byte ranges of one file.
//!
//! Why: a writer spills a whole row group, splices it, then spills the next.
//! If the spill file only ever grew, a 100-row-group file would need 100 row
//! groups of scratch disk. Handing freed ranges out again (and shrinking the
//! tail when the last range is freed) keeps the spill file at about one row
//! group, however many row groups are written.
//!
//! Pure bookkeeping, no I/O: [`SpillFile`](crate::spill_file::SpillFile)
//! holds one of these behind a mutex and does the reads and writes outside it.

use std::collections::{BTreeMap, BTreeSet};

/// Free-list allocator over `[0, end)`.
#[derive(Debug, Default)]
pub(crate) struct Extents {
    /// One past the highest allocated byte; the file never needs to be longer.
    end: u64,
    /// Free ranges below `end`, by offset (for coalescing).
    free_by_offset: BTreeMap<u64, u64>,
    /// The same free ranges as `(len, offset)` (for best fit).
    free_by_len: BTreeSet<(u64, u64)>,
    /// Bytes currently allocated.
    live: u64,
}

impl Extents {
    /// Allocate `len` bytes (`len > 0`), returning the offset.
    pub(crate) fn allocate(&mut self, len: u64) -> u64 {
        self.live += len;
        if let Some(&(free_len, offset)) = self.free_by_len.range((len, 0)..).next() {
            self.remove_free(offset, free_len);
            if free_len > len {
                self.insert_free(offset + len, free_len - len);
            }
            return offset;
        }
        // Grow the file, reusing a free range that touches the tail if any.
        let offset = match self.free_by_offset.last_key_value() {
            Some((&off, &free_len)) if off + free_len == self.end => {
                self.remove_free(off, free_len);
                off
            }
            _ => self.end,
        };
        self.end = offset + len;
        offset
    }

    /// Return `[offset, offset + len)` to the free list.
    pub(crate) fn free(&mut self, offset: u64, len: u64) {
        debug_assert!(offset + len <= self.end, "freeing past the end");
        self.live -= len;
        let (mut start, mut stop) = (offset, offset + len);
        if let Some((&prev_off, &prev_len)) = self.free_by_offset.range(..start).next_back() {
            if prev_off + prev_len == start {
                self.remove_free(prev_off, prev_len);
                start = prev_off;
            }
        }
        if let Some(&next_len) = self.free_by_offset.get(&stop) {
            self.remove_free(stop, next_len);
            stop += next_len;
        }
        if stop == self.end {
            self.end = start;
        } else {
            self.insert_free(start, stop - start);
        }
    }

    /// Bytes currently allocated.
    pub(crate) fn live(&self) -> u64 {
        self.live
    }

    /// One past the highest allocated byte.
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    fn insert_free(&mut self, offset: u64, len: u64) {
        self.free_by_offset.insert(offset, len);
        self.free_by_len.insert((len, offset));
    }

    fn remove_free(&mut self, offset: u64, len: u64) {
        self.free_by_offset.remove(&offset);
        self.free_by_len.remove(&(len, offset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_space_is_reused_and_the_tail_shrinks() {
        let mut e = Extents::default();
        let a = e.allocate(100);
        let b = e.allocate(50);
        let c = e.allocate(100);
        assert_eq!((a, b, c, e.end()), (0, 100, 150, 250));
        e.free(b, 50);
        // Best fit: a 40-byte blob goes into the 50-byte hole, not the tail.
        assert_eq!(e.allocate(40), 100);
        e.free(c, 100);
        assert_eq!(e.end(), 140, "freeing the last range shrinks the tail");
        e.free(a, 100);
        e.free(100, 40);
        assert_eq!((e.end(), e.live()), (0, 0));
        assert!(e.free_by_offset.is_empty() && e.free_by_len.is_empty());
    }

    #[test]
    fn neighbours_coalesce_into_one_range() {
        let mut e = Extents::default();
        let offs: Vec<u64> = (0..5).map(|_| e.allocate(10)).collect();
        e.free(offs[1], 10);
        e.free(offs[3], 10);
        e.free(offs[2], 10);
        assert_eq!(e.free_by_offset.get(&10), Some(&30));
        assert_eq!(e.allocate(30), 10);
    }

    #[test]
    fn a_tail_gap_is_extended_instead_of_leaving_a_hole() {
        let mut e = Extents::default();
        let _a = e.allocate(10);
        let b = e.allocate(10);
        let _c = e.allocate(10);
        e.free(b, 10);
        // Nothing fits a 15-byte blob; the file grows at the end.
        assert_eq!(e.allocate(15), 30);
        assert_eq!(e.end(), 45);
    }

    #[test]
    fn repeated_row_groups_stay_within_one_row_group_of_space() {
        let mut e = Extents::default();
        let mut peak = 0;
        for round in 0..50u64 {
            // Interleaved columns of varying blob sizes, then taken column by column.
            let mut cols: Vec<Vec<(u64, u64)>> = vec![Vec::new(); 4];
            for i in 0..100u64 {
                for (c, col) in cols.iter_mut().enumerate() {
                    let len = 1 + (i * 7 + c as u64 * 13 + round) % 97;
                    col.push((e.allocate(len), len));
                }
            }
            peak = peak.max(e.end());
            for col in cols {
                for (off, len) in col {
                    e.free(off, len);
                }
            }
            assert_eq!(e.end(), 0);
        }
        assert!(peak < 4 * 100 * 97);
    }
}
