//! FileStoreFactory's promises, checked on real files: one descriptor however
//! wide the schema, disk space reused across row groups, checksums that turn
//! an altered spilled byte into an error, an unlinked owner-only spill file.

use std::os::unix::fs::{FileExt, PermissionsExt};
use std::process::Command;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet_spill::workloads::Workload;
use parquet_spill::{Error, FileStoreFactory};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn options(factory: &Arc<FileStoreFactory>, props: WriterProperties) -> ArrowWriterOptions {
    ArrowWriterOptions::new()
        .with_properties(props)
        .with_page_store_factory(factory.clone())
}

/// Env var that turns `thousand_columns_child` into the real measurement.
const CHILD: &str = "PARQUET_SPILL_FD_CHILD";

/// Writes 1,000 columns under a soft limit of 256 open files, in a child
/// process started through `sh -c 'ulimit -Sn 256; exec …'`.
#[test]
fn thousand_columns_under_a_256_descriptor_limit() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("ulimit -Sn 256 && exec \"$0\" thousand_columns_child --exact --nocapture --test-threads 1")
        .arg(exe)
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("FD-CHECK limit=256 "),
        "the child did not run the check:\n{stdout}\n{stderr}"
    );
}

#[test]
fn thousand_columns_child() {
    if std::env::var_os(CHILD).is_none() {
        return; // only meaningful when started by the test above
    }
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert_eq!(soft, 256, "the soft limit was not applied");

    let w = Workload::WideMixed {
        columns: 1000,
        rows: 2000,
    };
    let baseline = open_fds();
    let factory = Arc::new(FileStoreFactory::new().unwrap());
    let mut writer = ArrowWriter::try_new_with_options(
        std::io::sink(),
        w.schema(),
        options(&factory, WriterProperties::default()),
    )
    .unwrap();
    let mut max_fds = open_fds();
    for batch in w.batches(500) {
        writer.write(&batch).unwrap();
        max_fds = max_fds.max(open_fds());
    }
    writer.close().unwrap();
    assert!(factory.stats().bytes_spilled > 0, "nothing was spilled");
    let extra = max_fds - baseline;
    println!("FD-CHECK limit={soft} baseline={baseline} max={max_fds} extra={extra}");
    assert!(
        extra <= 3,
        "descriptors grew by {extra} during a 1,000-column write"
    );
}

/// Five or more row groups: the spill file stays about one row group long.
#[test]
fn spill_file_stays_about_one_row_group_across_many() {
    let w = Workload::skewed_bytes(24 << 20);
    let rows_per_group = w.rows() / 6;
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(rows_per_group))
        .build();
    let factory = Arc::new(FileStoreFactory::new().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.parquet");
    let file = std::fs::File::create(&path).unwrap();
    let mut writer =
        ArrowWriter::try_new_with_options(file, w.schema(), options(&factory, props)).unwrap();
    for batch in w.batches(w.default_batch_rows()) {
        writer.write(&batch).unwrap();
    }
    writer.close().unwrap();

    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let groups = reader.metadata().row_groups();
    assert!(groups.len() >= 5, "only {} row groups", groups.len());
    let largest = groups
        .iter()
        .map(|g| g.compressed_size() as u64)
        .max()
        .unwrap();
    let total: u64 = groups.iter().map(|g| g.compressed_size() as u64).sum();
    let stats = factory.stats();
    println!(
        "row groups={} largest={largest} total={total} spilled={} peak spill file={}",
        groups.len(),
        stats.bytes_spilled,
        stats.peak_file_len
    );
    assert!(
        stats.bytes_spilled as f64 > 0.9 * total as f64,
        "most pages should spill"
    );
    assert!(
        stats.peak_file_len as f64 <= 1.2 * largest as f64,
        "spill file peaked at {} bytes, largest row group is {largest}",
        stats.peak_file_len
    );
    assert_eq!((stats.file_len, stats.file_bytes_live), (0, 0));
}

