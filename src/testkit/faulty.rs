//! [`FaultyStoreFactory`]: make any [`PageStoreFactory`] fail on cue.
//!
//! Why: a spill store talks to a disk, a network or a budget, and every one of
//! those can fail half-way through a row group. The only way to know what a
//! writer does then — which call reports the error, whether a broken row group
//! can end up in the file, whether disk space and budget are handed back — is
//! to make the failure happen at every point of a real write. This decorator
//! does that for any factory, ours or yours: it counts `create`, `put` and
//! `take` across **all** stores of one factory and sabotages exactly the N-th
//! call of the kind a [`Fault`] names. Run a workload once with
//! [`Fault::None`] to learn how many calls there are, then once per N.
//!
//! Injected errors are [`ParquetError::External`] wrapping an
//! [`InjectedFault`], so their message contains `"injected fault"` and
//! [`injected_fault`] finds them again in the writer's error.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_writer::{PageKey, PageStore, PageStoreArgs, PageStoreFactory};
use parquet::errors::{ParquetError, Result};

/// A call a [`FaultyStoreFactory`] can sabotage.
///
/// ```
/// use parquet_spill::testkit::{Fault, Op};
/// assert_eq!(Op::Put.to_string(), "put");
/// assert_eq!(Fault::FailCreate(1).target().map(|(op, _)| op), Some(Op::Create));
/// assert_eq!(Fault::AlterTake(9).target().map(|(op, _)| op), Some(Op::Take));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`PageStoreFactory::create`].
    Create,
    /// [`PageStore::put`].
    Put,
    /// [`PageStore::take`].
    Take,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Create => "create",
            Op::Put => "put",
            Op::Take => "take",
        })
    }
}

/// What goes wrong, and on which call.
///
/// `N` counts from 1 and is shared by every store of one
/// [`FaultyStoreFactory`] (and its clones): `FailPut(3)` fails the third `put`
/// the factory's stores see, whichever column it belongs to. Each fault fires
/// once; every other call goes straight to the wrapped store.
///
/// ```
/// use parquet_spill::testkit::{Fault, Op};
/// assert_eq!(Fault::FailTake(4).target(), Some((Op::Take, 4)));
/// assert_eq!(Fault::None.target(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Sabotage nothing: count calls (see [`FaultyStoreFactory::counts`]).
    None,
    /// The N-th `create` returns an [`InjectedFault`] error.
    FailCreate(u64),
    /// The N-th `put` returns an [`InjectedFault`] error (the blob is not stored).
    FailPut(u64),
    /// The N-th `take` returns an [`InjectedFault`] error (the blob is taken
    /// from the wrapped store first, so it is spent, as with a failed read).
    FailTake(u64),
    /// The N-th `take` succeeds but returns its blob without the last byte,
    /// as a store with an unchecked short read would. An empty blob cannot be
    /// shortened and is returned as it is (not counted as injected).
    ShortTake(u64),
    /// The N-th `take` succeeds but returns its blob with its middle byte
    /// inverted, as a store without checksums would after a bit rot.
    /// An empty blob is returned as it is (not counted as injected).
    AlterTake(u64),
    /// The N-th `put` panics (a bug in a store, or an allocation failure).
    PanicPut(u64),
}

impl Fault {
    /// Which call this fault hits: the operation and its 1-based number.
    ///
    /// ```
    /// use parquet_spill::testkit::{Fault, Op};
    /// assert_eq!(Fault::FailPut(3).target(), Some((Op::Put, 3)));
    /// assert_eq!(Fault::PanicPut(3).target(), Fault::FailPut(3).target(), "same call, other failure");
    /// assert_eq!(Fault::ShortTake(1).target(), Some((Op::Take, 1)));
    /// assert_eq!(Fault::None.target(), None);
    /// ```
    pub fn target(&self) -> Option<(Op, u64)> {
        match *self {
            Fault::None => None,
            Fault::FailCreate(n) => Some((Op::Create, n)),
            Fault::FailPut(n) | Fault::PanicPut(n) => Some((Op::Put, n)),
            Fault::FailTake(n) | Fault::ShortTake(n) | Fault::AlterTake(n) => Some((Op::Take, n)),
        }
    }
}

