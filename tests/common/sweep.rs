//! The promise sweep, shared by `tests/sweep.rs` (the process's allocator
//! as users have it) and `tests/recycle.rs` (with the recycling allocator
//! keeping freed blocks): random schemas (1 to 2,000 leaf columns, every
//! type the writer supports, nested), limits, row counts, row-group counts
//! and codecs, each written by a planned writer in a child process of its
//! own that measures its peak heap (counting allocator) and its peak
//! resident-set growth (`VmHWM` after `clear_refs`). The input batches are
//! made before either measurement starts and reserved in the plan (the
//! caller holds them), so the writer is held to the limit less them. A
//! third of the cases
//! write with `ParallelWriter` on two threads, half of those through
//! `write_all` (each row group spliced while the next is encoded). Every case is within its
//! limit, refused up front, or stopped by a clear error before passing it
//! ([`STOPS`]: the metadata parquet keeps until close outgrew the limit, a
//! value longer than any page, a batch parquet cannot encode within it);
//! the worst measured / limit ratios are printed.
//!
//! Four kinds of case ([`Kind`]): plain; with a column of values longer
//! than any page ([`Long`]); with writer properties a caller set
//! ([`Caller`]: writer version, encodings, statistics, their own limits,
//! bloom filters, content-defined chunking, 2 to 8 threads); both. Each kind
//! draws its extras from a stream of its own, so the rest of a case is the
//! plain case of its seed. A sixth of the cases spill to an object store
//! (objects of a local directory, 1 MiB or the default 8 MiB buffers)
//! instead of the spill file. `PARQUET_SPILL_SWEEP_REPEAT=K` writes each case's
//! batches K times over: files K times larger from the same batches.

use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, DictionaryArray, LargeBinaryArray, RecordBatch, StringArray, StringViewArray,
};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, Type as PhysicalType};
use parquet::errors::ParquetError;
use parquet::file::properties::{
    CdcOptions, EnabledStatistics, WriterProperties, WriterPropertiesBuilder, WriterVersion,
};
use parquet_spill::recycle::bound_for;
use parquet_spill::testkit::measure::{self, human_bytes, ChildRunner};
use parquet_spill::testkit::{self, CountingAlloc};
use parquet_spill::workloads::SplitMix64;
use parquet_spill::{Error, ParallelWriter, SpillOptions, PARALLEL_QUEUED_BATCHES};

const CASE: &str = "PARQUET_SPILL_SWEEP_CASE";
const MIB: usize = 1 << 20;
const LIMITS: [usize; 7] = [16, 32, 48, 64, 96, 128, 256];

/// One sweep case, all of it drawn from `seed`.
#[derive(Debug)]
struct Case {
    schema: SchemaRef,
    /// A last column of values longer than any page ([`Long`]), in
    /// `schema` but not generated at random.
    long: Option<Long>,
    batch_rows: Vec<usize>,
    limit: usize,
    codec: Compression,
    row_group_rows: Option<usize>,
    seed: u64,
    /// 1: `ArrowWriter`; more: `ParallelWriter` on that many threads (2 but
    /// in the caller sweep).
    threads: usize,
    /// `ParallelWriter::write_all` (row groups spliced while the next is
    /// encoded) instead of `write`.
    all: bool,
    /// The process's allocator keeps freed blocks (a recycled sweep).
    recycle: bool,
    /// Writer properties a caller set ([`Caller`]), if any.
    caller: Option<Caller>,
    /// Spill to an object store (objects of a local directory) with upload
    /// buffers and read-ahead of this many bytes, not to the spill file.
    objects: Option<usize>,
    /// Lists of up to this many values a row ([`Kind::Lists`]), `lists`
    /// columns of them the whole of `schema`.
    items: Option<usize>,
    lists: usize,
    /// Planned with its first batch as a sample ([`Kind::Sampled`]).
    sample: bool,
    /// Its lists read as list views ([`Kind::Views`]): the schema its
    /// data is drawn in (lists), and the views' order.
    views: Option<(SchemaRef, Order)>,
    /// Its nested columns a dictionary's or run array's values
    /// ([`Kind::Keyed`]): the schema its data is drawn in, and the keys.
    keyed: Option<(SchemaRef, Keys)>,
}

/// Which sweep a case belongs to: the plain one, with a long-value column
/// ([`Long`]), with writer properties a caller set ([`Caller`]), both, or
/// with lists whose rows hold many values ([`Lists`]: one to eight list
/// columns of random leaf types in place of the drawn schema, up to 16,
/// 128 or 1,024 values a row, fewer rows), or the same planned with its
/// first batch as a sample ([`Sampled`], `SpillOptions::sample`), or the
/// plain cases with their lists read as list views ([`Views`]: the same
/// rows, views in order in two cases of four; in the third the rows'
/// views reversed, in the fourth rows in pairs sharing one view, [`Order`]),
/// or the plain cases with their nested columns the values of a dictionary
/// or a run array ([`Keyed`]: taken through keys in order, reversed, or
/// repeating four rows; or runs of three rows, [`Keys`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Long,
    Caller,
    Both,
    Lists,
    Sampled,
    Views,
    Keyed,
}

