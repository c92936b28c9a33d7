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

mod cases;
mod stores;

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::PageStoreFactory;
use parquet::file::properties::WriterProperties;

pub use self::cases::{
    codec_cases, codecs, layout_cases, parallel_cases, row_group_cases, type_cases,
};
pub use self::stores::{
    check_concurrent_stores, check_empty_blob_last, check_memory_size, check_round_trip,
    create_store,
};
use super::write::{
    write_parallel_writer, write_parallel_writer_all, write_parquet, write_parquet_parallel,
};

/// A factory handle as the checks take it.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{all_types_batch, write_parquet, SharedFactory};
/// use parquet_spill::FileStoreFactory;
/// let spill = Arc::new(FileStoreFactory::new()?);
/// let factory: SharedFactory = spill.clone();
/// let batch = all_types_batch(50, 0);
/// let expected = write_parquet(&[batch.clone()], Default::default(), None)?;
/// assert_eq!(write_parquet(&[batch], Default::default(), Some(factory))?, expected);
/// assert!(spill.stats().blobs_spilled > 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type SharedFactory = Arc<dyn PageStoreFactory>;

/// Heap held *outside* the stores by what they write to (an in-memory object
/// store keeps uploaded objects on the heap), so `memory_size()` need not
/// report it.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use parquet_spill::testkit::{HeldElsewhere, Subject};
/// use parquet_spill::MemoryStoreFactory;
///
/// let uploaded = Arc::new(AtomicUsize::new(0)); // e.g. bytes an in-memory service holds
/// let probe: HeldElsewhere = {
///     let uploaded = Arc::clone(&uploaded);
///     Arc::new(move || uploaded.load(Ordering::Relaxed))
/// };
/// let subject = Subject {
///     factory: Arc::new(MemoryStoreFactory::new()),
///     held_elsewhere: Some(probe),
/// };
/// uploaded.store(4096, Ordering::Relaxed);
/// assert_eq!(subject.held_elsewhere.as_ref().map(|held| held()), Some(4096));
/// ```
pub type HeldElsewhere = Arc<dyn Fn() -> usize + Send + Sync>;

/// What the suite runs against: a factory, and optionally a probe of the
/// heap its backing service holds.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::Subject;
/// let subject: Subject = Arc::new(parquet_spill::MemoryStoreFactory::new()).into();
/// assert!(subject.held_elsewhere.is_none());
/// ```
#[derive(Clone)]
pub struct Subject {
    /// The factory under test.
    pub factory: SharedFactory,
    /// Heap its backing service holds outside the stores.
    pub held_elsewhere: Option<HeldElsewhere>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject")
            .field("factory", &self.factory)
            .finish_non_exhaustive()
    }
}

impl<F: PageStoreFactory + 'static> From<Arc<F>> for Subject {
    fn from(factory: Arc<F>) -> Self {
        Self {
            factory,
            held_elsewhere: None,
        }
    }
}

impl From<SharedFactory> for Subject {
    fn from(factory: SharedFactory) -> Self {
        Self {
            factory,
            held_elsewhere: None,
        }
    }
}

/// One write to compare: batches, properties, and which writer path.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{all_types_batch, check_case, Case, SharedFactory};
/// use parquet_spill::testkit::SparseMapStoreFactory;
/// let batches = vec![all_types_batch(100, 1), all_types_batch(60, 2)];
/// let case = Case { parallel: true, ..Case::new("mine/parallel", batches, Default::default()) };
/// assert_eq!(case.batches.len(), 2);
/// let factory: SharedFactory = Arc::new(SparseMapStoreFactory);
/// check_case(&factory, &case); // one row group per batch, a thread per column
/// ```
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
    /// A case for `ArrowWriter`.
    ///
    /// ```
    /// use parquet_spill::testkit::{all_types_batch, Case};
    /// let case = Case::new("mine", vec![all_types_batch(10, 0)], Default::default());
    /// assert!(!case.parallel);
    /// ```
    pub fn new(
        name: impl Into<String>,
        batches: Vec<RecordBatch>,
        props: WriterProperties,
    ) -> Self {
        Self {
            name: name.into(),
            batches,
            props,
            parallel: false,
        }
    }
}

