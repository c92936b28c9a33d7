//! The output file: written under a temporary name beside the target and
//! renamed into place only when complete.
//!
//! Why: readers must never see a truncated Parquet file at OUTPUT, and a
//! failed run must not destroy an existing one. Creating the temporary file
//! in the target's own directory (a) checks that directory is writable before
//! any work starts and (b) makes the final rename atomic (same filesystem).
//! The temporary file is removed when dropped (error, panic) or on Ctrl-C
//! (it is registered with [`crate::cleanup`]).
//!
//! Why a writer thread: at a row group's end the whole row group is copied
//! from the spill file into the output on the writer's own thread, with the
//! encoding threads idle. Writing into the page cache was half of that copy
//! (`perf record`), so [`OutputWriter`] copies what it is given into
//! [`chunk_bytes`]-sized buffers and a thread writes them while the next
//! pages are read back: at most [`buffer_bytes`] bytes, reserved in the
//! plan. A failed write is returned by the next write, flush or
//! [`TempOutput::commit`].
//!
//! Why syncing is asked for ([`Durability::Synced`], `--fsync`), not done
//! by default: the rename alone already keeps a partial file from OUTPUT
//! whatever happens to this process; only a power loss or a kernel crash
//! can lose a renamed file whose pages the kernel had not written yet. The
//! price of covering that is the disk's: a single row group reaches the
//! output only at its end, so the whole file waits for the disk there, with
//! every core idle (about 1.3 s of a 4.4 s two-thread conversion of an
//! 812 MiB output here). `rsync --fsync` makes the same choice.
//!
//! Why a sync thread when syncing: syncing a whole output at the end waited
//! 1.3 s for 850 MB here. Every [`WRITE_BACK_EVERY`] bytes written, a thread
//! syncs what was written so far while the conversion goes on, so the final
//! sync has only the tail left. A failed background sync is reported by
//! [`TempOutput::commit`] (a later sync can succeed after the kernel has
//! dropped the pages that failed).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use anyhow::{anyhow, Context, Result};
use tempfile::NamedTempFile;

use crate::cleanup::{self, Registration};

/// A temporary file that becomes `target` on [`commit`](Self::commit).
#[derive(Debug)]
pub struct TempOutput {
    file: NamedTempFile,
    target: PathBuf,
    registration: Registration,
    writer: Worker<Message>,
    /// The sync thread, when [`Durability::Synced`].
    write_back: Option<Worker<Request>>,
    chunk: usize,
    spare: Spare,
}

/// Whether [`TempOutput::commit`] waits for the file to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Renamed once written: the kernel writes it back when it chooses.
    Written,
    /// Synced while written and before the rename (`--fsync`).
    Synced,
}

/// Bytes written between background syncs.
pub const WRITE_BACK_EVERY: u64 = 64 << 20;

/// Output buffers in flight: one being filled, two queued, one being written.
const CHUNKS: usize = 4;
/// Output buffer size: a 256th of the memory limit, 16 KiB to 1 MiB.
const CHUNK_SHARE: u64 = 256;
const MIN_CHUNK: usize = 16 << 10;
const MAX_CHUNK: usize = 1 << 20;

/// One output buffer's size at `limit` (the largest without one).
pub fn chunk_bytes(limit: Option<u64>) -> usize {
    limit.map_or(MAX_CHUNK, |l| {
        usize::try_from(l / CHUNK_SHARE)
            .unwrap_or(MAX_CHUNK)
            .clamp(MIN_CHUNK, MAX_CHUNK)
    })
}

/// What the output's buffers hold at most at `limit`.
pub fn buffer_bytes(limit: Option<u64>) -> usize {
    chunk_bytes(limit) * CHUNKS
}

/// Buffers the writer thread has written, for the next chunks.
type Spare = Arc<Mutex<Vec<Vec<u8>>>>;

/// A thread taking messages, and the first error it met.
#[derive(Debug)]
struct Worker<M> {
    messages: SyncSender<M>,
    /// Returns how many syncs it ran (the write-back thread) or 0.
    thread: JoinHandle<u64>,
    failed: Failed,
}

type Failed = Arc<Mutex<Option<io::Error>>>;

fn record(failed: &Failed, e: io::Error) {
    failed
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert(e);
}

/// For the writer thread.
#[derive(Debug)]
enum Message {
    Write(Vec<u8>),
    /// Answered once every write before it is done.
    Flush(SyncSender<()>),
    Stop,
}

/// For the write-back thread.
#[derive(Debug)]
enum Request {
    Sync,
    Stop,
}