impl Kind {
    const ALL: [(Kind, &'static str); 8] = [
        (Kind::Plain, "plain"),
        (Kind::Long, "long"),
        (Kind::Caller, "caller"),
        (Kind::Both, "both"),
        (Kind::Lists, "lists"),
        (Kind::Sampled, "sampled"),
        (Kind::Views, "views"),
        (Kind::Keyed, "keyed"),
    ];

    fn long(self) -> bool {
        matches!(self, Kind::Long | Kind::Both)
    }

    fn caller(self) -> bool {
        matches!(self, Kind::Caller | Kind::Both)
    }

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("plain", |(_, n)| n)
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }

    /// The variable that sets how many cases a run draws.
    fn variable(self) -> &'static str {
        match self {
            Kind::Plain => "PARQUET_SPILL_SWEEP",
            Kind::Long => "PARQUET_SPILL_SWEEP_LONG",
            Kind::Caller => "PARQUET_SPILL_SWEEP_CALLER",
            Kind::Both => "PARQUET_SPILL_SWEEP_BOTH",
            Kind::Lists => "PARQUET_SPILL_SWEEP_LISTS",
            Kind::Sampled => "PARQUET_SPILL_SWEEP_SAMPLED",
            Kind::Views => "PARQUET_SPILL_SWEEP_VIEWS",
            Kind::Keyed => "PARQUET_SPILL_SWEEP_KEYED",
        }
    }
}

/// Writer properties a caller may set before the planner sees them: the
/// writer version, dictionaries off, statistics levels and truncation,
/// page-header statistics, their own page, dictionary, batch and row
/// limits (which the planner may only lower), a fallback encoding per
/// column, bloom filters, content-defined chunking, no offset index.
#[derive(Debug, Clone)]
struct Caller {
    version2: bool,
    dictionary: bool,
    statistics: EnabledStatistics,
    statistics_truncate: Option<usize>,
    column_index_truncate: Option<usize>,
    header_statistics: bool,
    data_page: Option<usize>,
    dictionary_page: Option<usize>,
    write_batch: Option<usize>,
    page_rows: Option<usize>,
    bloom: bool,
    cdc: bool,
    offset_index_disabled: bool,
    /// Seeds each column's fallback encoding; 0 leaves parquet's.
    encodings: u64,
    /// `ParallelWriter`'s threads where the case has more than one: 2, 3,
    /// 4 or 8 (on any machine: the writer's memory, not its speed, is
    /// measured).
    threads: usize,
}

impl Caller {
    /// Drawn from a stream of its own, so the rest of the case is the one
    /// the plain sweep draws from the same seed.
    fn draw(seed: u64, threads: usize) -> Self {
        let mut r = SplitMix64::new(seed ^ 0xca11_e125);
        let mut pick = |options: &[Option<usize>]| options[r.below(options.len() as u64) as usize];
        let data_page = pick(&[None, None, Some(8 << 10), Some(8 << 20), Some(64 << 20)]);
        let dictionary_page = pick(&[None, None, Some(4 << 10), Some(16 << 20)]);
        let write_batch = pick(&[None, None, Some(1), Some(64), Some(100_000)]);
        let page_rows = pick(&[None, None, Some(100), Some(usize::MAX)]);
        let statistics_truncate = pick(&[None, None, Some(8)]);
        let column_index_truncate = pick(&[Some(64), None, Some(8)]);
        Self {
            version2: r.below(2) == 0,
            dictionary: r.below(4) != 0,
            statistics: [
                EnabledStatistics::Page,
                EnabledStatistics::Chunk,
                EnabledStatistics::None,
            ][r.below(3) as usize],
            statistics_truncate,
            column_index_truncate,
            header_statistics: r.below(4) == 0,
            data_page,
            dictionary_page,
            write_batch,
            page_rows,
            bloom: r.below(5) == 0,
            // `ParallelWriter` refuses content-defined chunking.
            cdc: threads == 1 && r.below(6) == 0,
            offset_index_disabled: r.below(8) == 0,
            encodings: if r.below(2) == 0 { r.next_u64() | 1 } else { 0 },
            threads: match threads {
                1 => 1,
                _ => [2, 3, 4, 8][r.below(4) as usize],
            },
        }
    }