/// Write `case` with `factory` and with parquet's default store; panic unless
/// the files are byte-identical and read back equal to the input.
///
/// ```
/// use std::panic::{catch_unwind, AssertUnwindSafe};
/// use std::sync::Arc;
/// use parquet_spill::testkit::{all_types_batch, check_case, Case, SharedFactory};
/// use parquet_spill::testkit::{Fault, FaultyStoreFactory};
/// use parquet_spill::FileStoreFactory;
///
/// let case = Case::new("x", vec![all_types_batch(100, 1)], Default::default());
/// let spill: SharedFactory = Arc::new(FileStoreFactory::new()?);
/// check_case(&spill, &case); // passes
///
/// // A store that flips a bit of the first page it hands back fails the check.
/// let rotten: SharedFactory = Arc::new(FaultyStoreFactory::new(spill, Fault::AlterTake(1)));
/// assert!(catch_unwind(AssertUnwindSafe(|| check_case(&rotten, &case))).is_err());
/// # Ok::<(), parquet_spill::Error>(())
/// ```
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

/// A [`ParallelWriter`](crate::ParallelWriter) way of writing a case.
type WriteWith = fn(
    &[RecordBatch],
    WriterProperties,
    Option<SharedFactory>,
    usize,
) -> parquet::errors::Result<Bytes>;

/// Thread counts [`check_parallel_writer`] runs every case with.
///
/// ```
/// assert!(parquet_spill::testkit::PARALLEL_WRITER_THREADS.contains(&1));
/// ```
pub const PARALLEL_WRITER_THREADS: [usize; 3] = [1, 2, 4];

/// Write each of `cases` with [`ParallelWriter`](crate::ParallelWriter) over
/// `factory` at every count in [`PARALLEL_WRITER_THREADS`], batch by batch
/// and through `write_all`; panic unless the
/// file is byte-identical to `ArrowWriter`'s with parquet's default store.
/// A case with content-defined chunking must be refused instead (parquet
/// keeps its chunkers private).
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{check_parallel_writer, type_cases, SharedFactory};
/// let spill: SharedFactory = Arc::new(parquet_spill::FileStoreFactory::new()?);
/// check_parallel_writer(&spill, type_cases());
/// # Ok::<(), parquet_spill::Error>(())
/// ```
pub fn check_parallel_writer(factory: &SharedFactory, cases: Vec<Case>) {
    for case in cases.iter().filter(|c| !c.parallel) {
        let expected = write_parquet(&case.batches, case.props.clone(), None)
            .unwrap_or_else(|e| panic!("case {}: ArrowWriter failed: {e}", case.name));
        let ways: [(&str, WriteWith); 2] = [
            ("write", write_parallel_writer),
            ("write_all", write_parallel_writer_all),
        ];
        for (threads, (how, write)) in PARALLEL_WRITER_THREADS
            .into_iter()
            .flat_map(|t| ways.map(|w| (t, w)))
        {
            let written = write(
                &case.batches,
                case.props.clone(),
                Some(Arc::clone(factory)),
                threads,
            );
            if case.props.content_defined_chunking().is_some() {
                assert!(
                    written.is_err(),
                    "case {}: ParallelWriter accepted content-defined chunking",
                    case.name
                );
                continue;
            }
            let actual = written.unwrap_or_else(|e| {
                panic!(
                    "case {}: ParallelWriter::{how}, {threads} threads, failed: {e}",
                    case.name
                )
            });
            assert!(
                actual == expected,
                "case {}: ParallelWriter::{how} on {threads} threads over {factory:?} differs \
                 from ArrowWriter ({} vs {} bytes)",
                case.name,
                actual.len(),
                expected.len()
            );
        }
    }
}

/// Panic unless `file` reads back (with parquet's reader) equal to `batches`.
///
/// ```
/// use parquet_spill::testkit::{all_types_batch, assert_reads_back, write_parquet};
/// let batches = [all_types_batch(50, 0), all_types_batch(30, 1)];
/// let file = write_parquet(&batches, Default::default(), None)?;
/// assert_reads_back("two batches", file.clone(), &batches);
///
/// let other = [all_types_batch(50, 7), all_types_batch(30, 1)];
/// let check = std::panic::AssertUnwindSafe(|| assert_reads_back("other data", file, &other));
/// assert!(std::panic::catch_unwind(check).is_err());
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
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

