//! How-to: spill every page of a big row group to disk — one line.
//!
//! ```text
//! cargo run --release --example spill_to_file
//! ```
//!
//! parquet's `ArrowWriter` keeps every encoded page of a row group on the heap
//! until the row group is flushed. Handing it a [`FileStoreFactory`] moves the
//! pages into one unlinked spill file instead (one descriptor, however many
//! columns), so the heap holds only the encoders' unfinished pages. The output
//! is byte-for-byte what the default store writes.

use std::sync::Arc;

use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
use parquet::file::properties::WriterProperties;
use parquet_spill::workloads::Workload;
use parquet_spill::FileStoreFactory;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let workload = Workload::skewed_bytes(64 << 20);
    let out = tempfile::NamedTempFile::new()?;

    // The one line: pages go to a spill file in the temp dir (or `in_dir(..)`).
    let spill = Arc::new(FileStoreFactory::new()?);

    let props = WriterProperties::builder()
        .set_max_row_group_row_count(None) // one big row group
        .build();
    let options = ArrowWriterOptions::new()
        .with_properties(props)
        .with_page_store_factory(spill.clone());
    let mut writer = ArrowWriter::try_new_with_options(out.reopen()?, workload.schema(), options)?;
    let mut peak_in_memory = 0;
    for batch in workload.batches(workload.default_batch_rows()) {
        writer.write(&batch)?;
        peak_in_memory = peak_in_memory.max(writer.memory_size());
    }
    let metadata = writer.close()?;

    let stats = spill.stats();
    println!(
        "wrote {} rows in {} row group(s), {} bytes",
        metadata.file_metadata().num_rows(),
        metadata.num_row_groups(),
        out.as_file().metadata()?.len()
    );
    println!(
        "spilled {} bytes in {} blobs; the spill file peaked at {} bytes and is empty now ({})",
        stats.bytes_spilled, stats.blobs_spilled, stats.peak_file_len, stats.file_len
    );
    println!("the writer reported at most {peak_in_memory} bytes in memory while writing");
    assert!(stats.bytes_spilled > 0 && stats.file_len == 0);
    Ok(())
}
