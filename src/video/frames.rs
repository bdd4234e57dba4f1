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

use crate::pdq::{LumaRule, PdqHasher, Rgb8};
use crate::record::PdqItem;
use crate::views::letterbox::LetterboxViews;
use crate::views::{hash_with_views, RgbView, ViewSet};
use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::util::frame::video::Video;

/// A decoded frame chosen for hashing (a reference to the decoder's buffer,
/// not a copy).
pub struct Sampled {
    pub frame: Video,
    pub number: u64,
    pub timestamp: f64,
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
}

impl FrameHasher {
    /// Frames are converted to `width` x `height` (the stream's declared
    /// size, as the reference does). `views`: query-side views of each
    /// frame (dihedral from the frame's DCT; with crops, `letterbox`).
    pub fn new(width: u32, height: u32, views: ViewSet) -> Self {
        FrameHasher {
            dst: (width, height),
            scaler: None,
            rgb: Video::empty(),
            views,
            letterbox: views
                .crops()
                .then(|| LetterboxViews::new(width as usize, height as usize, true)),
        }
    }

    /// Attach the letterbox views, known only now that every frame was
    /// seen, to `items` (the items this hasher made, in order).
    pub fn finish(self, items: &mut [PdqItem]) {
        let Some(lb) = self.letterbox else { return };
        let (_, per_frame) = lb.finish();
        for (item, mut crops) in items.iter_mut().zip(per_frame) {
            if crops.is_empty() {
                continue;
            }
            crops.extend(item.views.take().unwrap_or_default());
            item.views = Some(crops);
        }
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

    /// Convert `s` to RGB and hash it.
    ///
    /// # Errors
    /// [`ConvertError`] when libswscale refuses the frame's format or size.
    pub fn hash(&mut self, s: &Sampled, pdq: &mut PdqHasher) -> Result<PdqItem, ConvertError> {
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
        let src = Rgb8::with_stride(self.rgb.data(0), w, h, stride, LumaRule::Reference).map_err(
            |source| ConvertError::Buffer {
                number: s.number,
                source,
            },
        )?;
        if !self.views.dihedral() {
            let hash = pdq.hash(&src);
            return Ok(PdqItem {
                hash: hash.hash,
                quality: hash.quality,
                frame: Some(s.number),
                timestamp: Some(s.timestamp),
                views: None,
            });
        }
        // The hash of record from the same DCT as the dihedral views
        // (identical bits, see `views::hash_with_views`).
        let img = RgbView::with_stride(self.rgb.data(0), w, h, stride, LumaRule::Reference);
        let hashed =
            hash_with_views(img, 1, ViewSet::Dihedral, pdq).ok_or(ConvertError::Buffer {
                number: s.number,
                source: crate::pdq::BufferSizeError {
                    len: img.data.len(),
                    width: w,
                    height: h,
                    stride,
                },
            })?;
        if let Some(lb) = &mut self.letterbox {
            lb.add_frame(&img, pdq);
        }
        Ok(PdqItem {
            hash: hashed.record.hash,
            quality: hashed.record.quality,
            frame: Some(s.number),
            timestamp: Some(s.timestamp),
            views: Some(hashed.views),
        })
    }
}