    /// `builder` with these settings, for `schema`'s columns.
    fn apply(&self, schema: &Schema, mut b: WriterPropertiesBuilder) -> WriterPropertiesBuilder {
        b = b
            .set_writer_version(match self.version2 {
                true => WriterVersion::PARQUET_2_0,
                false => WriterVersion::PARQUET_1_0,
            })
            .set_dictionary_enabled(self.dictionary)
            .set_statistics_enabled(self.statistics)
            .set_statistics_truncate_length(self.statistics_truncate)
            .set_column_index_truncate_length(self.column_index_truncate)
            .set_write_page_header_statistics(self.header_statistics)
            .set_bloom_filter_enabled(self.bloom)
            .set_offset_index_disabled(self.offset_index_disabled);
        if let Some(bytes) = self.data_page {
            b = b.set_data_page_size_limit(bytes);
        }
        if let Some(bytes) = self.dictionary_page {
            b = b.set_dictionary_page_size_limit(bytes);
        }
        if let Some(rows) = self.write_batch {
            b = b.set_write_batch_size(rows);
        }
        if let Some(rows) = self.page_rows {
            b = b.set_data_page_row_count_limit(rows);
        }
        if self.cdc {
            b = b.set_content_defined_chunking(Some(CdcOptions::default()));
        }
        if self.encodings != 0 {
            let descr = ArrowSchemaConverter::new()
                .convert(schema)
                .expect("a schema parquet writes");
            let mut r = SplitMix64::new(self.encodings);
            for column in descr.columns() {
                let choices: &[Encoding] = match column.physical_type() {
                    PhysicalType::BOOLEAN => &[Encoding::PLAIN, Encoding::RLE],
                    PhysicalType::INT32 | PhysicalType::INT64 => &[
                        Encoding::PLAIN,
                        Encoding::DELTA_BINARY_PACKED,
                        Encoding::BYTE_STREAM_SPLIT,
                    ],
                    PhysicalType::FLOAT | PhysicalType::DOUBLE => {
                        &[Encoding::PLAIN, Encoding::BYTE_STREAM_SPLIT]
                    }
                    PhysicalType::BYTE_ARRAY => &[
                        Encoding::PLAIN,
                        Encoding::DELTA_LENGTH_BYTE_ARRAY,
                        Encoding::DELTA_BYTE_ARRAY,
                    ],
                    PhysicalType::FIXED_LEN_BYTE_ARRAY => &[
                        Encoding::PLAIN,
                        Encoding::DELTA_BYTE_ARRAY,
                        Encoding::BYTE_STREAM_SPLIT,
                    ],
                    PhysicalType::INT96 => &[Encoding::PLAIN],
                };
                let encoding = choices[r.below(choices.len() as u64) as usize];
                b = b.set_column_encoding(column.path().clone(), encoding);
            }
        }
        b
    }
}

/// A column holding, in each batch, its first and middle rows' values
/// `len` bytes long (the rest one byte): pages of one value, longer than
/// any page the plan made, which the writer must make room for or refuse.
#[derive(Debug, Clone, Copy)]
struct Long {
    /// 0 `Utf8`, 1 `LargeBinary`, 2 `Utf8View`, 3 `List<Utf8>`,
    /// 4 `Dictionary<Int32, Utf8>`.
    kind: u64,
    len: usize,
}

impl Long {
    /// Drawn from a stream of its own, so the rest of the case is the one
    /// the plain sweep draws from the same seed.
    fn draw(seed: u64) -> Self {
        let mut r = SplitMix64::new(seed ^ 0x1096_5eed);
        Self {
            kind: r.below(5),
            len: [256 << 10, 2 << 20, 6 << 20][r.below(3) as usize],
        }
    }

    fn data_type(&self) -> DataType {
        let utf8 = || Arc::new(Field::new("item", DataType::Utf8, true));
        match self.kind {
            0 => DataType::Utf8,
            1 => DataType::LargeBinary,
            2 => DataType::Utf8View,
            3 => DataType::List(utf8()),
            _ => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        }
    }

    fn column(&self, rows: usize) -> ArrayRef {
        let long = "x".repeat(self.len);
        let values = (0..rows).map(|i| {
            if i == 0 || i == rows / 2 {
                long.as_str()
            } else {
                "s"
            }
        });
        match self.kind {
            0 => Arc::new(StringArray::from_iter_values(values)),
            1 => Arc::new(LargeBinaryArray::from_iter_values(
                values.map(str::as_bytes),
            )),
            2 => Arc::new(StringViewArray::from_iter_values(values)),
            3 => {
                let mut list = ListBuilder::new(StringBuilder::new());
                for value in values {
                    list.values().append_value(value);
                    list.append(true);
                }
                Arc::new(list.finish())
            }
            _ => Arc::new(values.collect::<DictionaryArray<Int32Type>>()),
        }
    }
}

fn leaves(dt: &DataType) -> usize {
    match dt {
        DataType::Struct(f) => f.iter().map(|f| leaves(f.data_type())).sum(),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            leaves(f.data_type())
        }
        DataType::Map(f, _) => leaves(f.data_type()),
        _ => 1,
    }
}

/// A random type: a leaf, a dictionary, or (up to `depth`) a list, struct or map.
fn data_type(r: &mut SplitMix64, depth: usize) -> DataType {
    let leaf_types = testkit::leaf_types();
    let item = |r: &mut SplitMix64| Arc::new(Field::new("item", data_type(r, depth - 1), true));
    match if depth == 0 { 9 } else { r.below(12) } {
        0 => DataType::List(item(r)),
        1 => DataType::LargeList(item(r)),
        2 => DataType::FixedSizeList(item(r), 1 + r.below(3) as i32),
        3 => {
            let n = 1 + r.below(3) as usize;
            DataType::Struct(Fields::from(
                (0..n)
                    .map(|i| Field::new(format!("f{i}"), data_type(r, depth - 1), r.below(2) == 0))
                    .collect::<Vec<_>>(),
            ))
        }
        4 => {
            let entries = Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", data_type(r, depth - 1), true),
            ]);
            DataType::Map(
                Arc::new(Field::new("entries", DataType::Struct(entries), false)),
                false,
            )
        }
        5 => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        _ => leaf_types[r.below(leaf_types.len() as u64) as usize].clone(),
    }
}

