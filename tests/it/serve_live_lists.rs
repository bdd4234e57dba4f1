//! Every kind of change another process makes (allowlist additions and
//! removals, a list disabled and enabled, a new threshold, a list deleted,
//! a list created and given an import larger than one page of the change
//! log) is matched by running servers within 2 s, applied in place: the
//! test fails if any of them reloads its whole index
//! (`hashsieve_live_rebuilds_total` must stay 0). On SQLite with one
//! server, and on a throwaway PostgreSQL with two.

use crate::serve_support;

use serve_support::*;
use std::path::Path;
use std::time::{Duration, Instant};

#[allow(clippy::duplicate_mod)]
#[path = "../../hashdb/src/store/pg/throwaway.rs"]
mod throwaway;

const A: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
/// `A` with its last 16 hex digits inverted: 64 bits from `A`, and far
/// from every `moved(n)` below, so no list answers for the other's hash.
const B: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1dcc194c63b16364dd";

/// More than one page of the service's change log (`serve/live.rs` PAGE).
const BIG: usize = 60_000;

/// `A` with its first `n` hex digits inverted (4 bits each).
fn moved(n: usize) -> String {
    A.chars()
        .enumerate()
        .map(|(i, c)| {
            let v = c.to_digit(16).unwrap();
            std::char::from_digit(if i < n { v ^ 0xf } else { v }, 16).unwrap()
        })
        .collect()
}

/// The `i`th hash of the big import (spread over the space).
fn big_hash(i: usize) -> String {
    let mut x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..4)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{x:016x}")
        })
        .collect()
}

/// `(list, suppressed)` of each hit of `pdq` on server `s`.
fn hits(s: &Server, pdq: &str) -> Vec<(String, bool)> {
    let r = s.get(&format!("/v1/match?signal_type=pdq&signal={pdq}"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let mut out: Vec<(String, bool)> = r.json()["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["list"].as_str().unwrap().to_string(),
                m["suppressed"].as_bool().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn metric(s: &Server, name: &str) -> f64 {
    let m = String::from_utf8(s.get("/metrics", None).body).unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {m}"))
}

/// Wait until every server answers `pdq` with `want`; fail past 2 s.
fn seen_by_all(servers: &[Server], what: &str, pdq: &str, want: &[(&str, bool)]) {
    seen_within(servers, what, pdq, want, 2);
}

/// [`seen_by_all`] with its own limit, in seconds.
fn seen_within(servers: &[Server], what: &str, pdq: &str, want: &[(&str, bool)], secs: u64) {
    let want: Vec<(String, bool)> = want.iter().map(|(l, s)| (l.to_string(), *s)).collect();
    let t0 = Instant::now();
    for (i, s) in servers.iter().enumerate() {
        loop {
            let got = hits(s, pdq);
            if got == want {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "server {i}: {what} not matched within {secs} s: {got:?}, want {want:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn db(db: &str, args: &[&str]) -> String {
    let mut a = vec!["db", "--db", db];
    a.extend_from_slice(args);
    cli(&a)
}

/// Lists `L` (holding `A`) and `M` (holding `B`), made before the servers
/// start.
fn prepare(url: &str, dir: &Path) {
    db(url, &["list-create", "L"]);
    db(url, &["list-create", "M"]);
    let f = dir.join("a.txt");
    std::fs::write(&f, format!("{A}\n")).unwrap();
    db(url, &["import", "L", f.to_str().unwrap()]);
    std::fs::write(&f, format!("{B}\n")).unwrap();
    db(url, &["import", "M", f.to_str().unwrap()]);
}

/// Every change kind, each seen by every server within 2 s, none by a
/// rebuild.
fn exercise(url: &str, dir: &Path, servers: &[Server]) {
    seen_by_all(servers, "the start", A, &[("L", false)]);
    seen_by_all(servers, "the start", B, &[("M", false)]);

    // Allowlist: added, then removed (its id from `db allow list`).
    db(url, &["allow", "add", "pdq", A]);
    seen_by_all(servers, "an allowlist addition", A, &[("L", true)]);
    let list = db(url, &["allow", "list"]);
    let id = serde_json::from_str::<serde_json::Value>(list.lines().next().unwrap()).unwrap()["id"]
        .as_i64()
        .unwrap();
    db(url, &["allow", "remove", &id.to_string()]);
    seen_by_all(servers, "an allowlist removal", A, &[("L", false)]);

    // A list disabled, then enabled.
    db(url, &["disable", "L"]);
    seen_by_all(servers, "a list disabled", A, &[]);
    db(url, &["enable", "L"]);
    seen_by_all(servers, "a list enabled", A, &[("L", false)]);

    // A threshold raised: a hash 40 bits away matches only then.
    let far = moved(10);
    seen_by_all(servers, "the default threshold", &far, &[]);
    db(url, &["list-update", "L", "--threshold", "48"]);
    seen_by_all(servers, "a threshold change", &far, &[("L", false)]);

    // A list deleted.
    db(url, &["list-delete", "M", "--yes"]);
    seen_by_all(servers, "a list deleted", B, &[]);

    // A list created, then an import of more than a page.
    db(url, &["list-create", "Big"]);
    let f = dir.join("big.txt");
    let text: String = (0..BIG).map(|i| big_hash(i) + "\n").collect();
    std::fs::write(&f, text).unwrap();
    db(url, &["import", "Big", f.to_str().unwrap()]);
    // 60,000 entries at once is a bulk load, not "a change": read in pages
    // and applied in slices (lookups go on), so it takes longer than 2 s
    // on a test build; what matters here is that it arrives, in place.
    let t0 = Instant::now();
    seen_within(
        servers,
        "the big import's last hash",
        &big_hash(BIG - 1),
        &[("Big", false)],
        60,
    );
    eprintln!(
        "the big import seen by every server after {:?}",
        t0.elapsed()
    );
    seen_by_all(
        servers,
        "the big import's first hash",
        &big_hash(0),
        &[("Big", false)],
    );

    for (i, s) in servers.iter().enumerate() {
        assert_eq!(
            metric(s, "hashsieve_live_rebuilds_total"),
            0.0,
            "server {i} reloaded its index"
        );
        // Disabled, enabled, threshold, deleted, created: each counted.
        assert!(metric(s, "hashsieve_live_list_changes_total") >= 5.0);
        assert!(metric(s, "hashsieve_live_allow_changes_total") >= 2.0);
        assert_eq!(s.get("/readyz", None).status, 200);
        // The big list's every hash is in the index, and L's one.
        assert!(metric(s, "hashsieve_index_pdq_hashes") >= (BIG + 1) as f64);
    }
}

#[test]
fn every_change_kind_is_applied_in_place_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let url = path.to_str().unwrap();
    prepare(url, dir.path());
    let s = Server::start(&path, &["--no-sandbox"]);
    exercise(url, dir.path(), &[s]);
}

#[test]
fn every_change_kind_is_applied_in_place_by_two_servers_on_postgresql() {
    let pg = match throwaway::Server::start() {
        throwaway::Start::Running(s) => s,
        throwaway::Start::Missing(why) => {
            crate::fixtures::missing(&format!("PostgreSQL: {why}"));
            return;
        }
    };
    let url = pg.fresh_url();
    let dir = tempfile::tempdir().unwrap();
    prepare(&url, dir.path());
    let servers = [
        Server::start(Path::new(&url), &["--no-sandbox"]),
        Server::start(Path::new(&url), &["--no-sandbox"]),
    ];
    exercise(&url, dir.path(), &servers);
}
