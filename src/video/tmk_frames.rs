//! TMK+PDQF from our own decode: each frame [`super::rate`] picks is turned
//! into the 64x64 RGB24 picture the ffmpeg CLI would pipe out of
//! `-s 64:64 -pix_fmt rgb24` (FFmpeg 5.1), then into its PDQF feature.
//!
//! What "as the CLI does it" means, from `fftools/ffmpeg_filter.c` and
//! `libavfilter/vf_scale.c` of FFmpeg 5.1:
//!
//! * The CLI's graph is `buffer -> [autorotate] -> scale=64:64:flags=bicubic
//!   -> format=rgb24`, and the scale filter outputs RGB24 itself: one
//!   swscale call does the scaling and the YUV to RGB conversion, with
//!   `SWS_BICUBIC` only (the CLI's default `sws_flags`), default `param0/1`,
//!   `src_v_chr_pos = 128` for yuv420p (MPEG-2 chroma siting), and the
//!   source range from the first frame that tags one. Before each frame
//!   the filter sets the colour details: the matrix of the frame's
//!   `colorspace` (`in_color_matrix=auto`; untagged is BT.601), its range
//!   when tagged, the rest as the context has them. [`CliScaler`] makes
//!   the same calls into the same libswscale, so the bytes are the same;
//!   for 8-bit 4:2:0 frames larger than 64x64 it computes them with
//!   `tmk_scale`, a bit-exact Rust/AVX2 copy of that one path
//!   (about a third of libswscale's instructions), and keeps the context
//!   for every other frame.
//! * Autorotate: a display matrix (the frame's, else the stream's) inserts
//!   `transpose`, `hflip` or `vflip` before the scaler. These move pixels
//!   without changing them; [`Orientation`] does the same moves. An angle
//!   that is not a multiple of 90 degrees (the CLI's `rotate` filter, which
//!   interpolates) is refused: that hash would not be Meta's.
//!
//! Everything here runs on the thread that hashes frames (decoding may run
//! ahead on another); a failure makes the video's TMK fail with a message,
//! never its vPDQ.

use std::ffi::{c_int, CStr};

use ffmpeg_next::ffi;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::util::frame::video::Video;
use hashdb::tmk::TmkHash;

use super::tmk_scale;
use crate::tmk::{TmkHasher, FRAME_BYTES, FRAME_SIDE};
use crate::views::Rect;

/// How the CLI's autorotate turns a frame before scaling it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    Upright,
    /// `transpose` with the CLI's direction number: 0 `cclock_flip`,
    /// 1 `clock`, 2 `cclock`, 3 `clock_flip`.
    Transpose(u8),
    /// `hflip` and/or `vflip`.
    Flip {
        h: bool,
        v: bool,
    },
    /// Any other angle (the CLI's `rotate` filter): not reproduced.
    Other(i32),
}

impl Orientation {
    /// The CLI's choice (`configure_input_video_filter` with
    /// `get_rotation`) for a display matrix, `None` for none.
    pub fn from_display_matrix(m: Option<&[i32; 9]>) -> Orientation {
        let theta = match m {
            // SAFETY: av_display_rotation_get reads nine int32s.
            Some(m) => -(unsafe { ffi::av_display_rotation_get(m.as_ptr()) }).round(),
            None => 0.0,
        };
        let theta = theta - 360.0 * (theta / 360.0 + 0.9 / 360.0).floor();
        let near = |a: f64| (theta - a).abs() < 1.0;
        match m {
            Some(m) if near(90.0) => Orientation::Transpose(if m[3] > 0 { 0 } else { 1 }),
            Some(m) if near(180.0) => Orientation::Flip {
                h: m[0] < 0,
                v: m[4] < 0,
            },
            Some(m) if near(270.0) => Orientation::Transpose(if m[3] < 0 { 3 } else { 2 }),
            Some(_) if theta.abs() > 1.0 => Orientation::Other(theta as i32),
            Some(m) if m[4] < 0 => Orientation::Flip { h: false, v: true },
            _ => Orientation::Upright,
        }
    }
}

/// The display matrix attached to a decoded frame, if any.
fn frame_display_matrix(f: &Video) -> Option<[i32; 9]> {
    // SAFETY: reads the frame's side data list; the data, when present, is
    // at least 36 bytes (FFmpeg's display matrix is nine int32s).
    unsafe {
        let sd = ffi::av_frame_get_side_data(
            f.as_ptr(),
            ffi::AVFrameSideDataType::AV_FRAME_DATA_DISPLAYMATRIX,
        );
        if sd.is_null() || (*sd).size < 36 {
            return None;
        }
        let p = (*sd).data as *const i32;
        Some(std::array::from_fn(|i| p.add(i).read_unaligned()))
    }
}

/// The display matrix of a stream's side data, if any.
///
/// # Safety
/// `st` must be a valid stream of an open format context.
pub unsafe fn stream_display_matrix(st: *const ffi::AVStream) -> Option<[i32; 9]> {
    let mut size: usize = 0;
    let p = ffi::av_stream_get_side_data(
        st,
        ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
        &mut size as *mut usize as *mut _,
    );
    if p.is_null() || size < 36 {
        return None;
    }
    let p = p as *const i32;
    Some(std::array::from_fn(|i| p.add(i).read_unaligned()))
}

