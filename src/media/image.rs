//! Still images to 8-bit RGB, the way the shared lists were made.
//!
//! The reference hashes were computed on `Image.open(p).convert("RGB")` in
//! Pillow: greyscale replicated, palette expanded, alpha dropped without
//! compositing, 16-bit samples reduced to their high byte, CMYK converted,
//! EXIF orientation NOT applied. We do the same with the `image` crate, and
//! report the EXIF orientation so matching can try the upright view too.
//!
//! Limits are checked on the header before any pixel buffer exists, and
//! the decoder runs under `catch_unwind`: a hostile file costs its own
//! record, never the process.

use super::decode_cost::DecodeCost;
use super::sniff::ImageFormat;
use crate::error::{ErrorKind, ItemError};
use image::{ColorType, DynamicImage, ImageDecoder, ImageReader};
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Safety limits for decoding one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Maximum width x height.
    pub max_pixels: u64,
    /// Maximum memory the decoder may allocate, in bytes.
    pub max_alloc: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_pixels: 100_000_000,
            max_alloc: 512 << 20,
        }
    }
}

/// A decoded image: packed RGB rows.
#[derive(Debug, Clone)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
    /// EXIF orientation (1..=8; 1 when the file has none).
    pub orientation: u8,
}

fn to_image_format(f: ImageFormat) -> image::ImageFormat {
    match f {
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Gif => image::ImageFormat::Gif,
        ImageFormat::Webp => image::ImageFormat::WebP,
        ImageFormat::Bmp => image::ImageFormat::Bmp,
        ImageFormat::Tiff => image::ImageFormat::Tiff,
    }
}

fn classify(e: image::ImageError) -> ItemError {
    use image::ImageError as E;
    match e {
        E::Limits(l) => ItemError::new(ErrorKind::Limit, format!("decoder limit: {l}")),
        E::Unsupported(u) => ItemError::new(ErrorKind::Unsupported, u.to_string()),
        E::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            ItemError::new(ErrorKind::Decode, format!("truncated image: {io}"))
        }
        other => ItemError::new(ErrorKind::Decode, other.to_string()),
    }
}

/// Decode `data` (whose format was sniffed as `format`) to RGB.
///
/// Errors: `limit` when the header declares more than `limits` allow (checked
/// before allocation), `decode` for damaged data (also when the decoder
/// panics), `unsupported` for variants the decoder does not handle.
pub fn decode_rgb(
    data: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
) -> Result<RgbImage, ItemError> {
    decode_rgb_reusing(data, format, limits, &mut Vec::new())
}

/// [`decode_rgb`], decoding into the storage of `reuse` when it can (give
/// the returned image's `rgb` back to `reuse` after use: a hasher of many
/// images then allocates only when a larger one comes along).
pub fn decode_rgb_reusing(
    data: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
    reuse: &mut Vec<u8>,
) -> Result<RgbImage, ItemError> {
    match catch_unwind(AssertUnwindSafe(|| {
        decode_inner(data, format, limits, reuse)
    })) {
        Ok(r) => r,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(ItemError::new(
                ErrorKind::Decode,
                format!("decoder crashed: {what}"),
            ))
        }
    }
}

/// Whether a JPEG stream reaches its end-of-image marker after its first
/// scan. Entropy-coded data escapes 0xFF, so `FF D9` there can only be the
/// marker. Our JPEG decoder fills a cut-off scan with grey instead of
/// failing; Pillow (which made the lists) refuses such files, and a hash of
/// half a picture is not one to report, so a missing marker is an error.
fn jpeg_is_complete(data: &[u8]) -> bool {
    let Some(sos) = memchr::memmem::find(data, &[0xFF, 0xDA]) else {
        return false;
    };
    // The marker is normally the last two bytes: search from the end.
    memchr::memmem::rfind(&data[sos..], &[0xFF, 0xD9]).is_some()
}

