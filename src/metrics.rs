//! Counters for what a store did, and a plain snapshot of them.
//!
//! Why: a memory budget is only trustworthy if you can see where the bytes
//! went. Every spill file keeps relaxed atomic counters (one `fetch_add` per
//! blob, no locks), and [`SpillMetrics::snapshot`] copies them into a plain
//! [`SpillStats`] value you can print, compare or serialise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Live counters of one spill file. Only the spill file updates them; read
/// them with [`snapshot`](Self::snapshot) (or `FileStoreFactory::stats`).
///
/// ```
/// use parquet_spill::metrics::{HeapGauge, SpillMetrics};
/// let m = SpillMetrics::default();
/// assert_eq!(m.snapshot(&HeapGauge::default()).bytes_spilled, 0);
/// ```
#[derive(Debug, Default)]
pub struct SpillMetrics {
    blobs_spilled: AtomicU64,
    bytes_spilled: AtomicU64,
    blobs_read: AtomicU64,
    bytes_read: AtomicU64,
    write_nanos: AtomicU64,
    read_nanos: AtomicU64,
    file_bytes_live: AtomicU64,
    file_len: AtomicU64,
    peak_file_len: AtomicU64,
}

/// A point-in-time copy of [`SpillMetrics`].
///
/// ```
/// use parquet_spill::FileStoreFactory;
/// let factory = FileStoreFactory::new()?;
/// let stats = factory.stats();
/// assert_eq!(stats.bytes_spilled, 0);
/// assert_eq!(stats.file_len, 0);
/// # Ok::<(), parquet_spill::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpillStats {
    /// Blobs written to the spill file since it was created.
    pub blobs_spilled: u64,
    /// Bytes written to the spill file since it was created.
    pub bytes_spilled: u64,
    /// Blobs read back from the spill file.
    pub blobs_read: u64,
    /// Bytes read back from the spill file.
    pub bytes_read: u64,
    /// Time spent in positional writes.
    pub write_time: Duration,
    /// Time spent in positional reads (checksum included).
    pub read_time: Duration,
    /// Bytes of blobs kept on the heap instead of the file, right now (tiny
    /// blobs under the inline threshold, or whatever a budget allowed).
    pub heap_bytes: u64,
    /// Highest `heap_bytes` seen.
    pub peak_heap_bytes: u64,
    /// Bytes of blobs stored in the spill file and not yet taken, right now.
    pub file_bytes_live: u64,
    /// Allocated length of the spill file right now: live blobs plus the free
    /// gaps between them. The file on disk is truncated when it empties (at
    /// the end of each row group), so its size is at most the peak of this.
    pub file_len: u64,
    /// Highest `file_len` seen: the disk space the writer needed.
    pub peak_file_len: u64,
}

fn max_into(peak: &AtomicU64, value: u64) {
    peak.fetch_max(value, Ordering::Relaxed);
}

impl SpillMetrics {
    /// Count a blob written to the spill file.
    pub(crate) fn record_spill(&self, len: u64, took: Duration) {
        self.blobs_spilled.fetch_add(1, Ordering::Relaxed);
        self.bytes_spilled.fetch_add(len, Ordering::Relaxed);
        self.write_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Count a blob read back from the spill file.
    pub(crate) fn record_read(&self, len: u64, took: Duration) {
        self.blobs_read.fetch_add(1, Ordering::Relaxed);
        self.bytes_read.fetch_add(len, Ordering::Relaxed);
        self.read_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Record the spill file's live bytes and length after an allocation change.
    pub(crate) fn record_file(&self, live: u64, len: u64) {
        self.file_bytes_live.store(live, Ordering::Relaxed);
        self.file_len.store(len, Ordering::Relaxed);
        max_into(&self.peak_file_len, len);
    }

    /// Copy the counters (`heap_bytes` from `heap`, the blobs the stores
    /// kept on the heap).
    ///
    /// The copy is a plain value: it does not change when the counters do.
    ///
    /// ```
    /// use parquet_spill::metrics::{HeapGauge, SpillMetrics};
    /// use parquet_spill::SpillStats;
    /// let metrics = SpillMetrics::default();
    /// let stats = metrics.snapshot(&HeapGauge::default());
    /// assert_eq!(stats, SpillStats::default(), "nothing spilled, read or held yet");
    /// assert_eq!(stats.write_time, std::time::Duration::ZERO);
    /// ```
    pub fn snapshot(&self, heap: &HeapGauge) -> SpillStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SpillStats {
            blobs_spilled: get(&self.blobs_spilled),
            bytes_spilled: get(&self.bytes_spilled),
            blobs_read: get(&self.blobs_read),
            bytes_read: get(&self.bytes_read),
            write_time: Duration::from_nanos(get(&self.write_nanos)),
            read_time: Duration::from_nanos(get(&self.read_nanos)),
            heap_bytes: heap.bytes(),
            peak_heap_bytes: heap.peak(),
            file_bytes_live: get(&self.file_bytes_live),
            file_len: get(&self.file_len),
            peak_file_len: get(&self.peak_file_len),
        }
    }
}

/// Bytes on the heap right now and their peak, shared by a factory's stores.
///
/// ```
/// # use parquet_spill::metrics::HeapGauge;
/// let gauge = HeapGauge::default();
/// assert_eq!((gauge.bytes(), gauge.peak()), (0, 0));
/// ```
#[derive(Debug, Default)]
pub struct HeapGauge {
    bytes: AtomicU64,
    peak: AtomicU64,
}

impl HeapGauge {
    /// Bytes of blobs held on the heap right now.
    ///
    /// A factory reports its gauge as [`SpillStats::heap_bytes`]: a blob under
    /// the inline threshold stays on the heap and is counted until taken.
    ///
    /// ```
    /// use parquet_spill::metrics::HeapGauge;
    /// use parquet_spill::{FileStoreFactory, PageStore};
    /// assert_eq!(HeapGauge::default().bytes(), 0);
    ///
    /// let factory = FileStoreFactory::new()?;
    /// let mut store = factory.create_store();
    /// let key = store.put(vec![7u8; 40].into())?;
    /// assert_eq!(factory.stats().heap_bytes, 40);
    /// store.take(key)?;
    /// assert_eq!(factory.stats().heap_bytes, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Highest [`bytes`](Self::bytes) seen.
    ///
    /// Reported as [`SpillStats::peak_heap_bytes`]; it stays up after the
    /// blobs are taken.
    ///
    /// ```
    /// use parquet_spill::metrics::HeapGauge;
    /// use parquet_spill::{FileStoreFactory, PageStore};
    /// assert_eq!(HeapGauge::default().peak(), 0);
    ///
    /// let factory = FileStoreFactory::new()?;
    /// let mut store = factory.create_store();
    /// let a = store.put(vec![1u8; 30].into())?;
    /// let b = store.put(vec![2u8; 50].into())?;
    /// store.take(a)?;
    /// store.take(b)?;
    /// let stats = factory.stats();
    /// assert_eq!((stats.heap_bytes, stats.peak_heap_bytes), (0, 80));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    pub(crate) fn add(&self, n: usize) {
        let now = self.bytes.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    pub(crate) fn sub(&self, n: usize) {
        self.bytes.fetch_sub(n as u64, Ordering::Relaxed);
    }
}
