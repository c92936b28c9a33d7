//! `ParallelWriter` beyond the conformance suite (which checks its output is
//! byte-identical to `ArrowWriter`'s over every store): failures surface as
//! errors and never hang or finish a file, encryption, refusals, and the
//! `ArrowWriter` surface behaving the same.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::arrow_writer::{
    ArrowWriter, ArrowWriterOptions, PageKey, PageStore, PageStoreArgs, PageStoreFactory,
};
use parquet::encryption::decrypt::FileDecryptionProperties;
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::errors::ParquetError;
use parquet::file::properties::{CdcOptions, EnabledStatistics, WriterProperties};
use parquet_spill::testkit::{
    all_types_batch, injected_fault, random_batches, Fault, FaultyStoreFactory, InjectedFault, Op,
};
use parquet_spill::{Error, FileStoreFactory, MemoryStoreFactory, ParallelWriter, SpillOptions};

fn small_pages() -> WriterProperties {
    WriterProperties::builder()
        .set_data_page_size_limit(1024)
        .set_write_batch_size(64)
        .build()
}

/// Write `batches` with `fault` injected on two threads; return the first
/// error and the output written so far.
fn write_with_fault(fault: Fault, batches: &[RecordBatch]) -> (ParquetError, Vec<u8>) {
    let spill = Arc::new(FileStoreFactory::new().unwrap());
    let faulty = Arc::new(FaultyStoreFactory::new(spill, fault));
    let options = ArrowWriterOptions::new()
        .with_properties(small_pages())
        .with_page_store_factory(faulty);
    let mut out = Vec::new();
    let started = Instant::now();
    let result = (|| {
        let mut writer =
            ParallelWriter::try_new_with_options(&mut out, batches[0].schema(), options)?
                .with_threads(2);
        for batch in batches {
            writer.write(batch)?;
        }
        writer.close()
    })();
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a failing write must not hang"
    );
    (result.expect_err("the fault must fail the write"), out)
}

/// A two-thread writer into `out` over a spill store with `fault`.
fn faulty_writer<'a>(
    fault: Fault,
    props: WriterProperties,
    batches: &[RecordBatch],
    out: &'a mut Vec<u8>,
) -> ParallelWriter<&'a mut Vec<u8>> {
    let spill = Arc::new(FileStoreFactory::new().unwrap());
    let faulty = Arc::new(FaultyStoreFactory::new(spill, fault));
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_page_store_factory(faulty);
    ParallelWriter::try_new_with_options(out, batches[0].schema(), options)
        .unwrap()
        .with_threads(2)
}

/// `err` is the `nth` take's injected fault, and every later call of
/// `writer` fails: a write names the failure, a close finishes nothing.
fn fails_for_good(
    err: &ParquetError,
    mut writer: ParallelWriter<&mut Vec<u8>>,
    batch: &RecordBatch,
    nth: u64,
) {
    assert_eq!(
        injected_fault(err),
        Some(&InjectedFault { op: Op::Take, nth }),
        "{err}"
    );
    let again = writer.write(batch).unwrap_err();
    assert!(
        matches!(Error::in_chain(&again), Some(Error::WriterFailed { .. })),
        "take {nth}: {again}"
    );
    assert!(writer.close().is_err(), "take {nth}: close must fail");
}

#[test]
fn a_store_error_in_a_worker_fails_the_write_and_no_footer_is_written() {
    let batches: Vec<_> = (0..6).map(|i| all_types_batch(800, i)).collect();
    let (err, out) = write_with_fault(Fault::FailPut(40), &batches);
    assert_eq!(
        injected_fault(&err),
        Some(&InjectedFault {
            op: Op::Put,
            nth: 40
        }),
        "{err}"
    );
    assert!(
        matches!(
            parquet_spill::testkit::error_in_chain::<Error>(&err),
            Some(Error::Encode { .. })
        ),
        "the error names the column: {err}"
    );
    assert!(err.to_string().contains("encoding column"), "{err}");
    assert!(
        !out.ends_with(b"PAR1") || out.len() <= 4,
        "a failed write must not look like a finished file"
    );
}

