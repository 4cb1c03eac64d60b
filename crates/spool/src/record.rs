//! The on-disk record: `[len u32][crc32 u32][seq u64][payload]`, little-endian, the CRC over
//! `seq` and the payload. A record whose length is impossible, whose bytes are cut short, or
//! whose CRC does not match is never returned as data.

/// Bytes before the payload.
pub(crate) const HEADER: usize = 16;
/// The largest payload accepted (events are at most 32 KiB; batches are split into records).
pub const MAX_RECORD: usize = 1 << 20;

/// Appends one framed record to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, seq: u64, payload: &[u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(payload);
}

/// What the bytes at some offset hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded<'a> {
    /// A whole, valid record: its sequence number, payload and total size.
    Record {
        seq: u64,
        payload: &'a [u8],
        size: usize,
    },
    /// Not enough bytes for the record the header announces (a torn write, or more to read).
    Short,
    /// Bytes that are not a valid record.
    Corrupt(&'static str),
}

/// Decodes the record at the start of `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Decoded<'_> {
    let Some(header) = bytes.get(..HEADER) else {
        return Decoded::Short;
    };
    let word = |i: usize| [header[i], header[i + 1], header[i + 2], header[i + 3]];
    let len = u32::from_le_bytes(word(0)) as usize;
    let crc = u32::from_le_bytes(word(4));
    let mut seq_bytes = [0u8; 8];
    seq_bytes.copy_from_slice(&header[8..16]);
    let seq = u64::from_le_bytes(seq_bytes);
    if len > MAX_RECORD {
        return Decoded::Corrupt("impossible record length");
    }
    let Some(payload) = bytes.get(HEADER..HEADER + len) else {
        return Decoded::Short;
    };
    let mut h = crc32fast::Hasher::new();
    h.update(&seq_bytes);
    h.update(payload);
    if h.finalize() != crc {
        return Decoded::Corrupt("checksum mismatch");
    }
    if seq == 0 {
        return Decoded::Corrupt("sequence number 0");
    }
    Decoded::Record {
        seq,
        payload,
        size: HEADER + len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn what_is_encoded_decodes(seq in 1u64.., payload in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            encode(&mut out, seq, &payload);
            prop_assert_eq!(decode(&out), Decoded::Record { seq, payload: &payload, size: out.len() });
            // Every strict prefix is short, never a record.
            for cut in 0..out.len() {
                prop_assert_eq!(decode(&out[..cut]), Decoded::Short);
            }
        }

        #[test]
        fn any_flipped_bit_is_caught(seq in 1u64..1000, payload in prop::collection::vec(any::<u8>(), 1..100), bit in 0usize..800) {
            let mut out = Vec::new();
            encode(&mut out, seq, &payload);
            let bit = bit % (out.len() * 8);
            out[bit / 8] ^= 1 << (bit % 8);
            let same = matches!(decode(&out), Decoded::Record { seq: s, payload: p, .. } if s == seq && p == &payload[..]);
            prop_assert!(!same, "a damaged record decoded as the original");
        }
    }
}