impl Case {
    fn draw(seed: u64, recycle: bool, kind: Kind) -> Self {
        let mut r = SplitMix64::new(seed);
        // Leaf counts spread over 1..2,000, most of them small.
        let target = match r.below(4) {
            0 => 1 + r.below(8) as usize,
            1 => 8 + r.below(100) as usize,
            2 => 100 + r.below(600) as usize,
            _ => 700 + r.below(1300) as usize,
        };
        let mut fields = Vec::new();
        let mut total = 0;
        while total < target {
            let dt = data_type(&mut r, if target > 200 { 1 } else { 3 });
            total += leaves(&dt);
            fields.push(Field::new(
                format!("c{}", fields.len()),
                dt,
                r.below(3) != 0,
            ));
        }
        // Up to a few million values per case: some fit the limit, some spill.
        let values = if r.below(2) == 0 { 300_000 } else { 3_000_000 };
        let rows = (values / total.max(1)).clamp(1, 200_000);
        let batches = 1 + r.below(4) as usize;
        let codecs = testkit::codecs();
        let long = kind.long().then(|| Long::draw(seed));
        if let Some(long) = &long {
            fields.push(Field::new("long", long.data_type(), true));
        }
        let threads = if r.below(3) == 0 { 2 } else { 1 };
        let caller = kind.caller().then(|| Caller::draw(seed, threads));
        let mut case = Self {
            threads: caller.as_ref().map_or(threads, |c| c.threads),
            caller,
            schema: Arc::new(Schema::new(fields)),
            long,
            batch_rows: (0..batches)
                .map(|_| r.below(rows as u64 + 1) as usize)
                .collect(),
            limit: LIMITS[r.below(LIMITS.len() as u64) as usize] * MIB,
            codec: codecs[r.below(codecs.len() as u64) as usize],
            row_group_rows: (r.below(3) == 0).then(|| 1 + r.below(rows as u64) as usize),
            seed,
            all: r.below(2) == 0,
            recycle,
            objects: None,
            items: None,
            lists: 0,
            sample: false,
            views: None,
            keyed: None,
        };
        // Drawn last, so the cases of earlier sweeps keep their other draws:
        // a quarter at a higher level (zstd's contexts and brotli's
        // encoders grow with it).
        if r.below(4) == 0 {
            case.codec = higher_level(case.codec, r.below(3) as usize);
        }
        // Drawn after that: a sixth spill to an object store, with 1 MiB
        // buffers (3 MiB in all) or the default 8 MiB ones (24 MiB).
        #[cfg(feature = "object_store")]
        if r.below(6) == 0 {
            case.objects = Some([1 << 20, parquet_spill::DEFAULT_BUFFER_SIZE][r.below(2) as usize]);
        }
        if matches!(kind, Kind::Lists | Kind::Sampled) {
            case.sample = kind == Kind::Sampled;
            case.lists(&mut r);
        }
        if kind == Kind::Views {
            let order = match SplitMix64::new(seed ^ 0x5649_4557).below(4) {
                0 => Order::Reversed,
                1 => Order::Shared,
                _ => Order::Rising,
            };
            let lists = std::mem::replace(&mut case.schema, Arc::new(Schema::empty()));
            let fields = lists.fields().iter().map(|f| {
                let view = view_type(f.data_type());
                Field::new(f.name(), view, f.is_nullable())
            });
            case.schema = Arc::new(Schema::new(fields.collect::<Vec<_>>()));
            case.views = Some((lists, order));
        }
        if kind == Kind::Keyed {
            let keys = match SplitMix64::new(seed ^ 0x4B45_5953).below(4) {
                0 => Keys::Rising,
                1 => Keys::Reversed,
                2 => Keys::Repeated,
                _ => Keys::Runs,
            };
            let drawn = std::mem::replace(&mut case.schema, Arc::new(Schema::empty()));
            let fields = drawn
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), keyed_type(f.data_type(), keys), f.is_nullable()));
            case.schema = Arc::new(Schema::new(fields.collect::<Vec<_>>()));
            case.keyed = Some((drawn, keys));
        }
        case
    }

    /// Lists whose rows hold up to 16, 128 or 1,024 values: one to eight
    /// columns of them (each of a random leaf type) in place of the drawn
    /// schema, no more rows than take about four million of their values
    /// a batch, and a limit of at most 48 MiB.
    fn lists(&mut self, r: &mut SplitMix64) {
        let items = [16, 128, 1024][r.below(3) as usize];
        let leaf_types = testkit::leaf_types();
        let mut fields = Vec::new();
        self.lists = 1 + r.below(8) as usize;
        for i in 0..self.lists {
            let leaf = leaf_types[r.below(leaf_types.len() as u64) as usize].clone();
            let item = Arc::new(Field::new("item", leaf, true));
            fields.push(Arc::new(Field::new(
                format!("lists{i}"),
                DataType::List(item),
                true,
            )));
        }
        self.schema = Arc::new(Schema::new(fields));
        // Up to about four million list values a batch.
        let most = 8_000_000 / (self.lists * items);
        for rows in &mut self.batch_rows {
            *rows = (*rows).min(most);
        }
        self.items = Some(items);
        // Small limits, where what a page of many values keeps tells.
        self.limit = [16, 24, 32, 48][r.below(4) as usize] * MIB;
    }

    /// Bytes of freed blocks the allocator keeps, reserved in the plan.
    fn recycled(&self) -> usize {
        if self.recycle {
            bound_for(self.limit)
        } else {
            0
        }
    }

    /// Random batches drawn in `drawn`, each column made one of the
    /// case's schema by `column` (list views, or values taken by keys).
    fn drawn_as(
        &self,
        drawn: &SchemaRef,
        column: impl Fn(&ArrayRef) -> ArrayRef,
    ) -> Vec<RecordBatch> {
        let batches = testkit::random_batches(drawn, &self.batch_rows, self.seed);
        let schema = &self.schema;
        let made = batches.iter().map(|batch| {
            let columns = batch.columns().iter().map(&column).collect();
            RecordBatch::try_new(schema.clone(), columns).expect("a column of the case's schema")
        });
        made.collect()
    }

    /// The case's batches: random data, and the long column or the lists
    /// of many values last.
    fn batches(&self) -> Vec<RecordBatch> {
        if let Some((drawn, keys)) = &self.keyed {
            return self.drawn_as(drawn, |c| to_keyed(c, *keys));
        }
        if let Some((lists, order)) = &self.views {
            return self.drawn_as(lists, |c| to_views(c, *order));
        }
        if let Some(items) = self.items {
            let (schema, rows) = (&self.schema, &self.batch_rows);
            return testkit::random_batches_with_lists(schema, rows, self.seed, items);
        }
        let Some(long) = &self.long else {
            return testkit::random_batches(&self.schema, &self.batch_rows, self.seed);
        };
        let fields = &self.schema.fields()[..self.schema.fields().len() - 1];
        let base = Arc::new(Schema::new(fields.to_vec()));
        testkit::random_batches(&base, &self.batch_rows, self.seed)
            .into_iter()
            .map(|batch| {
                let mut columns = batch.columns().to_vec();
                columns.push(long.column(batch.num_rows()));
                RecordBatch::try_new(Arc::clone(&self.schema), columns).expect("long column")
            })
            .collect()
    }

    fn leaves(&self) -> usize {
        self.schema
            .fields()
            .iter()
            .map(|f| leaves(f.data_type()))
            .sum()
    }

    /// The plan's options; an object-store case spills under `objects`.
    fn options(&self, input: usize, objects: &std::path::Path) -> SpillOptions {
        let mut props = WriterProperties::builder();
        if let Some(caller) = &self.caller {
            props = caller.apply(&self.schema, props);
        }
        let props = props
            .set_compression(self.codec)
            .set_max_row_group_row_count(self.row_group_rows)
            .set_max_row_group_bytes(None)
            .build();
        let options = SpillOptions::new(self.limit)
            .properties(props)
            .reserve(self.held_input(input) + self.recycled())
            .threads(self.threads);
        match self.objects {
            #[cfg(feature = "object_store")]
            Some(buffer) => {
                let builder = testkit::object_store::local_objects(objects)
                    .expect("a local object store")
                    .buffer_size(buffer)
                    .read_ahead(buffer);
                options.object_store(builder)
            }
            _ => {
                let _ = objects;
                options
            }
        }
    }

    /// The input the caller holds while writing, reserved in the plan: its
    /// batch, and those a `ParallelWriter` still holds. It is resident
    /// before the measurement starts, so the writer's measured heap and
    /// resident growth must fit in the limit without it.
    fn held_input(&self, input: usize) -> usize {
        let held = match self.threads {
            1 => 1,
            _ => 1 + PARALLEL_QUEUED_BATCHES,
        };
        input * held
    }
}

