//! Short and altered bytes. A store's `take` that comes back short is caught
//! by parquet's splice; altered bytes of the right length from a custom store
//! reach the file unnoticed, which is why our file store checksums what it
//! spills: a bit flipped in the spill file is a checksum error, and a spill
//! file cut short is a read error.

use std::sync::Arc;

use parquet::arrow::arrow_writer::{
    compute_leaves, ArrowRowGroupWriterFactory, ArrowWriter, ArrowWriterOptions,
};
use parquet::arrow::ArrowSchemaConverter;
use parquet::file::writer::SerializedFileWriter;
use parquet_spill::testkit::{Fault, FaultyStoreFactory, Op};
use parquet_spill::workloads::{SplitMix64, Workload};
use parquet_spill::{Error, FileStoreFactory};

use crate::harness::{
    assert_no_partial_row_group, batches, count, no_panic, props, read_back, reference, run,
    same_data, spill_error, workload, Kind, Policy, Spill, Stage,
};

/// A store whose `take` comes back one byte short: parquet's splice checks
/// each column chunk's length, so the flush fails and nothing is reported.
#[test]
fn a_short_take_is_caught_by_the_splice() {
    let total = count(Kind::File, Op::Take);
    for n in 1..=total {
        let fault = Fault::ShortTake(n);
        let what = format!("{fault:?}");
        let spill = Spill::new(Kind::File);
        let faulty = Arc::new(FaultyStoreFactory::new(spill.factory.clone(), fault));
        let outcome = no_panic(&what, || run(Some(faulty.clone()), Policy::Stop));
        if faulty.counts().injected == 0 {
            // An empty blob cannot come back shorter.
            assert_eq!(outcome.output, reference().output, "{what}");
            continue;
        }
        let failure = outcome
            .first()
            .unwrap_or_else(|| panic!("{what}: no error"));
        let msg = failure.err.to_string();
        assert!(
            msg.contains("Failed to splice column data"),
            "{what}: {msg}"
        );
        assert!(matches!(failure.stage, Stage::Flush(_) | Stage::Close));
        assert_no_partial_row_group(&what, failure, &outcome.output);
        assert!(outcome.closed_again.as_ref().unwrap().is_err(), "{what}");
        drop(faulty);
        spill.assert_released(&what);
    }
}

/// A *custom* store that returns altered bytes of the right length cannot be
/// caught by the writer: parquet writes page bytes as given (it writes no
/// page checksums), so `close` succeeds and the file differs. Some of those
/// files fail to read, others read back different data without any error.
/// This is why our stores checksum what they spill (next test).
#[test]
fn altered_bytes_from_a_custom_store_reach_the_file() {
    let total = count(Kind::File, Op::Take);
    let (mut unreadable, mut silently_different) = (0, 0);
    for n in 1..=total {
        let fault = Fault::AlterTake(n);
        let what = format!("{fault:?}");
        let spill = Spill::new(Kind::File);
        let faulty = Arc::new(FaultyStoreFactory::new(spill.factory.clone(), fault));
        let outcome = no_panic(&what, || run(Some(faulty.clone()), Policy::Stop));
        if faulty.counts().injected == 0 {
            assert_eq!(outcome.output, reference().output, "{what}");
            continue;
        }
        assert!(outcome.first().is_none(), "{what}: the writer noticed");
        assert!(outcome.metadata.is_some(), "{what}");
        assert_ne!(outcome.output, reference().output, "{what}");
        match no_panic(&what, || read_back(&outcome.output)) {
            Err(_) => unreadable += 1,
            Ok(got) if !same_data(&got, batches()) => silently_different += 1,
            Ok(_) => panic!("{what}: an altered byte read back as the original data"),
        }
        drop(faulty);
        spill.assert_released(&what);
    }
    println!(
        "altered takes: {total}; file unreadable: {unreadable}; read back different data \
         without an error: {silently_different}"
    );
    assert_eq!(unreadable + silently_different, total as usize);
    assert!(
        silently_different > 0,
        "parquet now detects every altered page (page checksums?): update RELIABILITY.md"
    );
}

