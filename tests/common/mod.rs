//! Random Arrow schemas and writer properties as proptest strategies, shared
//! by the property tests (`tests/proptest_stores.rs`) and the soak test
//! (`tests/soak.rs`).
//!
//! Why: the conformance matrix covers the shapes someone thought of; a store
//! bug that depends on an unusual mix (a map of fixed-size lists under a
//! nullable struct with 64-byte pages and LZ4) is found by drawing shapes at
//! random. Schemas and settings are proptest strategies, so a failing case
//! shrinks to a small schema; the data comes from the test kit's seeded
//! generator (`testkit::random_batches`), so a case's `Debug` output (schema,
//! row counts, seed) is all it takes to reproduce it.
//!
//! Each test binary uses a different part of this module.
#![allow(dead_code)]

#[cfg(feature = "object_store")]
pub mod s3_server;

use std::fmt;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet_spill::testkit::{leaf_types, random_batches};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestRunner};

/// Dictionary-encoded leaves: every key width, common value types.
fn dictionary_type() -> impl Strategy<Value = DataType> {
    use DataType::*;
    let keys = select(vec![
        Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32, UInt64,
    ]);
    let values = select(vec![Utf8, LargeUtf8, Binary, LargeBinary, Int32, Int64]);
    (keys, values).prop_map(|(k, v)| Dictionary(Box::new(k), Box::new(v)))
}

/// Map keys: non-null primitives or strings.
fn map_key_type() -> impl Strategy<Value = DataType> {
    use DataType::*;
    select(vec![Utf8, LargeUtf8, Int32, Int64, Binary, Date32])
}

/// Any supported Arrow type, nested at most 3 levels deep.
pub fn data_type() -> BoxedStrategy<DataType> {
    let leaf = prop_oneof![6 => select(leaf_types()), 1 => dictionary_type()];
    leaf.prop_recursive(3, 12, 3, |inner| {
        let item = (inner.clone(), any::<bool>())
            .prop_map(|(dt, nullable)| Arc::new(Field::new("item", dt, nullable)));
        let members = proptest::collection::vec((inner.clone(), any::<bool>()), 1..=3);
        prop_oneof![
            item.clone().prop_map(DataType::List),
            item.clone().prop_map(DataType::LargeList),
            (item, 1..=3i32).prop_map(|(f, n)| DataType::FixedSizeList(f, n)),
            members.prop_map(|m| DataType::Struct(named(m, "f"))),
            (map_key_type(), inner, any::<bool>()).prop_map(|(k, v, nullable)| {
                let entries = Fields::from(vec![
                    Field::new("keys", k, false),
                    Field::new("values", v, nullable),
                ]);
                let entries = Field::new("entries", DataType::Struct(entries), false);
                DataType::Map(Arc::new(entries), false)
            }),
        ]
    })
    .boxed()
}

fn named(members: Vec<(DataType, bool)>, prefix: &str) -> Fields {
    members
        .into_iter()
        .enumerate()
        .map(|(i, (dt, nullable))| Field::new(format!("{prefix}{i}"), dt, nullable))
        .collect()
}

/// A schema of 1 to 5 top-level columns.
pub fn schema() -> impl Strategy<Value = SchemaRef> {
    proptest::collection::vec((data_type(), any::<bool>()), 1..=5)
        .prop_map(|columns| Arc::new(Schema::new(named(columns, "c"))))
}

/// What to write: a schema, the row count of each batch and the data seed.
#[derive(Clone)]
pub struct Input {
    pub schema: SchemaRef,
    pub batch_rows: Vec<usize>,
    pub seed: u64,
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns: Vec<_> = self
            .schema
            .fields()
            .iter()
            .map(|c| {
                format!(
                    "{}: {} (nullable: {})",
                    c.name(),
                    c.data_type(),
                    c.is_nullable()
                )
            })
            .collect();
        f.debug_struct("Input")
            .field("columns", &columns)
            .field("batch_rows", &self.batch_rows)
            .field("seed", &self.seed)
            .finish()
    }
}

impl Input {
    /// The batches, the same on every call.
    pub fn batches(&self) -> Vec<RecordBatch> {
        random_batches(&self.schema, &self.batch_rows, self.seed)
    }

    pub fn rows(&self) -> usize {
        self.batch_rows.iter().sum()
    }
}

/// 1 to 3 batches of up to `max_rows` rows each, empty and tiny batches
/// drawn more often than their share (edge cases live there).
pub fn input(max_rows: usize) -> impl Strategy<Value = Input> {
    let rows = prop_oneof![
        1 => Just(0usize),
        1 => 1..=16usize,
        6 => 0..=max_rows,
    ];
    (
        schema(),
        proptest::collection::vec(rows, 1..=3),
        any::<u64>(),
    )
        .prop_map(|(schema, batch_rows, seed)| Input {
            schema,
            batch_rows,
            seed,
        })
}

/// Writer properties worth varying for a page store: page and row-group
/// boundaries decide how many blobs there are and how big.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_page_size: usize,
    pub page_row_limit: usize,
    pub write_batch_size: usize,
    pub dictionary: bool,
    pub dictionary_page_size: usize,
    pub statistics: EnabledStatistics,
    pub writer_version: WriterVersion,
    pub compression: Compression,
    pub max_row_group_rows: Option<usize>,
    pub bloom_filter: bool,
}

impl Settings {
    pub fn properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_data_page_size_limit(self.data_page_size)
            .set_data_page_row_count_limit(self.page_row_limit)
            .set_write_batch_size(self.write_batch_size)
            .set_dictionary_enabled(self.dictionary)
            .set_dictionary_page_size_limit(self.dictionary_page_size)
            .set_statistics_enabled(self.statistics)
            .set_writer_version(self.writer_version)
            .set_compression(self.compression)
            .set_max_row_group_row_count(self.max_row_group_rows)
            .set_bloom_filter_enabled(self.bloom_filter)
            .build()
    }
}

pub fn settings() -> impl Strategy<Value = Settings> {
    (
        select(vec![1024 * 1024, 64, 512, 4096, 64 * 1024]),
        select(vec![20_000, 1, 50, 1000]),
        select(vec![1024, 1, 7, 64, 8192]),
        any::<bool>(),
        select(vec![1024 * 1024, 256, 4096]),
        select(vec![
            EnabledStatistics::Page,
            EnabledStatistics::None,
            EnabledStatistics::Chunk,
        ]),
        select(vec![WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0]),
        select(parquet_spill::testkit::codecs().to_vec()),
        prop_oneof![Just(None), (1..=5000usize).prop_map(Some)],
        proptest::bool::weighted(0.2),
    )
        .prop_map(
            |(
                data_page_size,
                page_row_limit,
                write_batch_size,
                dictionary,
                dictionary_page_size,
                statistics,
                writer_version,
                compression,
                max_row_group_rows,
                bloom_filter,
            )| Settings {
                data_page_size,
                page_row_limit,
                write_batch_size,
                dictionary,
                dictionary_page_size,
                statistics,
                writer_version,
                compression,
                max_row_group_rows,
                bloom_filter,
            },
        )
}

/// One value of `strategy`, determined by `seed` (for tests that draw cases
/// themselves instead of running them under proptest).
pub fn draw<S: Strategy>(strategy: &S, seed: u64) -> S::Value {
    let mut runner = TestRunner::new(Config {
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    });
    strategy
        .new_tree(&mut runner)
        .unwrap_or_else(|e| panic!("cannot draw a value: {e}"))
        .current()
}
