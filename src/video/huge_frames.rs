//! Decoded frames in huge pages.
//!
//! Why: TMK+PDQF reads every frame the ffmpeg CLI's `-r 15` keeps, whole
//! (a bicubic 64x64 of the full frame), once, soon after the decoder wrote
//! it. With 4 KiB pages a 1080x1080 frame spans about 440 pages, and the
//! page walks of that one pass were a measurable part of what TMK adds to
//! hashing: the same benchmark binary with glibc's huge-page tunable took
//! one to two points off it on `test-padded-dimensions`, and this module
//! 0.3 to 1.5 (see the README). A 2 MiB page holds all three planes of
//! such a frame.
//!
//! How: FFmpeg's own `get_buffer2` still decides the layout (linesizes,
//! padding and alignment, which each codec and FFmpeg version sets its own
//! way); we take the frame it made, put each of its buffers at the same
//! place in one slab of ours, and give its buffers straight back to its
//! pool. Slabs come from one `AVBufferPool` per slab size, so after the
//! first frames nothing is mapped any more, and the slabs of a finished
//! decoder are kept for the next one ([`SPARE`]); each is mapped 2
//! MiB-aligned and advised `MADV_HUGEPAGE` (transparent huge pages are
//! commonly set to `madvise`). One buffer for all planes is what FFmpeg allows ("there
//! may be a single buffer for all the data") and keeps the frame writable.
//!
//! Small frames keep FFmpeg's buffers: they fit in cache, their pages are
//! few, and a huge page would be mostly waste. Where a slab cannot be had
//! (a memory limit, no such mapping), the frame keeps FFmpeg's buffers too:
//! this is a speed-up, never a new way to fail. `HASHSIEVE_NO_HUGE_FRAMES`
//! turns it off (to compare, or to rule it out).

use ffmpeg_next::ffi;
use std::ffi::{c_int, c_void};
use std::sync::{Mutex, OnceLock, PoisonError};

/// The huge page size of x86-64 and of arm64 with 4 KiB pages.
const HUGE_PAGE: usize = 2 << 20;

/// Frames smaller than this keep FFmpeg's buffers (640x480 4:2:0 is
/// 0.46 MB; 1280x720, 1.4 MB, takes a 2 MiB slab).
const MIN_FRAME: usize = 1 << 20;

/// Where each buffer starts in a slab (av_malloc's alignment with AVX-512).
const ALIGN: usize = 64;

/// Slab sizes a decoder keeps pools for. A stream that changes size
/// mid-way gets a new pool each time; the oldest is let go (its slabs go
/// to [`SPARE`] as the frames holding them are freed).
const MAX_POOLS: usize = 4;

/// Whether decoders get huge-page frames in this process.
fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        cfg!(target_os = "linux") && std::env::var_os("HASHSIEVE_NO_HUGE_FRAMES").is_none()
    })
}

struct Pool {
    size: usize,
    pool: *mut ffi::AVBufferPool,
}

/// The slab pools of one decoder. Its codec context points at it, so it
/// must outlive the context (see [`HugeFrames::install`]).
pub(super) struct HugeFrames {
    pools: Mutex<Vec<Pool>>,
}

// SAFETY: the raw pointers are AVBufferPools, which FFmpeg documents as
// thread-safe, and the list of them is behind a mutex. Frame threads call
// `get_buffer` from their own threads.
unsafe impl Send for HugeFrames {}
// SAFETY: as above.
unsafe impl Sync for HugeFrames {}

