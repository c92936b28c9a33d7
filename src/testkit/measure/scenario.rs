//! What a measurement writes: a [`Workload`] through a [`Store`], fed in
//! batches of a chosen size, and its round trip to a child process as
//! `key=value` lines.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};

use super::human_bytes;
use crate::workloads::Workload;
use crate::PageStoreFactory;

/// Where the measured writer keeps its pages until the row group is flushed.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::measure::Store;
/// use parquet_spill::testkit::SparseMapStoreFactory;
///
/// assert_eq!(Store::Default.name(), "in-memory");
/// assert_eq!(Store::file().name(), "file");
/// let custom = Store::Custom { name: "sparse-map".into(), factory: Arc::new(SparseMapStoreFactory) };
/// assert_eq!(custom.name(), "sparse-map");
/// ```
#[derive(Debug, Clone)]
pub enum Store {
    /// No factory set: parquet's default in-memory store.
    Default,
    /// A fresh [`FileStoreFactory`](crate::FileStoreFactory) that
    /// [`measure_write`](super::measure_write) creates itself, so
    /// its descriptor is counted and its [`SpillStats`](crate::SpillStats)
    /// are reported.
    File {
        /// Spill directory; `None` is [`std::env::temp_dir`].
        spill_dir: Option<PathBuf>,
    },
    /// [`SpillOptions`](crate::SpillOptions) with this memory limit: the
    /// planner fits the encoders and a tiered store spills past the budget.
    /// The plan is told the workload's raw size as the expected file size.
    Budget {
        /// The memory limit in bytes.
        limit: usize,
        /// Spill directory; `None` is [`std::env::temp_dir`].
        spill_dir: Option<PathBuf>,
    },
    /// [`Store::Budget`] with the object-store backend
    /// ([`SpillOptions::object_store`](crate::SpillOptions::object_store)):
    /// pages past the budget go into objects of a local directory (so they
    /// are not on the heap) with the factory's default buffers, charged to
    /// the same limit, and its runtime and uploads run in the measured
    /// process.
    #[cfg(feature = "object_store")]
    BudgetObjectStore {
        /// The memory limit in bytes.
        limit: usize,
    },
    /// The properties [`SpillOptions`](crate::SpillOptions) plans for this
    /// limit, written with a plain [`FileStoreFactory`](crate::FileStoreFactory)
    /// (no tier, no reservation): what the writer needs with nothing on the
    /// heap by choice, to hold against the plan's estimate.
    PlanOnly {
        /// The memory limit planned for, in bytes.
        limit: usize,
    },
    /// Any other factory. In-process only: it cannot cross to a child
    /// process, and no spill statistics are reported for it.
    Custom {
        /// The name shown in tables.
        name: String,
        /// The factory.
        factory: Arc<dyn PageStoreFactory>,
    },
}

impl Store {
    /// [`Store::File`] spilling under the OS temporary directory.
    ///
    /// ```
    /// use parquet_spill::testkit::measure::Store;
    /// assert!(matches!(Store::file(), Store::File { spill_dir: None }));
    /// ```
    pub fn file() -> Self {
        Self::File { spill_dir: None }
    }

    /// A short name for tables: `in-memory`, `file`, `budget-64.0MiB`, or the custom name.
    ///
    /// ```
    /// use parquet_spill::testkit::measure::Store;
    /// assert_eq!(Store::Default.name(), "in-memory");
    /// assert_eq!(Store::Budget { limit: 64 << 20, spill_dir: None }.name(), "budget-64.0MiB");
    /// let elsewhere = Store::File { spill_dir: Some("/fast/scratch".into()) };
    /// assert_eq!(elsewhere.name(), "file", "the directory is not part of the name");
    /// ```
    pub fn name(&self) -> String {
        match self {
            Self::Default => "in-memory".into(),
            Self::File { .. } => "file".into(),
            Self::Budget { limit, .. } => {
                format!("budget-{}", human_bytes(*limit as u64).replace(' ', ""))
            }
            Self::PlanOnly { limit } => {
                format!("planned-{}", human_bytes(*limit as u64).replace(' ', ""))
            }
            #[cfg(feature = "object_store")]
            Self::BudgetObjectStore { limit } => {
                format!(
                    "budget-objects-{}",
                    human_bytes(*limit as u64).replace(' ', "")
                )
            }
            Self::Custom { name, .. } => name.clone(),
        }
    }
}

