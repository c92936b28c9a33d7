//! The conformance suite: what every [`PageStoreFactory`] must do.
//!
//! Modelled on `object_store`'s shared integration suite: each check is a
//! plain public function taking the factory under test, and
//! [`conformance_tests!`](crate::conformance_tests) stamps them out as one
//! `#[test]` each. A check panics with the name of the failing case, like an
//! `assert!`, because it is test code.
//!
//! The central requirement: a page store only moves bytes, so a file written
//! with it must be **byte-identical** to the one parquet's default in-memory
//! store writes from the same batches and properties, and must read back
//! equal to the input.

use std::sync::{Arc, Mutex};
use std::thread;

use arrow_array::{new_null_array, Array, ArrayRef, Int64Array, RecordBatch};
use arrow_schema::SchemaRef;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory, ArrowWriter, ArrowWriterOptions,
    PageStore, PageStoreArgs, PageStoreFactory,
};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::{CdcOptions, EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;

use super::alloc::CountingAlloc;
use super::data::all_types_batch;

/// A factory handle as the checks take it.
pub type SharedFactory = Arc<dyn PageStoreFactory>;

/// One write to compare: batches, properties, and which writer path.
#[derive(Debug, Clone)]
pub struct Case {
    /// Name printed when the case fails.
    pub name: String,
    /// The batches, written in order.
    pub batches: Vec<RecordBatch>,
    /// Writer properties.
    pub props: WriterProperties,
    /// Use `ArrowRowGroupWriterFactory` with one thread per column instead of `ArrowWriter`.
    pub parallel: bool,
}

impl Case {
    fn new(name: impl Into<String>, batches: Vec<RecordBatch>, props: WriterProperties) -> Self {
        Self {
            name: name.into(),
            batches,
            props,
            parallel: false,
        }
    }
}

/// Write `batches` with `ArrowWriter`; `factory: None` uses parquet's default store.
///
/// ```
/// use parquet_spill::testkit::{all_types_batch, write_parquet};
/// let batch = all_types_batch(50, 3);
/// let bytes = write_parquet(&[batch], Default::default(), None)?;
/// assert_eq!(&bytes[..4], b"PAR1");
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
pub fn write_parquet(
    batches: &[RecordBatch],
    props: WriterProperties,
    factory: Option<SharedFactory>,
) -> Result<Bytes> {
    let schema = schema_of(batches)?;
    let mut options = ArrowWriterOptions::new().with_properties(props);
    if let Some(factory) = factory {
        options = options.with_page_store_factory(factory);
    }
    let mut writer = ArrowWriter::try_new_with_options(Vec::new(), schema, options)?;
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(Bytes::from(writer.into_inner()?))
}

/// Write `batches` through `ArrowRowGroupWriterFactory`, encoding every leaf
/// column on its own thread (the parallel path), one row group per
/// `max_row_group_row_count` rows of the properties (default: one per batch).
pub fn write_parquet_parallel(
    batches: &[RecordBatch],
    props: WriterProperties,
    factory: Option<SharedFactory>,
) -> Result<Bytes> {
    let schema = schema_of(batches)?;
    let mut props = props;
    // As ArrowWriter does, so the reader restores the Arrow types.
    add_encoded_arrow_schema_to_metadata(&schema, &mut props);
    let props = Arc::new(props);
    let parquet_schema = ArrowSchemaConverter::new()
        .with_coerce_types(props.coerce_types())
        .convert(&schema)?;
    let mut writer = SerializedFileWriter::new(
        Vec::new(),
        parquet_schema.root_schema_ptr(),
        Arc::clone(&props),
    )?;
    let mut rg_factory = ArrowRowGroupWriterFactory::new(&writer, Arc::clone(&schema));
    if let Some(factory) = factory {
        rg_factory = rg_factory.with_page_store_factory(factory);
    }
    for (index, batch) in batches.iter().enumerate() {
        let chunks = encode_in_parallel(&rg_factory, index, batch)?;
        let mut row_group = writer.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    Ok(Bytes::from(writer.into_inner()?))
}

fn encode_in_parallel(
    factory: &ArrowRowGroupWriterFactory,
    row_group: usize,
    batch: &RecordBatch,
) -> Result<Vec<ArrowColumnChunk>> {
    let writers = factory.create_column_writers(row_group)?;
    let mut leaves = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        leaves.extend(compute_leaves(field, column)?);
    }
    thread::scope(|scope| {
        let handles: Vec<_> = writers
            .into_iter()
            .zip(leaves)
            .map(|(mut writer, leaf)| {
                scope.spawn(move || {
                    writer.write(&leaf)?;
                    writer.close()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| ParquetError::General("column encoder thread panicked".into()))?
            })
            .collect()
    })
}

fn schema_of(batches: &[RecordBatch]) -> Result<SchemaRef> {
    batches
        .first()
        .map(RecordBatch::schema)
        .ok_or_else(|| ParquetError::General("no batches to write".into()))
}

/// Write `case` with `factory` and with parquet's default store; panic unless
/// the files are byte-identical and read back equal to the input.
pub fn check_case(factory: &SharedFactory, case: &Case) {
    let write = |f: Option<SharedFactory>| {
        let props = case.props.clone();
        if case.parallel {
            write_parquet_parallel(&case.batches, props, f)
        } else {
            write_parquet(&case.batches, props, f)
        }
    };
    let expected =
        write(None).unwrap_or_else(|e| panic!("case {}: default store failed: {e}", case.name));
    let actual = write(Some(Arc::clone(factory)))
        .unwrap_or_else(|e| panic!("case {}: store {factory:?} failed: {e}", case.name));
    if let Some(at) = expected.iter().zip(actual.iter()).position(|(a, b)| a != b) {
        panic!(
            "case {}: output differs from the default store at byte {at}",
            case.name
        );
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "case {}: output length differs",
        case.name
    );
    assert_reads_back(&case.name, actual, &case.batches);
}

/// Panic unless `file` reads back (with parquet's reader) equal to `batches`.
pub fn assert_reads_back(name: &str, file: Bytes, batches: &[RecordBatch]) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.with_batch_size(1000).build())
        .unwrap_or_else(|e| panic!("case {name}: cannot open the written file: {e}"));
    let mut inputs = batches.iter().filter(|b| b.num_rows() > 0);
    let mut current = inputs.next().cloned();
    let mut offset = 0;
    let mut rows = 0;
    for batch in reader {
        let batch = batch.unwrap_or_else(|e| panic!("case {name}: read failed: {e}"));
        let mut at = 0;
        while at < batch.num_rows() {
            let input = current
                .as_ref()
                .unwrap_or_else(|| panic!("case {name}: more rows read than written"));
            let n = (input.num_rows() - offset).min(batch.num_rows() - at);
            for (i, (got, want)) in batch.columns().iter().zip(input.columns()).enumerate() {
                let (got, want) = (got.slice(at, n), want.slice(offset, n));
                assert_eq!(
                    got.data_type(),
                    want.data_type(),
                    "case {name}: column {i} type"
                );
                assert!(
                    same(&got, &want),
                    "case {name}: column {i} ({}) differs in rows {}..{}",
                    input.schema().field(i).name(),
                    rows + at,
                    rows + at + n
                );
            }
            at += n;
            offset += n;
            if offset == input.num_rows() {
                current = inputs.next().cloned();
                offset = 0;
            }
        }
        rows += batch.num_rows();
    }
    assert!(
        current.is_none(),
        "case {name}: fewer rows read than written"
    );
}

