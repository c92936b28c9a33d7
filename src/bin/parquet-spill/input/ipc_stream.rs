//! Arrow IPC streams read message by message, each body's room taken from
//! the memory limit before the body is read.
//!
//! Why not arrow's `StreamReader`: a stream lists no batch sizes up front
//! (a file's footer does), and `StreamReader` reads a whole message before
//! anyone can count it, so a stream of batches larger than the limit passed
//! it before the conversion stopped (a 113 MiB batch at `--memory-limit
//! 24MiB`: 137 MiB resident, then the error). A message's header gives its
//! body's length: here the header is read first, the budget asked for the
//! body ([`Gate::make_room`]), and only then is the body read, into one
//! aligned buffer handed to arrow's `StreamDecoder` (the arrays are slices
//! of it, as before). A compressed body is checked again for its buffers'
//! decompressed lengths before they are decompressed; a dictionary's body,
//! which the decoder keeps for later batches, is counted as input at once.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use arrow_array::RecordBatch;
use arrow_buffer::{Buffer, MutableBuffer};
use arrow_ipc::reader::StreamDecoder;
use arrow_schema::ArrowError;

use super::counting::CountingRead;
use super::held::Gate;
use super::ipc_file::decompressed_bytes;

/// The continuation marker before a message's length (format 0.15 on).
const CONTINUATION: u32 = 0xFFFF_FFFF;
/// A message's flatbuffer header is a few hundred bytes a column; a length
/// past this is a corrupt stream, not a header to allocate.
const MAX_HEADER: u64 = 256 << 20;

/// The record batches of an IPC stream.
pub struct StreamBatches {
    reader: BufReader<CountingRead<File>>,
    /// The file's length and the bytes read of it: a message longer than
    /// what is left is a corrupt stream, not a buffer to allocate.
    len: u64,
    at: u64,
    decoder: StreamDecoder,
    gate: Gate,
    /// Batches decoded and not yet returned (a message with an empty body
    /// is decoded with the bytes after it).
    decoded: VecDeque<RecordBatch>,
    done: bool,
}