/// The error a [`FaultyStoreFactory`] returns, wrapped in
/// [`ParquetError::External`].
///
/// ```
/// use parquet_spill::testkit::{injected_fault, InjectedFault, Op};
/// let err: parquet::errors::ParquetError = InjectedFault { op: Op::Put, nth: 2 }.into();
/// assert!(err.to_string().contains("injected fault: put #2 failed"), "{err}");
/// assert_eq!(injected_fault(&err), Some(&InjectedFault { op: Op::Put, nth: 2 }));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedFault {
    /// The call that failed.
    pub op: Op,
    /// Its 1-based number among the factory's calls of that kind.
    pub nth: u64,
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "injected fault: {} #{} failed (parquet-spill testkit FaultyStoreFactory)",
            self.op, self.nth
        )
    }
}

impl std::error::Error for InjectedFault {}

impl From<InjectedFault> for ParquetError {
    fn from(fault: InjectedFault) -> Self {
        ParquetError::External(Box::new(fault))
    }
}

/// The [`InjectedFault`] inside `err`, if a [`FaultyStoreFactory`] caused it.
///
/// ```
/// use std::sync::Arc;
/// use parquet::errors::ParquetError;
/// use parquet_spill::testkit::{all_types_batch, injected_fault, write_parquet};
/// use parquet_spill::testkit::{Fault, FaultyStoreFactory, InjectedFault, Op};
/// use parquet_spill::MemoryStoreFactory;
///
/// let faulty = FaultyStoreFactory::new(Arc::new(MemoryStoreFactory::new()), Fault::FailCreate(2));
/// let batches = [all_types_batch(50, 0)];
/// let err = write_parquet(&batches, Default::default(), Some(Arc::new(faulty))).unwrap_err();
/// assert_eq!(injected_fault(&err), Some(&InjectedFault { op: Op::Create, nth: 2 }));
/// assert_eq!(injected_fault(&ParquetError::General("disk on fire".into())), None);
/// ```
pub fn injected_fault(err: &ParquetError) -> Option<&InjectedFault> {
    error_in_chain(err)
}

/// The first error of type `T` in `err`'s chain: a writer may wrap a
/// store's error with context (a `ParallelWriter` names the column).
///
/// ```
/// use parquet::errors::ParquetError;
/// use parquet_spill::testkit::error_in_chain;
/// let err: ParquetError = parquet_spill::Error::EmptySchema.into();
/// assert!(matches!(error_in_chain::<parquet_spill::Error>(&err), Some(parquet_spill::Error::EmptySchema)));
/// ```
pub fn error_in_chain<T: std::error::Error + 'static>(err: &ParquetError) -> Option<&T> {
    crate::error::find_in_chain(err)
}

/// Whether `err` is (or wraps) [`Error::PageMetadataExhausted`]: a planned
/// writer stopped cleanly before its file's metadata passed the limit.
///
/// [`Error::PageMetadataExhausted`]: crate::Error::PageMetadataExhausted
///
/// ```
/// use parquet::errors::ParquetError;
/// use parquet_spill::{testkit::metadata_exhausted, Error};
/// let err: ParquetError = Error::PageMetadataExhausted {
///     what: "page index",
///     requested: 100,
///     metadata: 1 << 20,
///     limit: 4 << 20,
/// }
/// .into();
/// assert!(metadata_exhausted(&err));
/// assert!(!metadata_exhausted(&Error::EmptySchema.into()));
/// ```
pub fn metadata_exhausted(err: &ParquetError) -> bool {
    matches!(
        crate::Error::in_chain(err),
        Some(crate::Error::PageMetadataExhausted { .. })
    )
}

/// How many calls a [`FaultyStoreFactory`]'s stores have seen.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{all_types_batch, write_parquet, Fault, FaultCounts, FaultyStoreFactory};
/// use parquet_spill::MemoryStoreFactory;
///
/// let faulty = Arc::new(FaultyStoreFactory::new(Arc::new(MemoryStoreFactory::new()), Fault::FailPut(5)));
/// assert_eq!(faulty.counts(), FaultCounts::default());
/// assert!(write_parquet(&[all_types_batch(50, 0)], Default::default(), Some(faulty.clone())).is_err());
/// let counts = faulty.counts();
/// assert_eq!((counts.puts, counts.injected), (5, 1), "the writer stopped at the failed put");
/// assert!(counts.creates > 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultCounts {
    /// `create` calls, the sabotaged one included.
    pub creates: u64,
    /// `put` calls, the sabotaged one included.
    pub puts: u64,
    /// `take` calls, the sabotaged one included.
    pub takes: u64,
    /// Faults that actually took effect (0 or 1).
    pub injected: u64,
}

