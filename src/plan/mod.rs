//! The planner: fit parquet's own limits to a memory limit, and say what
//! every part will cost.
//!
//! Why: spilling pages is necessary but not sufficient. Every leaf column's
//! writer holds a page under construction, a dictionary and its hash table,
//! and a compression codec (zstd's contexts live outside the Rust heap), all
//! at once for a whole row group; every finished page leaves metadata until
//! the file closes. With parquet's defaults a 1,500-column schema needs
//! gigabytes before a single page is stored anywhere.
//!
//! The planner walks a ladder of settings from generous to tight — data page
//! size `P` from 1 MiB down to 4 KiB, and at each `P` dictionaries kept, then
//! dropped — deriving the dictionary page size (`P / 4`), the page row-count
//! limit (`P / 8`, between 1,024 and parquet's 20,000) and the write batch
//! from `P`. It takes the first rung whose reserved memory — encoders
//! (`model.rs`), codec contexts (`codec.rs`), one page's transient per
//! thread, the allocator's twentieth (at least 3 MiB for the process) and
//! any caller reservation — leaves an
//! eighth of the limit (and the page metadata
//! of the expected file, when given) for pages and metadata. Because the
//! rungs do not depend on the limit, a larger limit never yields a later
//! rung: never smaller pages, never fewer dictionaries. The reservation is
//! taken from the budget; page metadata is charged as it is written
//! (`src/metadata.rs`); heap pages take what is left and yield to it.
//!
//! A limit too small for every rung is refused with
//! [`Error::BudgetTooSmall`], naming the smallest limit that works and, when
//! the codec is part of the problem, the smallest with a cheaper codec. The
//! caller's codec is never changed.

pub(crate) mod codec;
pub use codec::{codec_memory, CodecMemory};
pub(crate) mod model;
mod properties;
pub use properties::check_properties;

use std::fmt;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Schema};
use parquet::arrow::ArrowSchemaConverter;
use parquet::file::properties::{
    EnabledStatistics, WriterProperties, DEFAULT_COLUMN_INDEX_TRUNCATE_LENGTH,
    DEFAULT_DATA_PAGE_ROW_COUNT_LIMIT, DEFAULT_PAGE_SIZE, DEFAULT_WRITE_BATCH_SIZE,
};
use parquet::schema::types::{ColumnDescriptor, ColumnPath};

use self::model::{Leaf, Settings};
// Stand-ins on parquet 59; unused on 60, whose own methods win.
#[allow(unused_imports)]
use crate::compat::{ColumnRowLimit, DeltaLayout, DistinctValues, SetColumnRowLimit};
use crate::error::{Alternative, Error, Result};
use crate::metadata::{long_page_trigger, ColumnCost, CostModel, LongPages, LongStatistics};

/// Page sizes the planner tries, largest first.
const PAGE_LADDER: [usize; 9] = [
    1 << 20,
    512 << 10,
    256 << 10,
    128 << 10,
    64 << 10,
    32 << 10,
    16 << 10,
    8 << 10,
    4 << 10,
];
/// Part of the limit always left for pages and metadata: 1 / ROOM_SHARE.
const ROOM_SHARE: usize = 8;
/// The fewest rows a sampled plan gives every column's pages on parquet
/// 59, which has one row limit for all: one list row of many values would
/// otherwise make every column's pages a row or two, each with its
/// metadata until the file closes (an `Int64` page of 64 rows is 512
/// bytes beside some 100 of metadata).
const SHARED_LIST_ROWS: usize = 64;
/// What repeated leaves' pages of a sampled plan may take beyond it
/// ([`model::list_rows`]): half the room every plan leaves.
fn list_spare(limit: usize) -> usize {
    limit / ROOM_SHARE / 2
}
/// Part of the limit reserved for the allocator's overhead (freed heap that
/// stays resident): 1 / ALLOCATOR_SHARE. Without it, (c) at full size at
/// its minimum (202 MiB, LZ4_RAW) measured a resident-set growth of
/// 204.1 MiB with 174.3 MiB of heap and a 14 MiB input batch.
pub(crate) const ALLOCATOR_SHARE: usize = 20;
/// The least of the limit reserved for the process itself, all writers of a
/// budget together, where the allocator's twentieth is less (limits below
/// 60 MiB): the resident set grows on a writer's first write by the code
/// of parquet and its codecs paged in, file-backed pages that `VmHWM`
/// counts, whatever is written. A review measured 1.6–1.9 MiB over a
/// 100-row write, and 2.0 MiB over the heap with gzip; limits of 0.1–3 MiB
/// were accepted and grew the resident set up to 3.8 times theirs.
pub(crate) const PROCESS_FLOOR: usize = 3 << 20;

