//! Where `ArrowWriter::write` ends its open row group inside a batch.
//!
//! Why: parquet 59.3 and 60.1 cut a batch that passes
//! `max_row_group_row_count` (or, once rows are buffered,
//! `max_row_group_bytes` at the average row so far) and write each piece
//! as a batch of its own. A piece's last chunk ends at the cut, shorter
//! than any chunk the batch's admission looked at, and parquet's byte
//! budget can cut a short chunk into longer windows
//! ([`crate::long_values`]): a review's probe of 16 strings of 64 KiB,
//! then one of 1.5 MiB every 24 rows, cut at row 400, took 52.1 MiB of
//! heap at 48 MiB (`tests/long_pages.rs`, `row_group_cut`). So a planned
//! writer cuts where parquet would, by this one rule, and admits the piece
//! before it is written ([`crate::SpillMonitor::write`], and
//! [`crate::ParallelWriter`], which splits its row groups by it).

use parquet::file::properties::WriterProperties;

/// A writer's row-group limits.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GroupLimits {
    rows: Option<usize>,
    bytes: Option<usize>,
}

/// What `ArrowWriter::write` does next with the rows left of a batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cut {
    /// Closes the open row group first: it is full by its bytes.
    Flush,
    /// Writes this many of the rows into the open row group (or a new
    /// one): all of them, or as many as it takes before it is full.
    Rows(usize),
}

impl GroupLimits {
    /// The limits `props` set.
    pub(crate) fn of(props: &WriterProperties) -> Self {
        Self {
            rows: props.max_row_group_row_count(),
            bytes: props.max_row_group_bytes(),
        }
    }

    /// What parquet does with `rows` rows for an open row group of
    /// `buffered` rows (zero: none open), `bytes` its estimated encoded
    /// size (asked only with a byte limit and rows buffered, as parquet
    /// asks).
    pub(crate) fn cut<E>(
        &self,
        buffered: usize,
        rows: usize,
        bytes: impl FnOnce() -> Result<usize, E>,
    ) -> Result<Cut, E> {
        let by_rows = match self.rows {
            Some(max) if buffered.saturating_add(rows) > max => max.saturating_sub(buffered),
            _ => rows,
        };
        // A full row group parquet would close after writing none of them.
        if by_rows == 0 && rows > 0 {
            return Ok(Cut::Flush);
        }
        let (Some(max_bytes), true) = (self.bytes, buffered > 0) else {
            return Ok(Cut::Rows(by_rows));
        };
        let current = bytes()?;
        if current >= max_bytes {
            return Ok(Cut::Flush);
        }
        // The rows that fit at the average row so far.
        Ok(
            match (max_bytes - current).checked_div(current / buffered) {
                Some(0) => Cut::Flush,
                Some(fit) => Cut::Rows(by_rows.min(fit)),
                None => Cut::Rows(by_rows),
            },
        )
    }

    /// Whether a row group of `rows` rows, `bytes` its estimated encoded
    /// size (asked only with a byte limit), is full: parquet closes it.
    pub(crate) fn full<E>(
        &self,
        rows: usize,
        bytes: impl FnOnce() -> Result<usize, E>,
    ) -> Result<bool, E> {
        if self.rows.is_some_and(|max| rows >= max) {
            return Ok(true);
        }
        match self.bytes {
            Some(max) => Ok(bytes()? >= max),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rows: Option<usize>, bytes: Option<usize>) -> GroupLimits {
        GroupLimits { rows, bytes }
    }

    fn cut(limits: GroupLimits, buffered: usize, rows: usize, bytes: usize) -> Cut {
        limits
            .cut(buffered, rows, || Ok::<_, ()>(bytes))
            .unwrap_or(Cut::Flush)
    }

    #[test]
    fn rows_are_cut_where_the_row_group_fills() {
        let by_rows = limits(Some(400), None);
        assert_eq!(cut(by_rows, 0, 1024, 0), Cut::Rows(400));
        assert_eq!(cut(by_rows, 100, 1024, 0), Cut::Rows(300));
        assert_eq!(cut(by_rows, 100, 300, 0), Cut::Rows(300));
        assert_eq!(cut(by_rows, 400, 300, 0), Cut::Flush);
        assert_eq!(cut(limits(None, None), 100, 1024, 0), Cut::Rows(1024));
    }

    #[test]
    fn bytes_cut_at_the_average_row_once_rows_are_buffered() {
        let by_bytes = limits(Some(1000), Some(10_000));
        // Nothing buffered: no estimate to go by.
        assert_eq!(cut(by_bytes, 0, 800, 0), Cut::Rows(800));
        // 100 rows of 40 bytes: 150 more fit.
        assert_eq!(cut(by_bytes, 100, 800, 4000), Cut::Rows(150));
        // Fewer than a row's worth left, or none: closed first.
        assert_eq!(cut(by_bytes, 100, 800, 9990), Cut::Flush);
        assert_eq!(cut(by_bytes, 100, 800, 10_000), Cut::Flush);
        // Rows estimated at nothing: the row limit alone.
        assert_eq!(cut(by_bytes, 100, 2000, 0), Cut::Rows(900));
        assert_eq!(by_bytes.full(1000, || Ok::<_, ()>(0)), Ok(true));
        assert_eq!(by_bytes.full(10, || Ok::<_, ()>(10_000)), Ok(true));
        assert_eq!(by_bytes.full(10, || Ok::<_, ()>(9_999)), Ok(false));
    }
}
