//! A TMK+PDQF value as text, in the two forms the exchanges' public
//! sources document, told apart by content:
//!
//! * **base64 of the `.tmk` file**: standard base64 (RFC 4648, with
//!   padding) of its 263,344 bytes, 351,128 characters. Tech Against
//!   Terrorism's Hash Verification API v2 takes a TMK `hash_value` as "a
//!   base-64 encoded TMK file"; it is also our own text form (CSV, signal
//!   lines, JSONL), since it is the file, losslessly.
//! * **ThreatExchange's `HASH_TMK` form**: the file's first 12 bytes as
//!   they are (the ASCII magics `TMK1FVECPDQF`), a `|`, then standard
//!   base64 of the other 263,332 bytes: 351,125 characters. Meta's
//!   ThreatExchange API is not 8-bit clean, so a `HASH_TMK` descriptor's
//!   `raw_indicator` is stored that way (Meta's reference client
//!   `te-tag-query`, `Utils.readTMKHashFromFile` / `outputTMKHashToFile`);
//!   python-threatexchange before 1.0 carried those strings unchanged as
//!   its `VideoTmkPdqfSignal`.
//!
//! NCMEC shares `TMK_PDQF` as a binary file (its hash-sharing API's "large
//! fingerprints", raw bytes at a per-entry URL), never as text: that is
//! the `.tmk` file itself ([`TmkHash::from_bytes`]). StopNCII's `VideoTMK`
//! `hashValue` is a JSON string whose encoding no public source states, so
//! no third form is guessed at here.

use super::error::TmkFileError;
use super::file::TmkHash;
use super::params::FILE_SIZE;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// The bytes ThreatExchange's form keeps as they are: the three magics.
const TE_PREFIX_BYTES: usize = 12;

/// Length of the base64 form of any TMK+PDQF value.
pub const TEXT_LEN: usize = FILE_SIZE.div_ceil(3) * 4;

/// Length of ThreatExchange's form of any TMK+PDQF value.
pub const THREATEXCHANGE_TEXT_LEN: usize =
    TE_PREFIX_BYTES + 1 + (FILE_SIZE - TE_PREFIX_BYTES).div_ceil(3) * 4;

/// The text forms of a TMK+PDQF value (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TmkTextForm {
    /// Base64 of the whole `.tmk` file (ours, TCAP's).
    Base64,
    /// ThreatExchange's `HASH_TMK`: `TMK1FVECPDQF|` and base64 of the rest.
    ThreatExchange,
}

impl TmkTextForm {
    /// Which form `text` (trimmed) is written in, from its content: a `|`
    /// after the 12 header characters is ThreatExchange's, anything else
    /// is read as base64 (whose own checks then say what is wrong).
    pub fn of(text: &str) -> TmkTextForm {
        if text.as_bytes().get(TE_PREFIX_BYTES) == Some(&b'|') {
            TmkTextForm::ThreatExchange
        } else {
            TmkTextForm::Base64
        }
    }

    fn describe(self) -> &'static str {
        match self {
            TmkTextForm::Base64 => "base64 of a .tmk file",
            TmkTextForm::ThreatExchange => "ThreatExchange's TMK1FVECPDQF|<base64>",
        }
    }
}