/// What the limit keeps for the allocator and the process: its twentieth,
/// at least `floor`.
fn slack(limit: usize, floor: usize) -> usize {
    (limit / ALLOCATOR_SHARE).max(floor)
}
/// Column-index truncation the planner falls back to for long values.
const TIGHT_TRUNCATE: usize = 16;
/// Smallest page row-count limit the planner sets.
const MIN_ROWS: usize = 1024;
/// The fewest rows a page is given where a leaf's encoder keeps a handle
/// per value ([`model::Leaf::delta_handles`]), with a write batch as small
/// (the hand-tuned configuration's): such a leaf keeps up to ~200 KiB at
/// [`MIN_ROWS`], a quarter of that here.
const DELTA_ROWS: usize = 256;

/// What the planner decided for one setting, and why.
///
/// ```
/// use parquet_spill::plan::PlanChange;
/// let c = PlanChange { column: None, setting: "data_page_size_limit", from: "1048576".into(), to: "65536".into() };
/// assert_eq!(c.to_string(), "data_page_size_limit: 1048576 -> 65536");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    /// The column path, or `None` for a file-wide setting.
    pub column: Option<String>,
    /// The `WriterProperties` setting.
    pub setting: &'static str,
    /// The caller's value.
    pub from: String,
    /// The planned value.
    pub to: String,
}

impl fmt::Display for PlanChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(f, "{c}: {}: {} -> {}", self.setting, self.from, self.to),
            None => write!(f, "{}: {} -> {}", self.setting, self.from, self.to),
        }
    }
}

/// The planner's memory estimate, in bytes, part by part.
///
/// `encoders`, `codec`, `transient` and `reserved_extra` are reserved from
/// the budget when the plan is made; `page_metadata` is what the expected
/// file's metadata will cost (charged as it is written, not reserved).
///
/// ```
/// let e = parquet_spill::plan::Estimate::default();
/// assert_eq!((e.reserved(), e.total()), (0, 0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Estimate {
    /// Page buffers, dictionaries and hash tables of every leaf column's writer.
    pub encoders: usize,
    /// Compression codec contexts (zstd's live outside the Rust heap).
    pub codec: usize,
    /// One page being compressed and handed to the store (per thread), and
    /// with several threads the page being spliced into the file.
    pub transient: usize,
    /// Memory the caller asked the plan to reserve for itself (input batches).
    pub reserved_extra: usize,
    /// The allocator's share of the limit: heap freed by the writer that
    /// the C allocator keeps resident (arena fragmentation), measured at up
    /// to ~8 % of the Rust heap on (c) at full size; at least this
    /// writer's share of 3 MiB for the code the process pages in on its
    /// first write.
    pub allocator: usize,
    /// Page and chunk metadata of the expected file (charged as it grows).
    pub page_metadata: usize,
}

impl Estimate {
    /// What the plan reserves from the budget up front.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let e = parquet_spill::SpillOptions::new(64 << 20).plan(&schema)?.estimate();
    /// assert_eq!(e.reserved(), e.encoders + e.codec + e.transient + e.reserved_extra + e.allocator);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn reserved(&self) -> usize {
        self.encoders
            .saturating_add(self.codec)
            .saturating_add(self.transient)
            .saturating_add(self.reserved_extra)
            .saturating_add(self.allocator)
    }

    /// Reserved parts plus the expected file's page metadata.
    ///
    /// ```
    /// use arrow_schema::{DataType, Field, Schema};
    /// let schema = Schema::new(vec![Field::new("x", DataType::Utf8, true)]);
    /// let plan = parquet_spill::SpillOptions::new(64 << 20).expected_file_bytes(1 << 30).plan(&schema)?;
    /// let e = plan.estimate();
    /// assert_eq!(e.total(), e.reserved() + e.page_metadata);
    /// assert!(e.page_metadata > 0);
    /// # Ok::<(), parquet_spill::Error>(())
    /// ```
    pub fn total(&self) -> usize {
        self.reserved().saturating_add(self.page_metadata)
    }
}

/// Settings the caller fixed exactly (through `SpillOptions`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fixed {
    pub data_page: Option<usize>,
    pub dictionary_page: Option<usize>,
    pub write_batch: Option<usize>,
}

/// The planner's inputs.
#[derive(Debug, Clone)]
pub(crate) struct PlanInput<'a> {
    pub schema: &'a Schema,
    pub props: WriterProperties,
    pub fixed: Fixed,
    /// This writer's limit.
    pub limit: usize,
    /// Expected encoded bytes of the file, if the caller knows.
    pub expected_bytes: Option<u64>,
    /// Column writers encoding at once (one transient page each).
    pub threads: usize,
    /// Bytes the caller reserves for itself within the limit.
    pub extra: usize,
    /// Replace page statistics by chunk statistics (caller's opt-in).
    pub chunk_statistics: bool,
    /// What the backend keeps per spilled page until the row group is flushed.
    pub backend_slot: usize,
    /// A batch like those to come ([`crate::SpillOptions::sample`]).
    pub sample: Option<&'a Sample>,
    /// This writer's share of [`PROCESS_FLOOR`].
    pub floor: usize,
}

