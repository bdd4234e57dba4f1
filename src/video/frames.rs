//! One sampled frame to one PDQ item: RGB conversion as the reference does
//! it, then PDQ with the reference's float luma.
//!
//! Why this is separate from decoding: it is the part that can run on
//! another thread while the decoder runs ahead (see [`super::decode`]), and
//! only sampled frames ever reach it, so the RGB conversion costs nothing
//! for the frames that are not hashed.
//!
//! Conformance: the reference converts each hashed frame with
//! `sws_getContext(src, ..., AV_PIX_FMT_RGB24, SWS_AREA)` to the stream's
//! declared width and height, then computes luma with `fillFloatLumaFromRGB`
//! (`f32` coefficients: [`LumaRule::Reference`]). We call the same libswscale
//! with the same parameters, so the RGB bytes are the same.

use super::motion::{MotionGate, DEFAULT_MAX_STILL_BITS};
use super::tmk_frames::{TmkFrames, TmkSetup, TrimmedTmk};
use crate::pdq::{LumaRule, PdqHasher, Rgb8};
use crate::record::PdqItem;
use crate::views::letterbox::LetterboxViews;
use crate::views::static_band::StaticBands;
use crate::views::{hash_with_turns, RgbView, Turns, ViewSet};
use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::util::frame::video::Video;

/// A decoded frame chosen for hashing (a reference to the decoder's buffer,
/// not a copy).
pub struct Sampled {
    pub frame: Video,
    pub number: u64,
    pub timestamp: f64,
    /// A frame between the sampled ones (see
    /// [`super::sampler::EveryNth::between`]): hashed for the query side
    /// only, never part of the hash of record.
    pub between: bool,
    /// PDQ-hashed (vPDQ or `between`); false for a frame sent for TMK only.
    pub pdq: bool,
    /// How many of TMK's 15 fps frames this frame is (see
    /// [`super::rate`]); 0 for none.
    pub tmk: u64,
}

impl Sampled {
    /// A frame that only TMK uses, `copies` times.
    pub fn tmk_only(frame: Video, copies: u64) -> Self {
        Sampled {
            frame,
            number: 0,
            timestamp: 0.0,
            between: false,
            pdq: false,
            tmk: copies,
        }
    }
}

/// What a [`FrameHasher`] made: the hash of record (one item per sampled
/// frame, in order) and, when asked for, the frames between them.
#[derive(Default)]
pub struct HashedFrames {
    pub record: Vec<PdqItem>,
    pub between: Vec<PdqItem>,
    /// The video's TMK+PDQF when asked for, or why it failed.
    pub tmk: Option<Result<hashdb::tmk::TmkHash, String>>,
    /// With crop views and TMK: the TMK+PDQF of the frames with the
    /// video's letterbox bars trimmed (see [`TrimmedTmk`]), when it has
    /// bars.
    pub tmk_letterbox: Option<hashdb::tmk::TmkHash>,
    /// With crop views and TMK: the TMK+PDQF of the frames with a caption
    /// band on one side cut off (see
    /// [`crate::views::static_band::StaticBands`]), when it has one.
    pub tmk_band: Option<hashdb::tmk::TmkHash>,
}

/// Why a frame could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("cannot convert {format:?} {width}x{height} to RGB: {source}")]
    Scaler {
        format: Pixel,
        width: u32,
        height: u32,
        source: ffmpeg_next::Error,
    },
    #[error("frame {number}: {source}")]
    Buffer {
        number: u64,
        source: crate::pdq::BufferSizeError,
    },
}

/// Converts and hashes sampled frames; keeps its scaler and RGB buffer
/// between frames. Not `Send` (the scaler is FFmpeg state): make it on the
/// thread that uses it.
pub struct FrameHasher {
    dst: (u32, u32),
    scaler: Option<((Pixel, u32, u32), scaling::Context)>,
    rgb: Video,
    views: ViewSet,
    /// Bars found over the frames (crop views), resolved in [`finish`].
    ///
    /// [`finish`]: FrameHasher::finish
    letterbox: Option<LetterboxViews>,
    /// Every frame hashed so far, in order, and whether it was a `between`
    /// frame (the letterbox views come back in this order).
    items: Vec<(PdqItem, bool)>,
    /// `between` frames taken so far (see [`MAX_BETWEEN_FRAMES`]).
    between: usize,
    /// TMK+PDQF of the frames sent for it, when asked for.
    tmk: Option<TmkFrames>,
    /// With crop views: the letterbox-trimmed TMK+PDQF, cropped to
    /// `bars` (the letterbox bars agreed on so far).
    tmk_letterbox: Option<TrimmedTmk>,
    bars: Option<crate::views::Rect>,
    /// With crop views and TMK: a caption band on one side, found over the
    /// sampled frames, and the TMK+PDQF of the frames beside it so far.
    band: Option<StaticBands>,
    tmk_band: Option<TrimmedTmk>,
    band_rect: Option<crate::views::Rect>,
    /// With crop views (which hash the `between` frames): which of them
    /// moved enough since the last frame hashed to be worth a PDQ.
    motion: Option<MotionGate>,
}

