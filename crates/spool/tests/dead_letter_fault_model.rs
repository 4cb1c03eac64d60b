//! A property over random interleavings of dead-letter changes, injected faults on every kind
//! of dead-letter file operation, compactions (started and advanced by the changes) and
//! restarts: every dead letter answered Ok and not since removed by a change answered Ok is
//! listed and reads back whole, and nothing is listed that was never added.

mod support;

use proptest::prelude::*;
use signal_spool::{Consumer, DeadLetterInfo, Record, Spool, SpoolConfig, Start};
use std::collections::{BTreeMap, BTreeSet};
use support::faults::{EIO, ENOSPC, Fault, Faults, Files, Op};

#[derive(Debug, Clone)]
enum Step {
    Add(u64, usize),
    Purge(Vec<u64>),
    Replay(u64),
    /// The `nth` next call of an operation on dead-letter files fails.
    Fail(Op, u64, Fault),
    Restart,
}

fn fault_step() -> impl Strategy<Value = Step> {
    let op = prop_oneof![
        Just(Op::Write),
        Just(Op::Sync),
        Just(Op::SetLen),
        Just(Op::Rename),
        Just(Op::SyncDir),
        Just(Op::Create),
    ];
    let fault = prop_oneof![
        Just(Fault::Error(ENOSPC)),
        Just(Fault::Error(EIO)),
        (1usize..400).prop_map(Fault::Partial),
    ];
    (op, 1u64..4, fault).prop_map(|(op, nth, fault)| Step::Fail(op, nth, fault))
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (1u64..10, 1usize..(500 << 10)).prop_map(|(id, size)| Step::Add(id, size)),
        3 => proptest::collection::vec(1u64..10, 1..4).prop_map(Step::Purge),
        2 => (1u64..10).prop_map(Step::Replay),
        4 => fault_step(),
        1 => Just(Step::Restart),
    ]
}

fn event(seq: u64, size: usize) -> Vec<u8> {
    let mut p = format!("event-{seq}-").into_bytes();
    p.resize(size, b'.');
    p
}

fn info() -> DeadLetterInfo {
    DeadLetterInfo {
        reason: "vendor_rejected".into(),
        status: Some(400),
        body: String::new(),
        attempts: 1,
    }
}

/// Reads and acknowledges whatever replays come back (acks may fail under faults).
fn deliver_replays(c: &mut Consumer) {
    while let Ok(got) = c.read(100) {
        if got.is_empty() {
            return;
        }
        for r in got {
            let _ = c.ack(r.receipt());
        }
    }
}

/// What the model knows: letters that must be listed (with their size), and ids whose state a
/// failed change left open (listed or not, either is right).
#[derive(Default)]
struct Model {
    sure: BTreeMap<u64, usize>,
    maybe: BTreeMap<u64, BTreeSet<usize>>,
}

impl Model {
    fn unsure(&mut self, id: u64) {
        if let Some(size) = self.sure.remove(&id) {
            self.maybe.entry(id).or_default().insert(size);
        }
    }

    fn check(&self, c: &Consumer) -> Result<(), TestCaseError> {
        let letters = c.dead_letters().page(None, 1000).expect("page").letters;
        let listed: BTreeMap<u64, usize> =
            letters.iter().map(|d| (d.id, d.payload.len())).collect();
        for d in &letters {
            prop_assert_eq!(&d.payload, &event(d.id, d.payload.len()), "letter {}", d.id);
        }
        for (id, size) in &self.sure {
            prop_assert_eq!(
                listed.get(id),
                Some(size),
                "letter {} answered Ok is listed",
                id
            );
        }
        for (id, size) in &listed {
            let known = self.sure.get(id) == Some(size)
                || self.maybe.get(id).is_some_and(|s| s.contains(size));
            prop_assert!(known, "letter {} of {} bytes was never added", id, size);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_dead_letter_answered_ok_survives_faults_and_restarts(
        steps in proptest::collection::vec(step(), 1..80)
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let faults = Faults::new();
        let mut cfg = SpoolConfig::new(dir.path());
        cfg.disk = faults.disk();
        let mut spool = Spool::open(cfg.clone()).expect("open");
        let mut c = spool.consumer("p", Start::Earliest).expect("consumer");
        let mut model = Model::default();
        for step in steps {
            match step {
                Step::Add(id, size) => {
                    let record = Record { seq: id, payload: event(id, size), replayed: false };
                    match c.dead_letter(&record, info()) {
                        Ok(()) => {
                            model.sure.insert(id, size);
                        }
                        Err(_) => {
                            model.unsure(id);
                            model.maybe.entry(id).or_default().insert(size);
                        }
                    }
                }
                Step::Purge(ids) => match c.purge(Some(&ids)) {
                    Ok(_) => ids.iter().for_each(|id| {
                        model.sure.remove(id);
                    }),
                    Err(_) => ids.iter().for_each(|&id| model.unsure(id)),
                },
                Step::Replay(id) => {
                    match c.replay(Some(&[id])) {
                        Ok(_) => {
                            model.sure.remove(&id);
                        }
                        Err(_) => model.unsure(id),
                    }
                    deliver_replays(&mut c);
                }
                Step::Fail(op, nth, fault) => faults.fail(op, Files::DeadLetters, nth, fault),
                Step::Restart => {
                    drop(c);
                    spool.close();
                    spool = Spool::open(cfg.clone()).expect("reopen");
                    c = spool.consumer("p", Start::Earliest).expect("consumer");
                }
            }
            model.check(&c)?;
        }
        // Last, a restart with every fault cleared.
        faults.heal();
        drop(c);
        spool.close();
        let spool = Spool::open(cfg).expect("reopen");
        let c = spool.consumer("p", Start::Earliest).expect("consumer");
        model.check(&c)?;
    }
}