/// How a case ended, measured in the child.
enum Outcome {
    Refused,
    /// Peak heap and resident growth, and the error the write stopped
    /// with before passing the limit, if any ([`STOPS`]).
    Measured {
        heap: u64,
        rss: u64,
        stop: Option<&'static str>,
        /// The input reserved in the plan ([`Case::held_input`]).
        input: u64,
    },
}

/// The errors a write may stop with before passing its limit: page
/// metadata the limit cannot hold, a long value's pages, a batch parquet
/// could not encode within it, a list's page of more values and levels
/// than the limit can hold.
const STOPS: [&str; 4] = [
    "PageMetadataExhausted",
    "PageTooLong",
    "BatchTooLarge",
    "PageTooManyValues",
];

/// Which of [`STOPS`] `err` is, if any.
fn stop(err: &ParquetError) -> Option<&'static str> {
    match Error::in_chain(err)? {
        Error::PageMetadataExhausted { .. } => Some(STOPS[0]),
        Error::PageTooLong { .. } => Some(STOPS[1]),
        Error::BatchTooLarge { .. } => Some(STOPS[2]),
        Error::PageTooManyValues { .. } => Some(STOPS[3]),
        _ => None,
    }
}

/// `ArrowWriter`, or `ParallelWriter` on more than one thread.
fn write_all(
    case: &Case,
    batches: &[RecordBatch],
    plan: parquet_spill::SpillPlan,
) -> parquet::errors::Result<()> {
    if case.threads > 1 {
        let mut writer =
            ParallelWriter::try_new_with_plan(std::io::sink(), case.schema.clone(), plan)?;
        if case.all {
            writer.write_all(batches.iter().cloned().map(Ok::<_, ParquetError>))?;
        } else {
            for batch in batches {
                writer.write(batch)?;
            }
        }
        writer.close().map(drop)
    } else {
        // As the plan's docs ask of ArrowWriter's callers.
        let monitor = plan.monitor();
        let mut writer = ArrowWriter::try_new_with_options(
            std::io::sink(),
            case.schema.clone(),
            plan.into_writer_options(),
        )?;
        for batch in batches {
            for part in monitor.admit_in_parts(batch)? {
                writer.write(&part)?;
            }
        }
        writer.close().map(drop)
    }
}

