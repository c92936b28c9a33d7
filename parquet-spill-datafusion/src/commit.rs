//! All or nothing: no file of a `COPY` is committed before every file is
//! written and the input has ended without an error.
//!
//! Why: a writer sees the end of its batches the same way whether the input
//! ended, failed (a division by zero half-way) or the query was cancelled:
//! its channel closes. Committing then would leave complete-looking files
//! holding part of the data. So each writer, once its file is written,
//! waits here with its upload still open; the sink commits them all once
//! every writer is ready and the demultiplexer has succeeded, and aborts
//! them all otherwise. A cancelled `COPY` drops the sink's [`Verdict`],
//! which aborts too (an uncommitted upload is aborted when dropped).
//!
//! What is left after the verdict is each upload's last step (a small
//! file's single put, a larger one's last part and multipart commit). If
//! one fails there, the sink removes the files already committed and
//! returns that failure, naming any it could not remove.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::common::DataFusionError;
use datafusion::object_store::path::Path;
use tokio::runtime::Handle;
use tokio::sync::{watch, Notify};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Writing,
    Commit,
    Abort,
}

/// Writers done writing, waiting for the verdict.
#[derive(Debug, Default)]
struct Ready {
    count: AtomicUsize,
    changed: Notify,
}

/// The sink's side: says whether the files are committed. Dropping it
/// (a cancelled `COPY`) aborts them.
#[derive(Debug)]
pub(crate) struct Verdict {
    phase: watch::Sender<Phase>,
    ready: Arc<Ready>,
}

/// A writer's side.
#[derive(Debug, Clone)]
pub(crate) struct Wait {
    phase: watch::Receiver<Phase>,
    ready: Arc<Ready>,
}

/// A new gate for one `COPY`.
pub(crate) fn gate() -> (Verdict, Wait) {
    let (phase, waiting) = watch::channel(Phase::Writing);
    let ready = Arc::new(Ready::default());
    let wait = Wait {
        phase: waiting,
        ready: Arc::clone(&ready),
    };
    (Verdict { phase, ready }, wait)
}

impl Verdict {
    /// Resolves once `writers` writers wait for the verdict.
    pub(crate) async fn all_ready(&self, writers: usize) {
        // `notify_one` keeps a permit when no one waits: no wake-up is lost
        // between the check and the wait.
        while self.ready.count.load(Ordering::SeqCst) < writers {
            self.ready.changed.notified().await;
        }
    }

    /// Every writer commits its file.
    pub(crate) fn commit(&self) {
        self.phase.send_replace(Phase::Commit);
    }

    /// Every writer aborts its file.
    pub(crate) fn abort(&self) {
        self.phase.send_replace(Phase::Abort);
    }
}

impl Wait {
    /// The file is written: wait (blocking this thread, off the runtime's
    /// workers) for the verdict. `Ok` to commit, or the error saying why
    /// `path` is not committed.
    pub(crate) fn ready(&self, runtime: &Handle, path: &Path) -> Result<(), DataFusionError> {
        self.ready.count.fetch_add(1, Ordering::SeqCst);
        self.ready.changed.notify_one();
        let mut phase = self.phase.clone();
        let verdict = runtime
            .block_on(async move { phase.wait_for(|p| *p != Phase::Writing).await.map(|p| *p) });
        match verdict {
            Ok(Phase::Commit) => Ok(()),
            _ => Err(DataFusionError::External(Box::new(NotCommitted {
                path: path.to_string(),
            }))),
        }
    }
}

/// A file left uncommitted because something else failed: never the cause.
#[derive(Debug)]
pub(crate) struct NotCommitted {
    path: String,
}

impl std::fmt::Display for NotCommitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "parquet-spill: {} not committed: the input, another file of this COPY \
             or the query failed or was cancelled",
            self.path
        )
    }
}

impl std::error::Error for NotCommitted {}

/// Whether `e` only says its file was not committed.
pub(crate) fn not_committed(e: &DataFusionError) -> bool {
    matches!(e, DataFusionError::External(inner) if inner.is::<NotCommitted>())
}
