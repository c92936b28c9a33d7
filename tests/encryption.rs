//! Confidentiality of spilled pages under Parquet modular encryption.
//!
//! Why: a spill store writes a row group's pages to disk while the writer is
//! still running. A user who turned on Parquet encryption expects nothing
//! readable to reach the disk — including the spill file, which is unlinked
//! but, while the writer runs, readable through its descriptor
//! (`/proc/<pid>/fd`) with the owner's rights, and whose blocks stay on the
//! device afterwards. parquet encrypts each page (header and body) before
//! handing it to the [`PageStore`], so the stores only ever see ciphertext;
//! these tests prove that end to end by scanning the raw spill file for
//! plaintext markers while it holds the pages.
//!
//! The scan is proven able to find them by a control run without encryption,
//! which must show the markers. Also checked: the spill file is owner-only,
//! unlinked and inside the chosen directory, and the encrypted output decrypts
//! back to the input. (Encrypted files cannot be compared byte for byte with
//! the default store's: every file gets a random AAD and random nonces.)
//!
//! [`PageStore`]: parquet_spill::PageStore

use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::basic::Compression;
use parquet::encryption::decrypt::FileDecryptionProperties;
use parquet::encryption::encrypt::FileEncryptionProperties;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet_spill::spill_file::SpillFile;
use parquet_spill::{FileStoreFactory, MemoryBudget, PageStoreFactory, TieredStoreFactory};

const FOOTER_KEY: &[u8; 16] = b"0123456789012345";
const ROWS: usize = 20_000;
/// Distinct plaintext strings, each repeated many times in the `secret` column.
const MARKERS: [&str; 6] = [
    "PLAINTEXT-MARKER-alpha-7f3e9c",
    "PLAINTEXT-MARKER-bravo-0d41aa",
    "PLAINTEXT-MARKER-charlie-b2c8e1",
    "PLAINTEXT-MARKER-delta-5a9f06",
    "PLAINTEXT-MARKER-echo-e7713b",
    "PLAINTEXT-MARKER-foxtrot-38d2c4",
];

fn batch() -> RecordBatch {
    let secret = StringArray::from_iter_values((0..ROWS).map(|i| MARKERS[i % MARKERS.len()]));
    let ids = Int64Array::from_iter_values(0..ROWS as i64);
    RecordBatch::try_from_iter([
        ("secret", Arc::new(secret) as ArrayRef),
        ("id", Arc::new(ids) as ArrayRef),
    ])
    .unwrap()
}

/// Small, uncompressed, non-dictionary pages, so many data pages are finished
/// (and spilled) during `write` and any plaintext would be visible verbatim.
/// Page header statistics put min/max strings in every header as well.
fn props(encrypted: bool) -> WriterProperties {
    let builder = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_data_page_size_limit(4 * 1024)
        .set_write_batch_size(256)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_write_page_header_statistics(true);
    if encrypted {
        let encryption = FileEncryptionProperties::builder(FOOTER_KEY.to_vec())
            .build()
            .unwrap();
        builder.with_file_encryption_properties(encryption).build()
    } else {
        builder.build()
    }
}

/// The two spilling configurations under test.
#[derive(Debug, Clone, Copy)]
enum Store {
    /// `FileStoreFactory::in_dir`: bodies spill, tiny headers stay inline.
    File,
    /// `TieredStoreFactory` with a zero budget: every blob, headers too, spills.
    TieredZeroBudget,
}

impl Store {
    fn factory(self, dir: &Path) -> (Arc<dyn PageStoreFactory>, FileStoreFactory) {
        let files = FileStoreFactory::in_dir(dir).unwrap();
        match self {
            Store::File => (Arc::new(files.clone()), files),
            Store::TieredZeroBudget => {
                // The tiered store keeps nothing; the file store inlines nothing.
                let files = files.with_inline_threshold(0);
                let tiered = TieredStoreFactory::new(MemoryBudget::new(0), files);
                let files = tiered.inner().as_ref().clone();
                (Arc::new(tiered), files)
            }
        }
    }
}

/// What the spill file held while the writer was open, and the finished file.
struct Written {
    spill_bytes: Vec<u8>,
    output: Vec<u8>,
}

