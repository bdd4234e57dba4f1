//! Time loading N PDQ entries from the SQLite store and building the index
//! (what `hashsieve match` and the service do at start-up).
//!
//!     cargo run --release -p hashdb --example store_load -- /tmp/10m.db 10000000
//!
//! Creates the database with N random PDQ entries (one list) if it does not
//! exist yet (timed separately: that is the bulk import), then opens it with
//! `HashDb::open` and prints one JSON line with the timings and memory.

use std::path::Path;
use std::time::Instant;

use hashdb::error::ParseError;
use hashdb::matcher::HashDb;
use hashdb::model::{NewList, Record, Value};
use hashdb::store::{ImportOptions, OpenOptions, Store};
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("/tmp/hashdb-load.db");
    let n: u64 = args
        .get(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut import_s = None;
    if !Path::new(path).exists() {
        let t = Instant::now();
        let mut store = Store::open(path).expect("create store");
        store
            .create_list(&NewList::new("bench"))
            .expect("create list");
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let records = (0..n).map(move |_| {
            let mut r = Record::new(Value::Pdq(Pdq::from_words([
                next(),
                next(),
                next(),
                next(),
            ])));
            r.quality = Some(100);
            Ok::<_, ParseError>(r)
        });
        store
            .import(
                "bench",
                records,
                Path::new("generated"),
                ImportOptions::default(),
            )
            .expect("import");
        import_s = Some(t.elapsed().as_secs_f64());
    }
    let t = Instant::now();
    let db = HashDb::open(path, OpenOptions::default()).expect("open");
    let load_s = t.elapsed().as_secs_f64();
    println!(
        "{{\"path\":\"{path}\",\"entries\":{},\"import_s\":{},\"load_and_build_s\":{load_s:.2},\"index_heap_mib\":{:.0},\"peak_rss_mib\":{:.0}}}",
        db.matcher().pdq_len(),
        import_s.map(|s| format!("{s:.1}")).unwrap_or_else(|| "null".into()),
        db.matcher().pdq_heap_bytes() as f64 / 1048576.0,
        rss_kib("VmHWM:") as f64 / 1024.0,
    );
}