fn child(
    counter: &'static CountingAlloc,
    set_bound: impl Fn(usize),
    seed: u64,
    recycle: bool,
    kind: Kind,
) -> Outcome {
    let case = Case::draw(seed, recycle, kind);
    // Generated outside the count and kept until the writer is gone.
    let batches = counter.exclude(|| case.batches());
    let input = batches
        .iter()
        .map(RecordBatch::get_array_memory_size)
        .max()
        .unwrap_or(0);
    // `PARQUET_SPILL_SWEEP_VERBOSE=1`: the case and its plan (or refusal)
    // on stderr, for a case a sweep found over its limit.
    let verbose = std::env::var_os("PARQUET_SPILL_SWEEP_VERBOSE").is_some();
    let objects = tempfile::tempdir().expect("a directory for objects");
    let mut options = case.options(input, objects.path());
    let first = batches.iter().find(|b| b.num_rows() > 0);
    if let Some(first) = first.filter(|_| case.sample) {
        options = options.sample(first);
    }
    let plan = match options.plan(&case.schema) {
        Ok(plan) => plan,
        Err(e @ Error::BudgetTooSmall { .. }) => {
            if verbose {
                eprintln!("{case:?}\ninput batch: {input} B\n{e}");
            }
            return Outcome::Refused;
        }
        Err(e) => panic!("seed {seed}: {e}"),
    };
    if verbose {
        eprintln!("{case:?}\ninput batch: {input} B\n{plan}");
    }
    let monitor = plan.monitor();
    // The code the write runs paged in first, as the budget tests do
    // (`measure::warm_up`): seeds 1516 and 3253 of the lists kind, whose
    // writers had 3 to 5 MiB, read 1.29 and 1.37 of it with the code
    // counted, 0.94 and 0.88 without (README, the promise sweep).
    if let Some(first) = batches.first() {
        measure::warm_up(first, plan.properties()).expect("a warm-up write");
    }
    set_bound(case.recycled());
    let base = counter.current();
    let rss = parquet_spill::rss::reset_peak().unwrap_or(0);
    counter.reset_peak();
    // `PARQUET_SPILL_SWEEP_REPEAT=K`: the batches written K times over, a
    // file K times larger (more pages, row groups and metadata) from the
    // same batches.
    let repeat = std::env::var("PARQUET_SPILL_SWEEP_REPEAT")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(1);
    let batches = counter.exclude(|| -> Vec<RecordBatch> {
        let n = batches.len() * repeat.max(1);
        batches.iter().cycle().take(n).cloned().collect()
    });
    let stop = match write_all(&case, &batches, plan) {
        Ok(()) => None,
        Err(e) => {
            if verbose {
                eprintln!("stopped: {e}");
            }
            Some(stop(&e).unwrap_or_else(|| panic!("seed {seed}: {e}")))
        }
    };
    let heap = counter.peak().saturating_sub(base) as u64;
    let rss = parquet_spill::rss::peak().unwrap_or(0).saturating_sub(rss);
    if verbose {
        eprintln!("{}", monitor.stats());
    }
    Outcome::Measured {
        heap,
        rss,
        stop,
        input: case.held_input(input) as u64,
    }
}

/// The child side: measure the case [`CASE`] names, if any, with `counter`
/// (the process's counting allocator) and `set_bound` (what the recycler,
/// if the process has one, may keep).
pub fn serve_child(counter: &'static CountingAlloc, set_bound: impl Fn(usize)) {
    let Some((seed, recycle, kind)) = std::env::var(CASE).ok().and_then(|s| {
        let mut parts = s.split(',');
        let seed = parts.next()?.parse().ok()?;
        Some((
            seed,
            parts.next()? == "recycle",
            Kind::parse(parts.next()?)?,
        ))
    }) else {
        return;
    };
    match child(counter, set_bound, seed, recycle, kind) {
        Outcome::Measured {
            heap,
            rss,
            stop,
            input,
        } => println!(
            "SWEEP heap={heap} rss={rss} input={input} stop={}",
            stop.unwrap_or("none")
        ),
        Outcome::Refused => println!("SWEEP refused"),
    }
}