/// The pixel moves of `orient` on `src` into `dst` (reallocated when its
/// shape differs). Planar formats with one byte a sample and the same
/// chroma subsampling both ways only (what the CLI's transpose accepts
/// without converting first).
fn reorient(src: &Video, orient: Orientation, dst: &mut Video) -> Result<(), String> {
    let fmt = src.format();
    let desc = fmt
        .descriptor()
        .ok_or_else(|| format!("no descriptor for pixel format {fmt:?}"))?;
    // SAFETY: the descriptor is a static FFmpeg table entry.
    let (flags, comps, log2w, log2h) = unsafe {
        let d = desc.as_ptr();
        (
            (*d).flags,
            (*d).nb_components,
            (*d).log2_chroma_w,
            (*d).log2_chroma_h,
        )
    };
    let planar = flags & ffi::AV_PIX_FMT_FLAG_PLANAR as u64 != 0 || comps == 1;
    let byte_samples = (0..comps as usize).all(|c| {
        // SAFETY: as above, `c` < nb_components.
        let comp = unsafe { (*desc.as_ptr()).comp[c] };
        comp.depth == 8 && comp.step == 1
    });
    if !planar || !byte_samples || log2w != log2h || flags & ffi::AV_PIX_FMT_FLAG_PAL as u64 != 0 {
        return Err(format!(
            "rotated video in pixel format {fmt:?}: its autorotation is not reproduced"
        ));
    }
    let (w, h) = (src.width() as usize, src.height() as usize);
    let (ow, oh) = match orient {
        Orientation::Transpose(_) => (h, w),
        _ => (w, h),
    };
    if dst.format() != fmt || dst.width() as usize != ow || dst.height() as usize != oh {
        *dst = Video::new(fmt, ow as u32, oh as u32);
    }
    // SAFETY: copies the colour tags and timestamps only.
    unsafe {
        ffi::av_frame_copy_props(dst.as_mut_ptr(), src.as_ptr());
    }
    for plane in 0..src.planes() {
        let sub = if plane == 1 || plane == 2 { log2w } else { 0 };
        let ceil = |v: usize| (v + (1 << sub) - 1) >> sub;
        let (pw, ph) = (ceil(w), ceil(h));
        let (opw, oph) = (ceil(ow), ceil(oh));
        let (ss, ds) = (src.stride(plane), dst.stride(plane));
        let s = src.data(plane);
        let d = dst.data_mut(plane);
        for r in 0..oph {
            let row = &mut d[r * ds..r * ds + opw];
            match orient {
                Orientation::Transpose(dir) => {
                    // vf_transpose: out[r][x] = in[x'][r'], x' and r'
                    // mirrored by the direction's bits.
                    let rr = if dir & 2 != 0 { oph - 1 - r } else { r };
                    for (x, out) in row.iter_mut().enumerate() {
                        let sx = if dir & 1 != 0 { ph - 1 - x } else { x };
                        *out = s[sx * ss + rr];
                    }
                }
                Orientation::Flip { h: hf, v: vf } => {
                    let sr = if vf { ph - 1 - r } else { r };
                    let line = &s[sr * ss..sr * ss + pw];
                    if hf {
                        for (out, v) in row.iter_mut().zip(line.iter().rev()) {
                            *out = *v;
                        }
                    } else {
                        row.copy_from_slice(line);
                    }
                }
                Orientation::Upright | Orientation::Other(_) => {
                    row.copy_from_slice(&s[r * ss..r * ss + pw]);
                }
            }
        }
    }
    Ok(())
}

/// `SWS_PARAM_DEFAULT`: vf_scale's default `param0` / `param1`.
const SWS_PARAM_DEFAULT: i64 = 123456;

/// A libswscale context set up as FFmpeg 5.1's scale filter sets it up for
/// the CLI's `-s 64:64 -pix_fmt rgb24` (see the module docs).
pub struct CliScaler {
    /// Opened on the first frame that needs libswscale: most videos never
    /// do ([`tmk_scale`] takes their frames), and opening one costs about
    /// 0.6 ms, half a percent of hashing a short clip.
    ctx: Option<Context>,
    /// Source format, width and height the context is for.
    key: (c_int, c_int, c_int),
    /// vf_scale's `in_frame_range`: the last range a frame tagged.
    in_frame_range: ffi::AVColorRange,
    out: Video,
    /// The colour state the context has (or would have, had it been
    /// opened): what vf_scale reads back and sets again for each frame.
    details: Details,
    /// The same scale in Rust for the sources [`tmk_scale`] reproduces
    /// exactly (8-bit 4:2:0 larger than 64x64), `None` for the others.
    fast: Option<tmk_scale::Scaler>,
    /// A reference to the decoded frame `fast` took last through
    /// [`CliScaler::scale_decoded`]: the next frame's rows equal to its
    /// rows keep their horizontal pass (see `tmk_scale::Plane::same_as`).
    /// Holding it keeps one more frame buffer out of the decoder's pool.
    prev: Option<Video>,
}

impl Drop for CliScaler {
    /// The Rust scaler is kept for the thread's next video of this size.
    fn drop(&mut self) {
        if let Some(s) = self.fast.take() {
            s.recycle();
        }
    }
}

/// An open libswscale context, freed on drop.
struct Context {
    ptr: *mut ffi::SwsContext,
    /// The matrix table and input range last given to
    /// `sws_setColorspaceDetails`: setting the same again rebuilds
    /// libswscale's tables for nothing (about 20 us a frame).
    colours_set: Option<(*const c_int, c_int)>,
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from sws_alloc_context and is freed once.
        unsafe { ffi::sws_freeContext(self.ptr) };
    }
}

/// What `sws_getColorspaceDetails` reports besides the matrix tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Details {
    in_full: c_int,
    out_full: c_int,
    brightness: c_int,
    contrast: c_int,
    saturation: c_int,
}

impl Details {
    /// A freshly initialised context's for a 4:2:0 source (`yuv420p` or
    /// `yuvj420p`, the formats [`tmk_scale`] takes), with vf_scale's
    /// `src_range` option from `in_frame_range`: libswscale's defaults
    /// (no brightness change, unit contrast and saturation, full-range
    /// output, as RGB is), and a full-range input when the option says
    /// so or the format is `yuvj420p` (its `handle_jpeg`). The tests
    /// check this against opened contexts.
    fn fresh_420(fmt: c_int, in_frame_range: ffi::AVColorRange) -> Details {
        let jpeg = fmt == ffi::AVPixelFormat::AV_PIX_FMT_YUVJ420P as c_int;
        Details {
            in_full: c_int::from(in_frame_range == ffi::AVColorRange::AVCOL_RANGE_JPEG || jpeg),
            out_full: 1,
            brightness: 0,
            contrast: 1 << 16,
            saturation: 1 << 16,
        }
    }

    /// An opened context's.
    fn of(ctx: &Context) -> Details {
        let (mut inv, mut table): (*mut c_int, *mut c_int) =
            (std::ptr::null_mut(), std::ptr::null_mut());
        let mut d = Details {
            in_full: 0,
            out_full: 0,
            brightness: 0,
            contrast: 0,
            saturation: 0,
        };
        // SAFETY: `ctx` is an initialised context; every pointer is to a
        // local.
        unsafe {
            ffi::sws_getColorspaceDetails(
                ctx.ptr,
                &mut inv,
                &mut d.in_full,
                &mut table,
                &mut d.out_full,
                &mut d.brightness,
                &mut d.contrast,
                &mut d.saturation,
            );
        }
        d
    }
}

fn set_int(ctx: *mut ffi::SwsContext, name: &CStr, v: i64) -> Result<(), String> {
    // SAFETY: `ctx` is a live SwsContext (an AVClass-enabled struct).
    let r = unsafe { ffi::av_opt_set_int(ctx.cast(), name.as_ptr(), v, 0) };
    if r < 0 {
        return Err(format!("swscale option {name:?}: error {r}"));
    }
    Ok(())
}

