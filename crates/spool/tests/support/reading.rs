//! Reading a consumer to the end, as the checks that compare whole logs do.

#![allow(dead_code)] // each test binary uses a different part

use signal_spool::{Consumer, Record};

/// Every record the consumer reads from where it stands until there are no more.
pub fn read_all(c: &mut Consumer) -> Vec<Record> {
    let mut out = Vec::new();
    loop {
        let got = c.read(1000).expect("read");
        if got.is_empty() {
            return out;
        }
        out.extend(got);
    }
}