/// The parent side: `PARQUET_SPILL_SWEEP` cases (default `default_cases`)
/// from seed `PARQUET_SPILL_SWEEP_FROM` (default 0, so CI always draws the
/// same cases; another start draws cases no earlier run has seen),
/// each in a child running the test `child_test` (which calls
/// [`serve_child`]); with `recycle`, every case keeps `bound_for(limit)` of
/// freed blocks. Panics on a case over its limit; prints the worst ratios.
pub fn run(child_test: &str, default_cases: u64, recycle: bool, kind: Kind) {
    let cases: u64 = std::env::var(kind.variable())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_cases);
    let from: u64 = match std::env::var("PARQUET_SPILL_SWEEP_FROM") {
        Ok(s) => s.parse().expect("PARQUET_SPILL_SWEEP_FROM: a seed"),
        Err(_) => 0,
    };
    let runner = ChildRunner::test(child_test).expect("test executable");
    let mode = if recycle { "recycle" } else { "plain" };
    let (mut worst_heap, mut worst_rss, mut refused) = (0f64, 0f64, 0);
    // Cases stopped by each of `STOPS`.
    let mut stopped = [0usize; STOPS.len()];
    // The same over the cases written through `ParallelWriter::write_all`.
    let (mut all_cases, mut all_heap, mut all_rss) = (0, 0f64, 0f64);
    // Every case over its limit, reported together at the end.
    let mut over = Vec::new();
    for seed in from..from + cases {
        let case = Case::draw(seed, recycle, kind);
        let out = runner
            .run(CASE, &format!("{seed},{mode},{}", kind.name()))
            .unwrap_or_else(|e| panic!("seed {seed} {case:?}: {e}"));
        let line = measure::tagged_line(&out, "SWEEP ")
            .unwrap_or_else(|| panic!("seed {seed}: no result:\n{out}"));
        if line == "refused" {
            refused += 1;
            println!(
                "seed {seed:>3}: {:>4} leaves, limit {:>9}, {}: refused",
                case.leaves(),
                human_bytes(case.limit as u64),
                case.codec
            );
            continue;
        }
        let field = |key: &str| -> u64 {
            measure::field(line, key).unwrap_or_else(|| panic!("seed {seed}: {line}"))
        };
        let (heap, rss, input) = (field("heap"), field("rss"), field("input"));
        let stop: String = measure::field(line, "stop").unwrap_or_default();
        let stop = STOPS.iter().position(|s| *s == stop);
        if let Some(i) = stop {
            stopped[i] += 1;
        }
        // The writer's share: the caller's batches are part of the process
        // too, resident before the measurement.
        let limit = (case.limit as u64).saturating_sub(input).max(1) as f64;
        worst_heap = worst_heap.max(heap as f64 / limit);
        worst_rss = worst_rss.max(rss as f64 / limit);
        let write_all = case.threads > 1 && case.all;
        if write_all {
            all_cases += 1;
            all_heap = all_heap.max(heap as f64 / limit);
            all_rss = all_rss.max(rss as f64 / limit);
        }
        println!(
            "seed {seed:>3}: {:>4} leaves, limit {:>9} ({:>9} for the writer), {:<20} {} thread(s){}{}, heap {:>10} rss {:>10}{}",
            case.leaves(),
            human_bytes(case.limit as u64),
            human_bytes(limit as u64),
            case.codec.to_string(),
            case.threads,
            if write_all { " write_all" } else { "" },
            if case.objects.is_some() { " objects" } else { "" },
            human_bytes(heap),
            human_bytes(rss),
            match stop {
                Some(i) => format!(", stopped: {}", STOPS[i]),
                None => case.long.map_or(String::new(), |l| format!(", {} B values", l.len)),
            }
        );
        if heap as f64 > limit || rss as f64 > limit {
            println!("seed {seed:>3}: OVER THE LIMIT");
            over.push(format!(
                "seed {seed} {case:?}: heap {heap}, resident growth {rss}, limit less the caller's batches {limit}"
            ));
        }
    }
    println!(
        "{cases} cases from seed {from} ({mode}{}), {refused} refused, stopped: {}; \
         worst measured / (limit less the caller's batches): heap {worst_heap:.3}, resident set {worst_rss:.3}; \
         over the {all_cases} written by write_all: heap {all_heap:.3}, resident set {all_rss:.3}",
        match kind {
            Kind::Plain => "",
            Kind::Long => ", a long-value column",
            Kind::Caller => ", writer properties a caller set",
            Kind::Both => ", a long-value column and writer properties a caller set",
            Kind::Lists => ", lists whose rows hold many values",
            Kind::Sampled => ", lists whose rows hold many values, planned from a sample",
            Kind::Views => ", lists read as list views",
            Kind::Keyed => ", nested columns taken through keys",
        },
        STOPS
            .iter()
            .zip(stopped)
            .map(|(stop, n)| format!("{n} by {stop}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    assert!(over.is_empty(), "over the limit:\n{}", over.join("\n"));
}

/// `dt` with every list (at any depth) a list view of the same items.
fn view_type(dt: &DataType) -> DataType {
    let field = |f: &Field| {
        Arc::new(Field::new(
            f.name(),
            view_type(f.data_type()),
            f.is_nullable(),
        ))
    };
    match dt {
        DataType::List(f) => DataType::ListView(field(f)),
        DataType::LargeList(f) => DataType::LargeListView(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| field(f)).collect()),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        other => other.clone(),
    }
}

/// How [`to_views`] lays out a list's views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Each row's view where its list's offsets put it.
    Rising,
    /// Each row the view of the row as far from the other end.
    Reversed,
    /// Rows in pairs, the second the first's view (views sharing their
    /// values, which parquet writes once a row).
    Shared,
}