/// A context for `key` (format, width, height) configured as vf_scale
/// configures it, with its `src_range` from `in_frame_range`.
fn open_context(
    (fmt, w, h): (c_int, c_int, c_int),
    in_frame_range: ffi::AVColorRange,
) -> Result<Context, String> {
    // SAFETY: a fresh context, configured through its AVOptions and
    // initialised once; freed by Context's Drop on every path.
    let ptr = unsafe { ffi::sws_alloc_context() };
    if ptr.is_null() {
        return Err("out of memory for a swscale context".into());
    }
    let ctx = Context {
        ptr,
        colours_set: None,
    };
    set_int(ptr, c"srcw", i64::from(w))?;
    set_int(ptr, c"srch", i64::from(h))?;
    set_int(ptr, c"src_format", i64::from(fmt))?;
    set_int(ptr, c"dstw", FRAME_SIDE as i64)?;
    set_int(ptr, c"dsth", FRAME_SIDE as i64)?;
    set_int(
        ptr,
        c"dst_format",
        ffi::AVPixelFormat::AV_PIX_FMT_RGB24 as i64,
    )?;
    set_int(ptr, c"sws_flags", ffi::SWS_BICUBIC as i64)?;
    set_int(ptr, c"param0", SWS_PARAM_DEFAULT)?;
    set_int(ptr, c"param1", SWS_PARAM_DEFAULT)?;
    // The CLI's filter threads split the output into bands that are
    // computed exactly as one would be; one thread here.
    set_int(ptr, c"threads", 1)?;
    if in_frame_range != ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED {
        let full = in_frame_range == ffi::AVColorRange::AVCOL_RANGE_JPEG;
        set_int(ptr, c"src_range", i64::from(full))?;
    }
    let yuv420p = fmt == ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as c_int;
    set_int(ptr, c"src_h_chr_pos", -513)?;
    set_int(ptr, c"src_v_chr_pos", if yuv420p { 128 } else { -513 })?;
    set_int(ptr, c"dst_h_chr_pos", -513)?;
    set_int(ptr, c"dst_v_chr_pos", -513)?;
    // SAFETY: the context is configured; no filters.
    let r = unsafe { ffi::sws_init_context(ptr, std::ptr::null_mut(), std::ptr::null_mut()) };
    if r < 0 {
        return Err(format!(
            "swscale cannot convert {:?} {w}x{h} to 64x64 rgb24",
            Pixel::from(unsafe_format(fmt))
        ));
    }
    Ok(ctx)
}

impl CliScaler {
    /// The scaler for frames of `f`'s format and size; `in_frame_range`
    /// is the range the video's first tagged frame gave (vf_scale's).
    pub fn new(f: &Video, in_frame_range: ffi::AVColorRange) -> Result<CliScaler, String> {
        // SAFETY: reading plain fields of a valid frame.
        let (fmt, w, h) = unsafe {
            let p = f.as_ptr();
            ((*p).format, (*p).width, (*p).height)
        };
        // yuvj420p is yuv420p with full range to libswscale (its
        // handle_jpeg); the range itself comes with each frame's colours.
        let planar420 = fmt == ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as c_int
            || fmt == ffi::AVPixelFormat::AV_PIX_FMT_YUVJ420P as c_int;
        let fast = if planar420 {
            tmk_scale::Scaler::new(w as usize, h as usize)
        } else {
            None
        };
        let key = (fmt, w, h);
        // Without the Rust path every frame needs the context: open it
        // now, so that a format it cannot convert fails here, and take
        // its colour state as it reports it.
        let (ctx, details) = match fast {
            Some(_) => (None, Details::fresh_420(fmt, in_frame_range)),
            None => {
                let ctx = open_context(key, in_frame_range)?;
                let details = Details::of(&ctx);
                (Some(ctx), details)
            }
        };
        Ok(CliScaler {
            ctx,
            key,
            in_frame_range,
            out: Video::new(Pixel::RGB24, FRAME_SIDE as u32, FRAME_SIDE as u32),
            details,
            fast,
            prev: None,
        })
    }

    /// Whether frames go through [`tmk_scale`] rather than libswscale.
    #[cfg(test)]
    pub(crate) fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// This scaler with [`tmk_scale`]'s scalar passes only (the tests
    /// compare them with the AVX2 ones and libswscale).
    #[cfg(test)]
    pub(crate) fn scalar_only(mut self) -> CliScaler {
        self.fast = self.fast.take().map(tmk_scale::Scaler::scalar);
        self
    }

    /// This scaler with [`tmk_scale`]'s AVX2 horizontal pass even where
    /// AVX-512 VNNI runs.
    #[cfg(test)]
    pub(crate) fn avx2_only(mut self) -> CliScaler {
        self.fast = self.fast.take().map(tmk_scale::Scaler::avx2);
        self
    }

    /// Whether the AVX-512 VNNI horizontal pass runs.
    #[cfg(test)]
    pub(crate) fn uses_avx512(&self) -> bool {
        self.fast
            .as_ref()
            .is_some_and(tmk_scale::Scaler::uses_avx512)
    }

    /// This scaler with the AVX-512 VNNI horizontal pass even where the
    /// AMX one runs (the tests compare both; `cargo bench --bench
    /// tmk_scale` times both).
    pub fn vnni_only(mut self) -> CliScaler {
        self.fast = self.fast.take().map(tmk_scale::Scaler::vnni);
        self
    }

    /// Source and output rows the Rust scaler kept from the frame before,
    /// `None` without it.
    #[cfg(test)]
    pub(crate) fn kept_rows(&self) -> Option<(usize, usize)> {
        self.fast.as_ref().map(tmk_scale::Scaler::kept_rows)
    }

    /// The Rust scaler's identity ([`tmk_scale::Scaler::identity`]).
    #[cfg(test)]
    pub(crate) fn identity(&self) -> Option<(*const i16, bool)> {
        self.fast.as_ref().map(tmk_scale::Scaler::identity)
    }

    /// Whether the AMX horizontal pass runs.
    #[cfg(test)]
    pub(crate) fn uses_amx(&self) -> bool {
        self.fast.as_ref().is_some_and(tmk_scale::Scaler::uses_amx)
    }

    /// This scaler with libswscale for every frame (the tests' reference,
    /// and the other side of `cargo bench --bench tmk_scale`).
    pub fn libswscale_only(mut self) -> CliScaler {
        self.fast = None;
        self
    }

