//! The PostgreSQL store through the real binary (issue 14): the same CLI
//! session (`db`, `match`, `scan`, `token`) and the same service answers
//! with `--db postgresql://...` as with an SQLite file, and two servers on
//! one database, where a change made through the CLI is matched by both
//! within 2 s (LISTEN/NOTIFY: their poll interval is set far longer).
//!
//! Each test starts its own throwaway PostgreSQL (`initdb` into a
//! temporary folder, a free loopback port; stopped at the end). Without
//! PostgreSQL the tests skip locally and fail in CI
//! (`HASHSIEVE_REQUIRE_FIXTURES=1`).

use crate::fixtures;
use crate::serve_support::{eventually, test_png, Server};
use md5::Digest;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

// The hashdb tests' own fixture, included as a file (the queue tests do the
// same): one copy of how a throwaway server is started.
#[allow(clippy::duplicate_mod)]
#[path = "../../hashdb/src/store/pg/throwaway.rs"]
mod throwaway;

const BIN: &str = env!("CARGO_BIN_EXE_hashsieve");

const A: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

fn postgres() -> Option<throwaway::Server> {
    match throwaway::Server::start() {
        throwaway::Start::Running(s) => Some(s),
        throwaway::Start::Missing(why) => {
            fixtures::missing(&format!("PostgreSQL: {why}"));
            None
        }
    }
}

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

fn run(db: &str, args: &[&str]) -> Output {
    // In a folder of its own: a scan's default state file lands there.
    let cwd = std::env::temp_dir();
    Command::new(BIN)
        .current_dir(cwd)
        .args(args)
        .args(["--db", db])
        .output()
        .expect("run hashsieve")
}

fn ok(db: &str, args: &[&str]) -> String {
    let o = run(db, args);
    assert!(
        o.status.success(),
        "hashsieve {args:?} --db {db}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// JSON lines with the fields that differ by nature between two runs
/// (times; a token's secret) taken out.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            strip_times(&mut v);
            v
        })
        .collect()
}

fn strip_times(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|k, _| {
                !(k.ends_with("_at") || k.ends_with("_ms") || k == "elapsed" || k == "status_at")
            });
            m.values_mut().for_each(strip_times);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(strip_times),
        _ => {}
    }
}

/// What one database answers to the same CLI session, in order: exit
/// codes and outputs (without times).
fn session(db: &str, media: &Path) -> (Vec<String>, String) {
    let mut seen = Vec::new();
    let note = |seen: &mut Vec<String>, what: &str, o: &Output| {
        seen.push(format!(
            "{what}: exit {:?}: {:?}",
            o.status.code(),
            json_lines(&String::from_utf8_lossy(&o.stdout))
        ));
    };
    ok(db, &["db", "list-create", "wide"]);
    ok(db, &["db", "list-create", "strict", "--threshold", "8"]);
    let csv = media.join("list.csv");
    let listed = std::fs::read(media.join("a.png")).unwrap();
    let md5 = format!("{:x}", md5::Md5::digest(&listed));
    std::fs::write(
        &csv,
        format!(
            "signal_type,signal_value,labels,external_id,note\n\
             pdq,{A},entity:a,x1,\nmd5,{md5},entity:b,x2,\n"
        ),
    )
    .unwrap();
    for l in ["wide", "strict"] {
        ok(db, &["db", "import", l, csv.to_str().unwrap()]);
    }
    // Re-importing is idempotent (merge, no duplicates).
    ok(db, &["db", "import", "wide", csv.to_str().unwrap()]);
    note(
        &mut seen,
        "export",
        &run(db, &["db", "export", "wide", "--format", "jsonl"]),
    );
    note(
        &mut seen,
        "match near",
        &run(db, &["match", "--pdq", &moved(3)]),
    );
    note(&mut seen, "match exact", &run(db, &["match", "--pdq", A]));
    note(
        &mut seen,
        "match far",
        &run(db, &["match", "--pdq", &moved(12)]),
    );
    note(&mut seen, "match md5", &run(db, &["match", "--md5", &md5]));
    let scan = run(
        db,
        &[
            "scan",
            "--format",
            "jsonl",
            "--no-sandbox",
            "--no-state",
            media.to_str().unwrap(),
        ],
    );
    let mut records: Vec<String> = String::from_utf8_lossy(&scan.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!(
                "{} {} {}",
                v["path"],
                v["md5"],
                v["matches"].as_array().map_or(0, Vec::len)
            )
        })
        .collect();
    records.sort();
    seen.push(format!("scan: exit {:?}: {records:?}", scan.status.code()));
    // Disputing the PDQ entry stops it matching; tokens are stored.
    let ids = json_lines(&ok(db, &["db", "export", "wide", "--format", "jsonl"]));
    let pdq_id = ids
        .iter()
        .find(|e| e["signal_type"] == "pdq")
        .and_then(|e| e["id"].as_i64())
        .expect("the PDQ entry's id");
    ok(
        db,
        &["db", "dispute", &pdq_id.to_string(), "--reason", "logo"],
    );
    note(&mut seen, "after dispute", &run(db, &["match", "--pdq", A]));
    let secret = ok(db, &["token", "create", "--scope", "match", "--name", "ci"]);
    let secret = secret.trim().to_string();
    assert!(secret.starts_with("hs_"), "{secret}");
    note(&mut seen, "tokens", &run(db, &["token", "list"]));
    let stats = run(db, &["db", "stats"]);
    seen.push(format!(
        "stats: exit {:?}: {}",
        stats.status.code(),
        String::from_utf8_lossy(&stats.stdout)
    ));
    (seen, secret)
}

