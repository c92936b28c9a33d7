//! The machinery every fault test shares: the small three-row-group
//! workload and its clean reference write, the stores under test
//! ([`Spill`]), one write of the workload under a failure [`Policy`]
//! ([`run`]), and the checks made after each injected fault (no panic, no
//! partly written row group, everything released).
//!
//! Kept apart from the tests so each concern's module holds only its tests.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use parquet_spill::testkit::{Fault, FaultyStoreFactory, Op};
use parquet_spill::workloads::Workload;
use parquet_spill::{Error, FileStoreFactory, MemoryBudget, PageStoreFactory, TieredStoreFactory};

// ---------------------------------------------------------------------------
// The workload: 3 row groups of 600 rows, 4 columns (int64, 20-byte strings,
// 200-byte strings, int64), small pages so pages are put during `write` as
// well as during `flush`, dictionaries on two columns (one falls back).

pub(crate) const GROUPS: usize = 3;
pub(crate) const ROWS: usize = 600;
/// Small enough that the tiered store keeps some pages and spills others.
const TIERED_BUDGET: usize = 48 * 1024;

pub(crate) fn workload() -> Workload {
    Workload::WideMixed {
        columns: 4,
        rows: GROUPS * ROWS,
    }
}

pub(crate) fn batches() -> &'static [RecordBatch] {
    static BATCHES: OnceLock<Vec<RecordBatch>> = OnceLock::new();
    BATCHES.get_or_init(|| workload().batches(ROWS).collect())
}

pub(crate) fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_data_page_size_limit(4096)
        .set_write_batch_size(128)
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("c1_s20"), true)
        .set_column_dictionary_enabled(ColumnPath::from("c3_i64"), true)
        .set_dictionary_page_size_limit(4096)
        .build()
}

/// The clean write with parquet's default store.
pub(crate) struct Reference {
    pub(crate) output: Vec<u8>,
    row_groups: Vec<RowGroupMetaData>,
}

pub(crate) fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let outcome = run(None, Policy::Stop);
        let metadata = outcome
            .metadata
            .expect("the default store writes the workload");
        let row_groups = metadata.row_groups().to_vec();
        assert_eq!(row_groups.len(), GROUPS);
        Reference {
            output: outcome.output,
            row_groups,
        }
    })
}

// ---------------------------------------------------------------------------
// Stores under test, each spilling into a fresh directory of its own.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `FileStoreFactory`: every page body spills.
    File,
    /// `TieredStoreFactory` with a 48 KiB budget: some pages on the heap, the rest spilled.
    Tiered,
}

pub(crate) struct Spill {
    pub(crate) kind: Kind,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) files: FileStoreFactory,
    pub(crate) tiered: Option<Arc<TieredStoreFactory<FileStoreFactory>>>,
    pub(crate) factory: Arc<dyn PageStoreFactory>,
}

impl Spill {
    pub(crate) fn new(kind: Kind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files = FileStoreFactory::in_dir(dir.path()).unwrap();
        let (tiered, factory): (_, Arc<dyn PageStoreFactory>) = match kind {
            Kind::File => (None, Arc::new(files.clone())),
            Kind::Tiered => {
                let budget = MemoryBudget::new(TIERED_BUDGET);
                let tiered = Arc::new(TieredStoreFactory::new(budget, files.clone()));
                (Some(tiered.clone()), tiered)
            }
        };
        Self {
            kind,
            dir,
            files,
            tiered,
            factory,
        }
    }

