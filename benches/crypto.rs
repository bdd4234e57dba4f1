//! MD5, SHA-256 and BLAKE3 over 256 MiB, each alone and all three in the
//! one pass `hashsieve` makes.
//!
//!     cargo bench --bench crypto

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hashsieve::hashing::crypto::MultiDigest;
use md5::Digest as _;

fn bench(c: &mut Criterion) {
    let data: Vec<u8> = (0..256u64 << 20)
        .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 11) as u8)
        .collect();
    let mut group = c.benchmark_group("crypto_256MiB");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("md5", |b| b.iter(|| md5::Md5::digest(&data)));
    group.bench_function("sha256", |b| b.iter(|| sha2::Sha256::digest(&data)));
    group.bench_function("blake3", |b| b.iter(|| blake3::hash(&data)));
    group.bench_function("all_three_1MiB_chunks", |b| {
        b.iter(|| {
            let mut m = MultiDigest::new();
            for chunk in data.chunks(1 << 20) {
                m.update(chunk);
            }
            m.finish()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
