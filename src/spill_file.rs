//! One shared, unlinked spill file with positional I/O and checksums.
//!
//! Why one file: a writer creates a store per leaf column per row group, all
//! alive at once. A file per store means a 1,500-column schema needs 1,500
//! descriptors (past the usual `ulimit -n 1024`). Here every store of a factory
//! writes into the same file at offsets handed out by a free-list allocator,
//! so descriptors stay at one per factory whatever the schema.
//!
//! Why positional I/O: `pwrite`/`pread` carry their own offset, so stores on
//! many threads (the `ArrowRowGroupWriterFactory` column-per-thread path) share
//! the descriptor without a lock around a seek + write pair. The allocator's
//! mutex is held only to pick or release an offset, never across a blob's
//! read or write (only across the truncation when the file empties).
//!
//! Why unlinked: the file is created with `O_TMPFILE` where the OS has it
//! (otherwise created and removed at once) and owner-only (`0600`), so a
//! panic, `kill -9` or power cut leaves nothing behind in the spill directory
//! and other users cannot read the spilled pages.
//!
//! Why checksums: a spilled page comes back from a disk we do not control.
//! Each blob's CRC32C stays on the heap with its handle; a flipped bit or a
//! short read is an [`Error`], never a silently different Parquet file.
//!
//! Why one spare read buffer: a row group is spliced by reading its pages
//! back one at a time, each written out and dropped before the next is read.
//! A fresh buffer per page is a fresh mapping under a small mmap threshold
//! (page faults, the kernel zeroing it, an `munmap`), on the thread that
//! every other column waits for. The buffer of the last page read comes back
//! when its reader drops it, and the next read of no more than its size, and
//! at least half of it, reuses it. It is released when the file empties (a
//! row group is spliced), so between row groups nothing is kept.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::extents::Extents;
use crate::metrics::{HeapGauge, SpillMetrics, SpillStats};

/// Where one spilled blob lives, and its checksum.
///
/// Returned by [`SpillFile::write`] and consumed by [`SpillFile::take`] or
/// [`SpillFile::free`]: it is neither `Copy` nor `Clone`, so a blob's space
/// cannot be released twice (which would hand one range to two blobs).
///
/// ```
/// use parquet_spill::spill_file::SpillFile;
/// let file = SpillFile::create_in(&std::env::temp_dir())?;
/// let extent = file.write(b"page bytes")?;
/// assert_eq!((extent.offset(), extent.len()), (0, 10));
/// assert_eq!(file.stats().file_bytes_live, 10);
/// let page = file.take(extent)?; // consumes the extent: its space is free again
/// assert_eq!(&page[..], b"page bytes");
/// assert_eq!(file.stats().file_bytes_live, 0);
/// # Ok::<(), parquet_spill::Error>(())
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct Extent {
    offset: u64,
    len: u64,
    crc: u32,
}

impl Extent {
    /// Rebuild an extent a store recorded in its own compact form.
    pub(crate) fn from_parts(offset: u64, len: u64, crc: u32) -> Self {
        Self { offset, len, crc }
    }

    /// Byte offset in the spill file.
    ///
    /// Blobs written one after another are laid out back to back:
    ///
    /// ```
    /// use parquet_spill::spill_file::SpillFile;
    /// let file = SpillFile::create_in(&std::env::temp_dir())?;
    /// let first = file.write(&[1u8; 33])?;
    /// let second = file.write(&[2u8; 7])?;
    /// assert_eq!(first.offset(), 0);
    /// assert_eq!(second.offset(), 33);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Length in bytes.
    ///
    /// ```
    /// use parquet_spill::spill_file::SpillFile;
    /// let file = SpillFile::create_in(&std::env::temp_dir())?;
    /// let extent = file.write(&[0u8; 4096])?;
    /// assert_eq!(extent.len(), 4096);
    /// assert_eq!(file.stats().file_len, extent.offset() + extent.len());
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the blob is empty.
    ///
    /// An empty blob takes no space in the file and still reads back:
    ///
    /// ```
    /// use parquet_spill::spill_file::SpillFile;
    /// let file = SpillFile::create_in(&std::env::temp_dir())?;
    /// let empty = file.write(b"")?;
    /// assert!(empty.is_empty());
    /// assert_eq!(file.stats().file_len, 0);
    /// assert!(file.take(empty)?.is_empty());
    /// assert!(!file.write(b"x")?.is_empty());
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// CRC32C of the bytes written.
    ///
    /// ```
    /// use parquet_spill::spill_file::SpillFile;
    /// let file = SpillFile::create_in(&std::env::temp_dir())?;
    /// // The CRC32C (Castagnoli) check value of "123456789".
    /// assert_eq!(file.write(b"123456789")?.crc(), 0xE306_9283);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn crc(&self) -> u32 {
        self.crc
    }
}

