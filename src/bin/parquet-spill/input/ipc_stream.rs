//! Arrow IPC streams read message by message, each body's room taken from
//! the memory limit before the body is read.
//!
//! Why not arrow's `StreamReader`: a stream lists no batch sizes up front
//! (a file's footer does), and `StreamReader` reads a whole message before
//! anyone can count it, so a stream of batches larger than the limit passed
//! it before the conversion stopped (a 131 MiB batch at `--memory-limit
//! 24MiB`: 137 MiB resident, then the error). A message's header gives its
//! body's length: here the header is read first, the budget asked for the
//! body ([`Gate::make_room`]), and only then is the body read, into one
//! aligned buffer handed to arrow's `StreamDecoder` (the arrays are slices
//! of it, as before). A compressed body is checked again for its buffers'
//! decompressed lengths before they are decompressed.

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
const MAX_HEADER: usize = 256 << 20;

/// The record batches of an IPC stream.
pub struct StreamBatches {
    reader: BufReader<CountingRead<File>>,
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
        Ok(Self {
            reader: BufReader::new(CountingRead::new(file, bytes_read)),
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
        let len = usize::try_from(len)?;
        if len > MAX_HEADER {
            return Err(anyhow!(
                "a message header of {len} bytes: not an IPC stream?"
            ));
        }
        let at = head.len();
        head.resize(at + len, 0);
        self.reader
            .read_exact(&mut head[at..])
            .context("the stream ends inside a message header")?;
        let message = arrow_ipc::root_as_message(&head[at..])
            .map_err(|e| anyhow!("a malformed message header: {e}"))?;
        let body_len = usize::try_from(message.bodyLength())
            .map_err(|_| anyhow!("a message with a negative body length"))?;
        let what = match message.header_type() {
            arrow_ipc::MessageHeader::DictionaryBatch => "a dictionary batch",
            _ => "a record batch",
        };
        self.gate.make_room(body_len, what)?;
        let mut body = MutableBuffer::from_len_zeroed(body_len);
        self.reader
            .read_exact(body.as_slice_mut())
            .context("the stream ends inside a message body")?;
        let decompressed = decompressed_bytes(&message, |at| {
            usize::try_from(at)
                .ok()
                .and_then(|at| body.get(at..at.checked_add(8)?))
                .and_then(|p| p.try_into().ok())
                .ok_or_else(|| anyhow!("a compressed buffer outside its message's body"))
        })?;
        if decompressed > 0 {
            let all = u64::try_from(body_len)?.saturating_add(decompressed);
            self.gate.make_room(
                usize::try_from(all).unwrap_or(usize::MAX),
                &format!("{what}, decompressed,"),
            )?;
        }
        self.decode(Buffer::from(head))?;
        self.decode(body.into())?;
        Ok(true)
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
                Ok(n) => got += n,
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
        // Cut inside the last body.
        std::fs::write(&path, &bytes[..bytes.len() - 20]).unwrap();
        let err = read(&path, &held).unwrap_err().to_string();
        assert!(err.contains("ends inside a message body"), "{err}");
    }
}