/// Run every case in `cases`.
///
/// ```
/// use std::sync::Arc;
/// use parquet::basic::Compression;
/// use parquet::file::properties::WriterProperties;
/// use parquet_spill::testkit::{all_types_batch, check_cases, Case, SharedFactory};
/// use parquet_spill::MemoryStoreFactory;
///
/// let snappy = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
/// let cases = vec![
///     Case::new("plain", vec![all_types_batch(100, 1)], Default::default()),
///     Case::new("snappy", vec![all_types_batch(100, 2)], snappy),
/// ];
/// let memory = Arc::new(MemoryStoreFactory::new());
/// check_cases(&(memory.clone() as SharedFactory), cases);
/// assert!(memory.peak_bytes() > 0, "the pages went through the store");
/// assert_eq!(memory.bytes(), 0, "and were all taken back");
/// ```
pub fn check_cases(factory: &SharedFactory, cases: Vec<Case>) {
    for case in &cases {
        check_case(factory, case);
    }
}

/// Stamp out the whole suite as `#[test]` functions for a factory expression.
///
/// The expression is evaluated once per test and must give anything that
/// converts into a [`Subject`] (an `Arc` of a factory, or a `Subject` with a
/// probe of heap held elsewhere). Pass a `CountingAlloc` static installed as
/// the global allocator to also check `memory_size()` against real heap use.
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
            let subject: $crate::testkit::Subject = ($factory).into();
            assert!(
                $crate::testkit::check_memory_size(&subject, &$alloc),
                "the CountingAlloc passed is not the global allocator"
            );
        }
    };
    ($factory:expr) => {
        #[test]
        fn round_trip() {
            $crate::testkit::check_round_trip(&{
                let subject: $crate::testkit::Subject = ($factory).into();
                subject.factory
            });
        }
        #[test]
        fn empty_blob_last() {
            $crate::testkit::check_empty_blob_last(&{
                let subject: $crate::testkit::Subject = ($factory).into();
                subject.factory
            });
        }
        #[test]
        fn concurrent_stores() {
            $crate::testkit::check_concurrent_stores(&{
                let subject: $crate::testkit::Subject = ($factory).into();
                subject.factory
            });
        }
        #[test]
        fn every_type() {
            $crate::testkit::check_cases(
                &{
                    let subject: $crate::testkit::Subject = ($factory).into();
                    subject.factory
                },
                $crate::testkit::type_cases(),
            );
        }
        #[test]
        fn every_codec() {
            $crate::testkit::check_cases(
                &{
                    let subject: $crate::testkit::Subject = ($factory).into();
                    subject.factory
                },
                $crate::testkit::codec_cases(),
            );
        }
        #[test]
        fn page_layouts() {
            $crate::testkit::check_cases(
                &{
                    let subject: $crate::testkit::Subject = ($factory).into();
                    subject.factory
                },
                $crate::testkit::layout_cases(),
            );
        }
        #[test]
        fn row_groups() {
            $crate::testkit::check_cases(
                &{
                    let subject: $crate::testkit::Subject = ($factory).into();
                    subject.factory
                },
                $crate::testkit::row_group_cases(),
            );
        }
        #[test]
        fn parallel_path() {
            $crate::testkit::check_cases(
                &{
                    let subject: $crate::testkit::Subject = ($factory).into();
                    subject.factory
                },
                $crate::testkit::parallel_cases(),
            );
        }
        #[test]
        fn parallel_writer() {
            let subject: $crate::testkit::Subject = ($factory).into();
            let cases = [
                $crate::testkit::type_cases(),
                $crate::testkit::codec_cases(),
                $crate::testkit::layout_cases(),
                $crate::testkit::row_group_cases(),
            ];
            for cases in cases {
                $crate::testkit::check_parallel_writer(&subject.factory, cases);
            }
        }
    };
}
