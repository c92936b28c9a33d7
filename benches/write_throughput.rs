//! Write throughput of `ArrowWriter` with each page store, as ratios against
//! parquet's in-memory default measured in the same run.
//!
//! Why this bench exists: spilling pages to disk is only worth offering if it
//! costs (almost) nothing in speed. The targets: [`FileStoreFactory`] at least
//! 0.95x as fast as the in-memory default, and at least as fast as the simple
//! one-temp-file-per-column-chunk store from parquet's own docs. Absolute
//! MiB/s on a shared, noisy machine mean little, so every group measures all
//! three stores on the same batches and `scripts/bench_ratios.py` turns the
//! results into ratios.
//!
//! Stores:
//! - `in-memory`: no factory set, i.e. parquet's `InMemoryPageStoreFactory`;
//! - `file-store`: a fresh [`FileStoreFactory::new`] per writer, created
//!   inside the timed iteration as a user would;
//! - `file-per-column`: the reference design from the docs of
//!   `ArrowWriterOptions::with_page_store_factory` (one `tempfile()` per
//!   column chunk, append on `put`, seek + read on `take`);
//! - `tiered-roomy`: a `TieredStoreFactory` whose budget exceeds the row
//!   group (should match the in-memory default: nothing spills);
//! - `budget-128MiB`: `SpillOptions::new(128 MiB)`, the planned
//!   writer (smaller pages, tiered store) a memory-bounded user gets.
//!
//! With feature `object_store`, the group `object-store/skewed-…` compares
//! `ObjectStoreFactory` (default settings: 8 MiB buffer, one background
//! upload, 8 MiB read-ahead) with the file store on the narrow skewed
//! workload:
//! - `os-memory`, `os-local-fs`: over object_store's `InMemory` and
//!   `LocalFileSystem` (a temp dir);
//! - `os-memory-20ms`: `InMemory` behind a wrapper adding 20 ms to every put
//!   and get, as a remote store's round trip; `os-memory-20ms-serial` is the
//!   same with `uploads_in_flight(0)` and `read_ahead(0)`, to show what the
//!   overlap and the read-ahead buy;
//! - `os-s3-moto`: S3 at `PARQUET_SPILL_S3_ENDPOINT` (a moto server, see
//!   `scripts/s3_server.sh`), only when that variable is set.
//!
//! Each writer produces one zstd row group into [`std::io::sink`], so output
//! storage is not measured; batches are generated once, outside the timing.
//!
//! Run `cargo bench --bench write_throughput` (add `--features object_store`
//! for the object-store group), then `python3 scripts/bench_ratios.py`.
//! `PARQUET_SPILL_BENCH_SCALE` (default `1.0`) scales the workloads.
//! `cargo test --benches` runs each case once.

use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use parquet::arrow::arrow_writer::{
    ArrowWriter, ArrowWriterOptions, PageKey, PageStore, PageStoreArgs, PageStoreFactory,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet_spill::workloads::Workload;
use parquet_spill::{FileStoreFactory, MemoryBudget, SpillOptions, TieredStoreFactory};

#[cfg(feature = "object_store")]
#[path = "../tests/common/s3_server.rs"]
mod s3_server;

/// Environment variable scaling the workloads (a positive float, default 1.0).
const SCALE_VAR: &str = "PARQUET_SPILL_BENCH_SCALE";
/// Raw bytes of the narrow, skewed workload at scale 1.
const SKEWED_BYTES: f64 = (32 << 20) as f64;
/// Columns and rows (at scale 1) of the wide workload.
const WIDE_COLUMNS: usize = 300;
const WIDE_ROWS: f64 = 8192.0;
/// Samples per store; each takes at least one whole write.
const SAMPLES: usize = 10;
/// A pessimistic write speed, to give criterion time for [`SAMPLES`] writes
/// (it warns when the measurement time is too short for them).
const SLOW_BYTES_PER_SEC: f64 = (150 << 20) as f64;

/// The page stores compared. The names are the criterion function ids that
/// `scripts/bench_ratios.py` looks for.
#[derive(Debug, Clone, Copy)]
enum Backend {
    InMemory,
    FileStore,
    FilePerColumn,
    /// `TieredStoreFactory` with a budget larger than the row group.
    TieredRoomy,
    /// `SpillOptions::new(128 MiB)`: planned encoders, tiered pages.
    Budget128,
    /// `ObjectStoreFactory` over some object store.
    #[cfg(feature = "object_store")]
    Object(remote::Target),
}

impl Backend {
    const ALL: [Backend; 5] = [
        Backend::InMemory,
        Backend::FileStore,
        Backend::FilePerColumn,
        Backend::TieredRoomy,
        Backend::Budget128,
    ];

    fn name(self) -> &'static str {
        match self {
            Backend::InMemory => "in-memory",
            Backend::FileStore => "file-store",
            Backend::FilePerColumn => "file-per-column",
            Backend::TieredRoomy => "tiered-roomy",
            Backend::Budget128 => "budget-128MiB",
            #[cfg(feature = "object_store")]
            Backend::Object(target) => target.name(),
        }
    }

    /// Writer options using this store; called inside the timed iteration.
    fn options(self, properties: &WriterProperties, workload: &Workload) -> ArrowWriterOptions {
        let options = ArrowWriterOptions::new().with_properties(properties.clone());
        let spill = || FileStoreFactory::new().expect("create the spill file");
        let factory: Arc<dyn PageStoreFactory> = match self {
            Backend::InMemory => return options,
            Backend::FileStore => Arc::new(spill()),
            Backend::FilePerColumn => Arc::new(FilePerColumnFactory),
            Backend::TieredRoomy => Arc::new(TieredStoreFactory::new(
                MemoryBudget::new(usize::MAX / 2),
                spill(),
            )),
            Backend::Budget128 => {
                return SpillOptions::new(128 << 20)
                    .properties(properties.clone())
                    .expected_file_bytes(workload.raw_bytes())
                    .plan(&workload.schema())
                    .expect("plan a 128 MiB writer")
                    .into_writer_options()
            }
            #[cfg(feature = "object_store")]
            Backend::Object(target) => Arc::new(target.factory()),
        };
        options.with_page_store_factory(factory)
    }
}

