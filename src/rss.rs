//! The process's resident set, as Linux reports it: current, peak, and a way
//! to restart the peak.
//!
//! Why here: the memory limit promises the *process's* memory, and part of
//! it (zstd's contexts, C `malloc` inside codecs, freed heap the allocator
//! keeps) is invisible to any Rust allocator. `/proc/self/status` sees it
//! all: `VmRSS` now and `VmHWM`, its high-water mark, which writing `5` to
//! `/proc/self/clear_refs` resets to the current value. Every function
//! returns `None` where those files do not exist (not Linux, no `/proc`).

/// The glibc malloc setting under which the resident set follows the heap:
/// allocations of 64 KiB and more are mapped on their own and returned to
/// the system when freed.
///
/// Why it matters: by default glibc raises its mmap threshold after the
/// first large free, so later page-sized buffers come from the main heap,
/// whose freed holes stay resident. A writer that keeps and frees pages all
/// the time (a tiered store does) then shows 15–20 % more resident memory
/// than heap. Set `GLIBC_TUNABLES` to this value in the environment of a
/// process that must stay within a resident-set limit: the `parquet-spill`
/// CLI does it for itself, and the test kit's child processes run with it.
/// A plan made in a process started with it counts gzip's deflate state,
/// freed after each page, as returned (6 KiB a column, not ~345 KiB).
///
/// ```
/// assert_eq!(parquet_spill::rss::GLIBC_TUNABLES, "glibc.malloc.mmap_threshold=65536");
/// ```
pub const GLIBC_TUNABLES: &str = "glibc.malloc.mmap_threshold=65536";

/// Resident bytes right now (`VmRSS`).
///
/// ```
/// if cfg!(target_os = "linux") {
///     assert!(parquet_spill::rss::current().unwrap() > 0);
/// }
/// ```
pub fn current() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// The most resident bytes since the process started or since the last
/// [`reset_peak`] (`VmHWM`).
///
/// ```
/// if let (Some(now), Some(peak)) = (parquet_spill::rss::current(), parquet_spill::rss::peak()) {
///     assert!(peak >= now);
/// }
/// ```
pub fn peak() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// Restart [`peak`] from the current resident set; returns that value.
/// One measurement per process: another thread's allocations count too.
///
/// ```
/// if let Some(now) = parquet_spill::rss::reset_peak() {
///     let grown: Vec<u8> = vec![1; 32 << 20];
///     std::hint::black_box(&grown);
///     assert!(parquet_spill::rss::peak().unwrap() >= now + (16 << 20));
/// }
/// ```
pub fn reset_peak() -> Option<u64> {
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    current()
}

fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}