/// A shared, unlinked, owner-only temporary file that blobs are spilled into.
///
/// Cheap to share (`Arc<SpillFile>`), safe to use from many threads.
///
/// ```
/// use parquet_spill::spill_file::SpillFile;
/// let file = SpillFile::create_in(&std::env::temp_dir())?;
/// let extent = file.write(b"hello page")?;
/// assert_eq!(&file.take(extent)?[..], b"hello page");
/// assert_eq!(file.stats().file_len, 0, "space is released once taken");
/// # Ok::<(), parquet_spill::Error>(())
/// ```
pub struct SpillFile {
    file: File,
    dir: PathBuf,
    extents: Mutex<Extents>,
    metrics: SpillMetrics,
    /// The last read's buffer, once its reader has dropped it.
    spare: Arc<Mutex<Spare>>,
}

/// The spare read buffer, kept only while the file holds blobs.
#[derive(Debug, Default)]
struct Spare {
    buf: Option<Vec<u8>>,
    /// False once the file has emptied, until the next write.
    holding: bool,
}

/// A read blob's buffer, returned to its file as the spare when dropped.
struct Lent {
    buf: Vec<u8>,
    len: usize,
    spare: Arc<Mutex<Spare>>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.holding {
            spare.buf = Some(buf);
        }
    }
}

