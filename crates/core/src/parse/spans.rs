//! Each event's byte range in a batch, from simd-json's structural indexes, so that the
//! per-event size limit costs no second scan of the body.

use crate::tape::Val;
use simd_json::Node;
use std::ops::Range;

/// Finds the byte range of each element of the batch array from simd-json's structural indexes,
/// so that an event's size is checked against its limit without scanning the body again.
///
/// The input itself is borrowed by the tape, so the tape is walked beside the structural stream:
/// a scalar is one structural (its first byte), an object of `n > 0` keys is `3n + 1` plus its
/// values' (`{`, each key and `:`, the commas, `}`), an array of `n > 0` elements `n + 1` plus
/// its elements'; empty ones are two.
pub(super) fn batch_spans(
    nodes: &[Node<'_>],
    structurals: &[u32],
    array: usize,
    spans: &mut Vec<Range<u32>>,
) {
    spans.clear();
    let Some(root) = Val(nodes).as_obj() else {
        return;
    };
    // Structural 0 is the root `{`; each pair before `batch` is its key, `:`, the value and a `,`.
    let mut s = 1;
    let mut at = 1;
    for (_, v) in root.iter() {
        if at + 1 == array {
            break;
        }
        s += 3 + structural_count(v.nodes());
        at += 1 + v.nodes().len();
    }
    // Skip the `batch` key and its `:`; `s` is now at the array's `[`.
    s += 2;
    let Some(arr) = Val(&nodes[array..]).as_arr() else {
        return;
    };
    s += 1;
    for element in arr.iter() {
        let n = structural_count(element.nodes());
        let start = structurals.get(s).copied().unwrap_or(0);
        let end = match element.node() {
            Node::Object { .. } | Node::Array { .. } => structurals.get(s + n - 1).map(|&e| e + 1),
            _ => structurals.get(s + n).copied(),
        }
        .unwrap_or(start);
        spans.push(start..end);
        s += n + 1;
    }
}

fn structural_count(nodes: &[Node<'_>]) -> usize {
    let v = Val(nodes);
    match *v.node() {
        Node::Object { len: 0, .. } | Node::Array { len: 0, .. } => 2,
        Node::Object { len, .. } => {
            let inner: usize = v.as_obj().map_or(0, |o| {
                o.iter().map(|(_, c)| structural_count(c.nodes())).sum()
            });
            3 * len + 1 + inner
        }
        Node::Array { len, .. } => {
            let inner: usize = v
                .as_arr()
                .map_or(0, |a| a.iter().map(|c| structural_count(c.nodes())).sum());
            len + 1 + inner
        }
        _ => 1,
    }
}
