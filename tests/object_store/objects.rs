//! How blobs map to objects: blobs of several stores round-trip across
//! objects, and no object outlives its writer — taken objects are deleted,
//! a dropped writer deletes the rest, failed deletes are retried on drop, and
//! `cleanup` removes a crashed run's leftovers.

use std::sync::Arc;

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet_spill::testkit::object_store::{
    block_on, objects_under as count_objects, CountingStore,
};
use parquet_spill::workloads::Workload;
use parquet_spill::{ObjectStoreFactory, PageStore};

use crate::write_bytes;

#[test]
fn blobs_round_trip_across_objects_and_objects_are_deleted() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let factory = ObjectStoreFactory::builder(Arc::clone(&mem), "p".into())
        .buffer_size(1000)
        .build()
        .unwrap();
    let mut a = factory.create_store();
    let mut b = factory.create_store();
    let blobs: Vec<Bytes> = (0..20u8)
        .map(|i| Bytes::from(vec![i; 300 + i as usize]))
        .collect();
    let mut keys = Vec::new();
    for (i, blob) in blobs.iter().enumerate() {
        let store = if i % 2 == 0 { &mut a } else { &mut b };
        keys.push(store.put(blob.clone()).unwrap());
    }
    let big = b.put(Bytes::from(vec![7u8; 5000])).unwrap();
    assert!(count_objects(&*mem, "p") > 5);
    assert!(a.memory_size() > 0 || b.memory_size() > 0);
    for (i, (blob, key)) in blobs.iter().zip(keys).enumerate() {
        let store = if i % 2 == 0 { &mut a } else { &mut b };
        assert_eq!(store.take(key).unwrap(), *blob);
    }
    assert_eq!(b.take(big).unwrap(), vec![7u8; 5000]);
    assert!(b.take(big).is_err(), "a key is taken once");
    assert_eq!(count_objects(&*mem, "p"), 0, "taken objects are deleted");
    let stats = factory.stats();
    assert_eq!(stats.objects_live, 0);
    assert!(stats.gets > 0 && stats.memory_hits > 0, "{stats:?}");
}

#[test]
fn dropping_the_writer_leaves_no_objects() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    {
        let factory = ObjectStoreFactory::builder(Arc::clone(&mem), "p".into())
            .buffer_size(1000)
            .build()
            .unwrap();
        let mut store = factory.create_store();
        for i in 0..10u8 {
            store.put(Bytes::from(vec![i; 600])).unwrap();
        }
        assert!(count_objects(&*mem, "p") >= 5);
        let mut kept = factory.create_store();
        kept.put(Bytes::from(vec![1; 600])).unwrap();
        drop(store);
        kept.put(Bytes::from(vec![1; 600])).unwrap();
        assert!(count_objects(&*mem, "p") <= 1);
        // `kept` and the factory drop here without taking anything.
    }
    assert_eq!(count_objects(&*mem, "p"), 0);
}

/// Deletes that fail while writing are retried when the factory drops.
#[test]
fn failed_deletes_are_retried_on_drop() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let counting = Arc::new(CountingStore::new(Arc::clone(&mem), 0).with_failing_deletes(3));
    let factory = Arc::new(
        ObjectStoreFactory::builder(counting.clone(), "del".into())
            .buffer_size(256 << 10)
            .build()
            .unwrap(),
    );
    write_bytes(factory.clone(), &Workload::skewed_bytes(4 << 20)).unwrap();
    assert_eq!(count_objects(&*mem, "del"), 3, "three deletes failed");
    assert_eq!(factory.stats().objects_live, 3);
    drop(factory);
    assert_eq!(count_objects(&*mem, "del"), 0);
}

#[test]
fn cleanup_removes_leftovers() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    block_on(async {
        for i in 0..3 {
            let p = Path::from(format!("crash/run-9-9-0/{i:08}.spill"));
            mem.put(&p, PutPayload::from(vec![0u8; 10])).await.unwrap();
        }
        mem.put(&"other/x".into(), PutPayload::from(vec![0u8; 1]))
            .await
            .unwrap();
        let n = ObjectStoreFactory::cleanup(&*mem, &"crash".into())
            .await
            .unwrap();
        assert_eq!(n, 3);
    });
    assert_eq!(count_objects(&*mem, "crash"), 0);
    assert_eq!(count_objects(&*mem, "other"), 1);
}
