//! A small tmpfs mounted for a test: a real "disk full" and a real, empty
//! directory to check for leftovers.
//!
//! Why: the only honest way to see what a store does when the disk fills is
//! a file system that fills. Mounting needs privileges (root in CI here), so
//! [`Tmpfs::mount`] returns an error where it is not allowed and the test
//! decides how to proceed.

use std::io;
use std::path::Path;
use std::process::Command;

/// A tmpfs of a given size mounted on a fresh temporary directory (mode
/// 0700), unmounted (lazily if busy) when dropped.
///
/// ```
/// use parquet_spill::testkit::Tmpfs;
/// match Tmpfs::mount("1m") {
///     Ok(disk) => assert!(std::fs::read_dir(disk.path())?.next().is_none()),
///     Err(why) => println!("tmpfs not mountable here: {why}"),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    /// Mount a tmpfs of `size` (as `mount -o size=`, e.g. `"1m"`).
    ///
    /// # Errors
    ///
    /// The temporary directory cannot be made, `mount` cannot run, or it
    /// refuses (typically: not root); the error carries `mount`'s message.
    pub fn mount(size: &str) -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(Self(dir))
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(self.0.path()).status();
        if !matches!(unmounted, Ok(s) if s.success()) {
            let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
        }
    }
}
