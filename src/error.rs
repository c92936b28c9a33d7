//! One error type for the whole crate.
//!
//! Parquet's [`PageStore`](crate::PageStore) trait speaks
//! [`ParquetError`], so every store converts its [`Error`] at the trait
//! boundary with `From<Error> for ParquetError`. The conversion wraps the error
//! in [`ParquetError::External`], so the writer's error message still names
//! what failed (the spill file, the offset, the checksum) and callers can get
//! the typed error back with `downcast_ref`.

use std::path::PathBuf;

use parquet::errors::ParquetError;

/// Everything that can go wrong while spilling pages.
///
/// ```
/// use parquet_spill::Error;
/// let err = Error::UnknownKey { key: 7 };
/// assert_eq!(err.to_string(), "parquet-spill: no blob is stored under page key 7");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spill directory does not exist or is not a directory.
    #[error("parquet-spill: spill directory {path} is not a directory: {source}")]
    SpillDir {
        /// The directory that was asked for.
        path: PathBuf,
        /// Why it cannot be used.
        source: std::io::Error,
    },

    /// The spill file could not be created in the spill directory.
    #[error("parquet-spill: cannot create a spill file in {path}: {source}")]
    CreateSpillFile {
        /// The spill directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },

    /// Writing a blob to the spill file failed (for example, the disk is full).
    #[error(
        "parquet-spill: writing {len} bytes to the spill file at offset {offset} failed \
         (spill directory {}): {source}", dir.display()
    )]
    Write {
        /// The spill directory.
        dir: PathBuf,
        /// Offset in the spill file.
        offset: u64,
        /// Length of the blob.
        len: usize,
        /// The operating system's reason.
        source: std::io::Error,
    },

    /// Reading a blob back from the spill file failed or came back short.
    #[error(
        "parquet-spill: reading {len} bytes from the spill file at offset {offset} failed \
         (spill directory {}): {source}", dir.display()
    )]
    Read {
        /// The spill directory.
        dir: PathBuf,
        /// Offset in the spill file.
        offset: u64,
        /// Length of the blob.
        len: usize,
        /// The operating system's reason (`UnexpectedEof` for a short read).
        source: std::io::Error,
    },

    /// A blob read back from the spill file does not match what was written.
    #[error(
        "parquet-spill: checksum mismatch for the {len}-byte blob at spill file offset {offset} \
         (crc32c expected {expected:#010x}, found {actual:#010x}; spill directory {}): \
         the spill file was altered", dir.display()
    )]
    Checksum {
        /// The spill directory.
        dir: PathBuf,
        /// Offset in the spill file.
        offset: u64,
        /// Length of the blob.
        len: usize,
        /// CRC32C computed when the blob was written.
        expected: u32,
        /// CRC32C of the bytes read back.
        actual: u32,
    },

    /// `take` was called with a key this store never minted, or twice.
    #[error("parquet-spill: no blob is stored under page key {key}")]
    UnknownKey {
        /// The raw key.
        key: u64,
    },

    /// A [`MemoryBudget::reserve`](crate::MemoryBudget::reserve) did not fit.
    #[error(
        "parquet-spill: memory budget exhausted: {requested} bytes requested, \
         {available} of {limit} available"
    )]
    BudgetExhausted {
        /// Bytes asked for.
        requested: usize,
        /// Bytes left in the budget.
        available: usize,
        /// The budget's limit.
        limit: usize,
    },

    /// The limit cannot hold this schema's writer even at the smallest
    /// settings the planner will use.
    #[error(
        "parquet-spill: a memory limit of {limit} bytes is too small for {columns} leaf columns; \
         the smallest limit that works is {minimum} bytes{}",
        alternative_text(alternative)
    )]
    BudgetTooSmall {
        /// The limit given (for all writers sharing it).
        limit: usize,
        /// Leaf columns in the schema.
        columns: usize,
        /// The smallest limit the planner can fit, with the caller's codec.
        minimum: usize,
        /// The smallest limit with a codec that needs less memory, if any.
        alternative: Option<Alternative>,
    },

    /// A setting the caller fixed cannot fit the limit.
    #[error(
        "parquet-spill: {setting}{} = {value} (fixed by the caller) needs about {needed} bytes, \
         more than the {limit}-byte limit allows; lower or unfix it, or raise the limit",
        column.as_ref().map(|c| format!(" of column {c}")).unwrap_or_default()
    )]
    FixedSettingTooLarge {
        /// The `WriterProperties` setting.
        setting: &'static str,
        /// The column, for a per-column setting.
        column: Option<String>,
        /// The value the caller fixed.
        value: usize,
        /// The memory the plan needs with it.
        needed: usize,
        /// The limit.
        limit: usize,
    },

    /// The Arrow schema cannot be written as Parquet.
    #[error("parquet-spill: cannot convert the Arrow schema to Parquet: {0}")]
    Schema(#[source] parquet::errors::ParquetError),

    /// The writer properties ask parquet for what it cannot do for a
    /// column: an encoding its type does not take, a codec parquet does not
    /// have ([`plan::check_properties`](crate::plan::check_properties)).
    /// parquet would panic making the column's writer.
    #[error("parquet-spill: the writer properties cannot be written: {0}")]
    Properties(#[source] parquet::errors::ParquetError),

    /// The schema has no leaf columns to plan for.
    #[error("parquet-spill: the schema has no leaf columns")]
    EmptySchema,

    /// An option was given a value it cannot take.
    #[error("parquet-spill: {option}: {reason}")]
    InvalidOption {
        /// The option.
        option: &'static str,
        /// Why the value is refused.
        reason: &'static str,
    },

    /// The page metadata would pass the memory limit: what parquet keeps
    /// until the file closes (offset and column indexes, column chunk
    /// metadata), or what a row group holds until it is flushed (page keys,
    /// page headers).
    #[error(
        "parquet-spill: the page metadata ({what}) needs {requested} more bytes, but the \
         {metadata} bytes parquet keeps until the file closes and everything else held in the \
         budget (this writer's encoders, the room kept to encode its largest batch so far, \
         its row group, and any writers sharing the budget) already fill the {limit}-byte \
         memory limit; write smaller batches, larger pages, fewer columns, fewer row groups \
         or smaller files, or raise the limit"
    )]
    PageMetadataExhausted {
        /// What was being charged and how long it lives: `column chunk
        /// until the file closes`, `page keys and index entries until the
        /// row group is flushed`, `page headers until the row group is
        /// flushed`, `page index of a column chunk while it closes`.
        what: &'static str,
        /// Bytes it needed.
        requested: usize,
        /// Metadata charged so far (until the file closes, and by the open
        /// row group).
        metadata: usize,
        /// The limit.
        limit: usize,
    },

    /// A page far longer than the plan's pages (a value longer than the
    /// page size, which a page holds whole, or a row below a list, or a
    /// mini-batch parquet does not cut at the page's limit: an Arrow
    /// dictionary's, or one sized from shorter values): parquet holds
    /// several copies
    /// of a page while writing it, and the limit cannot hold them for a
    /// page this long.
    #[error(
        "parquet-spill: leaf column {column} needs a page of {page} bytes, longer than the \
         {planned} the plan's pages reach (a value longer than the page size, a row below a \
         list longer than it, or a mini-batch of values parquet encodes at once, of an Arrow \
         dictionary or sized from shorter values); writing pages this long needs {needed} more bytes, which the \
         {limit}-byte memory limit cannot hold beside what it holds already (the plan's \
         reservations, the room to encode batches, pages and metadata): raise the limit, \
         or write shorter rows"
    )]
    PageTooLong {
        /// The leaf column's index.
        column: usize,
        /// The page's uncompressed size.
        page: usize,
        /// The longest page the plan's transient reservation covers.
        planned: usize,
        /// Bytes it needed beyond the plan's reservation.
        needed: usize,
        /// The limit.
        limit: usize,
    },

    /// A batch too large to encode within the limit: parquet computes
    /// every leaf's levels for the whole batch, and converts some types'
    /// values (booleans, small integers, wide decimals, fixed-size binary)
    /// in copies of their own, before encoding a column
    /// ([`SpillMonitor::admit`](crate::SpillMonitor::admit)). Below a
    /// list it converts the list's whole child array, and slicing a list
    /// slices its offsets, not its child: a slice of a batch of lists
    /// costs that as the whole batch does (the parts
    /// [`SpillMonitor::admit_in_parts`](crate::SpillMonitor::admit_in_parts)
    /// cuts are copied where that costs less). Nothing of the batch was
    /// written; smaller batches (built smaller, not sliced) may be.
    /// Byte-array minimums and maximums are part of it: parquet keeps the
    /// open page's and the open chunk's whole until the chunk closes,
    /// whatever their truncation, and smaller batches of values as long
    /// need as much.
    #[error(
        "parquet-spill: a batch of {rows} rows needs {needed} bytes while parquet encodes it \
         (levels and converted values beyond the plan's encoders, and {statistics} bytes of \
         byte-array minimums and maximums parquet keeps whole until each chunk closes), which \
         the {limit}-byte memory limit cannot hold beside the plan: write smaller batches, \
         shorter values or fewer columns with statistics, or raise the limit"
    )]
    BatchTooLarge {
        /// The batch's rows.
        rows: usize,
        /// Bytes it needed beyond the plan's reservation.
        needed: usize,
        /// Of `needed`, the minimums and maximums of the longest values
        /// admitted so far that parquet keeps whole while their pages and
        /// chunks are open.
        statistics: usize,
        /// The limit.
        limit: usize,
    },

    /// The rows of a repeated (list or map) leaf hold so many values that
    /// one page of them, up to the plan's page row limit, would need more
    /// than the limit has room for: parquet ends a page by its encoded
    /// size or its rows, and a dictionary's indices, a fixed-length
    /// `DELTA_BYTE_ARRAY` encoder's handles and the levels grow with a
    /// page's values where its encoded size barely does (the levels are
    /// not counted in it at all). Nothing of the batch was written; a plan
    /// from a sample batch ([`SpillOptions::sample`](crate::SpillOptions::sample),
    /// which gives list leaves fewer rows a page) or a smaller
    /// `data_page_row_count_limit` set by the caller (the planner keeps it)
    /// bounds such pages.
    #[error(
        "parquet-spill: leaf column {column} (a list) holds up to {values} values in a page \
         (of up to {rows} rows and a write batch), whose levels, dictionary indices or \
         DELTA_BYTE_ARRAY handles need {needed} bytes beyond the plan, which the {limit}-byte \
         memory limit cannot hold beside what it holds already: plan with a sample batch \
         whose rows are as long as these (SpillOptions::sample), set a smaller \
         data_page_row_count_limit in the writer properties, or raise the limit"
    )]
    PageTooManyValues {
        /// The leaf column's index.
        column: usize,
        /// The most values a page of it may hold, from the batches so far.
        values: usize,
        /// The plan's page row limit (parquet ends a page once a write
        /// batch takes it past that).
        rows: usize,
        /// Bytes the batch needed beyond the plan's reservation.
        needed: usize,
        /// The limit.
        limit: usize,
    },

    /// Encoding a column on a [`ParallelWriter`](crate::ParallelWriter)
    /// worker failed.
    #[error("parquet-spill: encoding column {column} failed: {source}")]
    Encode {
        /// The top-level column.
        column: String,
        /// What parquet or the page store reported.
        #[source]
        source: ParquetError,
    },

    /// A [`ParallelWriter`](crate::ParallelWriter) worker panicked while
    /// encoding a column; the file is not finished.
    #[error("parquet-spill: the worker encoding column {column} panicked: {message}")]
    WorkerPanicked {
        /// The top-level column.
        column: String,
        /// The panic's message.
        message: String,
    },

    /// The writer already failed (the first call that saw the failure
    /// returned it) or is finished; nothing more is written.
    #[error("parquet-spill: the writer cannot continue: {cause}")]
    WriterFailed {
        /// The earlier failure.
        cause: String,
    },

    /// A blob is larger than the store can address.
    #[error("parquet-spill: a blob of {len} bytes is too large to spill")]
    BlobTooLarge {
        /// Length of the blob.
        len: usize,
    },
    /// Uploading a buffer of blobs as an object failed.
    #[cfg(feature = "object_store")]
    #[error("parquet-spill: writing spill object {path} ({len} bytes) failed: {source}")]
    ObjectPut {
        /// The object.
        path: String,
        /// Its length.
        len: usize,
        /// The store's reason.
        source: object_store::Error,
    },

    /// Reading a blob (or a range of blobs read together) back failed.
    #[cfg(feature = "object_store")]
    #[error(
        "parquet-spill: reading {len} bytes at offset {offset} of spill object {path} failed: {source}"
    )]
    ObjectGet {
        /// The object.
        path: String,
        /// Offset of the range in it.
        offset: u64,
        /// Length of the range.
        len: usize,
        /// The store's reason.
        source: object_store::Error,
    },

    /// A ranged read came back with the wrong length.
    #[cfg(feature = "object_store")]
    #[error(
        "parquet-spill: reading {len} bytes at offset {offset} of spill object {path} returned {got} bytes"
    )]
    ObjectShortRead {
        /// The object.
        path: String,
        /// Offset of the range in it.
        offset: u64,
        /// Length of the range.
        len: usize,
        /// Bytes returned.
        got: usize,
    },

    /// A blob read back from an object does not match what was written.
    #[cfg(feature = "object_store")]
    #[error(
        "parquet-spill: checksum mismatch for the {len}-byte blob at offset {offset} of spill \
         object {path} (crc32c expected {expected:#010x}, found {actual:#010x}): the object was altered"
    )]
    ObjectChecksum {
        /// The object.
        path: String,
        /// Offset of the blob in it.
        offset: u64,
        /// Length of the blob.
        len: usize,
        /// CRC32C computed when the blob was written.
        expected: u32,
        /// CRC32C of the bytes read back.
        actual: u32,
    },

    /// The blob was in an object whose upload failed (reported then).
    #[cfg(feature = "object_store")]
    #[error(
        "parquet-spill: the {len}-byte blob at offset {offset} of spill object {path} is lost: \
         uploading that object failed earlier"
    )]
    ObjectLost {
        /// The object.
        path: String,
        /// Offset of the blob in it.
        offset: u64,
        /// Length of the blob.
        len: usize,
    },

    /// Listing or deleting spill objects failed.
    #[cfg(feature = "object_store")]
    #[error("parquet-spill: cleaning up spill objects under {path} failed: {source}")]
    ObjectCleanup {
        /// The prefix or object.
        path: String,
        /// The store's reason.
        source: object_store::Error,
    },

    /// The runtime given for object-store requests is a current-thread runtime.
    #[cfg(feature = "object_store")]
    #[error(
        "parquet-spill: the object-store spill needs a multi-thread tokio runtime (a current-thread \
         runtime runs background uploads only inside its own block_on); pass a multi-thread \
         runtime's handle, or none to let the factory own one"
    )]
    CurrentThreadRuntime,

    /// The helper thread running an object-store request panicked.
    #[cfg(feature = "object_store")]
    #[error("parquet-spill: the thread running an object-store request panicked")]
    RequestPanicked,

    /// The object-store spill could not start its own runtime.
    #[cfg(feature = "object_store")]
    #[error("parquet-spill: cannot start a tokio runtime for the object-store spill: {0}")]
    Runtime(#[source] std::io::Error),
}

