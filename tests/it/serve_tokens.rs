//! Token expiry, `token list`, and who may read `/metrics` (security
//! issue, item 20), through the real binary.

use crate::serve_support;

use serve_support::*;
use std::process::Command;
use std::time::{Duration, Instant};

const Q: &str = "/v1/match?signal_type=md5&signal=d41d8cd98f00b204e9800998ecf8427e";

fn create(dbs: &str, args: &[&str]) -> String {
    let mut a = vec!["token", "create", "--db", dbs];
    a.extend_from_slice(args);
    cli(&a).trim().to_string()
}

fn list(dbs: &str) -> Vec<serde_json::Value> {
    cli(&["token", "list", "--db", dbs])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn an_expired_token_gets_401_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let dbs = db.to_str().unwrap();
    let lasting = create(dbs, &["--scope", "match", "--note", "lasting"]);
    let s = Server::start(&db, &[]);
    // Created while the service runs (however long it took to start): it
    // works once polled, until it expires.
    let short = create(
        dbs,
        &["--scope", "match", "--name", "short", "--expires-in", "5s"],
    );
    let expiry = Instant::now() + Duration::from_secs(5);
    assert!(eventually(4, || s.get(Q, Some(&short)).status == 200));
    assert_eq!(s.get(Q, Some(&lasting)).status, 200);
    assert_eq!(s.get(Q, None).status, 401);

    // Listed with its expiry, never a secret.
    let out = cli(&["token", "list", "--db", dbs]);
    assert!(!out.contains(&short) && !out.contains(&lasting), "{out}");
    let l = list(dbs);
    assert_eq!(l.len(), 2);
    assert_eq!(l[1]["note"], "short");
    assert!(l[1]["expires_at"].as_i64().unwrap() > l[1]["created_at"].as_i64().unwrap());
    assert_eq!(l[1]["state"], "live");
    assert!(l[0]["expires_at"].is_null());
    // The service records the use (within a poll or two).
    assert!(eventually(5, || list(dbs)[0]["last_used_at"].is_i64()));

    // Past its expiry: 401, as a revoked token; the other still works.
    std::thread::sleep(expiry.saturating_duration_since(Instant::now()));
    assert!(eventually(3, || s.get(Q, Some(&short)).status == 401));
    let r = s.get(Q, Some(&short));
    assert!(
        String::from_utf8_lossy(&r.body).contains("expired"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(s.get(Q, Some(&lasting)).status, 200);
    assert_eq!(list(dbs)[1]["state"], "expired");

    // The table: a header and one row per token, times in UTC.
    let t = cli(&["token", "list", "--db", dbs, "--format", "table"]);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 3, "{t}");
    for col in [
        "ID",
        "NAME",
        "SCOPES",
        "CREATED",
        "EXPIRES",
        "REVOKED",
        "LAST USED",
    ] {
        assert!(lines[0].contains(col), "{t}");
    }
    assert!(
        lines[2].contains("short") && lines[2].contains("expired"),
        "{t}"
    );
    assert!(lines[2].contains('Z'), "{t}");
    assert!(!t.contains(&short), "{t}");
}

#[test]
fn expiry_never_opens_a_service() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let dbs = db.to_str().unwrap();
    // Started with no token: open on loopback, as documented.
    let s = Server::start(&db, &[]);
    let bank = |name: &str, tok: Option<&str>| {
        s.post_json("/c/banks", tok, &serde_json::json!({ "name": name }))
            .status
    };
    assert_eq!(s.get(Q, None).status, 200);
    let t = create(dbs, &["--scope", "write", "--expires-in", "4s"]);
    // Closed once the token is polled; the token works until it expires.
    assert!(eventually(3, || s.get(Q, None).status == 401));
    let mut n = 0;
    assert!(eventually(3, || {
        n += 1;
        bank(&format!("WITH_TOKEN_{n}"), Some(&t)) == 201
    }));
    assert!(eventually(8, || {
        n += 1;
        bank(&format!("PROBE_{n}"), Some(&t)) == 401
    }));
    // Several polls later, still closed to everyone.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(bank("NO_TOKEN", None), 401);
    drop(s);
    // Restarted on loopback with only an expired token: still closed.
    let s = Server::start(&db, &[]);
    assert_eq!(s.get(Q, None).status, 401);
    assert_eq!(s.get("/healthz", None).status, 200);
    // ... and so with only revoked ones.
    let dir2 = tempfile::tempdir().unwrap();
    let db2 = db_with_list(dir2.path(), "L");
    let dbs2 = db2.to_str().unwrap();
    create(dbs2, &["--scope", "match"]);
    cli(&["token", "revoke", "--db", dbs2, "1"]);
    let s2 = Server::start(&db2, &[]);
    assert_eq!(s2.get(Q, None).status, 401);
}

#[test]
fn bad_expiries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    for bad in [
        &["--expires-in", "0"][..],
        &["--expires-in", "soon"],
        &["--expires-at", "2001-01-01"],
        &["--expires-at", "2999-01-01T10:00"],
        &["--expires-in", "1", "--expires-at", "2999-01-01"],
    ] {
        let out = Command::new(BIN)
            .args(["token", "create", "--db"])
            .arg(&db)
            .args(["--scope", "match"])
            .args(bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?} was accepted");
    }
    let ok = create(
        db.to_str().unwrap(),
        &["--scope", "match", "--expires-at", "2999-01-01T10:00Z"],
    );
    assert!(ok.starts_with("hs_"));
    let l = list(db.to_str().unwrap());
    assert_eq!(l.len(), 1, "{l:?}");
    assert_eq!(l[0]["expires_at"], 32_472_180_000i64);
}

#[test]
fn metrics_can_require_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "SECRET_LIST_NAME");
    let dbs = db.to_str().unwrap();
    let t = create(dbs, &["--scope", "match"]);
    // Default: open (documented), list names included.
    let s = Server::start(&db, &[]);
    assert_eq!(s.get("/metrics", None).status, 200);
    drop(s);
    let s = Server::start(&db, &["--metrics-require-auth"]);
    assert_eq!(s.get("/metrics", None).status, 401);
    let r = s.get("/metrics", Some(&t));
    assert_eq!(r.status, 200);
    assert_eq!(s.get("/healthz", None).status, 200);
}
