//! Writing JSON by hand into a reused buffer: strings escaped while they are copied, numbers with
//! `itoa` and `ryu`, tape values written out in one pass.
//!
//! This is what makes mapping allocation-free: no intermediate tree, no `serde_json::Value`.

use crate::tape::Val;
use simd_json::{Node, StaticNode};

/// Bytes that must be escaped inside a JSON string: `"`, `\` and the control characters.
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Appends `s` as a quoted JSON string.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// Appends the escaped characters of `s`, without quotes.
#[inline(always)]
pub fn write_str_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    // The common case: nothing to escape, one copy.
    if is_clean(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    write_escaped(out, bytes);
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that may need escaping is set in the result (yes/no
/// exact, for any byte values: the "has a byte less than n" test of Bit Twiddling Hacks, for
/// `< 0x20`, `== '"'` and `== '\\'`). Eight bytes in a dozen instructions instead of a
/// compare and branch per byte.
#[inline(always)]
fn dirty_bits(w: u64) -> u64 {
    let q = w ^ (ONES * u64::from(b'"'));
    let s = w ^ (ONES * u64::from(b'\\'));
    ((w.wrapping_sub(ONES * 0x20) & !w) | (q.wrapping_sub(ONES) & !q) | (s.wrapping_sub(ONES) & !s))
        & HIGH
}

/// True when no byte of `b` needs escaping: eight bytes at a time, the last eight (or four)
/// read overlapping the ones before rather than byte by byte.
#[inline]
fn is_clean(b: &[u8]) -> bool {
    let n = b.len();
    if n >= 8 {
        let (words, _) = b.as_chunks::<8>();
        let mut acc = 0;
        for w in words {
            acc |= dirty_bits(u64::from_le_bytes(*w));
        }
        if let Some(last) = b.last_chunk::<8>() {
            acc |= dirty_bits(u64::from_le_bytes(*last));
        }
        acc == 0
    } else if n >= 4 {
        let (Some(first), Some(last)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) else {
            return false;
        };
        let w = u64::from(u32::from_le_bytes(*first)) | u64::from(u32::from_le_bytes(*last)) << 32;
        dirty_bits(w) == 0
    } else {
        !b.iter().any(|&c| needs_escape(c))
    }
}

#[cold]
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends a JSON number or literal.
#[inline]
pub fn write_static(out: &mut Vec<u8>, s: StaticNode) {
    match s {
        StaticNode::I64(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        StaticNode::U64(u) => out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes()),
        StaticNode::F64(f) => write_f64(out, f),
        StaticNode::Bool(true) => out.extend_from_slice(b"true"),
        StaticNode::Bool(false) => out.extend_from_slice(b"false"),
        StaticNode::Null => out.extend_from_slice(b"null"),
    }
}

/// Appends a float; non-finite values (never produced by parsing JSON) become `null`.
#[inline]
pub fn write_f64(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Appends an integer.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// Appends a whole tape value (object, array or scalar) as compact JSON.
pub fn write_val(out: &mut Vec<u8>, v: Val<'_, '_>) {
    write_nodes(out, v.nodes());
}

/// Writes the value at the head of `nodes`; returns how many nodes it used.
fn write_nodes(out: &mut Vec<u8>, nodes: &[Node<'_>]) -> usize {
    match nodes[0] {
        Node::String(s) => {
            write_str(out, s);
            1
        }
        Node::Static(s) => {
            write_static(out, s);
            1
        }
        Node::Object { len, count } => {
            out.push(b'{');
            let mut i = 1;
            for n in 0..len {
                if n > 0 {
                    out.push(b',');
                }
                if let Node::String(k) = nodes[i] {
                    write_str(out, k);
                }
                out.push(b':');
                i += 1;
                i += write_nodes(out, &nodes[i..]);
            }
            out.push(b'}');
            count + 1
        }
        Node::Array { len, count } => {
            out.push(b'[');
            let mut i = 1;
            for n in 0..len {
                if n > 0 {
                    out.push(b',');
                }
                i += write_nodes(out, &nodes[i..]);
            }
            out.push(b']');
            count + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_what_json_requires() {
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            r#""a\"b\\c\nd\u0001é""#
        );
    }

    #[test]
    fn tape_values_round_trip() {
        let src = r#"{"a":[1,-2,3.5,true,null,"x\"y"],"b":{"c":{}},"d":[]}"#;
        let mut buf = src.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut buf).expect("valid");
        let mut out = Vec::new();
        write_nodes(&mut out, &tape.0);
        assert_eq!(String::from_utf8(out).expect("utf8"), src);
    }

    proptest! {
        #[test]
        fn any_string_survives_escaping(s in "\\PC*|[\\x00-\\x1f\"\\\\]*") {
            let mut out = Vec::new();
            write_str(&mut out, &s);
            let back: String = serde_json::from_slice(&out).expect("valid JSON string");
            prop_assert_eq!(back, s);
        }

        /// The word-at-a-time check finds a byte that needs escaping wherever it sits,
        /// next to any other bytes (UTF-8 lead and continuation bytes included).
        #[test]
        fn the_clean_check_agrees_with_the_byte_rule(
            b in proptest::collection::vec(
                prop_oneof![Just(0u8), Just(0x1f), Just(0x20), Just(b'"'), Just(b'\\'),
                    Just(0x21), Just(0x5d), Just(0x7f), Just(0x80), Just(0xff), any::<u8>()],
                0..40,
            )
        ) {
            prop_assert_eq!(is_clean(&b), !b.iter().any(|&c| needs_escape(c)));
        }
    }
}