/// What the planner keeps of a sample batch ([`crate::SpillOptions::sample`]):
/// its columns' types and, by leaf, the most levels one of its rows holds
/// below a list. Not the batch: the options may outlive it.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    types: Vec<DataType>,
    rows: Vec<Option<usize>>,
}

impl Sample {
    pub(crate) fn of(batch: &RecordBatch) -> Self {
        Self {
            types: column_types(&batch.schema()),
            rows: crate::long_values::longest_rows(batch),
        }
    }
}

fn column_types(schema: &Schema) -> Vec<DataType> {
    schema
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect()
}

/// The planner's output.
pub(crate) struct PlanOutput {
    pub props: WriterProperties,
    pub estimate: Estimate,
    pub changes: Vec<PlanChange>,
    pub page_size: usize,
    /// Per-column metadata costs, for the meter.
    pub metadata: CostModel,
    /// The longest page the plan's transient covers, for the meter.
    pub long_pages: LongPages,
}

/// Whether parquet will write the offset index. The caller may disable it
/// (`set_offset_index_disabled`), but parquet writes it anyway while the
/// file-wide default (if set) or any column has page statistics; with
/// `chunk_statistics` the plan turns every column's page statistics into
/// chunk statistics first, as [`apply`] does.
fn offset_index_written(
    props: &WriterProperties,
    descrs: &[Arc<ColumnDescriptor>],
    chunk_stats: bool,
) -> bool {
    let mut b = props.clone().into_builder();
    for path in descrs.iter().map(|d| d.path()) {
        let planned = planned_statistics(props, path, chunk_stats);
        if planned != props.statistics_enabled(path) {
            b = b.set_column_statistics_enabled(path.clone(), planned);
        }
    }
    !b.build().offset_index_disabled()
}

/// A column's statistics level in the plan: the caller's, with page
/// statistics made chunk statistics when the caller opted in.
fn planned_statistics(
    props: &WriterProperties,
    path: &ColumnPath,
    chunk_stats: bool,
) -> EnabledStatistics {
    match props.statistics_enabled(path) {
        EnabledStatistics::Page if chunk_stats => EnabledStatistics::Chunk,
        caller => caller,
    }
}

/// The columns as the planner sees them, with the caller's settings.
struct Columns<'a> {
    descrs: Vec<&'a ColumnDescriptor>,
    leaves: Vec<Leaf>,
}

