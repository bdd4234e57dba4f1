//! MD5, SHA-256 and BLAKE3 of one byte stream, fed chunk by chunk.
//!
//! All three digests advance on the same buffer as it is read, so a file is
//! read once whatever else (decoding) consumes its bytes, and memory stays
//! constant whatever the file size.

use hashdb::{Blake3, Md5, Sha256};
use md5::Digest as _;

/// The three cryptographic digests of a byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digests {
    pub md5: Md5,
    pub sha256: Sha256,
    pub blake3: Blake3,
}

/// Incremental hasher for all three digests.
#[derive(Clone)]
pub struct MultiDigest {
    md5: md5::Md5,
    sha256: sha2::Sha256,
    blake3: blake3::Hasher,
    bytes: u64,
}

impl Default for MultiDigest {
    fn default() -> Self {
        Self::new()
    }
}

impl MultiDigest {
    pub fn new() -> Self {
        MultiDigest {
            md5: md5::Md5::new(),
            sha256: sha2::Sha256::new(),
            blake3: blake3::Hasher::new(),
            bytes: 0,
        }
    }

    /// Feed the next bytes of the stream.
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha256.update(data);
        self.blake3.update(data);
        self.bytes += data.len() as u64;
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn finish(self) -> Digests {
        Digests {
            md5: Md5(self.md5.finalize().into()),
            sha256: Sha256(self.sha256.finalize().into()),
            blake3: Blake3(*self.blake3.finalize().as_bytes()),
        }
    }
}

/// Digests of an in-memory buffer.
pub fn digest(data: &[u8]) -> Digests {
    let mut d = MultiDigest::new();
    d.update(data);
    d.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        let d = digest(b"abc");
        assert_eq!(d.md5.to_string(), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            d.sha256.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            d.blake3.to_string(),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
    }

    #[test]
    fn chunking_does_not_change_digests() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 256) as u8).collect();
        let mut m = MultiDigest::new();
        for c in data.chunks(777) {
            m.update(c);
        }
        assert_eq!(m.bytes(), data.len() as u64);
        assert_eq!(m.finish(), digest(&data));
    }
}