/// A cheaper setting that would fit, named by
/// [`Error::BudgetTooSmall`].
///
/// ```
/// let a = parquet_spill::Alternative { codec: "LZ4_RAW".into(), minimum: 90 << 20 };
/// assert_eq!(a.to_string(), "LZ4_RAW needs 94371840 bytes");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alternative {
    /// The codec (as parquet prints it).
    pub codec: String,
    /// The smallest limit that works with it.
    pub minimum: usize,
}

impl std::fmt::Display for Alternative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} needs {} bytes", self.codec, self.minimum)
    }
}

fn alternative_text(alternative: &Option<Alternative>) -> String {
    alternative
        .as_ref()
        .map(|a| format!(" (or less with a cheaper codec: {a})"))
        .unwrap_or_default()
}

/// The crate's result type.
///
/// ```
/// fn plan() -> parquet_spill::Result<usize> {
///     Err(parquet_spill::Error::EmptySchema)
/// }
/// assert!(plan().is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for ParquetError {
    fn from(err: Error) -> Self {
        ParquetError::External(Box::new(err))
    }
}

impl Error {
    /// This crate's error inside `err`, a `ParquetError` from a writer: the
    /// stores hand it to parquet wrapped in `ParquetError::External`, and a
    /// writer may wrap it again with context (a `ParallelWriter` names the
    /// column in [`Error::Encode`]); the innermost is returned, the cause
    /// the context wraps. How a caller tells "the memory limit was
    /// reached" from an I/O failure.
    ///
    /// ```
    /// use parquet::errors::ParquetError;
    /// use parquet_spill::Error;
    /// let err: ParquetError = Error::EmptySchema.into();
    /// assert!(matches!(Error::in_chain(&err), Some(Error::EmptySchema)));
    /// assert!(Error::in_chain(&ParquetError::General("disk on fire".into())).is_none());
    /// ```
    pub fn in_chain(err: &ParquetError) -> Option<&Error> {
        let mut found = find_in_chain::<Error>(err);
        // Through a wrapper's source to the error it wraps.
        while let Some(inner) = found
            .and_then(std::error::Error::source)
            .and_then(|source| source.downcast_ref::<ParquetError>())
            .and_then(find_in_chain::<Error>)
        {
            found = Some(inner);
        }
        found
    }
}