fn fat_batch(rows: usize, seed: usize) -> RecordBatch {
    let ids = Arc::new(Int64Array::from_iter_values(0..rows as i64)) as ArrayRef;
    let text =
        Arc::new(StringArray::from_iter_values((0..rows).map(|i| {
            format!("{seed}-{i}-{}", "payload".repeat(40 + i % 13))
        }))) as ArrayRef;
    RecordBatch::try_from_iter([("id", ids), ("text", text)]).unwrap()
}

/// An altered spilled byte makes the writer fail with a checksum error
/// naming the offset, instead of producing a file.
#[test]
fn an_altered_spilled_byte_is_an_error_not_a_file() {
    for victim in [0u64, 4097, 100_000] {
        let factory = Arc::new(FileStoreFactory::new().unwrap().with_inline_threshold(0));
        let props = WriterProperties::builder()
            .set_data_page_size_limit(8 * 1024)
            .build();
        let mut out = Vec::new();
        let batch = fat_batch(5000, 1);
        let mut writer =
            ArrowWriter::try_new_with_options(&mut out, batch.schema(), options(&factory, props))
                .unwrap();
        writer.write(&batch).unwrap();
        let spill = factory.spill_file().raw_file();
        assert!(
            spill.metadata().unwrap().len() > victim,
            "spill file too short to alter"
        );
        let mut byte = [0u8];
        spill.read_exact_at(&mut byte, victim).unwrap();
        spill.write_all_at(&[byte[0] ^ 0x20], victim).unwrap();

        let err = writer
            .close()
            .expect_err("a corrupted spill must not produce a file");
        let msg = err.to_string();
        assert!(msg.contains("checksum mismatch"), "{msg}");
        assert!(msg.contains("offset"), "{msg}");
    }
}

/// The spill file is never visible in the spill directory and is owner-only.
#[test]
fn spill_file_is_unlinked_and_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let factory = Arc::new(FileStoreFactory::in_dir(dir.path()).unwrap());
    let batch = fat_batch(2000, 2);
    let mut writer = ArrowWriter::try_new_with_options(
        Vec::new(),
        batch.schema(),
        options(
            &factory,
            WriterProperties::builder()
                .set_dictionary_enabled(false)
                .set_data_page_size_limit(8 * 1024)
                .build(),
        ),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    assert!(factory.stats().file_bytes_live > 0);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "spill file is visible"
    );
    let mode = factory
        .spill_file()
        .raw_file()
        .metadata()
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "spill file mode {mode:o}");
    writer.close().unwrap();
}

#[test]
fn unusable_spill_directories_are_reported_up_front() {
    let missing = FileStoreFactory::in_dir("/nonexistent/spill").unwrap_err();
    assert!(matches!(missing, Error::SpillDir { .. }), "{missing}");
    // /proc refuses new files even to root.
    let unwritable = FileStoreFactory::in_dir("/proc").unwrap_err();
    assert!(
        matches!(unwritable, Error::CreateSpillFile { .. }),
        "{unwritable}"
    );
    assert!(unwritable.to_string().contains("/proc"));
}

/// Writers on several threads sharing one factory (one spill file) each
/// produce files identical to the default store's.
#[test]
fn one_factory_shared_by_writers_on_many_threads() {
    let factory = Arc::new(FileStoreFactory::new().unwrap());
    std::thread::scope(|s| {
        for t in 0..4 {
            let factory = Arc::clone(&factory);
            s.spawn(move || {
                let batches: Vec<_> = (0..3).map(|i| fat_batch(3000, t * 10 + i)).collect();
                let props = WriterProperties::builder()
                    .set_max_row_group_row_count(Some(4000))
                    .build();
                let expected =
                    parquet_spill::testkit::write_parquet(&batches, props.clone(), None).unwrap();
                let actual =
                    parquet_spill::testkit::write_parquet(&batches, props, Some(factory)).unwrap();
                assert_eq!(expected, actual, "writer {t}");
            });
        }
    });
    let stats = factory.stats();
    assert!(stats.bytes_spilled > 0);
    assert_eq!(
        (stats.file_len, stats.file_bytes_live, stats.heap_bytes),
        (0, 0, 0)
    );
}