#[test]
fn a_panicking_store_is_an_error_naming_the_column_not_a_hang() {
    let batches: Vec<_> = (0..4).map(|i| all_types_batch(800, i)).collect();
    let (err, out) = write_with_fault(Fault::PanicPut(10), &batches);
    match Error::in_chain(&err) {
        Some(Error::WorkerPanicked { column, message }) => {
            assert!(
                batches[0].schema().field_with_name(column).is_ok(),
                "{column}"
            );
            assert!(!message.is_empty());
        }
        other => panic!("expected WorkerPanicked, got {other:?} from {err}"),
    }
    assert!(!out.ends_with(b"PAR1") || out.len() <= 4);
}

/// The owner splices column `i` while the workers still close the columns
/// after it: a store failing during that splice fails the flush, leaves no
/// footer, and every later call says the writer failed.
#[test]
fn a_store_error_while_splicing_fails_the_flush_and_every_later_call() {
    let batches: Vec<_> = (0..4).map(|i| all_types_batch(800, i)).collect();
    for nth in [1, 7, 60] {
        let mut out = Vec::new();
        let mut writer = faulty_writer(Fault::FailTake(nth), small_pages(), &batches, &mut out);
        for batch in &batches {
            writer.write(batch).unwrap();
        }
        let err = writer.flush().expect_err("the failed take fails the flush");
        fails_for_good(&err, writer, &batches[0], nth);
        assert!(
            !out.ends_with(b"PAR1") || out.len() <= 4,
            "take {nth}: no footer"
        );
    }
}

#[test]
fn after_a_failure_every_call_fails_and_close_finishes_nothing() {
    let batches: Vec<_> = (0..8).map(|i| all_types_batch(500, i)).collect();
    let spill = Arc::new(FileStoreFactory::new().unwrap());
    let faulty = Arc::new(FaultyStoreFactory::new(spill, Fault::FailPut(5)));
    let options = ArrowWriterOptions::new()
        .with_properties(small_pages())
        .with_page_store_factory(faulty);
    let mut writer = ParallelWriter::try_new_with_options(Vec::new(), batches[0].schema(), options)
        .unwrap()
        .with_threads(2);
    let mut first = None;
    for batch in &batches {
        if let Err(e) = writer.write(batch) {
            first = Some(e);
            break;
        }
    }
    let first = match first {
        Some(e) => e,
        None => writer.flush().expect_err("the fault surfaces by the flush"),
    };
    assert!(injected_fault(&first).is_some(), "{first}");
    let again = writer.write(&batches[0]).unwrap_err();
    assert!(
        matches!(Error::in_chain(&again), Some(Error::WriterFailed { .. })),
        "{again}"
    );
    assert!(
        again.to_string().contains("injected"),
        "names the cause: {again}"
    );
    assert!(
        writer.close().is_err(),
        "close must not finish a failed file"
    );
}

#[test]
fn content_defined_chunking_is_refused_up_front() {
    let props = WriterProperties::builder()
        .set_content_defined_chunking(Some(CdcOptions::default()))
        .build();
    let batch = all_types_batch(10, 0);
    let err = ParallelWriter::try_new(Vec::new(), batch.schema(), Some(props)).unwrap_err();
    assert!(
        matches!(
            Error::in_chain(&err),
            Some(Error::InvalidOption {
                option: "content-defined chunking",
                ..
            })
        ),
        "{err}"
    );
}

#[test]
fn a_batch_with_the_wrong_columns_is_refused() {
    let batch = all_types_batch(10, 0);
    let mut writer = ParallelWriter::try_new(Vec::new(), batch.schema(), None).unwrap();
    let other =
        RecordBatch::try_from_iter([("x", Arc::new(Int32Array::from(vec![1])) as ArrayRef)])
            .unwrap();
    assert!(writer.write(&other).is_err());
    writer.write(&batch).unwrap();
    assert_eq!(writer.close().unwrap().file_metadata().num_rows(), 10);
}

/// A batch parquet would refuse (a column of another type) is refused by
/// `write` itself, before any column has it: the writer goes on, and the
/// file is `ArrowWriter`'s of the other batches.
#[test]
fn a_batch_of_the_wrong_type_is_refused_and_the_writer_goes_on() {
    let good = RecordBatch::try_from_iter([(
        "x",
        Arc::new(Int32Array::from_iter_values(0..10)) as ArrayRef,
    )])
    .unwrap();
    let wrong = RecordBatch::try_from_iter([(
        "x",
        Arc::new(Int64Array::from_iter_values(0..10)) as ArrayRef,
    )])
    .unwrap();
    for threads in [1, 2] {
        let mut writer = ParallelWriter::try_new(Vec::new(), good.schema(), None)
            .unwrap()
            .with_threads(threads);
        writer.write(&good).unwrap();
        let err = writer.write(&wrong).unwrap_err();
        assert!(err.to_string().contains("Int64"), "{threads}: {err}");
        writer.write(&good).unwrap();
        let mut serial = ArrowWriter::try_new(Vec::new(), good.schema(), None).unwrap();
        serial.write(&good).unwrap();
        serial.write(&good).unwrap();
        assert!(
            writer.into_inner().unwrap() == serial.into_inner().unwrap(),
            "{threads} thread(s): not ArrowWriter's file"
        );
    }
}

