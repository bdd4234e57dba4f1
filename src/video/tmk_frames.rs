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
//!   the same calls into the same libswscale, so the bytes are the same.
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

use crate::tmk::{TmkHasher, FRAME_BYTES, FRAME_SIDE};

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
    ctx: *mut ffi::SwsContext,
    /// Source format, width and height the context was made for.
    key: (c_int, c_int, c_int),
    /// vf_scale's `in_frame_range`: the last range a frame tagged.
    in_frame_range: ffi::AVColorRange,
    out: Video,
}

impl Drop for CliScaler {
    fn drop(&mut self) {
        // SAFETY: `ctx` came from sws_alloc_context and is freed once.
        unsafe { ffi::sws_freeContext(self.ctx) };
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

impl CliScaler {
    fn new(f: &Video, in_frame_range: ffi::AVColorRange) -> Result<CliScaler, String> {
        // SAFETY: a fresh context, configured through its AVOptions and
        // initialised once; freed by Drop on every path.
        let ctx = unsafe { ffi::sws_alloc_context() };
        if ctx.is_null() {
            return Err("out of memory for a swscale context".into());
        }
        let mut me = CliScaler {
            ctx,
            key: (0, 0, 0),
            in_frame_range,
            out: Video::new(Pixel::RGB24, FRAME_SIDE as u32, FRAME_SIDE as u32),
        };
        // SAFETY: reading plain fields of a valid frame.
        let (fmt, w, h) = unsafe {
            let p = f.as_ptr();
            ((*p).format, (*p).width, (*p).height)
        };
        me.key = (fmt, w, h);
        set_int(ctx, c"srcw", i64::from(w))?;
        set_int(ctx, c"srch", i64::from(h))?;
        set_int(ctx, c"src_format", i64::from(fmt))?;
        set_int(ctx, c"dstw", FRAME_SIDE as i64)?;
        set_int(ctx, c"dsth", FRAME_SIDE as i64)?;
        set_int(
            ctx,
            c"dst_format",
            ffi::AVPixelFormat::AV_PIX_FMT_RGB24 as i64,
        )?;
        set_int(ctx, c"sws_flags", ffi::SWS_BICUBIC as i64)?;
        set_int(ctx, c"param0", SWS_PARAM_DEFAULT)?;
        set_int(ctx, c"param1", SWS_PARAM_DEFAULT)?;
        // The CLI's filter threads split the output into bands that are
        // computed exactly as one would be; one thread here.
        set_int(ctx, c"threads", 1)?;
        if in_frame_range != ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED {
            let full = in_frame_range == ffi::AVColorRange::AVCOL_RANGE_JPEG;
            set_int(ctx, c"src_range", i64::from(full))?;
        }
        let yuv420p = fmt == ffi::AVPixelFormat::AV_PIX_FMT_YUV420P as c_int;
        set_int(ctx, c"src_h_chr_pos", -513)?;
        set_int(ctx, c"src_v_chr_pos", if yuv420p { 128 } else { -513 })?;
        set_int(ctx, c"dst_h_chr_pos", -513)?;
        set_int(ctx, c"dst_v_chr_pos", -513)?;
        // SAFETY: the context is configured; no filters.
        let r = unsafe { ffi::sws_init_context(ctx, std::ptr::null_mut(), std::ptr::null_mut()) };
        if r < 0 {
            return Err(format!(
                "swscale cannot convert {:?} {w}x{h} to 64x64 rgb24",
                Pixel::from(unsafe_format(fmt))
            ));
        }
        Ok(me)
    }

    /// Scale one frame to packed 64x64 RGB24 in `rgb`.
    fn scale(&mut self, f: &Video, rgb: &mut [u8]) -> Result<(), String> {
        // SAFETY: plain reads of the frame; the colour-detail calls take
        // pointers to tables swscale owns (sws_getCoefficients returns a
        // static table); sws_scale_frame reads `f` and writes `out`, both
        // valid frames of the sizes the context was made for.
        unsafe {
            let p = f.as_ptr();
            let range = (*p).color_range;
            let mut inv: *mut c_int = std::ptr::null_mut();
            let mut table: *mut c_int = std::ptr::null_mut();
            let (mut in_full, mut out_full) = (0, 0);
            let (mut brightness, mut contrast, mut saturation) = (0, 0, 0);
            ffi::sws_getColorspaceDetails(
                self.ctx,
                &mut inv,
                &mut in_full,
                &mut table,
                &mut out_full,
                &mut brightness,
                &mut contrast,
                &mut saturation,
            );
            // in_color_matrix=auto: the frame's matrix; out follows in.
            let mut cs = (*p).colorspace as c_int;
            if !(1..=10).contains(&cs) || cs == 8 {
                cs = ffi::AVColorSpace::AVCOL_SPC_BT470BG as c_int;
            }
            let coeffs = ffi::sws_getCoefficients(cs);
            if range != ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED {
                in_full = c_int::from(range == ffi::AVColorRange::AVCOL_RANGE_JPEG);
            }
            ffi::sws_setColorspaceDetails(
                self.ctx, coeffs, in_full, coeffs, out_full, brightness, contrast, saturation,
            );
            let r = ffi::sws_scale_frame(self.ctx, self.out.as_mut_ptr(), p);
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
    /// more is added (the hash of a video with a hole is not Meta's).
    pub fn push(&mut self, f: &Video, copies: u64) {
        if copies == 0 || self.failed.is_some() {
            return;
        }
        if let Err(e) = self.push_frame(f, copies) {
            self.failed = Some(format!("TMK frame {}: {e}", self.hasher.frames()));
        }
    }

    fn push_frame(&mut self, f: &Video, copies: u64) -> Result<(), String> {
        let matrix = frame_display_matrix(f).or(self.stream_matrix);
        let orient = Orientation::from_display_matrix(matrix.as_ref());
        let src = match orient {
            Orientation::Upright => f,
            Orientation::Other(deg) => {
                return Err(format!(
                    "the video is displayed rotated by {deg} degrees, which the ffmpeg CLI \
                     interpolates (its rotate filter): not reproduced"
                ))
            }
            o => {
                reorient(f, o, &mut self.turned)?;
                &self.turned
            }
        };
        scaler_for(&mut self.scaler, src)?.scale(src, &mut self.rgb[..])?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rot(deg: f64) -> [i32; 9] {
        let mut m = [0i32; 9];
        // SAFETY: writes nine int32s.
        unsafe { ffi::av_display_rotation_set(m.as_mut_ptr(), deg) };
        m
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
