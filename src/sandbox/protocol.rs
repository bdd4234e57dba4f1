//! The wire format between the scanning process and a decoder worker.
//!
//! One request, one reply, over a Unix stream socket. Every message is a
//! frame: a little-endian `u32` length, then that many bytes. A request's
//! frame header travels with one file descriptor (`SCM_RIGHTS`): the item
//! to hash, a file opened by the parent or a memfd holding bytes the
//! parent has in memory. The worker opens nothing itself.
//!
//! The encoding is our own and binary (integers little-endian, `f64` as its
//! bits, so every value arrives exactly as the worker computed it).
//! Structs are written and read through exhaustive destructuring: a field
//! added to [`FileRecord`] or [`HashConfig`] does not compile here until it
//! is carried, so the sandboxed and the in-process paths cannot drift.
//!
//! The parent reads replies as hostile input (a decoder bug can hand the
//! worker to an attacker): every count is checked against the bytes left,
//! frames are capped, names that must be `&'static str` come from a small
//! bounded table.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::error::{ErrorKind, ItemError};
use crate::hashing::HashConfig;
use crate::media::image::ImageLimits;
use crate::record::{DihedralHashes, FileRecord, PdqItem, VideoFacts};
use crate::video::{FastMode, VideoOptions};
use crate::views::{ViewHash, ViewSet};
use hashdb::{Blake3, Md5, Pdq, Sha256};

/// Largest reply the parent accepts (an hour of video with every view is
/// a few tens of MiB).
pub const MAX_REPLY: usize = 512 << 20;
/// Largest request a worker accepts (a config and a path).
pub const MAX_REQUEST: usize = 1 << 20;

/// Reply tags.
pub const TAG_RECORD: u8 = 1;
pub const TAG_READY: u8 = 2;
pub const TAG_FAILED: u8 = 3;

/// A malformed message.
#[derive(Debug, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct Malformed(pub String);

fn bad(m: impl Into<String>) -> Malformed {
    Malformed(m.into())
}

// ---------------------------------------------------------------- writing

/// Appends values to a message.
#[derive(Default)]
pub struct Enc {
    pub buf: Vec<u8>,
}

impl Enc {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    pub fn f64(&mut self, v: f64) {
        self.u64(v.to_bits());
    }
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub fn bytes(&mut self, v: &[u8]) {
        // Lengths over u32 never occur (frames are capped far below).
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.buf.extend_from_slice(v);
    }
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn opt<T>(&mut self, v: &Option<T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                f(self, x);
            }
        }
    }
    fn seq<T>(&mut self, v: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        for x in v {
            f(self, x);
        }
    }
}

// ---------------------------------------------------------------- reading

/// Reads values from a message, checking every length.
pub struct Dec<'a> {
    buf: &'a [u8],
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Dec { buf }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.buf.len() {
            return Err(bad(format!("{n} bytes wanted, {} left", self.buf.len())));
        }
        let (a, b) = self.buf.split_at(n);
        self.buf = b;
        Ok(a)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    pub fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    pub fn f64(&mut self) -> Result<f64, Malformed> {
        Ok(f64::from_bits(self.u64()?))
    }
    pub fn bool(&mut self) -> Result<bool, Malformed> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(bad(format!("bool {v}"))),
        }
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn string(&mut self) -> Result<String, Malformed> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| bad("string is not UTF-8"))
    }
    fn opt<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, Malformed>,
    ) -> Result<Option<T>, Malformed> {
        match self.u8()? {
            0 => Ok(None),
            1 => f(self).map(Some),
            v => Err(bad(format!("option tag {v}"))),
        }
    }
    /// A sequence whose items take at least `min_item` bytes each: the
    /// count is checked against what is left before anything is reserved.
    fn seq<T>(
        &mut self,
        min_item: usize,
        mut f: impl FnMut(&mut Self) -> Result<T, Malformed>,
    ) -> Result<Vec<T>, Malformed> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item.max(1)) > self.buf.len() {
            return Err(bad(format!(
                "{n} items cannot fit in {} bytes",
                self.buf.len()
            )));
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(f(self)?);
        }
        Ok(v)
    }
    pub fn end(&self) -> Result<(), Malformed> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(bad(format!("{} bytes after the end", self.buf.len())))
        }
    }
}

