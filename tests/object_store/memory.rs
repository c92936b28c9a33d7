//! Memory: the factory's buffers and read-ahead pool are charged to a
//! budget, and the peak process heap of a 64 MiB write stays within the file
//! store's plus the factory's `memory_limit` — measured in a child process of
//! this test binary, one measurement each (the counting allocator is global).

use std::sync::Arc;

use object_store::memory::InMemory;
use object_store::ObjectStore;
use parquet_spill::testkit::measure::{self, ChildRunner, Measurement, Scenario, Store};
use parquet_spill::workloads::Workload;
use parquet_spill::{MemoryBudget, ObjectStoreFactory};

use crate::ALLOC;

#[test]
fn buffers_and_read_ahead_are_charged_to_the_budget() {
    let budget = MemoryBudget::new(4 << 20);
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let builder = || {
        ObjectStoreFactory::builder(Arc::clone(&mem), "b".into())
            .buffer_size(768 << 10)
            .uploads_in_flight(2)
            .read_ahead(1 << 20)
            .budget(budget.clone())
    };
    let factory = builder().build().unwrap();
    assert_eq!(factory.memory_limit(), 3 * (768 << 10) + (1 << 20));
    assert_eq!(budget.used(), factory.memory_limit());
    let err = builder().build().unwrap_err().to_string();
    assert!(err.contains("budget"), "{err}");
    drop(factory);
    assert_eq!(budget.used(), 0);
}

/// Which writer [`memory_child`] measures (set by [`heap_stays_within_memory_limit`]).
const MEMORY_CHILD: &str = "PARQUET_SPILL_OBJECT_STORE_MEMORY";

/// The object-store factories measured: over a local directory (so objects
/// are not on the heap), with the default settings and with small ones.
fn measured_factory(which: &str) -> ObjectStoreFactory {
    let dir = tempfile::tempdir().unwrap().keep();
    let builder = parquet_spill::testkit::object_store::local_objects(&dir).unwrap();
    match which {
        "object-store-1MiB" => builder
            .buffer_size(1 << 20)
            .uploads_in_flight(1)
            .read_ahead(1 << 20),
        _ => builder,
    }
    .build()
    .unwrap()
}

/// The child end: one measurement per process (the allocator is global).
#[test]
fn memory_child() {
    let Ok(which) = std::env::var(MEMORY_CHILD) else {
        return;
    };
    let store = match which.as_str() {
        "file" => Store::file(),
        name => Store::Custom {
            name: name.to_string(),
            factory: Arc::new(measured_factory(name)),
        },
    };
    let w = Workload::skewed_bytes(64 << 20);
    let measured = measure::measure_write(&ALLOC, &Scenario::new(w, store)).unwrap();
    println!("{}{measured}", measure::RESULT_PREFIX);
}

/// Peak process heap writing a 64 MiB skewed row group: the object store
/// costs at most its `memory_limit` (buffers + read-ahead) over the file
/// store, whose pages leave the heap at once.
#[test]
fn heap_stays_within_memory_limit() {
    // libtest names the child by its module path in this binary; with
    // `--exact` a bare `memory_child` would match no test.
    let child = ChildRunner::test("memory::memory_child").unwrap();
    let measure = |which: &str| -> Measurement {
        let out = child.run(MEMORY_CHILD, which).unwrap();
        measure::tagged_line(&out, measure::RESULT_PREFIX)
            .unwrap_or_else(|| panic!("{which}: no measurement in\n{out}"))
            .parse()
            .unwrap()
    };
    let file = measure("file");
    let mut rows = vec![vec![
        "file".to_string(),
        "-".to_string(),
        measure::human_bytes(file.peak_heap()),
    ]];
    for which in ["object-store", "object-store-1MiB"] {
        let limit = measured_factory(which).memory_limit() as u64;
        let m = measure(which);
        rows.push(vec![
            which.to_string(),
            measure::human_bytes(limit),
            measure::human_bytes(m.peak_heap()),
        ]);
        // 1 MiB for the runtime, the local store's I/O and key tables.
        let bound = file.peak_heap() + limit + (1 << 20);
        assert!(
            m.peak_heap() <= bound,
            "{which}: peak heap {} above the file store's {} + memory_limit {}",
            m.peak_heap(),
            file.peak_heap(),
            limit
        );
    }
    println!(
        "{}",
        measure::text_table(&["store", "memory_limit", "peak heap"], &rows, 1)
    );
}