/// The reference store: parquet's doc example, one temp file per column chunk.
#[derive(Debug)]
struct FilePerColumnFactory;

impl PageStoreFactory for FilePerColumnFactory {
    fn create(&self, _args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        Ok(Box::new(FilePerColumnStore {
            file: tempfile::tempfile()?,
            end: 0,
            locations: Vec::new(),
        }))
    }
}

struct FilePerColumnStore {
    file: File,
    /// Length of the file so far.
    end: u64,
    /// `(offset, len)` of each blob, indexed by key.
    locations: Vec<(u64, usize)>,
}

impl PageStore for FilePerColumnStore {
    fn put(&mut self, value: Bytes) -> parquet::errors::Result<PageKey> {
        self.file.seek(SeekFrom::Start(self.end))?;
        self.file.write_all(&value)?;
        let key = PageKey::new(self.locations.len() as u64);
        self.locations.push((self.end, value.len()));
        self.end += value.len() as u64;
        Ok(key)
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<Bytes> {
        let (offset, len) = usize::try_from(key.get())
            .ok()
            .and_then(|i| self.locations.get(i).copied())
            .ok_or_else(|| ParquetError::General(format!("unknown page key {}", key.get())))?;
        let mut buf = vec![0u8; len];
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.read_exact(&mut buf)?;
        Ok(Bytes::from(buf))
    }
}

/// `PARQUET_SPILL_BENCH_SCALE`, or 1.0 when unset.
fn scale() -> f64 {
    match std::env::var(SCALE_VAR) {
        Err(_) => 1.0,
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(scale) if scale.is_finite() && scale > 0.0 => scale,
            _ => panic!("{SCALE_VAR} must be a positive number, got {text:?}"),
        },
    }
}

/// One unlimited row group, zstd at its default level.
fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_max_row_group_row_count(None)
        .set_max_row_group_bytes(None)
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build()
}

/// Write every batch with `backend` into a sink: the timed operation.
fn write_all(
    backend: Backend,
    workload: &Workload,
    batches: &[RecordBatch],
    properties: &WriterProperties,
) {
    let schema = batches[0].schema();
    let options = backend.options(properties, workload);
    let mut writer = ArrowWriter::try_new_with_options(std::io::sink(), schema, options)
        .expect("create the writer");
    for batch in batches {
        writer.write(batch).expect("write a batch");
    }
    let metadata = writer.close().expect("close the writer");
    assert_eq!(
        metadata.num_row_groups(),
        1,
        "the bench measures one row group"
    );
    black_box(metadata);
}

