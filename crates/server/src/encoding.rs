//! Request bodies sent with `Content-Encoding` (interface.md section 2): `gzip` (what the
//! RudderStack SDKs send by default) and `deflate` are inflated as a stream, and inflating stops
//! one byte past the limit, so a body that inflates past it costs at most the limit in memory and
//! is a 413 whatever its compressed size (a "gzip bomb" of 512 KiB could otherwise become
//! gigabytes). Any other coding is a 415 that names it.

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use hyper::header::HeaderMap;
use std::fmt;
use std::io::Read;

/// A content coding the gateway can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// No coding (no header, or `identity`).
    Identity,
    /// `gzip` or `x-gzip`, one member or several.
    Gzip,
    /// `deflate`: zlib-wrapped as HTTP says, or raw deflate as some clients send it.
    Deflate,
}

impl Coding {
    /// The coding's name as the header spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A coding the gateway does not know (415); carries the header's value, cut to 64 bytes.
    Unsupported(String),
    /// The inflated body is over the limit (413); inflating stopped there.
    TooLarge {
        /// The limit, in inflated bytes.
        limit: usize,
    },
    /// The bytes are not valid for their coding (400).
    Corrupt {
        /// The coding that failed.
        coding: Coding,
        /// What the decoder said.
        why: String,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Unsupported(name) => write!(
                f,
                "Content-Encoding `{name}` is not supported: send gzip, deflate or identity"
            ),
            DecodeError::TooLarge { limit } => {
                write!(f, "body is over the limit of {limit} bytes once inflated")
            }
            DecodeError::Corrupt { coding, why } => {
                write!(f, "the body is not valid {}: {why}", coding.as_str())
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// The request's coding, from its `Content-Encoding` header(s).
///
/// # Errors
///
/// [`DecodeError::Unsupported`] for an unknown coding, a header that is not text, or more than
/// one coding applied in turn (no SDK stacks them).
pub fn coding_of(headers: &HeaderMap) -> Result<Coding, DecodeError> {
    let mut found = Coding::Identity;
    for value in headers.get_all(hyper::header::CONTENT_ENCODING) {
        let Ok(text) = value.to_str() else {
            return Err(DecodeError::Unsupported(
                String::from_utf8_lossy(value.as_bytes())
                    .chars()
                    .take(64)
                    .collect(),
            ));
        };
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let coding = if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip")
            {
                Coding::Gzip
            } else if name.eq_ignore_ascii_case("deflate") {
                Coding::Deflate
            } else if name.eq_ignore_ascii_case("identity") {
                continue;
            } else {
                return Err(DecodeError::Unsupported(name.chars().take(64).collect()));
            };
            if found != Coding::Identity {
                return Err(DecodeError::Unsupported(text.chars().take(64).collect()));
            }
            found = coding;
        }
    }
    Ok(found)
}

/// `body` decoded from `coding`, at most `limit` bytes of it.
///
/// # Errors
///
/// [`DecodeError::TooLarge`] once the output passes `limit` (never more than `limit + 1` bytes
/// are inflated), [`DecodeError::Corrupt`] for bytes that are not of the coding.
pub fn decode(coding: Coding, body: &[u8], limit: usize) -> Result<Option<Vec<u8>>, DecodeError> {
    let reader: Box<dyn Read + '_> = match coding {
        Coding::Identity => return Ok(None),
        Coding::Gzip => Box::new(MultiGzDecoder::new(body)),
        Coding::Deflate if is_zlib(body) => Box::new(ZlibDecoder::new(body)),
        Coding::Deflate => Box::new(DeflateDecoder::new(body)),
    };
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit + 1));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt {
            coding,
            why: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(Some(out))
}

/// Whether `body` starts with a zlib header (RFC 1950: deflate method, and the check bits).
fn is_zlib(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use std::io::Write;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            hyper::header::CONTENT_ENCODING,
            value.parse().expect("header"),
        );
        h
    }

    #[test]
    fn codings_are_named_case_insensitively_and_unknown_ones_refused() {
        assert_eq!(coding_of(&HeaderMap::new()), Ok(Coding::Identity));
        assert_eq!(coding_of(&headers("GZip")), Ok(Coding::Gzip));
        assert_eq!(coding_of(&headers("x-gzip")), Ok(Coding::Gzip));
        assert_eq!(coding_of(&headers("deflate")), Ok(Coding::Deflate));
        assert_eq!(coding_of(&headers("identity")), Ok(Coding::Identity));
        assert_eq!(
            coding_of(&headers("br")),
            Err(DecodeError::Unsupported("br".into()))
        );
        assert!(matches!(
            coding_of(&headers("gzip, gzip")),
            Err(DecodeError::Unsupported(_))
        ));
    }

    #[test]
    fn gzip_zlib_and_raw_deflate_inflate() {
        let text = br#"{"batch":[]}"#;
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(text).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert_eq!(
            decode(Coding::Gzip, &gz, 100),
            Ok(Some(text.to_vec())),
            "gzip"
        );
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(text).expect("zlib");
        let z = z.finish().expect("zlib");
        assert_eq!(decode(Coding::Deflate, &z, 100), Ok(Some(text.to_vec())));
        let mut d = DeflateEncoder::new(Vec::new(), Compression::default());
        d.write_all(text).expect("deflate");
        let d = d.finish().expect("deflate");
        assert_eq!(decode(Coding::Deflate, &d, 100), Ok(Some(text.to_vec())));
        assert!(matches!(
            decode(Coding::Gzip, b"not gzip", 100),
            Err(DecodeError::Corrupt { .. })
        ));
    }

    #[test]
    fn inflating_stops_at_the_limit() {
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&vec![b' '; 1 << 20]).expect("gzip");
        let gz = gz.finish().expect("gzip");
        assert!(gz.len() < 4096, "a bomb: {} bytes", gz.len());
        assert_eq!(
            decode(Coding::Gzip, &gz, 1000),
            Err(DecodeError::TooLarge { limit: 1000 })
        );
        assert_eq!(
            decode(Coding::Gzip, &gz, 1 << 20).map(|b| b.map(|b| b.len())),
            Ok(Some(1 << 20)),
            "exactly at the limit is accepted"
        );
    }
}