impl<'a> Columns<'a> {
    fn new(
        descrs: &'a [Arc<ColumnDescriptor>],
        arrow: &Schema,
        props: &WriterProperties,
        chunk_stats: bool,
        backend_slot: usize,
    ) -> Self {
        let mut arrow_leaves = arrow_leaves(arrow);
        if arrow_leaves.len() != descrs.len() {
            arrow_leaves.clear();
        }
        let offset_index = offset_index_written(props, descrs, chunk_stats);
        let leaves = descrs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let arrow_leaf = arrow_leaves.get(i);
                let keep_dictionary =
                    arrow_leaf.is_some_and(|l| matches!(l.data_type, DataType::Dictionary(_, _)));
                let path = d.path();
                let statistics = planned_statistics(props, path, chunk_stats);
                let bloom = props
                    .bloom_filter_properties(path)
                    .map(|b| (b.ndv(), b.fpp()));
                Leaf {
                    keep_dictionary,
                    distinct_values: props.write_row_group_number_distinct_values(),
                    delta_block: props
                        .delta_binary_packed_encoder_options(path)
                        .map_or(0, |o| o.block_size()),
                    offset_index,
                    header_statistics: props.write_page_header_statistics(path),
                    statistics_truncate: props.statistics_truncate_length(),
                    backend_slot,
                    // Known from the schema where only fixed-size lists
                    // repeat the leaf; a sample's otherwise ([`Self::sampled`]).
                    row_levels: arrow_leaf
                        .and_then(|l| l.fixed_levels)
                        .filter(|_| d.max_rep_level() > 0),
                    ..Leaf::new(
                        d,
                        props.dictionary_enabled(path),
                        statistics,
                        props.compression(path),
                        bloom,
                    )
                    .with_encoding(props.encoding(path), props.writer_version())
                }
            })
            .collect();
        Self {
            descrs: descrs.iter().map(AsRef::as_ref).collect(),
            leaves,
        }
    }

    /// With each repeated leaf's most levels in a row of the sample
    /// ([`Leaf::row_levels`]), which must have `schema`'s columns.
    fn sampled(mut self, schema: &Schema, sample: Option<&Sample>) -> Result<Self> {
        let Some(sample) = sample else {
            return Ok(self);
        };
        if sample.types != column_types(schema) || sample.rows.len() != self.leaves.len() {
            return Err(Error::InvalidOption {
                option: "sample",
                reason: "the sample batch's columns are not those of the schema planned for",
            });
        }
        for (leaf, &row) in self.leaves.iter_mut().zip(&sample.rows) {
            if leaf.repeated {
                leaf.row_levels = row;
            }
        }
        Ok(self)
    }

    /// The estimate for one rung.
    fn estimate(&self, s: &Settings, input: &PlanInput<'_>) -> Estimate {
        // One column written per thread; with workers, the owner splices a
        // closed chunk's pages (one at a time) while they close the rest.
        let splice = match input.threads {
            0 | 1 => 0,
            _ => model::splice(&self.leaves, s),
        };
        let mut e = Estimate {
            transient: model::transient(&self.leaves, s)
                .saturating_mul(input.threads.max(1))
                .saturating_add(splice),
            reserved_extra: input.extra,
            ..Estimate::default()
        };
        for leaf in &self.leaves {
            e.encoders = e.encoders.saturating_add(leaf.encoder(s));
            e.codec = e.codec.saturating_add(leaf.codec(s));
        }
        // At least one row group's column chunks (bloom filters included).
        e.page_metadata =
            self.metadata_for(input.expected_bytes.unwrap_or(0), s, input.threads.max(1));
        e
    }

    /// Page and chunk metadata of a file of `bytes` encoded bytes, spread
    /// evenly over the columns, written as one row group (the most it can
    /// hold at once: a row group's page keys and index builders live until
    /// it is flushed), with `closers` of its chunks closing at once.
    fn metadata_for(&self, bytes: u64, s: &Settings, closers: usize) -> usize {
        let per_column = usize::try_from(bytes).unwrap_or(usize::MAX) / self.leaves.len().max(1);
        // On several threads `write_all` opens the next row group's stores
        // while the last one's are spliced: two stores a leaf for a moment.
        let stores = if closers > 1 { 2 } else { 1 };
        let (mut total, mut closing) = (0usize, 0usize);
        for (leaf, cost) in self.leaves.iter().zip(self.costs(s)) {
            let pages = per_column.div_ceil(leaf.page_fill(s));
            total = total
                .saturating_add(pages.saturating_mul(cost.until_flush() + cost.header))
                .saturating_add(cost.chunk + stores * cost.store());
            closing = closing.max(pages.saturating_mul(cost.closing()));
        }
        total.saturating_add(closing.saturating_mul(closers))
    }

    /// Each leaf's metadata costs, by leaf index; the first leaf's chunk
    /// also carries its row group's own metadata.
    fn costs(&self, s: &Settings) -> Vec<ColumnCost> {
        let mut costs: Vec<ColumnCost> = self.leaves.iter().map(|l| l.metadata(s)).collect();
        if let Some(first) = costs.first_mut() {
            first.chunk += model::ROW_GROUP;
        }
        costs
    }

    /// The smallest limit that fits estimate `e`, `floor` kept for the
    /// process.
    fn minimum(e: &Estimate, floor: usize) -> usize {
        // fits() needs reserved ≤ L (1 - 1/ROOM) - max(L/ALLOC, floor) and
        // total ≤ L (1 - 1/(2 ROOM)) - max(L/ALLOC, floor): start just
        // below both.
        let (room, slack) = (1.0 / ROOM_SHARE as f64, 1.0 / ALLOCATOR_SHARE as f64);
        let (reserved, total, floor_f) = (e.reserved() as f64, e.total() as f64, floor as f64);
        let guess = (reserved / (1.0 - room - slack))
            .max(total / (1.0 - room / 2.0 - slack))
            .max((reserved + floor_f) / (1.0 - room))
            .max((total + floor_f) / (1.0 - room / 2.0));
        let mut limit = (guess as usize).saturating_sub(ROOM_SHARE * ALLOCATOR_SHARE * 4);
        while !fits(e, limit, floor) && limit < usize::MAX {
            limit += 1;
        }
        limit
    }
}

/// A leaf as the Arrow schema has it ([`arrow_leaves`]).
struct ArrowLeaf<'a> {
    data_type: &'a DataType,
    /// The levels a row holds at it where only fixed-size lists repeat it
    /// (their sizes multiplied; 1 where nothing repeats it), `None` below
    /// any other list: a `FixedSizeList` of 768 floats is 768 levels a row
    /// whatever the data, so no sample is needed to plan its pages.
    fixed_levels: Option<usize>,
}

/// Each leaf column's Arrow type, in the order parquet numbers its columns:
/// a dictionary of values that are not nested is one leaf (of the
/// dictionary's type), a run array's values are written as they are.
///
/// ```
/// use arrow_schema::{DataType, Field, Fields, Schema};
/// let list = Field::new_list("l", Field::new_list_field(DataType::Int64, true), true);
/// let pair = Fields::from(vec![Field::new("a", DataType::Utf8, true), list]);
/// let schema = Schema::new(vec![Field::new("s", DataType::Struct(pair), true)]);
/// let leaves = parquet_spill::plan::leaf_types(&schema);
/// assert_eq!(leaves, [&DataType::Utf8, &DataType::Int64]);
/// ```
pub fn leaf_types(schema: &Schema) -> Vec<&DataType> {
    arrow_leaves(schema)
        .into_iter()
        .map(|leaf| leaf.data_type)
        .collect()
}

