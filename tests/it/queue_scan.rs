//! Distributed scanning (`scan --queue`, `hashsieve worker`, `runs`)
//! against a throwaway `nats-server -js`: the records equal a local
//! `scan`'s, and faults (a worker killed with SIGKILL, a file that kills
//! its workers, a vanished file, a NATS restart, a reused run name) still
//! leave exactly one record per file. Every case runs on both stores
//! (`sqlite::` and `postgres::`, a throwaway server each), and one on
//! PostgreSQL alone: the database stopped under a working worker.
#![cfg(feature = "queue")]

use crate::queue_support::{self as q, Backend, Db, Nats};
use crate::scan_support::{jpeg, make_db, md5_hex, scan_cmd, write, zip_of};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Real photos (the PDQ conformance set), a zip of generated JPEGs and a
/// damaged file, under `dir/media`; a database whose list holds the PDQ
/// of one photo (from the reference's CSV) and the MD5 of a zip member.
/// Returns the media folder (absolute), the database's handle (keep it:
/// a PostgreSQL server lives as long) and what `--db` is given.
fn setup(dir: &Path, backend: Backend) -> Option<(PathBuf, Db, PathBuf)> {
    let conf = crate::scan_support::conformance()?;
    let handle = Db::new(dir, backend)?;
    let media = dir.join("media");
    std::fs::create_dir_all(&media).unwrap();
    let bridge = conf.join("pdq/bridge-mods");
    for e in std::fs::read_dir(&bridge).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, media.join(p.file_name().unwrap())).unwrap();
    }
    let member = jpeg(7);
    write(
        &media.join("sub/pack.zip"),
        &zip_of(&[("a.jpg", &member), ("b.jpg", &jpeg(8))]),
    );
    write(&media.join("sub/broken.jpg"), &jpeg(9)[..300]);
    let csv = std::fs::read_to_string(conf.join("pdq/reference.csv")).unwrap();
    let pdq = csv
        .lines()
        .find(|l| l.starts_with("bridge-mods/aaa-orig.jpg,"))
        .and_then(|l| l.split(',').nth(4))
        .expect("aaa-orig in reference.csv")
        .to_string();
    let db = handle.path().to_path_buf();
    make_db(&db, "t", &[("pdq", pdq), ("md5", md5_hex(&member))]);
    Some((media, handle, db))
}

/// The files under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn by_path(records: Vec<Value>) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    for r in records {
        let p = r["path"].as_str().expect("a path").to_string();
        assert!(m.insert(p.clone(), r).is_none(), "{p} has two records");
    }
    m
}

/// Wait for a worker to exit (it exits once idle), failing past `secs`.
fn wait_exit(c: std::process::Child, secs: u64, what: &str) -> String {
    let (status, err) = crate::scan_support::wait_or_fail(c, secs, what);
    assert!(status.success(), "{what}: {status}\n{err}");
    err
}

