//! TieredStoreFactory: heap within the budget, spill beyond it, budget shared.

use std::sync::Arc;

use parquet::file::properties::WriterProperties;
use parquet_spill::testkit;
use parquet_spill::workloads::Workload;
use parquet_spill::{FileStoreFactory, MemoryBudget, TieredStoreFactory};

fn tiered(budget: &MemoryBudget) -> Arc<TieredStoreFactory<FileStoreFactory>> {
    Arc::new(TieredStoreFactory::new(
        budget.clone(),
        FileStoreFactory::new().unwrap(),
    ))
}

fn batches() -> Vec<arrow_array::RecordBatch> {
    let w = Workload::WideMixed {
        columns: 12,
        rows: 60_000,
    };
    w.batches(10_000).collect()
}

#[test]
fn a_row_group_that_fits_causes_no_spill() {
    let budget = MemoryBudget::new(256 << 20);
    let factory = tiered(&budget);
    let file = testkit::write_parquet(
        &batches(),
        WriterProperties::default(),
        Some(factory.clone()),
    )
    .unwrap();
    let stats = factory.stats();
    let spill = factory.inner().stats();
    assert_eq!((stats.bytes_passed, spill.bytes_spilled), (0, 0));
    assert_eq!(spill.blobs_spilled, 0);
    assert!(
        stats.budget.peak as f64 > 0.5 * file.len() as f64,
        "pages were kept on the heap"
    );
    assert_eq!(stats.budget.used, 0);
    assert_eq!(stats.heap_bytes, 0);
}

#[test]
fn pages_past_the_budget_spill_and_the_budget_is_never_exceeded() {
    let budget = MemoryBudget::new(1 << 20);
    let factory = tiered(&budget);
    let props = WriterProperties::builder()
        .set_data_page_size_limit(64 * 1024)
        .build();
    let expected = testkit::write_parquet(&batches(), props.clone(), None).unwrap();
    let actual = testkit::write_parquet(&batches(), props, Some(factory.clone())).unwrap();
    assert_eq!(expected, actual);
    let stats = factory.stats();
    let spill = factory.inner().stats();
    assert!(spill.bytes_spilled > 0, "nothing spilled");
    // What was passed on minus the headers the file store keeps inline.
    assert!(spill.bytes_spilled <= stats.bytes_passed);
    assert!(spill.bytes_spilled * 10 > stats.bytes_passed * 9);
    assert!(stats.peak_heap_bytes > 0, "nothing kept on the heap");
    assert!(
        stats.budget.peak <= 1 << 20,
        "budget peak {}",
        stats.budget.peak
    );
    assert!(
        stats.budget.peak > (1 << 20) / 2,
        "budget barely used: {}",
        stats.budget.peak
    );
    assert!(stats.budget.denied > 0);
    assert_eq!((stats.budget.used, spill.file_bytes_live), (0, 0));
}

#[test]
fn eight_writers_share_one_budget() {
    let limit = 2 << 20;
    let budget = MemoryBudget::new(limit);
    let props = WriterProperties::builder()
        .set_data_page_size_limit(32 * 1024)
        .build();
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let factory = tiered(&budget);
            let props = props.clone();
            s.spawn(move || {
                let w = Workload::WideMixed {
                    columns: 9,
                    rows: 40_000,
                };
                let batches: Vec<_> = (0..4).map(|k| w.batch(k + t * 10, 10_000, 0)).collect();
                let expected = testkit::write_parquet(&batches, props.clone(), None).unwrap();
                let actual = testkit::write_parquet(&batches, props, Some(factory)).unwrap();
                assert_eq!(expected, actual, "writer {t}");
            });
        }
    });
    let stats = budget.stats();
    assert!(
        stats.peak <= limit,
        "shared budget peaked at {}",
        stats.peak
    );
    assert!(stats.denied > 0, "the shared budget never filled up");
    assert_eq!(stats.used, 0);
}