/// What to measure: a workload, a store, and how to feed the writer.
///
/// ```
/// use parquet_spill::testkit::measure::{Scenario, Store};
/// use parquet_spill::workloads::Workload;
///
/// let scenario = Scenario::new(Workload::skewed_bytes(16 << 20), Store::file()).with_batch_rows(32);
/// assert_eq!(scenario.batch_rows(), 32);
/// assert_eq!(scenario.label(), "skewed-15MiB/file");
/// ```
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The data written, as one row group.
    pub workload: Workload,
    /// Where pages wait for the flush.
    pub store: Store,
    /// Rows per input batch; `None` is [`Workload::default_batch_rows`].
    pub batch_rows: Option<usize>,
    /// Directory under which the output file's temporary directory is made;
    /// `None` is [`std::env::temp_dir`].
    pub output_dir: Option<PathBuf>,
    /// The codec (default zstd level 1, parquet's default level).
    pub codec: Compression,
    /// Hand-set `(data page, dictionary page, write batch)` limits for the
    /// unplanned stores (the hand-tuned reference); `None` is parquet's defaults.
    pub limits: Option<(usize, usize, usize)>,
    /// [`Store::Budget`]: write chunk statistics instead of page statistics.
    pub chunk_statistics: bool,
    /// [`Store::Budget`]: write the offset index (default); without it (and
    /// without page statistics) pages leave no metadata once flushed.
    pub offset_index: bool,
    /// [`Store::Budget`]: tell the planner the workload's raw size divided
    /// by this as the expected file size (default 1; 0 gives no hint).
    pub hint_divisor: u64,
    /// Encoding threads: 1 writes with `ArrowWriter`, more with
    /// [`ParallelWriter`](crate::ParallelWriter) (and a plan counting them).
    pub threads: usize,
    /// [`Store::Budget`]: bytes of the limit reserved for the caller beside
    /// the input batches (say, the freed blocks a
    /// [`Recycling`](crate::recycle::Recycling) allocator keeps).
    pub reserve: usize,
}

impl Scenario {
    /// `workload` written with `store`, default batches, output under the temp dir.
    ///
    /// ```
    /// use parquet_spill::testkit::measure::{Scenario, Store};
    /// use parquet_spill::workloads::Workload;
    /// let scenario = Scenario::new(Workload::LowCardinality { rows: 100 }, Store::Default);
    /// assert_eq!((scenario.batch_rows, scenario.output_dir), (None, None));
    /// ```
    pub fn new(workload: Workload, store: Store) -> Self {
        Self {
            workload,
            store,
            batch_rows: None,
            output_dir: None,
            codec: Compression::ZSTD(ZstdLevel::default()),
            limits: None,
            chunk_statistics: false,
            offset_index: true,
            hint_divisor: 1,
            threads: 1,
            reserve: 0,
        }
    }

    /// Compress with `codec`.
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::{Scenario, Store};
    /// # use parquet_spill::workloads::Workload;
    /// use parquet::basic::Compression;
    /// let s = Scenario::new(Workload::LowCardinality { rows: 10 }, Store::Default).with_codec(Compression::LZ4_RAW);
    /// assert_eq!(s.codec, Compression::LZ4_RAW);
    /// ```
    pub fn with_codec(mut self, codec: Compression) -> Self {
        self.codec = codec;
        self
    }

    /// Hand-set data page, dictionary page and write batch limits for an
    /// unplanned store.
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::{Scenario, Store};
    /// # use parquet_spill::workloads::Workload;
    /// let s = Scenario::new(Workload::LowCardinality { rows: 10 }, Store::file()).with_limits(65536, 65536, 256);
    /// assert_eq!(s.limits, Some((65536, 65536, 256)));
    /// ```
    pub fn with_limits(mut self, page: usize, dictionary: usize, batch: usize) -> Self {
        self.limits = Some((page, dictionary, batch));
        self
    }

