//! Arrow IPC files read block by block into recycled buffers.
//!
//! Why not arrow's `FileReader`: it reads every record batch into a fresh
//! 64-byte-aligned buffer that it zeroes before reading into it. Under the
//! CLI's 64 KiB mmap threshold (which keeps the resident set at the heap)
//! every such buffer is a new mapping, so each batch costs page faults, the
//! kernel zeroing the pages, arrow zeroing them again and an `munmap` with
//! its TLB shootdowns on the writer's other threads. Here a buffer goes back
//! to the reader when the writer drops the last array that points into it,
//! and the next block is read into it (arrow's `FileDecoder`, zero-copy as
//! before). README ("All cores") has the conversion times before and after.
//!
//! Idle buffers are input memory too: they are reserved in the same pool
//! that counts the batches in flight ([`super::HeldInput`]), and at most
//! [`KEEP`] of them wait for reuse.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{anyhow, Context, Result};
use arrow_array::RecordBatch;
use arrow_buffer::{Buffer, MemoryPool, MemoryReservation};
#[cfg(test)]
use arrow_ipc::reader::FileReader;
use arrow_ipc::reader::{read_footer_length, FileDecoder, StreamReader};
use arrow_ipc::{Block, MetadataVersion};
use arrow_schema::{ArrowError, SchemaRef};

use super::held::{Gate, Reserved};

/// Idle read buffers kept for the next blocks.
const KEEP: usize = 2;

/// The bytes of an IPC file's magic (`ARROW1`) and its padding to 8.
const MAGIC_BYTES: u64 = 8;
/// The most zero padding skipped before an IPC file's schema message
/// (writers align it to at most 64 bytes).
const MAX_PADDING: u64 = 1024;

/// The schema of the IPC file at `path`, read without reading a
/// dictionary, after its footer was checked ([`Footer::read`]).
///
/// Why: arrow's `FileReader::try_new` reads every dictionary batch before
/// it returns, so a file whose dictionaries are larger than the memory
/// limit was read whole before the plan (which counts them,
/// [`Footer::dictionary_bytes`]) could refuse it. A file holds its stream
/// between the magic and the footer, the schema message first, so arrow's
/// `StreamReader` reads that message and stops there. Zero bytes before it
/// are padding (arrow-rs aligns the first message to 64 bytes; a message
/// starts with a continuation marker or a length, never four zero bytes).
/// Not the footer's copy through `fb_to_schema`: arrow 60 deprecates it
/// for panicking on a malformed schema, and arrow 59, which this crate also
/// builds on, has no `try_fb_to_schema`.
pub fn schema(path: &Path) -> Result<SchemaRef> {
    let context = || format!("reading the schema message of {}", path.display());
    let file = Footer::read(path)?.file;
    let mut reader = BufReader::new(file);
    reader
        .seek(SeekFrom::Start(MAGIC_BYTES))
        .with_context(context)?;
    let mut skipped = 0;
    while skipped < MAX_PADDING {
        match reader.fill_buf().with_context(context)? {
            [0, 0, 0, 0, ..] => reader.consume(4),
            _ => break,
        }
        skipped += 4;
    }
    Ok(StreamReader::try_new(reader, None)?.schema())
}

/// What an IPC file's footer says: the blocks, checked to lie within the
/// file, and the format version.
pub struct Footer {
    file: File,
    path: PathBuf,
    version: MetadataVersion,
    dictionaries: Vec<Stored>,
    batches: Vec<Stored>,
}

/// A block and the bytes it spans in the file.
#[derive(Debug, Clone, Copy)]
struct Stored {
    block: Block,
    offset: u64,
    len: usize,
}