impl HugeFrames {
    /// Makes `ctx`, not yet opened, take its frames from slabs; `None`
    /// (and `ctx` untouched) when this process does not, or the codec
    /// does not let callers allocate its frames (no `DR1`). The returned
    /// state must be dropped after `ctx` is freed.
    ///
    /// # Safety
    /// `ctx` is a valid codec context that is not open, its threading
    /// already set, and its `opaque` and `get_buffer2` are ours to set.
    pub(super) unsafe fn install(
        ctx: *mut ffi::AVCodecContext,
        codec: *const ffi::AVCodec,
    ) -> Option<Box<HugeFrames>> {
        if !enabled()
            || codec.is_null()
            || (*codec).capabilities & ffi::AV_CODEC_CAP_DR1 as c_int == 0
        {
            return None;
        }
        let state = Box::new(HugeFrames {
            pools: Mutex::new(Vec::new()),
        });
        // Frame threads copy both fields into their own contexts and call
        // it from their own threads, which FFmpeg 5.1 still wants said
        // (it warns otherwise); it is thread-safe.
        (*ctx).opaque = &*state as *const HugeFrames as *mut c_void;
        (*ctx).get_buffer2 = Some(get_buffer);
        (*ctx).thread_safe_callbacks = 1;
        Some(state)
    }

    /// A slab of `size` bytes, or null.
    fn slab(&self, size: usize) -> *mut ffi::AVBufferRef {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        let pool = match pools.iter().find(|p| p.size == size) {
            Some(p) => p.pool,
            None => {
                // SAFETY: a new pool with our allocator and no opaque.
                let pool = unsafe {
                    ffi::av_buffer_pool_init2(
                        size as _,
                        std::ptr::null_mut(),
                        Some(alloc_slab),
                        None,
                    )
                };
                if pool.is_null() {
                    return std::ptr::null_mut();
                }
                if pools.len() == MAX_POOLS {
                    let mut old = pools.remove(0);
                    // SAFETY: ours; FFmpeg frees it when its last slab
                    // comes back.
                    unsafe { ffi::av_buffer_pool_uninit(&mut old.pool) };
                }
                pools.push(Pool { size, pool });
                pool
            }
        };
        // SAFETY: a live pool; thread-safe.
        unsafe { ffi::av_buffer_pool_get(pool) }
    }
}

impl Drop for HugeFrames {
    fn drop(&mut self) {
        let pools = self.pools.get_mut().unwrap_or_else(PoisonError::into_inner);
        for p in pools.iter_mut() {
            // SAFETY: ours; frames still holding slabs keep the pool
            // alive until they are freed.
            unsafe { ffi::av_buffer_pool_uninit(&mut p.pool) };
        }
    }
}

/// Slabs let go by finished decoders, kept for the next video: mapping a
/// slab and the kernel zeroing its huge page at first touch cost more than
/// a short clip gains (measured: about 1 % of a 1080x1080 clip's decode).
/// glibc keeps freed frame memory in its heap the same way.
static SPARE: Mutex<Spare> = Mutex::new(Spare {
    slabs: Vec::new(),
    bytes: 0,
});

/// Most bytes kept in [`SPARE`]: a 1080x1080 decoder's frames several
/// times over, a small part of the sandboxed worker's memory limit.
const SPARE_BYTES: usize = 64 << 20;

/// Mappings (address, length) not in use.
struct Spare {
    slabs: Vec<(usize, usize)>,
    bytes: usize,
}

impl Spare {
    fn take(&mut self, len: usize) -> Option<usize> {
        let i = self.slabs.iter().position(|&(_, l)| l == len)?;
        self.bytes -= len;
        Some(self.slabs.swap_remove(i).0)
    }

    /// Unmaps every kept slab (when a mapping fails: memory is short).
    fn release(&mut self) {
        for (addr, len) in self.slabs.drain(..) {
            // SAFETY: a whole mapping of ours that nothing uses.
            unsafe { libc::munmap(addr as *mut c_void, len) };
        }
        self.bytes = 0;
    }
}

fn spare() -> std::sync::MutexGuard<'static, Spare> {
    SPARE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Maps `len` bytes (whole huge pages) at a huge-page boundary, advised