    /// Nothing left anywhere once the writer is gone: no live blobs, no heap,
    /// no budget, a zero-length spill file, an empty spill directory.
    pub(crate) fn assert_released(&self, what: &str) {
        let stats = self.files.stats();
        assert_eq!(
            (stats.file_bytes_live, stats.file_len, stats.heap_bytes),
            (0, 0, 0),
            "{what} on {:?}: spill file live bytes / length / heap bytes left over",
            self.kind
        );
        let on_disk = self.files.spill_file().raw_file().metadata().unwrap().len();
        assert_eq!(
            on_disk, 0,
            "{what}: the spill file still holds {on_disk} bytes"
        );
        if let Some(tiered) = &self.tiered {
            let stats = tiered.stats();
            assert_eq!(stats.budget.used, 0, "{what}: budget not handed back");
            assert_eq!(stats.heap_bytes, 0, "{what}: tiered heap not handed back");
        }
        let left: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.is_empty(),
            "{what}: files left in the spill directory: {left:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// One write of the workload: write + flush per row group, the last one flushed
// by close (`finish`, which `close` calls, so the writer can be inspected).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Write(usize),
    Flush(usize),
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Drop the writer after a failed `write`; after a failed `flush`/`close`,
    /// call `close` once more (it must fail again).
    Stop,
    /// After any failure, call `close` once more.
    CloseAgain,
    /// Report a failed `write` and carry on with the next batch.
    Continue,
}

pub(crate) struct Failure {
    pub(crate) stage: Stage,
    pub(crate) err: ParquetError,
    pub(crate) flushed_before: Vec<RowGroupMetaData>,
    pub(crate) flushed_after: Vec<RowGroupMetaData>,
}

pub(crate) struct Outcome {
    pub(crate) failures: Vec<Failure>,
    /// What `close` returned when called again after a failure.
    pub(crate) closed_again: Option<Result<ParquetMetaData, ParquetError>>,
    /// `close`'s metadata when the write got that far.
    pub(crate) metadata: Option<ParquetMetaData>,
    pub(crate) output: Vec<u8>,
}

impl Outcome {
    pub(crate) fn first(&self) -> Option<&Failure> {
        self.failures.first()
    }
}

pub(crate) fn run(factory: Option<Arc<dyn PageStoreFactory>>, policy: Policy) -> Outcome {
    let mut options = ArrowWriterOptions::new().with_properties(props());
    if let Some(factory) = factory {
        options = options.with_page_store_factory(factory);
    }
    let mut writer = ArrowWriter::try_new_with_options(Vec::new(), workload().schema(), options)
        .expect("creating the writer does not touch the store");
    let mut outcome = Outcome {
        failures: Vec::new(),
        closed_again: None,
        metadata: None,
        output: Vec::new(),
    };
    let finish = |mut writer: ArrowWriter<Vec<u8>>, mut outcome: Outcome, again: bool| {
        if again {
            outcome.closed_again = Some(writer.finish());
        }
        // Push whatever parquet's buffered writer holds into the Vec.
        let _ = writer.sync();
        outcome.output = writer.inner().clone();
        outcome
    };
    let batches = batches();
    for (i, batch) in batches.iter().enumerate() {
        let before = writer.flushed_row_groups().to_vec();
        if let Err(err) = writer.write(batch) {
            outcome.failures.push(Failure {
                stage: Stage::Write(i),
                err,
                flushed_after: writer.flushed_row_groups().to_vec(),
                flushed_before: before,
            });
            match policy {
                Policy::Stop => return finish(writer, outcome, false),
                Policy::CloseAgain => return finish(writer, outcome, true),
                Policy::Continue => continue,
            }
        }
        if i + 1 < batches.len() {
            if let Err(err) = writer.flush() {
                outcome.failures.push(Failure {
                    stage: Stage::Flush(i),
                    err,
                    flushed_after: writer.flushed_row_groups().to_vec(),
                    flushed_before: before,
                });
                return finish(writer, outcome, true);
            }
        }
    }
    let before = writer.flushed_row_groups().to_vec();
    match writer.finish() {
        Ok(metadata) => outcome.metadata = Some(metadata),
        Err(err) => {
            outcome.failures.push(Failure {
                stage: Stage::Close,
                err,
                flushed_after: writer.flushed_row_groups().to_vec(),
                flushed_before: before,
            });
            return finish(writer, outcome, true);
        }
    }
    finish(writer, outcome, false)
}

/// Run `f`, turning a panic into a test failure that names `what`.
pub(crate) fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("?");
        panic!("{what}: the writer panicked: {msg}")
    })
}

