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
    ///
    /// A write past the size fails as on a full disk:
    ///
    /// ```
    /// use parquet_spill::testkit::Tmpfs;
    /// match Tmpfs::mount("1m") {
    ///     Ok(disk) => {
    ///         let too_big = std::fs::write(disk.path().join("big"), vec![0u8; 2 << 20]);
    ///         assert!(too_big.is_err(), "a 2 MiB file does not fit in 1 MiB");
    ///     }
    ///     Err(why) => println!("tmpfs not mountable here: {why}"),
    /// }
    /// ```
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
    ///
    /// ```
    /// use parquet_spill::testkit::Tmpfs;
    /// use parquet_spill::FileStoreFactory;
    /// if let Ok(disk) = Tmpfs::mount("1m") {
    ///     assert!(disk.path().is_dir());
    ///     let spill = FileStoreFactory::in_dir(disk.path())?;
    ///     assert_eq!(spill.spill_dir(), disk.path());
    ///     assert_eq!(std::fs::read_dir(disk.path())?.count(), 0, "the spill file is unlinked");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