impl SpillFile {
    /// Create an unlinked spill file in `dir`.
    ///
    /// Fails with [`Error::SpillDir`] if `dir` is missing or not a directory
    /// and with [`Error::CreateSpillFile`] if it is not writable.
    ///
    /// ```
    /// use std::path::Path;
    /// use parquet_spill::{spill_file::SpillFile, Error};
    /// let dir = tempfile::tempdir()?;
    /// let file = SpillFile::create_in(dir.path())?;
    /// assert_eq!(std::fs::read_dir(dir.path())?.count(), 0, "unlinked: nothing to list");
    /// assert_eq!(file.stats().file_len, 0);
    ///
    /// let err = SpillFile::create_in(Path::new("/definitely/not/here")).unwrap_err();
    /// assert!(matches!(err, Error::SpillDir { .. }), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_in(dir: &Path) -> Result<Self> {
        let meta = std::fs::metadata(dir).map_err(|source| Error::SpillDir {
            path: dir.to_path_buf(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(Error::SpillDir {
                path: dir.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        let create_error = |source| Error::CreateSpillFile {
            path: dir.to_path_buf(),
            source,
        };
        let file = tempfile::tempfile_in(dir).map_err(create_error)?;
        // `O_TMPFILE` files get the umask's mode (often 0644); nothing has been
        // written yet, so restrict the file before any page reaches it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(create_error)?;
        }
        Ok(Self {
            file,
            dir: dir.to_path_buf(),
            extents: Mutex::new(Extents::default()),
            metrics: SpillMetrics::default(),
            spare: Arc::default(),
        })
    }

    /// The directory the file was created in.
    ///
    /// ```
    /// use parquet_spill::spill_file::SpillFile;
    /// let dir = tempfile::tempdir()?;
    /// let file = SpillFile::create_in(dir.path())?;
    /// assert_eq!(file.dir(), dir.path());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Spill `data`, returning where it went. Nothing is allocated if the write fails.
    ///
    /// ```
    /// use parquet_spill::spill_file::SpillFile;
    /// let file = SpillFile::create_in(&std::env::temp_dir())?;
    /// let a = file.write(&[1u8; 100])?;
    /// let b = file.write(&[2u8; 50])?;
    /// let stats = file.stats();
    /// assert_eq!((stats.blobs_spilled, stats.bytes_spilled), (2, 150));
    /// assert_eq!(stats.file_len, 150);
    /// assert_eq!(&file.take(b)?[..], &[2u8; 50][..]);
    /// file.free(a);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn write(&self, data: &[u8]) -> Result<Extent> {
        let len = data.len() as u64;
        let crc = crc32c::crc32c(data);
        if len == 0 {
            return Ok(Extent {
                offset: 0,
                len,
                crc,
            });
        }
        let offset = {
            let mut extents = self.lock();
            if extents.end() == 0 {
                self.spare().holding = true;
            }
            let offset = extents.allocate(len);
            self.metrics.record_file(extents.live(), extents.end());
            offset
        };
        let start = Instant::now();
        if let Err(source) = pio::write_all_at(&self.file, data, offset) {
            self.free(Extent::from_parts(offset, len, crc));
            return Err(Error::Write {
                dir: self.dir.clone(),
                offset,
                len: data.len(),
                source,
            });
        }
        self.metrics.record_spill(len, start.elapsed());
        Ok(Extent { offset, len, crc })
    }

    /// Read a blob back, verify its checksum and release its space.
    ///
    /// The space is released even when the read fails: the key is spent.
    ///
    /// Freed space is reused by the next write:
    ///
    /// ```
    /// use parquet_spill::spill_file::SpillFile;
    /// let file = SpillFile::create_in(&std::env::temp_dir())?;
    /// let first = file.write(&[1u8; 64])?;
    /// let _keep = file.write(&[2u8; 64])?;
    /// assert_eq!(&file.take(first)?[..], &[1u8; 64][..]);
    /// assert_eq!(file.stats().file_bytes_live, 64);
    /// assert_eq!(file.write(&[3u8; 64])?.offset(), 0, "the taken blob's range is reused");
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn take(&self, extent: Extent) -> Result<Bytes> {
        let result = self.read(&extent);
        self.free(extent);
        result
    }

    /// Read a blob back and verify its checksum, keeping its space allocated.
    ///
    /// ```
    /// use parquet_spill::spill_file::SpillFile;
    /// let file = SpillFile::create_in(&std::env::temp_dir())?;
    /// let extent = file.write(b"read me twice")?;
    /// assert_eq!(file.read(&extent)?, file.read(&extent)?);
    /// let stats = file.stats();
    /// assert_eq!((stats.blobs_read, stats.bytes_read), (2, 26));
    /// assert_eq!(stats.file_bytes_live, 13, "still allocated");
    /// file.free(extent);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn read(&self, extent: &Extent) -> Result<Bytes> {
        let Extent { offset, len, crc } = *extent;
        let as_usize = usize::try_from(len).map_err(|_| Error::BlobTooLarge {
            len: usize::MAX, // only reachable on 32-bit targets
        })?;
        let start = Instant::now();
        let mut buf = self.buffer_for(as_usize);
        let read = &mut buf[..as_usize];
        pio::read_exact_at(&self.file, read, offset).map_err(|source| Error::Read {
            dir: self.dir.clone(),
            offset,
            len: as_usize,
            source,
        })?;
        let actual = crc32c::crc32c(read);
        if actual != crc {
            return Err(Error::Checksum {
                dir: self.dir.clone(),
                offset,
                len: as_usize,
                expected: crc,
                actual,
            });
        }
        self.metrics.record_read(len, start.elapsed());
        Ok(Bytes::from_owner(Lent {
            buf,
            len: as_usize,
            spare: Arc::clone(&self.spare),
        }))
    }

    /// At least `len` bytes to read into: the spare buffer if it is no more
    /// than twice as large, or a new one.
    fn buffer_for(&self, len: usize) -> Vec<u8> {
        let spare = self.spare().buf.take();
        match spare {
            Some(buf) if (len..=len.saturating_mul(2)).contains(&buf.len()) => buf,
            _ => vec![0u8; len],
        }
    }

    /// Release a blob's space without reading it (for stores dropped early).
    ///
    /// When the last blob goes, the file is truncated to give the disk back:
    ///
    /// ```
    /// use parquet_spill::spill_file::SpillFile;
    /// let file = SpillFile::create_in(&std::env::temp_dir())?;
    /// let extent = file.write(&[9u8; 1000])?;
    /// file.free(extent);
    /// let stats = file.stats();
    /// assert_eq!((stats.file_len, stats.blobs_read), (0, 0));
    /// assert_eq!(stats.peak_file_len, 1000);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn free(&self, extent: Extent) {
        if extent.len == 0 {
            return;
        }
        let mut extents = self.lock();
        extents.free(extent.offset, extent.len);
        if extents.end() == 0 {
            // Every blob is gone (a row group was spliced): give the disk
            // blocks back. Done under the lock so no write can race it; a
            // failure only means the blocks are kept, which is harmless.
            let _ = self.file.set_len(0);
            *self.spare() = Spare::default();
        }
        self.metrics.record_file(extents.live(), extents.end());
    }