/// Each leaf, in the order parquet numbers leaves: a dictionary of values
/// that are not nested is one leaf (of its own type).
fn arrow_leaves(schema: &Schema) -> Vec<ArrowLeaf<'_>> {
    let mut out = Vec::new();
    for field in schema.fields() {
        field_leaves(field.data_type(), Some(1), &mut out);
    }
    out
}

/// How many leaves parquet writes a column of `data_type` as.
pub(crate) fn leaf_count(data_type: &DataType) -> usize {
    let mut out = Vec::new();
    field_leaves(data_type, Some(1), &mut out);
    out.len()
}

/// The leaves of a column of `data_type` ([`arrow_leaves`]), each row
/// `levels` levels above them.
fn field_leaves<'a>(data_type: &'a DataType, levels: Option<usize>, out: &mut Vec<ArrowLeaf<'a>>) {
    match data_type {
        // parquet writes nested values as their own leaves.
        DataType::Dictionary(_, values) if values.is_nested() => field_leaves(values, levels, out),
        // A run array is written as its values are.
        DataType::RunEndEncoded(_, values) => field_leaves(values.data_type(), levels, out),
        DataType::Struct(fields) => {
            for f in fields {
                field_leaves(f.data_type(), levels, out);
            }
        }
        DataType::FixedSizeList(f, size) => {
            let size = usize::try_from(*size).ok();
            let levels = levels.zip(size).map(|(l, n)| l.saturating_mul(n.max(1)));
            field_leaves(f.data_type(), levels, out)
        }
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::Map(f, _) => field_leaves(f.data_type(), None, out),
        other => out.push(ArrowLeaf {
            data_type: other,
            fixed_levels: levels,
        }),
    }
}

/// Whether `e` fits `limit` with room left for pages and metadata.
fn fits(e: &Estimate, limit: usize, floor: usize) -> bool {
    let room = limit / ROOM_SHARE;
    let slack = slack(limit, floor);
    e.reserved().saturating_add(slack + room) <= limit
        && e.total().saturating_add(slack + room / 2) <= limit
}

/// Whether parquet can write `schema`: parquet 60's Arrow-to-Parquet
/// conversion panics (rather than fail) on a union anywhere in it, and on
/// a map whose entries are not a struct of key and value, so the writers
/// and the planner check first.
///
/// ```
/// use arrow_schema::{DataType, Field, Schema, UnionFields, UnionMode};
/// let union = DataType::Union(UnionFields::empty(), UnionMode::Sparse);
/// let schema = Schema::new(vec![Field::new("u", union, true)]);
/// let refused = parquet_spill::plan::check_schema(&schema).unwrap_err();
/// assert!(refused.to_string().contains("column u: parquet cannot write a union"), "{refused}");
/// assert!(parquet_spill::plan::check_schema(&Schema::new(vec![Field::new("x", DataType::Int8, true)])).is_ok());
/// ```
///
/// # Errors
///
/// A `ParquetError` naming the column and the type.
pub fn check_schema(schema: &arrow_schema::Schema) -> parquet::errors::Result<()> {
    fn check(path: &str, data_type: &DataType) -> parquet::errors::Result<()> {
        let refuse = |what: &str| {
            Err(parquet::errors::ParquetError::ArrowError(format!(
                "column {path}: parquet cannot write {what}"
            )))
        };
        match data_type {
            DataType::Union(_, _) => refuse("a union"),
            DataType::Map(entries, _) => match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => fields
                    .iter()
                    .try_for_each(|f| check(&format!("{path}.{}", f.name()), f.data_type())),
                _ => refuse("a map whose entries are not a struct of a key and a value"),
            },
            DataType::Struct(fields) => fields
                .iter()
                .try_for_each(|f| check(&format!("{path}.{}", f.name()), f.data_type())),
            DataType::List(f)
            | DataType::LargeList(f)
            | DataType::ListView(f)
            | DataType::LargeListView(f)
            | DataType::FixedSizeList(f, _)
            | DataType::RunEndEncoded(_, f) => check(path, f.data_type()),
            DataType::Dictionary(_, values) => check(path, values),
            _ => Ok(()),
        }
    }
    schema
        .fields()
        .iter()
        .try_for_each(|f| check(f.name(), f.data_type()))
}

