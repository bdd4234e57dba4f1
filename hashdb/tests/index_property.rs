//! Property test: the index returns exactly what a brute-force scan returns,
//! on uniform random hashes, on clustered hashes (many near-duplicates, as
//! real lists are), and on real PDQ hashes from the reference's test sets
//! (`../shared/conformance/pdq/reg-test-input`) with edits of them, at many
//! radii, including after incremental inserts, removals and compaction.
//! Seeded and deterministic.

use hashdb::index::{IndexConfig, PdqIndex};
use hashdb::Pdq;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn hash(&mut self) -> [u64; 4] {
        [self.next(), self.next(), self.next(), self.next()]
    }
    /// `h` with exactly `d` distinct bits flipped.
    fn flip(&mut self, h: [u64; 4], d: u32) -> [u64; 4] {
        let mut out = h;
        let mut done = 0;
        while done < d {
            let b = self.below(256) as usize;
            if (out[b / 64] ^ h[b / 64]) >> (b % 64) & 1 == 0 {
                out[b / 64] ^= 1 << (b % 64);
                done += 1;
            }
        }
        out
    }
}

fn dist(a: &[u64; 4], b: &[u64; 4]) -> u32 {
    (0..4).map(|i| (a[i] ^ b[i]).count_ones()).sum()
}

fn brute(db: &[([u64; 4], u32)], q: &[u64; 4], r: u32) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = db
        .iter()
        .map(|(h, id)| (*id, dist(h, q)))
        .filter(|&(_, d)| d <= r)
        .collect();
    v.sort_by_key(|&(id, d)| (d, id));
    v
}

fn got(index: &PdqIndex<u32>, q: &[u64; 4], r: u32) -> Vec<(u32, u32)> {
    let mut v: Vec<(u32, u32)> = index
        .search(&Pdq::from_words(*q), r)
        .into_iter()
        .map(|h| (h.item, h.distance))
        .collect();
    v.sort_by_key(|&(id, d)| (d, id));
    v
}

const RADII: [u32; 12] = [0, 1, 2, 5, 10, 16, 24, 31, 32, 40, 48, 64];

/// Check `queries` against `db` with a freshly built index and with an
/// index grown by inserts (half static, half delta) then pruned.
fn check(name: &str, db: &[[u64; 4]], queries: &[[u64; 4]], rng: &mut Rng, bits: Option<u32>) {
    let items: Vec<([u64; 4], u32)> = db.iter().copied().zip(0u32..).collect();
    let config = IndexConfig { key_bits: bits };
    let built = PdqIndex::build(db.to_vec(), (0..db.len() as u32).collect(), config);
    // Grown: first half built, second half inserted, then a tenth removed.
    let half = db.len() / 2;
    let mut grown = PdqIndex::build(db[..half].to_vec(), (0..half as u32).collect(), config);
    for (i, h) in db.iter().enumerate().skip(half) {
        grown.insert(&Pdq::from_words(*h), i as u32);
    }
    let mut alive = items.clone();
    let mut removed = 0;
    for (i, h) in db.iter().enumerate() {
        if rng.below(10) == 0 {
            removed += grown.remove(&Pdq::from_words(*h), |&id| id == i as u32);
            alive.retain(|(_, id)| *id != i as u32);
        }
    }
    assert_eq!(removed, items.len() - alive.len(), "{name}: removals");
    let mut checked = 0;
    for q in queries {
        for r in RADII {
            assert_eq!(
                got(&built, q, r),
                brute(&items, q, r),
                "{name}: built, r={r}"
            );
            assert_eq!(
                got(&grown, q, r),
                brute(&alive, q, r),
                "{name}: grown, r={r}"
            );
            checked += 1;
        }
    }
    grown.compact();
    for q in queries.iter().take(50) {
        for r in RADII {
            assert_eq!(
                got(&grown, q, r),
                brute(&alive, q, r),
                "{name}: compacted, r={r}"
            );
        }
    }
    assert!(checked > 0);
}

#[test]
fn uniform_random() {
    let mut rng = Rng(1);
    let db: Vec<[u64; 4]> = (0..20_000).map(|_| rng.hash()).collect();
    // Queries: some list members, some near them at every distance 0..=64, some random.
    let mut queries = Vec::new();
    for d in 0..=64u32 {
        let h = db[rng.below(db.len() as u64) as usize];
        queries.push(rng.flip(h, d));
    }
    queries.extend((0..20).map(|_| rng.hash()));
    check("uniform", &db, &queries, &mut rng, None);
    // A small key width forces big buckets, a large one many empty ones.
    check(
        "uniform/8-bit keys",
        &db[..3000],
        &queries,
        &mut rng,
        Some(8),
    );
    check(
        "uniform/24-bit keys",
        &db[..3000],
        &queries,
        &mut rng,
        Some(24),
    );
}

#[test]
fn clustered_near_duplicates() {
    let mut rng = Rng(2);
    // 200 clusters of 60 near-duplicates (distance up to 40 from the centre),
    // plus exact duplicates: what re-encoded reposts look like.
    let mut db = Vec::new();
    let centres: Vec<[u64; 4]> = (0..200).map(|_| rng.hash()).collect();
    for c in &centres {
        for _ in 0..60 {
            let d = rng.below(41) as u32;
            db.push(rng.flip(*c, d));
        }
        db.push(*c);
        db.push(*c);
    }
    let mut queries: Vec<[u64; 4]> = centres.iter().take(60).copied().collect();
    for c in centres.iter().skip(60).take(60) {
        let d = rng.below(33) as u32;
        queries.push(rng.flip(*c, d));
    }
    check("clustered", &db, &queries, &mut rng, None);
}

fn read_hashes(path: &std::path::Path) -> Vec<[u64; 4]> {
    std::fs::read_to_string(path)
        .map(|s| {
            s.lines()
                .filter_map(|l| l.split(|c: char| c == ',' || c.is_whitespace()).next())
                .filter_map(|h| h.parse::<Pdq>().ok())
                .map(|p| p.words())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn real_pdq_hashes() {
    let root = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance"
    ));
    let root = if root.exists() {
        root.to_path_buf()
    } else {
        std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/conformance"
        ))
    };
    if !root.exists() {
        eprintln!("skipped: ../shared/conformance not found");
        return;
    }
    let dir = root.join("pdq/reg-test-input");
    let mut db = Vec::new();
    for name in [
        "haystack.txt",
        "long256.dat",
        "short256.dat",
        "order256.dat",
    ] {
        db.extend(read_hashes(&dir.join(name)));
    }
    // The conformance images' own hashes.
    if let Ok(csv) = std::fs::read_to_string(root.join("pdq/reference.csv")) {
        for line in csv.lines().skip(1) {
            if let Some(p) = line.split(',').find_map(|f| f.parse::<Pdq>().ok()) {
                db.push(p.words());
            }
        }
    }
    assert!(
        db.len() > 1000,
        "expected the reference hash sets, found {}",
        db.len()
    );
    let mut rng = Rng(3);
    // "Edits": each real hash moved by a few bits, as re-encodes do.
    let edits: Vec<[u64; 4]> = db
        .iter()
        .take(2000)
        .map(|h| {
            let d = rng.below(20) as u32;
            rng.flip(*h, d)
        })
        .collect();
    db.extend(edits);
    let mut queries = read_hashes(&dir.join("needles.txt"));
    queries.extend(db.iter().step_by(37).copied());
    queries.truncate(160);
    check("real", &db, &queries, &mut rng, None);
}