/// Write [`batch`] with `store`, and while every page of the (single) row group
/// is still buffered, copy the whole spill file and check where and how it lives.
fn write(store: Store, encrypted: bool) -> Written {
    let dir = tempfile::tempdir().unwrap();
    let (factory, files) = store.factory(dir.path());
    assert_eq!(files.spill_dir(), dir.path());
    let batch = batch();
    let options = ArrowWriterOptions::new()
        .with_properties(props(encrypted))
        .with_page_store_factory(factory);
    let mut writer =
        ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options).unwrap();
    writer.write(&batch).unwrap();

    let spill = files.spill_file();
    let stats = files.stats();
    let plaintext: usize = MARKERS.iter().map(|m| m.len()).sum::<usize>() * ROWS / MARKERS.len();
    assert!(
        stats.file_bytes_live as usize > plaintext / 2,
        "{store:?}: only {} bytes spilled before close, expected most of the {plaintext} bytes of strings",
        stats.file_bytes_live
    );
    if let Store::TieredZeroBudget = store {
        assert_eq!(stats.heap_bytes, 0, "page headers stayed on the heap");
    }
    assert_private_and_unlinked(spill, dir.path());
    let spill_bytes = read_all(spill);
    assert_eq!(spill_bytes.len() as u64, stats.file_len);

    let output = writer.into_inner().unwrap();
    assert_eq!(
        files.stats().file_bytes_live,
        0,
        "{store:?}: pages left behind"
    );
    Written {
        spill_bytes,
        output,
    }
}

fn read_all(spill: &SpillFile) -> Vec<u8> {
    let file = spill.raw_file();
    let len = file.metadata().unwrap().len();
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0).unwrap();
    buf
}

/// Owner-only, not listed in the directory, and reachable only through our
/// descriptor, whose `/proc/self/fd` link names the directory and "(deleted)".
fn assert_private_and_unlinked(spill: &SpillFile, dir: &Path) {
    let meta = spill.raw_file().metadata().unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "spill file mode {:o}",
        meta.permissions().mode()
    );
    assert_eq!(meta.nlink(), 0, "the spill file has a name");
    assert_eq!(
        std::fs::read_dir(dir).unwrap().count(),
        0,
        "something is listed in the spill directory"
    );
    let link = fd_link_of(meta.dev(), meta.ino());
    let link = link.to_string_lossy();
    let dir = std::fs::canonicalize(dir).unwrap();
    let dir = dir.to_string_lossy();
    assert!(
        link.starts_with(&format!("{dir}/")),
        "spill file {link} is not in {dir}"
    );
    assert!(
        link.ends_with(" (deleted)"),
        "spill file {link} is not unlinked"
    );
}

/// The `/proc/self/fd` link target of the open file with this device and inode.
fn fd_link_of(dev: u64, ino: u64) -> PathBuf {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let path = entry.unwrap().path();
        // `metadata` follows the link to the open file, even an unlinked one;
        // descriptors closed since the listing are skipped.
        if let Ok(meta) = std::fs::metadata(&path) {
            if meta.dev() == dev && meta.ino() == ino {
                found.push(std::fs::read_link(&path).unwrap());
            }
        }
    }
    assert_eq!(found.len(), 1, "descriptors for the spill file: {found:?}");
    found.pop().unwrap()
}

fn markers_in(bytes: &[u8]) -> Vec<&'static str> {
    MARKERS
        .iter()
        .copied()
        .filter(|m| bytes.windows(m.len()).any(|w| w == m.as_bytes()))
        .collect()
}

/// Read `file` with the key, as one batch per row group.
fn decrypt(file: Vec<u8>) -> Vec<RecordBatch> {
    let keys = FileDecryptionProperties::builder(FOOTER_KEY.to_vec())
        .build()
        .unwrap();
    let options = ArrowReaderOptions::new().with_file_decryption_properties(keys);
    ParquetRecordBatchReaderBuilder::try_new_with_options(bytes::Bytes::from(file), options)
        .unwrap()
        .with_batch_size(ROWS)
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn assert_confidential(store: Store) {
    let Written {
        spill_bytes,
        output,
    } = write(store, true);
    assert_eq!(
        markers_in(&spill_bytes),
        Vec::<&str>::new(),
        "{store:?}: plaintext in the spill file of an encrypted write"
    );
    assert_eq!(
        markers_in(&output),
        Vec::<&str>::new(),
        "{store:?}: plaintext in the encrypted output"
    );

    // Without the key the file does not open; with it, it reads back equal.
    let no_key = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(output.clone()));
    assert!(
        no_key.is_err(),
        "{store:?}: encrypted output opened without a key"
    );
    assert_eq!(
        decrypt(output),
        vec![batch()],
        "{store:?}: decrypted output differs from the input"
    );
}

fn assert_control_shows_markers(store: Store) {
    let Written {
        spill_bytes,
        output,
    } = write(store, false);
    assert_eq!(
        markers_in(&spill_bytes),
        MARKERS.to_vec(),
        "{store:?}: the scan does not find plaintext in an unencrypted spill file"
    );
    assert_eq!(markers_in(&output), MARKERS.to_vec());
}

#[test]
fn file_store_spills_only_ciphertext() {
    assert_confidential(Store::File);
}

#[test]
fn tiered_store_with_zero_budget_spills_only_ciphertext() {
    assert_confidential(Store::TieredZeroBudget);
}

#[test]
fn control_file_store_without_encryption_shows_the_markers() {
    assert_control_shows_markers(Store::File);
}

#[test]
fn control_tiered_store_without_encryption_shows_the_markers() {
    assert_control_shows_markers(Store::TieredZeroBudget);
}