fn decode_inner(
    data: &[u8],
    format: ImageFormat,
    limits: &ImageLimits,
    reuse: &mut Vec<u8>,
) -> Result<RgbImage, ItemError> {
    let mut reader = ImageReader::with_format(Cursor::new(data), to_image_format(format));
    let mut lim = image::Limits::default();
    lim.max_alloc = Some(limits.max_alloc);
    reader.limits(lim);
    let mut decoder = reader.into_decoder().map_err(classify)?;
    let (w, h) = decoder.dimensions();
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_pixels {
        return Err(ItemError::new(
            ErrorKind::Limit,
            format!(
                "{w}x{h} is {pixels} pixels, over the limit of {}",
                limits.max_pixels
            ),
        ));
    }
    if w == 0 || h == 0 {
        return Err(ItemError::new(
            ErrorKind::Decode,
            format!("image has no pixels ({w}x{h})"),
        ));
    }
    if format == ImageFormat::Jpeg && !jpeg_is_complete(data) {
        return Err(ItemError::new(
            ErrorKind::Decode,
            "truncated JPEG: no end-of-image marker after the scan data",
        ));
    }
    // A missing or unreadable EXIF block is not an error: orientation 1.
    let orientation = decoder.orientation().map(|o| o.to_exif()).unwrap_or(1);
    let color = decoder.color_type();
    // The limit holds before any pixel buffer exists: what we allocate is
    // known from the header, and the decoder gets what is left of the
    // limit for its own buffers.
    let cost = DecodeCost::of(w, h, color, decoder.total_bytes());
    let mut lim = image::Limits::default();
    lim.max_alloc = Some(cost.check(w, h, color, limits.max_alloc)?);
    decoder.set_limits(lim).map_err(classify)?;
    let rgb = if cost.in_place {
        // Integer samples (JPEG, PNG, WebP, greyscale, 16-bit): decode
        // straight into reused storage and convert to RGB in place,
        // sparing a fresh allocation, its zeroing and page faults, and a
        // second buffer for every image.
        let too_large = || ItemError::new(ErrorKind::Limit, "image too large");
        let n = usize::try_from(decoder.total_bytes()).map_err(|_| too_large())?;
        let pixels = usize::try_from(u64::from(w) * u64::from(h)).map_err(|_| too_large())?;
        let out = pixels.checked_mul(3).ok_or_else(too_large)?;
        let mut buf = std::mem::take(reuse);
        // Cleared first: a decoder may return success without writing
        // every pixel (a JPEG whose scan ends early), and the rest must
        // then be black, as a fresh decode has it, never the previous
        // image's pixels (which belong to another file, or another client
        // of the service). Found by the `image` fuzz target.
        buf.clear();
        buf.resize(n.max(out), 0);
        decoder.read_image(&mut buf[..n]).map_err(classify)?;
        to_rgb_in_place(&mut buf, color, pixels);
        buf.truncate(out);
        buf
    } else {
        to_rgb8_like_pillow(DynamicImage::from_decoder(decoder).map_err(classify)?)
    };
    Ok(RgbImage {
        width: w,
        height: h,
        rgb,
        orientation,
    })
}

/// Pillow's `convert("RGB")` on `pixels` pixels of `color` at the start
/// of `buf` (which holds at least `3 * pixels` bytes), in place: alpha
/// dropped without compositing, grey replicated, 16-bit samples (native
/// endian, as decoders write them) reduced to their high byte. Narrowing
/// runs forwards and widening backwards, so no pixel is overwritten before
/// it is read.
fn to_rgb_in_place(buf: &mut [u8], color: ColorType, pixels: usize) {
    let hi = |p: &[u8], i: usize| (u16::from_ne_bytes([p[2 * i], p[2 * i + 1]]) >> 8) as u8;
    match color {
        ColorType::Rgba8 => narrow::<4>(buf, pixels, |p| [p[0], p[1], p[2]]),
        ColorType::L8 => widen::<1>(buf, pixels, |p| [p[0]; 3]),
        ColorType::La8 => widen::<2>(buf, pixels, |p| [p[0]; 3]),
        ColorType::Rgb16 => narrow::<6>(buf, pixels, |p| [hi(p, 0), hi(p, 1), hi(p, 2)]),
        ColorType::Rgba16 => narrow::<8>(buf, pixels, |p| [hi(p, 0), hi(p, 1), hi(p, 2)]),
        ColorType::L16 => widen::<2>(buf, pixels, |p| [hi(p, 0); 3]),
        ColorType::La16 => narrow::<4>(buf, pixels, |p| [hi(p, 0); 3]),
        _ => {}
    }
}

