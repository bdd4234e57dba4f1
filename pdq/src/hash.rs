//! The PDQ hash value: 256 bits, printed and parsed as the reference's hex.

use std::fmt;
use std::str::FromStr;

use crate::hex::{decode_hex, write_hex, HexError};

/// A 256-bit PDQ hash.
///
/// Bytes are in the order of the reference hex form: byte 0 holds bits
/// 255..248 (the reference's bit `k` is `w[k / 16]` bit `k % 16`, printed
/// from word 15 down to word 0). [`Pdq::bit`] and [`Pdq::set_bit`] use the
/// reference's bit numbering, so code ported from it stays readable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pdq(pub [u8; 32]);

impl Pdq {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// The all-zero hash (what the reference returns for unhashable images).
    pub const ZERO: Pdq = Pdq([0; 32]);

    /// The raw bytes, in the order of the hex form.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

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

impl fmt::Display for Pdq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for Pdq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pdq({self})")
    }
}

impl FromStr for Pdq {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, HexError> {
        decode_hex::<32>(s).map(Pdq)
    }
}

impl serde::Serialize for Pdq {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Pdq {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
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
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(serde_json::from_str::<Pdq>(&json).unwrap(), p);
    }

    #[test]
    fn bad_hex_is_typed_error() {
        assert_eq!(
            "abc".parse::<Pdq>(),
            Err(HexError::Length {
                expected: 64,
                got: 3
            })
        );
        let bad = "zz".repeat(32);
        assert!(matches!(
            bad.parse::<Pdq>(),
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
}