/// At most this many `between` frames a video (an hour at 30 fps, about
/// 10 MB of items): memory stays bounded on a multi-hour file, whose later
/// hours are then matched by their sampled frames alone.
const MAX_BETWEEN_FRAMES: usize = 108_000;

impl FrameHasher {
    /// Frames are converted to `width` x `height` (the stream's declared
    /// size, as the reference does). `views`: query-side views of each
    /// frame (dihedral from the frame's DCT; with crops, `letterbox`).
    /// `tmk`: compute TMK+PDQF of the frames sent for it (see
    /// [`super::tmk_frames`]).
    pub fn new(width: u32, height: u32, views: ViewSet, tmk: Option<TmkSetup>) -> Self {
        FrameHasher {
            dst: (width, height),
            scaler: None,
            rgb: Video::empty(),
            views,
            letterbox: views
                .crops()
                .then(|| LetterboxViews::new(width as usize, height as usize, true)),
            items: Vec::new(),
            between: 0,
            tmk_letterbox: tmk
                .as_ref()
                .filter(|_| views.crops())
                .map(|t| TrimmedTmk::new(t, width as usize, height as usize)),
            bars: None,
            band: tmk
                .as_ref()
                .filter(|_| views.crops())
                .map(|_| StaticBands::new(width as usize, height as usize)),
            tmk_band: tmk
                .as_ref()
                .filter(|_| views.crops())
                .map(|t| TrimmedTmk::one_sided(t, width as usize, height as usize)),
            band_rect: None,
            tmk: tmk.map(TmkFrames::new),
            // Only crop views hash between frames (`decode::Decode::between`).
            motion: if views.crops() {
                MotionGate::new(Some(DEFAULT_MAX_STILL_BITS))
            } else {
                None
            },
        }
    }

    /// The frames hashed, with the letterbox views attached (known only
    /// now that every frame was seen).
    pub fn finish(self) -> HashedFrames {
        let tmk = self.tmk.map(TmkFrames::finish);
        let mut items = self.items;
        let mut tmk_letterbox = None;
        let mut tmk_band = None;
        if let (Some(band), Some(t), Some(Ok(_))) = (&self.band, self.tmk_band, &tmk) {
            tmk_band = t.finish(band.final_rect());
        }
        if let Some(lb) = self.letterbox {
            let (bars, per_frame) = lb.finish();
            // A view of a TMK that failed would be a hash of part of the
            // video: none then.
            if matches!(tmk, Some(Ok(_))) {
                tmk_letterbox = self.tmk_letterbox.and_then(|t| t.finish(bars));
            }
            let sampled = items.iter_mut().filter(|(_, between)| !between);
            for ((item, _), mut crops) in sampled.zip(per_frame) {
                if crops.is_empty() {
                    continue;
                }
                crops.extend(item.views.take().unwrap_or_default());
                item.views = Some(crops);
            }
        }
        let mut out = HashedFrames {
            tmk,
            tmk_letterbox,
            tmk_band,
            ..HashedFrames::default()
        };
        for (item, between) in items {
            if between {
                out.between.push(item);
            } else {
                out.record.push(item);
            }
        }
        out
    }

    fn scaler(&mut self, f: &Video) -> Result<&mut scaling::Context, ConvertError> {
        let key = (f.format(), f.width(), f.height());
        if self.scaler.as_ref().map(|(k, _)| *k) != Some(key) {
            let ctx = scaling::Context::get(
                key.0,
                key.1,
                key.2,
                Pixel::RGB24,
                self.dst.0,
                self.dst.1,
                scaling::Flags::AREA,
            )
            .map_err(|source| ConvertError::Scaler {
                format: key.0,
                width: key.1,
                height: key.2,
                source,
            })?;
            self.scaler = Some((key, ctx));
        }
        match &mut self.scaler {
            Some((_, ctx)) => Ok(ctx),
            None => unreachable!("scaler set above"),
        }
    }