    /// Counters for this file and every store writing to it.
    /// Blobs kept on the heap are the stores' business: `heap_bytes` is 0
    /// here ([`FileStoreFactory::stats`](crate::FileStoreFactory::stats) fills it).
    ///
    /// ```
    /// use parquet_spill::spill_file::SpillFile;
    /// let file = SpillFile::create_in(&std::env::temp_dir())?;
    /// let extent = file.write(&[5u8; 300])?;
    /// let stats = file.stats();
    /// assert_eq!((stats.file_bytes_live, stats.file_len, stats.heap_bytes), (300, 300, 0));
    /// file.take(extent)?;
    /// assert_eq!(file.stats().bytes_read, 300);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn stats(&self) -> SpillStats {
        self.metrics.snapshot(&HeapGauge::default())
    }

    /// The live counters.
    pub(crate) fn metrics(&self) -> &SpillMetrics {
        &self.metrics
    }

    /// The underlying file, for tests that inspect or damage spilled bytes.
    ///
    /// ```
    /// use parquet_spill::{spill_file::SpillFile, Error};
    /// let file = SpillFile::create_in(&std::env::temp_dir())?;
    /// let extent = file.write(&[1u8; 100])?;
    /// assert_eq!(file.raw_file().metadata()?.len(), 100);
    /// file.raw_file().set_len(50)?; // lose the blob's tail
    /// assert!(matches!(file.read(&extent), Err(Error::Read { offset: 0, len: 100, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(hidden)]
    pub fn raw_file(&self) -> &File {
        &self.file
    }

    /// The spare buffer's slot (taken after the extents' lock, never before).
    fn spare(&self) -> MutexGuard<'_, Spare> {
        self.spare.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self) -> MutexGuard<'_, Extents> {
        // Nothing that runs under this lock can panic half-way through an
        // update (the allocator only does arithmetic on lengths it was given),
        // so a poisoned lock still guards consistent bookkeeping.
        self.extents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for SpillFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stats = self.stats();
        f.debug_struct("SpillFile")
            .field("dir", &self.dir)
            .field("file_len", &stats.file_len)
            .field("file_bytes_live", &stats.file_bytes_live)
            .finish_non_exhaustive()
    }
}

/// Positional I/O on both Unix (`pread`/`pwrite`) and Windows (`seek_read`/`seek_write`).
mod pio {
    use std::fs::File;
    use std::io;