impl Footer {
    /// Open `path` and read its footer.
    pub fn read(path: &Path) -> Result<Self> {
        let context = || format!("reading the footer of {}", path.display());
        let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut trailer = [0u8; 10];
        let len = file.seek(SeekFrom::End(0)).with_context(context)?;
        if len < trailer.len() as u64 {
            return Err(anyhow!(
                "{} is too short for an Arrow IPC file",
                path.display()
            ));
        }
        file.seek(SeekFrom::End(-(trailer.len() as i64)))
            .and_then(|_| file.read_exact(&mut trailer))
            .with_context(context)?;
        let footer_len = read_footer_length(trailer).with_context(context)?;
        let start = (len - trailer.len() as u64)
            .checked_sub(footer_len as u64)
            .ok_or_else(|| anyhow!("{}: the footer is longer than the file", path.display()))?;
        let mut bytes = vec![0u8; footer_len];
        file.read_exact_at(&mut bytes, start)
            .with_context(context)?;
        let footer = arrow_ipc::root_as_footer(&bytes)
            .map_err(|e| anyhow!("{}: {e}", path.display()))
            .with_context(context)?;
        Ok(Self {
            version: footer.version(),
            dictionaries: (footer.dictionaries().into_iter().flatten())
                .map(|b| Stored::locate(*b, path, len))
                .collect::<Result<_>>()?,
            batches: (footer.recordBatches().into_iter().flatten())
                .map(|b| Stored::locate(*b, path, len))
                .collect::<Result<_>>()?,
            file,
            path: path.to_path_buf(),
        })
    }

    /// The most bytes two consecutive record batches hold once read: the
    /// writer may still hold slices of one batch while the next is read. A
    /// compressed batch holds its block (buffers stored uncompressed are
    /// slices of it) and every buffer decompressed, whose sizes are read
    /// from the block ([`Footer::held_bytes`]).
    pub fn batch_pair_bytes(&self) -> Result<u64> {
        let sizes: Vec<u64> = self
            .batches
            .iter()
            .map(|b| self.held_bytes(b))
            .collect::<Result<_>>()?;
        let pairs = sizes.windows(2).map(|w| w[0].saturating_add(w[1]));
        Ok(pairs.chain(sizes.first().copied()).max().unwrap_or(0))
    }

    /// The bytes the dictionaries hold once read: every dictionary batch is
    /// read before the first record batch and kept to the end.
    pub fn dictionary_bytes(&self) -> Result<u64> {
        self.dictionaries
            .iter()
            .try_fold(0u64, |sum, d| Ok(sum.saturating_add(self.held_bytes(d)?)))
    }

    /// The bytes `stored` holds once read: the block, and for a compressed
    /// batch each buffer's decompressed length (the eight bytes before each
    /// compressed buffer in the body; -1 for one stored as it is).
    fn held_bytes(&self, stored: &Stored) -> Result<u64> {
        let context = || {
            format!(
                "reading a record batch's metadata in {}",
                self.path.display()
            )
        };
        let meta_len = usize::try_from(stored.block.metaDataLength())?;
        let mut meta = vec![0u8; meta_len];
        self.file
            .read_exact_at(&mut meta, stored.offset)
            .with_context(context)?;
        let message = match meta.get(..4) {
            // The continuation marker (format 0.15 on), then the length.
            Some([0xff, 0xff, 0xff, 0xff]) => meta.get(8..),
            _ => meta.get(4..),
        };
        let message = message
            .and_then(|m| arrow_ipc::root_as_message(m).ok())
            .ok_or_else(|| {
                anyhow!(
                    "{}: a record batch's metadata is malformed",
                    self.path.display()
                )
            })?;
        let body = stored.offset + meta_len as u64;
        let decompressed = decompressed_bytes(&message, |at| {
            let mut prefix = [0u8; 8];
            self.file
                .read_exact_at(&mut prefix, body + at)
                .with_context(context)?;
            Ok(prefix)
        })?;
        Ok((stored.len as u64).saturating_add(decompressed))
    }