pub(crate) fn plan(input: PlanInput<'_>) -> Result<PlanOutput> {
    check_schema(input.schema).map_err(Error::Schema)?;
    let parquet_schema = ArrowSchemaConverter::new()
        .with_coerce_types(input.props.coerce_types())
        .convert(input.schema)
        .map_err(Error::Schema)?;
    // parquet 60.1 converts the schema but cannot write these leaves
    // (`NYI`): refused before anything is reserved or written.
    let month_day_nano = DataType::Interval(arrow_schema::IntervalUnit::MonthDayNano);
    if arrow_leaves(input.schema)
        .iter()
        .any(|l| match l.data_type {
            DataType::Dictionary(_, values) => **values == month_day_nano,
            t => *t == month_day_nano,
        })
    {
        return Err(Error::Schema(parquet::errors::ParquetError::NYI(
            "parquet cannot write an Arrow Interval(MonthDayNano) column".into(),
        )));
    }
    check_properties(&parquet_schema, &input.props).map_err(Error::Properties)?;
    let columns = Columns::new(
        parquet_schema.columns(),
        input.schema,
        &input.props,
        input.chunk_statistics,
        input.backend_slot,
    );
    // Unbounded where rows do not bound a column's values ([`Leaf::distinct_set`]).
    let no_group_rows = input.props.max_row_group_row_count().is_none();
    if columns
        .leaves
        .iter()
        .any(|l| l.distinct_values && (l.repeated || no_group_rows))
    {
        return Err(Error::InvalidOption {
            option: "write_row_group_number_distinct_values",
            reason: "parquet keeps a hash of every distinct value of a row group until it \
                     flushes, which nothing bounds without a row-group row limit or below a \
                     list: set max_row_group_row_count, or leave it off",
        });
    }
    if columns.leaves.is_empty() {
        return Err(Error::EmptySchema);
    }
    let columns = columns.sampled(input.schema, input.sample)?;
    let rungs = ladder(&input.props, &columns, input.fixed, list_spare(input.limit));
    let estimates: Vec<Estimate> = rungs.iter().map(|s| columns.estimate(s, &input)).collect();
    let chosen = rungs
        .iter()
        .zip(&estimates)
        .find(|(_, e)| fits(e, input.limit, input.floor));
    let Some((settings, estimate)) = chosen else {
        return Err(refusal(&input, &columns, &rungs, &estimates));
    };
    let (props, changes) = apply(
        &input.props,
        &columns,
        settings,
        input.fixed,
        input.chunk_statistics,
    );
    let costs = columns.costs(settings);
    let most = costs.iter().fold(ColumnCost::default(), |a, c| ColumnCost {
        chunk: a.chunk.max(c.chunk),
        page: a.page.max(c.page),
        builder: a.builder.max(c.builder),
        keys: a.keys.max(c.keys),
        header: a.header.max(c.header),
        keeps_values: a.keeps_values.max(c.keeps_values),
        // Kept until the file closes where any leaf keeps them so.
        keeps_values_until_chunk: a.keeps_values_until_chunk
            && (c.keeps_values.is_none() || c.keeps_values_until_chunk),
        dictionary_keeps_values: a.dictionary_keeps_values.max(c.dictionary_keeps_values),
        long_index: LongStatistics::widest(a.long_index, c.long_index),
        long_chunk: LongStatistics::widest(a.long_chunk, c.long_chunk),
        open_statistics: a.open_statistics.into_iter().chain(c.open_statistics).min(),
    });
    // The leaves whose statistics may keep long values: the admit scan
    // finds their longest.
    let watch = costs
        .iter()
        .map(|c| {
            [c.long_index, c.long_chunk]
                .into_iter()
                .flatten()
                .map(|l| l.counted)
                .chain(c.open_statistics)
                .min()
                .unwrap_or(usize::MAX)
        })
        .collect();
    // By leaf index (`PageStoreArgs::column_index`); an index past the end
    // (a writer built for another schema) is charged the most any leaf costs.
    let metadata: CostModel =
        Arc::new(move |index: usize| costs.get(index).copied().unwrap_or(most));
    let estimate = Estimate {
        allocator: slack(input.limit, input.floor),
        ..*estimate
    };
    Ok(PlanOutput {
        props,
        estimate,
        changes,
        page_size: settings.page,
        metadata,
        long_pages: LongPages {
            bound: model::splice(&columns.leaves, settings),
            covered: estimate.transient,
            compact: model::compact_pages(&columns.leaves, settings),
            statistics: watch,
            codecs: columns
                .leaves
                .iter()
                .map(|l| (l.codec, l.codec_input(settings)))
                .collect(),
            page_limit: settings.page_limit(),
            repeated: columns
                .leaves
                .iter()
                .map(|l| l.page_values(settings))
                .collect(),
            distinct_values: columns.leaves.iter().any(|l| l.distinct_values),
        },
    })
}

