//! Dead letters as the spool's tests make them: numbered events of a chosen size, given up on
//! with the same reason, each checkable byte for byte when it is read back.

#![allow(dead_code)] // each test binary uses a different part

use signal_spool::{Consumer, DeadLetterInfo, Record, SpoolError};

/// Why every test letter was given up on.
pub fn info() -> DeadLetterInfo {
    DeadLetterInfo {
        reason: "vendor_rejected".into(),
        status: Some(400),
        body: "{\"error\":\"bad\"}".into(),
        attempts: 1,
    }
}

/// Event `seq`'s payload: `event-{seq}-` padded with dots to `size` bytes.
pub fn event(seq: u64, size: usize) -> Vec<u8> {
    let mut p = format!("event-{seq}-").into_bytes();
    p.resize(size, b'.');
    p
}

/// Gives up on event `seq` (of `size` bytes): what the spool answered.
pub fn try_dead_letter(c: &Consumer, seq: u64, size: usize) -> Result<(), SpoolError> {
    let record = Record {
        seq,
        payload: event(seq, size),
        replayed: false,
    };
    c.dead_letter(&record, info())
}
