//! FFmpeg reading through a Rust `Read + Seek` source (a custom AVIOContext).
//!
//! Why: the hashing pipeline digests every byte the decoder reads (see
//! [`crate::hashing::reader`]), so FFmpeg must never open the file itself.
//! FFmpeg calls back into Rust for every read and seek. The callbacks never
//! let a panic cross the C boundary (`catch_unwind`, then an I/O error code),
//! and an interrupt callback stops blocking work once the per-file deadline
//! has passed. [`CustomInput`] owns the format context, the AVIOContext and
//! its buffer, and frees all of them in `Drop`, in the order FFmpeg needs.

use ffmpeg_next::ffi;
use std::ffi::{c_int, c_void};
use std::io::{self, Read, Seek, SeekFrom};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// A byte source FFmpeg can read from.
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// Size of the AVIOContext buffer (FFmpeg's own default for files is 32 KiB;
/// larger reads cost fewer callbacks).
const IO_BUFFER: usize = 256 << 10;

/// State shared with the callbacks (boxed: its address must not move).
struct Opaque<'a> {
    src: &'a mut dyn ReadSeek,
    deadline: Option<Instant>,
    /// The first I/O error the source reported (FFmpeg only sees a code).
    io_error: Option<io::Error>,
    /// Set when the interrupt callback fired.
    interrupted: bool,
}

/// Why opening the input failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("out of memory allocating the FFmpeg input")]
    Alloc,
    #[error("read error: {0}")]
    Io(io::Error),
    #[error("the time limit ran out while opening the input")]
    Interrupted,
    #[error("not a container FFmpeg can read: {0}")]
    Format(ffmpeg_next::Error),
}

/// An opened FFmpeg demuxer reading through a Rust source.
pub struct CustomInput<'a> {
    /// `Some` until drop; closed before the AVIOContext is freed.
    input: Option<ffmpeg_next::format::context::Input>,
    avio: *mut ffi::AVIOContext,
    opaque: *mut Opaque<'a>,
    _borrow: PhantomData<&'a mut dyn ReadSeek>,
}

unsafe extern "C" fn read_cb(opaque: *mut c_void, buf: *mut u8, size: c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: `opaque` is the boxed `Opaque` owned by the CustomInput
        // that owns this AVIOContext; FFmpeg only calls back while it lives.
        let op = unsafe { &mut *(opaque as *mut Opaque) };
        if size <= 0 {
            return 0;
        }
        // SAFETY: FFmpeg hands us a writable buffer of `size` bytes.
        let out = unsafe { std::slice::from_raw_parts_mut(buf, size as usize) };
        loop {
            match op.src.read(out) {
                Ok(0) => return ffi::AVERROR_EOF,
                Ok(n) => return n as c_int,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    op.io_error.get_or_insert(e);
                    return ffi::AVERROR(libc::EIO);
                }
            }
        }
    }))
    .unwrap_or(ffi::AVERROR(libc::EIO))
}

unsafe extern "C" fn seek_cb(opaque: *mut c_void, offset: i64, whence: c_int) -> i64 {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `read_cb`.
        let op = unsafe { &mut *(opaque as *mut Opaque) };
        let whence = whence & !ffi::AVSEEK_FORCE;
        let res = if whence == ffi::AVSEEK_SIZE {
            stream_len(op.src)
        } else {
            let to = match whence {
                libc::SEEK_SET => match u64::try_from(offset) {
                    Ok(o) => SeekFrom::Start(o),
                    Err(_) => return -1,
                },
                libc::SEEK_CUR => SeekFrom::Current(offset),
                libc::SEEK_END => SeekFrom::End(offset),
                _ => return -1,
            };
            op.src.seek(to)
        };
        match res {
            Ok(p) => i64::try_from(p).unwrap_or(-1),
            Err(e) => {
                op.io_error.get_or_insert(e);
                -1
            }
        }
    }))
    .unwrap_or(-1)
}

unsafe extern "C" fn interrupt_cb(opaque: *mut c_void) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: as in `read_cb`.
        let op = unsafe { &mut *(opaque as *mut Opaque) };
        match op.deadline {
            Some(d) if Instant::now() >= d => {
                op.interrupted = true;
                1
            }
            _ => 0,
        }
    }))
    .unwrap_or(1)
}

/// The source's length, leaving its position where it was.
fn stream_len(src: &mut dyn ReadSeek) -> io::Result<u64> {
    let here = src.stream_position()?;
    let end = src.seek(SeekFrom::End(0))?;
    src.seek(SeekFrom::Start(here))?;
    Ok(end)
}

