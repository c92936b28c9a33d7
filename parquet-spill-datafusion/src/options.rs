//! The sink's own options, read from `COPY ... OPTIONS (...)` beside
//! DataFusion's parquet options.
//!
//! Why a prefix: DataFusion hands a file format every option of the
//! statement, and its own parquet options reject keys they do not know. Ours
//! all start with `spill_` (`format.spill_*` after DataFusion's SQL planner
//! adds its `format.` prefix); everything else goes to DataFusion's
//! `TableParquetOptions` unchanged, so `compression`, `max_row_group_size`,
//! `bloom_filter_on_write`, per-column options and the rest keep working.

use std::collections::HashMap;
use std::path::PathBuf;

use datafusion::common::{DataFusionError, Result};

/// Bytes the object-store upload buffers by default before sending a part.
const UPLOAD_BUFFER: usize = 5 << 20;
/// Smallest `spill_upload_buffer`: a part per this many bytes.
const MIN_UPLOAD_BUFFER: usize = 64 << 10;
/// Largest `spill_upload_buffer`: S3's largest part.
const MAX_UPLOAD_BUFFER: usize = 5 << 30;

/// How a [`SpillParquetSink`](crate::SpillParquetSink) writes: the memory it
/// may take from the session's pool, where pages spill, how many threads
/// encode a file.
///
/// In SQL each field is an option named `spill_<field>`:
///
/// ```sql
/// COPY (SELECT * FROM t) TO 'out.parquet' STORED AS PARQUET_SPILL
/// OPTIONS (spill_memory_limit '256MiB', spill_dir '/var/tmp', spill_threads 2,
///          compression 'zstd(1)', max_row_group_size 100000000)
/// ```
///
/// ```
/// use std::collections::HashMap;
/// use parquet_spill_datafusion::SpillSinkOptions;
/// let mut sql = HashMap::from([
///     ("format.spill_memory_limit".to_string(), "256MiB".to_string()),
///     ("format.compression".to_string(), "zstd(1)".to_string()),
/// ]);
/// let ours = SpillSinkOptions::default().take_from(&mut sql)?;
/// assert_eq!(ours.memory_limit, Some(256 << 20));
/// assert_eq!(sql.len(), 1, "DataFusion's own options stay");
/// # Ok::<(), datafusion::error::DataFusionError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpillSinkOptions {
    /// The most the writers of one `COPY` take from the pool (`spill_memory_limit`,
    /// a size like `256MiB`). Default: half of what a bounded pool has free
    /// when the write starts; 256 MiB on an unbounded pool.
    pub memory_limit: Option<usize>,
    /// Directory of the spill files (`spill_dir`). Default: the OS temporary
    /// directory.
    pub spill_dir: Option<PathBuf>,
    /// Threads encoding one file (`spill_threads`). Default: every core for
    /// a single output file, one per file when several are open at once.
    pub threads: Option<usize>,
    /// Files a `COPY` may have open at once (`spill_max_open_files`); the
    /// memory limit is divided among them. Default: one for a single output
    /// file, else DataFusion's `execution.minimum_parallel_output_files`.
    /// `PARTITIONED BY` keeps a file open for every partition value until
    /// the input ends: set it to the number of values (a `COPY` opening
    /// more fails, naming how many it had open).
    pub max_open_files: Option<usize>,
    /// Bytes buffered per file before an object-store part is sent
    /// (`spill_upload_buffer`, default 5 MiB, the smallest part S3 takes;
    /// 64 KiB to 5 GiB); two parts are in flight at most. Reserved from the
    /// limit.
    pub upload_buffer: usize,
    /// Chunk-level statistics instead of page-level ones
    /// (`spill_chunk_statistics true`): less page metadata for very wide
    /// schemas, see `parquet_spill::SpillOptions::chunk_statistics`.
    pub chunk_statistics: bool,
}

impl Default for SpillSinkOptions {
    fn default() -> Self {
        Self {
            memory_limit: None,
            spill_dir: None,
            threads: None,
            max_open_files: None,
            upload_buffer: UPLOAD_BUFFER,
            chunk_statistics: false,
        }
    }
}

