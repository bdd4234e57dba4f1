//! Build a `PdqIndex` over raw hashes and time radius queries, single-threaded.
//!
//! Used by `benches/index_vs_faiss.py` (which generates the data and runs
//! faiss on the same files) and runnable alone:
//!
//!     cargo run --release -p hashdb --example index_bench -- \
//!         --gen 1000000 --queries 10000 --radius 31
//!     cargo run --release -p hashdb --example index_bench -- \
//!         --db db.u8 --query q.u8 --radius 31 --hits hits.txt
//!
//! `--db`/`--query` files hold 32-byte hashes back to back (faiss's uint8
//! layout). `--gen N` makes N uniform hashes plus, for query i, one planted
//! neighbour at distance i % 32 and reports its recall. Prints one JSON line.

use std::io::Write;
use std::time::Instant;

use hashdb::index::{IndexConfig, PdqIndex};
use hashdb::Pdq;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn splitmix(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn read_hashes(path: &str) -> Vec<[u64; 4]> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    bytes
        .chunks_exact(32)
        .map(|c| {
            let mut p = [0u8; 32];
            p.copy_from_slice(c);
            Pdq(p).words()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let radius: u32 = get("--radius").and_then(|v| v.parse().ok()).unwrap_or(31);
    let key_bits: Option<u32> = get("--bits").and_then(|v| v.parse().ok());
    let rss0 = rss_kib("VmRSS:");
    let (db, queries, planted) = if let Some(n) = get("--gen").and_then(|v| v.parse::<usize>().ok())
    {
        let nq: usize = get("--queries")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let mut seed = 42u64;
        let mut db: Vec<[u64; 4]> = (0..n)
            .map(|_| [0; 4].map(|_: u64| splitmix(&mut seed)))
            .collect();
        let queries: Vec<[u64; 4]> = (0..nq)
            .map(|_| [0; 4].map(|_: u64| splitmix(&mut seed)))
            .collect();
        let mut planted = Vec::new();
        for (i, q) in queries.iter().enumerate() {
            // Distinct positions, so no plant overwrites another.
            let stride = (n / nq.max(1)).max(1);
            let pos = (i * stride + (splitmix(&mut seed) % stride as u64) as usize) % n;
            let mut h = *q;
            let mut flipped = 0;
            while flipped < i % 32 {
                let b = (splitmix(&mut seed) % 256) as usize;
                let before = h[b / 64];
                h[b / 64] ^= 1 << (b % 64);
                if (h[b / 64] ^ q[b / 64]).count_ones() > (before ^ q[b / 64]).count_ones() {
                    flipped += 1;
                } else {
                    h[b / 64] = before;
                }
            }
            db[pos] = h;
            planted.push((i, pos as u32));
        }
        (db, queries, planted)
    } else {
        let db = read_hashes(&get("--db").expect("--db FILE or --gen N"));
        let queries = read_hashes(&get("--query").expect("--query FILE"));
        (db, queries, Vec::new())
    };
    let n = db.len();
    let rss_data = rss_kib("VmRSS:");
    let t = Instant::now();
    let ids: Vec<u32> = (0..n as u32).collect();
    let index = PdqIndex::build(db, ids, IndexConfig { key_bits });
    let build_s = t.elapsed().as_secs_f64();
    let rss_built = rss_kib("VmRSS:");

    let mut hits: Vec<Vec<u32>> = Vec::with_capacity(queries.len());
    let mut out = Vec::new();
    let t = Instant::now();
    for q in &queries {
        out.clear();
        index.search_into(&Pdq::from_words(*q), radius, &mut out);
        hits.push(out.iter().map(|h| h.item).collect());
    }
    let query_s = t.elapsed().as_secs_f64();
    let found = planted
        .iter()
        .filter(|(qi, pos)| hits[*qi].contains(pos))
        .count();
    if let Some(path) = get("--hits") {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("hits file"));
        for (qi, h) in hits.iter().enumerate() {
            for id in h {
                writeln!(w, "{qi} {id}").expect("write hits");
            }
        }
    }
    let total_hits: usize = hits.iter().map(Vec::len).sum();
    println!(
        "{{\"engine\":\"hashdb\",\"n\":{n},\"queries\":{},\"radius\":{radius},\"key_bits\":{},\"tables\":{},\"strategy\":\"{:?}\",\"build_s\":{build_s:.3},\"qps\":{:.1},\"hits\":{total_hits},\"recall\":{},\"index_heap_mib\":{:.1},\"rss_index_mib\":{:.1},\"rss_total_mib\":{:.1},\"rss_data_mib\":{:.1}}}",
        queries.len(),
        index.layout().bits(),
        index.layout().tables(),
        index.strategy(radius),
        queries.len() as f64 / query_s,
        if planted.is_empty() { "null".to_string() } else { format!("{:.4}", found as f64 / planted.len() as f64) },
        index.heap_bytes() as f64 / 1048576.0,
        (rss_built.saturating_sub(rss_data)) as f64 / 1024.0 + (rss_data.saturating_sub(rss0)) as f64 / 1024.0,
        rss_built as f64 / 1024.0,
        (rss_data.saturating_sub(rss0)) as f64 / 1024.0,
    );
}
