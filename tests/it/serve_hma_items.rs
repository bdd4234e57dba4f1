//! HMA content items over HTTP, on SQLite and on PostgreSQL (issue 13):
//! adding a hash a bank already holds makes a second content item, as
//! HMA's `bank_add_content` does (it never looks for the value). Both ids
//! are read back, a lookup answers both (HMA's index holds one row per item
//! and signal), and deleting or disabling one leaves the other matching.
//! A database of the previous schema keeps its content ids.

use std::path::Path;

use serde_json::{json, Value};

use crate::fixtures;
use crate::serve_support::{
    eventually, init_db, multipart, multipart_type, request, test_png, Resp, Server,
};

// The hashdb tests' throwaway PostgreSQL, included as a file (pg_store.rs
// does the same).
#[allow(clippy::duplicate_mod)]
#[path = "../../hashdb/src/store/pg/throwaway.rs"]
mod throwaway;

const PDQ: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
/// `PDQ` with 3 bits flipped.
const PDQ_NEAR: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b25";
const MD5: &str = "0123456789abcdef0123456789abcdef";

fn send(s: &Server, method: &str, path: &str, body: Option<Value>) -> Resp {
    let b = body.map(|b| b.to_string()).unwrap_or_default();
    let h: &[(&str, &str)] = if b.is_empty() {
        &[]
    } else {
        &[("Content-Type", "application/json")]
    };
    request(s.addr, method, path, None, h, b.as_bytes())
}

