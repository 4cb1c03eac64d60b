//! Records of both versions read into the same events; what is not re-checked in version 2;
//! records that cannot be read, named.

use super::*;
use crate::sample::Samples;
use crate::{Mapped, Mapper, MemoryIdentity};

const RECEIVED: i64 = 1_764_140_100_000;

/// A version 1 record of `event` as the gateway writes it, with a batch context.
fn v1(event: &[u8]) -> Vec<u8> {
    let mut rec = format!(
        "{{\"receivedAt\":{RECEIVED},\"sourceId\":\"web\",\"context\":{{\"ip\":\"127.0.0.1\",\
         \"userAgent\":\"okhttp\",\"groupId\":\"acme\"}},\"batch\":["
    )
    .into_bytes();
    rec.extend_from_slice(event);
    rec.extend_from_slice(b"]}");
    rec
}

/// The version 2 record of the same: its header from the event as validated, then `v1`.
fn v2(event: &[u8]) -> Vec<u8> {
    let json = v1(event);
    let mut parser = Parser::new();
    let mut buf = event.to_vec();
    let doc = parser.parse(&mut buf, Shape::Event(None)).expect("valid");
    let ev = doc.event(0).expect("valid");
    let mut rec = Vec::new();
    write_header(&mut rec, &ev, RECEIVED);
    rec.extend_from_slice(&json);
    rec
}

/// The request bodies `record` maps to with Pendo (none when dropped).
fn mapped(reader: &mut Reader, mapper: &mut Mapper, record: &[u8]) -> Vec<Vec<u8>> {
    let mut buf = record.to_vec();
    let decoded = reader.read(&mut buf).expect("read");
    let ev = decoded.event().expect("event");
    match mapper.map(&ev, &MemoryIdentity::new(), RECEIVED).outcome {
        Mapped::Send(items) => items.iter().map(|i| i.body.to_vec()).collect(),
        Mapped::Dropped(_) => Vec::new(),
    }
}

#[test]
fn both_versions_of_the_sample_mix_map_to_the_same_requests() {
    let mut reader = Reader::new();
    let mut mapper = Mapper::from_config(
        "pendo",
        &serde_json::json!({"api_key": "a", "integration_key": "k"}),
    )
    .expect("valid");
    let mut sent = 0;
    for event in Samples::new(7).take(300) {
        let (old, new) = (v1(&event), v2(&event));
        assert_eq!(json(&new), &old[..], "the JSON is the version 1 record's");
        let a = mapped(&mut reader, &mut mapper, &old);
        let b = mapped(&mut reader, &mut mapper, &new);
        assert_eq!(a, b, "{}", String::from_utf8_lossy(&event));
        sent += usize::from(!a.is_empty());
    }
    assert!(sent > 250, "most of the mix is sent: {sent}");
}

#[test]
fn a_version_2_record_keeps_the_events_timestamps_and_own_sent_at() {
    let event = br#"{"type":"track","event":"E","userId":"u","timestamp":"2025-11-26T07:00:00.000Z","sentAt":"2025-11-26T07:10:00.000Z"}"#;
    let mut reader = Reader::new();
    let mut buf = v2(event);
    let decoded = reader.read(&mut buf).expect("read");
    assert_eq!(decoded.version(), 2);
    let ev = decoded.event().expect("event");
    assert_eq!(ev.kind, EventType::Track);
    assert_eq!(ev.timestamp, Some(1_764_140_400_000));
    assert_eq!(ev.sent_at, Some(1_764_141_000_000));
    assert_eq!(ev.received_at, Some(RECEIVED));
    assert_eq!(
        ev.context.group_id.map(|g| g.as_str().to_owned()),
        Some("acme".into())
    );
    assert_eq!(ev.context.ip, Some("127.0.0.1"));
}