fn same(a: &ArrayRef, b: &ArrayRef) -> bool {
    a.to_data() == b.to_data()
}

fn props() -> parquet::file::properties::WriterPropertiesBuilder {
    WriterProperties::builder()
}

fn typed_batches(rows: usize, count: u64) -> Vec<RecordBatch> {
    (0..count).map(|seed| all_types_batch(rows, seed)).collect()
}

/// Every Arrow type, nulls at every level, default properties and both writer versions.
pub fn type_cases() -> Vec<Case> {
    let batches = typed_batches(1500, 3);
    vec![
        Case::new("types/v1", batches.clone(), props().build()),
        Case::new(
            "types/v2",
            batches,
            props()
                .set_writer_version(WriterVersion::PARQUET_2_0)
                .build(),
        ),
    ]
}

/// Every compression codec parquet enables by default, at default levels.
///
/// ```
/// assert_eq!(parquet_spill::testkit::codecs().len(), 7);
/// ```
pub fn codecs() -> [Compression; 7] {
    [
        Compression::UNCOMPRESSED,
        Compression::SNAPPY,
        Compression::GZIP(GzipLevel::default()),
        Compression::BROTLI(BrotliLevel::default()),
        Compression::LZ4,
        Compression::LZ4_RAW,
        Compression::ZSTD(ZstdLevel::default()),
    ]
}

/// Every codec in [`codecs`], with both writer versions.
pub fn codec_cases() -> Vec<Case> {
    let batches = typed_batches(800, 2);
    codecs()
        .into_iter()
        .flat_map(|codec| {
            [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0].map(|version| {
                Case::new(
                    format!("codec/{codec}/{version:?}"),
                    batches.clone(),
                    props()
                        .set_compression(codec)
                        .set_writer_version(version)
                        .build(),
                )
            })
        })
        .collect()
}

