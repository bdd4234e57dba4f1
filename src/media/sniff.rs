//! Media type from content, never from the file name.
//!
//! Uploads and archives lie about extensions (a `.jpg` that is an MP4, a
//! video renamed `.dat`), so the first bytes decide. Only the formats we
//! can act on are named; everything else is `Other` and still gets its
//! cryptographic hashes.

use serde::Serialize;

/// Still-image formats decoded in-process by the `image` crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
    Bmp,
    Tiff,
}

/// What a file is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image(ImageFormat),
    /// A container FFmpeg may decode (MP4/MOV/3GP, Matroska/WebM, AVI,
    /// MPEG-TS/PS, FLV, ASF/WMV, Ogg).
    Video,
    Other,
}

impl MediaKind {
    /// The `media` field of the output: `image`, `video` or `other`.
    pub fn label(self) -> crate::record::Media {
        use crate::record::Media;
        match self {
            MediaKind::Image(_) => Media::Image,
            MediaKind::Video => Media::Video,
            MediaKind::Other => Media::Other,
        }
    }
}

/// How many leading bytes [`sniff`] wants to see (fewer is fine for short files).
pub const SNIFF_LEN: usize = 512;

/// Identify `head`, the first bytes of a file (up to [`SNIFF_LEN`]).
pub fn sniff(head: &[u8]) -> MediaKind {
    let starts = |magic: &[u8]| head.starts_with(magic);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return MediaKind::Image(ImageFormat::Jpeg);
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return MediaKind::Image(ImageFormat::Png);
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return MediaKind::Image(ImageFormat::Gif);
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" {
        match &head[8..12] {
            b"WEBP" => return MediaKind::Image(ImageFormat::Webp),
            b"AVI " | b"AVIX" => return MediaKind::Video,
            _ => return MediaKind::Other,
        }
    }
    if head.len() >= 14 && starts(b"BM") && bmp_header_plausible(head) {
        return MediaKind::Image(ImageFormat::Bmp);
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return MediaKind::Image(ImageFormat::Tiff);
    }
    if is_isobmff(head)
        || starts(&[0x1A, 0x45, 0xDF, 0xA3]) // Matroska / WebM (EBML)
        || starts(b"FLV\x01")
        || starts(&[0x00, 0x00, 0x01, 0xBA]) // MPEG program stream
        || starts(&[0x00, 0x00, 0x01, 0xB3]) // MPEG-1/2 video elementary stream
        || starts(&[0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11]) // ASF / WMV
        || starts(b"OggS")
        || is_mpeg_ts(head)
    {
        return MediaKind::Video;
    }
    MediaKind::Other
}

/// ISO base media (MP4, MOV, 3GP, M4V): a box of type `ftyp`, or a QuickTime
/// file that starts with another top-level atom.
fn is_isobmff(head: &[u8]) -> bool {
    if head.len() < 12 {
        return false;
    }
    let kind = &head[4..8];
    if kind == b"ftyp" {
        // AVIF/HEIC are stills in an ISO container; we do not decode them
        // as video.
        let brand = &head[8..12];
        return !matches!(
            brand,
            b"avif" | b"avis" | b"heic" | b"heix" | b"mif1" | b"msf1"
        );
    }
    matches!(
        kind,
        b"moov" | b"mdat" | b"wide" | b"free" | b"skip" | b"pnot"
    ) && u32::from_be_bytes([head[0], head[1], head[2], head[3]]) >= 8
}

/// MPEG transport stream: sync byte 0x47 every 188 bytes.
fn is_mpeg_ts(head: &[u8]) -> bool {
    head.len() > 188 * 2 && head[0] == 0x47 && head[188] == 0x47 && head[376] == 0x47
}

/// "BM" is a common two-byte prefix; also require a sane header size.
fn bmp_header_plausible(head: &[u8]) -> bool {
    // The DIB header size is bytes 14..18; a file too short to hold it
    // is not a plausible BMP (and must not be indexed past its end: the
    // fuzzer found a 14-byte "BM" file that panicked here).
    let Some(&[a, b, c, d]) = head.get(14..18) else {
        return false;
    };
    let dib = u32::from_le_bytes([a, b, c, d]);
    matches!(dib, 12 | 40 | 52 | 56 | 64 | 108 | 124)
}

/// What a file name's extension claims the content is, if anything. Names
/// never decide the type; a claim that the content contradicts is reported
/// (a damaged or disguised media file deserves a look).
pub fn claimed_by_name(name: &std::path::Path) -> Option<&'static str> {
    let ext = name.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" | "jpe" | "jfif" | "png" | "gif" | "webp" | "bmp" | "tif" | "tiff" => {
            Some("image")
        }
        "mp4" | "m4v" | "mov" | "mkv" | "webm" | "avi" | "ts" | "mts" | "flv" | "wmv" | "3gp"
        | "mpg" | "mpeg" => Some("video"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_common_formats() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]),
            MediaKind::Image(ImageFormat::Jpeg)
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n...."),
            MediaKind::Image(ImageFormat::Png)
        );
        assert_eq!(
            sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            MediaKind::Image(ImageFormat::Webp)
        );
        assert_eq!(sniff(b"RIFF\0\0\0\0AVI LIST"), MediaKind::Video);
        assert_eq!(sniff(b"\0\0\0\x20ftypisom\0\0\0\0"), MediaKind::Video);
        assert_eq!(sniff(b"\0\0\0\x20ftypavif\0\0\0\0"), MediaKind::Other);
        assert_eq!(sniff(&[0x1A, 0x45, 0xDF, 0xA3, 1, 2]), MediaKind::Video);
        assert_eq!(sniff(b"hello world"), MediaKind::Other);
        assert_eq!(sniff(b""), MediaKind::Other);
        assert_eq!(sniff(b"BM"), MediaKind::Other);
        // Too short to hold the DIB header size (bytes 14..18): not a BMP,
        // and no read past the end (a fuzzer finding).
        assert_eq!(sniff(b"BM000000000000"), MediaKind::Other);
        assert_eq!(sniff(b"BM000000000000(\0\0"), MediaKind::Other);
    }

    #[test]
    fn names_only_claim() {
        use std::path::Path;
        assert_eq!(claimed_by_name(Path::new("a/b.JPG")), Some("image"));
        assert_eq!(claimed_by_name(Path::new("clip.mp4")), Some("video"));
        assert_eq!(claimed_by_name(Path::new("notes.txt")), None);
        assert_eq!(claimed_by_name(Path::new("noext")), None);
    }
}