    /// Read the record batches of a file whose schema is `schema`, into
    /// buffers whose idle bytes are reserved in `pool`, counting bytes read
    /// in `bytes_read`; the dictionaries, read first, are counted in `gate`
    /// as the plan's reservation for this reader covers them
    /// ([`Gate::claim_reserved`]; a compressed dictionary's decompressed
    /// buffers are counted by the batches that point into them).
    pub fn batches(
        self,
        schema: SchemaRef,
        bytes_read: Arc<AtomicU64>,
        pool: &dyn MemoryPool,
        gate: &Gate,
    ) -> Result<Batches> {
        let mut decoder = FileDecoder::new(schema, self.version);
        let mut dictionaries = Vec::with_capacity(self.dictionaries.len());
        for stored in &self.dictionaries {
            let mut buf = vec![0u8; stored.len];
            self.file
                .read_exact_at(&mut buf, stored.offset)
                .with_context(|| format!("reading a dictionary of {}", self.path.display()))?;
            bytes_read.fetch_add(stored.len as u64, Ordering::Relaxed);
            let buf = Buffer::from(buf);
            dictionaries.push(gate.claim_reserved(&buf));
            decoder.read_dictionary(&stored.block, &buf)?;
        }
        Ok(Batches {
            footer: self,
            decoder,
            _dictionaries: dictionaries,
            next: 0,
            buffers: Arc::new(Recycler {
                idle: Mutex::new(Idle {
                    buffers: Vec::new(),
                    reservation: pool.reserve(0),
                }),
            }),
            bytes_read,
        })
    }
}

/// What a record (or dictionary) batch message's buffers take once
/// decompressed: each compressed buffer's length, the eight bytes before
/// it in the body, read by `prefix` from its offset in the body (-1 for a
/// buffer stored as it is); 0 for an uncompressed batch or other messages.
pub fn decompressed_bytes(
    message: &arrow_ipc::Message<'_>,
    mut prefix: impl FnMut(u64) -> Result<[u8; 8]>,
) -> Result<u64> {
    let batch = message.header_as_record_batch().or_else(|| {
        message
            .header_as_dictionary_batch()
            .and_then(|dictionary| dictionary.data())
    });
    let Some(batch) = batch.filter(|b| b.compression().is_some()) else {
        return Ok(0);
    };
    let mut decompressed = 0u64;
    for buffer in batch.buffers().into_iter().flatten() {
        if buffer.length() < 8 {
            continue;
        }
        let at = u64::try_from(buffer.offset())
            .map_err(|_| anyhow!("a buffer at a negative offset {}", buffer.offset()))?;
        let length = u64::try_from(i64::from_le_bytes(prefix(at)?)).unwrap_or(0);
        decompressed = decompressed.saturating_add(length);
    }
    Ok(decompressed)
}

impl Stored {
    /// Where `block` lies in the file at `path` of `file_len` bytes; an
    /// error if outside it.
    fn locate(block: Block, path: &Path, file_len: u64) -> Result<Self> {
        let offset = u64::try_from(block.offset()).ok();
        let len = u64::try_from(block.metaDataLength())
            .ok()
            .zip(u64::try_from(block.bodyLength()).ok())
            .and_then(|(meta, body)| meta.checked_add(body));
        match (offset, len) {
            (Some(offset), Some(len))
                if offset.checked_add(len).is_some_and(|end| end <= file_len) =>
            {
                Ok(Self {
                    block,
                    offset,
                    len: usize::try_from(len)?,
                })
            }
            _ => Err(anyhow!(
                "{}: a block at offset {} of {} bytes lies outside the file ({file_len} bytes)",
                path.display(),
                block.offset(),
                i128::from(block.metaDataLength()) + i128::from(block.bodyLength()),
            )),
        }
    }
}

/// The record batches of an IPC file, in file order.
pub struct Batches {
    footer: Footer,
    decoder: FileDecoder,
    /// The dictionaries' count as the reader's, while it reads.
    _dictionaries: Vec<Reserved>,
    next: usize,
    buffers: Arc<Recycler>,
    bytes_read: Arc<AtomicU64>,
}

impl Batches {
    fn read(&self, stored: Stored) -> Result<Option<RecordBatch>, ArrowError> {
        let Stored { block, offset, len } = stored;
        let mut buf = self.buffers.take(len);
        self.footer.file.read_exact_at(&mut buf[..len], offset)?;
        self.bytes_read.fetch_add(len as u64, Ordering::Relaxed);
        let whole = Buffer::from(bytes::Bytes::from_owner(Recycled {
            buf,
            home: Arc::clone(&self.buffers),
        }));
        self.decoder
            .read_record_batch(&block, &whole.slice_with_length(0, len))
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(stored) = self.footer.batches.get(self.next).copied() {
            self.next += 1;
            match self.read(stored) {
                Ok(None) => continue,
                result => return result.transpose(),
            }
        }
        None
    }
}