/// for huge pages; `None` when the system says no.
fn map_slab(len: usize) -> Option<usize> {
    let over = len.checked_add(HUGE_PAGE)?;
    // SAFETY: a new private anonymous mapping.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            over,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return None;
    }
    // Keep the aligned `len` bytes inside the mapping, unmap the rest.
    let addr = base as usize;
    let start = addr.next_multiple_of(HUGE_PAGE);
    let head = start - addr;
    let tail = over - head - len;
    // SAFETY: both ranges are parts of the mapping just made, outside
    // the part we keep.
    unsafe {
        if head > 0 {
            libc::munmap(base, head);
        }
        if tail > 0 {
            libc::munmap((start + len) as *mut c_void, tail);
        }
    }
    #[cfg(target_os = "linux")]
    // SAFETY: advice on our own mapping. Only advice: without it the
    // slab still works, in small pages.
    unsafe {
        libc::madvise(start as *mut c_void, len, libc::MADV_HUGEPAGE);
    }
    Some(start)
}

/// A buffer of `size` bytes at the start of a slab of whole huge pages,
/// kept or new; the slab's length rides in the buffer's opaque for
/// [`free_slab`].
unsafe extern "C" fn alloc_slab(_opaque: *mut c_void, size: usize) -> *mut ffi::AVBufferRef {
    let Some(len) = size.checked_next_multiple_of(HUGE_PAGE) else {
        return std::ptr::null_mut();
    };
    let kept = spare().take(len);
    let Some(start) = kept.or_else(|| map_slab(len)).or_else(|| {
        spare().release();
        map_slab(len)
    }) else {
        return std::ptr::null_mut();
    };
    let buf = ffi::av_buffer_create(
        start as *mut u8,
        size as _,
        Some(free_slab),
        len as *mut c_void,
        0,
    );
    if buf.is_null() {
        free_slab(len as *mut c_void, start as *mut u8);
    }
    buf
}

/// Keeps the slab in [`SPARE`], or unmaps it when that is full.
unsafe extern "C" fn free_slab(len: *mut c_void, data: *mut u8) {
    let len = len as usize;
    let mut spare = spare();
    if spare.bytes + len <= SPARE_BYTES {
        spare.bytes += len;
        spare.slabs.push((data as usize, len));
    } else {
        drop(spare);
        libc::munmap(data as *mut c_void, len);
    }
}

/// The decoder's `get_buffer2`: FFmpeg's frame, moved into a slab.
unsafe extern "C" fn get_buffer(
    ctx: *mut ffi::AVCodecContext,
    frame: *mut ffi::AVFrame,
    flags: c_int,
) -> c_int {
    let r = ffi::avcodec_default_get_buffer2(ctx, frame, flags);
    if r < 0 {
        return r;
    }
    let state = (*ctx).opaque as *const HugeFrames;
    if !state.is_null()
        && (*ctx).codec_type == ffi::AVMediaType::AVMEDIA_TYPE_VIDEO
        && (*ctx).hw_frames_ctx.is_null()
    {
        move_to_slab(&*state, frame);
    }
    r
}

/// Where `frame`'s planes go in a slab (each plane's offset in it, its
/// buffers laid one after the other), and the slab's size; `None` when the
/// frame is not one we move (small, or a plane outside its buffers).
unsafe fn plan(frame: *const ffi::AVFrame) -> Option<([Option<usize>; 8], usize)> {
    let f = &*frame;
    if !f.extended_buf.is_null() || f.nb_extended_buf != 0 || f.buf[0].is_null() {
        return None;
    }
    let mut starts = [0usize; 8];
    let mut size = 0usize;
    for (i, b) in f.buf.iter().enumerate() {
        if b.is_null() {
            continue;
        }
        starts[i] = size;
        size = size
            .checked_add((**b).size)?
            .checked_next_multiple_of(ALIGN)?;
    }
    let mut planes = [None; 8];
    for (p, &d) in f.data.iter().enumerate().filter(|(_, d)| !d.is_null()) {
        let (i, at) = holder(f, d)?;
        planes[p] = Some(starts[i] + at);
    }
    (size >= MIN_FRAME).then_some((planes, size))
}

