//! Files saved next to the database (the index snapshot, see
//! `store::snapshot`), sealed by a checksum.
//!
//! Why: a saved file is trusted to hold exactly what SQLite would give; its
//! header says which database generation it was saved for, but not that
//! its bytes are still the ones written. A flipped bit (a bad disk, a
//! partial copy, a hand edit) in a hash or a table slot would silently
//! change what matches, or send a lookup to the wrong slot. So every file
//! carries a checksum of its header and payload, checked before any of it
//! is used; a file that fails is ignored (and the caller rewrites it).
//!
//! Why BLAKE3: already a dependency of this crate, and fast enough (several
//! GB/s with SIMD) that checking a million-row file costs a few
//! milliseconds next to reading it. It guards against damage, not against
//! someone who can write the file (they can write a matching checksum, as
//! they could write the database itself).
//!
//! Layout: `header | checksum (32 bytes: BLAKE3 of header then payload) |
//! payload`. The checksum sits before the payload so a reader learns it
//! before streaming the payload through the hasher.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Bytes of the checksum.
pub(super) const CHECKSUM_LEN: usize = 32;

/// Write `header`, the checksum and the payload `fill` writes to `path`
/// through a temporary file (flushed to disk) renamed into place, so a
/// reader sees the old file or the new one, never half of one; on failure
/// the temporary file is removed.
///
/// `fill` runs twice, first into the hasher, then into the file: the
/// checksum precedes the payload and the payload (up to gigabytes of
/// tables) is never held twice in memory.
pub(super) fn write_sealed(
    path: &Path,
    header: &[u8],
    fill: impl Fn(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(header);
    {
        // Small writes (one integer each) go through a buffer: BLAKE3 is
        // fast on large updates only.
        let mut w = BufWriter::with_capacity(1 << 16, &mut hasher);
        fill(&mut w)?;
        w.flush()?;
    }
    let checksum = hasher.finalize();
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let res = (|| {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        w.write_all(header)?;
        w.write_all(checksum.as_bytes())?;
        fill(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Reads a sealed file: the header, then the payload in pieces, each
/// hashed as it is read; [`SealedReader::verify`] says whether the whole
/// file was read and matches its checksum. Nothing read may be used
/// before that.
pub(super) struct SealedReader {
    file: File,
    hasher: blake3::Hasher,
    expected: [u8; CHECKSUM_LEN],
    /// Payload bytes not read yet.
    left: u64,
}

impl SealedReader {
    /// Open `path`, whose header is `header_len` bytes long; gives the
    /// reader and the header. `None` when the file is missing or shorter
    /// than a header and a checksum.
    pub(super) fn open(path: &Path, header_len: usize) -> Option<(SealedReader, Vec<u8>)> {
        let mut file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        let left = len.checked_sub((header_len + CHECKSUM_LEN) as u64)?;
        let mut header = vec![0u8; header_len];
        file.read_exact(&mut header).ok()?;
        let mut expected = [0u8; CHECKSUM_LEN];
        file.read_exact(&mut expected).ok()?;
        let mut hasher = blake3::Hasher::new();
        hasher.update(&header);
        Some((
            SealedReader {
                file,
                hasher,
                expected,
                left,
            },
            header,
        ))
    }

    /// Bytes of payload the file holds (after its header and checksum).
    pub(super) fn payload_len(&self) -> u64 {
        self.left
    }

    /// Read the next `buf.len()` bytes of payload.
    pub(super) fn read_exact(&mut self, buf: &mut [u8]) -> Option<()> {
        self.left = self.left.checked_sub(buf.len() as u64)?;
        self.file.read_exact(buf).ok()?;
        self.hasher.update(buf);
        Some(())
    }

    /// Whether the whole payload was read and the file matches its
    /// checksum.
    pub(super) fn verify(self) -> bool {
        // Constant time is not needed (no secret here); equality is.
        self.left == 0 && self.hasher.finalize().as_bytes() == &self.expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, header: &[u8], payload: &[u8]) {
        write_sealed(path, header, |w| w.write_all(payload)).unwrap();
    }

    fn read(path: &Path, header_len: usize) -> Option<(Vec<u8>, Vec<u8>)> {
        let (mut r, header) = SealedReader::open(path, header_len)?;
        let mut payload = vec![0u8; usize::try_from(r.payload_len()).ok()?];
        r.read_exact(&mut payload)?;
        r.verify().then_some((header, payload))
    }

    #[test]
    fn round_trip_and_every_flipped_byte_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write(&p, b"HEAD", b"some payload bytes");
        assert_eq!(
            read(&p, 4),
            Some((b"HEAD".to_vec(), b"some payload bytes".to_vec()))
        );
        let good = std::fs::read(&p).unwrap();
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            std::fs::write(&p, &bad).unwrap();
            assert_eq!(read(&p, 4), None, "byte {i} flipped");
        }
    }

    #[test]
    fn short_long_or_partly_read_files_do_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        write(&p, b"HEAD", b"payload");
        let good = std::fs::read(&p).unwrap();
        std::fs::write(&p, &good[..good.len() - 1]).unwrap();
        assert_eq!(read(&p, 4), None);
        std::fs::write(&p, [good.clone(), vec![0]].concat()).unwrap();
        assert_eq!(read(&p, 4), None);
        std::fs::write(&p, &good[..10]).unwrap();
        assert!(SealedReader::open(&p, 4).is_none());
        // Reading only part of the payload never verifies.
        std::fs::write(&p, &good).unwrap();
        let (mut r, _) = SealedReader::open(&p, 4).unwrap();
        let mut part = [0u8; 3];
        r.read_exact(&mut part).unwrap();
        assert!(!r.verify());
        // Nor does reading past its end.
        let (mut r, _) = SealedReader::open(&p, 4).unwrap();
        assert!(r.read_exact(&mut [0u8; 8]).is_none());
        assert!(!dir.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp")));
    }
}
