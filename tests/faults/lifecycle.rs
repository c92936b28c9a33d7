//! The writer's life around a fault: panics (in a store, on a writer thread)
//! unwind and release everything; an unusable spill directory fails the plan
//! up front and a removed one is harmless; an exhausted budget is refused by
//! the planner and simply spilled by a tiered store. Also the regressions for
//! panics the fault sweep found (empty blobs, zero-row row groups, closing
//! after a failed write).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use arrow_array::RecordBatch;
use bytes::Bytes;
use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::file::properties::WriterProperties;
use parquet_spill::testkit::{self, Fault, FaultyStoreFactory, Op};
use parquet_spill::{
    Error, FileStoreFactory, MemoryBudget, PageStore, SpillOptions, TieredStoreFactory,
};

use crate::harness::{
    assert_no_partial_row_group, batches, count, no_panic, props, read_back, reference, run,
    workload, Kind, Policy, Spill, Stage,
};

// ---------------------------------------------------------------------------
// Panics.

/// A store that panics in `put`: the panic reaches the caller of `write` (or
/// `close`), and unwinding drops every store, giving back disk and budget.
#[test]
fn a_panicking_store_unwinds_and_releases_everything() {
    for kind in [Kind::File, Kind::Tiered] {
        let total = count(kind, Op::Put);
        for n in (1..=total).step_by(7) {
            let spill = Spill::new(kind);
            let faulty = Arc::new(FaultyStoreFactory::new(
                spill.factory.clone(),
                Fault::PanicPut(n),
            ));
            let result = catch_unwind(AssertUnwindSafe(|| run(Some(faulty.clone()), Policy::Stop)));
            let panic = result.err().expect("the injected panic propagates");
            let msg = panic.downcast_ref::<String>().unwrap();
            assert!(msg.contains("injected panic"), "{msg}");
            drop(faulty);
            spill.assert_released(&format!("PanicPut({n}) on {kind:?}"));
        }
    }
}

/// Caller code panics on a writer thread mid-row-group, with pages on the
/// heap and in the spill file: the thread's unwinding hands everything back.
#[test]
fn a_panicking_writer_thread_releases_everything() {
    let spill = Spill::new(Kind::Tiered);
    let factory = spill.factory.clone();
    let files = spill.files.clone();
    let budget = spill.tiered.as_ref().unwrap().budget().clone();
    let joined = std::thread::spawn(move || {
        let options = ArrowWriterOptions::new()
            .with_properties(props())
            .with_page_store_factory(factory);
        let mut writer =
            ArrowWriter::try_new_with_options(Vec::new(), workload().schema(), options).unwrap();
        writer.write(&batches()[0]).unwrap();
        writer.write(&batches()[1]).unwrap();
        let stats = files.stats();
        assert!(stats.file_bytes_live > 0 && budget.used() > 0, "{stats:?}");
        panic!("caller bug while the writer holds spilled pages");
    })
    .join();
    let panic = joined.expect_err("the thread panicked");
    assert_eq!(
        panic.downcast_ref::<&str>(),
        Some(&"caller bug while the writer holds spilled pages"),
        "the thread failed before the planned panic"
    );
    spill.assert_released("a panicking writer thread");
}

// ---------------------------------------------------------------------------
// Spill directory and budget.

#[test]
fn unusable_spill_directories_fail_the_plan_up_front() {
    let schema = workload().schema();
    let plan = |dir: &Path| SpillOptions::new(64 << 20).spill_dir(dir).plan(&schema);
    let missing = plan(Path::new("/nonexistent/spill")).unwrap_err();
    assert!(matches!(missing, Error::SpillDir { .. }), "{missing}");
    assert!(missing.to_string().contains("/nonexistent/spill"));
    let file = tempfile::NamedTempFile::new().unwrap();
    let not_a_dir = plan(file.path()).unwrap_err();
    assert!(matches!(not_a_dir, Error::SpillDir { .. }), "{not_a_dir}");
    // /proc refuses new files even to root.
    let unwritable = plan(Path::new("/proc")).unwrap_err();
    assert!(
        matches!(unwritable, Error::CreateSpillFile { .. }),
        "{unwritable}"
    );
}

/// The spill file is open and unlinked: removing the spill directory under a
/// running writer changes nothing.
#[test]
fn removing_the_spill_directory_mid_write_is_harmless() {
    let spill = Spill::new(Kind::File);
    let options = ArrowWriterOptions::new()
        .with_properties(props())
        .with_page_store_factory(spill.factory.clone());
    let mut writer =
        ArrowWriter::try_new_with_options(Vec::new(), workload().schema(), options).unwrap();
    writer.write(&batches()[0]).unwrap();
    std::fs::remove_dir(spill.dir.path()).unwrap();
    writer.flush().unwrap();
    for batch in &batches()[1..] {
        writer.write(batch).unwrap();
        writer.flush().unwrap();
    }
    let output = writer.into_inner().unwrap();
    assert_eq!(read_back(&output).unwrap(), batches());
    assert!(spill.files.stats().bytes_spilled > 0);
}