/// Every rung the planner may choose, most generous first.
/// `spare`: what repeated leaves' pages may take beyond the plan
/// ([`model::list_rows`]).
fn ladder(
    props: &WriterProperties,
    columns: &Columns<'_>,
    fixed: Fixed,
    spare: usize,
) -> Vec<Settings> {
    let page_cap = columns
        .descrs
        .iter()
        .map(|d| props.column_data_page_size_limit(d.path()))
        .min()
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .max(1);
    let pages: Vec<usize> = match fixed.data_page {
        Some(p) => vec![p],
        None => {
            let mut pages: Vec<usize> = PAGE_LADDER
                .iter()
                .copied()
                .filter(|p| *p <= page_cap)
                .collect();
            if !PAGE_LADDER.contains(&page_cap) {
                pages.insert(0, page_cap);
            }
            pages
        }
    };
    // parquet 59 has no per-column row limit: a sampled list's is every
    // column's there.
    let per_column = crate::compat::column_row_limits();
    // Tighter column-index truncation only when the caller left the default.
    let caller_truncate = props.column_index_truncate_length();
    let truncations = if caller_truncate == DEFAULT_COLUMN_INDEX_TRUNCATE_LENGTH {
        vec![caller_truncate, Some(TIGHT_TRUNCATE)]
    } else {
        vec![caller_truncate]
    };
    let mut rungs = Vec::new();
    for page in pages {
        let rows = (page / 8)
            .clamp(MIN_ROWS, DEFAULT_DATA_PAGE_ROW_COUNT_LIMIT)
            .min(props.data_page_row_count_limit().max(1));
        // No larger than a page's rows, unless the caller fixed it.
        let batch = |rows: usize| {
            fixed
                .write_batch
                .unwrap_or_else(|| {
                    rows.min(DEFAULT_WRITE_BATCH_SIZE)
                        .min(props.write_batch_size())
                })
                .max(1)
        };
        let dictionary = fixed
            .dictionary_page
            .unwrap_or_else(|| (page / 4).max(1024).min(props.dictionary_page_size_limit()));
        // Leaves whose encoder keeps a handle per value of a page need fewer
        // rows a page; before anything else is given up at this page size,
        // fewer rows are tried (for every column: parquet 59 has no
        // per-column row-count limit), and a write batch no larger.
        let mut row_steps = vec![rows];
        if columns.leaves.iter().any(|l| l.delta_handles) {
            row_steps.extend([MIN_ROWS, DELTA_ROWS].into_iter().filter(|r| *r < rows));
        }
        for dictionary_on in [true, false] {
            for &truncate in &truncations {
                for &rows in &row_steps {
                    let mut s = Settings {
                        page,
                        dictionary,
                        rows,
                        list_rows: rows,
                        group_rows: props.max_row_group_row_count(),
                        batch: batch(rows),
                        dictionary_on,
                        truncate,
                        long_trigger: 0,
                    };
                    s.long_trigger = long_page_trigger(model::splice(&columns.leaves, &s));
                    s.list_rows = model::list_rows(&columns.leaves, &s, spare);
                    if s.list_rows < s.rows && !per_column {
                        // parquet 59: one row limit for every column, so
                        // no fewer than `SHARED_LIST_ROWS` (what lists'
                        // pages need beyond the plan there is counted as
                        // their batches come).
                        let rows = s.list_rows.max(SHARED_LIST_ROWS).min(s.rows);
                        (s.rows, s.batch, s.list_rows) = (rows, batch(rows), rows);
                        s.long_trigger = long_page_trigger(model::splice(&columns.leaves, &s));
                    }
                    rungs.push(s);
                }
            }
        }
    }
    rungs
}

/// The error for a limit no rung fits.
fn refusal(
    input: &PlanInput<'_>,
    columns: &Columns<'_>,
    rungs: &[Settings],
    estimates: &[Estimate],
) -> Error {
    let minimum = min_limit(estimates, input.floor);
    if let (Some(page), Some(needed)) = (input.fixed.data_page, minimum) {
        // Would the planner's own sizes have fitted?
        let mut free = input.clone();
        free.fixed.data_page = None;
        let free_rungs = ladder(&input.props, columns, free.fixed, list_spare(input.limit));
        if free_rungs
            .iter()
            .any(|s| fits(&columns.estimate(s, &free), input.limit, input.floor))
        {
            return Error::FixedSettingTooLarge {
                setting: "data_page_size_limit",
                column: None,
                value: page,
                needed,
                limit: input.limit,
            };
        }
    }
    let alternative = columns
        .leaves
        .iter()
        .find_map(|l| codec::cheaper(l.codec))
        .and_then(|cheap| {
            let cheaper = Columns {
                descrs: columns.descrs.clone(),
                leaves: columns
                    .leaves
                    .iter()
                    .map(|l| Leaf {
                        codec: cheap,
                        ..l.clone()
                    })
                    .collect(),
            };
            let estimates: Vec<_> = rungs.iter().map(|s| cheaper.estimate(s, input)).collect();
            min_limit(&estimates, input.floor).map(|minimum| Alternative {
                codec: cheap.to_string(),
                minimum,
            })
        })
        .filter(|a| minimum.is_some_and(|m| a.minimum < m));
    Error::BudgetTooSmall {
        limit: input.limit,
        columns: columns.leaves.len(),
        minimum: minimum.unwrap_or(usize::MAX),
        alternative,
    }
}

