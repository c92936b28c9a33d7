//! The writers the suite compares: `ArrowWriter`, the parallel
//! column-per-thread path built from `ArrowRowGroupWriterFactory`, and
//! [`ParallelWriter`](crate::ParallelWriter).

use std::sync::Arc;
use std::thread;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowRowGroupWriterFactory, ArrowWriter, ArrowWriterOptions,
};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use super::conformance::SharedFactory;

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
    let options = writer_options(props, factory);
    let mut writer = ArrowWriter::try_new_with_options(Vec::new(), schema, options)?;
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(Bytes::from(writer.into_inner()?))
}

/// Read a whole Parquet file back, batch by batch.
///
/// ```
/// use parquet_spill::testkit::{all_types_batch, read_parquet, write_parquet};
/// let batch = all_types_batch(50, 3);
/// let bytes = write_parquet(&[batch.clone()], Default::default(), None)?;
/// let read = read_parquet(bytes)?;
/// assert_eq!(read.iter().map(|b| b.num_rows()).sum::<usize>(), 50);
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
pub fn read_parquet(file: impl Into<Bytes>) -> Result<Vec<RecordBatch>> {
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file.into())?
            .build()?;
    reader
        .collect::<std::result::Result<_, _>>()
        .map_err(ParquetError::from)
}

/// An `ArrowWriter` of `schema` to `out` made from `plan`, and the plan's monitor (to
/// [`admit`](crate::SpillMonitor::admit) batches and read its stats).
///
/// ```
/// use arrow_schema::{DataType, Field, Schema};
/// use parquet_spill::{testkit::planned_arrow_writer, SpillOptions};
/// let schema = std::sync::Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
/// let plan = SpillOptions::new(32 << 20).plan(&schema)?;
/// let (monitor, writer) = planned_arrow_writer(Vec::new(), schema, plan)?;
/// assert!(writer.close().is_ok());
/// assert_eq!(monitor.stats().pages, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn planned_arrow_writer<W: std::io::Write + Send>(
    out: W,
    schema: SchemaRef,
    plan: crate::SpillPlan,
) -> Result<(crate::SpillMonitor, ArrowWriter<W>)> {
    let monitor = plan.monitor();
    let writer = ArrowWriter::try_new_with_options(out, schema, plan.into_writer_options())?;
    Ok((monitor, writer))
}

/// Write `batches` to `out` with an `ArrowWriter` made from `plan`, each
/// batch admitted and written by the plan's monitor
/// ([`crate::SpillMonitor::write`]), and close it; the plan's monitor, for its stats.
/// A plan for more than one thread ([`crate::SpillOptions::threads`]) is
/// written by a [`crate::ParallelWriter`] on them (which admits each batch
/// itself).
///
/// ```
/// use std::sync::Arc;
/// use arrow_schema::{DataType, Field, Schema};
/// use parquet_spill::{testkit, SpillOptions};
/// let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
/// let batches = testkit::random_batches(&schema, &[100, 50], 1);
/// let plan = SpillOptions::new(32 << 20).plan(&schema)?;
/// let monitor = testkit::write_planned(Vec::new(), schema, plan, &batches)?;
/// assert!(monitor.stats().pages > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_planned<W: std::io::Write + Send>(
    out: W,
    schema: SchemaRef,
    plan: crate::SpillPlan,
    batches: &[RecordBatch],
) -> Result<crate::SpillMonitor> {
    if plan.threads() > 1 {
        let monitor = plan.monitor();
        let mut writer = crate::ParallelWriter::try_new_with_plan(out, schema, plan)?;
        for batch in batches {
            writer.write(batch)?;
        }
        writer.close()?;
        return Ok(monitor);
    }
    let (monitor, mut writer) = planned_arrow_writer(out, schema, plan)?;
    for batch in batches {
        monitor.write(&mut writer, batch)?;
    }
    writer.close()?;
    Ok(monitor)
}

/// Write `batches` through `ArrowRowGroupWriterFactory`, encoding every leaf
/// column on its own thread (the parallel path), one row group per
/// `max_row_group_row_count` rows of the properties (default: one per batch).
///
/// ```
/// use std::sync::Arc;
/// use parquet::file::reader::{FileReader, SerializedFileReader};
/// use parquet_spill::testkit::{all_types_batch, assert_reads_back, write_parquet_parallel};
/// use parquet_spill::FileStoreFactory;
///
/// let batches = [all_types_batch(60, 0), all_types_batch(40, 1)];
/// let expected = write_parquet_parallel(&batches, Default::default(), None)?;
/// let spill = Some(Arc::new(FileStoreFactory::new()?) as _);
/// let file = write_parquet_parallel(&batches, Default::default(), spill)?;
/// assert_eq!(file, expected, "the store does not change a byte");
/// assert_eq!(SerializedFileReader::new(file.clone())?.metadata().num_row_groups(), 2);
/// assert_reads_back("parallel", file, &batches);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

