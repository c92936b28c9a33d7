//! Failures are clear errors that leave nothing behind: each request of a
//! write failed in turn, a failed background upload (reported by the next
//! `put`, its blobs then reported lost), and an object altered in the store
//! (a checksum mismatch naming the object).

use std::sync::Arc;

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::errors::ParquetError;
use parquet_spill::testkit::object_store::{
    block_on, objects_under as count_objects, CountingStore,
};
use parquet_spill::workloads::Workload;
use parquet_spill::{ObjectStoreFactory, PageStore};

use crate::write_bytes;

/// Fail each request of a write in turn (every put and get, with background
/// uploads and read-ahead on): the write fails with an error naming the
/// object, or, when the failed request's bytes were still served from
/// memory, succeeds with the same file. Nothing is left under the prefix.
#[test]
fn every_injected_request_failure_is_clear_and_leaves_nothing_behind() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let w = Workload::skewed_bytes(4 << 20);
    let factory = |store: Arc<dyn ObjectStore>| {
        Arc::new(
            ObjectStoreFactory::builder(store, "faulty".into())
                .buffer_size(256 << 10)
                .read_ahead(512 << 10)
                .build()
                .unwrap(),
        )
    };
    let clean = Arc::new(CountingStore::new(Arc::clone(&mem), 0));
    let expected = write_bytes(factory(clean.clone()), &w).unwrap();
    let requests = clean.requests();
    assert!(requests > 10, "{requests} requests");
    let mut failed = 0;
    for fail_at in 1..=requests {
        let counting = Arc::new(CountingStore::new(Arc::clone(&mem), fail_at));
        let f = factory(counting.clone());
        match write_bytes(f.clone(), &w) {
            Ok(bytes) => assert!(bytes == expected, "fail_at {fail_at}: different file"),
            Err(err) => {
                failed += 1;
                let msg = err.to_string();
                assert!(msg.contains("injected failure"), "{msg}");
                assert!(msg.contains("spill object faulty/run-"), "{msg}");
                assert!(msg.contains("bytes"), "{msg}");
                let ParquetError::External(inner) = &err else {
                    panic!("expected an External error: {err:?}");
                };
                assert!(inner.downcast_ref::<parquet_spill::Error>().is_some());
            }
        }
        drop(f);
        assert_eq!(
            count_objects(&*mem, "faulty"),
            0,
            "fail_at {fail_at}: objects left behind"
        );
    }
    assert!(
        failed * 2 > requests,
        "only {failed} of {requests} failures reached the writer"
    );
}

/// A background upload's failure is reported by the next `put` that needs
/// its slot, and a blob of that object is then reported lost, not garbage.
#[test]
fn failed_background_upload_is_reported() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let counting = Arc::new(CountingStore::new(Arc::clone(&mem), 1));
    let factory = ObjectStoreFactory::builder(counting, "up".into())
        .buffer_size(1000)
        .build()
        .unwrap();
    let mut store = factory.create_store();
    let first = store.put(Bytes::from(vec![1u8; 600])).unwrap();
    store.put(Bytes::from(vec![2u8; 600])).unwrap(); // uploads object 0 (fails)
    let err = store.put(Bytes::from(vec![3u8; 600])).unwrap_err(); // joins it
    let msg = err.to_string();
    assert!(
        msg.contains("injected failure") && msg.contains("00000000.spill"),
        "{msg}"
    );
    let msg = store.take(first).unwrap_err().to_string();
    assert!(
        msg.contains("is lost") && msg.contains("00000000.spill"),
        "{msg}"
    );
    drop(store);
    drop(factory);
    assert_eq!(count_objects(&*mem, "up"), 0);
}

#[test]
fn checksum_mismatch_names_the_object() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let factory = ObjectStoreFactory::builder(Arc::clone(&mem), "c".into())
        .buffer_size(1000)
        .uploads_in_flight(0)
        .build()
        .unwrap();
    let mut store = factory.create_store();
    let key = store.put(Bytes::from(vec![3u8; 800])).unwrap();
    store.put(Bytes::from(vec![4u8; 800])).unwrap(); // flushes the first
    let path = factory.dir().clone().join("00000000.spill");
    block_on(mem.put(&path, PutPayload::from(vec![9u8; 800]))).unwrap();
    let msg = store.take(key).unwrap_err().to_string();
    assert!(msg.contains("checksum mismatch"), "{msg}");
    assert!(msg.contains("00000000.spill"), "{msg}");
    assert!(msg.contains("offset 0"), "{msg}");
}