    /// Plan with chunk statistics ([`SpillOptions::chunk_statistics`](crate::SpillOptions::chunk_statistics)).
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::{Scenario, Store};
    /// # use parquet_spill::workloads::Workload;
    /// let s = Scenario::new(Workload::LowCardinality { rows: 10 }, Store::Default).with_chunk_statistics();
    /// assert!(s.chunk_statistics);
    /// ```
    pub fn with_chunk_statistics(mut self) -> Self {
        self.chunk_statistics = true;
        self
    }

    /// Plan without the offset index (`set_offset_index_disabled`, which
    /// parquet honours only where no column has page statistics).
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::{Scenario, Store};
    /// # use parquet_spill::workloads::Workload;
    /// let s = Scenario::new(Workload::LowCardinality { rows: 10 }, Store::Default)
    ///     .with_chunk_statistics()
    ///     .without_offset_index();
    /// assert!(!s.offset_index);
    /// ```
    pub fn without_offset_index(mut self) -> Self {
        self.offset_index = false;
        self
    }

    /// Tell the planner a file size `divisor` times smaller than the
    /// workload's raw size (0: no hint at all).
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::{Scenario, Store};
    /// # use parquet_spill::workloads::Workload;
    /// let s = Scenario::new(Workload::LowCardinality { rows: 10 }, Store::Default).with_hint_divisor(6);
    /// assert_eq!(s.hint_divisor, 6);
    /// ```
    pub fn with_hint_divisor(mut self, divisor: u64) -> Self {
        self.hint_divisor = divisor;
        self
    }

    /// Encode on `threads` threads with [`ParallelWriter`](crate::ParallelWriter)
    /// (1: `ArrowWriter`).
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::{Scenario, Store};
    /// # use parquet_spill::workloads::Workload;
    /// let s = Scenario::new(Workload::LowCardinality { rows: 10 }, Store::Default).with_threads(2);
    /// assert_eq!(s.threads, 2);
    /// ```
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// [`Store::Budget`]: reserve `bytes` of the limit for the caller beside
    /// the input batches (a child can read it back with
    /// [`requested_scenario`](super::requested_scenario), say to bound an
    /// allocator's kept blocks by it).
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::{Scenario, Store};
    /// # use parquet_spill::workloads::Workload;
    /// let s = Scenario::new(Workload::LowCardinality { rows: 10 }, Store::Default).with_reserve(1 << 20);
    /// assert_eq!(s.reserve, 1 << 20);
    /// ```
    pub fn with_reserve(mut self, bytes: usize) -> Self {
        self.reserve = bytes;
        self
    }