// ------------------------------------------------------- named values

// Views and media kinds travel as their output names (the same spelling
// as the JSON), read back into the enums: a name a worker should never
// send is a malformed reply, not a new value.

fn dec_media(d: &mut Dec<'_>) -> Result<crate::record::Media, Malformed> {
    d.string()?.parse().map_err(bad)
}

// ------------------------------------------------------------- the config

fn enc_config(e: &mut Enc, cfg: &HashConfig) {
    let HashConfig {
        image_limits,
        max_image_bytes,
        dihedral,
        views,
        video,
    } = cfg;
    let ImageLimits {
        max_pixels,
        max_alloc,
    } = image_limits;
    e.u64(*max_pixels);
    e.u64(*max_alloc);
    e.u64(*max_image_bytes);
    e.bool(*dihedral);
    e.u8(match views {
        ViewSet::None => 0,
        ViewSet::Dihedral => 1,
        ViewSet::All => 2,
    });
    let VideoOptions {
        seconds_per_hash,
        fast,
        timeout,
        max_duration,
        max_pixels,
        between_per_period,
        threads,
        tmk,
    } = video;
    e.f64(*seconds_per_hash);
    e.u8(match fast {
        None => 0,
        Some(FastMode::Keyframes) => 1,
        Some(FastMode::NoBFrames) => 2,
    });
    e.opt(timeout, |e, t| {
        e.u64(t.as_secs());
        e.u32(t.subsec_nanos());
    });
    e.opt(max_duration, |e, d| e.f64(*d));
    e.u64(*max_pixels);
    e.u64(*between_per_period);
    e.u64(*threads as u64);
    e.bool(*tmk);
}

fn dec_config(d: &mut Dec<'_>) -> Result<HashConfig, Malformed> {
    let image_limits = ImageLimits {
        max_pixels: d.u64()?,
        max_alloc: d.u64()?,
    };
    let max_image_bytes = d.u64()?;
    let dihedral = d.bool()?;
    let views = match d.u8()? {
        0 => ViewSet::None,
        1 => ViewSet::Dihedral,
        2 => ViewSet::All,
        v => return Err(bad(format!("view set {v}"))),
    };
    let seconds_per_hash = d.f64()?;
    let fast = match d.u8()? {
        0 => None,
        1 => Some(FastMode::Keyframes),
        2 => Some(FastMode::NoBFrames),
        v => return Err(bad(format!("fast mode {v}"))),
    };
    let timeout = d.opt(|d| {
        let s = d.u64()?;
        let n = d.u32()?;
        Ok(Duration::new(s, n.min(999_999_999)))
    })?;
    let max_duration = d.opt(|d| d.f64())?;
    let video = VideoOptions {
        seconds_per_hash,
        fast,
        timeout,
        max_duration,
        max_pixels: d.u64()?,
        between_per_period: d.u64()?,
        threads: usize::try_from(d.u64()?).map_err(|_| bad("threads"))?,
        tmk: d.bool()?,
    };
    Ok(HashConfig {
        image_limits,
        max_image_bytes,
        dihedral,
        views,
        video,
    })
}

/// A request: hash the item behind the passed descriptor, recorded under
/// `path` (the worker uses only its file name, as `hash` does).
pub fn encode_request(path: &[u8], cfg: &HashConfig) -> Vec<u8> {
    let mut e = Enc::default();
    enc_config(&mut e, cfg);
    e.bytes(path);
    e.buf
}

/// Read a request back (in the worker).
pub fn decode_request(buf: &[u8]) -> Result<(Vec<u8>, HashConfig), Malformed> {
    let mut d = Dec::new(buf);
    let cfg = dec_config(&mut d)?;
    let path = d.bytes()?.to_vec();
    d.end()?;
    Ok((path, cfg))
}