    /// The context, opened if it is not yet.
    fn context(&mut self) -> Result<&mut Context, String> {
        if self.ctx.is_none() {
            self.ctx = Some(open_context(self.key, self.in_frame_range)?);
        }
        match &mut self.ctx {
            Some(c) => Ok(c),
            None => unreachable!("opened above"),
        }
    }

    /// Scale one frame to packed 64x64 RGB24 in `rgb`.
    pub fn scale(&mut self, f: &Video, rgb: &mut [u8]) -> Result<(), String> {
        self.scale_frame(f, false, rgb)
    }

    /// [`CliScaler::scale`] for a frame as the decoder gave it (or a
    /// cropped reference to one), whose pixels nobody writes again: a
    /// reference to it is kept, and the next frame's rows that equal its
    /// rows are not scaled again. Never for a frame the caller reuses (such
    /// as a reoriented copy): its "previous" pixels would be the new ones.
    pub fn scale_decoded(&mut self, f: &Video, rgb: &mut [u8]) -> Result<(), String> {
        static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        let off = *OFF.get_or_init(|| std::env::var_os("HASHSIEVE_TMK_NO_REUSE").is_some());
        self.scale_frame(f, !off, rgb)
    }

    fn scale_frame(&mut self, f: &Video, decoded: bool, rgb: &mut [u8]) -> Result<(), String> {
        // Whatever this call does, the lines left in `fast` are no longer
        // the held frame's unless it ends by holding this one.
        let prev = self.prev.take();
        // SAFETY: plain reads of the frame; sws_getCoefficients returns a
        // static table of four ints for any colour space number.
        let (coeffs, upright) = unsafe {
            let p = f.as_ptr();
            // in_color_matrix=auto: the frame's matrix; out follows in.
            let mut cs = (*p).colorspace as c_int;
            if !(1..=10).contains(&cs) || cs == 8 {
                cs = ffi::AVColorSpace::AVCOL_SPC_BT470BG as c_int;
            }
            let range = (*p).color_range;
            // vf_scale reads the details back and sets them again with
            // the frame's range when it tags one: the context keeps the
            // last range set.
            if range != ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED {
                self.details.in_full = c_int::from(range == ffi::AVColorRange::AVCOL_RANGE_JPEG);
            }
            // Planes with rows upwards (a negative stride) go to libswscale.
            let linesize = (*p).linesize;
            let upright = linesize[..3].iter().all(|&l| l > 0);
            (ffi::sws_getCoefficients(cs), upright)
        };
        let d = self.details;
        if let Some(fast) = self.fast.as_mut().filter(|_| upright) {
            // SAFETY: sws_getCoefficients returns a static table of four
            // ints.
            let inv = std::array::from_fn(|i| unsafe { *coeffs.add(i) });
            let colours = tmk_scale::Colours {
                inv,
                full_range: d.in_full != 0,
                brightness: d.brightness,
                contrast: d.contrast,
                saturation: d.saturation,
            };
            fn planes(f: &Video) -> [tmk_scale::Plane<'_>; 3] {
                std::array::from_fn(|i| tmk_scale::Plane {
                    data: f.data(i),
                    stride: f.stride(i),
                })
            }
            // The held frame is this scaler's size (a new size is a new
            // `CliScaler`); `fast.scale` checks its planes fit anyway.
            fast.scale(planes(f), prev.as_ref().map(planes), colours, rgb)?;
            // Only a reference-counted frame can be held without a copy.
            // SAFETY: reads a field of a valid frame.
            if decoded && unsafe { !(*f.as_ptr()).buf[0].is_null() } {
                self.prev = frame_ref(f);
            }
            return Ok(());
        }
        let ctx = self.context()?;
        // SAFETY: the colour-detail call takes the static matrix table;
        // sws_scale_frame reads `f` and writes `out`, both valid frames of
        // the sizes the context was made for.
        unsafe {
            // The same matrix and range would set the same state.
            if ctx.colours_set != Some((coeffs, d.in_full)) {
                ffi::sws_setColorspaceDetails(
                    ctx.ptr,
                    coeffs,
                    d.in_full,
                    coeffs,
                    d.out_full,
                    d.brightness,
                    d.contrast,
                    d.saturation,
                );
                ctx.colours_set = Some((coeffs, d.in_full));
            }
            let r = ffi::sws_scale_frame(ctx.ptr, self.out.as_mut_ptr(), f.as_ptr());
            if r < 0 {
                return Err(format!("swscale failed on a frame (error {r})"));
            }
        }
        let stride = self.out.stride(0);
        let data = self.out.data(0);
        let row = FRAME_SIDE * 3;
        for (y, out) in rgb.chunks_exact_mut(row).enumerate() {
            out.copy_from_slice(&data[y * stride..y * stride + row]);
        }
        Ok(())
    }
}

/// A new reference to `f`'s buffers, `None` when there is no memory for it
/// (the next frame is then scaled whole).
fn frame_ref(f: &Video) -> Option<Video> {
    let mut v = Video::empty();
    // SAFETY: both frames are valid; av_frame_ref only adds references
    // (and on failure leaves `v` empty, which it frees).
    let r = unsafe { ffi::av_frame_ref(v.as_mut_ptr(), f.as_ptr()) };
    (r >= 0).then_some(v)
}

/// A pixel format number as ffmpeg-next's enum (for messages).
fn unsafe_format(fmt: c_int) -> ffi::AVPixelFormat {
    if fmt < 0 || fmt >= ffi::AVPixelFormat::AV_PIX_FMT_NB as c_int {
        return ffi::AVPixelFormat::AV_PIX_FMT_NONE;
    }
    // SAFETY: in range of the C enum, whose values are contiguous.
    unsafe { std::mem::transmute::<c_int, ffi::AVPixelFormat>(fmt) }
}

/// vf_scale's reconfiguration rule: a new context when the size or
/// format changes, or when a frame tags a range other than the last
/// tagged one.
fn scaler_for<'s>(
    scaler: &'s mut Option<CliScaler>,
    f: &Video,
) -> Result<&'s mut CliScaler, String> {
    // SAFETY: plain reads of a valid frame.
    let (key, range) = unsafe {
        let p = f.as_ptr();
        (((*p).format, (*p).width, (*p).height), (*p).color_range)
    };
    let unspecified = ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED;
    // A new size or format is a new filter graph in the CLI: a fresh
    // scale filter, which has seen no range yet.
    let same = scaler.as_ref().filter(|s| s.key == key);
    let mut in_frame_range = same.map_or(unspecified, |s| s.in_frame_range);
    let range_changed = range != unspecified && range != in_frame_range;
    if range_changed {
        in_frame_range = range;
    }
    if same.is_none() || range_changed {
        *scaler = None;
        *scaler = Some(CliScaler::new(f, in_frame_range)?);
    }
    match scaler {
        Some(s) => Ok(s),
        None => unreachable!("scaler set above"),
    }
}