impl SpillSinkOptions {
    /// Set the memory limit.
    ///
    /// ```
    /// let o = parquet_spill_datafusion::SpillSinkOptions::default().with_memory_limit(64 << 20);
    /// assert_eq!(o.memory_limit, Some(64 << 20));
    /// ```
    pub fn with_memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Set the spill directory.
    ///
    /// ```
    /// let o = parquet_spill_datafusion::SpillSinkOptions::default().with_spill_dir("/var/tmp");
    /// assert!(o.spill_dir.is_some());
    /// ```
    pub fn with_spill_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spill_dir = Some(dir.into());
        self
    }

    /// Set the threads encoding each file.
    ///
    /// ```
    /// let o = parquet_spill_datafusion::SpillSinkOptions::default().with_threads(2);
    /// assert_eq!(o.threads, Some(2));
    /// ```
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// These options updated by the `spill_*` keys of `options` (with or
    /// without DataFusion's `format.` prefix), which are removed from it.
    ///
    /// # Errors
    ///
    /// `DataFusionError::Configuration` naming an unknown `spill_` key or a
    /// value that does not parse.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use parquet_spill_datafusion::SpillSinkOptions;
    /// let mut bad = HashMap::from([("spill_memory_limit".to_string(), "lots".to_string())]);
    /// let err = SpillSinkOptions::default().take_from(&mut bad).unwrap_err();
    /// assert!(err.to_string().contains("spill_memory_limit"), "{err}");
    /// ```
    pub fn take_from(mut self, options: &mut HashMap<String, String>) -> Result<Self> {
        let ours: Vec<String> = options
            .keys()
            .filter(|k| key_name(k).is_some())
            .cloned()
            .collect();
        for key in ours {
            let Some(value) = options.remove(&key) else {
                continue;
            };
            self.set(key_name(&key).unwrap_or(&key), &value)?;
        }
        Ok(self)
    }

    fn set(&mut self, name: &str, value: &str) -> Result<()> {
        let bad = |reason: &str| {
            DataFusionError::Configuration(format!(
                "parquet-spill: option spill_{name} = '{value}': {reason}"
            ))
        };
        let size = || {
            parse_size::parse_size(value)
                .ok()
                .and_then(|b| usize::try_from(b).ok())
                .ok_or_else(|| bad("expected a size such as 256MiB"))
        };
        let count = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad("expected a whole number above 0"))
        };
        match name {
            "memory_limit" => self.memory_limit = Some(size()?),
            "dir" => self.spill_dir = Some(PathBuf::from(value)),
            "threads" => self.threads = Some(count()?),
            "max_open_files" => self.max_open_files = Some(count()?),
            "upload_buffer" => {
                self.upload_buffer = Some(size()?)
                    .filter(|b| (MIN_UPLOAD_BUFFER..=MAX_UPLOAD_BUFFER).contains(b))
                    .ok_or_else(|| bad("expected a size from 64KiB to 5GiB (S3's largest part)"))?
            }
            "chunk_statistics" => {
                self.chunk_statistics = value.parse().map_err(|_| bad("expected true or false"))?
            }
            _ => {
                return Err(bad(
                    "unknown option (known: spill_memory_limit, spill_dir, spill_threads, \
                     spill_max_open_files, spill_upload_buffer, spill_chunk_statistics)",
                ))
            }
        }
        Ok(())
    }
}

/// `memory_limit` for `spill_memory_limit` or `format.spill_memory_limit`.
fn key_name(key: &str) -> Option<&str> {
    key.strip_prefix("format.")
        .unwrap_or(key)
        .strip_prefix("spill_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_parses_and_others_are_left() {
        let mut options: HashMap<String, String> = [
            ("format.spill_memory_limit", "1GiB"),
            ("spill_dir", "/tmp/x"),
            ("format.spill_threads", "3"),
            ("format.spill_max_open_files", "2"),
            ("format.spill_upload_buffer", "5MiB"),
            ("format.spill_chunk_statistics", "true"),
            ("format.compression", "snappy"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let o = SpillSinkOptions::default().take_from(&mut options).unwrap();
        assert_eq!(o.memory_limit, Some(1 << 30));
        assert_eq!(o.spill_dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!((o.threads, o.max_open_files), (Some(3), Some(2)));
        assert_eq!(o.upload_buffer, 5 << 20);
        assert!(o.chunk_statistics);
        assert_eq!(options.keys().collect::<Vec<_>>(), ["format.compression"]);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        for (key, value) in [
            ("format.spill_memroy_limit", "1GiB"),
            ("format.spill_threads", "0"),
            ("format.spill_chunk_statistics", "yes"),
        ] {
            let mut options = HashMap::from([(key.to_string(), value.to_string())]);
            let err = SpillSinkOptions::default()
                .take_from(&mut options)
                .unwrap_err()
                .to_string();
            let name = key.trim_start_matches("format.");
            assert!(err.contains(name) && err.contains(value), "{err}");
        }
    }
}
