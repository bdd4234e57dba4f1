//! An upload or a file found by `scan`, in memory: `hash_bytes` sniffs it,
//! decodes an image within the limits and computes PDQ, the dihedral hashes
//! and every query-side view, as `scan` with `--views all` does.
//!
//! The limits are small (4 Mpixels, 64 MiB per decode) so that an image
//! the limits allow cannot take the fuzzer past its memory limit: a kill
//! then means the limits did not hold.
//!
//! Checked besides "no panic":
//! - a decoded image respects `max_pixels` and has exactly one hash of
//!   record, of quality 0..=100;
//! - hashing with a worker that has already hashed another image (reused
//!   pixel and scratch buffers, as every scan and server thread does) gives
//!   the same record as a fresh worker: nothing of an earlier image leaks
//!   into a later one's hashes. The earlier image is a fixed noise picture
//!   hashed just before, so a failing input fails alone, every time.
//!
//! The decoders run under `catch_unwind` by design (a panicking decoder is
//! a `decode` error of that file): such a panic is printed once per place
//! and the run goes on (`hashsieve_fuzz::record_panics`). A panic anywhere
//! else still ends the run.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use hashsieve::hashing::{hash_bytes, HashConfig, Worker};
use hashsieve::media::image::ImageLimits;
use hashsieve::views::ViewSet;
use hashsieve_fuzz::record_panics;
use libfuzzer_sys::fuzz_target;

const MAX_PIXELS: u64 = 1 << 22;

fn config() -> HashConfig {
    HashConfig {
        image_limits: ImageLimits {
            max_pixels: MAX_PIXELS,
            max_alloc: 64 << 20,
        },
        max_image_bytes: 8 << 20,
        dihedral: true,
        views: ViewSet::All,
        ..HashConfig::default()
    }
}

/// A 256x256 24-bit BMP of noise: decoded into the worker's pixel buffer
/// (in place, as JPEG, PNG and WebP are), it leaves every byte of it
/// non-zero-ish and known, where a fresh worker's buffer is zeros.
fn noise_bmp() -> &'static [u8] {
    static BMP: OnceLock<Vec<u8>> = OnceLock::new();
    BMP.get_or_init(|| {
        const SIDE: u32 = 256;
        let pixels = (SIDE * SIDE * 3) as usize;
        let mut b = Vec::with_capacity(54 + pixels);
        b.extend_from_slice(b"BM");
        b.extend_from_slice(&(54 + pixels as u32).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&54u32.to_le_bytes());
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(&SIDE.to_le_bytes());
        b.extend_from_slice(&SIDE.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&24u16.to_le_bytes());
        b.extend_from_slice(&[0; 24]);
        let mut x = 0x9e37_79b9u32;
        b.extend((0..pixels).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        }));
        b
    })
}

/// A worker that has just hashed the noise picture.
fn used_worker() -> Worker {
    let mut w = Worker::new();
    let cheap = HashConfig {
        dihedral: false,
        views: ViewSet::None,
        ..config()
    };
    let r = hash_bytes(Path::new("noise.bmp"), noise_bmp(), &cheap, &mut w);
    assert!(
        r.error.is_none(),
        "the noise picture decodes: {:?}",
        r.error
    );
    w
}

fuzz_target!(|data: &[u8]| {
    record_panics();
    let cfg = config();
    let path = Path::new("upload");
    let rec = hash_bytes(path, data, &cfg, &mut used_worker());
    if rec.error.is_none() && rec.media == hashsieve::record::Media::Image {
        let (w, h) = (rec.width.unwrap_or(0), rec.height.unwrap_or(0));
        assert!(
            u64::from(w) * u64::from(h) <= MAX_PIXELS,
            "decoded {w}x{h}, over max_pixels"
        );
        assert_eq!(rec.pdq.len(), 1, "an image has one hash of record");
        assert!(rec.pdq[0].quality <= 100);
    }
    let fresh = hash_bytes(path, data, &cfg, &mut Worker::new());
    // The whole record: dimensions, hashes, views, error.
    assert_eq!(
        rec.to_json_line(),
        fresh.to_json_line(),
        "a reused worker hashed differently from a fresh one"
    );
});