// ------------------------------------------------------------- the record

fn enc_pdq(e: &mut Enc, p: &Pdq) {
    e.buf.extend_from_slice(&p.0);
}

fn dec_pdq(d: &mut Dec<'_>) -> Result<Pdq, Malformed> {
    Ok(Pdq(d.arr()?))
}

fn enc_view(e: &mut Enc, v: &ViewHash) {
    let ViewHash {
        view,
        hash,
        quality,
    } = v;
    e.str(&view.to_string());
    enc_pdq(e, hash);
    e.u8(*quality);
}

fn dec_view(d: &mut Dec<'_>) -> Result<ViewHash, Malformed> {
    let name = d.string()?;
    Ok(ViewHash {
        view: name
            .parse()
            .map_err(|e: crate::views::UnknownView| bad(e.to_string()))?,
        hash: dec_pdq(d)?,
        quality: d.u8()?,
    })
}

fn enc_item(e: &mut Enc, p: &PdqItem) {
    let PdqItem {
        hash,
        quality,
        frame,
        timestamp,
        views,
    } = p;
    enc_pdq(e, hash);
    e.u8(*quality);
    e.opt(frame, |e, f| e.u64(*f));
    e.opt(timestamp, |e, t| e.f64(*t));
    e.opt(views, |e, v| e.seq(v, enc_view));
}

fn dec_item(d: &mut Dec<'_>) -> Result<PdqItem, Malformed> {
    Ok(PdqItem {
        hash: dec_pdq(d)?,
        quality: d.u8()?,
        frame: d.opt(|d| d.u64())?,
        timestamp: d.opt(|d| d.f64())?,
        views: d.opt(|d| d.seq(37, dec_view))?,
    })
}

/// Smallest encoded [`PdqItem`] (hash, quality, three empty options).
const MIN_ITEM: usize = 32 + 1 + 3;

fn kind_code(k: ErrorKind) -> u8 {
    match k {
        ErrorKind::Io => 0,
        ErrorKind::Decode => 1,
        ErrorKind::Limit => 2,
        ErrorKind::Unsupported => 3,
        ErrorKind::Timeout => 4,
        ErrorKind::Crash => 5,
    }
}

fn kind_of(c: u8) -> Result<ErrorKind, Malformed> {
    Ok(match c {
        0 => ErrorKind::Io,
        1 => ErrorKind::Decode,
        2 => ErrorKind::Limit,
        3 => ErrorKind::Unsupported,
        4 => ErrorKind::Timeout,
        5 => ErrorKind::Crash,
        v => return Err(bad(format!("error kind {v}"))),
    })
}