#[test]
fn the_cli_and_the_service_answer_the_same_on_sqlite_and_postgresql() {
    let Some(pg) = postgres() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    std::fs::create_dir(&media).unwrap();
    std::fs::write(media.join("a.png"), test_png(64, 48, 1)).unwrap();
    std::fs::write(media.join("b.png"), test_png(64, 48, 2)).unwrap();
    let md5 = format!(
        "{:x}",
        md5::Md5::digest(std::fs::read(media.join("a.png")).unwrap())
    );
    let sqlite = dir.path().join("h.db");
    let sqlite = sqlite.to_str().unwrap();
    let url = pg.fresh_url();
    let (on_sqlite, token_sqlite) = session(sqlite, &media);
    let (on_pg, token_pg) = session(&url, &media);
    assert_eq!(on_sqlite, on_pg);
    // The session did match: the comparison is not of two empty answers.
    assert!(
        on_pg
            .iter()
            .any(|l| l.starts_with("match exact: exit Some(1)")),
        "{on_pg:#?}"
    );

    // The service: the same answer to the same lookup.
    let answers: Vec<serde_json::Value> = [(sqlite, token_sqlite), (url.as_str(), token_pg)]
        .iter()
        .map(|(db, token)| {
            let s = Server::start(Path::new(db), &["--no-sandbox"]);
            let r = s.get(
                &format!("/v1/match?signal_type=md5&signal={md5}"),
                Some(token),
            );
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let mut v = r.json();
            strip_times(&mut v);
            v
        })
        .collect();
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0].to_string().contains("wide"), "{}", answers[0]);
}

/// `serve` on `url` looking at the change log only once a minute (the
/// shared `Server::start` sets 200 ms): only a notification explains a
/// change seen sooner.
fn start_polling_every_minute(url: &str) -> Server {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(["serve", "--db", url, "--listen", "127.0.0.1:0"])
        .args(["--no-sandbox", "--poll-ms", "60000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn hashsieve serve");
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) => l,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not start: {e}");
            }
        };
        if let Some(a) = line.split("listening on http://").nth(1) {
            let addr = a.trim().parse().expect("an address");
            return Server {
                child,
                addr,
                stderr: rx,
            };
        }
    }
}