/// Write `batches` with [`ParallelWriter`](crate::ParallelWriter) on
/// `threads` threads; `factory: None` uses parquet's default store.
///
/// ```
/// use parquet_spill::testkit::{all_types_batch, write_parquet, write_parallel_writer};
/// let batches = [all_types_batch(60, 0), all_types_batch(40, 1)];
/// let serial = write_parquet(&batches, Default::default(), None)?;
/// assert_eq!(write_parallel_writer(&batches, Default::default(), None, 2)?, serial);
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
pub fn write_parallel_writer(
    batches: &[RecordBatch],
    props: WriterProperties,
    factory: Option<SharedFactory>,
    threads: usize,
) -> Result<Bytes> {
    let mut writer = parallel_writer(batches, props, factory, threads)?;
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(Bytes::from(writer.into_inner()?))
}

/// [`write_parallel_writer`] through
/// [`ParallelWriter::write_all`](crate::ParallelWriter::write_all), which
/// splices each full row group while the next is encoded.
///
/// ```
/// use parquet::file::properties::WriterProperties;
/// use parquet_spill::testkit::{all_types_batch, write_parquet, write_parallel_writer_all};
/// let batches: Vec<_> = (0..4).map(|i| all_types_batch(60, i)).collect();
/// let props = WriterProperties::builder().set_max_row_group_row_count(Some(50)).build();
/// let serial = write_parquet(&batches, props.clone(), None)?;
/// assert_eq!(write_parallel_writer_all(&batches, props, None, 2)?, serial);
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
pub fn write_parallel_writer_all(
    batches: &[RecordBatch],
    props: WriterProperties,
    factory: Option<SharedFactory>,
    threads: usize,
) -> Result<Bytes> {
    let mut writer = parallel_writer(batches, props, factory, threads)?;
    writer.write_all(batches.iter().cloned().map(Ok::<_, ParquetError>))?;
    Ok(Bytes::from(writer.into_inner()?))
}

/// A `ParallelWriter` into a `Vec` for `batches`' schema.
fn parallel_writer(
    batches: &[RecordBatch],
    props: WriterProperties,
    factory: Option<SharedFactory>,
    threads: usize,
) -> Result<crate::ParallelWriter<Vec<u8>>> {
    let options = writer_options(props, factory);
    Ok(
        crate::ParallelWriter::try_new_with_options(Vec::new(), schema_of(batches)?, options)?
            .with_threads(threads),
    )
}

/// `props`, and `factory` as the page store if given.
fn writer_options(props: WriterProperties, factory: Option<SharedFactory>) -> ArrowWriterOptions {
    let options = ArrowWriterOptions::new().with_properties(props);
    match factory {
        Some(factory) => options.with_page_store_factory(factory),
        None => options,
    }
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

/// Set leaf `col`'s data page row limit to `rows` where parquet has
/// per-column row limits (60), for tests that build on 59 too (where it
/// changes nothing: 59 has only the file's).
///
/// ```
/// use parquet::file::properties::WriterProperties;
/// use parquet::schema::types::ColumnPath;
/// use parquet_spill::testkit::{column_row_limit, set_column_row_limit};
/// let col = ColumnPath::from("x");
/// let b = WriterProperties::builder().set_data_page_row_count_limit(100);
/// let props = set_column_row_limit(b, col.clone(), 1_000_000).build();
/// assert_eq!(props.data_page_row_count_limit(), 100);
/// let version = parquet::file::properties::DEFAULT_CREATED_BY;
/// let expected = if version.contains("version 59.") { 100 } else { 1_000_000 };
/// assert_eq!(column_row_limit(&props, &col), expected);
/// ```
pub fn set_column_row_limit(
    builder: parquet::file::properties::WriterPropertiesBuilder,
    col: parquet::schema::types::ColumnPath,
    rows: usize,
) -> parquet::file::properties::WriterPropertiesBuilder {
    // Stand-in on parquet 59; unused on 60, whose own method wins.
    #[allow(unused_imports)]
    use crate::compat::SetColumnRowLimit;
    builder.set_column_data_page_row_count_limit(col, rows)
}

/// Leaf `col`'s data page row limit: its own where parquet has per-column
/// row limits (60), else the file's (59). Example: [`set_column_row_limit`].
pub fn column_row_limit(
    props: &WriterProperties,
    col: &parquet::schema::types::ColumnPath,
) -> usize {
    // Stand-in on parquet 59; unused on 60, whose own method wins.
    #[allow(unused_imports)]
    use crate::compat::ColumnRowLimit;
    props.column_data_page_row_count_limit(col)
}
