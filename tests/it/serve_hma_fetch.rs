//! Fetching from HMA exchanges over HTTP (`src/serve/hma/exchange_fetch.rs`):
//! a `local_file` exchange created through `/c/exchanges`, fetched with
//! `POST /dev/run_fetch`, looked up through `/m/lookup`, edited and fetched
//! again; the `sample` exchange; the status route's fields; files outside
//! the allowed folders refused; the background loop. On SQLite and
//! PostgreSQL.

use std::path::Path;

use serde_json::{json, Value};

use crate::fixtures;
use crate::serve_support::{eventually, init_db, request, Resp, Server};

#[allow(clippy::duplicate_mod)]
#[path = "../../hashdb/src/store/pg/throwaway.rs"]
mod throwaway;

/// pytx's first sample PDQ hash and one of its sample MD5s.
const SAMPLE_PDQ: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
const SAMPLE_MD5: &str = "cab08b36195edb1a1231d2d09fa450e0";
const PDQ_A: &str = "0707060e1f0b57b0f9c8f5ddfc709c0f4c91d12a699de1e2cc194c63b16364dd";
const PDQ_B: &str = "e64cc9d91c623882f8d1f1d9a398e78c9f199b3bd83924f2b7e11e0bf861b064";
const PDQ_C: &str = "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d";
const MD5_A: &str = "0123456789abcdef0123456789abcdef";

fn send(s: &Server, method: &str, path: &str, body: Option<Value>) -> Resp {
    let b = body.map(|b| b.to_string()).unwrap_or_default();
    let h: &[(&str, &str)] = if b.is_empty() {
        &[]
    } else {
        &[("Content-Type", "application/json")]
    };
    request(s.addr, method, path, None, h, b.as_bytes())
}