/// Statistics levels, page index on and off, small pages, dictionary
/// fallback mid-column, dictionary off, bloom filters, content-defined chunking.
pub fn layout_cases() -> Vec<Case> {
    let batches = typed_batches(2000, 2);
    let mut cases: Vec<Case> = [
        EnabledStatistics::None,
        EnabledStatistics::Chunk,
        EnabledStatistics::Page,
    ]
    .into_iter()
    .map(|s| {
        Case::new(
            format!("statistics/{s:?}"),
            batches.clone(),
            props().set_statistics_enabled(s).build(),
        )
    })
    .collect();
    let layouts = [
        (
            "page-index-off",
            props()
                .set_statistics_enabled(EnabledStatistics::Chunk)
                .set_offset_index_disabled(true),
        ),
        (
            "page-header-statistics",
            props().set_write_page_header_statistics(true),
        ),
        (
            "small-pages",
            props()
                .set_data_page_size_limit(256)
                .set_write_batch_size(64),
        ),
        ("page-row-limit", props().set_data_page_row_count_limit(100)),
        (
            "dictionary-fallback",
            props().set_dictionary_page_size_limit(512),
        ),
        (
            "dictionary-fallback-v2",
            props()
                .set_dictionary_page_size_limit(512)
                .set_writer_version(WriterVersion::PARQUET_2_0),
        ),
        ("dictionary-off", props().set_dictionary_enabled(false)),
        ("bloom-filters", props().set_bloom_filter_enabled(true)),
        (
            "content-defined-chunking",
            props().set_content_defined_chunking(Some(CdcOptions {
                min_chunk_size: 1024,
                max_chunk_size: 8 * 1024,
                ..CdcOptions::default()
            })),
        ),
    ];
    cases.extend(
        layouts
            .into_iter()
            .map(|(name, p)| Case::new(name, batches.clone(), p.build())),
    );
    cases
}

/// Several row groups, empty and all-null batches.
pub fn row_group_cases() -> Vec<Case> {
    let mut batches = typed_batches(1200, 4);
    let schema = batches[0].schema();
    let empty = RecordBatch::new_empty(Arc::clone(&schema));
    let all_null = all_null_batch(&schema, 700);
    batches.insert(1, empty.clone());
    batches.insert(3, all_null.clone());
    vec![
        Case::new(
            "row-groups/500-rows",
            batches.clone(),
            props().set_max_row_group_row_count(Some(500)).build(),
        ),
        Case::new(
            "row-groups/small-bytes",
            batches,
            props().set_max_row_group_bytes(Some(64 * 1024)).build(),
        ),
        Case::new("all-null-only", vec![all_null], props().build()),
        Case::new("empty-only", vec![empty], props().build()),
    ]
}

/// The `ArrowRowGroupWriterFactory` path, one thread per leaf column.
pub fn parallel_cases() -> Vec<Case> {
    let batches = typed_batches(1500, 3);
    [
        ("parallel/default", props().build()),
        (
            "parallel/zstd-v2",
            props()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_writer_version(WriterVersion::PARQUET_2_0)
                .build(),
        ),
        (
            "parallel/dictionary-fallback",
            props()
                .set_dictionary_page_size_limit(512)
                .set_data_page_size_limit(1024)
                .build(),
        ),
    ]
    .into_iter()
    .map(|(name, p)| Case {
        parallel: true,
        ..Case::new(name, batches.clone(), p)
    })
    .collect()
}

/// A batch of `rows` nulls in every nullable column (non-nullable ones get values).
fn all_null_batch(schema: &SchemaRef, rows: usize) -> RecordBatch {
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            if f.is_nullable() {
                new_null_array(f.data_type(), rows)
            } else {
                Arc::new(Int64Array::from_iter_values(0..rows as i64)) as ArrayRef
            }
        })
        .collect();
    RecordBatch::try_new(Arc::clone(schema), columns)
        .unwrap_or_else(|e| panic!("all-null batch for the matrix schema: {e}"))
}

/// Run every case in `cases`.
pub fn check_cases(factory: &SharedFactory, cases: Vec<Case>) {
    for case in &cases {
        check_case(factory, case);
    }
}

