//! A raw rgb24 stream of 64x64 frames (what `ffmpeg ... -f rawvideo
//! -pix_fmt rgb24 -s 64:64 -r 15 pipe:1` writes) to a [`TmkHash`].

use std::io::{ErrorKind, Read};

use hashdb::tmk::TmkHash;

use super::frame::{TmkFrameError, TmkHasher, FRAME_BYTES};

/// The stream could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum TmkStreamError {
    #[error("reading frames: {0}")]
    Io(#[from] std::io::Error),
    /// The stream ended inside a frame. The reference fails the hash then
    /// too: a cut-off pipe is a failed decode, not a shorter video.
    #[error("the frame stream ends inside frame {frame} ({bytes} of {FRAME_BYTES} bytes)")]
    PartialFrame { frame: u64, bytes: usize },
    #[error("frame {frame}: {source}")]
    Frame {
        frame: u64,
        #[source]
        source: TmkFrameError,
    },
}

/// Hash every frame of `r` until its end.
pub fn hash_rgb24_stream(mut r: impl Read) -> Result<TmkHash, TmkStreamError> {
    let mut hasher = TmkHasher::new();
    let mut buf = vec![0u8; FRAME_BYTES];
    loop {
        let got = fill(&mut r, &mut buf)?;
        if got == 0 {
            return Ok(hasher.finish());
        }
        let frame = hasher.frames();
        if got < FRAME_BYTES {
            return Err(TmkStreamError::PartialFrame { frame, bytes: got });
        }
        hasher
            .push_rgb24(&buf)
            .map_err(|source| TmkStreamError::Frame { frame, source })?;
    }
}

/// Read until `buf` is full or the stream ends; how many bytes came.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_stream_is_the_zero_hash() {
        let h = hash_rgb24_stream(&[][..]).unwrap();
        assert_eq!(h.frame_count(), 0);
    }

    #[test]
    fn whole_frames_are_counted_and_a_partial_one_fails() {
        let data: Vec<u8> = (0..3 * FRAME_BYTES).map(|i| (i % 253) as u8).collect();
        assert_eq!(hash_rgb24_stream(&data[..]).unwrap().frame_count(), 3);
        match hash_rgb24_stream(&data[..2 * FRAME_BYTES + 5]) {
            Err(TmkStreamError::PartialFrame { frame: 2, bytes: 5 }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stream_in_small_reads_gives_the_same_hash() {
        // A pipe delivers frames in pieces; the hash must not depend on it.
        struct Dribble<'a>(&'a [u8]);
        impl Read for Dribble<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0.len()).min(1000);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let data: Vec<u8> = (0..2 * FRAME_BYTES).map(|i| (i * 31 % 256) as u8).collect();
        assert_eq!(
            hash_rgb24_stream(Dribble(&data)).unwrap(),
            hash_rgb24_stream(&data[..]).unwrap()
        );
    }
}