/// A reply carrying `rec` (all but its path, which the parent has, and
/// its matches, which the parent makes) and the worker's CPU time so far.
pub fn encode_record(rec: &FileRecord, cpu_seconds: f64) -> Vec<u8> {
    let FileRecord {
        path: _,
        path_raw_hex: _,
        path_os: _,
        media,
        bytes,
        md5,
        sha256,
        blake3,
        width,
        height,
        orientation,
        duration,
        frame_rate,
        video,
        pdq,
        between,
        dihedral,
        tmk,
        tmk_letterbox,
        tmk_band,
        views,
        error,
        matches: _,
    } = rec;
    let mut e = Enc::default();
    e.u8(TAG_RECORD);
    e.f64(cpu_seconds);
    e.str(media.as_str());
    e.u64(*bytes);
    e.opt(md5, |e, h| e.buf.extend_from_slice(&h.0));
    e.opt(sha256, |e, h| e.buf.extend_from_slice(&h.0));
    e.opt(blake3, |e, h| e.buf.extend_from_slice(&h.0));
    e.opt(width, |e, v| e.u32(*v));
    e.opt(height, |e, v| e.u32(*v));
    e.opt(orientation, |e, v| e.u8(*v));
    e.opt(duration, |e, v| e.f64(*v));
    e.opt(frame_rate, |e, v| e.f64(*v));
    e.opt(video, |e, v| {
        let VideoFacts {
            frames_decoded,
            frames_lost,
            codec,
            tmk_frames,
            tmk_error,
        } = v;
        e.u64(*frames_decoded);
        e.u64(*frames_lost);
        e.opt(codec, |e, c| e.str(c));
        e.opt(tmk_frames, |e, n| e.u64(*n));
        e.opt(tmk_error, |e, m| e.str(m));
    });
    e.seq(pdq, enc_item);
    e.seq(between, enc_item);
    e.opt(dihedral, |e, d| {
        let DihedralHashes {
            original,
            rotate90,
            rotate180,
            rotate270,
            flipx,
            flipy,
            flipplus1,
            flipminus1,
        } = d;
        for h in [
            original, rotate90, rotate180, rotate270, flipx, flipy, flipplus1, flipminus1,
        ] {
            enc_pdq(e, h);
        }
    });
    // The TMK+PDQF hash in its `.tmk` file layout (read back strictly).
    e.opt(tmk, |e, t| e.bytes(&t.to_bytes()));
    e.opt(tmk_letterbox, |e, t| e.bytes(&t.to_bytes()));
    e.opt(tmk_band, |e, t| e.bytes(&t.to_bytes()));
    e.opt(views, |e, v| e.seq(v, enc_view));
    e.opt(error, |e, err| {
        let ItemError { kind, message } = err;
        e.u8(kind_code(*kind));
        e.str(message);
    });
    e.buf
}

/// Fill `rec` (which has its path) from a record reply; returns the
/// worker's CPU seconds.
pub fn decode_record(buf: &[u8], rec: &mut FileRecord) -> Result<f64, Malformed> {
    let mut d = Dec::new(buf);
    if d.u8()? != TAG_RECORD {
        return Err(bad("not a record"));
    }
    let cpu = d.f64()?;
    rec.media = dec_media(&mut d)?;
    rec.bytes = d.u64()?;
    rec.md5 = d.opt(|d| Ok(Md5(d.arr()?)))?;
    rec.sha256 = d.opt(|d| Ok(Sha256(d.arr()?)))?;
    rec.blake3 = d.opt(|d| Ok(Blake3(d.arr()?)))?;
    rec.width = d.opt(|d| d.u32())?;
    rec.height = d.opt(|d| d.u32())?;
    rec.orientation = d.opt(|d| d.u8())?;
    rec.duration = d.opt(|d| d.f64())?;
    rec.frame_rate = d.opt(|d| d.f64())?;
    rec.video = d.opt(|d| {
        Ok(VideoFacts {
            frames_decoded: d.u64()?,
            frames_lost: d.u64()?,
            codec: d.opt(|d| d.string())?,
            tmk_frames: d.opt(|d| d.u64())?,
            tmk_error: d.opt(|d| d.string())?,
        })
    })?;
    rec.pdq = d.seq(MIN_ITEM, dec_item)?;
    rec.between = d.seq(MIN_ITEM, dec_item)?;
    rec.dihedral = d.opt(|d| {
        Ok(DihedralHashes {
            original: dec_pdq(d)?,
            rotate90: dec_pdq(d)?,
            rotate180: dec_pdq(d)?,
            rotate270: dec_pdq(d)?,
            flipx: dec_pdq(d)?,
            flipy: dec_pdq(d)?,
            flipplus1: dec_pdq(d)?,
            flipminus1: dec_pdq(d)?,
        })
    })?;
    rec.tmk = d.opt(|d| {
        hashdb::tmk::TmkHash::from_bytes(d.bytes()?)
            .map(std::sync::Arc::new)
            .map_err(|e| bad(format!("TMK hash: {e}")))
    })?;
    rec.tmk_letterbox = d.opt(|d| {
        hashdb::tmk::TmkHash::from_bytes(d.bytes()?)
            .map(std::sync::Arc::new)
            .map_err(|e| bad(format!("letterbox TMK hash: {e}")))
    })?;
    rec.tmk_band = d.opt(|d| {
        hashdb::tmk::TmkHash::from_bytes(d.bytes()?)
            .map(std::sync::Arc::new)
            .map_err(|e| bad(format!("band TMK hash: {e}")))
    })?;
    rec.views = d.opt(|d| d.seq(37, dec_view))?;
    rec.error = d.opt(|d| {
        let kind = kind_of(d.u8()?)?;
        Ok(ItemError::new(kind, d.string()?))
    })?;
    d.end()?;
    Ok(cpu)
}