impl std::fmt::Display for TmkTextForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Why a text value is not a TMK+PDQF hash. Positions count characters of
/// the trimmed value from 0.
#[derive(Debug, thiserror::Error)]
pub enum TmkTextError {
    #[error("{len} characters; {form} has {expected}")]
    Length {
        form: TmkTextForm,
        len: usize,
        expected: usize,
    },
    #[error("{form}: invalid base64 character {ch:?} at {pos}")]
    Character {
        form: TmkTextForm,
        ch: char,
        pos: usize,
    },
    /// ThreatExchange's form with a prefix that is not 12 ASCII characters.
    #[error("{form}: the 12 characters before '|' are not ASCII")]
    Prefix { form: TmkTextForm },
    #[error("{form}: {source}")]
    File {
        form: TmkTextForm,
        #[source]
        source: TmkFileError,
    },
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

/// The character at byte `at` of `text` (a byte of a multi-byte character
/// shows as that character, not as a Latin-1 guess).
fn char_at(text: &str, at: usize) -> char {
    let start = (0..=at)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    text[start..].chars().next().unwrap_or('\u{fffd}')
}

/// Decode standard base64 (padding required: the lengths are fixed).
/// `offset`: where `text` starts in the value, for error positions.
fn decode(text: &str, offset: usize, form: TmkTextForm) -> Result<Vec<u8>, TmkTextError> {
    let b = text.as_bytes();
    let bad = |pos: usize| TmkTextError::Character {
        form,
        ch: char_at(text, pos),
        pos: offset + pos,
    };
    if !b.len().is_multiple_of(4) {
        return Err(TmkTextError::Length {
            form,
            len: text.chars().count(),
            expected: b.len().next_multiple_of(4),
        });
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (q, quad) in b.chunks(4).enumerate() {
        let last = (q + 1) * 4 == b.len();
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err(bad(
                q * 4 + quad.iter().position(|&c| c == b'=').unwrap_or(0)
            ));
        }
        let mut n = 0u32;
        for (i, &c) in quad[..4 - pad].iter().enumerate() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return Err(bad(q * 4 + i)),
            };
            n |= u32::from(v) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(out)
}

impl TmkHash {
    /// Our text form: base64 of the file bytes.
    pub fn to_text(&self) -> String {
        self.to_text_form(TmkTextForm::Base64)
    }

    /// The value written in `form`.
    pub fn to_text_form(&self, form: TmkTextForm) -> String {
        let bytes = self.to_bytes();
        match form {
            TmkTextForm::Base64 => encode(&bytes),
            TmkTextForm::ThreatExchange => {
                let (head, rest) = bytes.split_at(TE_PREFIX_BYTES);
                // The magics are ASCII (a TmkHash always writes them).
                let mut s = String::from_utf8_lossy(head).into_owned();
                s.push('|');
                s.push_str(&encode(rest));
                s
            }
        }
    }