    /// Convert `s` to RGB and hash it (the result comes out of [`finish`]).
    /// A `between` frame gets the plain hash only: it is there to fix the
    /// sampling phase; the sampled frames carry the other views.
    ///
    /// # Errors
    /// [`ConvertError`] when libswscale refuses the frame's format or size.
    ///
    /// [`finish`]: FrameHasher::finish
    pub fn hash(&mut self, s: &Sampled, pdq: &mut PdqHasher) -> Result<(), ConvertError> {
        if let Some(tmk) = self.tmk.as_mut() {
            tmk.push(&s.frame, s.tmk);
        }
        let done = if s.pdq {
            self.hash_frame(s, pdq)
        } else {
            Ok(())
        };
        // After the frame's own vote on the bars (a sampled frame is
        // trimmed as its letterbox view is).
        if let Some(t) = self.tmk_letterbox.as_mut() {
            t.push(&s.frame, s.tmk, self.bars);
        }
        if let Some(t) = self.tmk_band.as_mut() {
            t.push(&s.frame, s.tmk, self.band_rect);
        }
        // A between frame that cannot be converted is one query-side hash
        // less, not an error of the file.
        if s.between {
            return Ok(());
        }
        done
    }

    fn hash_frame(&mut self, s: &Sampled, pdq: &mut PdqHasher) -> Result<(), ConvertError> {
        if s.between && self.between >= MAX_BETWEEN_FRAMES {
            return Ok(());
        }
        if let Some(gate) = self.motion.as_mut() {
            let plane = super::between::y_plane(&s.frame, self.dst).map(|(p, _)| p);
            if !s.between {
                gate.sampled(plane);
            } else if !gate.between_moved(plane) {
                return Ok(());
            }
        }
        if s.between {
            self.between += 1;
            if let Some(y) = super::between::between_luma(&s.frame, self.dst) {
                let h = pdq.hash(&y);
                self.items.push((
                    PdqItem {
                        hash: h.hash,
                        quality: h.quality,
                        frame: Some(s.number),
                        timestamp: Some(s.timestamp),
                        views: None,
                    },
                    true,
                ));
                return Ok(());
            }
        }
        let scale_err = |f: &Video, source| ConvertError::Scaler {
            format: f.format(),
            width: f.width(),
            height: f.height(),
            source,
        };
        let mut rgb = std::mem::replace(&mut self.rgb, Video::empty());
        let ran = self
            .scaler(&s.frame)?
            .run(&s.frame, &mut rgb)
            .map_err(|e| scale_err(&s.frame, e));
        self.rgb = rgb;
        ran?;
        let (w, h) = (self.rgb.width() as usize, self.rgb.height() as usize);
        let stride = self.rgb.stride(0);
        let buffer_err = |len| ConvertError::Buffer {
            number: s.number,
            source: crate::pdq::BufferSizeError {
                len,
                width: w,
                height: h,
                stride,
            },
        };
        let img = RgbView::with_stride(self.rgb.data(0), w, h, stride, LumaRule::Reference);
        let (record, views) = if self.views.dihedral() && !s.between {
            // The hash of record from the same DCT as the dihedral views
            // (identical bits, see `views::hash_with_turns`). With crops,
            // also the image crops of the frame (a caption band, a frame
            // around the picture), plain: one sampled frame a period, so
            // they cost little; their mirrored forms would only add
            // chances of a false match.
            // Turns by the reference's DCT trick: one downsample for the
            // eight, paid on every sampled frame (exact turns would cost
            // seven more; see `views::Turns`).
            let mut hashed = hash_with_turns(img, 1, self.views, Turns::DctTrick, pdq)
                .ok_or_else(|| buffer_err(img.data.len()))?;
            hashed.views.retain(|v| !v.view.is_turned_image_crop());
            (hashed.record, Some(hashed.views))
        } else {
            let src = Rgb8::with_stride(self.rgb.data(0), w, h, stride, LumaRule::Reference)
                .map_err(|source| ConvertError::Buffer {
                    number: s.number,
                    source,
                })?;
            (pdq.hash(&src), None)
        };
        // The letterbox crops cost two more hashes a frame: the sampled
        // frames only (the bars are found over those).
        if let Some(lb) = self.letterbox.as_mut().filter(|_| !s.between) {
            lb.add_frame(&img, pdq);
            if self.tmk_letterbox.is_some() {
                self.bars = lb.bars_so_far();
            }
        }
        if let Some(band) = self.band.as_mut().filter(|_| !s.between) {
            band.observe(&img);
            self.band_rect = band.rect();
        }
        self.items.push((
            PdqItem {
                hash: record.hash,
                quality: record.quality,
                frame: Some(s.number),
                timestamp: Some(s.timestamp),
                views,
            },
            s.between,
        ));
        Ok(())
    }
}