/// Obtain a store from `factory` with real [`PageStoreArgs`] for a one-column
/// `Int64` schema. Parquet builds `PageStoreArgs` only inside its writer, so
/// this writes one row with a throwaway writer whose factory hands back one
/// extra store.
pub fn create_store(factory: &SharedFactory) -> Result<Box<dyn PageStore>> {
    struct Grab {
        inner: SharedFactory,
        grabbed: Mutex<Option<Box<dyn PageStore>>>,
    }
    impl std::fmt::Debug for Grab {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Grab")
                .field("inner", &self.inner)
                .finish_non_exhaustive()
        }
    }
    impl PageStoreFactory for Grab {
        fn create(&self, args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
            let extra = self.inner.create(args)?;
            *self
                .grabbed
                .lock()
                .map_err(|_| ParquetError::General("poisoned".into()))? = Some(extra);
            self.inner.create(args)
        }
    }
    let grab = Arc::new(Grab {
        inner: Arc::clone(factory),
        grabbed: Mutex::new(None),
    });
    let batch =
        RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])?;
    let options = ArrowWriterOptions::new().with_page_store_factory(grab.clone());
    let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options)?;
    writer.write(&batch)?;
    drop(writer);
    let store = grab
        .grabbed
        .lock()
        .map_err(|_| ParquetError::General("poisoned".into()))?
        .take();
    store.ok_or_else(|| ParquetError::General("the writer created no store".into()))
}

/// A test blob. Small ones come in a 1 KiB buffer, as parquet's writer hands
/// over page headers, so a store that keeps the buffer keeps 1 KiB.
fn blob(len: usize, seed: u8) -> Bytes {
    let mut v = Vec::with_capacity(len.max(1024));
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    Bytes::from(v)
}

const BLOB_SIZES: [usize; 11] = [0, 1, 17, 255, 256, 257, 4096, 65_537, 1 << 20, 3 << 20, 40];

/// `take` returns exactly what `put` stored, in any order, and every key is distinct.
pub fn check_round_trip(factory: &SharedFactory) {
    let mut store = create_store(factory).unwrap_or_else(|e| panic!("create store: {e}"));
    let mut keys = Vec::new();
    for (i, &len) in BLOB_SIZES.iter().enumerate() {
        let key = store
            .put(blob(len, i as u8))
            .unwrap_or_else(|e| panic!("put {len} bytes: {e}"));
        assert!(
            !keys.iter().any(|(k, _)| *k == key),
            "key {key:?} minted twice"
        );
        keys.push((key, i));
    }
    // The writer takes the dictionary page first: exercise a non-put order.
    keys.rotate_left(3);
    keys.swap(1, 5);
    for (key, i) in keys {
        let got = store
            .take(key)
            .unwrap_or_else(|e| panic!("take {key:?}: {e}"));
        assert_eq!(
            got,
            blob(BLOB_SIZES[i], i as u8),
            "blob {i} ({} bytes) came back different",
            BLOB_SIZES[i]
        );
    }
}

/// An empty blob taken after every other blob of its store is gone (parquet
/// puts a 14-byte header and an empty dictionary page for an empty chunk).
pub fn check_empty_blob_last(factory: &SharedFactory) {
    let mut store = create_store(factory).unwrap_or_else(|e| panic!("create store: {e}"));
    let header = store
        .put(blob(14, 1))
        .unwrap_or_else(|e| panic!("put: {e}"));
    let empty = store
        .put(Bytes::new())
        .unwrap_or_else(|e| panic!("put: {e}"));
    assert_eq!(
        store.take(header).unwrap_or_else(|e| panic!("take: {e}")),
        blob(14, 1)
    );
    let got = store
        .take(empty)
        .unwrap_or_else(|e| panic!("take empty: {e}"));
    assert!(
        got.is_empty(),
        "empty blob came back with {} bytes",
        got.len()
    );
}

/// Many stores from one factory, used at once from many threads, each get their own bytes back.
pub fn check_concurrent_stores(factory: &SharedFactory) {
    thread::scope(|scope| {
        for t in 0..8u8 {
            scope.spawn(move || {
                let mut store =
                    create_store(factory).unwrap_or_else(|e| panic!("create store: {e}"));
                for round in 0..5usize {
                    let keys: Vec<_> = (0..40usize)
                        .map(|i| {
                            let len = (i * 977 + round * 131) % 20_000;
                            (
                                store
                                    .put(blob(len, t))
                                    .unwrap_or_else(|e| panic!("put: {e}")),
                                len,
                            )
                        })
                        .collect();
                    for (key, len) in keys {
                        let got = store.take(key).unwrap_or_else(|e| panic!("take: {e}"));
                        assert_eq!(got, blob(len, t), "thread {t}: blob of {len} bytes differs");
                    }
                }
            });
        }
    });
}

