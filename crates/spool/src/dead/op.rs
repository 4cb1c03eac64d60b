//! The operations of a dead-letter log as bytes: `ADD` (a dead letter: id, time, attempts,
//! vendor status, reason, vendor body, the event) and `REMOVE` (an id). Each is framed on disk as
//! the spool's records are (`record.rs`: length, CRC, a sequence number, the bytes). The layout is
//! the first version's, so logs written before stay readable.

use super::DeadLetterInfo;

pub(super) const ADD: u8 = 1;
pub(super) const REMOVE: u8 = 2;

/// The longest reason kept, in bytes (longer ones are cut at a character boundary).
pub(super) const MAX_REASON: usize = 1 << 10;
/// The longest vendor body kept, in bytes.
pub(super) const MAX_BODY: usize = 64 << 10;

/// An `ADD` as read back, borrowing the frame's bytes.
pub(super) struct Add<'a> {
    pub id: u64,
    pub at_ms: u64,
    pub attempts: u32,
    pub status: u16,
    pub reason: &'a str,
    pub body: &'a str,
    pub payload: &'a [u8],
}

/// What one operation says.
pub(super) enum Op<'a> {
    Add(Add<'a>),
    Remove(u64),
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(super) fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// An `ADD`; the reason and body are cut to their limits.
pub(super) fn encode_add(id: u64, at_ms: u64, info: &DeadLetterInfo, payload: &[u8]) -> Vec<u8> {
    let reason = cut(&info.reason, MAX_REASON);
    let body = cut(&info.body, MAX_BODY);
    let mut out =
        Vec::with_capacity(1 + 8 + 8 + 4 + 2 + 12 + reason.len() + body.len() + payload.len());
    out.push(ADD);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&at_ms.to_le_bytes());
    out.extend_from_slice(&info.attempts.to_le_bytes());
    out.extend_from_slice(&info.status.unwrap_or(0).to_le_bytes());
    put(&mut out, reason.as_bytes());
    put(&mut out, body.as_bytes());
    put(&mut out, payload);
    out
}

/// A `REMOVE`.
pub(super) fn encode_remove(id: u64) -> Vec<u8> {
    let mut out = vec![REMOVE];
    out.extend_from_slice(&id.to_le_bytes());
    out
}

/// Reads an operation; `None` for one this version does not know or that does not parse.
pub(super) fn decode(p: &[u8]) -> Option<Op<'_>> {
    let (&op, mut rest) = p.split_first()?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let id = u64::from_le_bytes(take(8)?.try_into().ok()?);
    match op {
        REMOVE => return Some(Op::Remove(id)),
        ADD => {}
        _ => return None,
    }
    let at_ms = u64::from_le_bytes(take(8)?.try_into().ok()?);
    let attempts = u32::from_le_bytes(take(4)?.try_into().ok()?);
    let status = u16::from_le_bytes(take(2)?.try_into().ok()?);
    let mut field = || -> Option<&[u8]> {
        let n = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        take(n)
    };
    let reason = std::str::from_utf8(field()?).ok()?;
    let body = std::str::from_utf8(field()?).ok()?;
    let payload = field()?;
    Some(Op::Add(Add {
        id,
        at_ms,
        attempts,
        status,
        reason,
        body,
        payload,
    }))
}

impl Add<'_> {
    /// The dead letter this `ADD` holds, copied out.
    pub fn to_letter(&self) -> super::DeadLetter {
        super::DeadLetter {
            id: self.id,
            payload: self.payload.to_vec(),
            info: DeadLetterInfo {
                reason: self.reason.to_owned(),
                status: (self.status != 0).then_some(self.status),
                body: self.body.to_owned(),
                attempts: self.attempts,
            },
            at_ms: self.at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_add_reads_back_with_its_long_fields_cut() {
        let info = DeadLetterInfo {
            reason: "é".repeat(MAX_REASON),
            status: Some(400),
            body: "b".repeat(MAX_BODY + 10),
            attempts: 3,
        };
        let bytes = encode_add(7, 99, &info, b"event");
        let Some(Op::Add(add)) = decode(&bytes) else {
            panic!("an ADD")
        };
        assert_eq!(
            (add.id, add.at_ms, add.attempts, add.status),
            (7, 99, 3, 400)
        );
        assert!(add.reason.len() <= MAX_REASON && add.reason.starts_with('é'));
        assert_eq!(add.body.len(), MAX_BODY);
        assert_eq!(add.payload, b"event");
        assert!(matches!(decode(&encode_remove(7)), Some(Op::Remove(7))));
        assert!(decode(&bytes[..bytes.len() - 1]).is_none(), "cut short");
    }
}
