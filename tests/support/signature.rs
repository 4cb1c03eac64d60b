//! What a client signs with, worked out apart from the node's own code: shared by the server's
//! signature tests and the end-to-end harness (each includes this file with `#[path]`).

use hmac::{KeyInit, Mac};

/// `sha256=<hex>` of an HMAC-SHA256 over `timestamp.body` with `key`.
pub fn signature(key: &[u8], ts: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}
