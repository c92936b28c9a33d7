//! Sync over async: run `object_store` futures from [`PageStore`]'s
//! synchronous methods without ever panicking inside a runtime.
//!
//! [`PageStore`]: parquet::arrow::arrow_writer::PageStore

use std::future::Future;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};
use tokio::task::JoinHandle;

use super::ObjectStoreSpillError;

/// The runtime requests run on: the caller's, or one the factory owns.
pub(super) enum Bridge {
    Handle(Handle),
    Owned(Runtime),
}

impl Bridge {
    /// A one-worker multi-thread runtime owned by the factory.
    pub(super) fn owned() -> Result<Self, ObjectStoreSpillError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("parquet-spill-object-store")
            .enable_all()
            .build()
            .map(Bridge::Owned)
            .map_err(ObjectStoreSpillError::Runtime)
    }

    pub(super) fn handle(&self) -> &Handle {
        match self {
            Bridge::Handle(h) => h,
            Bridge::Owned(rt) => rt.handle(),
        }
    }

    /// Whether tasks spawned on the runtime make progress on their own. A
    /// current-thread runtime runs them only while someone is inside its
    /// `Runtime::block_on`, so with one, uploads are never left running in
    /// the background.
    pub(super) fn runs_tasks_in_background(&self) -> bool {
        self.handle().runtime_flavor() != RuntimeFlavor::CurrentThread
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
    /// - Outside any runtime (a plain thread, `spawn_blocking`):
    ///   `Handle::block_on`.
    /// - On a thread of a multi-thread runtime (a worker running the
    ///   writer in an async task): inside [`tokio::task::block_in_place`],
    ///   which first hands the worker's other tasks (our background uploads
    ///   among them) to another thread, so they keep running.
    /// - Inside a current-thread runtime, where blocking in place is not
    ///   allowed: on a short-lived helper thread. That cannot work when the
    ///   factory's runtime *is* a current-thread runtime (only its own
    ///   `block_on` drives its I/O), which gets
    ///   [`ObjectStoreSpillError::InsideRuntime`].
    pub(super) fn block_on<F: Future + Send>(
        &self,
        fut: F,
    ) -> Result<F::Output, ObjectStoreSpillError>
    where
        F::Output: Send,
    {
        let handle = self.handle();
        let Ok(current) = Handle::try_current() else {
            return Ok(handle.block_on(fut));
        };
        if current.runtime_flavor() != RuntimeFlavor::CurrentThread {
            return Ok(tokio::task::block_in_place(|| handle.block_on(fut)));
        }
        if handle.runtime_flavor() == RuntimeFlavor::CurrentThread {
            return Err(ObjectStoreSpillError::InsideRuntime);
        }
        std::thread::scope(|scope| {
            scope
                .spawn(|| handle.block_on(fut))
                .join()
                .map_err(|_| ObjectStoreSpillError::InsideRuntime)
        })
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
