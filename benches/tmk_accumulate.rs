//! TMK's accumulation on its own: PDQF features of 15 fps frames added to
//! the `C`, `S` sums (`hashdb::tmk::TmkAccumulator`), 64 K products a
//! frame. On a sample clip it is about a tenth of what TMK adds to hashing
//! a video (`cargo bench --bench tmk_speed`); here it is timed without the
//! decoder around it.
//!
//!     cargo bench --bench tmk_accumulate

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hashdb::tmk::{TmkAccumulator, FEATURE_DIM};

/// Features that look like PDQF's: a few hundred to a few thousand, both
/// signs, different every frame.
fn features(n: usize) -> Vec<[f32; FEATURE_DIM]> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            std::array::from_fn(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 6000) as f32 - 3000.0
            })
        })
        .collect()
}

fn accumulate(c: &mut Criterion) {
    // 75 frames: a 5-second clip at 15 fps.
    let frames = features(75);
    let mut group = c.benchmark_group("tmk_accumulate");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("75 frames", |b| {
        b.iter(|| {
            let mut acc = TmkAccumulator::new();
            for f in &frames {
                acc.push(f).expect("finite features");
            }
            acc.finish()
        })
    });
    group.finish();
}

criterion_group!(benches, accumulate);
criterion_main!(benches);