/// `f` as the CLI pipes it out: autorotated (the frame's display matrix,
/// else `stream_matrix`), then scaled to packed 64x64 RGB24 into `rgb`.
/// `turned` and `scaler` are the caller's, kept between frames.
fn to_rgb(
    f: &Video,
    stream_matrix: Option<[i32; 9]>,
    turned: &mut Video,
    scaler: &mut Option<CliScaler>,
    rgb: &mut [u8; FRAME_BYTES],
) -> Result<(), String> {
    let matrix = frame_display_matrix(f).or(stream_matrix);
    let orient = Orientation::from_display_matrix(matrix.as_ref());
    let (src, decoded) = match orient {
        Orientation::Upright => (f, true),
        Orientation::Other(deg) => {
            return Err(format!(
                "the video is displayed rotated by {deg} degrees, which the ffmpeg CLI \
                 interpolates (its rotate filter): not reproduced"
            ))
        }
        o => {
            reorient(f, o, turned)?;
            (&*turned, false)
        }
    };
    let scaler = scaler_for(scaler, src)?;
    if decoded {
        // The callers' frames are decoded frames or cropped references to
        // them (see `TmkFrames::push`): never written again.
        scaler.scale_decoded(src, &mut rgb[..])
    } else {
        // `turned` is written again for the next frame.
        scaler.scale(src, &mut rgb[..])
    }
}

/// Every 15 fps frame as it is hashed (packed 64x64 RGB24), for tests
/// that compare our frames with the ffmpeg CLI's.
pub type TmkTap = std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>;

/// How to compute a video's TMK+PDQF.
#[derive(Clone, Default)]
pub struct TmkSetup {
    /// The stream's display matrix (autorotate uses a frame's own first,
    /// then this one).
    pub stream_matrix: Option<[i32; 9]>,
    pub tap: Option<TmkTap>,
}

/// One video's TMK+PDQF, frame by frame (see the module docs).
pub struct TmkFrames {
    stream_matrix: Option<[i32; 9]>,
    tap: Option<TmkTap>,
    scaler: Option<CliScaler>,
    turned: Video,
    rgb: Box<[u8; FRAME_BYTES]>,
    hasher: TmkHasher,
    failed: Option<String>,
}

impl TmkFrames {
    pub fn new(setup: TmkSetup) -> Self {
        TmkFrames {
            stream_matrix: setup.stream_matrix,
            tap: setup.tap,
            scaler: None,
            turned: Video::empty(),
            rgb: Box::new([0; FRAME_BYTES]),
            hasher: TmkHasher::new(),
            failed: None,
        }
    }

    /// Frames hashed so far.
    pub fn frames(&self) -> u64 {
        self.hasher.frames()
    }

    /// Add `f` as the next `copies` 15 fps frames. After a failure nothing
    /// more is added (the hash of a video with a hole is not Meta's). `f`
    /// is a decoded frame, whose pixels nobody writes again: a reference
    /// to it may be kept until the next frame.
    pub fn push(&mut self, f: &Video, copies: u64) {
        if copies == 0 || self.failed.is_some() {
            return;
        }
        if let Err(e) = self.push_frame(f, copies) {
            self.failed = Some(format!("TMK frame {}: {e}", self.hasher.frames()));
        }
    }

    fn push_frame(&mut self, f: &Video, copies: u64) -> Result<(), String> {
        to_rgb(
            f,
            self.stream_matrix,
            &mut self.turned,
            &mut self.scaler,
            &mut self.rgb,
        )?;
        if let Some(tap) = &self.tap {
            if let Ok(mut frames) = tap.lock() {
                for _ in 0..copies {
                    frames.push(self.rgb.to_vec());
                }
            }
        }
        self.hasher
            .push_rgb24_copies(&self.rgb[..], copies)
            .map_err(|e| e.to_string())
    }

    /// The hash, or why there is none: a frame failed, or no frame was
    /// chosen at all (nothing decoded).
    pub fn finish(self) -> Result<TmkHash, String> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        if self.hasher.frames() == 0 {
            return Err("no frame to hash at 15 fps".into());
        }
        Ok(self.hasher.finish())
    }
}

/// At most this many crops are followed at once by [`TrimmedTmk`]: the
/// bars agreed on so far settle after a few sampled frames on a steady
/// letterboxed video, so more means bars that keep changing, whose view
/// would not be kept anyway.
const MAX_TRACKS: usize = 3;

/// The TMK+PDQF of one crop's frames (see [`TrimmedTmk`]).
struct Track {
    rect: Rect,
    hasher: TmkHasher,
    /// Frames that had a picture at this crop (the others are skipped).
    pictured: u64,
}

/// The letterbox-trimmed TMK+PDQF of a video: a query-side view, for
/// letterboxed, pillarboxed and padded reposts, whose plain TMK+PDQF
/// scales the bars into every frame.
///
/// Why it follows the bars "so far": TMK sums each 15 fps frame as it
/// comes, and keeping frames until the final bars are known would cost
/// memory with the length of the video. So each frame is cropped to the
/// bars agreed on over the sampled frames seen so far (the vPDQ
/// `letterbox` view's [`crate::views::letterbox::LetterboxViews`], one
/// detector for both) and summed into that crop's own hash; at the end the
/// hash of the crop that agrees with the final bars is the view. Its
/// frames under other crops (before the bars settled) count as frames
/// with a zero feature ([`TmkHasher::skip`]), so every frame keeps its
/// time. A video without bars costs nothing: no crop, no scaling.
///
/// Not Meta's hash of anything (the listed video was hashed at its own
/// size, not cropped out of a re-encode), so not bit-exact by design; the
/// crop is scaled by the same CLI scaler so the frames are as close as can
/// be.
pub struct TrimmedTmk {
    stream_matrix: Option<[i32; 9]>,
    scaler: Option<CliScaler>,
    turned: Video,
    rgb: Box<[u8; FRAME_BYTES]>,
    tracks: Vec<Track>,
    /// 15 fps frames of the video so far (the plain TMK's count).
    frames: u64,
    /// Width and height the bars are measured in (the frames vPDQ hashes).
    size: (usize, usize),
    failed: bool,
    shape: Shape,
}