fn run_fetch(s: &Server) -> Value {
    let r = send(s, "POST", "/dev/run_fetch", None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn status(s: &Server, ex: &str) -> Value {
    let r = s.get(&format!("/c/exchange/{ex}/status"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// The content ids `/m/lookup` answers for `signal` in bank `bank`.
fn lookup(s: &Server, signal_type: &str, signal: &str, bank: &str) -> Vec<i64> {
    let r = s.get(
        &format!("/m/lookup?signal_type={signal_type}&signal={signal}"),
        None,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()[bank]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["bank_content_id"].as_i64())
                .collect()
        })
        .unwrap_or_default()
}

/// A `local_file` exchange over HTTP: created, fetched, looked up, the
/// file edited and fetched again (the removed signal gone, the kept one
/// with its id), a bad line and a missing file in the status, the bank
/// deleted with the exchange.
fn local_file_exchange(db: &Path) {
    let files = tempfile::tempdir().unwrap();
    let list = files.path().join("list.txt");
    std::fs::write(
        &list,
        format!("pdq {PDQ_A}\npdq {PDQ_B}\nvideo_md5 {MD5_A}\npdq not-a-hash\n"),
    )
    .unwrap();
    let dir_arg = files.path().to_str().unwrap();
    let s = Server::start(
        db,
        &[
            "--hma-local-file-dir",
            dir_arg,
            "--hma-fetch-interval-secs",
            "0",
        ],
    );
    let filename = std::fs::canonicalize(&list).unwrap();
    let r = s.post_json(
        "/c/exchanges",
        None,
        &json!({"api": "local_file", "bank": "FILE_EX",
                "api_json": {"filename": filename.to_str().unwrap()}}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let j = s.get("/c/exchange/FILE_EX", None).json();
    assert_eq!(j["signal_type"], Value::Null);
    // The bank came with the exchange; nothing fetched yet.
    assert_eq!(s.get("/c/bank/FILE_EX", None).status, 200);
    let st = status(&s, "FILE_EX");
    assert_eq!(
        (
            &st["fetched_items"],
            &st["last_fetch_succeeded"],
            &st["up_to_date"]
        ),
        (&json!(0), &Value::Null, &json!(false))
    );
    assert!(lookup(&s, "pdq", PDQ_A, "FILE_EX").is_empty());

    let done = run_fetch(&s);
    assert_eq!(
        done["exchanges"]["FILE_EX"],
        json!({"fetched": true, "added": 3, "removed": 0, "kept": 0, "skipped": 1})
    );
    let st = status(&s, "FILE_EX");
    assert_eq!(st["fetched_items"], 3);
    assert_eq!(st["last_fetch_succeeded"], true);
    assert_eq!(st["up_to_date"], true);
    assert_eq!(st["running_fetch_start_ts"], Value::Null);
    assert_eq!(st["checkpoint_ts"], Value::Null);
    assert!(st["last_fetch_complete_ts"].as_i64().is_some(), "{st}");
    assert_eq!(st["skipped_items"], 1);
    let why = st["skipped_examples"][0].as_str().unwrap_or_default();
    assert!(why.starts_with("line 4: invalid pdq signal"), "{why}");
    let a = lookup(&s, "pdq", PDQ_A, "FILE_EX");
    let b = lookup(&s, "pdq", PDQ_B, "FILE_EX");
    assert_eq!((a.len(), b.len()), (1, 1));
    assert_ne!(a, b, "one content item per fetched signal");
    assert_eq!(lookup(&s, "video_md5", MD5_A, "FILE_EX").len(), 1);
    // The item is an HMA content item of the bank.
    let item = s.get(&format!("/c/bank/FILE_EX/content/{}", a[0]), None);
    assert_eq!(item.status, 200);

    // PDQ_B and the MD5 removed upstream, PDQ_C added.
    std::fs::write(&list, format!("pdq {PDQ_A}\npdq {PDQ_C}\n")).unwrap();
    let done = run_fetch(&s);
    assert_eq!(
        done["exchanges"]["FILE_EX"],
        json!({"fetched": true, "added": 1, "removed": 2, "kept": 1, "skipped": 0})
    );
    assert_eq!(lookup(&s, "pdq", PDQ_A, "FILE_EX"), a, "kept with its id");
    assert!(lookup(&s, "pdq", PDQ_B, "FILE_EX").is_empty(), "removed");
    assert!(lookup(&s, "video_md5", MD5_A, "FILE_EX").is_empty());
    assert_eq!(lookup(&s, "pdq", PDQ_C, "FILE_EX").len(), 1);
    let st = status(&s, "FILE_EX");
    assert_eq!(st["fetched_items"], 2);
    assert!(st.get("skipped_items").is_none(), "{st}");

    // The file gone: the fetch fails, says why, and keeps what it had.
    std::fs::remove_file(&list).unwrap();
    let done = run_fetch(&s);
    let err = done["exchanges"]["FILE_EX"]["error"]
        .as_str()
        .unwrap_or_default();
    assert!(err.contains("No such file"), "{done}");
    let st = status(&s, "FILE_EX");
    assert_eq!(st["last_fetch_succeeded"], false);
    assert_eq!(st["up_to_date"], false);
    assert!(st["last_fetch_error"].as_str().is_some(), "{st}");
    assert_eq!(st["fetched_items"], 2);
    assert_eq!(lookup(&s, "pdq", PDQ_A, "FILE_EX"), a);

    // Deleting the exchange deletes its bank (as HMA's cascade).
    assert_eq!(send(&s, "DELETE", "/c/exchange/FILE_EX", None).status, 200);
    assert_eq!(s.get("/c/bank/FILE_EX", None).status, 404);
    assert!(lookup(&s, "pdq", PDQ_A, "FILE_EX").is_empty());
}

#[test]
fn a_local_file_exchange_is_fetched_and_refetched_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fetch.db");
    init_db(&db);
    local_file_exchange(&db);
}

#[test]
fn a_local_file_exchange_is_fetched_and_refetched_on_postgresql() {
    let pg = match throwaway::Server::start() {
        throwaway::Start::Running(s) => s,
        throwaway::Start::Missing(why) => {
            fixtures::missing(&format!("PostgreSQL: {why}"));
            return;
        }
    };
    let url = pg.fresh_url();
    init_db(Path::new(&url));
    local_file_exchange(Path::new(&url));
}

/// The `sample` exchange gives pytx's sample signals of the enabled
/// signal types, once (pytx's `NoCheckpointing`: up to date after).
#[test]
fn the_sample_exchange_gives_pytx_s_samples_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sample.db");
    init_db(&db);
    let s = Server::start(&db, &["--hma-fetch-interval-secs", "0"]);
    // vPDQ off: its sample is not fetched.
    let r = send(
        &s,
        "PUT",
        "/c/signal_type/vpdq",
        Some(json!({"enabled_ratio": 0})),
    );
    assert_eq!(r.status, 204);
    let r = s.post_json(
        "/c/exchanges",
        None,
        &json!({"api": "sample", "bank": "SAMPLE", "api_json": {}}),
    );
    assert_eq!(r.status, 201);
    let done = run_fetch(&s);
    // 16 PDQ hashes and 2 MD5s (pytx's get_examples()).
    assert_eq!(done["exchanges"]["SAMPLE"]["added"], 18, "{done}");
    assert_eq!(status(&s, "SAMPLE")["fetched_items"], 18);
    // pytx's first 12 sample hashes are near copies of one photo: a
    // lookup of one finds them all.
    assert_eq!(lookup(&s, "pdq", SAMPLE_PDQ, "SAMPLE").len(), 12);
    assert_eq!(lookup(&s, "video_md5", SAMPLE_MD5, "SAMPLE").len(), 1);
    // Fetched once: the next run finds it up to date.
    let done = run_fetch(&s);
    assert_eq!(
        done["exchanges"]["SAMPLE"],
        json!({"fetched": false, "reason": "up to date"})
    );
    let st = status(&s, "SAMPLE");
    assert_eq!(
        (&st["up_to_date"], &st["fetched_items"]),
        (&json!(true), &json!(18))
    );
    // A disabled exchange is not fetched.
    let r = s.post_json(
        "/c/exchanges",
        None,
        &json!({"api": "sample", "bank": "OFF", "api_json": {}}),
    );
    assert_eq!(r.status, 201);
    let r = send(
        &s,
        "PUT",
        "/c/exchange/OFF",
        Some(json!({"enabled": false})),
    );
    assert_eq!(r.status, 200);
    let done = run_fetch(&s);
    assert_eq!(done["exchanges"]["OFF"]["reason"], "disabled");
    assert_eq!(status(&s, "OFF")["fetched_items"], 0);
}

/// A `local_file` naming a file outside the allowed folders (or any file,
/// with none allowed) is refused at fetch time, in its status; other
/// exchanges are fetched all the same. A bank of the name taken: 400.
#[test]
fn local_files_outside_the_allowed_folders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("refuse.db");
    init_db(&db);
    let allowed = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, format!("pdq {PDQ_A}\n")).unwrap();
    let s = Server::start(
        &db,
        &[
            "--hma-local-file-dir",
            allowed.path().to_str().unwrap(),
            "--hma-fetch-interval-secs",
            "0",
        ],
    );
    for (bank, filename) in [
        ("SHADOW", "/etc/shadow".to_string()),
        ("SECRET", secret.display().to_string()),
        ("RELATIVE", "secret.txt".to_string()),
    ] {
        let r = s.post_json(
            "/c/exchanges",
            None,
            &json!({"api": "local_file", "bank": bank, "api_json": {"filename": filename}}),
        );
        assert_eq!(r.status, 201);
    }
    let r = s.post_json(
        "/c/exchanges",
        None,
        &json!({"api": "sample", "bank": "OK_SAMPLE"}),
    );
    assert_eq!(r.status, 201);
    let done = run_fetch(&s);
    for bank in ["SHADOW", "SECRET", "RELATIVE"] {
        let e = done["exchanges"][bank]["error"]
            .as_str()
            .unwrap_or_default();
        assert!(
            e.contains("outside the folders") || e.contains("absolute path"),
            "{bank}: {done}"
        );
        let st = status(&s, bank);
        assert_eq!(
            (&st["last_fetch_succeeded"], &st["fetched_items"]),
            (&json!(false), &json!(0))
        );
    }
    assert!(lookup(&s, "pdq", PDQ_A, "SECRET").is_empty());
    assert_eq!(done["exchanges"]["OK_SAMPLE"]["fetched"], true, "{done}");
    // A missing filename: refused at creation (pytx's config needs it).
    let r = s.post_json(
        "/c/exchanges",
        None,
        &json!({"api": "local_file", "bank": "NO_FILE", "api_json": {}}),
    );
    assert_eq!(r.status, 400);
    // An exchange does not take over an existing bank.
    let r = s.post_json("/c/banks", None, &json!({"name": "MINE"}));
    assert_eq!(r.status, 201);
    let r = s.post_json(
        "/c/exchanges",
        None,
        &json!({"api": "sample", "bank": "MINE"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        s.get("/c/exchanges", None).json().as_array().map(Vec::len),
        Some(4)
    );
}

/// The background loop fetches without being asked.
#[test]
fn the_background_loop_fetches() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("loop.db");
    init_db(&db);
    let s = Server::start(&db, &["--hma-fetch-interval-secs", "1"]);
    let r = s.post_json(
        "/c/exchanges",
        None,
        &json!({"api": "sample", "bank": "LOOPED"}),
    );
    assert_eq!(r.status, 201);
    assert!(
        eventually(20, || status(&s, "LOOPED")["fetched_items"] == 19),
        "{}",
        status(&s, "LOOPED")
    );
    assert!(eventually(5, || !lookup(&s, "pdq", SAMPLE_PDQ, "LOOPED").is_empty()));
}