/// A value longer than the plan's pages makes a page of its own, of which
/// parquet holds about six copies: a plan's writer admits each batch's long
/// values before any column has it, so one the limit cannot hold is refused
/// before it is encoded, by `write` and by `write_all`, and the rows before
/// and after it make the file `ArrowWriter` would make of them. Encrypted
/// too, where the store cannot read a page header's uncompressed size (and
/// a compressible value's encrypted body is small).
#[test]
fn a_value_the_limit_cannot_hold_is_refused_before_it_is_encoded() {
    let batch = |values: Vec<String>| {
        RecordBatch::try_from_iter([("s", Arc::new(StringArray::from(values)) as ArrayRef)])
            .unwrap()
    };
    let short = batch(vec!["a".into(), "b".into()]);
    // Pages of 8 MiB: ~6 x 8 MiB while one is written, twice it kept.
    let long = batch(vec!["x".repeat(8 << 20); 2]);
    for (threads, encrypted) in [(1, false), (2, false), (1, true), (2, true)] {
        // Without statistics: their whole minimums and maximums would
        // refuse the batch first (`BatchTooLarge`), not the page.
        let mut props = WriterProperties::builder().set_statistics_enabled(EnabledStatistics::None);
        if encrypted {
            let key = b"0123456789012345".to_vec();
            props = props.with_file_encryption_properties(
                FileEncryptionProperties::builder(key).build().unwrap(),
            );
        }
        let plan = SpillOptions::new(48 << 20)
            .properties(props.build())
            .threads(threads)
            .plan(&short.schema())
            .unwrap();
        let monitor = plan.monitor();
        let what = format!("{threads} thread(s), encrypted: {encrypted}");
        let mut writer =
            ParallelWriter::try_new_with_plan(Vec::new(), short.schema(), plan).unwrap();
        writer.write(&short).unwrap();
        let err = writer.write(&long).unwrap_err();
        assert!(err.to_string().contains("needs a page of"), "{what}: {err}");
        let all = writer.write_all([Ok::<_, ParquetError>(long.clone())]);
        assert!(all.unwrap_err().to_string().contains("needs a page of"));
        // Refused before parquet had any of it: no page was put.
        assert_eq!(monitor.stats().pages, 0, "{what}");
        writer.write(&short).unwrap();
        if encrypted {
            assert_eq!(writer.close().unwrap().file_metadata().num_rows(), 4);
            continue;
        }
        let props = WriterProperties::builder()
            .set_statistics_enabled(EnabledStatistics::None)
            .build();
        let mut serial = ArrowWriter::try_new(Vec::new(), short.schema(), Some(props)).unwrap();
        serial.write(&short).unwrap();
        serial.write(&short).unwrap();
        assert!(
            writer.into_inner().unwrap() == serial.into_inner().unwrap(),
            "{what}: not ArrowWriter's file"
        );
    }
}

/// A refused batch changes nothing: the room it asked for is not kept (two
/// long columns, the second too long), and a value a fresh writer would
/// take is taken after it.
#[test]
fn a_refused_batch_leaves_later_batches_judged_as_before() {
    let column = |len: usize| Arc::new(StringArray::from(vec!["x".repeat(len)])) as ArrayRef;
    let batch = |a: usize, b: usize| {
        RecordBatch::try_from_iter([("a", column(a)), ("b", column(b))]).unwrap()
    };
    // Without statistics, whose whole minimums and maximums would refuse
    // the batch first: the long pages' room alone.
    let props = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::None)
        .build();
    let plan = || {
        SpillOptions::new(64 << 20)
            .properties(props.clone())
            .plan(&batch(1, 1).schema())
            .unwrap()
    };
    // What a fresh writer takes: 3 MiB in `a`.
    let fresh = plan().monitor();
    fresh.admit(&batch(3 << 20, 1)).unwrap();
    assert!(fresh.stats().long_page_room > 0);

    let monitor = plan().monitor();
    let refused = monitor.admit(&batch(2 << 20, 16 << 20)).unwrap_err();
    assert!(
        matches!(refused, Error::PageTooLong { column: 1, .. }),
        "{refused}"
    );
    assert_eq!(monitor.stats().long_page_room, 0, "nothing kept for `a`");
    monitor.admit(&batch(3 << 20, 1)).unwrap();
    assert_eq!(monitor.stats().long_page_room, fresh.stats().long_page_room);
}

