//! Sync over async: run `object_store` futures from [`PageStore`]'s
//! synchronous methods without ever panicking inside a runtime.
//!
//! [`PageStore`]: parquet::arrow::arrow_writer::PageStore

use std::future::Future;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};
use tokio::task::JoinHandle;

use crate::error::Error;

/// The runtime requests run on: the caller's (multi-thread), or one the
/// factory owns.
pub(super) enum Bridge {
    Handle(Handle),
    Owned(Runtime),
}

impl Bridge {
    /// `handle` if given (it must be a multi-thread runtime's), else a
    /// one-worker multi-thread runtime owned by the factory.
    ///
    /// A current-thread runtime is refused: it runs tasks and drives I/O
    /// only inside its own `Runtime::block_on`, so background uploads would
    /// never run and a request made from a plain thread could hang.
    pub(super) fn new(handle: Option<Handle>) -> Result<Self, Error> {
        match handle {
            Some(h) if h.runtime_flavor() == RuntimeFlavor::CurrentThread => {
                Err(Error::CurrentThreadRuntime)
            }
            Some(h) => Ok(Bridge::Handle(h)),
            None => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("parquet-spill-object-store")
                .enable_all()
                .build()
                .map(Bridge::Owned)
                .map_err(Error::Runtime),
        }
    }

    pub(super) fn handle(&self) -> &Handle {
        match self {
            Bridge::Handle(h) => h,
            Bridge::Owned(rt) => rt.handle(),
        }
    }

    /// Start `fut` on the runtime without waiting for it.
    pub(super) fn spawn<F>(&self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle().spawn(fut)
    }

    /// Run `fut` to completion, blocking the calling thread.
    ///
    /// - Outside any runtime context (a plain thread, or a `spawn_blocking`
    ///   thread, which carries its runtime's handle but has not entered it):
    ///   `Handle::block_on`.
    /// - On a thread of a multi-thread runtime (a worker running the writer
    ///   in an async task): the same inside [`tokio::task::block_in_place`],
    ///   which first hands the worker's other tasks (our background uploads
    ///   among them) to another thread, so they keep running.
    /// - Inside a current-thread runtime, where blocking in place is not
    ///   allowed: on a short-lived helper thread (the factory's runtime is
    ///   multi-thread, so its workers drive the request).
    pub(super) fn block_on<F: Future + Send>(&self, fut: F) -> Result<F::Output, Error>
    where
        F::Output: Send,
    {
        let handle = self.handle();
        if !in_runtime_context() {
            return Ok(handle.block_on(fut));
        }
        if !in_current_thread_runtime() {
            return Ok(tokio::task::block_in_place(|| handle.block_on(fut)));
        }
        std::thread::scope(|scope| {
            scope
                .spawn(|| handle.block_on(fut))
                .join()
                .map_err(|_| Error::RequestPanicked)
        })
    }

    /// Run the blocking `f` (a wait for another thread), letting a
    /// multi-thread runtime's worker hand its tasks over first.
    pub(super) fn blocking<R>(&self, f: impl FnOnce() -> R) -> R {
        if in_runtime_context() && !in_current_thread_runtime() {
            tokio::task::block_in_place(f)
        } else {
            f()
        }
    }

    /// Shut an owned runtime down without waiting (dropping a runtime from
    /// inside an async context panics; nothing runs on ours any more).
    pub(super) fn shutdown(&mut self) {
        let handle = self.handle().clone();
        if let Bridge::Owned(rt) = std::mem::replace(self, Bridge::Handle(handle)) {
            rt.shutdown_background();
        }
    }
}

/// Whether this thread has a runtime handle (a worker, a thread inside
/// `block_on`, or a `spawn_blocking` thread).
fn in_runtime_context() -> bool {
    Handle::try_current().is_ok()
}

fn in_current_thread_runtime() -> bool {
    Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread)
}