    /// Read a value in either text form (told apart by content, surrounding
    /// whitespace ignored), with every check of [`TmkHash::from_bytes`].
    pub fn from_text(text: &str) -> Result<TmkHash, TmkTextError> {
        let text = text.trim();
        let form = TmkTextForm::of(text);
        let expected = match form {
            TmkTextForm::Base64 => TEXT_LEN,
            TmkTextForm::ThreatExchange => THREATEXCHANGE_TEXT_LEN,
        };
        if text.len() != expected {
            return Err(TmkTextError::Length {
                form,
                len: text.chars().count(),
                expected,
            });
        }
        let bytes = match form {
            TmkTextForm::Base64 => decode(text, 0, form)?,
            TmkTextForm::ThreatExchange => {
                // Byte TE_PREFIX_BYTES is '|' (ASCII), so both splits fall
                // on character boundaries.
                let (head, rest) = text.split_at(TE_PREFIX_BYTES);
                if !head.is_ascii() {
                    return Err(TmkTextError::Prefix { form });
                }
                let mut bytes = head.as_bytes().to_vec();
                bytes.extend(decode(&rest[1..], TE_PREFIX_BYTES + 1, form)?);
                bytes
            }
        };
        TmkHash::from_bytes(&bytes).map_err(|source| TmkTextError::File { form, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash() -> TmkHash {
        let mut acc = super::super::TmkAccumulator::new();
        let f: super::super::Feature = std::array::from_fn(|i| (i as f32 * 0.37).sin() * 50.0);
        acc.push(&f).unwrap();
        acc.finish()
    }

    #[test]
    fn base64_round_trips_every_tail_length() {
        let b64 = TmkTextForm::Base64;
        for n in 0..8 {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 77 + 3) as u8).collect();
            let t = encode(&bytes);
            assert_eq!(decode(&t, 0, b64).unwrap(), bytes, "{t}");
        }
        assert_eq!(encode(b"Man"), "TWFu");
        assert_eq!(encode(b"Ma"), "TWE=");
        assert_eq!(encode(b"M"), "TQ==");
        assert!(matches!(
            decode("TW=u", 0, b64),
            Err(TmkTextError::Character { pos: 2, .. })
        ));
        assert!(matches!(
            decode("TW*u", 5, b64),
            Err(TmkTextError::Character {
                ch: '*',
                pos: 7,
                ..
            })
        ));
        assert!(matches!(
            decode("TWé", 0, b64),
            Err(TmkTextError::Character {
                ch: 'é',
                pos: 2,
                ..
            })
        ));
        assert!(matches!(
            decode("TWE", 0, b64),
            Err(TmkTextError::Length { len: 3, .. })
        ));
    }

    #[test]
    fn a_hash_survives_both_text_forms() {
        let h = hash();
        let t = h.to_text();
        assert_eq!(t.len(), TEXT_LEN);
        assert!(t.starts_with("VE1LMUZWRUNQRFFG"), "base64 of the magics");
        assert_eq!(TmkTextForm::of(&t), TmkTextForm::Base64);
        assert_eq!(TmkHash::from_text(&format!(" {t}\n")).unwrap(), h);
        let te = h.to_text_form(TmkTextForm::ThreatExchange);
        assert_eq!(te.len(), THREATEXCHANGE_TEXT_LEN);
        assert!(te.starts_with("TMK1FVECPDQF|"));
        assert_eq!(TmkTextForm::of(&te), TmkTextForm::ThreatExchange);
        assert_eq!(TmkHash::from_text(&te).unwrap(), h);
        // The part after '|' is the base64 of the bytes after the magics.
        assert_eq!(&te[13..], encode(&h.to_bytes()[12..]));
    }

    #[test]
    fn each_form_says_what_is_wrong() {
        let h = hash();
        let t = h.to_text();
        assert!(matches!(
            TmkHash::from_text(&t[4..]),
            Err(TmkTextError::Length {
                form: TmkTextForm::Base64,
                expected: TEXT_LEN,
                ..
            })
        ));
        let te = h.to_text_form(TmkTextForm::ThreatExchange);
        match TmkHash::from_text(&te[..te.len() - 4]) {
            Err(
                e @ TmkTextError::Length {
                    form: TmkTextForm::ThreatExchange,
                    ..
                },
            ) => {
                assert!(e.to_string().contains("ThreatExchange"), "{e}")
            }
            other => panic!("{other:?}"),
        }
        let mut bad = te.clone();
        bad.replace_range(100..101, "#");
        assert!(matches!(
            TmkHash::from_text(&bad),
            Err(TmkTextError::Character {
                ch: '#',
                pos: 100,
                ..
            })
        ));
        // Another TMK file type in the prefix: the file check names it.
        let feat = te.replacen("TMK1FVEC", "TMK1FEAT", 1);
        match TmkHash::from_text(&feat) {
            Err(TmkTextError::File {
                source: TmkFileError::FileType { .. },
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let accented = te.replacen("TMK1", "TMé", 1);
        assert!(matches!(
            TmkHash::from_text(&accented),
            Err(TmkTextError::Length { .. } | TmkTextError::Prefix { .. })
        ));
        // A NaN in the average (bytes 176..180 of the file), in either form.
        let mut bytes = h.to_bytes();
        bytes[176..180].copy_from_slice(&f32::NAN.to_le_bytes());
        for text in [
            encode(&bytes),
            format!("TMK1FVECPDQF|{}", encode(&bytes[12..])),
        ] {
            match TmkHash::from_text(&text) {
                Err(TmkTextError::File {
                    source: TmkFileError::NonFinite { .. },
                    ..
                }) => {}
                other => panic!("{other:?}"),
            }
        }
    }
}