impl TempOutput {
    /// Create `.NAME.XXXXXX.tmp` in `target`'s directory, written through
    /// buffers of `chunk` bytes ([`chunk_bytes`]).
    pub fn create(target: &Path, chunk: usize, durability: Durability) -> Result<Self> {
        let (file, registration) = beside(target, "output")?;
        let write_back = match durability {
            Durability::Synced => Some(write_back(duplicate(&file)?)?),
            Durability::Written => None,
        };
        let spare = Spare::default();
        let writer = writer(
            duplicate(&file)?,
            write_back.as_ref().map(|w| w.messages.clone()),
            Arc::clone(&spare),
        )?;
        Ok(Self {
            file,
            target: target.to_path_buf(),
            registration,
            writer,
            write_back,
            chunk: chunk.max(1),
            spare,
        })
    }

    /// A handle to write through (the temporary file stays owned here).
    pub fn writer(&self) -> OutputWriter {
        OutputWriter {
            chunk: Vec::with_capacity(self.chunk),
            size: self.chunk,
            messages: self.writer.messages.clone(),
            spare: Arc::clone(&self.spare),
            failed: Arc::clone(&self.writer.failed),
        }
    }

    /// Finish writing (and, if [`Durability::Synced`], sync) the file and
    /// rename it over the target. Returns the target's size and how many
    /// syncs ran in the background.
    pub fn commit(self) -> Result<(u64, u64)> {
        let Self {
            file,
            target,
            registration,
            writer,
            write_back,
            ..
        } = self;
        writer
            .stop(Message::Stop, "writer")
            .with_context(|| format!("writing {}", file.path().display()))?;
        let syncing = || format!("syncing {}", file.path().display());
        let synced = write_back.is_some();
        let background_syncs = match write_back {
            Some(write_back) => {
                let syncs = write_back
                    .stop(Request::Stop, "write-back")
                    .with_context(syncing)?;
                file.as_file().sync_all().with_context(syncing)?;
                syncs
            }
            None => 0,
        };
        let len = file.as_file().metadata()?.len();
        rename(file, registration, &target, "output", synced)?;
        Ok((len, background_syncs))
    }
}

/// A temporary file `.NAME.XXXXXX.tmp` beside `target` (a `what`: "output",
/// "JSON report"), registered for removal on Ctrl-C: creating it checks
/// the directory is writable before any work starts, and renaming it is
/// atomic (same filesystem).
pub fn beside(target: &Path, what: &str) -> Result<(NamedTempFile, Registration)> {
    if target.is_dir() {
        return Err(anyhow!(
            "the {what} {} is a directory, not a file",
            target.display()
        ));
    }
    let name = target
        .file_name()
        .with_context(|| format!("the {what} {} does not name a file", target.display()))?;
    let dir = directory_of(target);
    let prefix = format!(".{}.", name.to_string_lossy());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // An ordinary file once renamed: mode 0666 less the umask, not
    // tempfile's owner-only 0600.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let file = builder.tempfile_in(dir).with_context(|| {
        format!(
            "cannot write the {what} {}: creating a temporary file in {} failed",
            target.display(),
            dir.display()
        )
    })?;
    let registration = Registration::file(file.path());
    Ok((file, registration))
}

/// Rename a finished [`beside`] file over `target`; with `synced`, sync the
/// directory too, so that the rename itself survives a power loss.
pub fn rename(
    file: NamedTempFile,
    registration: Registration,
    target: &Path,
    what: &str,
    synced: bool,
) -> Result<()> {
    cleanup::commit_with(registration, || {
        file.persist(target)
            .map_err(|e| e.error)
            .with_context(|| format!("renaming the finished {what} to {}", target.display()))
    })?;
    if synced {
        let dir = directory_of(target);
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing the directory {}", dir.display()))?;
    }
    Ok(())
}