/// One criterion group `<prefix>/<workload>`, one function per store.
fn bench_workload(c: &mut Criterion, prefix: &str, workload: Workload, backends: &[Backend]) {
    let batches: Vec<RecordBatch> = workload.batches(workload.default_batch_rows()).collect();
    let properties = writer_properties();
    let mut group = c.benchmark_group(format!("{prefix}/{}", workload.name()));
    // One write takes from tens of milliseconds to seconds: a few flat samples.
    let slow_write = Duration::from_secs_f64(workload.raw_bytes() as f64 / SLOW_BYTES_PER_SEC);
    group
        .sample_size(SAMPLES)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time((slow_write * SAMPLES as u32).max(Duration::from_secs(5)))
        .throughput(Throughput::Bytes(workload.raw_bytes()));
    for &backend in backends {
        group.bench_function(backend.name(), |b| {
            b.iter(|| write_all(backend, &workload, &batches, &properties))
        });
    }
    group.finish();
}

fn write_throughput(c: &mut Criterion) {
    let scale = scale();
    let workloads = [
        Workload::skewed_bytes((SKEWED_BYTES * scale) as u64),
        Workload::WideMixed {
            columns: WIDE_COLUMNS,
            rows: ((WIDE_ROWS * scale).round() as usize).max(1),
        },
    ];
    for workload in workloads {
        bench_workload(c, "write", workload, &Backend::ALL);
    }
    #[cfg(feature = "object_store")]
    bench_workload(
        c,
        "object-store",
        Workload::skewed_bytes((SKEWED_BYTES * scale) as u64),
        &remote::backends(),
    );
}

/// The object-store targets of the `object-store` group.
#[cfg(feature = "object_store")]
mod remote {
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use object_store::local::LocalFileSystem;
    use object_store::memory::InMemory;
    use object_store::ObjectStore;
    use parquet_spill::ObjectStoreFactory;

    use super::s3_server::S3Server;
    use super::Backend;
    use parquet_spill::testkit::object_store::CountingStore;

    /// Round trip added to each request by the `-20ms` targets.
    const LATENCY: Duration = Duration::from_millis(20);

    #[derive(Debug, Clone, Copy)]
    pub enum Target {
        Memory,
        LocalFs,
        Latency { overlap: bool },
        S3,
    }

    /// The group's stores: the two baselines, then the object stores (S3
    /// only when `PARQUET_SPILL_S3_ENDPOINT` is set).
    pub fn backends() -> Vec<Backend> {
        let mut all = vec![
            Backend::InMemory,
            Backend::FileStore,
            Backend::Object(Target::Memory),
            Backend::Object(Target::LocalFs),
            Backend::Object(Target::Latency { overlap: true }),
            Backend::Object(Target::Latency { overlap: false }),
        ];
        if s3().is_some() {
            all.push(Backend::Object(Target::S3));
        }
        all
    }

    /// A bucket on the S3 server at `PARQUET_SPILL_S3_ENDPOINT`, made once.
    fn s3() -> Option<&'static Arc<dyn ObjectStore>> {
        static S3: OnceLock<Option<Arc<dyn ObjectStore>>> = OnceLock::new();
        S3.get_or_init(|| {
            let server = S3Server::from_env()?;
            let bucket = format!("parquet-spill-bench-{}", std::process::id());
            server.create_bucket(&bucket);
            Some(server.store(&bucket))
        })
        .as_ref()
    }

    impl Target {
        pub fn name(self) -> &'static str {
            match self {
                Target::Memory => "os-memory",
                Target::LocalFs => "os-local-fs",
                Target::Latency { overlap: true } => "os-memory-20ms",
                Target::Latency { overlap: false } => "os-memory-20ms-serial",
                Target::S3 => "os-s3-moto",
            }
        }

        /// A fresh factory (and runtime), as a user would make per writer.
        pub fn factory(self) -> ObjectStoreFactory {
            static LOCAL: OnceLock<Arc<dyn ObjectStore>> = OnceLock::new();
            let store: Arc<dyn ObjectStore> = match self {
                Target::Memory => Arc::new(InMemory::new()),
                Target::LocalFs => Arc::clone(LOCAL.get_or_init(|| {
                    let dir = tempfile::tempdir().expect("temp dir").keep();
                    Arc::new(LocalFileSystem::new_with_prefix(dir).expect("local store"))
                })),
                Target::Latency { .. } => {
                    Arc::new(CountingStore::new(Arc::new(InMemory::new()), 0).with_latency(LATENCY))
                }
                Target::S3 => Arc::clone(s3().expect("S3 target without an endpoint")),
            };
            let builder = ObjectStoreFactory::builder(store, "bench".into());
            let builder = match self {
                Target::Latency { overlap: false } => builder.uploads_in_flight(0).read_ahead(0),
                _ => builder,
            };
            builder.build().expect("object-store factory")
        }
    }
}

criterion_group!(benches, write_throughput);
criterion_main!(benches);