/// Read buffers waiting for reuse, and their reservation.
struct Recycler {
    idle: Mutex<Idle>,
}

struct Idle {
    buffers: Vec<Vec<u8>>,
    reservation: Box<dyn MemoryReservation>,
}

impl Idle {
    fn reserve_what_waits(&mut self) {
        let bytes = self.buffers.iter().map(Vec::len).sum();
        self.reservation.resize(bytes);
    }
}

impl Recycler {
    /// A buffer of at least `len` initialised bytes: a waiting one unless it
    /// is more than twice as large (its whole length is counted while the
    /// batch lives), or a new one.
    fn take(&self, len: usize) -> Vec<u8> {
        let mut buf = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            let buf = idle.buffers.pop().unwrap_or_default();
            idle.reserve_what_waits();
            buf
        };
        if buf.len() > len.saturating_mul(2) {
            buf = Vec::new();
        }
        if buf.len() < len {
            buf.reserve_exact(len - buf.len());
            buf.resize(len, 0);
        }
        buf
    }

    fn give_back(&self, buf: Vec<u8>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.buffers.len() < KEEP {
            idle.buffers.push(buf);
            idle.reserve_what_waits();
        }
    }
}

/// A read buffer that goes back to its reader when the last array using it
/// is dropped.
struct Recycled {
    buf: Vec<u8>,
    home: Arc<Recycler>,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        self.home.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::{Array, Int64Array};
    use arrow_buffer::TrackingMemoryPool;

    use super::*;

    fn ipc_file(dir: &Path, batches: usize) -> PathBuf {
        let path = dir.join("in.arrow");
        let batch = RecordBatch::try_from_iter([(
            "x",
            Arc::new(Int64Array::from_iter_values(0..1000)) as Arc<dyn Array>,
        )])
        .unwrap();
        let mut w =
            arrow_ipc::writer::FileWriter::try_new(File::create(&path).unwrap(), &batch.schema())
                .unwrap();
        for _ in 0..batches {
            w.write(&batch).unwrap();
        }
        w.finish().unwrap();
        path
    }

    #[test]
    fn buffers_are_reused_and_idle_ones_reserved() {
        let dir = tempfile::tempdir().unwrap();
        let path = ipc_file(dir.path(), 3);
        let footer = Footer::read(&path).unwrap();
        let block_bytes = footer.batches[0].len as u64;
        let schema = super::schema(&path).unwrap();
        assert_eq!(
            schema,
            FileReader::try_new(File::open(&path).unwrap(), None)
                .unwrap()
                .schema(),
            "the schema message's schema is the footer's"
        );
        let pool = TrackingMemoryPool::default();
        let read = Arc::new(AtomicU64::new(0));
        let held = super::super::HeldInput::new(None, 0, usize::MAX).unwrap();
        let mut batches = footer
            .batches(schema, Arc::clone(&read), &pool, &held.gate())
            .unwrap();
        let first = batches.next().unwrap().unwrap();
        let data = first.column(0).to_data().buffers()[0].as_ptr();
        assert_eq!(pool.used(), 0, "a buffer in use is the batch's to count");
        drop(first);
        assert!(pool.used() >= 8000, "the idle buffer is reserved");
        let second = batches.next().unwrap().unwrap();
        assert_eq!(
            second.column(0).to_data().buffers()[0].as_ptr(),
            data,
            "reused"
        );
        assert_eq!(pool.used(), 0);
        let third = batches.next().unwrap().unwrap();
        assert!(batches.next().is_none());
        drop((second, third));
        assert!(pool.used() >= 16000, "two wait");
        assert_eq!(read.load(Ordering::Relaxed), block_bytes * 3);
    }

    #[test]
    fn a_block_outside_the_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = ipc_file(dir.path(), 1);
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(Footer::read(&path).is_ok());
        let beyond = Block::new(len as i64 - 8, 8, 1 << 20);
        let err = format!("{:#}", Stored::locate(beyond, &path, len).unwrap_err());
        assert!(
            err.contains("in.arrow") && err.contains("outside the file"),
            "{err}"
        );
        assert!(Stored::locate(Block::new(-8, 8, 8), &path, len).is_err());
        assert!(Stored::locate(Block::new(0, 8, 8), &path, len).is_ok());
    }
}
