use super::*;
use crate::prepared::join;
use std::time::Duration;

fn f(k: &str, v: &str) -> (Bytes, Bytes) {
    (Bytes::from(format!("\"{k}\"")), Bytes::from(v.to_owned()))
}

fn merge(id: &str, fields: Vec<(Bytes, Bytes)>) -> JobBody {
    JobBody::Merge {
        id: id.into(),
        fields,
    }
}

fn limits(max_items: usize, max_bytes: Option<usize>) -> Limits {
    Limits {
        max_items,
        max_bytes,
        linger: Duration::from_millis(250),
    }
}

fn jobs(pieces: &[Piece]) -> Vec<u64> {
    pieces.iter().flat_map(|p| p.jobs.iter().copied()).collect()
}

#[test]
fn records_of_one_id_merge_and_the_later_wins() {
    let now = Instant::now();
    let mut b = Batcher::new(Some(("visitorId".into(), "values".into())));
    b.push(
        1,
        merge("u1", vec![f("plan", "\"free\""), f("seats", "1")]),
        None,
        now,
    );
    b.push(2, merge("u2", vec![f("plan", "\"pro\"")]), None, now);
    b.push(
        3,
        merge(
            "u1",
            vec![f("plan", "\"pro\""), f("role_custom", "\"admin\"")],
        ),
        None,
        now,
    );
    assert_eq!(b.len(), 2);
    let pieces = b.take(&limits(500, None), 2);
    let body = join(b"[", &pieces, b"]");
    assert_eq!(
        std::str::from_utf8(&body).expect("utf8"),
        r#"[{"visitorId":"u1","values":{"plan":"pro","seats":1,"role_custom":"admin"}},{"visitorId":"u2","values":{"plan":"pro"}}]"#
    );
    assert_eq!(jobs(&pieces), [1, 3, 2]);
    assert!(b.take(&limits(500, None), 2).is_empty());
}

#[test]
fn a_batch_holds_at_most_max_records() {
    let now = Instant::now();
    let mut b = Batcher::new(Some(("accountId".into(), "values".into())));
    for i in 0..1200 {
        b.push(i, merge(&format!("a{i}"), vec![f("n", "1")]), None, now);
    }
    let sizes: Vec<usize> = std::iter::from_fn(|| {
        let p = b.take(&limits(500, None), 2);
        (!p.is_empty()).then(|| jobs(&p).len())
    })
    .collect();
    assert_eq!(sizes, [500, 500, 200]);
}

#[test]
fn a_batch_stays_under_max_bytes_and_an_oversized_item_goes_alone() {
    let now = Instant::now();
    let mut b = Batcher::new(None);
    // Items of 10 bytes; an envelope of 20; at most 55 bytes: 20 + 10 + 1 + 10 + 1 + 10 = 52.
    for i in 0..5 {
        b.push(
            i,
            JobBody::Item(Bytes::from(format!("{{\"n\":{:04}}}", i))),
            None,
            now,
        );
    }
    b.push(9, JobBody::Item(Bytes::from(vec![b'x'; 100])), None, now);
    let l = limits(100, Some(55));
    assert!(b.due(&l, 20, now), "more bytes than a request holds");
    let mut sizes = Vec::new();
    loop {
        let p = b.take(&l, 20);
        if p.is_empty() {
            break;
        }
        let body = join(&[b'.'; 19], &p, b"]");
        assert!(body.len() <= 55 || p.len() == 1, "{} bytes", body.len());
        sizes.push(jobs(&p));
    }
    assert_eq!(sizes, [vec![0, 1, 2], vec![3, 4], vec![9]]);
}

#[test]
fn a_batch_is_due_when_full_or_after_the_linger() {
    let now = Instant::now();
    let mut b = Batcher::new(None);
    let l = limits(2, None);
    assert!(!b.due(&l, 2, now));
    b.push(1, JobBody::Item(Bytes::from_static(b"{}")), None, now);
    assert!(!b.due(&l, 2, now));
    assert!(b.due(&l, 2, now + Duration::from_millis(250)));
    b.push(2, JobBody::Item(Bytes::from_static(b"{}")), None, now);
    assert!(b.due(&l, 2, now));
}