fn queue_two_workers_give_the_records_of_a_local_scan(backend: Backend) {
    if !q::have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some((media, _pg, db)) = setup(dir.path(), backend) else {
        return;
    };
    let local = scan_cmd(dir.path())
        .args(["--db"])
        .arg(&db)
        .args(["--no-state", "--format", "jsonl"])
        .arg(&media)
        .output()
        .unwrap();
    let local = by_path(crate::scan_support::parse(local).records);
    assert!(
        local
            .values()
            .any(|r| r["matches"].as_array().is_some_and(|m| !m.is_empty())),
        "the fixture must have matches"
    );

    let nats = Nats::start(dir.path());
    // Workers first, and the jobs only once both have a pull request at
    // the server: a worker still loading its lists (a loaded machine)
    // when the jobs come would get none, its peer taking all 14.
    let mut w1 = q::start(q::worker(&db, &nats.url(), "w1", &["--idle-exit", "6"]));
    let mut w2 = q::start(q::worker(&db, &nats.url(), "w2", &["--idle-exit", "6"]));
    w1.wait_ready(60, "worker 1");
    w2.wait_ready(60, "worker 2");
    let o = q::produce(&db, &nats.url(), "run1", &[media.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shown = q::wait_done(&db, "run1", 120);
    for (w, what) in [(w1, "worker 1"), (w2, "worker 2")] {
        let (status, err) = w.wait_exit(60, &format!("{what} did not exit once idle"));
        assert!(status.success(), "{what}: {status}\n{err}");
    }

    let queued = by_path(q::report(&db, "run1"));
    assert_eq!(
        queued.keys().collect::<Vec<_>>(),
        local.keys().collect::<Vec<_>>()
    );
    for (p, r) in &local {
        assert_eq!(&queued[p], r, "record of {p}");
    }
    let files = files_under(&media).len() as u64;
    assert_eq!(shown["run"]["published"], files);
    assert_eq!(shown["run"]["jobs_done"], files);
    assert_eq!(shown["records"], local.len() as u64);
    let names: Vec<&str> = shown["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["worker"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["w1", "w2"], "both workers took jobs: {shown}");
    // `runs list` shows the queued run; the CSV report has a row per record.
    let list = std::process::Command::new(q::bin())
        .env_remove("HASHSIEVE_DB")
        .args(["runs", "list", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.lines()
            .any(|l| l.contains("\"kind\":\"queue\"") && l.contains("\"name\":\"run1\"")),
        "{list}"
    );
    let csv = std::process::Command::new(q::bin())
        .env_remove("HASHSIEVE_DB")
        .args(["runs", "report", "run1", "--format", "csv", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(csv.status.success());
    let local_csv = scan_cmd(dir.path())
        .args(["--db"])
        .arg(&db)
        .args(["--no-state", "--format", "csv"])
        .arg(&media)
        .output()
        .unwrap();
    // The same rows (a local scan writes them in the order files finish).
    let rows = |o: &[u8]| {
        let text = String::from_utf8(o.to_vec()).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let header = lines.remove(0);
        lines.sort();
        (header, lines)
    };
    let (qh, qrows) = rows(&csv.stdout);
    let (lh, lrows) = rows(&local_csv.stdout);
    assert_eq!(qh, lh);
    assert!(qrows.len() >= local.len(), "a row per record at least");
    assert_eq!(qrows, lrows);
}

fn queue_worker_killed_mid_run_still_one_record_per_file(backend: Backend) {
    if !q::have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some((media, _pg, db)) = setup(dir.path(), backend) else {
        return;
    };
    let nats = Nats::start(dir.path());
    let o = q::produce(&db, &nats.url(), "k", &[media.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut victim = q::worker(&db, &nats.url(), "victim", &[]).spawn().unwrap();
    // Let it commit a job or two, then kill it in the middle of the next.
    let deadline = Instant::now() + Duration::from_secs(60);
    while q::show(&db, "k")["run"]["jobs_done"].as_u64().unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "the first worker did nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(150));
    q::kill9(&mut victim);
    let after_kill = q::show(&db, "k")["run"]["jobs_done"].as_u64().unwrap();
    let files = files_under(&media).len() as u64;
    assert!(after_kill < files, "killed before the end");
    let rescuer = q::worker(&db, &nats.url(), "rescuer", &["--idle-exit", "5"])
        .spawn()
        .unwrap();
    let shown = q::wait_done(&db, "k", 120);
    wait_exit(rescuer, 60, "the second worker did not exit once idle");
    assert_eq!(shown["run"]["jobs_done"], files);
    let records = q::report(&db, "k");
    let n = records.len();
    let unique = by_path(records);
    assert_eq!(unique.len(), n);
    // Every file once (the zip's members besides).
    for f in files_under(&media) {
        assert!(unique.contains_key(f.to_str().unwrap()), "{f:?} missing");
    }
    assert_eq!(n as u64, files + 2, "files plus the two zip members");
}

fn queue_poison_file_ends_as_an_error_record_after_max_tries(backend: Backend) {
    if !q::have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    write(&media.join("good1.jpg"), &jpeg(1));
    write(&media.join("poison.jpg"), &jpeg(2));
    write(&media.join("good2.jpg"), &jpeg(3));
    let Some(handle) = Db::new(dir.path(), backend) else {
        return;
    };
    let db = handle.path().to_path_buf();
    make_db(&db, "t", &[("md5", md5_hex(&jpeg(3)))]);
    let nats = Nats::start(dir.path());
    let o = q::produce(&db, &nats.url(), "p", &[media.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A supervisor, as systemd or Kubernetes would be: a worker that dies
    // is started again, until the run is done. Only the first start says
    // 2 tries: JetStream keeps the consumer that worker made, and the
    // later ones (told 5) must go by it, or the job's last delivery never
    // comes and the poison file never gets its record.
    let mut starts = 0;
    let mut deaths = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let tries = if starts == 0 { "2" } else { "5" };
        let mut w = q::worker(
            &db,
            &nats.url(),
            "w",
            &["--max-tries", tries, "--idle-exit", "3"],
        );
        w.env("HASHSIEVE_FAULT_ABORT_ON", "poison.jpg");
        let (status, err) =
            crate::scan_support::wait_or_fail(w.spawn().unwrap(), 60, "worker hung");
        starts += 1;
        if starts > 1 {
            assert!(
                err.contains("made by an earlier worker") && err.contains("2 tries"),
                "the consumer's settings are reported: {err}"
            );
        }
        if status.success() {
            break;
        }
        deaths += 1;
        assert!(
            Instant::now() < deadline,
            "never settled; last stderr: {err}"
        );
        assert!(deaths <= 5, "the poison file loops: {err}");
    }
    assert_eq!(deaths, 2, "the poison file had 2 tries ({starts} starts)");
    let shown = q::wait_done(&db, "p", 30);
    assert_eq!(shown["run"]["jobs_done"], 3);
    let recs = by_path(q::report(&db, "p"));
    assert_eq!(recs.len(), 3);
    let poison = &recs[media.join("poison.jpg").to_str().unwrap()];
    assert_eq!(poison["error"]["kind"], "crash", "{poison}");
    assert!(
        poison["error"]["message"]
            .as_str()
            .unwrap()
            .contains("after 2 deliveries"),
        "{poison}"
    );
    let good = &recs[media.join("good2.jpg").to_str().unwrap()];
    assert!(good["error"].is_null());
    assert_eq!(good["matches"].as_array().map(Vec::len), Some(1), "{good}");
    assert_eq!(shown["errors"], 1);
    assert_eq!(shown["records_matched"], 1);
}

fn queue_vanished_file_gets_an_error_record(backend: Backend) {
    if !q::have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    write(&media.join("stays.jpg"), &jpeg(1));
    write(&media.join("goes.jpg"), &jpeg(2));
    let Some(handle) = Db::new(dir.path(), backend) else {
        return;
    };
    let db = handle.path().to_path_buf();
    make_db(&db, "t", &[("md5", md5_hex(&jpeg(5)))]);
    let nats = Nats::start(dir.path());
    let o = q::produce(&db, &nats.url(), "v", &[media.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Published while it existed; gone before any worker came.
    std::fs::remove_file(media.join("goes.jpg")).unwrap();
    let w = q::worker(&db, &nats.url(), "w", &["--idle-exit", "3"])
        .spawn()
        .unwrap();
    wait_exit(w, 60, "worker did not exit once idle");
    q::wait_done(&db, "v", 10);
    let recs = by_path(q::report(&db, "v"));
    assert_eq!(recs.len(), 2);
    let gone = &recs[media.join("goes.jpg").to_str().unwrap()];
    assert_eq!(gone["error"]["kind"], "io", "{gone}");
    assert!(recs[media.join("stays.jpg").to_str().unwrap()]["error"].is_null());
}

fn queue_run_name_reuse_is_refused_unless_resumed_with_the_same_paths(backend: Backend) {
    if !q::have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    let other = dir.path().join("other");
    write(&media.join("a.jpg"), &jpeg(1));
    write(&media.join("b.jpg"), &jpeg(2));
    write(&other.join("c.jpg"), &jpeg(3));
    let Some(handle) = Db::new(dir.path(), backend) else {
        return;
    };
    let db = handle.path().to_path_buf();
    make_db(&db, "t", &[("md5", md5_hex(&jpeg(5)))]);
    let nats = Nats::start(dir.path());
    let m = media.to_str().unwrap();
    let first = q::produce(&db, &nats.url(), "same", &[m]);
    assert!(first.status.success());
    // A second producer with the same name: refused, nothing published.
    let second = q::produce(&db, &nats.url(), "same", &[other.to_str().unwrap()]);
    assert_eq!(second.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&second.stderr).contains("already exists"));
    let resumed_other = q::produce(
        &db,
        &nats.url(),
        "same",
        &["--resume", "same", other.to_str().unwrap()],
    );
    assert_eq!(resumed_other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&resumed_other.stderr).contains("other paths"));
    // Work the run, then resume it with the same paths: nothing is
    // published again, and the run still has one record per file.
    let w = q::worker(&db, &nats.url(), "w", &["--idle-exit", "3"])
        .spawn()
        .unwrap();
    wait_exit(w, 60, "worker did not exit once idle");
    let again = q::produce(&db, &nats.url(), "same", &["--resume", "same", m]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let out: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(out["published"], 0, "{out}");
    assert_eq!(out["skipped_done"], 2, "{out}");
    let shown = q::wait_done(&db, "same", 10);
    assert_eq!(shown["records"], 2);
    assert_eq!(shown["run"]["published"], 2);
}

fn queue_nats_restart_mid_run_loses_nothing(backend: Backend) {
    if !q::have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some((media, _pg, db)) = setup(dir.path(), backend) else {
        return;
    };
    let mut nats = Nats::start(dir.path());
    let o = q::produce(&db, &nats.url(), "r", &[media.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let w = q::worker(&db, &nats.url(), "w", &["--idle-exit", "8"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while q::show(&db, "r")["run"]["jobs_done"].as_u64().unwrap_or(0) < 2 {
        assert!(Instant::now() < deadline, "the worker did nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    nats.restart(Duration::from_secs(2));
    let shown = q::wait_done(&db, "r", 120);
    wait_exit(w, 60, "worker did not exit once idle");
    let files = files_under(&media).len() as u64;
    assert_eq!(shown["run"]["jobs_done"], files);
    let records = q::report(&db, "r");
    let n = records.len();
    assert_eq!(by_path(records).len(), n);
    assert_eq!(n as u64, files + 2, "files plus the two zip members");
}

/// A noisy JPEG big enough that scanning it takes a moment (decoding,
/// PDQ of every view): many of them keep a worker busy while the test
/// stops the database.
fn busy_jpeg(seed: u32) -> Vec<u8> {
    let mut s = u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let img = image::RgbImage::from_fn(1000, 750, |x, y| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        image::Rgb([
            (x / 4) as u8 ^ (s as u8 & 0x1f),
            (y / 3) as u8,
            (s >> 8) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("jpeg");
    out.into_inner()
}

/// PostgreSQL stopped under a worker that is scanning, started again 3 s
/// later: the worker keeps the job in hand (acking nothing unwritten, and
/// spending none of its deliveries: with `--max-tries 1` a single handed
/// back job would end as a "given up" record), does not exit, and once the
/// database is back every file has exactly one record, equal to a local
/// scan's (labels included: a hit matched while the database was away is
/// matched again).
#[test]
fn queue_postgres_stopped_under_a_worker_then_back_loses_nothing() {
    if !q::have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some((media, mut handle, db)) = setup(dir.path(), Backend::Postgres) else {
        return;
    };
    for i in 0..16 {
        write(&media.join(format!("busy/b{i:02}.jpg")), &busy_jpeg(i));
    }
    let local = scan_cmd(dir.path())
        .args(["--db"])
        .arg(&db)
        .args(["--no-state", "--format", "jsonl"])
        .arg(&media)
        .output()
        .unwrap();
    let local = by_path(crate::scan_support::parse(local).records);
    let nats = Nats::start(dir.path());
    let o = q::produce(&db, &nats.url(), "away", &[media.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let w = q::worker(
        &db,
        &nats.url(),
        "w",
        &["--idle-exit", "4", "--max-tries", "1"],
    )
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while q::show(&db, "away")["run"]["jobs_done"]
        .as_u64()
        .unwrap_or(0)
        < 2
    {
        assert!(Instant::now() < deadline, "the worker did nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pg = handle.pg.as_mut().expect("a PostgreSQL test");
    pg.stop();
    std::thread::sleep(Duration::from_secs(3));
    assert!(pg.restart(), "PostgreSQL did not come back: {}", pg.log());
    let shown = q::wait_done(&db, "away", 120);
    let err = wait_exit(w, 60, "the worker did not exit once idle");
    // The outage met a job in hand (else this test proved nothing), and
    // the worker saw the database come back.
    assert!(
        err.contains("the database is unreachable") && err.contains("the database is back"),
        "{err}"
    );
    let totals: Value = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("hashsieve worker w: "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| panic!("no totals line: {err}"));
    assert_eq!(totals["given_up"], 0, "{totals}");
    assert_eq!(totals["handed_back"], 0, "{totals}");
    let files = files_under(&media).len() as u64;
    assert_eq!(shown["run"]["jobs_done"], files);
    let records = q::report(&db, "away");
    let n = records.len();
    let queued = by_path(records);
    assert_eq!(queued.len(), n, "one record per path");
    assert_eq!(
        queued.keys().collect::<Vec<_>>(),
        local.keys().collect::<Vec<_>>()
    );
    for (p, r) in &local {
        assert_eq!(&queued[p], r, "record of {p}");
    }
}

/// `hashsieve runs ARGS... --db DB --state STATE`: exit code, stdout
/// lines parsed, stderr.
fn runs(db: &Path, state: &Path, args: &[&str]) -> (Option<i32>, Vec<Value>, String) {
    let o = std::process::Command::new(q::bin())
        .env_remove("HASHSIEVE_DB")
        .arg("runs")
        .args(args)
        .arg("--db")
        .arg(db)
        .arg("--state")
        .arg(state)
        .output()
        .unwrap();
    let lines = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        o.status.code(),
        lines,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `runs prune`: a finished queued run goes whole (records, jobs,
/// workers: `runs show` no longer knows it, its name is free again); an
/// unfinished one is kept unless --force, which also removes its jobs
/// from JetStream, so a worker started later gets none; --dry-run and
/// refusals delete nothing.
fn queue_runs_prune_removes_finished_runs_and_forced_ones_with_their_jobs(backend: Backend) {
    if !q::have_nats() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media");
    for i in 0..3 {
        write(&media.join(format!("f{i}.jpg")), &jpeg(i));
    }
    let Some(handle) = Db::new(dir.path(), backend) else {
        return;
    };
    let db = handle.path().to_path_buf();
    // No resume state: only queued runs to prune.
    let state = dir.path().join("none.runs");
    make_db(&db, "t", &[("md5", md5_hex(&jpeg(1)))]);
    let nats = Nats::start(dir.path());
    let m = media.to_str().unwrap();
    let o = q::produce(&db, &nats.url(), "old", &[m]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (status, err) = q::start(q::worker(&db, &nats.url(), "w", &["--idle-exit", "3"]))
        .wait_exit(60, "worker did not exit once idle");
    assert!(status.success(), "{err}");
    assert_eq!(q::wait_done(&db, "old", 10)["records"], 3);
    // Published, no worker: 3 jobs wait in the queue.
    let o = q::produce(&db, &nats.url(), "pending", &[m]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let (code, lines, err) = runs(&db, &state, &["prune", "old", "--dry-run"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["name"], "old");
    assert_eq!(lines[0]["dry_run"], true);
    assert_eq!(lines[0]["records"], 3);
    assert_eq!(
        q::show(&db, "old")["records"],
        3,
        "a dry run deletes nothing"
    );
    let (code, _, err) = runs(&db, &state, &["prune", "old", "pending"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("pending") && err.contains("not finished") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        q::show(&db, "old")["records"],
        3,
        "a refusal deletes nothing"
    );
    let (code, _, err) = runs(&db, &state, &["prune", "old", "nope"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no run named nope"), "{err}");

    // By age: both were written within the hour; then (a second later)
    // everything written before now, of which only "old" is finished.
    let (code, lines, err) = runs(&db, &state, &["prune", "--older-than", "1h"]);
    assert_eq!((code, lines.len()), (Some(0), 0), "{err}");
    std::thread::sleep(Duration::from_millis(1100));
    let (code, lines, err) = runs(&db, &state, &["prune", "--older-than", "0s"]);
    assert_eq!(code, Some(0), "{err}");
    let pruned: Vec<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(pruned, ["old"], "{err}");
    assert!(err.contains("kept queued run pending"), "{err}");
    let gone = std::process::Command::new(q::bin())
        .env_remove("HASHSIEVE_DB")
        .args(["runs", "show", "old", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no queued run named old"));

    let (code, lines, err) = runs(&db, &state, &["prune", "pending", "--force"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["name"], "pending");
    assert_eq!(lines[0]["jobs_removed_from_queue"], 3, "{err}");
    // Nothing left for a worker: no job at all, none dropped as unknown.
    let (status, err) = q::start(q::worker(&db, &nats.url(), "w2", &["--idle-exit", "2"]))
        .wait_exit(60, "worker did not exit once idle");
    assert!(status.success(), "{err}");
    assert!(!err.contains("not in this database"), "{err}");
    let totals: Value = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("hashsieve worker w2: "))
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_else(|| panic!("no totals line: {err}"));
    assert_eq!(totals["jobs"], 0, "{totals}");
    let (code, lines, err) = runs(&db, &state, &["list"]);
    assert_eq!((code, lines.len()), (Some(0), 0), "{err}: {lines:?}");
    // The name is free again.
    let o = q::produce(&db, &nats.url(), "old", &[m]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

crate::on_both_stores!(
    queue_runs_prune_removes_finished_runs_and_forced_ones_with_their_jobs,
    queue_two_workers_give_the_records_of_a_local_scan,
    queue_worker_killed_mid_run_still_one_record_per_file,
    queue_poison_file_ends_as_an_error_record_after_max_tries,
    queue_vanished_file_gets_an_error_record,
    queue_run_name_reuse_is_refused_unless_resumed_with_the_same_paths,
    queue_nats_restart_mid_run_loses_nothing,
);
