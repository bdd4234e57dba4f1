//! Hash value types (the PDQ value lives in the `pdq` crate).
//!
//! Each signal is a newtype over its bytes so that a PDQ hash can never be
//! passed where an MD5 is expected, and so that every hash prints and parses
//! as the lowercase hex the sharing programmes exchange.

use std::fmt;
use std::str::FromStr;

// One hex implementation and one error type for every hash: the `pdq`
// crate's, which also holds the PDQ value type (re-exported here so that
// hashdb's users keep writing `hashdb::Pdq`).
pub use pdq::hex::HexError;
use pdq::hex::{decode_hex, write_hex};
pub use pdq::Pdq;

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
/// The kinds of signal a hash list holds. Names are those of
/// python-threatexchange and HMA (`pdq`, `vpdq`, `md5`, ...); serde
/// writes [`SignalType::as_str`] and reads any name `FromStr` takes.
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

impl serde::Serialize for SignalType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SignalType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
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
    fn signal_type_names() {
        for t in SignalType::ALL {
            assert_eq!(t.as_str().parse::<SignalType>().unwrap(), t);
        }
        assert_eq!("PDQ".parse::<SignalType>().unwrap(), SignalType::Pdq);
        assert!("sha1".parse::<SignalType>().is_err());
        for t in SignalType::ALL {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<SignalType>(&json).unwrap(), t);
        }
    }
}