impl<'a> CustomInput<'a> {
    /// Rewind `src` to its start, open it as a container (probing the format
    /// from content) and read the stream information.
    ///
    /// # Errors
    /// [`OpenError`]: the source failed, the deadline passed, or FFmpeg
    /// did not recognise the content.
    pub fn open(src: &'a mut dyn ReadSeek, deadline: Option<Instant>) -> Result<Self, OpenError> {
        src.seek(SeekFrom::Start(0)).map_err(OpenError::Io)?;
        let opaque = Box::into_raw(Box::new(Opaque {
            src,
            deadline,
            io_error: None,
            interrupted: false,
        }));
        let mut this = CustomInput {
            input: None,
            avio: std::ptr::null_mut(),
            opaque,
            _borrow: PhantomData,
        };
        // SAFETY: plain FFmpeg allocation calls; every pointer is checked,
        // and ownership passes to `this`, whose Drop frees what was made.
        unsafe {
            let buf = ffi::av_malloc(IO_BUFFER) as *mut u8;
            if buf.is_null() {
                return Err(OpenError::Alloc);
            }
            this.avio = ffi::avio_alloc_context(
                buf,
                IO_BUFFER as c_int,
                0,
                opaque as *mut c_void,
                Some(read_cb),
                None,
                Some(seek_cb),
            );
            if this.avio.is_null() {
                ffi::av_free(buf as *mut c_void);
                return Err(OpenError::Alloc);
            }
            let mut ctx = ffi::avformat_alloc_context();
            if ctx.is_null() {
                return Err(OpenError::Alloc);
            }
            (*ctx).pb = this.avio;
            (*ctx).flags |= ffi::AVFMT_FLAG_CUSTOM_IO;
            (*ctx).interrupt_callback = ffi::AVIOInterruptCB {
                callback: Some(interrupt_cb),
                opaque: opaque as *mut c_void,
            };
            // On failure avformat_open_input frees `ctx` (not our AVIO).
            let r = ffi::avformat_open_input(
                &mut ctx,
                std::ptr::null(),
                std::ptr::null(),
                std::ptr::null_mut(),
            );
            if r < 0 {
                return Err(this.error_for(r));
            }
            this.input = Some(ffmpeg_next::format::context::Input::wrap(ctx));
            // Like the ffmpeg CLI, a failure to probe every stream is not
            // fatal when streams were found (a video with no frames, say:
            // decoding then finds nothing and says so); I/O errors and the
            // deadline are.
            let r = ffi::avformat_find_stream_info(ctx, std::ptr::null_mut());
            if r < 0 {
                let e = this.error_for(r);
                if !matches!(e, OpenError::Format(_)) || (*ctx).nb_streams == 0 {
                    return Err(e);
                }
            }
        }
        Ok(this)
    }

    /// Translate an FFmpeg error code, preferring what we know caused it.
    fn error_for(&mut self, code: c_int) -> OpenError {
        if let Some(e) = self.take_io_error() {
            return OpenError::Io(e);
        }
        if self.interrupted() {
            return OpenError::Interrupted;
        }
        OpenError::Format(ffmpeg_next::Error::from(code))
    }

    /// The demuxer.
    pub fn input(&mut self) -> &mut ffmpeg_next::format::context::Input {
        // `input` is set by `open` before a CustomInput is returned.
        self.input
            .as_mut()
            .unwrap_or_else(|| unreachable!("CustomInput without an input"))
    }

    /// The first I/O error the source reported, if any.
    pub fn take_io_error(&mut self) -> Option<io::Error> {
        // SAFETY: `opaque` lives as long as `self`; no callback runs now.
        unsafe { (*self.opaque).io_error.take() }
    }

    /// Whether the deadline stopped FFmpeg.
    pub fn interrupted(&self) -> bool {
        // SAFETY: as above.
        unsafe { (*self.opaque).interrupted }
    }
}

impl Drop for CustomInput<'_> {
    fn drop(&mut self) {
        // Close the demuxer first: it may still use the AVIOContext.
        drop(self.input.take());
        // SAFETY: we own the AVIOContext (FFmpeg never frees custom IO) and
        // its current buffer (FFmpeg may have replaced the one we gave it),
        // and the boxed opaque, which nothing references any more.
        unsafe {
            if !self.avio.is_null() {
                ffi::av_freep(&mut (*self.avio).buffer as *mut *mut u8 as *mut c_void);
                ffi::avio_context_free(&mut self.avio);
            }
            drop(Box::from_raw(self.opaque));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn random_bytes_are_refused_without_panicking() {
        let data: Vec<u8> = (0u32..100_000)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        let mut c = Cursor::new(data);
        assert!(CustomInput::open(&mut c, None).is_err());
    }

    #[test]
    fn read_errors_are_reported_as_io() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        impl Seek for Failing {
            fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
                Ok(0)
            }
        }
        match CustomInput::open(&mut Failing, None) {
            Err(OpenError::Io(e)) => assert!(e.to_string().contains("disk on fire")),
            Err(e) => panic!("expected an I/O error, got {e}"),
            Ok(_) => panic!("opened a failing source"),
        }
    }
}