/// Whichever call a store's failure surfaces from, and on one thread or
/// two, no later call finishes the file: a footer over the rows the failed
/// row group lost would look like a complete file.
#[test]
fn a_failed_writer_never_writes_a_footer() {
    let batch = RecordBatch::try_from_iter([(
        "x",
        Arc::new(Int32Array::from_iter_values(0..1000)) as ArrayRef,
    )])
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(1000))
        .set_data_page_size_limit(256)
        .set_write_batch_size(32)
        .set_dictionary_enabled(false)
        .build();
    for threads in [1, 2] {
        for nth in 1..60 {
            let spill = Arc::new(FileStoreFactory::new().unwrap());
            let faulty = Arc::new(FaultyStoreFactory::new(spill, Fault::FailPut(nth)));
            let options = ArrowWriterOptions::new()
                .with_properties(props.clone())
                .with_page_store_factory(faulty);
            let mut out = Vec::new();
            let mut writer =
                ParallelWriter::try_new_with_options(&mut out, batch.schema(), options)
                    .unwrap()
                    .with_threads(threads);
            let failed = (0..4).any(|_| writer.write(&batch).is_err());
            let closed = writer.close();
            assert!(
                failed || closed.is_err(),
                "{threads} thread(s), put {nth}: the fault never surfaced"
            );
            assert!(
                closed.is_err(),
                "{threads} thread(s), put {nth}: finished a file after a failure"
            );
            assert!(
                !out.ends_with(b"PAR1") || out.len() <= 4,
                "{threads} thread(s), put {nth}: a footer was written"
            );
        }
    }
}

/// An error of the input while the row group before it is spliced and
/// fails: `write_all` returns the writer's failure (the input's would hide
/// why that row group is not in the file), and the writer stays failed.
#[test]
fn write_all_returns_a_failed_splice_before_the_inputs_error() {
    let batches: Vec<_> = (0..2).map(|i| all_types_batch(700, i)).collect();
    let mut out = Vec::new();
    let mut writer = faulty_writer(Fault::FailTake(1), small_row_groups(), &batches, &mut out);
    let input = [
        Ok(batches[0].clone()),
        Err(ParquetError::General("the input broke".into())),
    ];
    let err = writer.write_all(input).unwrap_err();
    fails_for_good(&err, writer, &batches[1], 1);
    assert!(!out.ends_with(b"PAR1") || out.len() <= 4, "no footer");
}

/// Encrypted files differ on every write (random nonces), so they cannot be
/// compared byte for byte: check they decrypt back to the input instead.
#[test]
fn encrypted_output_decrypts_to_the_input() {
    let key = b"0123456789012345".to_vec();
    let batches = random_batches(&all_types_batch(1, 0).schema(), &[700, 700, 700], 5);
    let props = WriterProperties::builder()
        .set_data_page_size_limit(2048)
        .with_file_encryption_properties(
            FileEncryptionProperties::builder(key.clone())
                .build()
                .unwrap(),
        )
        .build();
    let spill = Arc::new(FileStoreFactory::new().unwrap());
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_page_store_factory(spill);
    let mut writer = ParallelWriter::try_new_with_options(Vec::new(), batches[0].schema(), options)
        .unwrap()
        .with_threads(3);
    for batch in &batches {
        writer.write(batch).unwrap();
    }
    let file = bytes::Bytes::from(writer.into_inner().unwrap());
    let decryption = FileDecryptionProperties::builder(key).build().unwrap();
    let options = ArrowReaderOptions::new().with_file_decryption_properties(decryption);
    let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(file.clone(), options)
        .unwrap()
        .with_batch_size(700)
        .build()
        .unwrap();
    let read: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
    assert_eq!(read.len(), batches.len());
    for (read, written) in read.iter().zip(&batches) {
        assert_eq!(read.columns(), written.columns());
    }
    assert!(
        ParquetRecordBatchReaderBuilder::try_new(file).is_err(),
        "the file is encrypted"
    );
}

