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

    /// The budget cannot hold the encoders of this schema even at the
    /// smallest page, dictionary and batch sizes the planner will use.
    #[error(
        "parquet-spill: a memory limit of {limit} bytes is too small for {columns} leaf columns; \
         the smallest limit that works is {minimum} bytes"
    )]
    BudgetTooSmall {
        /// The limit given.
        limit: usize,
        /// Leaf columns in the schema.
        columns: usize,
        /// The smallest limit the planner can fit.
        minimum: usize,
    },

    /// Planned writer settings conflict with settings the caller fixed.
    #[error("parquet-spill: {0}")]
    Plan(String),

    /// A blob is larger than the store can address.
    #[error("parquet-spill: a blob of {len} bytes is too large to spill")]
    BlobTooLarge {
        /// Length of the blob.
        len: usize,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for ParquetError {
    fn from(err: Error) -> Self {
        ParquetError::External(Box::new(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
