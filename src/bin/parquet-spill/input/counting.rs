//! Byte counters under the readers, for "bytes read" and throughput.
//!
//! Why: the readers (arrow-csv, arrow-json, arrow-ipc, parquet) report rows,
//! not bytes, but progress against the input's size is what tells a person
//! how far along a conversion is. Counting at the file boundary works the
//! same for every format and costs one relaxed atomic add per read call.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, Length};

/// A reader that adds every byte it returns to a shared counter.
#[derive(Debug)]
pub struct CountingRead<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R> CountingRead<R> {
    pub fn new(inner: R, counter: Arc<AtomicU64>) -> Self {
        Self { inner, counter }
    }
}

impl<R: Read> Read for CountingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<R: Seek> Seek for CountingRead<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// A Parquet source ([`ChunkReader`]) that counts the bytes parquet reads.
#[derive(Debug)]
pub struct CountedFile {
    file: File,
    counter: Arc<AtomicU64>,
}

impl CountedFile {
    pub fn new(file: File, counter: Arc<AtomicU64>) -> Self {
        Self { file, counter }
    }
}

impl Length for CountedFile {
    fn len(&self) -> u64 {
        self.file.len()
    }
}

impl ChunkReader for CountedFile {
    type T = CountingRead<BufReader<File>>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let inner = self.file.get_read(start)?;
        Ok(CountingRead::new(inner, Arc::clone(&self.counter)))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let bytes = self.file.get_bytes(start, length)?;
        self.counter
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }
}
