//! What an open row group holds per page, and whose it is.
//!
//! Why: in a row group of hundreds of thousands of pages, what each page
//! leaves on the heap until the row group is flushed (parquet's page keys
//! and index builders, the store's entries) decides how small a memory
//! limit can be. This writes the same row group through a counting
//! allocator: once through a store that keeps nothing at all (what is left
//! is parquet's own), then through [`FileStoreFactory`] and through the
//! stack a planned writer uses, a [`TieredStoreFactory`] over the file store
//! with a budget too small to keep pages (the differences are the stores').
//! Pages are 64 rows of 100 columns, in batches of 4,096 rows; with page
//! statistics, without, and without the offset index as well
//! (`set_offset_index_disabled`, which parquet honours only without page
//! statistics).
//!
//! ```text
//! cargo run --release --features testkit --example per_page_cost
//! ```

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_writer::{ArrowWriterOptions, PageStoreFactory};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::EnabledStatistics;
use parquet_spill::testkit::measure::open_row_group_properties;
use parquet_spill::testkit::{CountingAlloc, DiscardStoreFactory};
use parquet_spill::{FileStoreFactory, MemoryBudget, TieredStoreFactory};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const COLUMNS: usize = 100;
const PAGE_ROWS: usize = 64;
const BATCH_ROWS: usize = 4096;
const BATCHES: usize = 20;

/// Heap per page that the row group's pages after the first batch left.
fn per_page(
    utf8: bool,
    statistics: EnabledStatistics,
    offset_index: bool,
    factory: Arc<dyn PageStoreFactory>,
) -> Result<f64, Box<dyn std::error::Error>> {
    let data_type = if utf8 {
        DataType::Utf8
    } else {
        DataType::Int64
    };
    let fields: Vec<Field> = (0..COLUMNS)
        .map(|i| Field::new(format!("c{i}"), data_type.clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = |index: usize| -> Result<RecordBatch, arrow_schema::ArrowError> {
        let rows = index * BATCH_ROWS..(index + 1) * BATCH_ROWS;
        let columns = (0..COLUMNS)
            .map(|c| -> ArrayRef {
                if utf8 {
                    let values = rows.clone().map(|r| format!("value-{r:08}-{c}"));
                    Arc::new(StringArray::from_iter_values(values))
                } else {
                    let values = rows.clone().map(|r| r as i64 * 7919 + c as i64);
                    Arc::new(Int64Array::from_iter_values(values))
                }
            })
            .collect();
        RecordBatch::try_new(Arc::clone(&schema), columns)
    };
    let properties = open_row_group_properties(Compression::UNCOMPRESSED, statistics, offset_index)
        .set_data_page_row_count_limit(PAGE_ROWS)
        .set_write_batch_size(PAGE_ROWS)
        .build();
    let options = ArrowWriterOptions::new()
        .with_properties(properties)
        .with_page_store_factory(factory);
    let mut writer = ArrowWriter::try_new_with_options(std::io::sink(), schema.clone(), options)?;
    writer.write(&batch(0)?)?;
    let before = ALLOC.current();
    for index in 1..BATCHES {
        writer.write(&batch(index)?)?;
    }
    let grown = ALLOC.current().saturating_sub(before);
    let pages = COLUMNS * (BATCHES - 1) * BATCH_ROWS / PAGE_ROWS;
    // Dropped unclosed: the discarding store cannot give its pages back.
    drop(writer);
    Ok(grown as f64 / pages as f64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("bytes per page of an open row group (100 columns, 64-row pages)");
    println!("column  statistics         parquet's own  FileStoreFactory's  tiered over file's");
    let cases = [
        (EnabledStatistics::Page, true, "Page"),
        (EnabledStatistics::None, true, "None"),
        (EnabledStatistics::None, false, "None, no offset index"),
    ];
    for utf8 in [false, true] {
        for (statistics, offset_index, label) in cases {
            let measure = |factory| per_page(utf8, statistics, offset_index, factory);
            let own = measure(Arc::new(DiscardStoreFactory))?;
            let file = measure(Arc::new(FileStoreFactory::new()?))?;
            let budget = MemoryBudget::new(1 << 20);
            let tiered = TieredStoreFactory::new(budget, FileStoreFactory::new()?);
            let tiered = measure(Arc::new(tiered))?;
            println!(
                "{:<7} {label:<22} {own:>9.0} {:>19.0} {:>19.0}",
                if utf8 { "Utf8" } else { "Int64" },
                file - own,
                tiered - own,
            );
        }
    }
    Ok(())
}
