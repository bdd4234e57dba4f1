//! Hash value types.
//!
//! Each signal is a newtype over its bytes so that a PDQ hash can never be
//! passed where an MD5 is expected, and so that every hash prints and parses
//! as the lowercase hex the sharing programmes exchange.

use std::fmt;
use std::str::FromStr;

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

fn decode_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
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

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 128];
    for (i, b) in bytes.iter().enumerate() {
        buf[2 * i] = DIGITS[(b >> 4) as usize];
        buf[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
    // Only ASCII hex digits were written.
    f.write_str(std::str::from_utf8(&buf[..2 * bytes.len()]).map_err(|_| fmt::Error)?)
}

macro_rules! byte_hash {
    ($(#[$doc:meta])* $name:ident, $n:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $n]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $n;
            /// The raw bytes, in the order of the hex form.
            pub fn as_bytes(&self) -> &[u8; $n] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(f, &self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl FromStr for $name {
            type Err = HexError;
            fn from_str(s: &str) -> Result<Self, HexError> {
                decode_hex::<$n>(s).map($name)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

byte_hash!(
    /// MD5 digest (16 bytes). Exact matching only.
    Md5, 16
);
byte_hash!(
    /// SHA-256 digest (32 bytes). Exact matching only.
    Sha256, 32
);
byte_hash!(
    /// BLAKE3 digest (32 bytes). Exact matching only.
    Blake3, 32
);
byte_hash!(
    /// A 256-bit PDQ hash.
    ///
    /// Bytes are in the order of the reference hex form: byte 0 holds bits
    /// 255..248 (the reference's bit `k` is `w[k / 16]` bit `k % 16`, printed
    /// from word 15 down to word 0). [`Pdq::bit`] and [`Pdq::set_bit`] use the
    /// reference's bit numbering, so code ported from it stays readable.
    Pdq, 32
);

impl Pdq {
    /// The all-zero hash (what the reference returns for unhashable images).
    pub const ZERO: Pdq = Pdq([0; 32]);

    /// Hamming distance: the number of differing bits (0..=256).
    pub fn distance(&self, other: &Pdq) -> u32 {
        let a = self.words();
        let b = other.words();
        (0..4).map(|i| (a[i] ^ b[i]).count_ones()).sum()
    }

    /// The hash as four big-endian 64-bit words (word 0 = bytes 0..8).
    /// Popcount on words is what the index and the distance use.
    pub fn words(&self) -> [u64; 4] {
        let mut w = [0u64; 4];
        for (i, word) in w.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&self.0[8 * i..8 * i + 8]);
            *word = u64::from_be_bytes(b);
        }
        w
    }

    /// Build from four big-endian words (inverse of [`Pdq::words`]).
    pub fn from_words(w: [u64; 4]) -> Pdq {
        let mut out = [0u8; 32];
        for (i, word) in w.iter().enumerate() {
            out[8 * i..8 * i + 8].copy_from_slice(&word.to_be_bytes());
        }
        Pdq(out)
    }

    /// Reference bit `k` (0..256).
    pub fn bit(&self, k: usize) -> bool {
        (self.0[31 - k / 8] >> (k % 8)) & 1 == 1
    }

    /// Set reference bit `k` (0..256).
    pub fn set_bit(&mut self, k: usize) {
        self.0[31 - k / 8] |= 1 << (k % 8);
    }

    /// Number of bits set (a real PDQ hash has about 128).
    pub fn count_ones(&self) -> u32 {
        self.words().iter().map(|w| w.count_ones()).sum()
    }
}

/// The kinds of signal a hash list holds. Names are those of
/// python-threatexchange and HMA (`pdq`, `vpdq`, `md5`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignalType {
    Pdq,
    Vpdq,
    Md5,
    Sha256,
    Blake3,
    /// TMK+PDQF, Meta's whole-video hash (`.tmk` files; see
    /// [`crate::tmk`]).
    TmkPdqf,
}

impl SignalType {
    /// All signal types, in a stable order.
    pub const ALL: [SignalType; 6] = [
        SignalType::Pdq,
        SignalType::Vpdq,
        SignalType::Md5,
        SignalType::Sha256,
        SignalType::Blake3,
        SignalType::TmkPdqf,
    ];

    /// The canonical lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SignalType::Pdq => "pdq",
            SignalType::Vpdq => "vpdq",
            SignalType::Md5 => "md5",
            SignalType::Sha256 => "sha256",
            SignalType::Blake3 => "blake3",
            SignalType::TmkPdqf => "tmk_pdqf",
        }
    }
}

impl fmt::Display for SignalType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown signal type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal type {0:?} (expected pdq, vpdq, md5, sha256, blake3 or tmk_pdqf)")]
pub struct UnknownSignalType(pub String);

impl FromStr for SignalType {
    type Err = UnknownSignalType;
    /// Accepts the canonical names and the aliases used by other tools
    /// (`pdq_hash`, `photo_pdq`, `video_md5`, `md5_hash`, `video_vpdq`, ...).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let t = match lower.as_str() {
            "pdq" | "pdq_hash" | "hash_pdq" | "photo_pdq" | "photo_pdq_hash" => SignalType::Pdq,
            "vpdq" | "video_vpdq" | "hash_vpdq" | "vpdq_hash" => SignalType::Vpdq,
            "md5" | "md5_hash" | "hash_md5" | "video_md5" | "photo_md5" => SignalType::Md5,
            "sha256" | "sha-256" | "hash_sha256" | "sha256_hash" => SignalType::Sha256,
            "blake3" | "hash_blake3" => SignalType::Blake3,
            // python-threatexchange reserves `tmk_pdqf`; NCMEC says
            // `TMK_PDQF`, StopNCII `VideoTMK`.
            "tmk_pdqf" | "tmk+pdqf" | "tmk" | "tmkpdqf" | "video_tmk" | "videotmk"
            | "video_tmk_pdqf" => SignalType::TmkPdqf,
            _ => return Err(UnknownSignalType(s.to_string())),
        };
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let s = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
        let p: Pdq = s.parse().unwrap();
        assert_eq!(p.to_string(), s);
        assert_eq!(p.distance(&p), 0);
        let upper: Pdq = s.to_uppercase().parse().unwrap();
        assert_eq!(upper, p);
    }

    #[test]
    fn bad_hex_is_typed_error() {
        assert_eq!(
            "abc".parse::<Md5>(),
            Err(HexError::Length {
                expected: 32,
                got: 3
            })
        );
        let bad = "zz".repeat(16);
        assert!(matches!(
            bad.parse::<Md5>(),
            Err(HexError::Digit { pos: 0, .. })
        ));
    }

    #[test]
    fn distance_counts_bits() {
        let mut a = Pdq::ZERO;
        let b = Pdq::ZERO;
        a.set_bit(0);
        a.set_bit(255);
        a.set_bit(100);
        assert_eq!(a.distance(&b), 3);
        assert!(a.bit(255));
        // Bit 255 is the top bit of the first hex digit, as the reference prints it.
        assert!(a.to_string().starts_with('8'));
        assert!(a.to_string().ends_with('1'));
        assert_eq!(Pdq::from_words(a.words()), a);
    }

    #[test]
    fn signal_type_names() {
        for t in SignalType::ALL {
            assert_eq!(t.as_str().parse::<SignalType>().unwrap(), t);
        }
        assert_eq!("PDQ".parse::<SignalType>().unwrap(), SignalType::Pdq);
        assert!("sha1".parse::<SignalType>().is_err());
    }
}