/// A failed call reports no new row group, and every row group reported is
/// byte-for-byte the clean write's.
pub(crate) fn assert_no_partial_row_group(what: &str, failure: &Failure, output: &[u8]) {
    let reference = reference();
    assert_eq!(
        failure.flushed_after.len(),
        failure.flushed_before.len(),
        "{what}: a failed {:?} reported a row group as written",
        failure.stage
    );
    let flushed = &failure.flushed_after;
    assert_eq!(
        flushed.iter().map(layout).collect::<Vec<_>>(),
        reference.row_groups[..flushed.len()]
            .iter()
            .map(layout)
            .collect::<Vec<_>>(),
        "{what}: the reported row groups differ from a clean write"
    );
    let end = flushed.last().map_or(4, row_group_end);
    assert_eq!(
        output[..end],
        reference.output[..end],
        "{what}: the bytes of the reported row groups differ from a clean write"
    );
}

/// Rows, and each column chunk's start, length and value count.
fn layout(rg: &RowGroupMetaData) -> (i64, Vec<(i64, i64, i64)>) {
    let chunks = rg
        .columns()
        .iter()
        .map(|c| {
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            (start, c.compressed_size(), c.num_values())
        })
        .collect();
    (rg.num_rows(), chunks)
}

/// One past the last byte of a row group's column chunks.
fn row_group_end(rg: &RowGroupMetaData) -> usize {
    rg.columns()
        .iter()
        .map(|c| {
            let start = c.dictionary_page_offset().unwrap_or(c.data_page_offset());
            (start + c.compressed_size()) as usize
        })
        .max()
        .unwrap()
}

/// How many calls of `op` a clean write through `kind` makes (and check that
/// the decorator itself changes nothing).
pub(crate) fn count(kind: Kind, op: Op) -> u64 {
    let spill = Spill::new(kind);
    let counting = Arc::new(FaultyStoreFactory::new(spill.factory.clone(), Fault::None));
    let outcome = run(Some(counting.clone()), Policy::Stop);
    assert!(outcome.first().is_none(), "a clean write failed");
    assert_eq!(
        outcome.output,
        reference().output,
        "{kind:?}: output differs"
    );
    let stats = spill.files.stats();
    assert!(stats.bytes_spilled > 0, "{kind:?}: nothing spilled");
    if let Some(tiered) = &spill.tiered {
        assert!(
            tiered.stats().peak_heap_bytes > 1024,
            "{kind:?}: nothing kept on the heap"
        );
    }
    spill.assert_released("a clean write");
    let counts = counting.counts();
    assert_eq!(counts.puts, counts.takes, "every blob put is taken");
    match op {
        Op::Create => counts.creates,
        Op::Put => counts.puts,
        Op::Take => counts.takes,
    }
}

/// Read a file back as one batch per row group, or the reader's error.
pub(crate) fn read_back(file: &[u8]) -> Result<Vec<RecordBatch>, String> {
    ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(file))
        .and_then(|b| b.with_batch_size(ROWS).build())
        .map_err(|e| e.to_string())?
        .map(|b| b.map_err(|e| e.to_string()))
        .collect()
}

pub(crate) fn same_data(got: &[RecordBatch], want: &[RecordBatch]) -> bool {
    got.len() == want.len()
        && got.iter().zip(want).all(|(g, w)| {
            g.num_columns() == w.num_columns()
                && g.columns()
                    .iter()
                    .zip(w.columns())
                    .all(|(a, b)| a.to_data() == b.to_data())
        })
}

/// The crate error inside a writer error.
pub(crate) fn spill_error(err: &ParquetError) -> Option<&Error> {
    match err {
        ParquetError::External(inner) => inner.downcast_ref::<Error>(),
        _ => None,
    }
}