    /// Feed the writer batches of `rows` rows.
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::{Scenario, Store};
    /// # use parquet_spill::workloads::Workload;
    /// let scenario = Scenario::new(Workload::LowCardinality { rows: 100 }, Store::Default);
    /// assert_eq!(scenario.with_batch_rows(10).batch_rows, Some(10));
    /// ```
    pub fn with_batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = Some(rows);
        self
    }

    /// Write the output file under `dir` instead of the OS temporary directory.
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::{Scenario, Store};
    /// # use parquet_spill::workloads::Workload;
    /// let scenario = Scenario::new(Workload::LowCardinality { rows: 100 }, Store::Default);
    /// let scenario = scenario.with_output_dir("/var/tmp");
    /// assert_eq!(scenario.output_dir.as_deref(), Some(std::path::Path::new("/var/tmp")));
    /// ```
    pub fn with_output_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.output_dir = Some(dir.into());
        self
    }

    /// Rows per input batch actually used.
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::{Scenario, Store};
    /// # use parquet_spill::workloads::Workload;
    /// let workload = Workload::LowCardinality { rows: 100 };
    /// let scenario = Scenario::new(workload, Store::Default);
    /// assert_eq!(scenario.batch_rows(), workload.default_batch_rows());
    /// ```
    pub fn batch_rows(&self) -> usize {
        self.batch_rows
            .unwrap_or_else(|| self.workload.default_batch_rows())
            .max(1)
    }

    /// `workload/store`, e.g. `skewed-64MiB/file`.
    ///
    /// ```
    /// # use parquet_spill::testkit::measure::{Scenario, Store};
    /// # use parquet_spill::workloads::Workload;
    /// let scenario = Scenario::new(Workload::LowCardinality { rows: 100 }, Store::Default);
    /// assert_eq!(scenario.label(), "dictionary-100/in-memory");
    /// ```
    pub fn label(&self) -> String {
        format!("{}/{}", self.workload.name(), self.store.name())
    }

    /// Serialise for a child process: `key=value` lines.
    pub(super) fn encode(&self) -> io::Result<String> {
        let mut out = String::new();
        let mut put = |key: &str, value: &dyn fmt::Display| {
            out.push_str(&format!("{key}={value}\n"));
        };
        match self.workload {
            Workload::Skewed { rows, fat_len } => {
                put("workload", &"skewed");
                put("rows", &rows);
                put("fat_len", &fat_len);
            }
            Workload::WideMixed { columns, rows } => {
                put("workload", &"wide-mixed");
                put("rows", &rows);
                put("columns", &columns);
            }
            Workload::LowCardinality { rows } => {
                put("workload", &"low-cardinality");
                put("rows", &rows);
            }
        }
        if let Some(rows) = self.batch_rows {
            put("batch_rows", &rows);
        }
        match &self.store {
            Store::Default => put("store", &"default"),
            Store::File { spill_dir } => {
                put("store", &"file");
                if let Some(dir) = spill_dir {
                    put("spill_dir", &path_value(dir)?);
                }
            }
            Store::Budget { limit, spill_dir } => {
                put("store", &"budget");
                put("limit", limit);
                if let Some(dir) = spill_dir {
                    put("spill_dir", &path_value(dir)?);
                }
            }
            Store::PlanOnly { limit } => {
                put("store", &"plan-only");
                put("limit", limit);
            }
            #[cfg(feature = "object_store")]
            Store::BudgetObjectStore { limit } => {
                put("store", &"budget-objects");
                put("limit", limit);
            }
            Store::Custom { name, .. } => {
                return Err(invalid(format!(
                    "store {name:?} is a custom factory, which cannot be sent to a child process; \
                     measure it in-process with measure_write"
                )))
            }
        }
        if let Some(dir) = &self.output_dir {
            put("output_dir", &path_value(dir)?);
        }
        put("codec", &codec_name(self.codec));
        if let Some((page, dictionary, batch)) = self.limits {
            put("limits", &format!("{page},{dictionary},{batch}"));
        }
        put("chunk_statistics", &self.chunk_statistics);
        put("offset_index", &self.offset_index);
        put("hint_divisor", &self.hint_divisor);
        put("threads", &self.threads);
        put("reserve", &self.reserve);
        Ok(out)
    }

    /// Parse what [`encode`](Self::encode) wrote.
    pub(super) fn decode(text: &str) -> io::Result<Self> {
        let mut fields = BTreeMap::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| invalid(format!("scenario line without '=': {line:?}")))?;
            fields.insert(key, value);
        }
        let number = |key: &str| -> io::Result<usize> {
            let value = fields
                .get(key)
                .ok_or_else(|| invalid(format!("scenario lacks {key}")))?;
            value
                .parse()
                .map_err(|e| invalid(format!("scenario {key}={value}: {e}")))
        };
        let rows = number("rows")?;
        let workload = match fields.get("workload").copied() {
            Some("skewed") => Workload::Skewed {
                rows,
                fat_len: number("fat_len")?,
            },
            Some("wide-mixed") => Workload::WideMixed {
                columns: number("columns")?,
                rows,
            },
            Some("low-cardinality") => Workload::LowCardinality { rows },
            other => return Err(invalid(format!("unknown scenario workload {other:?}"))),
        };
        let store = match fields.get("store").copied() {
            Some("default") => Store::Default,
            Some("file") => Store::File {
                spill_dir: fields.get("spill_dir").map(PathBuf::from),
            },
            Some("budget") => Store::Budget {
                limit: number("limit")?,
                spill_dir: fields.get("spill_dir").map(PathBuf::from),
            },
            Some("plan-only") => Store::PlanOnly {
                limit: number("limit")?,
            },
            #[cfg(feature = "object_store")]
            Some("budget-objects") => Store::BudgetObjectStore {
                limit: number("limit")?,
            },
            other => return Err(invalid(format!("unknown scenario store {other:?}"))),
        };
        let limits = match fields.get("limits") {
            None => None,
            Some(text) => {
                let parts: Vec<usize> =
                    text.split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .map_err(|e| invalid(format!("scenario limits={text}: {e}")))?;
                match parts[..] {
                    [page, dictionary, batch] => Some((page, dictionary, batch)),
                    _ => return Err(invalid(format!("scenario limits={text}: three numbers"))),
                }
            }
        };
        let flag = |key: &str, default: bool| fields.get(key).map_or(default, |v| *v == "true");
        Ok(Self {
            workload,
            store,
            batch_rows: fields
                .contains_key("batch_rows")
                .then(|| number("batch_rows"))
                .transpose()?,
            output_dir: fields.get("output_dir").map(PathBuf::from),
            codec: match fields.get("codec") {
                Some(name) => parse_codec(name)?,
                None => Compression::ZSTD(ZstdLevel::default()),
            },
            limits,
            chunk_statistics: flag("chunk_statistics", false),
            offset_index: flag("offset_index", true),
            hint_divisor: fields
                .contains_key("hint_divisor")
                .then(|| number("hint_divisor"))
                .transpose()?
                .map_or(1, |d| d as u64),
            threads: fields
                .contains_key("threads")
                .then(|| number("threads"))
                .transpose()?
                .unwrap_or(1),
            reserve: fields
                .contains_key("reserve")
                .then(|| number("reserve"))
                .transpose()?
                .unwrap_or(0),
        })
    }
}