// ----------------------------------------------------------------- frames

/// Write one frame, passing `fd` with its header when given.
pub fn write_frame(sock: &UnixStream, payload: &[u8], fd: Option<RawFd>) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let header = len.to_le_bytes();
    match fd {
        Some(fd) => send_with_fd(sock, &header, fd)?,
        None => (&*sock).write_all(&header)?,
    }
    (&*sock).write_all(payload)
}

/// `sendmsg` of `data` (wholly) with `fd` attached to its first byte.
fn send_with_fd(sock: &UnixStream, data: &[u8], fd: RawFd) -> io::Result<()> {
    const FD_SPACE: usize = std::mem::size_of::<RawFd>();
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(FD_SPACE as u32) } as usize;
    let mut cmsg_buf = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: zeroed msghdr is a valid empty header; every pointer set
    // below points into buffers that outlive the call.
    let sent = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg_buf.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(FD_SPACE as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        loop {
            let n = libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL);
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break n;
        }
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    // The descriptor went with the first byte; the rest goes plainly.
    (&*sock).write_all(&data[sent as usize..])
}

/// Read a frame header with `recvmsg`, taking any descriptor passed with
/// it (the worker's side). `Ok(None)` at end of stream.
pub fn read_header_with_fd(sock: &UnixStream) -> io::Result<Option<(u32, Option<OwnedFd>)>> {
    let mut header = [0u8; 4];
    let mut got = 0;
    let mut fd = None;
    const FD_SPACE: usize = std::mem::size_of::<RawFd>();
    while got < header.len() {
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE(FD_SPACE as u32) } as usize;
        let mut cmsg_buf = vec![0u8; space];
        let mut iov = libc::iovec {
            iov_base: header[got..].as_mut_ptr().cast(),
            iov_len: header.len() - got,
        };
        // SAFETY: as in send_with_fd; the kernel writes at most the
        // lengths given into our buffers.
        let n = unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cmsg_buf.as_mut_ptr().cast();
            msg.msg_controllen = space as _;
            let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n > 0 {
                let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
                while !cmsg.is_null() {
                    if (*cmsg).cmsg_level == libc::SOL_SOCKET
                        && (*cmsg).cmsg_type == libc::SCM_RIGHTS
                    {
                        let raw = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
                        // Only one descriptor is ever sent; a second
                        // replaces (and closes) the first.
                        fd = Some(OwnedFd::from_raw_fd(raw));
                    }
                    cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
                }
            }
            n
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += n as usize;
    }
    Ok(Some((u32::from_le_bytes(header), fd)))
}

/// How reading a reply ended without one.
#[derive(Debug)]
pub enum ReadError {
    /// The worker closed its end (it died).
    Closed,
    /// The deadline passed.
    TimedOut,
    Malformed(Malformed),
    Io(io::Error),
}

/// Read exactly `buf.len()` bytes before `deadline`.
fn read_full(
    sock: &UnixStream,
    buf: &mut [u8],
    deadline: Option<Instant>,
) -> Result<(), ReadError> {
    let mut got = 0;
    while got < buf.len() {
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ReadError::TimedOut);
            }
            sock.set_read_timeout(Some(left)).map_err(ReadError::Io)?;
        }
        match (&*sock).read(&mut buf[got..]) {
            Ok(0) => return Err(ReadError::Closed),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Err(ReadError::Closed),
            Err(e) => return Err(ReadError::Io(e)),
        }
    }
    Ok(())
}

