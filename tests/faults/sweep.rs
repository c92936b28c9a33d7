//! The injected-fault sweeps: the N-th `create`, `put` or `take` fails, for
//! every N of the workload (and one N past the end), over the file store and
//! the tiered store, and on the parallel path. Every failure must come back
//! as the injected error from `write`, `flush` or `close` — never a panic,
//! never a partly written row group — and leave nothing behind.

use std::sync::Arc;

use parquet_spill::testkit::{self, injected_fault, Fault, FaultyStoreFactory, InjectedFault, Op};

use crate::harness::{
    assert_no_partial_row_group, batches, count, no_panic, props, read_back, reference, run, Kind,
    Policy, Spill, Stage, GROUPS,
};

/// Fail the N-th `op` for every N (and one N past the end), checking each write.
fn every_failure(kind: Kind, op: Op) {
    let total = count(kind, op);
    let make = |n| match op {
        Op::Create => Fault::FailCreate(n),
        Op::Put => Fault::FailPut(n),
        Op::Take => Fault::FailTake(n),
    };
    let mut stages = std::collections::BTreeMap::<&str, u64>::new();
    for n in 1..=total + 1 {
        let fault = make(n);
        let what = format!("{fault:?} on {kind:?}");
        let spill = Spill::new(kind);
        let faulty = Arc::new(FaultyStoreFactory::new(spill.factory.clone(), fault));
        let policy = if op == Op::Create {
            Policy::Continue
        } else {
            Policy::Stop
        };
        let outcome = no_panic(&what, || run(Some(faulty.clone()), policy));
        if n > total {
            assert!(outcome.first().is_none(), "{what}: nothing was injected");
            assert_eq!(outcome.output, reference().output);
            spill.assert_released(&what);
            continue;
        }
        assert_eq!(faulty.counts().injected, 1, "{what}: not injected");
        let failure = outcome
            .first()
            .unwrap_or_else(|| panic!("{what}: the write succeeded"));
        let msg = failure.err.to_string();
        assert!(
            msg.contains(&format!("injected fault: {op} #{n} failed")),
            "{what}: {:?} failed with an unexpected error: {msg}",
            failure.stage
        );
        assert_eq!(
            injected_fault(&failure.err),
            Some(&InjectedFault { op, nth: n }),
            "{what}"
        );
        match (op, failure.stage) {
            (Op::Create, Stage::Write(_)) | (Op::Put, _) => {}
            (Op::Take, Stage::Flush(_) | Stage::Close) => {}
            (op, stage) => panic!("{what}: {op} failed in {stage:?}"),
        }
        *stages
            .entry(match failure.stage {
                Stage::Write(_) => "write",
                Stage::Flush(_) => "flush",
                Stage::Close => "close",
            })
            .or_default() += 1;
        assert_no_partial_row_group(&what, failure, &outcome.output);
        if op == Op::Create {
            // A failed create loses exactly the batch whose write reported it:
            // the writer carries on and the file holds every other batch.
            assert_eq!(outcome.failures.len(), 1, "{what}");
            let Stage::Write(lost) = failure.stage else {
                unreachable!()
            };
            let metadata = outcome
                .metadata
                .as_ref()
                .expect("closes after a failed create");
            assert_eq!(metadata.row_groups().len(), GROUPS - 1, "{what}");
            let mut kept = batches().to_vec();
            kept.remove(lost);
            assert_eq!(
                read_back(&outcome.output).as_deref(),
                Ok(&kept[..]),
                "{what}"
            );
        } else if let Some(again) = &outcome.closed_again {
            // A writer whose flush failed refuses to close: no metadata, no footer.
            let err = again
                .as_ref()
                .err()
                .unwrap_or_else(|| panic!("{what}: close after a failed flush returned metadata"));
            assert!(err.to_string().contains("not closed"), "{what}: {err}");
        }
        drop(faulty);
        spill.assert_released(&what);
    }
    println!("{kind:?}: {total} {op} failures, reported by {stages:?}");
    if op != Op::Create {
        assert!(stages.contains_key("flush") && stages.contains_key("close"));
    }
    if op == Op::Put {
        assert!(stages.contains_key("write"), "no put failed inside write");
    }
}

#[test]
fn every_failed_create_on_the_file_store() {
    every_failure(Kind::File, Op::Create);
}

#[test]
fn every_failed_create_on_the_tiered_store() {
    every_failure(Kind::Tiered, Op::Create);
}

#[test]
fn every_failed_put_on_the_file_store() {
    every_failure(Kind::File, Op::Put);
}

#[test]
fn every_failed_put_on_the_tiered_store() {
    every_failure(Kind::Tiered, Op::Put);
}

#[test]
fn every_failed_take_on_the_file_store() {
    every_failure(Kind::File, Op::Take);
}

#[test]
fn every_failed_take_on_the_tiered_store() {
    every_failure(Kind::Tiered, Op::Take);
}

/// The parallel (column-per-thread) path reports injected put and take
/// failures as errors too, and gives everything back.
#[test]
fn failures_on_the_parallel_path() {
    let batches = batches();
    let counting = {
        let spill = Spill::new(Kind::File);
        let counting = Arc::new(FaultyStoreFactory::new(spill.factory.clone(), Fault::None));
        testkit::write_parquet_parallel(batches, props(), Some(counting.clone())).unwrap();
        counting.counts()
    };
    let mut checked = 0;
    for fault in (1..=counting.puts)
        .map(Fault::FailPut)
        .chain((1..=counting.takes).map(Fault::FailTake))
        .step_by(3)
    {
        let what = format!("{fault:?} on the parallel path");
        let spill = Spill::new(Kind::File);
        let faulty = Arc::new(FaultyStoreFactory::new(spill.factory.clone(), fault));
        let result = no_panic(&what, || {
            testkit::write_parquet_parallel(batches, props(), Some(faulty.clone()))
        });
        let err = result.expect_err(&what);
        assert!(err.to_string().contains("injected fault"), "{what}: {err}");
        drop(faulty);
        spill.assert_released(&what);
        checked += 1;
    }
    assert!(checked > 50);
}

/// Guard against a vacuous suite: the workload really puts pages in `write`
/// and spills in both stores (checked by `count`).
#[test]
fn the_workload_exercises_every_stage() {
    let puts = count(Kind::File, Op::Put);
    let takes = count(Kind::Tiered, Op::Take);
    let creates = count(Kind::File, Op::Create);
    println!("per write: {creates} creates, {puts} puts, {takes} takes");
    assert_eq!(creates, (GROUPS * 4) as u64);
    assert!(puts > 100, "{puts}");
}
