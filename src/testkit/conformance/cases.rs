//! The cases every store is held to: types, codecs, page layouts, row
//! groups and the parallel path.

use std::sync::Arc;

use arrow_array::{new_null_array, RecordBatch};
use arrow_schema::SchemaRef;
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::{CdcOptions, EnabledStatistics, WriterProperties, WriterVersion};

use super::Case;
use crate::testkit::data::{all_types_batch, random_batch};

fn props() -> parquet::file::properties::WriterPropertiesBuilder {
    WriterProperties::builder()
}

fn typed_batches(rows: usize, count: u64) -> Vec<RecordBatch> {
    (0..count).map(|seed| all_types_batch(rows, seed)).collect()
}

/// Every Arrow type, nulls at every level, default properties and both writer versions.
///
/// ```
/// use parquet::file::properties::WriterVersion;
/// use parquet_spill::testkit::{all_types_schema, type_cases};
/// let cases = type_cases();
/// let names: Vec<_> = cases.iter().map(|c| c.name.as_str()).collect();
/// assert_eq!(names, ["types/v1", "types/v2"]);
/// assert_eq!(cases[1].props.writer_version(), WriterVersion::PARQUET_2_0);
/// assert!(cases.iter().all(|c| !c.parallel && c.batches[0].schema() == all_types_schema()));
/// ```
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
///
/// ```
/// use std::collections::HashSet;
/// use parquet::schema::types::ColumnPath;
/// use parquet_spill::testkit::{codec_cases, codecs};
/// let cases = codec_cases();
/// assert_eq!(cases.len(), 2 * codecs().len());
/// let names: HashSet<_> = cases.iter().map(|c| c.name.as_str()).collect();
/// assert_eq!(names.len(), cases.len(), "names are unique");
/// let column = ColumnPath::from("non_null_i64");
/// for codec in codecs() {
///     assert_eq!(cases.iter().filter(|c| c.props.compression(&column) == codec).count(), 2);
/// }
/// ```
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
///
/// ```
/// use parquet_spill::testkit::layout_cases;
/// let cases = layout_cases();
/// let small = cases.iter().find(|c| c.name == "small-pages").expect("a small-pages case");
/// assert_eq!(small.props.data_page_size_limit(), 256);
/// assert!(cases.iter().any(|c| c.name == "bloom-filters"));
/// assert!(cases.iter().all(|c| !c.parallel && !c.batches.is_empty()));
/// ```
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
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{check_case, row_group_cases, SharedFactory};
/// use parquet_spill::MemoryStoreFactory;
/// let cases = row_group_cases();
/// assert_eq!(cases[0].props.max_row_group_row_count(), Some(500));
/// let empty = cases.iter().find(|c| c.name == "empty-only").expect("an empty-only case");
/// assert_eq!(empty.batches[0].num_rows(), 0);
/// // The cheapest case of the matrix, checked against a real store:
/// let factory: SharedFactory = Arc::new(MemoryStoreFactory::new());
/// check_case(&factory, empty);
/// ```
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
///
/// ```
/// use parquet_spill::testkit::parallel_cases;
/// let cases = parallel_cases();
/// assert_eq!(cases.len(), 3);
/// assert!(cases.iter().all(|c| c.parallel && c.name.starts_with("parallel/")));
/// ```
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
    let values = random_batch(schema, rows, 99);
    let columns = schema
        .fields()
        .iter()
        .zip(values.columns())
        .map(|(f, values)| {
            if f.is_nullable() {
                new_null_array(f.data_type(), rows)
            } else {
                Arc::clone(values)
            }
        })
        .collect();
    RecordBatch::try_new(Arc::clone(schema), columns)
        .unwrap_or_else(|e| panic!("all-null batch for the matrix schema: {e}"))
}
