//! The spool's size cap: a full spool refuses appends (nothing is dropped to make room), and once
//! what it holds is delivered and acknowledged it takes appends again, whatever the cap is next to
//! the segment size.

use signal_spool::{Consumer, Spool, SpoolConfig, Start};

/// Reads and acknowledges everything `c` has.
fn ack_all(c: &mut Consumer) {
    loop {
        let got = c.read(1000).expect("read");
        if got.is_empty() {
            return;
        }
        for r in got {
            c.ack(r.receipt()).expect("ack");
        }
    }
}

#[test]
fn a_cap_below_the_segment_size_takes_appends_again_once_everything_is_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = SpoolConfig::new(dir.path());
    cfg.max_bytes = 2 << 20; // far below the default 64 MiB segment
    let spool = Spool::open(cfg).expect("open");
    let mut c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    let rec = vec![b'x'; 100 << 10];
    let mut full = 0;
    for _ in 0..60 {
        match spool.append(vec![rec.clone()]).wait() {
            Ok(_) => {}
            Err(e) => {
                assert!(e.is_full(), "{e}");
                full += 1;
            }
        }
    }
    assert!(full > 0, "60 records of 100 KiB fill a 2 MiB spool");
    ack_all(&mut c);
    for i in 0..60 {
        spool
            .append(vec![rec.clone()])
            .wait()
            .unwrap_or_else(|e| panic!("append {i} after everything was acknowledged: {e}"));
        ack_all(&mut c);
    }
    drop(c);
    spool.close();
}

#[test]
fn a_request_nearly_as_large_as_the_cap_is_taken_once_the_spool_is_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = SpoolConfig::new(dir.path());
    cfg.max_bytes = 64 << 10;
    let spool = Spool::open(cfg).expect("open");
    let mut c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    spool.append(vec![vec![b's'; 1000]]).wait().expect("small");
    ack_all(&mut c);
    // 63 KiB of records: it fits only once the acknowledged segment is out of the way.
    let big: Vec<Vec<u8>> = (0..3).map(|_| vec![b'b'; 21 << 10]).collect();
    spool
        .append(big.clone())
        .wait()
        .expect("big, after the small was acknowledged");
    ack_all(&mut c);
    spool.append(big).wait().expect("big again");
    drop(c);
    spool.close();
}

#[test]
fn a_full_spool_refuses_appends_until_its_records_are_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = SpoolConfig::new(dir.path());
    cfg.max_bytes = 64 << 10;
    let spool = Spool::open(cfg).expect("open");
    let mut c = spool.consumer("pendo", Start::Earliest).expect("consumer");
    let rec = vec![b'x'; 10 << 10];
    let mut taken = Vec::new();
    loop {
        match spool.append(vec![rec.clone()]).wait() {
            Ok(range) => taken.push(range.start),
            Err(e) => {
                assert!(e.is_full(), "{e}");
                break;
            }
        }
        assert!(
            taken.len() < 10,
            "a 64 KiB cap holds fewer than ten 10 KiB records"
        );
    }
    // Nothing acknowledged: still full, and nothing was dropped to make room.
    let again = spool.append(vec![rec.clone()]).wait();
    assert!(again.is_err_and(|e| e.is_full()), "still full");
    let read: Vec<u64> = c.read(100).expect("read").iter().map(|r| r.seq).collect();
    assert_eq!(read, taken, "every record taken is there");
    drop(c);
    spool.close();
}