/// `memory_size()` matches the heap the store really holds, as seen by the
/// process's [`CountingAlloc`]. Skipped (returns `false`) when that allocator
/// is not installed; returns `true` when it checked.
pub fn check_memory_size(factory: &SharedFactory, alloc: &'static CountingAlloc) -> bool {
    if !alloc.is_installed() {
        return false;
    }
    let mut store = create_store(factory).unwrap_or_else(|e| panic!("create store: {e}"));
    let before = alloc.current() as i64;
    let reported_before = store.memory_size() as i64;
    let mut keys = Vec::new();
    for round in 0..4u8 {
        // Page-sized blobs, each after a header-sized one, as the writer puts them.
        let sizes = BLOB_SIZES.iter().flat_map(|&len| [40, len]);
        let headers = (0..200).map(|i| 20 + i % 50);
        for (i, len) in sizes.chain(headers).enumerate() {
            keys.push(
                store
                    .put(blob(len, i as u8 ^ round))
                    .unwrap_or_else(|e| panic!("put: {e}")),
            );
        }
        let held = alloc.current() as i64 - before;
        let reported = store.memory_size() as i64 - reported_before;
        let slack = 64 * 1024 + held.abs() / 50;
        assert!(
            (held - reported).abs() <= slack,
            "store reports {reported} bytes in memory but holds {held} (after {} puts)",
            keys.len()
        );
    }
    for key in keys {
        drop(store.take(key).unwrap_or_else(|e| panic!("take: {e}")));
    }
    let held = alloc.current() as i64 - before;
    let reported = store.memory_size() as i64 - reported_before;
    assert!(
        (held - reported).abs() <= 64 * 1024,
        "after taking everything the store reports {reported} bytes but holds {held}"
    );
    true
}

/// Stamp out the whole suite as `#[test]` functions for a factory expression.
///
/// The expression is evaluated once per test and must give a
/// [`SharedFactory`]. Pass a `CountingAlloc` static installed as the global
/// allocator to also check `memory_size()` against real heap use.
///
/// In an integration test (here a store from this crate stands in for yours;
/// in a doc test the generated `#[test]`s compile but do not run):
///
/// ```
/// use parquet_spill::testkit::CountingAlloc;
/// #[global_allocator]
/// static ALLOC: CountingAlloc = CountingAlloc::new();
///
/// mod my_store {
///     parquet_spill::conformance_tests!(
///         std::sync::Arc::new(parquet_spill::testkit::SparseMapStoreFactory),
///         super::ALLOC
///     );
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr, $alloc:path) => {
        $crate::conformance_tests!($factory);
        #[test]
        fn memory_size_matches_heap() {
            assert!(
                $crate::testkit::check_memory_size(
                    &{
                        let f: $crate::testkit::SharedFactory = $factory;
                        f
                    },
                    &$alloc
                ),
                "the CountingAlloc passed is not the global allocator"
            );
        }
    };
    ($factory:expr) => {
        #[test]
        fn round_trip() {
            $crate::testkit::check_round_trip(&{
                let f: $crate::testkit::SharedFactory = $factory;
                f
            });
        }
        #[test]
        fn empty_blob_last() {
            $crate::testkit::check_empty_blob_last(&{
                let f: $crate::testkit::SharedFactory = $factory;
                f
            });
        }
        #[test]
        fn concurrent_stores() {
            $crate::testkit::check_concurrent_stores(&{
                let f: $crate::testkit::SharedFactory = $factory;
                f
            });
        }
        #[test]
        fn every_type() {
            $crate::testkit::check_cases(
                &{
                    let f: $crate::testkit::SharedFactory = $factory;
                    f
                },
                $crate::testkit::type_cases(),
            );
        }
        #[test]
        fn every_codec() {
            $crate::testkit::check_cases(
                &{
                    let f: $crate::testkit::SharedFactory = $factory;
                    f
                },
                $crate::testkit::codec_cases(),
            );
        }
        #[test]
        fn page_layouts() {
            $crate::testkit::check_cases(
                &{
                    let f: $crate::testkit::SharedFactory = $factory;
                    f
                },
                $crate::testkit::layout_cases(),
            );
        }
        #[test]
        fn row_groups() {
            $crate::testkit::check_cases(
                &{
                    let f: $crate::testkit::SharedFactory = $factory;
                    f
                },
                $crate::testkit::row_group_cases(),
            );
        }
        #[test]
        fn parallel_path() {
            $crate::testkit::check_cases(
                &{
                    let f: $crate::testkit::SharedFactory = $factory;
                    f
                },
                $crate::testkit::parallel_cases(),
            );
        }
    };
}