/// The accessors agree with `ArrowWriter`'s over the same writes.
#[test]
fn the_arrow_writer_surface_reports_the_same() {
    let ids = Int64Array::from_iter_values(0..5000);
    let names = StringArray::from_iter_values((0..5000).map(|i| format!("name-{}", i % 97)));
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(ids) as ArrayRef),
        ("name", Arc::new(names) as ArrayRef),
    ])
    .unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(3000))
        .build();
    let mut serial = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props.clone())).unwrap();
    let mut parallel = ParallelWriter::try_new(Vec::new(), batch.schema(), Some(props))
        .unwrap()
        .with_threads(2);
    for _ in 0..3 {
        serial.write(&batch).unwrap();
        parallel.write(&batch).unwrap();
        assert_eq!(parallel.in_progress_rows(), serial.in_progress_rows());
        assert_eq!(
            parallel.in_progress_size().unwrap(),
            serial.in_progress_size()
        );
        assert_eq!(parallel.memory_size(), serial.memory_size());
        assert_eq!(parallel.bytes_written(), serial.bytes_written());
        assert_eq!(
            parallel.flushed_row_groups().len(),
            serial.flushed_row_groups().len()
        );
    }
    assert_eq!(parallel.into_inner().unwrap(), serial.into_inner().unwrap());
}

/// A plan made for two threads gives a writer on two threads within it.
#[test]
fn a_plan_for_two_threads_writes_the_same_file() {
    let batches = random_batches(&all_types_batch(1, 0).schema(), &[1000; 4], 11);
    let schema = batches[0].schema();
    let plan = SpillOptions::new(64 << 20)
        .threads(2)
        .plan(&schema)
        .unwrap();
    let props = plan.properties().clone();
    let monitor = plan.monitor();
    let mut writer = ParallelWriter::try_new_with_plan(Vec::new(), schema.clone(), plan).unwrap();
    assert_eq!(writer.threads(), 2);
    for batch in &batches {
        writer.write(batch).unwrap();
    }
    let parallel = writer.into_inner().unwrap();
    let mut serial = ArrowWriter::try_new(Vec::new(), schema, Some(props)).unwrap();
    for batch in &batches {
        serial.write(batch).unwrap();
    }
    assert_eq!(parallel, serial.into_inner().unwrap());
    let stats = monitor.stats();
    assert!(stats.budget.peak <= 64 << 20, "{stats}");
}

/// Rows per row group in the `write_all` tests: each batch of 800 rows
/// fills a row group and starts the next.
fn small_row_groups() -> WriterProperties {
    small_pages()
        .into_builder()
        .set_max_row_group_row_count(Some(700))
        .build()
}

#[test]
fn write_all_after_an_input_error_keeps_every_row_group_before_it() {
    let batches: Vec<_> = (0..5).map(|i| all_types_batch(800, i)).collect();
    for threads in [1, 2] {
        let spill = Arc::new(FileStoreFactory::new().unwrap());
        let options = ArrowWriterOptions::new()
            .with_properties(small_row_groups())
            .with_page_store_factory(spill);
        let mut writer =
            ParallelWriter::try_new_with_options(Vec::new(), batches[0].schema(), options)
                .unwrap()
                .with_threads(threads);
        // Three batches, then the input fails.
        let input = batches[..3]
            .iter()
            .cloned()
            .map(Ok)
            .chain([Err(ParquetError::General("the input broke".into()))])
            .chain(batches[3..].iter().cloned().map(Ok));
        let err = writer.write_all(input).unwrap_err();
        assert!(err.to_string().contains("the input broke"), "{err}");
        // Nothing is lost: the writer goes on, and the file holds the
        // three batches, as ArrowWriter's would.
        let file = writer.into_inner().unwrap();
        let mut serial =
            ArrowWriter::try_new(Vec::new(), batches[0].schema(), Some(small_row_groups()))
                .unwrap();
        for batch in &batches[..3] {
            serial.write(batch).unwrap();
        }
        assert!(
            file == serial.into_inner().unwrap(),
            "{threads} threads: not ArrowWriter's file"
        );
        let rows: usize = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(file))
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        assert_eq!(rows, 2400);
    }
}

