//! Ctrl-C (and SIGTERM) cleanup: remove this process's temporary files, exit non-zero.
//!
//! Why: an interrupted conversion must not leave a half-written Parquet file
//! behind, not even under its temporary name. Temporary outputs and the demo's
//! work directory register here while they exist; the `ctrlc` handler removes
//! whatever is registered and exits with 130. Spill files need nothing: the
//! library unlinks them as soon as they are created.
//!
//! The registry's lock also orders "rename the finished output into place"
//! against the handler ([`commit_with`]): either the rename happened and the
//! file is complete, or the handler removed the temporary file first and the
//! process exits before renaming.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result};

/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File(PathBuf),
    Dir(PathBuf),
    /// A child process (the demo's conversions): stopped first, with
    /// SIGTERM, so it removes its own temporary files and does not run on.
    Child(u32),
}

static PENDING: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn pending() -> MutexGuard<'static, Vec<Entry>> {
    // A panic while holding the lock leaves a still-valid list.
    PENDING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Install the handler (once per process).
pub fn install() -> Result<()> {
    ctrlc::set_handler(|| {
        let mut entries = pending();
        for entry in entries.iter() {
            if let Entry::Child(pid) = entry {
                if let Ok(pid) = i32::try_from(*pid) {
                    let pid = nix::unistd::Pid::from_raw(pid);
                    // Best effort: it may have exited already.
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
                }
            }
        }
        for entry in entries.drain(..) {
            // Best effort: the process is exiting either way.
            let _ = match &entry {
                Entry::File(path) => std::fs::remove_file(path),
                Entry::Dir(path) => std::fs::remove_dir_all(path),
                Entry::Child(_) => Ok(()),
            };
        }
        eprintln!("\nparquet-spill: interrupted; temporary files removed");
        std::process::exit(EXIT_INTERRUPTED);
    })
    .context("installing the Ctrl-C handler")
}

/// Removes its path on Ctrl-C while alive; deregisters when dropped.
#[derive(Debug)]
pub struct Registration(Entry);

impl Registration {
    /// Remove the file at `path` on Ctrl-C.
    pub fn file(path: &Path) -> Self {
        Self::add(Entry::File(path.to_path_buf()))
    }

    /// Remove the directory tree at `path` on Ctrl-C.
    pub fn dir(path: &Path) -> Self {
        Self::add(Entry::Dir(path.to_path_buf()))
    }

    /// Stop the child process `pid` on Ctrl-C (before removing any path).
    pub fn child(pid: u32) -> Self {
        Self::add(Entry::Child(pid))
    }

    fn add(entry: Entry) -> Self {
        pending().push(entry.clone());
        Self(entry)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut entries = pending();
        if let Some(at) = entries.iter().position(|e| *e == self.0) {
            entries.swap_remove(at);
        }
    }
}

/// Run `commit` (a rename into place) while the handler cannot run. On
/// success `registration`'s path is no longer temporary and is forgotten; on
/// failure it stays registered until the caller drops it.
pub fn commit_with<T>(registration: Registration, commit: impl FnOnce() -> Result<T>) -> Result<T> {
    let mut entries = pending();
    let result = commit()?;
    if let Some(at) = entries.iter().position(|e| *e == registration.0) {
        entries.swap_remove(at);
    }
    drop(entries);
    // Dropping takes the lock again (now free) and finds nothing to remove.
    drop(registration);
    Ok(result)
}
