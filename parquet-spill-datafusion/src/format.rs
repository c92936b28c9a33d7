//! The file format DataFusion's `COPY ... STORED AS` and listing tables find
//! by name.
//!
//! Why a file format: DataFusion builds a `COPY`'s sink from the format the
//! statement names (`STORED AS <ext>`, looked up by
//! [`GetExt::get_ext`]). Ours reads like DataFusion's own Parquet format
//! (reading delegates to it: the files are plain Parquet) and writes
//! through [`SpillParquetSink`].

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::config::ConfigFileType;
use datafusion::common::{not_impl_err, GetExt, Result, Statistics};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::write::get_writer_schema;
use datafusion::datasource::file_format::{FileFormat, FileFormatFactory};
use datafusion::datasource::physical_plan::{FileScanConfig, FileSinkConfig, FileSource};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr_common::sort_expr::{LexOrdering, LexRequirement};
use datafusion::physical_plan::ExecutionPlan;

use crate::{SpillParquetSink, SpillSinkOptions};

/// The name `STORED AS` uses unless told otherwise.
///
/// ```
/// assert_eq!(parquet_spill_datafusion::DEFAULT_EXT, "parquet_spill");
/// ```
pub const DEFAULT_EXT: &str = "parquet_spill";

/// Registers our format under a name (`parquet_spill` by default; `parquet`
/// replaces DataFusion's own Parquet writer for every `COPY`).
///
/// ```
/// use std::sync::Arc;
/// use datafusion::prelude::SessionContext;
/// use parquet_spill_datafusion::{SpillParquetFormatFactory, SpillSinkOptions};
/// let ctx = SessionContext::new();
/// let factory = SpillParquetFormatFactory::new(SpillSinkOptions::default().with_memory_limit(64 << 20));
/// ctx.state_ref().write().register_file_format(Arc::new(factory), true)?;
/// assert!(ctx.state().get_file_format_factory("parquet_spill").is_some());
/// # Ok::<(), datafusion::error::DataFusionError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SpillParquetFormatFactory {
    ext: String,
    options: SpillSinkOptions,
}

impl SpillParquetFormatFactory {
    /// A factory named [`DEFAULT_EXT`] whose sinks default to `options`
    /// (a statement's `spill_*` options override them).
    ///
    /// ```
    /// use datafusion::common::GetExt;
    /// let f = parquet_spill_datafusion::SpillParquetFormatFactory::new(Default::default());
    /// assert_eq!(f.get_ext(), "parquet_spill");
    /// ```
    pub fn new(options: SpillSinkOptions) -> Self {
        Self {
            ext: DEFAULT_EXT.into(),
            options,
        }
    }

    /// Register under `ext` instead (`STORED AS <ext>`; `"parquet"` makes
    /// every Parquet `COPY` of the session spill).
    ///
    /// ```
    /// use datafusion::common::GetExt;
    /// let f = parquet_spill_datafusion::SpillParquetFormatFactory::new(Default::default()).with_ext("parquet");
    /// assert_eq!(f.get_ext(), "parquet");
    /// ```
    pub fn with_ext(mut self, ext: impl Into<String>) -> Self {
        self.ext = ext.into();
        self
    }
}

impl GetExt for SpillParquetFormatFactory {
    fn get_ext(&self) -> String {
        self.ext.clone()
    }
}

impl FileFormatFactory for SpillParquetFormatFactory {
    fn create(
        &self,
        state: &dyn Session,
        format_options: &HashMap<String, String>,
    ) -> Result<Arc<dyn FileFormat>> {
        let mut rest = format_options.clone();
        let options = self.options.clone().take_from(&mut rest)?;
        let mut table = state.default_table_options();
        table.set_config_format(ConfigFileType::PARQUET);
        table.alter_with_string_hash_map(&rest)?;
        Ok(Arc::new(SpillParquetFormat {
            inner: ParquetFormat::default().with_options(table.parquet),
            options,
        }))
    }

    fn default(&self) -> Arc<dyn FileFormat> {
        Arc::new(SpillParquetFormat {
            inner: ParquetFormat::default(),
            options: self.options.clone(),
        })
    }
}

