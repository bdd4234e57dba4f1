//! A reader that computes the cryptographic digests of a whole file from
//! the reads a decoder makes anyway, even when the decoder seeks.
//!
//! Demuxers (FFmpeg's MP4 reader, say) jump around: the index may sit at
//! the end of the file, small gaps get skipped. Digests need every byte once,
//! in order. So bytes are hashed when a read crosses the *frontier* (the
//! first byte not yet hashed); a small forward gap is read through at once
//! (cheap, it is next door); a large one (an index at the end) waits, and
//! [`HashingReader::finish`] reads whatever the decoder never consumed in
//! order. Seeks backwards cost nothing extra.

use super::crypto::{Digests, MultiDigest};
use std::io::{self, Read, Seek, SeekFrom};

/// Forward gaps up to this size are read through immediately.
const EAGER_GAP: u64 = 4 << 20;

/// Wraps a seekable reader; see the module docs.
pub struct HashingReader<R> {
    inner: R,
    digest: MultiDigest,
    /// First byte not yet hashed.
    frontier: u64,
    /// Logical position of the next read.
    pos: u64,
    /// Where `inner` is actually positioned.
    inner_pos: u64,
    buf: Vec<u8>,
}

impl<R: Read + Seek> HashingReader<R> {
    /// `inner` must be positioned at offset `already`, and `digest` must
    /// hold exactly the first `already` bytes of the stream (a sniffed head).
    pub fn new(inner: R, digest: MultiDigest) -> Self {
        let already = digest.bytes();
        HashingReader {
            inner,
            digest,
            frontier: already,
            pos: already,
            inner_pos: already,
            buf: Vec::new(),
        }
    }

    /// Current logical position.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Bytes hashed so far (the frontier).
    pub fn hashed(&self) -> u64 {
        self.frontier
    }

    fn seek_inner(&mut self, to: u64) -> io::Result<()> {
        if self.inner_pos != to {
            self.inner.seek(SeekFrom::Start(to))?;
            self.inner_pos = to;
        }
        Ok(())
    }

    /// Read and hash `[frontier, until)`.
    fn hash_through(&mut self, until: u64) -> io::Result<()> {
        self.seek_inner(self.frontier)?;
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(1 << 20, 0);
        while self.frontier < until {
            let want = ((until - self.frontier) as usize).min(buf.len());
            let n = self.inner.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            self.digest.update(&buf[..n]);
            self.frontier += n as u64;
            self.inner_pos += n as u64;
        }
        self.buf = buf;
        Ok(())
    }

    /// Hash the rest of the stream (to its end, also if it grew) and return
    /// the digests and the stream's length, whatever the decoder read or
    /// skipped.
    pub fn finish(mut self) -> io::Result<(Digests, u64)> {
        self.hash_through(u64::MAX)?;
        let len = self.digest.bytes();
        Ok((self.digest.finish(), len))
    }
}

impl<R: Read + Seek> Read for HashingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos > self.frontier && self.pos - self.frontier <= EAGER_GAP {
            self.hash_through(self.pos)?;
        }
        self.seek_inner(self.pos)?;
        let n = self.inner.read(out)?;
        self.inner_pos += n as u64;
        let end = self.pos + n as u64;
        if self.pos <= self.frontier && end > self.frontier {
            let skip = (self.frontier - self.pos) as usize;
            self.digest.update(&out[skip..n]);
            self.frontier = end;
        }
        self.pos = end;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for HashingReader<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::Current(d) => self
                .pos
                .checked_add_signed(d)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before start"))?,
            SeekFrom::End(d) => {
                let end = self.inner.seek(SeekFrom::End(0))?;
                self.inner_pos = end;
                end.checked_add_signed(d).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "seek before start")
                })?
            }
        };
        self.pos = new;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::crypto::digest;
    use std::io::Cursor;

    fn data() -> Vec<u8> {
        (0..(10u32 << 20))
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect()
    }

    #[test]
    fn digests_survive_seeks_and_skips() {
        let d = data();
        let want = digest(&d);
        // Sniffed head already hashed.
        let mut head = MultiDigest::new();
        head.update(&d[..100]);
        let mut c = Cursor::new(d.clone());
        c.seek(SeekFrom::Start(100)).unwrap();
        let mut r = HashingReader::new(c, head);
        let mut buf = vec![0u8; 4096];
        // Back to the start, read a bit, jump to near the end (a far gap),
        // read, come back, skip a small gap, read some more.
        r.seek(SeekFrom::Start(0)).unwrap();
        r.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[..], &d[..4096]);
        r.seek(SeekFrom::End(-5000)).unwrap();
        r.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[..], &d[d.len() - 5000..d.len() - 904]);
        r.seek(SeekFrom::Start(8192)).unwrap();
        r.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[..], &d[8192..8192 + 4096]);
        r.seek(SeekFrom::Current(1000)).unwrap();
        r.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[..], &d[13288..13288 + 4096]);
        assert_eq!(r.finish().unwrap(), (want, d.len() as u64));
    }

    #[test]
    fn sequential_reads_hash_everything_once() {
        let d = data();
        let mut r = HashingReader::new(Cursor::new(d.clone()), MultiDigest::new());
        let mut sink = Vec::new();
        r.read_to_end(&mut sink).unwrap();
        assert_eq!(r.hashed(), d.len() as u64);
        assert_eq!(r.finish().unwrap(), (digest(&d), d.len() as u64));
    }
}