#[test]
fn a_version_2_record_is_not_validated_again() {
    // What the gateway would refuse, with a header as if it had accepted it: delivery trusts
    // the header and does not re-run the duplicate-key walk, the timestamp parse or the rules.
    let json =
        v1(br#"{"type":"track","userId":"","timestamp":"not a date","properties":{"a":1,"a":2}}"#);
    let mut rec = vec![VERSION_2, HAS_TIMESTAMP, 0x01];
    rec.extend_from_slice(&json);
    let mut reader = Reader::new();
    let mut buf = rec.clone();
    {
        let decoded = reader.read(&mut buf).expect("read");
        let ev = decoded.event().expect("not validated");
        assert_eq!(ev.timestamp, Some(RECEIVED - 1), "from the header");
        assert_eq!(ev.event, None);
    }
    // The same JSON as version 1 is validated whole.
    let mut old = json.clone();
    let e = match reader.read(&mut old) {
        Ok(d) => d.event().map(drop).expect_err("invalid"),
        Err(e) => e,
    };
    assert!(
        e.to_string()
            .starts_with("the spooled record's event is invalid: batch[0]"),
        "{e}"
    );
}

/// The numbers spooled records carry: a record written today is read as the same type by every
/// later release (reordering `EventType` or `ALL` would misread them silently).
#[test]
fn each_event_type_keeps_its_number_in_version_2_records() {
    let pinned = [
        (EventType::Track, 0),
        (EventType::Page, 1),
        (EventType::Identify, 2),
        (EventType::Group, 3),
        (EventType::Screen, 4),
        (EventType::Alias, 5),
    ];
    for (kind, n) in pinned {
        assert_eq!(kind as u8, n);
        assert_eq!(
            EventType::ALL[usize::from(n)],
            kind,
            "ALL is in number order"
        );
    }
    // A version 2 page record, byte for byte as this release writes it (no timestamps): read
    // back as a page.
    let rec = v2(br#"{"type":"page","userId":"u"}"#);
    assert_eq!(&rec[..2], &[VERSION_2, 1]);
    let mut buf = rec.clone();
    let mut reader = Reader::new();
    let decoded = reader.read(&mut buf).expect("read");
    assert_eq!(decoded.event().expect("event").kind, EventType::Page);
}

#[test]
fn records_that_cannot_be_read_say_why() {
    let mut reader = Reader::new();
    let mut read = |bytes: &[u8]| {
        let mut buf = bytes.to_vec();
        match reader.read(&mut buf) {
            Ok(d) => d.event().map(drop).expect_err("unreadable").to_string(),
            Err(e) => e.to_string(),
        }
    };
    let good = v2(br#"{"type":"page","userId":"u"}"#);
    assert_eq!(
        read(b"\x07{\"receivedAt\":1}"),
        "the spooled record is of an unknown format (first byte 0x07; this node reads version \
         1, starting with `{`, and version 2, starting with 0x02)"
    );
    assert_eq!(read(b""), "the spooled record is empty");
    assert_eq!(
        read(&[VERSION_2]),
        "the spooled record's version 2 header is corrupt: no type byte"
    );
    assert_eq!(
        read(&[VERSION_2, HAS_TIMESTAMP, 0x80, 0x80]),
        "the spooled record's version 2 header is corrupt: a number cut short"
    );
    assert_eq!(
        read(&[VERSION_2, 7]),
        "the spooled record's version 2 header is corrupt: unknown event type"
    );
    assert_eq!(
        read(&[VERSION_2, 0x80 | 1, b'{', b'}']),
        "the spooled record's version 2 header is corrupt: unknown flags"
    );
    assert!(
        read(&good[..good.len() - 3])
            .starts_with("the spooled record does not parse: body: not valid JSON"),
        "a record cut short"
    );
    let mut wrong = good.clone();
    let at = wrong
        .windows(8)
        .position(|w| w == b"\"userId\"")
        .expect("userId");
    wrong.splice(at + 9..at + 12, b"{} ".iter().copied());
    assert_eq!(
        read(&wrong),
        "the spooled record's event is invalid: batch[0].userId: must be a string or a number"
    );
}

#[test]
fn the_header_is_a_few_bytes() {
    for event in Samples::new(9).take(50) {
        let rec = v2(&event);
        let header = rec.len() - json(&rec).len();
        assert!((2..=MAX_HEADER_BYTES).contains(&header), "{header}");
        assert!(
            header <= 8,
            "timestamps near receivedAt take few bytes: {header}"
        );
    }
    for v in [0, 1, -1, i64::MAX, i64::MIN, 1_764_140_100_000] {
        let mut out = Vec::new();
        write_varint(&mut out, zigzag(v));
        assert_eq!(read_varint(&out).map(|(u, _)| unzigzag(u)), Ok(v));
        assert!(out.len() <= 10);
    }
}

#[test]
fn a_record_damaged_anywhere_is_read_or_refused_never_a_panic() {
    let mut reader = Reader::new();
    let good = v2(br#"{"type":"group","groupId":"acme","userId":"u","traits":{"n":1},"timestamp":"2025-11-26T07:00:00.000Z"}"#);
    let mut refused = 0;
    for at in 0..good.len() {
        for byte in [0x00, 0x02, 0x80, 0xff, b'{', b'"', b'}', b'1'] {
            let mut bad = good.clone();
            bad[at] = byte;
            let mut cut = bad.clone();
            cut.truncate(at);
            for mut rec in [bad, cut] {
                let read = reader.read(&mut rec).and_then(|d| d.event().map(drop));
                refused += usize::from(read.is_err());
            }
        }
    }
    assert!(refused > good.len(), "most damage is refused: {refused}");
}