#[derive(Debug, Default)]
struct Counters {
    creates: AtomicU64,
    puts: AtomicU64,
    takes: AtomicU64,
    injected: AtomicU64,
}

impl Counters {
    /// Count one call of `op`; true if `fault` targets exactly this call.
    fn hit(&self, op: Op, fault: Fault) -> (u64, bool) {
        let counter = match op {
            Op::Create => &self.creates,
            Op::Put => &self.puts,
            Op::Take => &self.takes,
        };
        let nth = counter.fetch_add(1, Ordering::Relaxed) + 1;
        (nth, fault.target() == Some((op, nth)))
    }

    fn injected(&self) {
        self.injected.fetch_add(1, Ordering::Relaxed);
    }
}

/// A [`PageStoreFactory`] decorator that sabotages one call of its stores.
///
/// Clones share the call counters (and so the one fault).
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{ArrayRef, Int64Array, RecordBatch};
/// use parquet::arrow::arrow_writer::{ArrowWriter, ArrowWriterOptions};
/// use parquet_spill::testkit::{injected_fault, Fault, FaultyStoreFactory, Op};
/// use parquet_spill::FileStoreFactory;
///
/// let spill = Arc::new(FileStoreFactory::new()?);
/// let faulty = Arc::new(FaultyStoreFactory::new(spill.clone(), Fault::FailTake(2)));
/// let options = ArrowWriterOptions::new().with_page_store_factory(faulty.clone());
///
/// let col = Arc::new(Int64Array::from_iter_values(0..100_000)) as ArrayRef;
/// let batch = RecordBatch::try_from_iter([("id", col)])?;
/// let mut writer = ArrowWriter::try_new_with_options(Vec::new(), batch.schema(), options)?;
/// writer.write(&batch)?; // pages go into the spill file
/// let err = writer.close().unwrap_err(); // the splice reads them back: take #2 fails
///
/// assert!(err.to_string().contains("injected fault: take #2"), "{err}");
/// assert_eq!(injected_fault(&err).map(|f| f.op), Some(Op::Take));
/// assert_eq!(faulty.counts().injected, 1);
/// assert_eq!(spill.stats().file_bytes_live, 0, "the dropped writer gave the disk space back");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct FaultyStoreFactory<F: ?Sized = dyn PageStoreFactory> {
    inner: Arc<F>,
    fault: Fault,
    counters: Arc<Counters>,
}

impl<F: ?Sized> Clone for FaultyStoreFactory<F> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            fault: self.fault,
            counters: Arc::clone(&self.counters),
        }
    }
}

impl<F: PageStoreFactory + ?Sized> FaultyStoreFactory<F> {
    /// Wrap `inner`, sabotaging the call `fault` names.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parquet_spill::testkit::{all_types_batch, write_parquet, Fault, FaultyStoreFactory};
    /// use parquet_spill::MemoryStoreFactory;
    ///
    /// let memory = Arc::new(MemoryStoreFactory::new());
    /// let faulty = Arc::new(FaultyStoreFactory::new(memory, Fault::FailPut(1)));
    /// let batches = [all_types_batch(50, 0)];
    /// let err = write_parquet(&batches, Default::default(), Some(faulty)).unwrap_err();
    /// assert!(err.to_string().contains("injected fault: put #1 failed"), "{err}");
    /// ```
    pub fn new(inner: Arc<F>, fault: Fault) -> Self {
        Self {
            inner,
            fault,
            counters: Arc::default(),
        }
    }