/// The buffer of `f` that holds `d`, and `d`'s offset in it.
fn holder(f: &ffi::AVFrame, d: *mut u8) -> Option<(usize, usize)> {
    f.buf.iter().enumerate().find_map(|(i, &b)| {
        if b.is_null() {
            return None;
        }
        // SAFETY: a live buffer reference of the frame.
        let (start, len) = unsafe { ((*b).data as usize, (*b).size) };
        let at = (d as usize).checked_sub(start)?;
        (at < len).then_some((i, at))
    })
}

/// Puts `frame`'s planes at the same offsets in one slab and lets FFmpeg's
/// buffers go; leaves the frame as it is when it is not one we move or no
/// slab can be had.
unsafe fn move_to_slab(state: &HugeFrames, frame: *mut ffi::AVFrame) {
    let Some((planes, size)) = plan(frame) else {
        return;
    };
    let slab = state.slab(size);
    if slab.is_null() {
        return;
    }
    let f = &mut *frame;
    let base = (*slab).data;
    for (d, at) in f.data.iter_mut().zip(planes) {
        if let Some(at) = at {
            *d = base.add(at);
        }
    }
    for b in f.buf.iter_mut() {
        if !b.is_null() {
            ffi::av_buffer_unref(b);
        }
    }
    f.buf[0] = slab;
    f.extended_data = f.data.as_mut_ptr();
}

#[cfg(test)]
mod tests {
    use super::*;
    use ffmpeg_next::codec::threading;
    use ffmpeg_next::util::frame::video::Video;
    use std::path::Path;
    use std::process::Command;

    fn pools() -> HugeFrames {
        HugeFrames {
            pools: Mutex::new(Vec::new()),
        }
    }

    /// A frame with FFmpeg's own per-plane buffers.
    fn ffmpeg_frame(width: u32, height: u32) -> Video {
        let mut v = Video::empty();
        // SAFETY: a fresh frame; av_frame_get_buffer allocates its planes.
        unsafe {
            let f = v.as_mut_ptr();
            (*f).format = ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as c_int;
            (*f).width = width as c_int;
            (*f).height = height as c_int;
            assert_eq!(ffi::av_frame_get_buffer(f, 0), 0);
        }
        v
    }

