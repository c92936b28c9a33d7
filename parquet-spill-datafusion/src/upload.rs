//! A blocking [`Write`] onto an object store, for a writer running on a
//! blocking thread.
//!
//! Why not parquet's `AsyncArrowWriter`: it encodes into a `Vec` and drains
//! it only after each row group, so a whole encoded row group would sit in
//! memory, the very thing spilling avoids. The sink runs the synchronous
//! writer on a blocking thread instead and hands its output, a buffer at a
//! time, to `object_store`'s multipart `BufWriter` on the session's runtime.
//! Its memory is fixed (a write buffer, one part filling, `CONCURRENCY` parts
//! in flight) and reserved from the writer's limit.

use std::io::{self, Write};
use std::sync::Arc;

use datafusion::common::{DataFusionError, Result};
use datafusion::object_store::buffered::BufWriter;
use datafusion::object_store::path::Path;
use datafusion::object_store::ObjectStore;
use tokio::io::AsyncWriteExt;
use tokio::runtime::Handle;

/// Parts uploading at once per file.
pub(crate) const CONCURRENCY: usize = 2;
/// The synchronous buffer in front of the upload (parquet writes in small
/// pieces; each hand-over to the runtime costs a wake-up). Worth its copy:
/// the example's 1 GiB `COPY` wrote in 3.3–3.6 s with it, 3.8–4.0 s without.
const WRITE_BUFFER: usize = 1 << 20;

/// Bytes one upload holds at most with `part` bytes per part.
pub(crate) fn upload_bytes(part: usize) -> usize {
    unsent_bytes(part).saturating_add(WRITE_BUFFER)
}

/// Bytes one upload holds at most once everything is handed to it: the
/// part filling and those in flight (the write buffer is gone), and the
/// [`slack`] of their buffers.
pub(crate) fn unsent_bytes(part: usize) -> usize {
    part.saturating_mul(1 + CONCURRENCY).saturating_add(slack())
}

/// `object_store`'s part buffers grow in blocks of 8 KiB, each up to a
/// block more than its bytes; the first part can carry two (the buffer
/// from before the multipart upload began, and its own).
const PAYLOAD_BLOCK: usize = 8 << 10;

/// The blocks' spare room across the parts an upload holds.
const fn slack() -> usize {
    PAYLOAD_BLOCK * (2 + CONCURRENCY)
}

/// The object `path` of `store`, written from a blocking thread.
pub(crate) struct Upload {
    runtime: Handle,
    inner: Option<BufWriter>,
    path: Path,
    part: usize,
    /// Bytes handed to `inner` so far.
    written: usize,
}

impl Upload {
    /// Must be created (and used) off the runtime's worker threads.
    pub(crate) fn new(
        runtime: Handle,
        store: Arc<dyn ObjectStore>,
        path: Path,
        part: usize,
    ) -> io::BufWriter<Self> {
        let inner =
            BufWriter::with_capacity(store, path.clone(), part).with_max_concurrency(CONCURRENCY);
        io::BufWriter::with_capacity(
            WRITE_BUFFER,
            Self {
                runtime,
                inner: Some(inner),
                path,
                part,
                written: 0,
            },
        )
    }

    /// Bytes the upload can still hold once everything is handed to it: a
    /// file shorter than a part is all buffered, a longer one holds the
    /// part filling and those in flight.
    pub(crate) fn unsent(&self) -> usize {
        self.written
            .saturating_add(slack())
            .min(unsent_bytes(self.part))
    }

    /// Complete the object (the last part, then the multipart commit).
    pub(crate) fn finish(mut self) -> Result<()> {
        let Some(mut inner) = self.inner.take() else {
            return Ok(());
        };
        // Not removed when this fails: had the object been completed all
        // the same (a lost reply), removing the path could as well remove
        // the file it was to replace, which is still there otherwise.
        self.runtime.block_on(inner.shutdown()).map_err(|e| {
            DataFusionError::External(
                format!("parquet-spill: completing the upload of {}: {e}", self.path).into(),
            )
        })
    }
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let inner = self
            .inner
            .as_mut()
            .ok_or_else(|| io::Error::other("upload already finished"))?;
        // A part at a time: object_store starts a part for every full one
        // a write holds, however many are in flight already.
        for piece in buf.chunks(self.part.max(1)) {
            self.runtime.block_on(inner.write_all(piece))?;
        }
        self.written = self.written.saturating_add(buf.len());
        Ok(buf.len())
    }

    /// Nothing: a flush would force a short multipart part; the upload
    /// completes in [`finish`](Upload::finish).
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    /// Not finished (the write failed): abort, so no partial object is left
    /// looking complete.
    fn drop(&mut self) {
        if let Some(mut inner) = self.inner.take() {
            let _ = self.runtime.block_on(inner.abort());
        }
    }
}
