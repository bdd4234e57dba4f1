//! The saved index files next to the database (`<db>.pdq-rows`,
//! `<db>.pdq-tables`) are checked against their checksum: a byte flipped
//! in the middle of either changes no result of `scan` or `match`, and the
//! file is rewritten whole. On PostgreSQL (files in the index folder,
//! with the change log position they were read at) a later load reads
//! them and catches up from the change log: its answers equal a full
//! read's after entries were added and disabled meanwhile.

use crate::scan_support;

use scan_support::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const IMAGES: u64 = 12;
/// Unrelated listed hashes, so the files are more than a few rows.
const FILLER: u64 = 400;

fn pdq_of(data: &[u8]) -> String {
    let img = image::load_from_memory(data).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let src = hashsieve::pdq::Rgb8::new(
        img.as_raw(),
        w as usize,
        h as usize,
        hashsieve::pdq::LumaRule::Pillow,
    )
    .unwrap();
    hashsieve::pdq::PdqHasher::new().hash(&src).hash.to_string()
}

/// A deterministic pseudo-random PDQ hash (64 hex digits).
fn filler(i: u64) -> String {
    let mut s = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    (0..4)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            format!("{s:016x}")
        })
        .collect()
}

/// Images under `root/media`, and a database listing their PDQ hashes
/// among [`FILLER`] others; returns the database and every listed hash.
fn setup(root: &Path) -> (PathBuf, Vec<String>) {
    let mut listed = Vec::new();
    for i in 0..IMAGES {
        let data = png(500 + i);
        write(&root.join(format!("media/f{i:02}.png")), &data);
        listed.push(pdq_of(&data));
    }
    listed.extend((0..FILLER).map(filler));
    let db = root.join("lists.db");
    let entries: Vec<(&str, String)> = listed.iter().map(|h| ("pdq", h.clone())).collect();
    make_db(&db, "known", &entries);
    (db, listed)
}

/// path -> sorted (entry, distance, view) of the scan's hits.
fn scan_hits(root: &Path, db: &Path) -> BTreeMap<String, Vec<String>> {
    let s = parse(
        scan_cmd(root)
            .arg("media")
            .arg("--db")
            .arg(db)
            .arg("--no-state")
            .output()
            .unwrap(),
    );
    assert_eq!(s.code, 1, "{}", s.stderr);
    hits_by_path(&s.records, &["entry", "distance", "view"])
}