    fn planes(v: &Video) -> Vec<Vec<u8>> {
        (0..v.planes())
            .map(|p| {
                let (w, h) = (v.plane_width(p) as usize, v.plane_height(p) as usize);
                let stride = v.stride(p);
                (0..h)
                    .flat_map(|y| v.data(p)[y * stride..y * stride + w].to_vec())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_large_frame_moves_into_one_aligned_writable_slab() {
        let state = pools();
        let mut v = ffmpeg_frame(1280, 720);
        let strides: Vec<usize> = (0..3).map(|p| v.stride(p)).collect();
        // SAFETY: the frame's planes, mapped and plane_height rows long.
        unsafe { move_to_slab(&state, v.as_mut_ptr()) };
        // SAFETY: plain reads of the frame's fields.
        let (base, size, writable) = unsafe {
            let f = &*v.as_ptr();
            assert!(f.buf[1..].iter().all(|b| b.is_null()), "one buffer");
            (
                (*f.buf[0]).data as usize,
                (*f.buf[0]).size,
                ffi::av_frame_is_writable(v.as_ptr() as *mut _) == 1,
            )
        };
        assert_eq!(base % HUGE_PAGE, 0, "slab at a huge-page boundary");
        assert!(writable, "the one reference to its slab");
        let strides_after: Vec<usize> = (0..3).map(|p| v.stride(p)).collect();
        assert_eq!(strides, strides_after, "FFmpeg's layout is kept");
        // Every plane inside the slab, none overlapping the next.
        let mut spans: Vec<(usize, usize)> = (0..3)
            .map(|p| {
                let start = v.data(p).as_ptr() as usize;
                (start, start + v.stride(p) * v.plane_height(p) as usize)
            })
            .collect();
        spans.sort_unstable();
        assert!(spans[0].0 >= base && spans[2].1 <= base + size);
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "{spans:?}");
        // Writable end to end, and the pixels stay where they were written.
        for p in 0..3 {
            v.data_mut(p).fill(p as u8 + 1);
        }
        assert!(planes(&v)
            .iter()
            .enumerate()
            .all(|(p, px)| px.iter().all(|&b| b == p as u8 + 1)));
        // The slab goes back to its pool and comes out again.
        drop(v);
        let mut again = ffmpeg_frame(1280, 720);
        // SAFETY: as above.
        unsafe { move_to_slab(&state, again.as_mut_ptr()) };
        // SAFETY: a plain read.
        let reused = unsafe { (*(*again.as_ptr()).buf[0]).data as usize };
        assert_eq!(reused, base, "slab reused");
    }

    #[test]
    fn a_small_frame_keeps_ffmpegs_buffers() {
        let state = pools();
        let mut v = ffmpeg_frame(320, 240);
        // SAFETY: a plain read.
        let before = unsafe { (*v.as_ptr()).buf };
        // SAFETY: as above.
        unsafe { move_to_slab(&state, v.as_mut_ptr()) };
        // SAFETY: a plain read.
        assert_eq!(unsafe { (*v.as_ptr()).buf }, before);
        assert!(state.pools.lock().unwrap().is_empty());
    }

    /// The frames of `path` as the decoder gives them, on two frame
    /// threads, with or without slabs; with them, also checks every frame
    /// is in a slab.
    fn decode_all(path: &Path, huge: bool) -> Vec<Vec<Vec<u8>>> {
        let mut input = ffmpeg_next::format::input(path).expect("open");
        let stream = input
            .streams()
            .best(ffmpeg_next::media::Type::Video)
            .expect("video stream");
        let index = stream.index();
        let mut ctx = ffmpeg_next::codec::Context::from_parameters(stream.parameters()).unwrap();
        ctx.set_threading(threading::Config {
            kind: threading::Type::Frame,
            count: 2,
            ..threading::Config::default()
        });
        let codec = ffmpeg_next::codec::decoder::find(ctx.id()).expect("decoder");
        let state = huge
            // SAFETY: not open; ours to set.
            .then(|| unsafe { HugeFrames::install(ctx.as_mut_ptr(), codec.as_ptr()) })
            .flatten();
        let huge = huge && enabled();
        assert_eq!(state.is_some(), huge, "h264 has DR1");
        let mut dec = ctx.decoder().open_as(codec).unwrap().video().unwrap();
        let mut out = Vec::new();
        let mut take = |dec: &mut ffmpeg_next::codec::decoder::Video| {
            let mut f = Video::empty();
            while dec.receive_frame(&mut f).is_ok() {
                // SAFETY: plain reads of a decoded frame.
                let in_slab = unsafe {
                    let b = (*f.as_ptr()).buf;
                    b[1].is_null() && ((*b[0]).data as usize).is_multiple_of(HUGE_PAGE)
                };
                assert_eq!(in_slab, huge);
                out.push(planes(&f));
            }
        };
        for (s, packet) in input.packets() {
            if s.index() == index {
                dec.send_packet(&packet).unwrap();
                take(&mut dec);
            }
        }
        dec.send_eof().unwrap();
        take(&mut dec);
        drop(dec);
        drop(state);
        out
    }

    #[test]
    fn decoded_frames_are_the_same_in_slabs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b-frames.mp4");
        let made = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("testsrc2=size=1280x720:rate=25:duration=2")
            .args([
                "-c:v", "libx264", "-bf", "3", "-g", "20", "-pix_fmt", "yuv420p",
            ])
            .arg(&path)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            assert!(
                std::env::var_os("HASHSIEVE_REQUIRE_FIXTURES").is_none(),
                "the ffmpeg CLI (with libx264) is needed and HASHSIEVE_REQUIRE_FIXTURES is set"
            );
            println!("skipped: the ffmpeg CLI with libx264");
            return;
        }
        let plain = decode_all(&path, false);
        let huge = decode_all(&path, true);
        assert_eq!(plain.len(), 50);
        assert!(plain == huge, "the same pixels");
    }
}