/// Read one frame (the parent's side), at most `max` bytes, before
/// `deadline`. The buffer grows as bytes arrive, never to a length the
/// worker merely claims.
pub fn read_frame(
    sock: &UnixStream,
    max: usize,
    deadline: Option<Instant>,
) -> Result<Vec<u8>, ReadError> {
    let mut header = [0u8; 4];
    read_full(sock, &mut header, deadline)?;
    let len = u32::from_le_bytes(header) as usize;
    if len > max {
        return Err(ReadError::Malformed(bad(format!(
            "a frame of {len} bytes (at most {max})"
        ))));
    }
    let mut out = Vec::new();
    const CHUNK: usize = 1 << 20;
    while out.len() < len {
        let start = out.len();
        let n = (len - start).min(CHUNK);
        out.resize(start + n, 0);
        read_full(sock, &mut out[start..], deadline)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sample() -> FileRecord {
        let mut r = FileRecord::new(Path::new("x.mp4"));
        r.media = crate::record::Media::Video;
        r.bytes = 12345;
        r.md5 = Some(Md5([1; 16]));
        r.sha256 = Some(Sha256([2; 32]));
        r.blake3 = Some(Blake3([3; 32]));
        r.width = Some(640);
        r.height = Some(480);
        r.orientation = Some(1);
        r.duration = Some(12.345_678_901_234);
        r.frame_rate = Some(30000.0 / 1001.0);
        r.video = Some(VideoFacts {
            frames_decoded: 10,
            frames_lost: 1,
            codec: Some("h264".into()),
            tmk_frames: Some(42),
            tmk_error: None,
        });
        r.pdq = vec![PdqItem {
            hash: Pdq([9; 32]),
            quality: 77,
            frame: Some(3),
            timestamp: Some(0.1 + 0.2),
            views: Some(vec![ViewHash {
                view: "trim+flipy".parse().unwrap(),
                hash: Pdq([5; 32]),
                quality: 50,
            }]),
        }];
        r.between = vec![PdqItem {
            hash: Pdq([8; 32]),
            quality: 60,
            frame: None,
            timestamp: None,
            views: None,
        }];
        r.error = Some(ItemError::new(ErrorKind::Decode, "damaged"));
        r
    }

    #[test]
    fn records_round_trip_exactly() {
        let r = sample();
        let buf = encode_record(&r, 1.5);
        let mut back = FileRecord::new(Path::new("x.mp4"));
        let cpu = decode_record(&buf, &mut back).unwrap();
        assert_eq!(cpu, 1.5);
        assert_eq!(back.to_json_line(), r.to_json_line());
        // Every truncation is refused, never a panic.
        for n in 0..buf.len() {
            let mut b = FileRecord::new(Path::new("x"));
            assert!(decode_record(&buf[..n], &mut b).is_err(), "{n}");
        }
    }

    #[test]
    fn hostile_counts_are_refused_before_allocating() {
        let mut e = Enc::default();
        e.u8(TAG_RECORD);
        e.f64(0.0);
        e.str("image");
        e.u64(0);
        for _ in 0..10 {
            e.u8(0);
        }
        e.u32(u32::MAX); // pdq items claimed
        let mut b = FileRecord::new(Path::new("x"));
        let err = decode_record(&e.buf, &mut b).unwrap_err();
        assert!(err.0.contains("cannot fit"), "{err}");
    }

    #[test]
    fn configs_round_trip() {
        let mut cfg = HashConfig {
            views: ViewSet::All,
            dihedral: true,
            ..HashConfig::default()
        };
        cfg.video.fast = Some(FastMode::NoBFrames);
        cfg.video.max_duration = Some(3.25);
        let buf = encode_request(b"a/b.jpg", &cfg);
        let (path, back) = decode_request(&buf).unwrap();
        assert_eq!(path, b"a/b.jpg");
        assert_eq!(format!("{back:?}"), format!("{cfg:?}"));
    }
}