fn banks_of(s: &Server, pdq: &str) -> Vec<String> {
    let r = s.get(&format!("/m/lookup?signal_type=pdq&signal={pdq}"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let by_bank: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&r.body).unwrap();
    by_bank.keys().cloned().collect()
}

/// Poll every 20 ms until `f` or 10 s; how long it took.
fn time_until(mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if f() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn two_servers_on_one_database_see_a_cli_change_within_2s() {
    let Some(pg) = postgres() else {
        return;
    };
    let url = pg.fresh_url();
    ok(&url, &["db", "list-create", "L"]);
    // A poll interval of a minute: only a notification explains a change
    // seen within 2 s.
    let servers = [
        start_polling_every_minute(&url),
        start_polling_every_minute(&url),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("l.txt");
    std::fs::write(&file, format!("{A}\n")).unwrap();
    for s in &servers {
        assert!(banks_of(s, A).is_empty());
    }
    ok(&url, &["db", "import", "L", file.to_str().unwrap()]);
    for (i, s) in servers.iter().enumerate() {
        let took = time_until(|| banks_of(s, A) == ["L"]);
        assert!(
            took.is_some_and(|t| t < Duration::from_secs(2)),
            "server {i}: the import was matched after {took:?}"
        );
    }
    // A status change through the CLI: both stop matching.
    let export = ok(&url, &["db", "export", "L", "--format", "jsonl"]);
    let id = json_lines(&export)[0]["id"].as_i64().unwrap();
    ok(&url, &["db", "disable-entry", &id.to_string()]);
    for (i, s) in servers.iter().enumerate() {
        let took = time_until(|| banks_of(s, A).is_empty());
        assert!(
            took.is_some_and(|t| t < Duration::from_secs(2)),
            "server {i}: the disable was matched after {took:?}"
        );
    }
    // No rebuild for either (applied in place), and the lag is reported.
    for s in &servers {
        let m = String::from_utf8(s.get("/metrics", None).body).unwrap();
        assert!(m.contains("hashsieve_live_rebuilds_total 0"), "{m}");
        assert!(m.contains("hashsieve_live_sync_lag_seconds"), "{m}");
        let ready = s.get("/readyz", None);
        assert_eq!(ready.status, 200);
        assert!(ready.json()["sync_lag_seconds"].as_f64().is_some());
    }
}

#[test]
fn a_server_catches_up_after_the_database_restarts() {
    let Some(mut pg) = postgres() else {
        return;
    };
    let url = pg.fresh_url();
    ok(&url, &["db", "list-create", "L"]);
    let s = Server::start(Path::new(&url), &["--no-sandbox"]);
    assert!(pg.restart(), "{}", pg.log());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("l.txt");
    std::fs::write(&file, format!("{A}\n")).unwrap();
    ok(&url, &["db", "import", "L", file.to_str().unwrap()]);
    assert!(
        eventually(10, || banks_of(&s, A) == ["L"]),
        "a change made after the database restarted was never matched"
    );
    let m = String::from_utf8(s.get("/metrics", None).body).unwrap();
    assert!(
        m.contains("hashsieve_live_rebuilds_total 0"),
        "caught up from the log: {m}"
    );
}

#[test]
fn a_newer_schema_on_postgresql_is_refused() {
    let Some(pg) = postgres() else {
        return;
    };
    let url = pg.fresh_url();
    ok(&url, &["db", "init"]);
    // What a newer hashsieve would leave: a higher version.
    let o = Command::new(pg_bin("psql"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port().to_string(),
            "-U",
            "hashsieve",
        ])
        .args([
            "-d",
            "postgres",
            "-c",
            "UPDATE hashsieve_schema SET version = 99",
        ])
        .output();
    let Ok(o) = o else {
        fixtures::missing("psql");
        return;
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&url, &["db", "lists"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("newer than this hashsieve supports"), "{err}");
    // The password of a URL never shows in a message.
    let o = run(
        &format!(
            "postgresql://hashsieve:hunter2@127.0.0.1:{}/postgres",
            pg.port()
        ),
        &["db", "lists"],
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("hunter2"));
}

fn pg_bin(name: &str) -> std::path::PathBuf {
    throwaway::bin_dir()
        .map(|d| d.join(name))
        .unwrap_or_else(|| name.into())
}