/// `match --queries` over every listed hash: the whole output.
fn match_all(root: &Path, db: &Path, listed: &[String]) -> String {
    let q = root.join("queries.txt");
    std::fs::write(&q, listed.join("\n")).unwrap();
    let o: Output = Command::new(bin())
        .arg("match")
        .arg("--db")
        .arg(db)
        .arg("--queries")
        .arg(&q)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn side_file(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn flip_middle(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let at = b.len() / 2;
    b[at] ^= 0x04;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_flipped_byte_in_a_saved_file_changes_no_result_and_the_file_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (db, listed) = setup(root);
    // The first run reads SQLite and saves both files.
    let hits = scan_hits(root, &db);
    assert_eq!(hits.len() as u64, IMAGES);
    assert!(
        hits.values().all(|h| !h.is_empty()),
        "every image is listed: {hits:?}"
    );
    let answers = match_all(root, &db, &listed);
    assert_eq!(answers.lines().count(), listed.len());
    for suffix in [".pdq-rows", ".pdq-tables"] {
        let file = side_file(&db, suffix);
        let good = std::fs::read(&file).unwrap_or_else(|e| panic!("{suffix} not saved: {e}"));
        // Read back unchanged: the files are used as saved.
        assert_eq!(scan_hits(root, &db), hits);
        assert_eq!(std::fs::read(&file).unwrap(), good, "{suffix}");

        flip_middle(&file);
        assert_eq!(scan_hits(root, &db), hits, "scan with a damaged {suffix}");
        assert_eq!(
            std::fs::read(&file).unwrap(),
            good,
            "{suffix} rewritten after scan"
        );

        flip_middle(&file);
        assert_eq!(
            match_all(root, &db, &listed),
            answers,
            "match with a damaged {suffix}"
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            good,
            "{suffix} rewritten after match"
        );
    }
}

#[allow(clippy::duplicate_mod)]
#[path = "../../hashdb/src/store/pg/throwaway.rs"]
mod throwaway;

/// `match --queries` over `listed` on `db` with saved index files in
/// `index_dir`: the whole output.
fn match_pg(root: &Path, db: &str, index_dir: &Path, listed: &[String]) -> String {
    let q = root.join("queries.txt");
    std::fs::write(&q, listed.join("\n")).unwrap();
    let o = Command::new(bin())
        .env("HASHSIEVE_INDEX_DIR", index_dir)
        .args(["match", "--db", db, "--queries"])
        .arg(&q)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The saved files in `dir` by suffix, with their bytes.
fn saved_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        // (Not a temporary file of a save under way.)
        .filter(|p| !p.file_name().unwrap().to_string_lossy().contains(".tmp"))
        .map(|p| {
            let suffix = p.extension().unwrap().to_string_lossy().into_owned();
            (suffix, std::fs::read(&p).unwrap())
        })
        .collect()
}

#[test]
fn postgres_saved_index_catches_up_from_the_change_log() {
    use hashdb::model::{NewList, Record, Status, StatusChange, Value as HValue};
    let server = match throwaway::Server::start() {
        throwaway::Start::Running(s) => s,
        throwaway::Start::Missing(why) => {
            crate::fixtures::missing(&format!("PostgreSQL: {why}"));
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let url = server.fresh_url();
    let listed: Vec<String> = (0..FILLER).map(filler).collect();
    let mut store = hashdb::store::Store::open(&url).unwrap();
    store.create_list(&NewList::new("known")).unwrap();
    let import = |store: &mut hashdb::store::Store, hashes: &[String]| {
        let recs: Vec<Result<Record, hashdb::error::ParseError>> = hashes
            .iter()
            .map(|h| {
                Ok(Record::new(
                    HValue::parse("pdq".parse().unwrap(), h).unwrap(),
                ))
            })
            .collect();
        store
            .import("known", recs, Path::new("t"), Default::default())
            .unwrap();
    };
    import(&mut store, &listed[..300]);
    let saved = root.join("saved");
    let fresh = |tag: &str| root.join(format!("fresh-{tag}"));
    std::fs::create_dir_all(&saved).unwrap();
    // The first load reads PostgreSQL and saves rows, tables and cursor.
    let first = match_pg(root, &url, &saved, &listed);
    let files = saved_files(&saved);
    let kinds: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(kinds, ["pdq-cursor", "pdq-rows", "pdq-tables"]);
    assert_eq!(first, match_pg(root, &url, &fresh("0"), &listed));
    // Changes after the save: entries added, one disabled, one disputed.
    import(&mut store, &listed[300..]);
    let ids = store.entry_ids("known").unwrap();
    for (id, status) in [(ids[5], Status::Disabled), (ids[17], Status::Disputed)] {
        store
            .set_status(
                id,
                &StatusChange {
                    status,
                    ..Default::default()
                },
            )
            .unwrap();
    }
    let caught_up = match_pg(root, &url, &saved, &listed);
    // The saved files were used as they were (a full read rewrites them)
    // and the answers are a full read's.
    assert_eq!(saved_files(&saved), files, "saved files rewritten");
    assert_eq!(caught_up, match_pg(root, &url, &fresh("1"), &listed));
    assert_ne!(caught_up, first, "the changes change the answers");
    // A damaged rows file: the same answers, and the files read anew.
    let rows = std::fs::read_dir(&saved)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pdq-rows"))
        .unwrap();
    flip_middle(&rows);
    let damaged = std::fs::read(&rows).unwrap();
    assert_eq!(match_pg(root, &url, &saved, &listed), caught_up);
    // Read and saved anew, at the database's new generation.
    let now = saved_files(&saved);
    assert_ne!(now["pdq-rows"], damaged);
    assert_ne!(now["pdq-rows"], files["pdq-rows"]);
}

/// The re-save needs a running `serve`: only in builds that have it.
#[cfg(feature = "serve")]
mod resave {
    use super::*;

    /// `serve` on `url` with `env`, and the lines it wrote on stderr before
    /// its address (the shared `Server::start` drops them).
    fn serve_pg(url: &str, env: &[(&str, &str)]) -> (crate::serve_support::Server, Vec<String>) {
        use std::io::BufRead;
        let mut child = Command::new(bin())
            .envs(env.iter().copied())
            .args([
                "serve",
                "--db",
                url,
                "--listen",
                "127.0.0.1:0",
                "--poll-ms",
                "200",
            ])
            .arg("--no-sandbox")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
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
        let mut before = Vec::new();
        loop {
            let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(60)) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not start: {before:?}");
            };
            if let Some(a) = line.split("listening on http://").nth(1) {
                let addr = a.trim().parse().unwrap();
                let s = crate::serve_support::Server {
                    child,
                    addr,
                    stderr: rx,
                };
                return (s, before);
            }
            before.push(line);
        }
    }

    /// The first line of `s` (`before` its address, or after, within 60 s)
    /// holding `what`.
    fn index_line(s: &crate::serve_support::Server, before: &[String], what: &str) -> String {
        if let Some(l) = before.iter().find(|l| l.contains(what)) {
            return l.clone();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match s.stderr.recv_timeout(left) {
                Ok(l) if l.contains(what) => return l,
                Ok(_) => {}
                Err(e) => panic!("no line with {what:?} from the server: {e}"),
            }
        }
    }

    /// How many changes a server says it caught up from the saved files.
    fn caught_up((s, before): &(crate::serve_support::Server, Vec<String>)) -> u64 {
        let l = index_line(s, before, "hashsieve serve: index from the saved files");
        l.split("caught up ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in {l:?}"))
    }

    /// The lists a PDQ hash hits on a server (HMA's lookup).
    fn banks(s: &crate::serve_support::Server, pdq: &str) -> usize {
        let r = s.get(&format!("/m/lookup?signal_type=pdq&signal={pdq}"), None);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let by_bank: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&r.body).unwrap();
        by_bank.len()
    }

    /// A server that started from saved files and then applied changes saves
    /// the files again from memory once the changes reach the bound
    /// (`HASHSIEVE_INDEX_RESAVE_CHANGES`): the next server starts from them
    /// and catches up only what changed after the save (where the old files
    /// would make it catch up everything), and answers as a full read.
    #[test]
    fn postgres_server_resaves_its_index_and_the_next_starts_from_it() {
        use hashdb::model::{NewList, Record, Status, StatusChange, Value as HValue};
        let server = match throwaway::Server::start() {
            throwaway::Start::Running(s) => s,
            throwaway::Start::Missing(why) => {
                crate::fixtures::missing(&format!("PostgreSQL: {why}"));
                return;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let url = server.fresh_url();
        let listed: Vec<String> = (0..FILLER).map(filler).collect();
        let later: Vec<String> = (FILLER..FILLER + 3).map(filler).collect();
        let mut store = hashdb::store::Store::open(&url).unwrap();
        store.create_list(&NewList::new("known")).unwrap();
        let import = |store: &mut hashdb::store::Store, hashes: &[String]| {
            let recs: Vec<Result<Record, hashdb::error::ParseError>> = hashes
                .iter()
                .map(|h| {
                    Ok(Record::new(
                        HValue::parse("pdq".parse().unwrap(), h).unwrap(),
                    ))
                })
                .collect();
            store
                .import("known", recs, Path::new("t"), Default::default())
                .unwrap();
        };
        let pause = || std::thread::sleep(std::time::Duration::from_millis(3200));
        import(&mut store, &listed[..300]);
        // Past the change log's re-read margin (2 s), so that each catch-up
        // below counts only what changed after its files.
        pause();
        let saved = root.join("saved");
        std::fs::create_dir_all(&saved).unwrap();
        match_pg(root, &url, &saved, &listed);
        let first = saved_files(&saved);
        // A copy of these first files, to show what a start from them costs.
        let old = root.join("old");
        std::fs::create_dir_all(&old).unwrap();
        for e in std::fs::read_dir(&saved).unwrap() {
            let p = e.unwrap().path();
            std::fs::copy(&p, old.join(p.file_name().unwrap())).unwrap();
        }
        let dir_s = saved.to_str().unwrap();
        let env = [
            ("HASHSIEVE_INDEX_DIR", dir_s),
            ("HASHSIEVE_INDEX_RESAVE_CHANGES", "50"),
        ];
        let a = serve_pg(&url, &env);
        assert_eq!(caught_up(&a), 0, "nothing changed since the files");
        // 100 entries added, one disabled, one disputed: past the bound.
        import(&mut store, &listed[300..]);
        let ids = store.entry_ids("known").unwrap();
        for (id, status) in [(ids[5], Status::Disabled), (ids[17], Status::Disputed)] {
            store
                .set_status(
                    id,
                    &StatusChange {
                        status,
                        ..Default::default()
                    },
                )
                .unwrap();
        }
        let line = index_line(&a.0, &[], "index saved for the next start");
        assert!(line.contains(" 398 rows"), "{line}");
        let resaved = saved_files(&saved);
        assert_ne!(resaved["pdq-cursor"], first["pdq-cursor"]);
        assert_ne!(resaved["pdq-rows"], first["pdq-rows"]);
        // Three more after the save, under the bound: not saved.
        pause();
        import(&mut store, &later);
        std::thread::sleep(std::time::Duration::from_secs(1));
        drop(a);
        assert_eq!(saved_files(&saved), resaved);

        let b = serve_pg(&url, &env[..1]);
        // The 3 entries added after the save, plus at most the 2 status
        // changes made just before it, which the change log's re-read
        // margin (2 s of `status_at`) may hand out again (harmless:
        // applying a change twice is idempotent); never the 105 a start
        // from the first files needs (below).
        let n = caught_up(&b);
        assert!((3..=5).contains(&n), "only the changes after the save: {n}");
        for (hash, lists) in [
            (&listed[350], 1),
            (&later[1], 1),
            (&listed[5], 0),
            (&listed[17], 0),
            (&listed[6], 1),
        ] {
            assert_eq!(banks(&b.0, hash), lists, "{hash}");
        }
        drop(b);
        let old_s = old.to_str().unwrap();
        let c = serve_pg(&url, &[("HASHSIEVE_INDEX_DIR", old_s)]);
        assert_eq!(caught_up(&c), 105, "from the first files: every change");
        drop(c);
        // The re-saved files give a full read's answers.
        let all: Vec<String> = listed.iter().chain(&later).cloned().collect();
        assert_eq!(
            match_pg(root, &url, &saved, &all),
            match_pg(root, &url, &root.join("fresh"), &all)
        );
    }
}