#[test]
fn write_all_fails_on_a_store_error_while_splicing_in_the_background() {
    let batches: Vec<_> = (0..6).map(|i| all_types_batch(800, i)).collect();
    for nth in [1, 40, 400] {
        let mut out = Vec::new();
        let mut writer =
            faulty_writer(Fault::FailTake(nth), small_row_groups(), &batches, &mut out);
        let started = Instant::now();
        let err = writer
            .write_all(batches.iter().cloned().map(Ok::<_, ParquetError>))
            .expect_err("the failed take fails write_all");
        assert!(started.elapsed() < Duration::from_secs(60), "no hang");
        fails_for_good(&err, writer, &batches[0], nth);
        assert!(
            !out.ends_with(b"PAR1") || out.len() <= 4,
            "take {nth}: no footer"
        );
    }
}

/// Which row group each put and take was for, in the order they happened
/// (stores are created a row group at a time, `leaves` per row group).
#[derive(Debug)]
struct Recording {
    inner: Arc<dyn PageStoreFactory>,
    leaves: usize,
    created: AtomicUsize,
    log: Arc<Log>,
}

/// The log, and a gate: a take of row group 0 waits (up to `Gate::each`,
/// and never past `Gate::until`) for a page of row group 1 to be put since
/// the first such take, so overlap shows however the threads are scheduled.
#[derive(Debug, Default)]
struct Log {
    ops: Mutex<Vec<(Op, usize)>>,
    changed: Condvar,
    gate: Option<Gate>,
}

#[derive(Debug)]
struct Gate {
    each: Duration,
    until: Instant,
}

impl Log {
    fn push(&self, op: (Op, usize)) {
        self.ops.lock().unwrap().push(op);
        self.changed.notify_all();
    }

    /// A take of row group 0: logged, then held at the gate.
    fn take_of_first(&self) {
        let mut ops = self.ops.lock().unwrap();
        ops.push((Op::Take, 0));
        let Some(gate) = &self.gate else { return };
        let until = gate.until.min(Instant::now() + gate.each);
        while puts_during_the_splice(&ops) == 0 {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return;
            };
            ops = self.changed.wait_timeout(ops, left).unwrap().0;
        }
    }
}

/// Puts of row group 1 from the first take of row group 0 to its last.
fn puts_during_the_splice(ops: &[(Op, usize)]) -> usize {
    let mut takes = ops
        .iter()
        .enumerate()
        .filter(|(_, e)| **e == (Op::Take, 0))
        .map(|(at, _)| at);
    let Some(first) = takes.next() else { return 0 };
    let last = takes.next_back().unwrap_or(first);
    ops[first..last]
        .iter()
        .filter(|e| **e == (Op::Put, 1))
        .count()
}

struct RecordingStore {
    inner: Box<dyn PageStore>,
    row_group: usize,
    log: Arc<Log>,
}

impl PageStoreFactory for Recording {
    fn create(&self, args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        let store = self.created.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(RecordingStore {
            inner: self.inner.create(args)?,
            row_group: store / self.leaves,
            log: Arc::clone(&self.log),
        }))
    }
}