/// A budget with no room left: the planner refuses with the numbers, and a
/// tiered store simply spills everything (output unchanged).
#[test]
fn an_exhausted_budget_is_refused_by_the_planner_and_spilled_by_the_store() {
    let shared = MemoryBudget::new(64 << 20);
    let _everything = shared.reserve(64 << 20).unwrap();
    let err = SpillOptions::shared(shared.clone(), 1)
        .plan(&workload().schema())
        .unwrap_err();
    assert!(
        matches!(err, Error::BudgetExhausted { available: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("memory budget exhausted"), "{err}");

    let spill = Spill::new(Kind::File);
    let tiered = Arc::new(TieredStoreFactory::new(shared.clone(), spill.files.clone()));
    let outcome = run(Some(tiered.clone()), Policy::Stop);
    assert!(outcome.first().is_none());
    assert_eq!(outcome.output, reference().output);
    let stats = tiered.stats();
    assert!(
        stats.budget.denied > 0 && stats.peak_heap_bytes == 0,
        "{stats:?}"
    );
    assert_eq!(shared.used(), 64 << 20, "only the reservation is held");
    spill.assert_released("an exhausted budget");
}

// ---------------------------------------------------------------------------
// Bugs found by this suite (src/file.rs), kept as failing tests.

/// `FileStore` copies tiny blobs into a per-store arena and frees the arena
/// once its live bytes reach 0. An *empty* blob counts 0 live bytes but keeps
/// its arena offset, so taking it after every other arena blob has been taken
/// slices past the end of the freed arena and panics
/// (`src/file.rs`, `FileStore::fetch`: "range start index 14 out of range for
/// slice of length 0").
#[test]
fn an_empty_blob_taken_after_the_arena_drained() {
    let mut store = FileStoreFactory::new().unwrap().create_store();
    let header = store.put(Bytes::from_static(&[7; 14])).unwrap();
    let empty = store.put(Bytes::new()).unwrap();
    assert_eq!(store.take(header).unwrap(), Bytes::from_static(&[7; 14]));
    let taken = no_panic("take of an empty blob", || store.take(empty));
    assert_eq!(taken.unwrap(), Bytes::new());
}

/// Parquet puts exactly that sequence (a 14-byte dictionary page header, then
/// an empty dictionary page) for a dictionary-encoded column chunk with no
/// values. The parallel path writes such chunks for a row group of 0 rows:
/// the default store writes the file, ours panics.
#[test]
fn a_zero_row_row_group_on_the_parallel_path() {
    let batch = testkit::all_types_batch(10, 1);
    let empty = RecordBatch::new_empty(batch.schema());
    let input = [batch, empty];
    let props = WriterProperties::default();
    let expected = testkit::write_parquet_parallel(&input, props.clone(), None).unwrap();
    for kind in [Kind::File, Kind::Tiered] {
        let spill = Spill::new(kind);
        let what = format!("zero-row row group on {kind:?}");
        let actual = no_panic(&what, || {
            testkit::write_parquet_parallel(&input, props.clone(), Some(spill.factory.clone()))
        });
        assert_eq!(actual.unwrap(), expected, "{what}");
        spill.assert_released(&what);
    }
}

/// After a failed `write`, closing the writer anyway must be an error (parquet
/// notices the column chunks disagree on the row count), not a panic. With
/// our stores it panics for the failures that leave a column chunk with only
/// an (empty) dictionary page — the bug above.
#[test]
fn closing_after_a_failed_write_is_an_error() {
    for kind in [Kind::File, Kind::Tiered] {
        let total = count(kind, Op::Put);
        for n in 1..=total {
            let fault = Fault::FailPut(n);
            let what = format!("{fault:?} on {kind:?}, then close");
            let spill = Spill::new(kind);
            let faulty = Arc::new(FaultyStoreFactory::new(spill.factory.clone(), fault));
            let outcome = no_panic(&what, || run(Some(faulty.clone()), Policy::CloseAgain));
            let failure = outcome.first().expect("injected");
            assert_no_partial_row_group(&what, failure, &outcome.output);
            let again = outcome.closed_again.as_ref().unwrap();
            assert!(again.is_err(), "{what}: close returned metadata");
            drop(faulty);
            spill.assert_released(&what);
        }
    }
}

/// The same with parquet's own in-memory store: an error every time.
#[test]
fn closing_after_a_failed_write_is_an_error_with_the_default_store() {
    let counting = Arc::new(FaultyStoreFactory::new(
        Arc::new(parquet_spill::InMemoryPageStoreFactory),
        Fault::None,
    ));
    run(Some(counting.clone()), Policy::Stop);
    let mut after_write = 0;
    for n in 1..=counting.counts().puts {
        let fault = Fault::FailPut(n);
        let faulty = Arc::new(FaultyStoreFactory::new(
            Arc::new(parquet_spill::InMemoryPageStoreFactory),
            fault,
        ));
        let outcome = no_panic(&format!("{fault:?}"), || {
            run(Some(faulty.clone()), Policy::CloseAgain)
        });
        let failure = outcome.first().expect("injected");
        assert_no_partial_row_group(&format!("{fault:?}"), failure, &outcome.output);
        let again = outcome.closed_again.as_ref().unwrap();
        let err = again
            .as_ref()
            .expect_err("close after a failure returned metadata");
        if matches!(failure.stage, Stage::Write(_)) {
            after_write += 1;
            let msg = err.to_string();
            assert!(
                msg.contains("Incorrect number of rows") || msg.contains("Failed to splice"),
                "{fault:?}: {msg}"
            );
        }
    }
    assert!(after_write > 0);
}