/// Which crops a [`TrimmedTmk`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Bars on both sides of an axis ([`balanced`]): the `letterbox` view.
    Centred,
    /// A caption band on one side, which
    /// [`crate::views::static_band::StaticBands`] has already judged: the
    /// `band` view.
    OneSided,
}

impl TrimmedTmk {
    /// For a video whose bars are measured on `width` x `height` frames.
    pub fn new(setup: &TmkSetup, width: usize, height: usize) -> Self {
        Self::with_shape(setup, width, height, Shape::Centred)
    }

    /// The same for a caption band on one side of `width` x `height`
    /// frames (the `band` view): the crops given are taken as they are,
    /// since [`crate::views::static_band::StaticBands`] only gives bands
    /// that passed its rule.
    pub fn one_sided(setup: &TmkSetup, width: usize, height: usize) -> Self {
        Self::with_shape(setup, width, height, Shape::OneSided)
    }

    fn with_shape(setup: &TmkSetup, width: usize, height: usize, shape: Shape) -> Self {
        TrimmedTmk {
            stream_matrix: setup.stream_matrix,
            scaler: None,
            turned: Video::empty(),
            rgb: Box::new([0; FRAME_BYTES]),
            tracks: Vec::new(),
            frames: 0,
            size: (width, height),
            failed: false,
            shape,
        }
    }

    fn takes(&self, r: &Rect) -> bool {
        let (w, h) = self.size;
        match self.shape {
            Shape::Centred => balanced(r, w, h),
            Shape::OneSided => true,
        }
    }

    /// Add `f` as the next `copies` 15 fps frames, cropped to `bars` (the
    /// bars agreed on so far; `None`: no bars, nothing to hash). A crop
    /// that fails ends the view (it is a query-side extra, never an error
    /// of the file). `f` is a decoded frame, as for [`TmkFrames::push`].
    pub fn push(&mut self, f: &Video, copies: u64, bars: Option<Rect>) {
        let at = self.frames;
        self.frames += copies;
        let (w, h) = self.size;
        let Some(rect) = bars.filter(|r| copies > 0 && !self.failed && self.takes(r)) else {
            return;
        };
        let i = match self.tracks.iter().position(|t| {
            t.rect
                .close_to(&rect, w, h, crate::views::letterbox::SAME_CROP)
        }) {
            Some(i) => i,
            None => {
                if self.tracks.len() >= MAX_TRACKS {
                    // The crop with the fewest frames goes: the bars have
                    // moved on from it.
                    if let Some(least) =
                        (0..self.tracks.len()).min_by_key(|&i| self.tracks[i].pictured)
                    {
                        self.tracks.swap_remove(least);
                    }
                }
                self.tracks.push(Track {
                    rect,
                    hasher: TmkHasher::new(),
                    pictured: 0,
                });
                self.tracks.len() - 1
            }
        };
        let cropped = match crop(f, &self.tracks[i].rect, self.size) {
            Ok(c) => c,
            Err(_) => {
                self.failed = true;
                return;
            }
        };
        if to_rgb(
            &cropped,
            self.stream_matrix,
            &mut self.turned,
            &mut self.scaler,
            &mut self.rgb,
        )
        .is_err()
        {
            self.failed = true;
            return;
        }
        let track = &mut self.tracks[i];
        track.hasher.skip(at - track.hasher.frames());
        if track
            .hasher
            .push_rgb24_copies(&self.rgb[..], copies)
            .is_err()
        {
            self.failed = true;
            return;
        }
        track.pictured += copies;
    }

    /// The view for the video's final bars (`None`: no bars, or no frame
    /// was cropped to them, or a crop failed).
    pub fn finish(self, bars: Option<Rect>) -> Option<TmkHash> {
        let (w, h) = self.size;
        let fin = bars.filter(|r| !self.failed && self.takes(r))?;
        let off = |r: &Rect| {
            r.x.abs_diff(fin.x)
                + r.y.abs_diff(fin.y)
                + (r.x + r.w).abs_diff(fin.x + fin.w)
                + (r.y + r.h).abs_diff(fin.y + fin.h)
        };
        let frames = self.frames;
        let mut track = self
            .tracks
            .into_iter()
            .filter(|t| t.pictured > 0)
            .filter(|t| {
                t.rect
                    .close_to(&fin, w, h, crate::views::letterbox::FINAL_TOLERANCE)
            })
            .min_by_key(|t| off(&t.rect))?;
        track.hasher.skip(frames - track.hasher.frames());
        Some(track.hasher.finish())
    }
}

/// Whether the bars around `r` (in a `w` x `h` frame) are balanced: on
/// each axis, both sides within a factor of two of each other, or both
/// thin (at most 2 % of the side).
///
/// Why: letterbox, pillarbox and padding bars are centred (players, apps
/// and `ffmpeg -vf pad` centre the picture), while a uniform band on one
/// side only is more often the picture itself (a sky, a wall: the
/// evaluation's distractors have them). The vPDQ `letterbox` view can try
/// such a crop at little risk, since each frame must match on its own,
/// but the TMK view is one hash of the whole video: a wrong crop of a
/// smooth picture raised two distractors over a listed smooth video in the
/// evaluation (`benches/eval/run_tmk_eval.py`), so this view takes
/// balanced bars only.
fn balanced(r: &Rect, w: usize, h: usize) -> bool {
    let ok = |a: usize, b: usize, side: usize| {
        let (small, big) = (a.min(b), a.max(b));
        big as f64 <= side as f64 * 0.02 || small * 2 >= big
    };
    let (right, bottom) = (w.saturating_sub(r.x + r.w), h.saturating_sub(r.y + r.h));
    ok(r.y, bottom, h) && ok(r.x, right, w)
}

