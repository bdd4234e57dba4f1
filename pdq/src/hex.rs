//! Lowercase hex, the form in which the sharing programmes exchange hashes.
//!
//! Public because hashdb's digest types (MD5, SHA-256, BLAKE3) print and
//! parse the same way as [`crate::Pdq`]: one implementation, one error type.

use std::fmt;

/// Why a hex string could not be read as a hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string had the wrong number of hex digits for the signal type.
    #[error("expected {expected} hex digits, got {got}")]
    Length { expected: usize, got: usize },
    /// A character that is not a hex digit.
    #[error("invalid hex digit {ch:?} at position {pos}")]
    Digit { ch: char, pos: usize },
}

/// `N` bytes from `2 * N` hex digits (either case; surrounding whitespace
/// ignored).
pub fn decode_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let s = s.trim();
    if s.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            got: s.chars().count(),
        });
    }
    let mut out = [0u8; N];
    let bytes = s.as_bytes();
    for (i, byte) in out.iter_mut().enumerate() {
        let hi = hex_val(bytes[2 * i], 2 * i, s)?;
        let lo = hex_val(bytes[2 * i + 1], 2 * i + 1, s)?;
        *byte = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_val(b: u8, pos: usize, s: &str) -> Result<u8, HexError> {
    match b {
        b'0'..=b'9' => Ok(b - b'0'),
        b'a'..=b'f' => Ok(b - b'a' + 10),
        b'A'..=b'F' => Ok(b - b'A' + 10),
        _ => Err(HexError::Digit {
            ch: s[pos..].chars().next().unwrap_or('?'),
            pos,
        }),
    }
}

/// Write up to 64 bytes as lowercase hex without allocating.
pub fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 128];
    if bytes.len() > buf.len() / 2 {
        return Err(fmt::Error);
    }
    for (i, b) in bytes.iter().enumerate() {
        buf[2 * i] = DIGITS[(b >> 4) as usize];
        buf[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
    // Only ASCII hex digits were written.
    f.write_str(std::str::from_utf8(&buf[..2 * bytes.len()]).map_err(|_| fmt::Error)?)
}