/// DataFusion's Parquet format for reading, [`SpillParquetSink`] for writing.
///
/// ```
/// use datafusion::datasource::file_format::FileFormatFactory;
/// use parquet_spill_datafusion::SpillParquetFormatFactory;
/// let format = SpillParquetFormatFactory::new(Default::default()).default();
/// assert_eq!(format.get_ext(), "parquet", "the files are plain Parquet");
/// ```
#[derive(Debug)]
pub struct SpillParquetFormat {
    inner: ParquetFormat,
    options: SpillSinkOptions,
}

impl SpillParquetFormat {
    /// The parquet options (DataFusion's) and ours.
    ///
    /// ```
    /// use datafusion::datasource::file_format::FileFormatFactory;
    /// use parquet_spill_datafusion::{SpillParquetFormat, SpillParquetFormatFactory};
    /// let factory = SpillParquetFormatFactory::new(Default::default());
    /// let format = factory.default();
    /// let any: &dyn std::any::Any = format.as_ref();
    /// let ours = any.downcast_ref::<SpillParquetFormat>().unwrap();
    /// assert_eq!(ours.options().1.memory_limit, None);
    /// ```
    pub fn options(
        &self,
    ) -> (
        &datafusion::common::config::TableParquetOptions,
        &SpillSinkOptions,
    ) {
        (self.inner.options(), &self.options)
    }
}

#[async_trait]
impl FileFormat for SpillParquetFormat {
    fn get_ext(&self) -> String {
        // The files written are plain Parquet.
        self.inner.get_ext()
    }

    fn get_ext_with_compression(&self, c: &FileCompressionType) -> Result<String> {
        self.inner.get_ext_with_compression(c)
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        self.inner.compression_type()
    }

    async fn infer_schema(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        objects: &[ObjectMeta],
    ) -> Result<SchemaRef> {
        self.inner.infer_schema(state, store, objects).await
    }

    async fn infer_stats(
        &self,
        state: &dyn Session,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> Result<Statistics> {
        self.inner
            .infer_stats(state, store, table_schema, object)
            .await
    }

    async fn create_physical_plan(
        &self,
        state: &dyn Session,
        conf: FileScanConfig,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.create_physical_plan(state, conf).await
    }

    async fn create_writer_physical_plan(
        &self,
        input: Arc<dyn ExecutionPlan>,
        _state: &dyn Session,
        conf: FileSinkConfig,
        order_requirements: Option<LexRequirement>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if conf.insert_op != InsertOp::Append {
            return not_impl_err!("parquet-spill: only appending writes (COPY, INSERT INTO)");
        }
        let sorting = order_requirements
            .as_ref()
            .and_then(|required| sorting_columns(required, &conf));
        let sink = SpillParquetSink::new(conf, self.inner.options().clone(), self.options.clone())
            .with_sorting_columns(sorting);
        Ok(Arc::new(DataSinkExec::new(
            input,
            Arc::new(sink),
            order_requirements,
        )))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        self.inner.file_source(table_schema)
    }
}

/// The Parquet `sorting_columns` of a `COPY (... ORDER BY ...)`, as
/// DataFusion's own sink writes them: `None` unless every sort key is a
/// plain column; keys not written (partition columns) are left out.
fn sorting_columns(required: &LexRequirement, conf: &FileSinkConfig) -> Option<Vec<SortingColumn>> {
    let ordering: LexOrdering = required.clone().into();
    let writer_schema = get_writer_schema(conf);
    let mut columns = Vec::new();
    for key in ordering.iter() {
        let column = key.expr.downcast_ref::<Column>()?;
        let name = conf.output_schema().fields().get(column.index())?.name();
        if let Some((index, _)) = writer_schema.column_with_name(name) {
            columns.push(SortingColumn {
                column_idx: i32::try_from(index).ok()?,
                descending: key.options.descending,
                nulls_first: key.options.nulls_first,
            });
        }
    }
    Some(columns).filter(|c| !c.is_empty())
}