impl StreamBatches {
    /// Open the stream at `path`, counting bytes read in `bytes_read`,
    /// asking `gate` for each body's room before reading it.
    pub fn open(path: &Path, bytes_read: Arc<AtomicU64>, gate: Gate) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let len = file
            .metadata()
            .with_context(|| format!("reading the length of {}", path.display()))?
            .len();
        Ok(Self {
            reader: BufReader::new(CountingRead::new(file, bytes_read)),
            len,
            at: 0,
            decoder: StreamDecoder::new(),
            gate,
            decoded: VecDeque::new(),
            done: false,
        })
    }

    /// Read and decode the next message; `false` at the end of the stream.
    fn read_message(&mut self) -> Result<bool> {
        let mut head = Vec::with_capacity(8);
        let Some(first) = self.read_u32()? else {
            // A stream may end without its end-of-stream marker.
            self.end()?;
            return Ok(false);
        };
        head.extend_from_slice(&first.to_le_bytes());
        let len = if first == CONTINUATION {
            let len = self
                .read_u32()?
                .ok_or_else(|| anyhow!("the stream ends inside a message's length"))?;
            head.extend_from_slice(&len.to_le_bytes());
            len
        } else {
            first
        };
        if len == 0 {
            self.end()?;
            return Ok(false);
        }
        let len = self.fits(u64::from(len).min(MAX_HEADER), "a message header")?;
        self.gate.make_room(len, "a message header")?;
        let at = head.len();
        head.resize(at + len, 0);
        self.read_exact(&mut head[at..], "a message header")?;
        let message = arrow_ipc::root_as_message(&head[at..])
            .map_err(|e| anyhow!("a malformed message header: {e}"))?;
        let dictionary = message.header_type() == arrow_ipc::MessageHeader::DictionaryBatch;
        let what = match dictionary {
            true => "a dictionary batch",
            false => "a record batch",
        };
        let body_len = u64::try_from(message.bodyLength())
            .map_err(|_| anyhow!("a message with a negative body length"))?;
        let body_len = self.fits(body_len, what)?;
        self.gate.make_room(body_len, what)?;
        let mut body = MutableBuffer::from_len_zeroed(body_len);
        self.read_exact(body.as_slice_mut(), what)?;
        let body = Buffer::from(body);
        if dictionary {
            // Counted from now: it stays in the decoder, claimed by no batch
            // until one uses it. (A record batch's body is counted when the
            // batch is admitted, as its own: what it adds sizes its slices.)
            self.gate.claim(&body);
        }
        let decompressed = decompressed_bytes(&message, |at| {
            usize::try_from(at)
                .ok()
                .and_then(|at| body.get(at..at.checked_add(8)?))
                .and_then(|p| p.try_into().ok())
                .ok_or_else(|| anyhow!("a compressed buffer outside its message's body"))
        })?;
        if decompressed > 0 {
            self.gate.make_room(
                usize::try_from(decompressed).unwrap_or(usize::MAX),
                &format!("{what}, decompressed,"),
            )?;
        }
        self.decode(Buffer::from(head))?;
        self.decode(body)?;
        Ok(true)
    }

    /// `len` bytes of `what` to read: an error if the file has fewer left.
    fn fits(&self, len: u64, what: &str) -> Result<usize> {
        let left = self.len.saturating_sub(self.at);
        match usize::try_from(len) {
            Ok(len) if len as u64 <= left => Ok(len),
            _ => Err(anyhow!(
                "{what} of {len} bytes, and {left} bytes left in the file: a corrupt stream"
            )),
        }
    }

    /// Fill `buf` from the stream, `what` naming it if the stream ends.
    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        self.reader
            .read_exact(buf)
            .with_context(|| format!("the stream ends inside {what}"))?;
        self.at += buf.len() as u64;
        Ok(())
    }

    /// Feed `buffer` to the decoder whole, keeping every batch it yields.
    fn decode(&mut self, mut buffer: Buffer) -> Result<(), ArrowError> {
        while !buffer.is_empty() {
            if let Some(batch) = self.decoder.decode(&mut buffer)? {
                self.decoded.push_back(batch);
            }
        }
        Ok(())
    }

    /// The end of the stream: decode what waits for more bytes (a message
    /// with an empty body) with an end-of-stream marker, and check nothing
    /// is left half-read.
    fn end(&mut self) -> Result<()> {
        let mut marker = CONTINUATION.to_le_bytes().to_vec();
        marker.extend_from_slice(&0u32.to_le_bytes());
        self.decode(Buffer::from(marker))?;
        self.decoder.finish()?;
        self.done = true;
        Ok(())
    }

    /// A little-endian `u32`, or `None` at the end of the file.
    fn read_u32(&mut self) -> Result<Option<u32>> {
        let mut bytes = [0u8; 4];
        let mut got = 0;
        while got < 4 {
            match self.reader.read(&mut bytes[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(anyhow!("the stream ends inside a message's length")),
                Ok(n) => {
                    got += n;
                    self.at += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(u32::from_le_bytes(bytes)))
    }
}

impl Iterator for StreamBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = self.decoded.pop_front() {
                return Some(Ok(batch));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.read_message() {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use arrow_array::types::Int32Type;
    use arrow_array::{ArrayRef, DictionaryArray, Int64Array, StringArray};
    use arrow_ipc::reader::StreamReader;
    use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
    use arrow_ipc::CompressionType;
    use parquet_spill::MemoryBudget;

    use super::*;
    use crate::input::HeldInput;

    fn batch(rows: i64) -> RecordBatch {
        let words: DictionaryArray<Int32Type> = (0..rows)
            .map(|i| ["a", "bb", "ccc"][i as usize % 3])
            .collect();
        RecordBatch::try_from_iter([
            (
                "n",
                Arc::new(Int64Array::from_iter_values(0..rows)) as ArrayRef,
            ),
            ("w", Arc::new(words) as ArrayRef),
            (
                "s",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("v{i}")),
                )) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    /// An IPC stream of `batches` at `path`, compressed or not.
    fn write(path: &Path, batches: &[RecordBatch], compression: Option<CompressionType>) {
        let options = IpcWriteOptions::default()
            .try_with_compression(compression)
            .unwrap();
        let file = File::create(path).unwrap();
        let mut w =
            StreamWriter::try_new_with_options(file, &batches[0].schema(), options).unwrap();
        for b in batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
    }

    fn read(path: &Path, held: &HeldInput) -> Result<Vec<RecordBatch>> {
        StreamBatches::open(path, Arc::new(AtomicU64::new(0)), held.gate())?.collect()
    }

    #[test]
    fn reads_what_arrows_reader_reads() {
        let dir = tempfile::tempdir().unwrap();
        let batches = [batch(1000), batch(0), batch(7)];
        for compression in [
            None,
            Some(CompressionType::LZ4_FRAME),
            Some(CompressionType::ZSTD),
        ] {
            let path = dir.path().join("s.arrows");
            write(&path, &batches, compression);
            let expected: Vec<RecordBatch> =
                StreamReader::try_new(File::open(&path).unwrap(), None)
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
            let held = HeldInput::new(None, 0, usize::MAX).unwrap();
            assert_eq!(read(&path, &held).unwrap(), expected, "{compression:?}");
        }
    }

    #[test]
    fn a_body_the_limit_cannot_hold_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.arrows");
        write(&path, &[batch(10), batch(200_000)], None);
        let budget = MemoryBudget::new(1 << 20);
        let held = HeldInput::new(Some(&budget), 0, usize::MAX).unwrap();
        let read_bytes = Arc::new(AtomicU64::new(0));
        let mut batches = StreamBatches::open(&path, Arc::clone(&read_bytes), held.gate()).unwrap();
        let first = batches.next().unwrap().unwrap();
        assert_eq!(first.num_rows(), 10);
        let err = batches.next().unwrap().unwrap_err().to_string();
        assert!(err.starts_with("a record batch of "), "{err}");
        assert!(err.contains("--memory-limit"), "{err}");
        let read = read_bytes.load(Ordering::Relaxed);
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(
            read < size / 4,
            "{read} of {size} bytes read: the body was read"
        );
        assert!(batches.next().is_none(), "nothing after the error");
    }

    #[test]
    fn a_dictionary_the_decoder_keeps_is_counted_as_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.arrows");
        let words: DictionaryArray<Int32Type> = (0..100_000)
            .map(|i| format!("word number {i}"))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect();
        let batch = RecordBatch::try_from_iter([("w", Arc::new(words) as ArrayRef)]).unwrap();
        write(&path, &[batch], None);
        let held = HeldInput::new(None, 0, usize::MAX).unwrap();
        let mut stream =
            StreamBatches::open(&path, Arc::new(AtomicU64::new(0)), held.gate()).unwrap();
        let first = stream.next().unwrap().unwrap();
        drop(first);
        // The batch is gone; the decoder's dictionary (1.7 MB of values)
        // is not, and neither is its count.
        let used = held.pool().used();
        assert!(used > 1_500_000, "{used}");
        assert!(stream.next().is_none());
        drop(stream);
        assert_eq!(held.pool().used(), 0, "released with the decoder");
    }

    /// A record batch's body is counted when the batch is admitted, as
    /// what the batch adds: that sizes the slices it is written in (counted
    /// at read, a 64,000-row stream batch went to the writer whole and was
    /// refused as too large to encode within the limit).
    #[test]
    fn a_record_batch_is_counted_when_admitted_and_written_in_slices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.arrows");
        write(&path, &[batch(200_000)], None);
        let mut held = HeldInput::new(None, 0, 100_000).unwrap();
        let batch = read(&path, &held).unwrap().remove(0);
        // Only its dictionary (three words) is counted before it is admitted.
        assert!(held.pool().used() < 1000, "{}", held.pool().used());
        let slices = held.admit(batch).unwrap();
        assert!(slices.len() > 10, "{} slices", slices.len());
    }

    #[test]
    fn a_compressed_body_is_checked_for_what_it_decompresses_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.arrows");
        // Compresses to a small fraction: the body alone fits the budget.
        let zeros = RecordBatch::try_from_iter([(
            "z",
            Arc::new(Int64Array::from(vec![0i64; 400_000])) as ArrayRef,
        )])
        .unwrap();
        write(&path, &[zeros], Some(CompressionType::ZSTD));
        assert!(std::fs::metadata(&path).unwrap().len() < 100_000);
        let budget = MemoryBudget::new(1 << 20);
        let held = HeldInput::new(Some(&budget), 0, usize::MAX).unwrap();
        let err = read(&path, &held).unwrap_err().to_string();
        assert!(
            err.starts_with("a record batch, decompressed, of 3."),
            "{err}"
        );
    }

    #[test]
    fn a_stream_cut_short_is_an_error_and_one_without_its_end_marker_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.arrows");
        write(&path, &[batch(100), batch(100)], None);
        let bytes = std::fs::read(&path).unwrap();
        let held = HeldInput::new(None, 0, usize::MAX).unwrap();
        // Without the 8-byte end-of-stream marker: both batches.
        std::fs::write(&path, &bytes[..bytes.len() - 8]).unwrap();
        assert_eq!(read(&path, &held).unwrap().len(), 2);
        // Cut inside the last body: its length is checked against what is
        // left before anything is allocated for it (a corrupt length of
        // 2^50 bytes made the reader abort allocating).
        std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
        let err = read(&path, &held).unwrap_err().to_string();
        assert!(
            err.starts_with("a record batch of ")
                && err.ends_with("left in the file: a corrupt stream"),
            "{err}"
        );
        // Cut inside a length.
        let cut = bytes.len() - 8 - (bytes.len() - 8) % 4 - 2;
        std::fs::write(&path, &bytes[..cut]).unwrap();
        assert!(read(&path, &held).is_err());
    }
}
