//! The one step that decides TMK+PDQF's cost on HD video: a decoded frame
//! scaled to the 64x64 RGB24 the ffmpeg CLI pipes out (bicubic, FFmpeg
//! 5.1's bytes), ours (`src/video/tmk_scale.rs`: AMX, AVX-512 VNNI or AVX2
//! horizontal pass, whichever is the best this CPU runs, then the AVX2
//! vertical pass and RGB row; `vnni` is the same with the VNNI horizontal
//! pass even where AMX runs) beside libswscale's (the same context with the
//! Rust path off), one thread.
//!
//!     cargo bench --bench tmk_scale
//!
//! Each size is timed two ways: `hot`, one frame scaled again and again
//! (it stays in L2), and `cycling`, eight different frames in turn (14 MB
//! at 1080x1080: each is in L3 when it is scaled, as a decoded frame is by
//! the time TMK takes it, the decoder having written others since). The
//! frames are smooth gradients with noise, `yuv420p`, limited range.
//! End-to-end cost against vPDQ is `cargo bench --bench tmk_speed`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ffmpeg_next::ffi;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::util::frame::video::Video;
use hashsieve::video::tmk_frames::CliScaler;

/// A `w` x `h` yuv420p frame: gradients plus a little noise, different
/// for each `seed`.
fn frame(w: u32, h: u32, seed: u64) -> Video {
    let mut f = Video::new(Pixel::YUV420P, w, h);
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for p in 0..3 {
        let stride = f.stride(p);
        let (pw, ph) = if p == 0 {
            (w as usize, h as usize)
        } else {
            (w.div_ceil(2) as usize, h.div_ceil(2) as usize)
        };
        let d = f.data_mut(p);
        for r in 0..ph {
            for c in 0..pw {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let g = (r * 200 / ph + c * 50 / pw + p * 30) as u64;
                d[r * stride + c] = (g + (x % 16) + seed) as u8;
            }
        }
    }
    f
}

fn scale(c: &mut Criterion) {
    ffmpeg_next::init().expect("FFmpeg initialises");
    let mut group = c.benchmark_group("tmk_scale");
    group.sample_size(30);
    for (w, h) in [(1080u32, 1080u32), (1920, 1080), (720, 480)] {
        let frames: Vec<Video> = (0..8).map(|s| frame(w, h, s)).collect();
        let size = format!("{w}x{h}");
        let mut rgb = vec![0u8; 64 * 64 * 3];
        for side in ["ours", "vnni", "libswscale"] {
            let mut s = CliScaler::new(&frames[0], ffi::AVColorRange::AVCOL_RANGE_MPEG)
                .expect("a scaler for yuv420p");
            s = match side {
                "vnni" => s.vnni_only(),
                "libswscale" => s.libswscale_only(),
                _ => s,
            };
            group.bench_function(BenchmarkId::new(format!("{side}/hot"), &size), |b| {
                b.iter(|| s.scale(&frames[0], &mut rgb).expect("scaled"))
            });
            let mut i = 0;
            group.bench_function(BenchmarkId::new(format!("{side}/cycling"), &size), |b| {
                b.iter(|| {
                    i = (i + 1) % frames.len();
                    s.scale(&frames[i], &mut rgb).expect("scaled")
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