/// Pixels of `N >= 3` bytes to 3, first to last.
fn narrow<const N: usize>(buf: &mut [u8], pixels: usize, rgb: impl Fn(&[u8]) -> [u8; 3]) {
    for i in 0..pixels {
        let px = rgb(&buf[N * i..N * i + N]);
        buf[3 * i..3 * i + 3].copy_from_slice(&px);
    }
}

/// Pixels of `N < 3` bytes to 3, last to first.
fn widen<const N: usize>(buf: &mut [u8], pixels: usize, rgb: impl Fn(&[u8]) -> [u8; 3]) {
    for i in (0..pixels).rev() {
        let px = rgb(&buf[N * i..N * i + N]);
        buf[3 * i..3 * i + 3].copy_from_slice(&px);
    }
}

/// Pillow's `convert("RGB")` semantics on the `image` crate's pixel layouts.
fn to_rgb8_like_pillow(img: DynamicImage) -> Vec<u8> {
    match img {
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        DynamicImage::ImageRgba8(b) => b
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        DynamicImage::ImageLuma8(b) => b.into_raw().into_iter().flat_map(|v| [v, v, v]).collect(),
        DynamicImage::ImageLumaA8(b) => b
            .into_raw()
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        // 16-bit: Pillow keeps the most significant byte.
        DynamicImage::ImageRgb16(b) => b.into_raw().into_iter().map(|v| (v >> 8) as u8).collect(),
        DynamicImage::ImageRgba16(b) => b
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8])
            .collect(),
        DynamicImage::ImageLuma16(b) => b
            .into_raw()
            .into_iter()
            .flat_map(|v| {
                let g = (v >> 8) as u8;
                [g, g, g]
            })
            .collect(),
        DynamicImage::ImageLumaA16(b) => b
            .into_raw()
            .chunks_exact(2)
            .flat_map(|p| {
                let g = (p[0] >> 8) as u8;
                [g, g, g]
            })
            .collect(),
        // Float images (TIFF): the crate's own clamp-and-scale.
        other => other.to_rgb8().into_raw(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_conversion_equals_the_pillow_rules() {
        // Seeded pseudo-random pixels, odd sizes.
        let mut x = 0x2545_f491_u32;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        };
        for (w, h) in [(1, 1), (7, 3), (64, 33)] {
            let rgba = image::RgbaImage::from_fn(w, h, |_, _| {
                image::Rgba([next(), next(), next(), next()])
            });
            let grey = image::GrayImage::from_fn(w, h, |_, _| image::Luma([next()]));
            let grey_a =
                image::GrayAlphaImage::from_fn(w, h, |_, _| image::LumaA([next(), next()]));
            let mut next16 = || u16::from_le_bytes([next(), next()]);
            let rgb16 = image::ImageBuffer::from_fn(w, h, |_, _| {
                image::Rgb([next16(), next16(), next16()])
            });
            let rgba16 = image::ImageBuffer::from_fn(w, h, |_, _| {
                image::Rgba([next16(), next16(), next16(), next16()])
            });
            let grey16 = image::ImageBuffer::from_fn(w, h, |_, _| image::Luma([next16()]));
            let grey_a16 =
                image::ImageBuffer::from_fn(w, h, |_, _| image::LumaA([next16(), next16()]));
            let pixels = (w * h) as usize;
            for (img, color) in [
                (DynamicImage::ImageRgba8(rgba), ColorType::Rgba8),
                (DynamicImage::ImageLuma8(grey), ColorType::L8),
                (DynamicImage::ImageLumaA8(grey_a), ColorType::La8),
                (DynamicImage::ImageRgb16(rgb16), ColorType::Rgb16),
                (DynamicImage::ImageRgba16(rgba16), ColorType::Rgba16),
                (DynamicImage::ImageLuma16(grey16), ColorType::L16),
                (DynamicImage::ImageLumaA16(grey_a16), ColorType::La16),
            ] {
                let mut buf = img.as_bytes().to_vec();
                buf.resize(buf.len().max(3 * pixels), 0);
                to_rgb_in_place(&mut buf, color, pixels);
                buf.truncate(3 * pixels);
                assert_eq!(buf, to_rgb8_like_pillow(img), "{color:?} {w}x{h}");
            }
        }
    }

    fn png_bytes(img: DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn rgba_drops_alpha_without_compositing() {
        let img = image::RgbaImage::from_pixel(6, 6, image::Rgba([10, 20, 30, 0]));
        let d = decode_rgb(
            &png_bytes(DynamicImage::ImageRgba8(img)),
            ImageFormat::Png,
            &ImageLimits::default(),
        )
        .unwrap();
        assert_eq!(&d.rgb[0..3], &[10, 20, 30]);
        assert_eq!(d.orientation, 1);
    }

    #[test]
    fn sixteen_bit_keeps_high_byte() {
        let img =
            image::ImageBuffer::<image::Luma<u16>, _>::from_pixel(5, 5, image::Luma([0x12ff]));
        let d = decode_rgb(
            &png_bytes(DynamicImage::ImageLuma16(img)),
            ImageFormat::Png,
            &ImageLimits::default(),
        )
        .unwrap();
        assert_eq!(&d.rgb[0..3], &[0x12, 0x12, 0x12]);
    }

    #[test]
    fn pixel_limit_is_checked_before_decoding() {
        let img = image::RgbImage::from_pixel(100, 100, image::Rgb([1, 2, 3]));
        let bytes = png_bytes(DynamicImage::ImageRgb8(img));
        let limits = ImageLimits {
            max_pixels: 9_999,
            ..ImageLimits::default()
        };
        let e = decode_rgb(&bytes, ImageFormat::Png, &limits).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Limit);
    }

    #[test]
    fn decoder_memory_limit_counts_sixteen_bit_samples() {
        // 200x200 16-bit RGBA: 320,000 bytes of decoder output, though
        // its RGB is only 120,000.
        let img = image::ImageBuffer::<image::Rgba<u16>, _>::from_pixel(
            200,
            200,
            image::Rgba([0x1234, 0, 0xffff, 7]),
        );
        let bytes = png_bytes(DynamicImage::ImageRgba16(img));
        let tight = ImageLimits {
            max_alloc: 300_000,
            ..ImageLimits::default()
        };
        let e = decode_rgb(&bytes, ImageFormat::Png, &tight).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Limit, "{}", e.message);
        let enough = ImageLimits {
            max_alloc: 400_000,
            ..ImageLimits::default()
        };
        let d = decode_rgb(&bytes, ImageFormat::Png, &enough).unwrap();
        assert_eq!(&d.rgb[..3], &[0x12, 0, 0xff]);
        assert_eq!(d.rgb.len(), 120_000);
    }

    #[test]
    fn a_reused_buffer_never_leaks_the_previous_image() {
        // A JPEG whose scan stops after a few bytes yet ends with EOI: the
        // decoder reports success without writing most pixels. Decoded
        // after a noisy picture into the same storage, it must give what
        // a fresh decode gives (found by the `image` fuzz target).
        let short = include_bytes!("testdata/short-scan.jpg");
        let limits = ImageLimits::default();
        let fresh = decode_rgb(short, ImageFormat::Jpeg, &limits).unwrap();
        let mut x = 0x9e37_79b9_u32;
        let noise = image::RgbImage::from_fn(256, 256, |_, _| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            image::Rgb([x as u8, (x >> 8) as u8, (x >> 16) as u8])
        });
        let mut reuse = Vec::new();
        let first = decode_rgb_reusing(
            &png_bytes(DynamicImage::ImageRgb8(noise)),
            ImageFormat::Png,
            &limits,
            &mut reuse,
        )
        .unwrap();
        reuse = first.rgb;
        let again = decode_rgb_reusing(short, ImageFormat::Jpeg, &limits, &mut reuse).unwrap();
        assert_eq!((again.width, again.height), (fresh.width, fresh.height));
        assert!(again.rgb == fresh.rgb, "pixels differ from a fresh decode");
    }

    #[test]
    fn truncated_jpeg_is_a_decode_error() {
        let img =
            image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 7]));
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(img)
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .unwrap();
        let full = out.into_inner();
        assert!(decode_rgb(&full, ImageFormat::Jpeg, &ImageLimits::default()).is_ok());
        let e = decode_rgb(
            &full[..full.len() * 2 / 3],
            ImageFormat::Jpeg,
            &ImageLimits::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Decode);
        assert!(e.message.contains("truncated"), "{}", e.message);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let e = decode_rgb(
            &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3],
            ImageFormat::Jpeg,
            &ImageLimits::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Decode);
    }
}
