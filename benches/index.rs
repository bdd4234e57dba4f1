//! Criterion bench of hashdb's PDQ index: radius-31 queries over 1M hashes
//! (uniform + a planted neighbour per query), against a single-thread brute
//! force scan of the same hashes; plus the build.
//!
//!     cargo bench --bench index
//!     HASHSIEVE_BENCH_N=10000000 cargo bench --bench index   # the 10M figure
//!
//! The faiss comparison is `benches/index_vs_faiss.py`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hashdb::index::{IndexConfig, PdqIndex};
use hashdb::Pdq;

fn splitmix(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn data(n: usize, nq: usize) -> (Vec<[u64; 4]>, Vec<Pdq>) {
    let mut seed = 99;
    let mut db: Vec<[u64; 4]> = (0..n)
        .map(|_| [0; 4].map(|_: u64| splitmix(&mut seed)))
        .collect();
    let queries: Vec<[u64; 4]> = (0..nq)
        .map(|_| [0; 4].map(|_: u64| splitmix(&mut seed)))
        .collect();
    for (i, q) in queries.iter().enumerate() {
        // A neighbour at distance i % 32 (flip the low bits of word 0..).
        let mut h = *q;
        for b in 0..(i % 32) {
            h[b % 4] ^= 1 << (b / 4);
        }
        db[(i * (n / nq)) % n] = h;
    }
    (db, queries.into_iter().map(Pdq::from_words).collect())
}

#[inline(always)]
fn brute_generic(db: &[[u64; 4]], q: &[u64; 4], r: u32) -> usize {
    db.iter()
        .filter(|h| (0..4).map(|i| (h[i] ^ q[i]).count_ones()).sum::<u32>() <= r)
        .count()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn brute_popcnt(db: &[[u64; 4]], q: &[u64; 4], r: u32) -> usize {
    brute_generic(db, q, r)
}

/// The baseline: a single-thread scan with the popcnt instruction when the
/// CPU has it (what a plain brute force would use).
fn brute(db: &[[u64; 4]], q: &[u64; 4], r: u32) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: popcnt is available (checked above).
        return unsafe { brute_popcnt(db, q, r) };
    }
    brute_generic(db, q, r)
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("HASHSIEVE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let nq = 1000;
    let (db, queries) = data(n, nq);
    let index = PdqIndex::build(db.clone(), (0..n as u32).collect(), IndexConfig::default());

    let mut g = c.benchmark_group(format!("pdq_index_{n}"));
    g.sample_size(10);
    for r in [0u32, 31, 48, 64] {
        // Wide radii are slow per query: fewer queries keep the bench short.
        let qs = if r >= 48 {
            &queries[..100]
        } else {
            &queries[..]
        };
        g.throughput(Throughput::Elements(qs.len() as u64));
        g.bench_with_input(BenchmarkId::new("search", r), &r, |b, &r| {
            let mut out = Vec::new();
            b.iter(|| {
                for q in qs {
                    out.clear();
                    index.search_into(q, r, &mut out);
                    black_box(out.len());
                }
            })
        });
    }
    g.throughput(Throughput::Elements(10));
    g.bench_function("brute_force_scan_31", |b| {
        b.iter(|| {
            for q in &queries[..10] {
                black_box(brute(&db, &q.words(), 31));
            }
        })
    });
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("build", |b| {
        b.iter(|| {
            black_box(
                PdqIndex::build(db.clone(), (0..n as u32).collect(), IndexConfig::default()).len(),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