    /// The fault this factory injects.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parquet_spill::testkit::{Fault, FaultyStoreFactory};
    /// use parquet_spill::MemoryStoreFactory;
    /// let faulty = FaultyStoreFactory::new(Arc::new(MemoryStoreFactory::new()), Fault::AlterTake(5));
    /// assert_eq!(faulty.fault(), Fault::AlterTake(5));
    /// assert_eq!(faulty.clone().fault(), faulty.fault(), "clones share the fault");
    /// ```
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// The wrapped factory, with its concrete type (to read its statistics).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parquet_spill::testkit::{all_types_batch, write_parquet, Fault, FaultyStoreFactory};
    /// use parquet_spill::FileStoreFactory;
    ///
    /// let spill = Arc::new(FileStoreFactory::new()?);
    /// let faulty = Arc::new(FaultyStoreFactory::new(Arc::clone(&spill), Fault::None));
    /// assert!(Arc::ptr_eq(faulty.inner(), &spill));
    /// write_parquet(&[all_types_batch(100, 0)], Default::default(), Some(faulty.clone()))?;
    /// assert!(faulty.inner().stats().blobs_spilled > 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn inner(&self) -> &Arc<F> {
        &self.inner
    }

    /// Calls seen so far by this factory and every store it created.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use parquet_spill::testkit::{all_types_batch, write_parquet, Fault, FaultyStoreFactory};
    /// use parquet_spill::InMemoryPageStoreFactory;
    /// let counting = Arc::new(FaultyStoreFactory::new(Arc::new(InMemoryPageStoreFactory), Fault::None));
    /// write_parquet(&[all_types_batch(100, 0)], Default::default(), Some(counting.clone()))?;
    /// let counts = counting.counts();
    /// assert!(counts.creates > 30 && counts.puts == counts.takes && counts.injected == 0);
    /// # Ok::<(), parquet::errors::ParquetError>(())
    /// ```
    pub fn counts(&self) -> FaultCounts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let c = &self.counters;
        FaultCounts {
            creates: get(&c.creates),
            puts: get(&c.puts),
            takes: get(&c.takes),
            injected: get(&c.injected),
        }
    }
}

impl<F: PageStoreFactory + ?Sized> PageStoreFactory for FaultyStoreFactory<F> {
    fn create(&self, args: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>> {
        let (nth, hit) = self.counters.hit(Op::Create, self.fault);
        if hit {
            self.counters.injected();
            return Err(InjectedFault {
                op: Op::Create,
                nth,
            }
            .into());
        }
        Ok(Box::new(FaultyStore {
            inner: self.inner.create(args)?,
            fault: self.fault,
            counters: Arc::clone(&self.counters),
        }))
    }
}

/// A store created by [`FaultyStoreFactory`]: the wrapped store plus the fault.
///
/// ```
/// use std::sync::Arc;
/// use parquet_spill::testkit::{create_store, injected_fault, Fault, FaultyStoreFactory, Op};
/// use parquet_spill::MemoryStoreFactory;
///
/// let faulty = Arc::new(FaultyStoreFactory::new(Arc::new(MemoryStoreFactory::new()), Fault::FailTake(1)));
/// let mut store = create_store(&(faulty.clone() as _))?; // a FaultyStore around a MemoryStore
/// assert_eq!(faulty.counts().takes, 0);
/// let key = store.put(vec![1u8; 1000].into())?;
/// assert!(store.memory_size() >= 1000, "memory_size is the wrapped store's");
/// let err = store.take(key).unwrap_err(); // the first take of the factory
/// assert_eq!(injected_fault(&err).map(|f| (f.op, f.nth)), Some((Op::Take, 1)));
/// # Ok::<(), parquet::errors::ParquetError>(())
/// ```
pub struct FaultyStore {
    inner: Box<dyn PageStore>,
    fault: Fault,
    counters: Arc<Counters>,
}

impl fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyStore")
            .field("fault", &self.fault)
            .finish_non_exhaustive()
    }
}

impl PageStore for FaultyStore {
    fn put(&mut self, value: Bytes) -> Result<PageKey> {
        let (nth, hit) = self.counters.hit(Op::Put, self.fault);
        if hit {
            self.counters.injected();
            if matches!(self.fault, Fault::PanicPut(_)) {
                panic!("injected panic: put #{nth} (parquet-spill testkit FaultyStoreFactory)");
            }
            return Err(InjectedFault { op: Op::Put, nth }.into());
        }
        self.inner.put(value)
    }

    fn take(&mut self, key: PageKey) -> Result<Bytes> {
        let (nth, hit) = self.counters.hit(Op::Take, self.fault);
        let blob = self.inner.take(key)?;
        if !hit {
            return Ok(blob);
        }
        match self.fault {
            Fault::FailTake(_) => {
                self.counters.injected();
                Err(InjectedFault { op: Op::Take, nth }.into())
            }
            Fault::ShortTake(_) if !blob.is_empty() => {
                self.counters.injected();
                Ok(blob.slice(..blob.len() - 1))
            }
            Fault::AlterTake(_) if !blob.is_empty() => {
                self.counters.injected();
                let mut altered = blob.to_vec();
                let middle = altered.len() / 2;
                altered[middle] = !altered[middle];
                Ok(Bytes::from(altered))
            }
            _ => Ok(blob),
        }
    }

    fn memory_size(&self) -> usize {
        self.inner.memory_size()
    }
}