    #[cfg(unix)]
    pub(super) fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
    }

    #[cfg(unix)]
    pub(super) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }

    #[cfg(windows)]
    pub(super) fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            match file.seek_write(buf, offset)? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => {
                    buf = &buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }

    #[cfg(windows)]
    pub(super) fn read_exact_at(
        file: &File,
        mut buf: &mut [u8],
        mut offset: u64,
    ) -> io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            match file.seek_read(buf, offset)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn file() -> SpillFile {
        SpillFile::create_in(&std::env::temp_dir()).unwrap()
    }

    #[test]
    fn a_read_buffer_is_reused_while_the_file_holds_blobs() {
        let f = file();
        let extents: Vec<Extent> = (0..4u8).map(|i| f.write(&[i; 5000]).unwrap()).collect();
        let mut extents = extents.into_iter();
        let first = f.take(extents.next().unwrap()).unwrap();
        let ptr = first.as_ptr();
        assert!(f.spare().buf.is_none(), "lent out");
        drop(first);
        let second = f.take(extents.next().unwrap()).unwrap();
        assert_eq!(second.as_ptr(), ptr, "the same buffer");
        assert_eq!(&second[..], &[1u8; 5000][..]);
        drop(second);
        // A read of less than half the spare gets a buffer of its own.
        let small = f.write(&[9; 100]).unwrap();
        let small = f.take(small).unwrap();
        assert_ne!(small.as_ptr(), ptr);
        assert_eq!(&small[..], &[9u8; 100][..]);
        let third = f.take(extents.next().unwrap()).unwrap();
        drop((small, third));
        assert!(f.spare().buf.is_some(), "the file still holds a blob");
        let last = f.take(extents.next().unwrap()).unwrap();
        assert!(f.spare().buf.is_none(), "the file emptied");
        drop(last);
        assert!(f.spare().buf.is_none(), "nothing kept between row groups");
        let again = f.write(&[7; 5000]).unwrap();
        drop(f.take(again).unwrap());
        assert!(f.spare().buf.is_none());
    }

    #[test]
    fn missing_directory_is_a_clear_error() {
        let err = SpillFile::create_in(Path::new("/definitely/not/here")).unwrap_err();
        assert!(matches!(err, Error::SpillDir { .. }), "{err}");
        assert!(err.to_string().contains("/definitely/not/here"));
    }

    #[test]
    fn a_regular_file_is_not_a_spill_directory() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let err = SpillFile::create_in(f.path()).unwrap_err();
        assert!(matches!(err, Error::SpillDir { .. }), "{err}");
    }

    #[test]
    fn flipped_byte_is_a_checksum_error_naming_offset_and_length() {
        let f = file();
        let _pad = f.write(&[7u8; 33]).unwrap();
        let e = f.write(b"important page bytes").unwrap();
        pio::write_all_at(f.raw_file(), b"X", e.offset + 3).unwrap();
        let err = f.take(e).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Checksum {
                    offset: 33,
                    len: 20,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn truncated_file_is_a_short_read_error() {
        let f = file();
        let e = f.write(&[1u8; 100]).unwrap();
        f.raw_file().set_len(50).unwrap();
        let err = f.read(&e).unwrap_err();
        match err {
            Error::Read {
                offset: 0,
                len: 100,
                source,
                ..
            } => {
                assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof)
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn concurrent_writers_and_readers_see_their_own_bytes() {
        let f = Arc::new(file());
        let handles: Vec<_> = (0..8u8)
            .map(|t| {
                let f = Arc::clone(&f);
                std::thread::spawn(move || {
                    for round in 0..20usize {
                        let blobs: Vec<_> = (0..50usize)
                            .map(|i| {
                                let data = vec![t ^ (i as u8); 1 + (i * 31 + round) % 700];
                                (f.write(&data).unwrap(), data)
                            })
                            .collect();
                        for (e, data) in blobs {
                            assert_eq!(&f.take(e).unwrap()[..], &data[..]);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let stats = f.stats();
        assert_eq!(stats.file_bytes_live, 0);
        assert_eq!(stats.file_len, 0);
        assert_eq!(f.raw_file().metadata().unwrap().len(), 0);
        assert_eq!(stats.blobs_spilled, 8 * 20 * 50);
    }
}
