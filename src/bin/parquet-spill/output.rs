//! The output file: written under a temporary name beside the target and
//! renamed into place only when complete.
//!
//! Why: readers must never see a truncated Parquet file at OUTPUT, and a
//! failed run must not destroy an existing one. Creating the temporary file
//! in the target's own directory (a) checks that directory is writable before
//! any work starts and (b) makes the final rename atomic (same filesystem).
//! The temporary file is removed when dropped (error, panic) or on Ctrl-C
//! (it is registered with [`crate::cleanup`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

use crate::cleanup::{self, Registration};

/// A temporary file that becomes `target` on [`commit`](Self::commit).
#[derive(Debug)]
pub struct TempOutput {
    file: NamedTempFile,
    target: PathBuf,
    registration: Registration,
}

impl TempOutput {
    /// Create `.NAME.XXXXXX.tmp` in `target`'s directory.
    pub fn create(target: &Path) -> Result<Self> {
        let name = target
            .file_name()
            .with_context(|| format!("output {} does not name a file", target.display()))?;
        let dir = match target.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let prefix = format!(".{}.", name.to_string_lossy());
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        // An ordinary file once renamed: mode 0666 less the umask, not
        // tempfile's owner-only 0600.
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let file = builder.tempfile_in(dir).with_context(|| {
            format!(
                "cannot write the output {}: creating a temporary file in {} failed",
                target.display(),
                dir.display()
            )
        })?;
        let registration = Registration::file(file.path());
        Ok(Self {
            file,
            target: target.to_path_buf(),
            registration,
        })
    }

    /// A handle to write through (the temporary file stays owned here).
    pub fn writer(&self) -> Result<File> {
        self.file
            .as_file()
            .try_clone()
            .context("duplicating the output file handle")
    }

    /// Flush to disk and rename over the target. Returns the target's size.
    pub fn commit(self) -> Result<u64> {
        let Self {
            file,
            target,
            registration,
        } = self;
        file.as_file()
            .sync_all()
            .with_context(|| format!("syncing {}", file.path().display()))?;
        let len = file.as_file().metadata()?.len();
        cleanup::commit_with(registration, || {
            file.persist(&target)
                .map_err(|e| e.error)
                .with_context(|| format!("renaming the finished output to {}", target.display()))
        })?;
        Ok(len)
    }
}
