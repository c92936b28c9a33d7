//! Concurrency: uploads run in the background while the next buffer fills,
//! bounded by `uploads_in_flight`, and the factory works from every calling
//! context (plain thread, async task on a runtime's only worker,
//! `spawn_blocking`, a current-thread runtime) — a current-thread runtime
//! handle, which would never run the uploads, is refused up front.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use parquet_spill::testkit::object_store::{objects_under as count_objects, CountingStore};
use parquet_spill::{ObjectStoreFactory, PageStore};

/// Opens a gate when dropped.
struct OpenOnDrop(Arc<tokio::sync::Semaphore>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.add_permits(1000);
    }
}

/// Uploads run while the next buffer fills: `put` returns while an upload
/// is held, blobs of that upload are served from memory, and `put` waits
/// only when `uploads_in_flight` uploads are still running.
#[test]
fn uploads_run_in_the_background_and_are_bounded() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let counting = Arc::new(CountingStore::new(Arc::clone(&mem), 0).with_gate(Arc::clone(&gate)));
    let factory = ObjectStoreFactory::builder(counting.clone(), "bg".into())
        .buffer_size(1000)
        .uploads_in_flight(1)
        .runtime(rt.handle().clone())
        .build()
        .unwrap();
    let mut store = factory.create_store();
    // Dropped before the store: a failed assertion below must not leave the
    // store's drop waiting for an upload the gate still holds.
    let _open_on_unwind = OpenOnDrop(Arc::clone(&gate));
    let blob = |i: u8| Bytes::from(vec![i; 300]);
    // Object 0: blobs 0..3; the 4th blob starts object 1 and uploads object 0 (held).
    let keys: Vec<_> = (0..4).map(|i| store.put(blob(i)).unwrap()).collect();
    assert_eq!(factory.stats().puts, 1);
    assert_eq!(factory.stats().upload_waits, 0);
    assert!(store.memory_size() >= 1200, "all four blobs are in memory");
    assert_eq!(store.take(keys[0]).unwrap(), blob(0));
    assert_eq!(counting.gets(), 0, "served from memory");
    assert!(store.memory_size() >= 900 && store.memory_size() < 1200);

    // Filling object 1 and starting object 2 must wait for object 0's upload.
    let released = Arc::new(AtomicBool::new(false));
    let opener = {
        let (gate, released) = (Arc::clone(&gate), Arc::clone(&released));
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            released.store(true, Ordering::SeqCst);
            gate.add_permits(100);
        })
    };
    let more: Vec<_> = (4..7).map(|i| store.put(blob(i)).unwrap()).collect();
    assert!(
        released.load(Ordering::SeqCst),
        "put returned before the held upload finished"
    );
    opener.join().unwrap();
    let stats = factory.stats();
    assert_eq!((stats.puts, stats.upload_waits), (2, 1), "{stats:?}");
    for (i, key) in keys.into_iter().chain(more).enumerate().skip(1) {
        assert_eq!(store.take(key).unwrap(), blob(i as u8));
    }
    drop(store);
    drop(factory);
    assert_eq!(count_objects(&*mem, "bg"), 0);
}

/// Put three 800-byte blobs into 1000-byte buffers (two uploads) and take
/// them back: requests, background uploads and joins from the calling thread.
fn exercise(factory: &ObjectStoreFactory) {
    let mut store = factory.create_store();
    let keys: Vec<_> = (0..3u8)
        .map(|i| store.put(Bytes::from(vec![i; 800])).unwrap())
        .collect();
    for (i, key) in keys.into_iter().enumerate() {
        assert_eq!(store.take(key).unwrap(), vec![i as u8; 800]);
    }
}

/// Every calling context works: a plain thread, an async task on a worker
/// of a one-worker runtime (its uploads must still run), `spawn_blocking`,
/// and inside a current-thread runtime; a current-thread runtime handle is
/// refused up front.
#[test]
fn every_calling_context_works_and_current_thread_handles_are_refused() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let build = |handle: Option<tokio::runtime::Handle>| {
        let builder =
            ObjectStoreFactory::builder(Arc::new(InMemory::new()), "h".into()).buffer_size(1000);
        match handle {
            Some(h) => builder.runtime(h),
            None => builder,
        }
        .build()
    };
    let on_rt = Arc::new(build(Some(rt.handle().clone())).unwrap());
    exercise(&on_rt);
    let f = Arc::clone(&on_rt);
    rt.block_on(rt.spawn(async move { exercise(&f) })).unwrap();
    let f = Arc::clone(&on_rt);
    rt.block_on(rt.spawn_blocking(move || exercise(&f)))
        .unwrap();
    // The writer on the runtime's only worker, the factory on the same runtime.
    let f = Arc::clone(&on_rt);
    rt.block_on(async move { exercise(&f) });

    let ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = build(Some(ct.handle().clone())).unwrap_err().to_string();
    assert!(err.contains("multi-thread"), "{err}");
    let owned = Arc::new(build(None).unwrap());
    let f = Arc::clone(&owned);
    ct.block_on(async move { exercise(&f) });
    let f = Arc::clone(&owned);
    ct.block_on(ct.spawn_blocking(move || exercise(&f)))
        .unwrap();
    assert_eq!(owned.stats().objects_live, 0);
    assert_eq!(on_rt.stats().objects_live, 0);
}
