//! A `.tmk` file as text: standard base64 (RFC 4648, with padding) of its
//! 263,344 bytes. That is how a TMK+PDQF value travels in our text list
//! formats (CSV, signal lines, JSONL): the binary file is what Meta's tools
//! and the exchanges hand around, so the text form is that file, losslessly.

use super::error::TmkFileError;
use super::file::TmkHash;
use super::params::FILE_SIZE;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Length of the text form of any TMK+PDQF value.
pub const TEXT_LEN: usize = FILE_SIZE.div_ceil(3) * 4;

/// Why a text value is not a TMK+PDQF hash.
#[derive(Debug, thiserror::Error)]
pub enum TmkTextError {
    #[error("TMK value: {len} characters, a base64 .tmk file has {TEXT_LEN}")]
    Length { len: usize },
    #[error("TMK value: invalid base64 character {ch:?} at {pos}")]
    Character { ch: char, pos: usize },
    #[error(transparent)]
    File(#[from] TmkFileError),
}

/// Standard base64 with padding.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn sextet(c: u8, pos: usize) -> Result<u32, TmkTextError> {
    Ok(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return Err(TmkTextError::Character { ch: c as char, pos }),
    }
    .into())
}

/// Decode standard base64 (padding required: the length is fixed).
fn decode(text: &str) -> Result<Vec<u8>, TmkTextError> {
    let b = text.as_bytes();
    if b.len() % 4 != 0 {
        return Err(TmkTextError::Length { len: b.len() });
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (q, quad) in b.chunks(4).enumerate() {
        let last = (q + 1) * 4 == b.len();
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            let pos = q * 4 + quad.iter().position(|&c| c == b'=').unwrap_or(0);
            return Err(TmkTextError::Character { ch: '=', pos });
        }
        let mut n = 0u32;
        for (i, &c) in quad[..4 - pad].iter().enumerate() {
            n |= sextet(c, q * 4 + i)? << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(out)
}

impl TmkHash {
    /// The text form: base64 of the file bytes.
    pub fn to_text(&self) -> String {
        encode(&self.to_bytes())
    }

    /// Read the text form (surrounding whitespace ignored), with every check
    /// of [`TmkHash::from_bytes`].
    pub fn from_text(text: &str) -> Result<TmkHash, TmkTextError> {
        let text = text.trim();
        if text.len() != TEXT_LEN {
            return Err(TmkTextError::Length { len: text.len() });
        }
        Ok(TmkHash::from_bytes(&decode(text)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_every_tail_length() {
        for n in 0..8 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 77 + 3) as u8).collect();
            let t = encode(&bytes);
            assert_eq!(decode(&t).unwrap(), bytes, "{t}");
        }
        assert_eq!(encode(b"Man"), "TWFu");
        assert_eq!(encode(b"Ma"), "TWE=");
        assert_eq!(encode(b"M"), "TQ==");
        assert!(matches!(
            decode("TW=u"),
            Err(TmkTextError::Character { pos: 2, .. })
        ));
        assert!(matches!(
            decode("TW*u"),
            Err(TmkTextError::Character { ch: '*', .. })
        ));
        assert!(matches!(
            decode("TWE"),
            Err(TmkTextError::Length { len: 3 })
        ));
    }

    #[test]
    fn a_hash_survives_its_text_form() {
        let mut acc = super::super::TmkAccumulator::new();
        let f: super::super::Feature = std::array::from_fn(|i| (i as f32 * 0.37).sin() * 50.0);
        acc.push(&f).unwrap();
        let h = acc.finish();
        let t = h.to_text();
        assert_eq!(t.len(), TEXT_LEN);
        assert_eq!(TmkHash::from_text(&format!(" {t}\n")).unwrap(), h);
        assert!(matches!(
            TmkHash::from_text(&t[4..]),
            Err(TmkTextError::Length { .. })
        ));
    }
}