fn min_limit(estimates: &[Estimate], floor: usize) -> Option<usize> {
    estimates.iter().map(|e| Columns::minimum(e, floor)).min()
}

/// The caller's properties with the rung's settings, and every change.
fn apply(
    props: &WriterProperties,
    columns: &Columns<'_>,
    s: &Settings,
    fixed: Fixed,
    chunk_statistics: bool,
) -> (WriterProperties, Vec<PlanChange>) {
    let mut changes = Vec::new();
    let mut note = |column: Option<String>, setting, from: String, to: String| {
        if from != to {
            changes.push(PlanChange {
                column,
                setting,
                from,
                to,
            });
        }
    };
    let mut b = props.clone().into_builder();
    note(
        None,
        "data_page_size_limit",
        props.data_page_size_limit().to_string(),
        s.page.to_string(),
    );
    b = b.set_data_page_size_limit(s.page);
    note(
        None,
        "dictionary_page_size_limit",
        props.dictionary_page_size_limit().to_string(),
        s.dictionary.to_string(),
    );
    b = b.set_dictionary_page_size_limit(s.dictionary);
    note(
        None,
        "data_page_row_count_limit",
        props.data_page_row_count_limit().to_string(),
        s.rows.to_string(),
    );
    b = b.set_data_page_row_count_limit(s.rows);
    note(
        None,
        "write_batch_size",
        props.write_batch_size().to_string(),
        s.batch.to_string(),
    );
    b = b.set_write_batch_size(s.batch);
    if s.truncate != props.column_index_truncate_length() {
        note(
            None,
            "column_index_truncate_length",
            format!("{:?}", props.column_index_truncate_length()),
            format!("{:?}", s.truncate),
        );
        b = b.set_column_index_truncate_length(s.truncate);
    }
    for (descr, leaf) in columns.descrs.iter().zip(&columns.leaves) {
        let path = descr.path().clone();
        let column = Some(path.string());
        // A per-column value wins over the file-wide one in parquet, and an
        // override equal to the old file-wide value cannot be told apart
        // from none: set every column's limits (listing only overrides).
        let column_page = props.column_data_page_size_limit(&path);
        let page = if fixed.data_page.is_some() {
            s.page
        } else {
            column_page.min(s.page)
        };
        if column_page != props.data_page_size_limit() {
            note(
                column.clone(),
                "data_page_size_limit",
                column_page.to_string(),
                page.to_string(),
            );
        }
        b = b.set_column_data_page_size_limit(path.clone(), page);
        let column_dictionary = props.column_dictionary_page_size_limit(&path);
        let dictionary = if fixed.dictionary_page.is_some() {
            s.dictionary
        } else {
            column_dictionary.min(s.dictionary)
        };
        if column_dictionary != props.dictionary_page_size_limit() {
            note(
                column.clone(),
                "dictionary_page_size_limit",
                column_dictionary.to_string(),
                dictionary.to_string(),
            );
        }
        b = b.set_column_dictionary_page_size_limit(path.clone(), dictionary);
        // parquet 60's per-column row limit: no more rows than the plan's
        // pages (a page's dictionary indices, handles and levels grow with
        // its rows, not its bytes).
        let column_rows = props.column_data_page_row_count_limit(&path);
        let planned = match leaf.repeated {
            true => s.list_rows,
            false => s.rows,
        };
        let rows = column_rows.min(planned);
        if column_rows != props.data_page_row_count_limit() || planned != s.rows {
            note(
                column.clone(),
                "data_page_row_count_limit",
                column_rows.to_string(),
                rows.to_string(),
            );
        }
        b = b.set_column_data_page_row_count_limit(path.clone(), rows);
        if leaf.dictionary && !leaf.dictionary_on(s) {
            note(
                column.clone(),
                "dictionary_enabled",
                "true".into(),
                "false".into(),
            );
            b = b.set_column_dictionary_enabled(path.clone(), false);
        }
        let (caller, planned) = (
            props.statistics_enabled(&path),
            planned_statistics(props, &path, chunk_statistics),
        );
        if planned != caller {
            note(
                column.clone(),
                "statistics_enabled",
                format!("{caller:?}"),
                format!("{planned:?}"),
            );
            b = b.set_column_statistics_enabled(path.clone(), planned);
        }
        if let (Some((caller, _)), Some(ndv)) = (leaf.bloom, leaf.bloom_ndv(s)) {
            if ndv != caller {
                note(
                    column,
                    "bloom_filter_max_ndv",
                    caller.to_string(),
                    ndv.to_string(),
                );
                b = b.set_column_bloom_filter_max_ndv(path, ndv);
            }
        }
    }
    (b.build(), changes)
}
