//! What decoding one image will allocate, known from its header alone.
//!
//! `--max-decoder-mib` must hold before any pixel buffer exists: a 777 KB
//! PNG can declare 10000x10000 16-bit RGBA, an 800 MB output buffer. The
//! decoder's output is width x height x channels x bytes per sample; our
//! 8-bit RGB copy is width x height x 3, made inside that buffer for
//! integer samples, next to it otherwise. The sum held at once is checked
//! against the limit, and what is left of it goes to the decoder for its
//! own allocations.

use crate::error::{ErrorKind, ItemError};
use image::ColorType;

/// The buffers one decode holds, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeCost {
    /// The decoder's output buffer.
    pub decoded: u64,
    /// The 8-bit RGB result.
    pub rgb: u64,
    /// Whether the RGB result is made inside the decoder's buffer.
    pub in_place: bool,
}

/// Whether [`super::image`] converts this layout to RGB inside the
/// decoder's buffer (8- and 16-bit integer samples), instead of through a
/// second image.
pub fn converts_in_place(color: ColorType) -> bool {
    matches!(
        color,
        ColorType::L8
            | ColorType::La8
            | ColorType::Rgb8
            | ColorType::Rgba8
            | ColorType::L16
            | ColorType::La16
            | ColorType::Rgb16
            | ColorType::Rgba16
    )
}

impl DecodeCost {
    /// The cost of a `width` x `height` image decoded as `color`; a
    /// decoder that reports a larger output (`decoder_total`, its
    /// `total_bytes`) is believed.
    pub fn of(width: u32, height: u32, color: ColorType, decoder_total: u64) -> DecodeCost {
        let pixels = u64::from(width) * u64::from(height);
        let channels = u64::from(color.channel_count());
        let bytes_per_sample = u64::from(color.bytes_per_pixel()) / channels.max(1);
        let decoded = pixels
            .saturating_mul(channels)
            .saturating_mul(bytes_per_sample)
            .max(decoder_total);
        DecodeCost {
            decoded,
            rgb: pixels.saturating_mul(3),
            in_place: converts_in_place(color),
        }
    }

    /// Bytes held at once at the peak of the decode.
    pub fn peak(&self) -> u64 {
        if self.in_place {
            self.decoded.max(self.rgb)
        } else {
            self.decoded.saturating_add(self.rgb)
        }
    }

    /// Bytes we hold besides the decoder's own output buffer: a decoder
    /// counts its output against its limit itself, so only these are
    /// taken off the limit it is given.
    pub fn besides_output(&self) -> u64 {
        self.peak() - self.decoded
    }

    /// `limit` error when the peak is over `max_alloc` bytes; otherwise
    /// what the decoder may still allocate on top of its output.
    pub fn check(
        &self,
        width: u32,
        height: u32,
        color: ColorType,
        max_alloc: u64,
    ) -> Result<u64, ItemError> {
        let peak = self.peak();
        if peak > max_alloc {
            return Err(ItemError::new(
                ErrorKind::Limit,
                format!(
                    "decoding this {width}x{height} {color:?} image needs {} MiB, over the decoder memory limit of {} MiB",
                    peak.div_ceil(1 << 20),
                    max_alloc >> 20
                ),
            ));
        }
        Ok(max_alloc - self.besides_output())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bit_rgba_counts_eight_bytes_a_pixel() {
        let c = DecodeCost::of(10_000, 10_000, ColorType::Rgba16, 0);
        assert_eq!(c.decoded, 800_000_000);
        assert_eq!(c.rgb, 300_000_000);
        assert_eq!(c.peak(), 800_000_000);
        let e = c
            .check(10_000, 10_000, ColorType::Rgba16, 256 << 20)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Limit);
        assert!(e.message.contains("763 MiB"), "{}", e.message);
    }

    #[test]
    fn grey_needs_room_for_its_rgb_and_floats_need_both_buffers() {
        let grey = DecodeCost::of(100, 100, ColorType::L8, 0);
        assert_eq!((grey.peak(), grey.besides_output()), (30_000, 20_000));
        assert_eq!(grey.check(100, 100, ColorType::L8, 50_000), Ok(30_000));
        let float = DecodeCost::of(100, 100, ColorType::Rgb32F, 0);
        assert_eq!(float.peak(), 120_000 + 30_000);
        // A decoder that says it needs more is believed.
        assert_eq!(DecodeCost::of(1, 1, ColorType::Rgb8, 99).decoded, 99);
    }
}