/// The first error of type `T` in `err`'s chain of sources.
pub(crate) fn find_in_chain<T: std::error::Error + 'static>(err: &ParquetError) -> Option<&T> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = match err {
        ParquetError::External(inner) => Some(inner.as_ref()),
        _ => None,
    };
    while let Some(error) = next {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        next = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_chain_finds_the_cause_a_column_wraps() {
        let cause: ParquetError = Error::BatchTooLarge {
            rows: 10,
            needed: 1,
            statistics: 0,
            limit: 1,
        }
        .into();
        let err: ParquetError = Error::Encode {
            column: "c".into(),
            source: cause,
        }
        .into();
        assert!(
            matches!(
                Error::in_chain(&err),
                Some(Error::BatchTooLarge { rows: 10, .. })
            ),
            "{err}"
        );
        // The wrapper alone is still found.
        let err: ParquetError = Error::Encode {
            column: "c".into(),
            source: ParquetError::General("disk on fire".into()),
        }
        .into();
        assert!(matches!(Error::in_chain(&err), Some(Error::Encode { .. })));
    }

    #[test]
    fn converts_into_parquet_error_keeping_the_message_and_type() {
        let err: ParquetError = Error::Checksum {
            dir: "/scratch".into(),
            offset: 4096,
            len: 10,
            expected: 1,
            actual: 2,
        }
        .into();
        let msg = err.to_string();
        assert!(msg.contains("offset 4096"), "{msg}");
        assert!(msg.contains("checksum mismatch"), "{msg}");
        let ParquetError::External(inner) = err else {
            panic!("expected an External error");
        };
        assert!(inner.downcast_ref::<Error>().is_some());
    }
}