/// Our file store: a bit flipped anywhere in the spill file while the writer
/// holds spilled pages is a checksum error naming the blob, never a file.
/// 50 deterministic offsets, each in a writer of its own; half the writers
/// spill page headers too (inline threshold 0).
#[test]
fn altered_bytes_on_disk_are_a_checksum_error() {
    let w = Workload::WideMixed {
        columns: 4,
        rows: 1500,
    };
    let batch = w.batches(1500).next().unwrap();
    let mut rng = SplitMix64::new(0x5EED_F11E);
    let mut offsets = Vec::new();
    for sample in 0..50 {
        let dir = tempfile::tempdir().unwrap();
        let mut files = FileStoreFactory::in_dir(dir.path()).unwrap();
        if sample % 2 == 1 {
            files = files.with_inline_threshold(0);
        }
        let files = Arc::new(files);
        let options = ArrowWriterOptions::new()
            .with_properties(props())
            .with_page_store_factory(files.clone());
        let mut writer =
            ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options).unwrap();
        writer.write(&batch).unwrap();

        let stats = files.stats();
        // Before the splice no blob has been taken: the file has no gaps, so
        // every byte of it belongs to a live spilled blob.
        assert_eq!(stats.file_len, stats.file_bytes_live);
        let spill = files.spill_file().raw_file();
        assert_eq!(spill.metadata().unwrap().len(), stats.file_len);
        let victim = rng.below(stats.file_len);
        let bit = 1u8 << rng.below(8);
        flip(spill, victim, bit);
        offsets.push(victim);

        let what = format!("sample {sample}: bit {bit:#04x} at offset {victim}");
        let err = no_panic(&what, || writer.finish())
            .err()
            .unwrap_or_else(|| panic!("{what}: the writer produced a file"));
        let Some(Error::Checksum { offset, len, .. }) = spill_error(&err) else {
            panic!("{what}: not a checksum error: {err}");
        };
        assert!(
            (*offset..*offset + *len as u64).contains(&victim),
            "{what}: the error names the blob at {offset}+{len}"
        );
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        drop(writer);
        let stats = files.stats();
        assert_eq!((stats.file_bytes_live, stats.file_len), (0, 0), "{what}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
    offsets.sort_unstable();
    println!("altered offsets: {offsets:?}");
}

/// A spill file cut short under the writer is a read error naming the offset.
/// Truncated after the column writers closed (the parallel path's
/// `ArrowColumnWriter::close`) and before the splice, so no later spill can
/// extend the file again (that would turn the cut into a hole of zeros: a
/// checksum error instead).
#[test]
fn a_truncated_spill_file_is_a_read_error() {
    let spill = Spill::new(Kind::File);
    let schema = workload().schema();
    let batch = &batches()[0];
    let parquet_schema = ArrowSchemaConverter::new().convert(&schema).unwrap();
    let mut file_writer = SerializedFileWriter::new(
        Vec::new(),
        parquet_schema.root_schema_ptr(),
        Arc::new(props()),
    )
    .unwrap();
    let factory = ArrowRowGroupWriterFactory::new(&file_writer, Arc::clone(&schema))
        .with_page_store_factory(spill.factory.clone());
    let mut chunks = Vec::new();
    let leaves = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .flat_map(|(field, column)| compute_leaves(field, column).unwrap());
    for (mut writer, leaf) in factory
        .create_column_writers(0)
        .unwrap()
        .into_iter()
        .zip(leaves)
    {
        writer.write(&leaf).unwrap();
        chunks.push(writer.close().unwrap());
    }
    let file = spill.files.spill_file().raw_file();
    let len = file.metadata().unwrap().len();
    assert_eq!(len, spill.files.stats().file_len);
    file.set_len(len / 2).unwrap();

    let mut row_group = file_writer.next_row_group().unwrap();
    let err = no_panic("truncated", || {
        chunks
            .into_iter()
            .try_for_each(|chunk| chunk.append_to_row_group(&mut row_group))
    })
    .unwrap_err();
    let Some(Error::Read {
        offset,
        len: blob,
        source,
        ..
    }) = spill_error(&err)
    else {
        panic!("not a read error: {err}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    assert!(offset + *blob as u64 > len / 2, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "reading {blob} bytes from the spill file at offset {offset}"
        )),
        "{msg}"
    );
    drop(row_group);
    drop(file_writer);
    spill.assert_released("truncated spill file");
}

fn flip(file: &std::fs::File, offset: u64, bit: u8) {
    use std::os::unix::fs::FileExt;
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ bit], offset).unwrap();
}