fn add_signal(s: &Server, bank: &str, body: Value) -> i64 {
    let r = s.post_json(&format!("/c/bank/{bank}/signal"), None, &body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_i64().unwrap()
}

fn add_photo(s: &Server, bank: &str, png: &[u8]) -> i64 {
    let r = s.post(
        &format!("/c/bank/{bank}/content"),
        None,
        &multipart_type(),
        &multipart("photo", "p.png", png),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_i64().unwrap()
}

fn lookup(s: &Server, signal: &str) -> Value {
    s.get(&format!("/m/lookup?signal_type=pdq&signal={signal}"), None)
        .json()
}

fn raw(s: &Server, q: &str) -> Value {
    s.get(&format!("/m/raw_lookup?{q}"), None).json()
}

/// HMA's per-bank answer: these ids, each at `distance`.
fn answer(bank: &str, ids: &[i64], distance: &str) -> Value {
    let items: Vec<Value> = ids
        .iter()
        .map(|i| json!({"bank_content_id": i, "distance": distance}))
        .collect();
    json!({ bank: items })
}

/// The whole session against a server on `db` (a file or a URL).
fn same_hash_twice(db: &Path) {
    let s = Server::start(db, &["--no-sandbox"]);
    assert_eq!(
        s.post_json("/c/banks", None, &json!({"name": "B"})).status,
        201
    );
    // The same PDQ twice: two items, two ids (HMA's next ids).
    let a = add_signal(&s, "B", json!({"pdq": PDQ, "note": "first"}));
    let b = add_signal(&s, "B", json!({"pdq": PDQ}));
    assert_ne!(a, b);
    assert_eq!(b, a + 1, "the next id, as HMA counts");
    for (id, note) in [(a, Some("first")), (b, None)] {
        let r = s.get(
            &format!("/c/bank/B/content/{id}?include_signals=true"),
            None,
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json();
        assert_eq!(j["id"], id);
        assert_eq!(j["signals"], json!({"pdq": PDQ}));
        assert_eq!(j.get("note").and_then(Value::as_str), note);
    }
    // A lookup answers every item holding the hash, each with its
    // distance; so does raw_lookup.
    assert!(
        eventually(5, || lookup(&s, PDQ_NEAR) == answer("B", &[a, b], "3")),
        "{}",
        lookup(&s, PDQ_NEAR)
    );
    assert_eq!(
        raw(&s, &format!("signal_type=pdq&signal={PDQ}")),
        json!({"matches": [a, b]})
    );
    assert_eq!(
        raw(
            &s,
            &format!("signal_type=pdq&signal={PDQ_NEAR}&include_distance=true")
        ),
        json!({"matches": [
            {"bank_content_id": a, "distance": "3"},
            {"bank_content_id": b, "distance": "3"}
        ]})
    );
    // HMA counts a signal row per item.
    assert_eq!(
        s.get("/m/index/status?signal_type=pdq", None).json()["pdq"]["size"],
        2
    );
    // Disabling one leaves the other matching (raw_lookup checks no
    // enablement, as HMA's).
    let r = send(
        &s,
        "PUT",
        &format!("/c/bank/B/content/{a}"),
        Some(json!({"disable_until_ts": 0})),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(lookup(&s, PDQ), answer("B", &[b], "0"));
    assert_eq!(
        raw(&s, &format!("signal_type=pdq&signal={PDQ}")),
        json!({"matches": [a, b]})
    );
    send(
        &s,
        "PUT",
        &format!("/c/bank/B/content/{a}"),
        Some(json!({"disable_until_ts": 1})),
    );
    assert_eq!(lookup(&s, PDQ), answer("B", &[a, b], "0"));
    // Deleting one leaves the other matching.
    let r = send(&s, "DELETE", &format!("/c/bank/B/content/{a}"), None);
    assert_eq!(r.json(), json!({"deleted": 1}));
    assert_eq!(s.get(&format!("/c/bank/B/content/{a}"), None).status, 404);
    assert_eq!(s.get(&format!("/c/bank/B/content/{b}"), None).status, 200);
    assert!(eventually(5, || lookup(&s, PDQ) == answer("B", &[b], "0")));
    assert_eq!(
        s.get("/m/index/status?signal_type=pdq", None).json()["pdq"]["size"],
        1
    );
    // The last one deleted: nothing matches.
    let r = send(&s, "DELETE", &format!("/c/bank/B/content/{b}"), None);
    assert_eq!(r.json(), json!({"deleted": 1}));
    assert!(eventually(5, || lookup(&s, PDQ) == json!({})));
    assert_eq!(
        raw(&s, &format!("signal_type=pdq&signal={PDQ}")),
        json!({"matches": []})
    );
    // A deleted id is not given again.
    let c = add_signal(&s, "B", json!({"pdq": PDQ}));
    assert!(c > b, "{b} {c}");

    // The same photo uploaded twice, and its hash added as a signal: three
    // items, one upload lookup answering all three.
    let png = test_png(200, 150, 7);
    let p1 = add_photo(&s, "B", &png);
    let p2 = add_photo(&s, "B", &png);
    let j = s.get(
        &format!("/c/bank/B/content/{p1}?include_signals=true"),
        None,
    );
    let pdq = j.json()["signals"]["pdq"].as_str().unwrap().to_string();
    let p3 = add_signal(&s, "B", json!({"pdq": pdq}));
    let mut ids = vec![p1, p2, p3];
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let post_lookup = || {
        s.post(
            "/m/lookup",
            None,
            &multipart_type(),
            &multipart("photo", "p.png", &png),
        )
        .json()
    };
    assert!(
        eventually(5, || post_lookup()
            == json!({"pdq": answer("B", &ids, "0")})),
        "{}",
        post_lookup()
    );
    // Another bank holding the same hash answers on its own.
    assert_eq!(
        s.post_json("/c/banks", None, &json!({"name": "OTHER"}))
            .status,
        201
    );
    let o = add_signal(&s, "OTHER", json!({"pdq": pdq}));
    assert!(eventually(5, || {
        let j = lookup(&s, &pdq);
        j["B"].as_array().map(Vec::len) == Some(3)
            && j["OTHER"] == answer("OTHER", &[o], "0")["OTHER"]
    }));
    // An item of several signals (a video's MD5 beside a PDQ) added twice.
    let v1 = add_signal(&s, "B", json!({"video_md5": MD5, "pdq": PDQ_NEAR}));
    let v2 = add_signal(&s, "B", json!({"video_md5": MD5, "pdq": PDQ_NEAR}));
    assert_ne!(v1, v2);
    let md5 = |s: &Server| {
        s.get(
            &format!("/m/lookup?signal_type=video_md5&signal={MD5}"),
            None,
        )
        .json()
    };
    assert!(eventually(5, || md5(&s) == answer("B", &[v1, v2], "-")));
    let r = send(&s, "DELETE", &format!("/c/bank/B/content/{v1}"), None);
    assert_eq!(r.json(), json!({"deleted": 1}));
    assert_eq!(md5(&s), answer("B", &[v2], "-"));
    let j = s
        .get(
            &format!("/c/bank/B/content/{v2}?include_signals=true"),
            None,
        )
        .json();
    assert_eq!(j["signals"], json!({"video_md5": MD5, "pdq": PDQ_NEAR}));
}

#[test]
fn the_same_hash_added_twice_is_two_items_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("items.db");
    init_db(&db);
    same_hash_twice(&db);
}

#[test]
fn the_same_hash_added_twice_is_two_items_on_postgresql() {
    let pg = match throwaway::Server::start() {
        throwaway::Start::Running(s) => s,
        throwaway::Start::Missing(why) => {
            fixtures::missing(&format!("PostgreSQL: {why}"));
            return;
        }
    };
    let url = pg.fresh_url();
    init_db(Path::new(&url));
    same_hash_twice(Path::new(&url));
}

/// An SQLite file as the previous hashsieve (schema 9) left it: a video
/// item of two signals (id 10, with a note), an item disabled through
/// HMA (12), and an entry of a `db import` (13, its own item).
#[test]
fn content_ids_of_the_previous_schema_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v9.db");
    let c = rusqlite::Connection::open(&db).unwrap();
    for m in &hashdb::store::schema::MIGRATIONS[..9] {
        c.execute_batch(m).unwrap();
    }
    let near = |n: &str| -> Vec<u8> {
        (0..32)
            .map(|i| u8::from_str_radix(&n[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    };
    let md5: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&MD5[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    c.execute(
        "INSERT INTO lists (id, name, created_at, updated_at) VALUES (1, 'B', 1, 1)",
        [],
    )
    .unwrap();
    for (id, t, v) in [
        (10, "md5", md5),
        (11, "pdq", near(PDQ)),
        (12, "pdq", near(PDQ_NEAR)),
        (13, "pdq", vec![0x55; 32]),
    ] {
        c.execute(
            "INSERT INTO entries (id, list_id, signal_type, value, added_at) VALUES (?1, 1, ?2, ?3, 1)",
            rusqlite::params![id, t, v],
        )
        .unwrap();
    }
    c.execute_batch(
        "INSERT INTO hma_contents (id, note, disable_until_ts) VALUES (10, 'video', 1), (12, NULL, 0);
         INSERT INTO hma_content_entries (entry_id, content_id) VALUES (11, 10);
         PRAGMA user_version = 9;",
    )
    .unwrap();
    drop(c);
    let s = Server::start(&db, &["--no-sandbox"]);
    let j = s
        .get("/c/bank/B/content/10?include_signals=true", None)
        .json();
    assert_eq!(j["note"], "video");
    assert_eq!(j["signals"], json!({"video_md5": MD5, "pdq": PDQ}));
    assert_eq!(s.get("/c/bank/B/content/11", None).status, 404);
    assert_eq!(
        s.get("/c/bank/B/content/12", None).json()["disable_until_ts"],
        0
    );
    assert_eq!(s.get("/c/bank/B/content/13", None).status, 200);
    assert!(eventually(5, || lookup(&s, PDQ) == answer("B", &[10], "0")));
    // The video's PDQ and the imported hash added again: new items above
    // every old id, each answered beside the old one.
    let n = add_signal(&s, "B", json!({"pdq": PDQ}));
    assert_eq!(n, 14);
    let m = add_signal(&s, "B", json!({"pdq": "5".repeat(64)}));
    assert_eq!(m, 15);
    assert!(eventually(5, || lookup(&s, PDQ) == answer("B", &[10, n], "0")));
    assert_eq!(lookup(&s, &"5".repeat(64)), answer("B", &[13, m], "0"));
    // Entry 12 is disabled as an item: a lookup leaves it out.
    assert_eq!(lookup(&s, PDQ_NEAR), answer("B", &[10, n], "3"));
}