/// The directory a relative or absolute `target` is in.
fn directory_of(target: &Path) -> &Path {
    match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn duplicate(file: &NamedTempFile) -> Result<File> {
    file.as_file()
        .try_clone()
        .context("duplicating the output file handle")
}

/// The thread writing the chunks in order, asking `syncs` (if any) for a
/// sync every [`WRITE_BACK_EVERY`] bytes. After a failed write it drops
/// what follows.
fn writer(
    mut file: File,
    syncs: Option<SyncSender<Request>>,
    spare: Spare,
) -> Result<Worker<Message>> {
    Worker::start(CHUNKS - 2, "output-writer", move |received, failed| {
        let mut unsynced = 0;
        while let Ok(message) = received.recv() {
            match message {
                Message::Write(mut chunk) => {
                    let ok = failed.lock().is_ok_and(|f| f.is_none());
                    if ok {
                        match file.write_all(&chunk) {
                            Ok(()) => unsynced += chunk.len() as u64,
                            Err(e) => record(failed, e),
                        }
                    }
                    if let Some(syncs) = syncs.as_ref().filter(|_| unsynced >= WRITE_BACK_EVERY) {
                        unsynced = 0;
                        // Full: a sync already waits. Gone: `commit` says why.
                        let _ = syncs.try_send(Request::Sync);
                    }
                    chunk.clear();
                    spare
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(chunk);
                }
                Message::Flush(done) => {
                    let _ = done.send(());
                }
                Message::Stop => break,
            }
        }
        0
    })
}

/// The thread syncing the output while it is written.
fn write_back(file: File) -> Result<Worker<Request>> {
    // One request waits at most: a sync asked for while one is pending
    // covers the bytes written since.
    Worker::start(1, "output-sync", move |received, failed| {
        let mut syncs = 0;
        while let Ok(Request::Sync) = received.recv() {
            syncs += 1;
            if let Err(e) = file.sync_data() {
                record(failed, e);
            }
        }
        syncs
    })
}

impl<M: Send + 'static> Worker<M> {
    fn start(
        queue: usize,
        name: &str,
        run: impl FnOnce(mpsc::Receiver<M>, &Failed) -> u64 + Send + 'static,
    ) -> Result<Self> {
        let (messages, received) = mpsc::sync_channel(queue);
        let failed = Failed::default();
        let first_error = Arc::clone(&failed);
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(received, &first_error))
            .with_context(|| format!("starting the output's {name} thread"))?;
        Ok(Self {
            messages,
            thread,
            failed,
        })
    }

    /// Wait for the thread: what it returned, or the first error it met.
    fn stop(self, stop: M, name: &str) -> Result<u64> {
        // `send` fails only if the thread has gone; `join` then says why.
        let _ = self.messages.send(stop);
        let count = self
            .thread
            .join()
            .map_err(|_| anyhow!("the output's {name} thread panicked"))?;
        match self
            .failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(e) => {
                Err(anyhow::Error::new(e).context(format!("the output's {name} thread failed")))
            }
            None => Ok(count),
        }
    }
}

/// The output as the writer sees it: bytes are copied into chunks that the
/// writer thread writes to the temporary file in order.
#[derive(Debug)]
pub struct OutputWriter {
    chunk: Vec<u8>,
    size: usize,
    messages: SyncSender<Message>,
    spare: Spare,
    failed: Failed,
}

impl OutputWriter {
    /// The writer thread's first error, as an error of this write.
    fn check(&self) -> io::Result<()> {
        match &*self.failed.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(e) => Err(io::Error::new(
                e.kind(),
                format!("writing the output failed: {e}"),
            )),
            None => Ok(()),
        }
    }

    fn send(&mut self, message: Message) -> io::Result<()> {
        self.messages.send(message).or_else(|_| {
            self.check()?;
            Err(io::Error::other("the output's writer thread has stopped"))
        })
    }

    /// Hands the chunk being filled to the writer thread.
    fn send_chunk(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        self.check()?;
        let next = self
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.size));
        let full = std::mem::replace(&mut self.chunk, next);
        self.send(Message::Write(full))
    }
}

impl Write for OutputWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.size - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == self.size {
            self.send_chunk()?;
        }
        Ok(n)
    }

    /// Returns once every byte written so far is in the file.
    fn flush(&mut self) -> io::Result<()> {
        self.send_chunk()?;
        let (done, wait) = mpsc::sync_channel(1);
        self.send(Message::Flush(done))?;
        wait.recv()
            .map_err(|_| io::Error::other("the output's writer thread has stopped"))?;
        self.check()
    }
}

impl Drop for OutputWriter {
    /// What was written but not flushed still reaches the file before
    /// [`TempOutput::commit`] (which stops the writer thread after it).
    fn drop(&mut self) {
        let _ = self.send_chunk();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes of odd sizes, so chunks split them, every byte numbered;
    /// checks the file appears only at commit, whole and in order, and
    /// returns how many syncs ran in the background.
    fn write_and_commit(durability: Durability) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        let output = TempOutput::create(&target, 1 << 20, durability).unwrap();
        let mut writer = output.writer();
        let data: Vec<u8> = (0..WRITE_BACK_EVERY * 2 + 12_345)
            .map(|i| (i % 251) as u8)
            .collect();
        for piece in data.chunks(300_007) {
            writer.write_all(piece).unwrap();
        }
        assert!(!target.exists(), "not before commit");
        drop(writer);
        let (len, background_syncs) = output.commit().unwrap();
        assert_eq!(len, data.len() as u64);
        assert!(
            std::fs::read(&target).unwrap() == data,
            "bytes out of order or lost"
        );
        assert_eq!(std::fs::metadata(&target).unwrap().len(), len);
        background_syncs
    }

    #[test]
    fn a_synced_output_is_synced_while_written_and_renamed_whole() {
        let background_syncs = write_and_commit(Durability::Synced);
        // Two requests; the second may find the first still waiting.
        assert!((1..=2).contains(&background_syncs), "{background_syncs}");
    }

    #[test]
    fn an_unsynced_output_is_renamed_whole_without_syncing() {
        assert_eq!(write_and_commit(Durability::Written), 0);
    }
}