/// `zstd:1`, `lz4_raw`, `none`, ...: a codec as one word.
fn codec_name(codec: Compression) -> String {
    match codec {
        Compression::UNCOMPRESSED => "none".into(),
        Compression::SNAPPY => "snappy".into(),
        Compression::LZ4 => "lz4".into(),
        Compression::LZ4_RAW => "lz4_raw".into(),
        Compression::LZO => "lzo".into(),
        Compression::GZIP(l) => format!("gzip:{}", l.compression_level()),
        Compression::BROTLI(l) => format!("brotli:{}", l.compression_level()),
        Compression::ZSTD(l) => format!("zstd:{}", l.compression_level()),
    }
}

fn parse_codec(name: &str) -> io::Result<Compression> {
    let bad = |e: String| invalid(format!("scenario codec={name}: {e}"));
    let (kind, level) = name.split_once(':').unwrap_or((name, ""));
    let level = || level.parse::<i64>().map_err(|e| bad(e.to_string()));
    Ok(match kind {
        "none" => Compression::UNCOMPRESSED,
        "snappy" => Compression::SNAPPY,
        "lz4" => Compression::LZ4,
        "lz4_raw" => Compression::LZ4_RAW,
        "lzo" => Compression::LZO,
        "gzip" => {
            Compression::GZIP(GzipLevel::try_new(level()? as u32).map_err(|e| bad(e.to_string()))?)
        }
        "brotli" => Compression::BROTLI(
            BrotliLevel::try_new(level()? as u32).map_err(|e| bad(e.to_string()))?,
        ),
        "zstd" => {
            Compression::ZSTD(ZstdLevel::try_new(level()? as i32).map_err(|e| bad(e.to_string()))?)
        }
        other => return Err(bad(format!("unknown codec {other}"))),
    })
}

pub(super) fn path_value(path: &Path) -> io::Result<&str> {
    path.to_str()
        .filter(|s| !s.contains('\n'))
        .ok_or_else(|| invalid(format!("path {path:?} is not one line of UTF-8")))
}

pub(super) fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