/// `f` cropped to `rect` (measured on `size` frames; scaled to `f`'s own
/// size when a stream changes size) without copying: a new reference to
/// the same buffers with FFmpeg's cropping applied. Edges are rounded to
/// even pixels so that subsampled chroma starts with its luma.
fn crop(f: &Video, rect: &Rect, size: (usize, usize)) -> Result<Video, String> {
    let (fw, fh) = (f.width() as usize, f.height() as usize);
    let (w, h) = (size.0.max(1), size.1.max(1));
    let sx = |v: usize| v * fw / w;
    let sy = |v: usize| v * fh / h;
    let even = |v: usize| v & !1;
    let left = even(sx(rect.x));
    let top = even(sy(rect.y));
    let right = even(fw.saturating_sub(sx(rect.x + rect.w)));
    let bottom = even(fh.saturating_sub(sy(rect.y + rect.h)));
    if left + right + 16 > fw || top + bottom + 16 > fh {
        return Err(format!("a crop of {fw}x{fh} leaves too little"));
    }
    // SAFETY: av_frame_clone makes a new reference to `f`'s buffers (or
    // returns null, checked); the crop fields are within the frame (checked
    // above), and av_frame_apply_cropping only moves the data pointers and
    // shrinks width and height. The clone is owned by the returned Video,
    // which frees it.
    unsafe {
        let c = ffi::av_frame_clone(f.as_ptr());
        if c.is_null() {
            return Err("out of memory for a frame reference".into());
        }
        (*c).crop_left = left;
        (*c).crop_right = right;
        (*c).crop_top = top;
        (*c).crop_bottom = bottom;
        let mut v = Video::wrap(c);
        let r = ffi::av_frame_apply_cropping(v.as_mut_ptr(), ffi::AV_FRAME_CROP_UNALIGNED as c_int);
        if r < 0 {
            return Err(format!("cannot crop the frame (error {r})"));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rot(deg: f64) -> [i32; 9] {
        let mut m = [0i32; 9];
        // SAFETY: writes nine int32s.
        unsafe { ffi::av_display_rotation_set(m.as_mut_ptr(), deg) };
        m
    }

    /// The context is opened only when a frame needs libswscale, so the
    /// colour state of a 4:2:0 source is written down instead of read
    /// back: it must be what an opened context reports, for both formats
    /// and every range the first tagged frame can give.
    #[test]
    fn unopened_colour_state_is_an_opened_contexts() {
        let ranges = [
            ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED,
            ffi::AVColorRange::AVCOL_RANGE_MPEG,
            ffi::AVColorRange::AVCOL_RANGE_JPEG,
        ];
        let mut full = 0;
        for fmt in [
            ffi::AVPixelFormat::AV_PIX_FMT_YUV420P,
            ffi::AVPixelFormat::AV_PIX_FMT_YUVJ420P,
        ] {
            for range in ranges {
                for (w, h) in [(640, 360), (1920, 1080), (65, 65)] {
                    let key = (fmt as c_int, w, h);
                    let opened = Details::of(&open_context(key, range).unwrap());
                    let written = Details::fresh_420(fmt as c_int, range);
                    assert_eq!(written, opened, "{fmt:?} {range:?} {w}x{h}");
                    full += opened.in_full;
                }
            }
        }
        // Both input ranges were met (yuvj420p or a JPEG tag: full).
        assert_eq!(full, 3 * 4);
    }

    #[test]
    fn display_matrices_map_to_the_clis_filters() {
        assert_eq!(Orientation::from_display_matrix(None), Orientation::Upright);
        assert_eq!(
            Orientation::from_display_matrix(Some(&rot(0.0))),
            Orientation::Upright
        );
        // av_display_rotation_get reads back minus the angle set. A
        // phone's portrait video reads -90 ("rotation of -90.00 degrees"):
        // the CLI's "transpose=clock".
        assert_eq!(
            Orientation::from_display_matrix(Some(&rot(90.0))),
            Orientation::Transpose(1)
        );
        assert_eq!(
            Orientation::from_display_matrix(Some(&rot(-90.0))),
            Orientation::Transpose(2)
        );
        assert_eq!(
            Orientation::from_display_matrix(Some(&rot(180.0))),
            Orientation::Flip { h: true, v: true }
        );
        assert_eq!(
            Orientation::from_display_matrix(Some(&rot(-45.0))),
            Orientation::Other(315)
        );
    }

    fn planar(w: u32, h: u32) -> Video {
        let mut f = Video::new(Pixel::YUV420P, w, h);
        for p in 0..3 {
            let stride = f.stride(p);
            let (pw, ph) = if p == 0 {
                (w as usize, h as usize)
            } else {
                (w.div_ceil(2) as usize, h.div_ceil(2) as usize)
            };
            let d = f.data_mut(p);
            for y in 0..ph {
                for x in 0..pw {
                    d[y * stride + x] = (p * 100 + y * 10 + x) as u8;
                }
            }
        }
        f
    }

    /// `f` stored bottom-up: its rows in reverse order in a buffer of its
    /// own, handed over with each plane's pointer on the last row and a
    /// negative stride (as some decoders and filters hand frames over).
    fn bottom_up(f: &Video) -> Video {
        let (w, h) = (f.width(), f.height());
        let mut rev = Video::new(f.format(), w, h);
        for p in 0..3 {
            let ph = if p == 0 {
                h as usize
            } else {
                h.div_ceil(2) as usize
            };
            let (ss, ds) = (f.stride(p), rev.stride(p));
            for y in 0..ph {
                let row = f.data(p)[y * ss..y * ss + ss.min(ds)].to_vec();
                let at = (ph - 1 - y) * ds;
                rev.data_mut(p)[at..at + row.len()].copy_from_slice(&row);
            }
        }
        // SAFETY: a new reference to `rev`'s buffers whose pointers move to
        // each plane's last row (inside the buffer) with the stride negated,
        // so that the frame reads the rows back in their first order.
        unsafe {
            let c = ffi::av_frame_clone(rev.as_ptr());
            assert!(!c.is_null());
            for p in 0..3 {
                let ph = if p == 0 {
                    h as usize
                } else {
                    h.div_ceil(2) as usize
                };
                let stride = (*c).linesize[p];
                (*c).data[p] = (*c).data[p].add((ph - 1) * stride as usize);
                (*c).linesize[p] = -stride;
            }
            (*c).color_range = ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED;
            Video::wrap(c)
        }
    }

    /// A frame stored bottom-up goes to libswscale, whose context is
    /// opened only then: it must scale with the colour state the frames
    /// before it left (here the full range the first one tagged), as one
    /// context kept from the start would.
    #[test]
    fn a_late_bottom_up_frame_keeps_the_colour_state() {
        let mut first = planar(320, 240);
        let mut again = planar(320, 240);
        for f in [&mut first, &mut again] {
            // SAFETY: a plain field write on an owned frame.
            unsafe { (*f.as_mut_ptr()).color_range = ffi::AVColorRange::AVCOL_RANGE_JPEG };
        }
        let unspecified = ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED;
        let mut ours = CliScaler::new(&first, unspecified).unwrap();
        assert!(ours.is_fast() && ours.ctx.is_none());
        let mut theirs = CliScaler::new(&first, unspecified)
            .unwrap()
            .libswscale_only();
        let (mut a, mut b) = (vec![0u8; FRAME_BYTES], vec![0u8; FRAME_BYTES]);
        ours.scale(&first, &mut a).unwrap();
        theirs.scale(&first, &mut b).unwrap();
        assert_eq!(a, b);
        assert!(ours.ctx.is_none(), "the Rust path opened no context");
        // The same picture bottom-up and untagged, against it upright and
        // tagged full range.
        ours.scale(&bottom_up(&again), &mut a).unwrap();
        assert!(ours.ctx.is_some());
        theirs.scale(&again, &mut b).unwrap();
        assert_eq!(a, b);
        // Limited range would give other bytes: the state mattered.
        let mut limited = CliScaler::new(&first, unspecified)
            .unwrap()
            .libswscale_only();
        limited.scale(&bottom_up(&again), &mut b).unwrap();
        assert_ne!(a, b);
    }

    /// A yuv420p frame of a moving texture, `w` x `h` inside black bars
    /// of `bar` rows above and below (even, so chroma rows line up).
    fn barred(w: u32, h: u32, bar: u32, t: usize) -> Video {
        let mut f = Video::new(Pixel::YUV420P, w, h + 2 * bar);
        for p in 0..3 {
            let sub = usize::from(p > 0);
            let stride = f.stride(p);
            let (pw, b) = ((w as usize) >> sub, (bar as usize) >> sub);
            let ph = ((h + 2 * bar) as usize) >> sub;
            let d = f.data_mut(p);
            for y in 0..ph {
                for x in 0..pw {
                    let inside = y >= b && y < ph - b;
                    let yy = y.wrapping_sub(b);
                    d[y * stride + x] = match (inside, p) {
                        (false, 0) => 16,
                        (false, _) => 128,
                        (true, _) => ((x * 5 + yy * 3 + t * 7 + p * 40) % 200 + 20) as u8,
                    };
                }
            }
        }
        f
    }

    #[test]
    fn the_letterbox_view_is_the_hash_of_the_picture_inside_the_bars() {
        let (w, h, bar) = (128u32, 64u32, 16u32);
        let rect = Rect {
            x: 0,
            y: bar as usize,
            w: w as usize,
            h: h as usize,
        };
        let size = (w as usize, (h + 2 * bar) as usize);
        let mut plain = TmkFrames::new(TmkSetup::default());
        let mut trimmed = TrimmedTmk::new(&TmkSetup::default(), size.0, size.1);
        let mut late = TrimmedTmk::new(&TmkSetup::default(), size.0, size.1);
        let mut gap = TrimmedTmk::new(&TmkSetup::default(), size.0, size.1);
        for t in 0..40 {
            plain.push(&barred(w, h, 0, t), 1);
            trimmed.push(&barred(w, h, bar, t), 1, Some(rect));
            // Bars not known for the first 5 frames, then a wrong guess.
            let guess = match t {
                0..5 => None,
                5..8 => Some(Rect {
                    y: 30,
                    h: 36,
                    ..rect
                }),
                _ => Some(rect),
            };
            late.push(&barred(w, h, bar, t), 1, guess);
            gap.push(&barred(w, h, bar, t), 1, Some(rect).filter(|_| t >= 8));
        }
        let plain = plain.finish().unwrap();
        // Cropped in place, then the same scaler: the very frames.
        assert_eq!(
            trimmed.finish(Some(rect)).unwrap().to_bytes(),
            plain.to_bytes()
        );
        // Frames before the bars settled have no picture but keep their
        // time (the count is the video's); the wrong guess's frames stay
        // in their own hash, out of the final one.
        let late = late.finish(Some(rect)).unwrap();
        assert_eq!(late.frame_count(), 40);
        assert_eq!(late.to_bytes(), gap.finish(Some(rect)).unwrap().to_bytes());
        assert_ne!(late.to_bytes(), plain.to_bytes());
        // No final bars, or final bars no frame was cropped to: no view.
        let none = || {
            let mut t = TrimmedTmk::new(&TmkSetup::default(), size.0, size.1);
            t.push(&barred(w, h, bar, 0), 1, Some(rect));
            t
        };
        assert!(none().finish(None).is_none());
        assert!(none()
            .finish(Some(Rect {
                y: 30,
                h: 36,
                ..rect
            }))
            .is_none());
        // A band on one side only is not taken for bars (a sky): no view.
        let one_sided = Rect {
            y: 2 * bar as usize,
            ..rect
        };
        let mut t = TrimmedTmk::new(&TmkSetup::default(), size.0, size.1);
        t.push(&barred(w, h, bar, 0), 1, Some(one_sided));
        assert!(t.tracks.is_empty());
        assert!(t.finish(Some(one_sided)).is_none());
    }

    #[test]
    fn bars_must_be_centred() {
        let r = |x, y, w, h| Rect { x, y, w, h };
        // Centred pillarbox and letterbox, a few pixels off from coding.
        assert!(balanced(&r(80, 0, 480, 360), 640, 360));
        assert!(balanced(&r(0, 44, 640, 270), 640, 360));
        assert!(balanced(&r(0, 40, 640, 278), 640, 360));
        // A flat band down the left of the picture (the evaluation's
        // distractor), with a thin top bar.
        assert!(!balanced(&r(228, 8, 412, 350), 640, 360));
        assert!(!balanced(&r(0, 60, 640, 300), 640, 360));
    }

    #[test]
    fn transposes_move_pixels_like_vf_transpose() {
        let src = planar(6, 4);
        let mut out = Video::empty();
        // clock (dir 1): out[r][x] = in[h-1-x][r].
        reorient(&src, Orientation::Transpose(1), &mut out).unwrap();
        assert_eq!((out.width(), out.height()), (4, 6));
        let (s, ss) = (src.data(0), src.stride(0));
        let (o, os) = (out.data(0), out.stride(0));
        for r in 0..6 {
            for x in 0..4 {
                assert_eq!(o[r * os + x], s[(3 - x) * ss + r], "{r} {x}");
            }
        }
        // Chroma planes follow with their own (3x2 -> 2x3) sizes.
        let (s, ss) = (src.data(1), src.stride(1));
        let (o, os) = (out.data(1), out.stride(1));
        for r in 0..3 {
            for x in 0..2 {
                assert_eq!(o[r * os + x], s[(1 - x) * ss + r]);
            }
        }
        // 180 degrees: both flips.
        reorient(&src, Orientation::Flip { h: true, v: true }, &mut out).unwrap();
        let (s, ss) = (src.data(0), src.stride(0));
        let (o, os) = (out.data(0), out.stride(0));
        assert_eq!(o[0], s[3 * ss + 5]);
        assert_eq!(o[3 * os + 5], s[0]);
    }
}