/// `array` with every list (at any depth) a list view ([`view_type`])
/// of the same rows, or others in the views' `order` ([`Order`]).
fn to_views(array: &ArrayRef, order: Order) -> ArrayRef {
    use arrow_array::cast::AsArray;
    use arrow_array::{
        Array, FixedSizeListArray, GenericListArray, GenericListViewArray, MapArray,
        OffsetSizeTrait, StructArray,
    };
    fn view<O: OffsetSizeTrait>(list: &GenericListArray<O>, order: Order) -> ArrayRef {
        let offsets = list.value_offsets();
        let mut starts = offsets[..offsets.len() - 1].to_vec();
        let mut sizes: Vec<O> = offsets.windows(2).map(|w| w[1] - w[0]).collect();
        match order {
            Order::Rising => {}
            Order::Reversed => {
                starts.reverse();
                sizes.reverse();
            }
            Order::Shared => {
                for row in (1..starts.len()).step_by(2) {
                    (starts[row], sizes[row]) = (starts[row - 1], sizes[row - 1]);
                }
            }
        }
        let values = to_views(list.values(), order);
        let (DataType::List(f) | DataType::LargeList(f)) = list.data_type() else {
            unreachable!("a list")
        };
        let item = Arc::new(Field::new(
            f.name(),
            values.data_type().clone(),
            f.is_nullable(),
        ));
        let nulls = list.nulls().cloned();
        let view = GenericListViewArray::<O>::new(item, starts.into(), sizes.into(), values, nulls);
        Arc::new(view)
    }
    let field = |f: &Field, child: &ArrayRef| {
        Arc::new(Field::new(
            f.name(),
            child.data_type().clone(),
            f.is_nullable(),
        ))
    };
    match array.data_type() {
        DataType::List(_) => view(array.as_list::<i32>(), order),
        DataType::LargeList(_) => view(array.as_list::<i64>(), order),
        DataType::FixedSizeList(f, n) => {
            let list = array.as_fixed_size_list();
            let values = to_views(list.values(), order);
            let f = field(f, &values);
            Arc::new(FixedSizeListArray::new(
                f,
                *n,
                values,
                list.nulls().cloned(),
            ))
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let columns: Vec<ArrayRef> = s.columns().iter().map(|c| to_views(c, order)).collect();
            let fields = fields.iter().zip(&columns).map(|(f, c)| field(f, c));
            Arc::new(StructArray::new(
                fields.collect(),
                columns,
                s.nulls().cloned(),
            ))
        }
        DataType::Map(f, sorted) => {
            let map = array.as_map();
            let entries = to_views(&(Arc::new(map.entries().clone()) as ArrayRef), order);
            let f = field(f, &entries);
            let entries = entries.as_struct().clone();
            let offsets = map.offsets().clone();
            Arc::new(MapArray::new(
                f,
                offsets,
                entries,
                map.nulls().cloned(),
                *sorted,
            ))
        }
        _ => array.clone(),
    }
}

/// How [`to_keyed`] takes a nested column's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keys {
    /// A dictionary's keys, each row its own.
    Rising,
    /// Each row the row as far from the other end.
    Reversed,
    /// The first four rows, over and over.
    Repeated,
    /// A run array: runs of three rows of each of the first third.
    Runs,
}

/// A nested `dt` as a dictionary's values, or a run array's ([`Keys`]);
/// `dt` itself if it is not nested.
fn keyed_type(dt: &DataType, keys: Keys) -> DataType {
    if !dt.is_nested() {
        return dt.clone();
    }
    match keys {
        Keys::Runs => DataType::RunEndEncoded(
            Arc::new(Field::new("run_ends", DataType::Int32, false)),
            Arc::new(Field::new("values", dt.clone(), true)),
        ),
        _ => DataType::Dictionary(Box::new(DataType::Int32), Box::new(dt.clone())),
    }
}

/// A nested `array` as the values of a dictionary or run array of as many
/// rows ([`keyed_type`]); other arrays as they are.
fn to_keyed(array: &ArrayRef, keys: Keys) -> ArrayRef {
    use arrow_array::types::Int32Type;
    use arrow_array::{Array, Int32Array, RunArray};
    if !array.data_type().is_nested() {
        return array.clone();
    }
    let rows = array.len() as i32;
    let keys = match keys {
        Keys::Rising => Int32Array::from_iter_values(0..rows),
        Keys::Reversed => Int32Array::from_iter_values((0..rows).rev()),
        Keys::Repeated => Int32Array::from_iter_values((0..rows).map(|i| i % 4)),
        Keys::Runs => {
            let ends =
                Int32Array::from_iter_values((1..=(rows + 2) / 3).map(|r| (r * 3).min(rows)));
            let values = array.slice(0, ends.len());
            let runs = RunArray::<Int32Type>::try_new(&ends, &values).expect("runs");
            return Arc::new(runs);
        }
    };
    Arc::new(DictionaryArray::<Int32Type>::try_new(keys, array.clone()).expect("keys"))
}

/// `codec` at a higher level than its default, the `pick`th of a few.
fn higher_level(codec: Compression, pick: usize) -> Compression {
    use parquet::basic::{BrotliLevel, GzipLevel, ZstdLevel};
    match codec {
        Compression::ZSTD(_) => {
            Compression::ZSTD(ZstdLevel::try_new([3, 9, 19][pick % 3]).expect("a zstd level"))
        }
        Compression::BROTLI(_) => {
            Compression::BROTLI(BrotliLevel::try_new([4, 6, 9][pick % 3]).expect("a brotli level"))
        }
        Compression::GZIP(_) => Compression::GZIP(GzipLevel::try_new(9).expect("a gzip level")),
        other => other,
    }
}
