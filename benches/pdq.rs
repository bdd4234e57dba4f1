//! PDQ on synthetic 1 MP and 12 MP pictures (RGB with the Pillow luma rule,
//! and a float luma buffer), plus the reference's dihedral set (one DCT)
//! and the eight exact turned hashes of the query views (`oriented8`).
//!
//!     cargo bench --bench pdq          (or -p pdq, without the media side)

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pdq::{DihedralKind, FloatLuma, LumaRule, PdqHasher, Rgb8};

/// A deterministic picture with texture at several scales.
fn rgb(w: usize, h: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(w * h * 3);
    let mut x: u32 = 0x1234_5678;
    for y in 0..h {
        for c in 0..w {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let base = ((c * 255 / w) ^ (y * 255 / h)) as u32;
            v.push((base + (x & 15)) as u8);
            v.push(((c / 7 + y / 5) % 256) as u8);
            v.push((255 - base + (x >> 28)) as u8);
        }
    }
    v
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("pdq");
    group.sample_size(20);
    for &(name, w, h) in &[("1MP", 1152usize, 868usize), ("12MP", 4000, 3000)] {
        let pixels = rgb(w, h);
        let luma: Vec<f32> = pixels
            .chunks_exact(3)
            .map(|p| p[0] as f32 * 0.3 + p[1] as f32 * 0.59 + p[2] as f32 * 0.11)
            .collect();
        let mut hasher = PdqHasher::new();
        group.throughput(Throughput::Elements((w * h) as u64));
        group.bench_with_input(BenchmarkId::new("rgb", name), &pixels, |b, px| {
            b.iter(|| hasher.hash(&Rgb8::new(px, w, h, LumaRule::Pillow).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("luma", name), &luma, |b, l| {
            b.iter(|| hasher.hash(&FloatLuma::new(l, w, h).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("dihedral", name), &pixels, |b, px| {
            b.iter(|| hasher.dihedral(&Rgb8::new(px, w, h, LumaRule::Pillow).unwrap()))
        });
        // One of each pair of twins (a turn and its upside-down twin share
        // their first row pass): oriented8 against twice this is what the
        // sharing saves.
        group.bench_with_input(BenchmarkId::new("oriented4", name), &pixels, |b, px| {
            b.iter(|| {
                hasher.oriented(
                    &Rgb8::new(px, w, h, LumaRule::Pillow).unwrap(),
                    &[
                        DihedralKind::Original,
                        DihedralKind::FlipY,
                        DihedralKind::FlipPlus1,
                        DihedralKind::Rotate270,
                    ],
                )
            })
        });
        // The query views: the hash of each of the eight turned pictures.
        group.bench_with_input(BenchmarkId::new("oriented8", name), &pixels, |b, px| {
            b.iter(|| {
                hasher.oriented(
                    &Rgb8::new(px, w, h, LumaRule::Pillow).unwrap(),
                    &DihedralKind::ALL,
                )
            })
        });
    }
    // Each turn alone (1 MP): what a turn that reads columns as rows costs
    // against one that reads rows.
    let (w, h) = (1152usize, 868usize);
    let pixels = rgb(w, h);
    let mut hasher = PdqHasher::new();
    group.throughput(Throughput::Elements((w * h) as u64));
    for kind in DihedralKind::ALL {
        group.bench_with_input(
            BenchmarkId::new("oriented", format!("1MP-{}", kind.name())),
            &pixels,
            |b, px| {
                b.iter(|| hasher.oriented(&Rgb8::new(px, w, h, LumaRule::Pillow).unwrap(), &[kind]))
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