impl PageStore for RecordingStore {
    fn put(&mut self, value: bytes::Bytes) -> parquet::errors::Result<PageKey> {
        self.log.push((Op::Put, self.row_group));
        self.inner.put(value)
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<bytes::Bytes> {
        match self.row_group {
            0 => self.log.take_of_first(),
            row_group => self.log.push((Op::Take, row_group)),
        }
        self.inner.take(key)
    }

    fn memory_size(&self) -> usize {
        self.inner.memory_size()
    }
}

/// Pages of row group 1 put while row group 0 was being spliced (between
/// its first and its last take), writing four row groups on two threads.
/// Takes of row group 0 are gated (each waits up to 200 ms for row group 1
/// to put a page, 30 s in all; 2 s in all for `write`, which must show no
/// overlap): overlap, if the writer allows it, then shows however a loaded
/// machine schedules the threads.
fn puts_during_the_first_splice(all: bool) -> usize {
    let batches: Vec<_> = (0..6).map(|i| all_types_batch(800, i)).collect();
    let leaves = parquet::arrow::ArrowSchemaConverter::new()
        .convert(&batches[0].schema())
        .unwrap()
        .num_columns();
    let recording = Arc::new(Recording {
        inner: Arc::new(MemoryStoreFactory::new()),
        leaves,
        created: AtomicUsize::new(0),
        log: Arc::new(Log {
            gate: Some(Gate {
                each: Duration::from_millis(200),
                until: Instant::now() + Duration::from_secs(if all { 30 } else { 2 }),
            }),
            ..Log::default()
        }),
    });
    let options = ArrowWriterOptions::new()
        .with_properties(small_row_groups())
        .with_page_store_factory(Arc::clone(&recording) as Arc<dyn PageStoreFactory>);
    let mut writer = ParallelWriter::try_new_with_options(Vec::new(), batches[0].schema(), options)
        .unwrap()
        .with_threads(2);
    if all {
        writer
            .write_all(batches.iter().cloned().map(Ok::<_, ParquetError>))
            .unwrap();
    } else {
        for batch in &batches {
            writer.write(batch).unwrap();
        }
    }
    assert!(writer.close().unwrap().num_row_groups() >= 4);
    let ops = recording.log.ops.lock().unwrap();
    puts_during_the_splice(&ops)
}

#[test]
fn write_all_encodes_the_next_row_group_while_splicing_and_write_does_not() {
    assert_eq!(
        puts_during_the_first_splice(false),
        0,
        "write waits for the splice"
    );
    let overlapped = puts_during_the_first_splice(true);
    assert!(
        overlapped > 0,
        "write_all put no page of the next row group during the splice"
    );
}

/// Batches too large to encode whole within the limit, written in parts,
/// with row groups split by rows and by bytes: `write`, `write_all` (on one
/// and two threads) and `ArrowWriter` with `SpillMonitor::write` (parts
/// admitted, and the pieces before a row group ends inside a part again)
/// write the same bytes, every row in order.
#[test]
fn batches_written_in_parts_split_row_groups_as_arrow_writer() {
    use arrow_array::Decimal128Array;
    use parquet::arrow::ArrowWriter;

    let decimals = |from: i64, rows: i64| {
        let values = Decimal128Array::from_iter_values((from..from + rows).map(i128::from))
            .with_precision_and_scale(38, 2)
            .unwrap();
        RecordBatch::try_from_iter([("d", Arc::new(values) as ArrayRef)]).unwrap()
    };
    let batches = [
        decimals(0, 700_000),
        decimals(700_000, 1_000_003),
        decimals(1_700_003, 123_457),
    ];
    let schema = batches[0].schema();
    let read = |file: Vec<u8>| -> Vec<i128> {
        let batches = parquet_spill::testkit::read_parquet(file).unwrap();
        let decimals = batches.iter().map(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .unwrap()
        });
        decimals.flat_map(|d| d.values().to_vec()).collect()
    };
    for props in [
        WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(300_001))
            .build(),
        WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_max_row_group_bytes(Some(3 << 20))
            .build(),
    ] {
        for threads in [1, 2] {
            let plan = || {
                SpillOptions::new(80 << 20)
                    .properties(props.clone())
                    .threads(threads)
                    .plan(&schema)
                    .unwrap()
            };
            let plan_ = plan();
            let monitor = plan_.monitor();
            let mut serial = ArrowWriter::try_new_with_options(
                Vec::new(),
                schema.clone(),
                plan_.into_writer_options(),
            )
            .unwrap();
            for batch in &batches {
                monitor.write(&mut serial, batch).unwrap();
            }
            assert!(monitor.stats().batches_in_parts >= 1, "nothing was split");
            let serial = serial.into_inner().unwrap();

            let mut all =
                ParallelWriter::try_new_with_plan(Vec::new(), schema.clone(), plan()).unwrap();
            all.write_all(batches.iter().cloned().map(Ok::<_, ParquetError>))
                .unwrap();
            let all = all.into_inner().unwrap();
            let mut each =
                ParallelWriter::try_new_with_plan(Vec::new(), schema.clone(), plan()).unwrap();
            for batch in &batches {
                each.write(batch).unwrap();
            }
            let each = each.into_inner().unwrap();

            assert!(
                read(serial.clone()).into_iter().eq(0..1_823_460),
                "rows out of order"
            );
            assert!(
                all == serial,
                "write_all on {threads} threads wrote other bytes"
            );
            assert!(
                each == serial,
                "write on {threads} threads wrote other bytes"
            );
        }
    }
}
