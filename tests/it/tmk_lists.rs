//! TMK+PDQF as a list signal, end to end with the real binary: per-list
//! thresholds, `db import` of `.tmk` files and folders, `db export --format
//! tmk`, `db add` of a video, `match --tmk`, `match --file` and `scan`.
//! The verdicts of `match --tmk` over Meta's 15 sample hashes are the
//! reference's own (`reference-pairs.csv`): every pair that matches is
//! found, no other.

use crate::ffmpeg_support;
use crate::fixtures;
use crate::serve_support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hashsieve");

fn conformance() -> Option<PathBuf> {
    fixtures::conformance(&["tmk/reference-tmk", "vpdq/videos"])
}

fn cmd(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("HASHSIEVE_DB")
        .output()
        .expect("run hashsieve")
}

fn ok(db: &Path, args: &[&str]) -> String {
    let o = cmd(db, args);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "hashsieve {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8")
}

fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// `a,b,level1,level2,match_0.7` rows of a reference CSV.
fn csv(path: &Path) -> Vec<(String, String, f32, f32, bool)> {
    std::fs::read_to_string(path)
        .expect("csv")
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (
                c[0].to_string(),
                c[1].to_string(),
                c[2].parse().expect("level1"),
                c[3].parse().expect("level2"),
                c[4] == "true",
            )
        })
        .collect()
}

#[test]
fn lists_carry_their_own_tmk_thresholds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("h.db");
    let l = &lines(&ok(
        &db,
        &["db", "list-create", "gifct", "--tmk-level1", "0.8"],
    ))[0];
    // Scores and thresholds are float32: compared as such.
    let f = |v: &Value| v.as_f64().map(|x| x as f32);
    assert_eq!(
        (f(&l["tmk_level1"]), f(&l["tmk_level2"])),
        (Some(0.8), Some(0.7))
    );
    ok(&db, &["db", "list-update", "gifct", "--tmk-level2", "0.9"]);
    let shown = &lines(&ok(&db, &["db", "lists", "--json"]))[0];
    assert_eq!(shown["tmk_level1"].as_f64(), Some(0.8), "shortest decimal");
    assert_eq!(shown["tmk_level2"].as_f64(), Some(0.9));
    let table = ok(&db, &["db", "lists"]);
    assert!(table.contains("TMK-L1") && table.contains("0.9"), "{table}");
    let bad = cmd(&db, &["db", "list-update", "gifct", "--tmk-level1", "7"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tmk level-1"));
}

#[test]
fn imported_tmk_files_match_as_the_reference_decides_and_export_byte_for_byte() {
    let Some(conf) = conformance() else { return };
    let refs = conf.join("tmk/reference-tmk");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("h.db");
    ok(&db, &["db", "list-create", "gifct"]);
    // A folder: every .tmk in one transaction.
    let imported = &lines(&ok(&db, &["db", "import", "gifct", refs.to_str().unwrap()]))[0];
    assert_eq!(imported["added"], 15, "{imported}");
    assert_eq!(imported["format"], "tmk");
    // One file again: already there.
    let one = refs.join("chair-19-sd-bar.tmk");
    let again = &lines(&ok(&db, &["db", "import", "gifct", one.to_str().unwrap()]))[0];
    assert_eq!(
        (again["added"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(1))
    );

    // Every sample hash as a query: exactly the reference's matches.
    let rows = csv(&conf.join("tmk/reference-pairs.csv"));
    let names: BTreeSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    for name in names {
        let q = refs.join(format!("{name}.tmk"));
        let hits = lines(&ok(&db, &["match", "--tmk", q.to_str().unwrap()]));
        let got: BTreeSet<String> = hits
            .iter()
            .map(|h| {
                assert_eq!(h["hit_by"], "tmk_pdqf");
                assert_eq!(h["signal_type"], "tmk_pdqf");
                h["external_id"].as_str().expect("external id").to_string()
            })
            .collect();
        let want: BTreeSet<String> = rows
            .iter()
            .filter(|r| r.0 == name && r.4)
            .map(|r| r.1.clone())
            .collect();
        assert_eq!(got, want, "{name}");
        // The scores are the reference's, bit for bit.
        for h in &hits {
            let b = h["external_id"].as_str().unwrap();
            let r = rows.iter().find(|r| r.0 == name && r.1 == b).unwrap();
            assert_eq!(h["level1"].as_f64().unwrap() as f32, r.2, "{name} {b}");
            assert_eq!(h["level2"].as_f64().unwrap() as f32, r.3, "{name} {b}");
        }
    }

    // Export: the same files, under their names.
    let out = dir.path().join("out");
    ok(
        &db,
        &[
            "db",
            "export",
            "gifct",
            "--format",
            "tmk",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    let mut n = 0;
    for e in std::fs::read_dir(&refs).expect("refs") {
        let p = e.expect("entry").path();
        let name = p.file_name().unwrap();
        let ours = std::fs::read(out.join(name)).expect("exported file");
        assert!(ours == std::fs::read(&p).expect("ref"), "{}", p.display());
        n += 1;
    }
    assert_eq!(n, 15);
    // Thresholds from the flags replace the list's.
    let q = refs.join("chair-19-sd-bar.tmk");
    let all = lines(&ok(
        &db,
        &[
            "match",
            "--tmk",
            q.to_str().unwrap(),
            "--tmk-level1=-1",
            "--tmk-level2=-1",
        ],
    ));
    assert_eq!(all.len(), 15);
}

#[test]
fn damaged_tmk_files_are_refused_by_name_or_skipped() {
    let Some(conf) = conformance() else { return };
    let good = std::fs::read(conf.join("tmk/reference-tmk/chair-19-sd-bar.tmk")).expect("read");
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("in");
    std::fs::create_dir(&folder).expect("mkdir");
    std::fs::write(folder.join("a-good.tmk"), &good).expect("write");
    std::fs::write(folder.join("b-cut.tmk"), &good[..5000]).expect("write");
    let mut nan = good.clone();
    nan[176..180].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(folder.join("c-nan.tmk"), &nan).expect("write");
    let db = dir.path().join("h.db");
    ok(&db, &["db", "list-create", "l"]);
    let o = cmd(&db, &["db", "import", "l", folder.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("b-cut.tmk") && err.contains("truncated"),
        "{err}"
    );
    assert!(lines(&ok(&db, &["db", "export", "l", "--format", "jsonl"])).is_empty());
    let o = ok(
        &db,
        &[
            "db",
            "import",
            "l",
            folder.to_str().unwrap(),
            "--skip-invalid",
        ],
    );
    let sum = &lines(&o)[0];
    assert_eq!(
        (sum["added"].as_u64(), sum["skipped"].as_u64()),
        (Some(1), Some(2))
    );
    let o = cmd(
        &db,
        &["match", "--tmk", folder.join("c-nan.tmk").to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not finite"));
}

#[test]
fn videos_are_added_and_matched_by_their_tmk() {
    let Some(conf) = conformance() else { return };
    let videos = conf.join("vpdq/videos");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("h.db");
    ok(&db, &["db", "list-create", "mine"]);
    // `db add` stores the video's TMK+PDQF beside its vPDQ and digests.
    let listed = videos.join("chair-22-sd-grey-bar.mp4");
    let added = &lines(&ok(&db, &["db", "add", "mine", listed.to_str().unwrap()]))[0];
    let kinds: Vec<&str> = added["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"tmk_pdqf") && kinds.contains(&"vpdq"),
        "{kinds:?}"
    );
    // Another edit of the same scene: TMK+PDQF finds it.
    let query = videos.join("chair-22-sd-sepia-bar.mp4");
    let hits = lines(&ok(&db, &["match", "--file", query.to_str().unwrap()]));
    let tmk: Vec<&Value> = hits.iter().filter(|h| h["hit_by"] == "tmk_pdqf").collect();
    assert_eq!(tmk.len(), 1, "{hits:?}");
    assert_eq!(tmk[0]["signal_type"], "tmk_pdqf");
    assert!(tmk[0]["level1"].as_f64().unwrap() >= 0.7);
    assert!(tmk[0]["level2"].as_f64().unwrap() >= 0.7);
    assert!(tmk[0].get("distance").is_none());
    // A different video: no TMK hit.
    let other = videos.join("pattern-sd-grey-bar.mp4");
    let hits = lines(&ok(&db, &["match", "--file", other.to_str().unwrap()]));
    assert!(hits.iter().all(|h| h["hit_by"] != "tmk_pdqf"), "{hits:?}");
    // `scan` reports the same hit in the file's record.
    let scan_dir = dir.path().join("scan");
    std::fs::create_dir(&scan_dir).expect("mkdir");
    std::fs::copy(&query, scan_dir.join("q.mp4")).expect("copy");
    let out = Command::new(BIN)
        .args(["scan", "--db"])
        .arg(&db)
        .arg(&scan_dir)
        .env_remove("HASHSIEVE_DB")
        .output()
        .expect("scan");
    let recs = lines(&String::from_utf8_lossy(&out.stdout));
    let rec = recs
        .iter()
        .find(|r| r["path"].as_str().is_some_and(|p| p.ends_with("q.mp4")))
        .unwrap_or_else(|| panic!("{recs:?}"));
    let m = rec["matches"].as_array().expect("matches");
    assert!(
        m.iter()
            .any(|h| h["hit_by"] == "tmk_pdqf" && h["level2"].as_f64().unwrap() >= 0.7),
        "{m:?}"
    );
}

#[test]
fn the_service_matches_uploads_and_signals_by_tmk() {
    let Some(conf) = conformance() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("h.db");
    ok(&db, &["db", "list-create", "gifct"]);
    let refs = conf.join("tmk/reference-tmk-ffmpeg5");
    ok(&db, &["db", "import", "gifct", refs.to_str().unwrap()]);
    let s = serve_support::Server::start(&db, &[]);
    // An upload: hashed from its own decode, matched by its TMK+PDQF.
    let video = std::fs::read(conf.join("vpdq/videos/doorknob-hd-no-bar.mp4")).expect("video");
    let r = s.post("/v1/match", None, "video/mp4", &video);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    let hits: Vec<&Value> = j["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .filter(|h| h["hit_by"] == "tmk_pdqf")
        .collect();
    assert_eq!(hits.len(), 1, "{j}");
    assert_eq!(hits[0]["external_id"], "doorknob-hd-no-bar");
    assert!(hits[0]["level1"].as_f64().unwrap() >= 0.99999);
    assert!(hits[0]["level2"].as_f64().unwrap() >= 0.99999);
    // A `.tmk` file as the body of /v1/match/tmk.
    let tmk = std::fs::read(refs.join("pattern-hd-no-bar.tmk")).expect("tmk");
    let r = s.post("/v1/match/tmk", None, "application/octet-stream", &tmk);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    let ids: BTreeSet<&str> = j["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .filter_map(|h| h["external_id"].as_str())
        .collect();
    assert!(ids.contains("pattern-hd-no-bar"), "{j}");
    assert!(!ids.iter().any(|i| i.starts_with("chair")), "{j}");
    // A damaged one: a clear 400.
    let r = s.post(
        "/v1/match/tmk",
        None,
        "application/octet-stream",
        &tmk[..1000],
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(String::from_utf8_lossy(&r.body).contains("truncated"));
}

/// `reference`'s bytes in the two text forms the exchanges' public sources
/// document, encoded by Python's standard library (not by our encoder):
/// base64 of the whole file (TCAP's Hash Verification API), and
/// ThreatExchange's `HASH_TMK` form as Meta's `te-tag-query` writes it
/// (the first 12 bytes as they are, `|`, base64 of the rest).
fn exchange_text_forms(reference: &Path) -> Option<(String, String)> {
    let script = "import base64,sys\n\
        b=open(sys.argv[1],'rb').read()\n\
        print(base64.b64encode(b).decode())\n\
        print(b[:12].decode('ascii')+'|'+base64.b64encode(b[12:]).decode())\n";
    let o = match Command::new("python3")
        .args(["-c", script])
        .arg(reference)
        .output()
    {
        Ok(o) if o.status.success() => o,
        other => {
            fixtures::missing(&format!(
                "python3 to encode a .tmk as the exchanges do ({other:?})"
            ));
            return None;
        }
    };
    let text = String::from_utf8(o.stdout).expect("utf-8");
    let mut l = text.lines();
    Some((l.next()?.to_string(), l.next()?.to_string()))
}

#[test]
fn exchange_text_forms_import_as_the_binary_file() {
    let Some(conf) = conformance() else { return };
    let refs = conf.join("tmk/reference-tmk");
    let (a, b) = (
        refs.join("chair-19-sd-bar.tmk"),
        refs.join("pattern-hd-no-bar.tmk"),
    );
    let (Some((a64, ate)), Some((b64, bte))) = (exchange_text_forms(&a), exchange_text_forms(&b))
    else {
        return;
    };
    assert!(ate.starts_with("TMK1FVECPDQF|"), "{}", &ate[..20]);
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("h.db");
    ok(&db, &["db", "list-create", "bin"]);
    ok(&db, &["db", "list-create", "txt"]);
    // NCMEC serves a TMK_PDQF fingerprint as the raw file at a URL ending
    // in the type: read by content, whatever its name.
    let ncmec = dir.path().join("TMK_PDQF");
    std::fs::copy(&a, &ncmec).expect("copy");
    let s = &lines(&ok(&db, &["db", "import", "bin", ncmec.to_str().unwrap()]))[0];
    assert_eq!(
        (s["format"].as_str(), s["added"].as_u64()),
        (Some("tmk"), Some(1))
    );
    ok(&db, &["db", "import", "bin", b.to_str().unwrap()]);

    // Bare values, one a line, either form; signal lines with NCMEC's and
    // StopNCII's type names; pytx's dataset CSV; our CSV.
    let inputs = [
        ("bare.txt", format!("{ate}\n\n{b64}\n"), "tmk-text"),
        ("lines.txt", format!("TMK_PDQF {a64}\nVideoTMK {bte}\n"), "signal"),
        (
            "te.csv",
            format!("signal_type,signal_str,collab,category,tags\ntmk_pdqf,{ate},x,,\ntmk_pdqf,{b64},x,,\n"),
            "te-csv",
        ),
        (
            "ours.csv",
            format!("signal_type,signal_value,labels,external_id,note\ntmk_pdqf,{a64},,,\ntmk_pdqf,{bte},,,\n"),
            "csv",
        ),
    ];
    let exported = |list: &str| -> BTreeSet<String> {
        lines(&ok(&db, &["db", "export", list, "--format", "jsonl"]))
            .iter()
            .map(|e| e["value"].as_str().expect("value").to_string())
            .collect()
    };
    for (i, (name, text, format)) in inputs.iter().enumerate() {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        let list = format!("t{i}");
        ok(&db, &["db", "list-create", &list]);
        let s = &lines(&ok(&db, &["db", "import", &list, p.to_str().unwrap()]))[0];
        assert_eq!(s["format"], *format, "{name}");
        assert_eq!(s["added"], 2, "{name}: {s}");
        // The same two entries as the binary files, byte for byte.
        assert_eq!(exported(&list), exported("bin"), "{name}");
    }
    // Entries imported from text match as the binary files do.
    let scores = |list: &str| -> Vec<(String, String)> {
        let mut v: Vec<_> = lines(&ok(
            &db,
            &["match", "--tmk", a.to_str().unwrap(), "--list", list],
        ))
        .iter()
        .map(|h| (h["level1"].to_string(), h["level2"].to_string()))
        .collect();
        v.sort();
        v
    };
    let (from_text, from_files) = (scores("t0"), scores("bin"));
    assert!(!from_files.is_empty());
    assert_eq!(from_text, from_files);

    // Bad values: a clear error for their line, the rest kept with
    // --skip-invalid.
    let mut cut = ate.clone();
    cut.truncate(ate.len() - 8);
    let mut nan = std::fs::read(&a).expect("read");
    nan[176..180].copy_from_slice(&f32::NAN.to_le_bytes());
    let nan_path = dir.path().join("nan.tmk");
    std::fs::write(&nan_path, &nan).expect("write");
    let (nan64, _) = exchange_text_forms(&nan_path).expect("python3 ran above");
    let hexish = "ab".repeat(50);
    let bad = format!("{a64}\n{cut}\n{nan64}\n{hexish}\n");
    let p = dir.path().join("bad.txt");
    std::fs::write(&p, &bad).expect("write");
    ok(&db, &["db", "list-create", "bad"]);
    let o = cmd(&db, &["db", "import", "bad", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("line 2") && err.contains("ThreatExchange"),
        "{err}"
    );
    let o = cmd(
        &db,
        &["db", "import", "bad", p.to_str().unwrap(), "--skip-invalid"],
    );
    let s = &lines(&String::from_utf8_lossy(&o.stdout))[0];
    assert_eq!(
        (s["added"].as_u64(), s["skipped"].as_u64()),
        (Some(1), Some(3)),
        "{s}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("line 3") && err.contains("not finite"),
        "{err}"
    );
    assert!(
        err.contains("line 4") && err.contains("base64 of a .tmk file"),
        "{err}"
    );
}

/// A list holding only the reference `.tmk` files (so no vPDQ view can
/// hit), and a copy of `doorknob-hd-no-bar` made with the ffmpeg filter
/// `vf`: `hits(views)` are `match --file` of the copy on that video.
/// `None` when the conformance files or ffmpeg are missing.
struct EditedCopy {
    dir: tempfile::TempDir,
    db: std::path::PathBuf,
    original: std::path::PathBuf,
    name: &'static str,
}

impl EditedCopy {
    fn make(vf: &str) -> Option<EditedCopy> {
        Self::make_from("doorknob-hd-no-bar", vf)
    }

    /// As [`EditedCopy::make`], of the sample video `name`.
    fn make_from(name: &'static str, vf: &str) -> Option<EditedCopy> {
        let conf = conformance()?;
        if !ffmpeg_support::require_ffmpeg() {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("h.db");
        ok(&db, &["db", "list-create", "tmk"]);
        let refs = conf.join("tmk/reference-tmk-ffmpeg5");
        ok(&db, &["db", "import", "tmk", refs.to_str().unwrap()]);
        let original = conf.join(format!("vpdq/videos/{name}.mp4"));
        ffmpeg_support::ffmpeg(
            dir.path(),
            &[
                "-i",
                original.to_str().unwrap(),
                "-vf",
                vf,
                "-c:v",
                "libx264",
                "-an",
                "copy.mp4",
            ],
        );
        Some(EditedCopy {
            dir,
            db,
            original,
            name,
        })
    }

    fn hits(&self, views: &str) -> Vec<Value> {
        let q = self.dir.path().join("copy.mp4");
        lines(&ok(
            &self.db,
            &["match", "--file", q.to_str().unwrap(), "--views", views],
        ))
        .into_iter()
        .filter(|h| h["external_id"] == self.name)
        .collect()
    }

    /// The copy's plain TMK misses its original; with all views exactly
    /// one hit, by the TMK of the cropped frames `view`, both scores at
    /// least `floor`; with mirror views only (no crops) none.
    fn is_found_only_by_crop_view(&self, view: &str, floor: f64) {
        let hits = |views: &str| self.hits(views);
        assert!(hits("none").is_empty(), "{:?}", hits("none"));
        let found = hits("all");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0]["hit_by"].as_str(), found[0]["view"].as_str()),
            (Some("tmk_pdqf"), Some(view))
        );
        assert!(
            found[0]["level1"].as_f64().unwrap() >= floor
                && found[0]["level2"].as_f64().unwrap() >= floor,
            "{found:?}"
        );
        assert!(hits("dihedral").is_empty(), "{:?}", hits("dihedral"));
    }
}

#[test]
fn a_mirrored_repost_is_found_by_the_mirrored_tmk_view() {
    let Some(copy) = EditedCopy::make("hflip") else {
        return;
    };
    let (db, original) = (&copy.db, &copy.original);
    let hits = |views: &str| copy.hits(views);
    // The plain TMK of the mirrored video misses its original ...
    assert!(hits("none").is_empty(), "{:?}", hits("none"));
    // ... its mirror view finds it, saying so.
    let found = hits("all");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0]["hit_by"].as_str(), found[0]["view"].as_str()),
        (Some("tmk_pdqf"), Some("flipx"))
    );
    assert!(
        found[0]["level1"].as_f64().unwrap() >= 0.7 && found[0]["level2"].as_f64().unwrap() >= 0.7
    );
    // The unmirrored video is found by its plain TMK, not by the view.
    let plain = lines(&ok(db, &["match", "--file", original.to_str().unwrap()]));
    let own: Vec<_> = plain
        .iter()
        .filter(|h| h["external_id"] == "doorknob-hd-no-bar")
        .collect();
    assert_eq!(own.len(), 1, "{plain:?}");
    assert_eq!(own[0]["view"], "original");
}

#[test]
fn a_letterboxed_repost_is_found_by_the_letterbox_tmk_view() {
    // The picture squeezed to 60 % of the height between black bars, as a
    // repost into a taller frame is.
    let Some(copy) = EditedCopy::make("scale=iw:ih*0.6,pad=iw:ih/0.6:0:(oh-ih)/2:black") else {
        return;
    };
    // The plain TMK (bars scaled into every 64x64 frame) misses; the TMK
    // of the trimmed frames finds it, saying so.
    copy.is_found_only_by_crop_view("letterbox", 0.7);
}

#[test]
fn a_repost_with_a_caption_band_is_found_by_the_band_tmk_view() {
    // A white band over the picture (a quarter of its height again) with
    // dark blocks for its text, as a caption added on top of a repost. The
    // 8 s sample: the band view has no picture before its second sampled
    // frame, which on the 4 s one is a quarter of the video.
    let vf = "pad=iw:ih*1.25:0:ih*0.25:white,\
              drawbox=x=40:y=40:w=60:h=30:color=black:t=fill,\
              drawbox=x=120:y=40:w=90:h=30:color=black:t=fill,\
              drawbox=x=230:y=40:w=50:h=30:color=black:t=fill,\
              drawbox=x=300:y=40:w=120:h=30:color=black:t=fill";
    let Some(copy) = EditedCopy::make_from("pattern-longer-no-bar", vf) else {
        return;
    };
    // The plain TMK (the band scaled into every 64x64 frame) misses; the
    // TMK of the frames without the band finds it, saying so, at the view
    // floor (0.8) and above.
    copy.is_found_only_by_crop_view("band", 0.8);
}

/// A video with no detail anywhere (every sampled frame below PDQ quality
/// 25, half the default gate) is not matched by TMK+PDQF against a list
/// with the default quality gate; a list whose gate is 0 gets the
/// reference's verdict, and so does a bare `.tmk` (no frames to judge). A
/// dark but real video (frames between 25 and 50: vPDQ drops them all)
/// still matches by TMK.
#[test]
fn a_featureless_video_is_matched_by_tmk_only_where_the_list_takes_low_quality() {
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // Slow grey gradients (their seeds fixed: the filter picks colours'
    // layout at random): low contrast (PDQ quality 8 to 13) and a little
    // more (32 to 40).
    for (name, args) in [
        ("low", "c0=0x707070:c1=0xa0a0a0:seed=2"),
        ("dim", "c0=0x585858:c1=0xc8c8c8:seed=3"),
    ] {
        let src = format!("gradients=s=320x240:d=4:r=10:{args}:speed=0.02,format=yuv420p");
        ffmpeg_support::ffmpeg(d, &["-f", "lavfi", "-i", &src, &format!("{name}.mp4")]);
    }
    let db = d.join("h.db");
    let tmk_dir = d.join("tmk");
    let hash = |args: &[&str], video: &Path| -> String {
        let o = Command::new(BIN)
            .arg("hash")
            .args(args)
            .arg(video)
            .output()
            .expect("hash");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).expect("utf-8")
    };
    let qualities = |video: &Path| -> Vec<u8> {
        hash(&["--format", "vpdq"], video)
            .lines()
            .map(|l| l.split(',').nth(1).expect("quality").parse().expect("u8"))
            .collect()
    };
    let (video, dim) = (d.join("low.mp4"), d.join("dim.mp4"));
    let q = qualities(&video);
    assert!(!q.is_empty() && q.iter().all(|&q| q < 25), "{q:?}");
    let q = qualities(&dim);
    assert!(
        !q.is_empty() && q.iter().all(|&q| (25..50).contains(&q)),
        "{q:?}"
    );
    for v in [&video, &dim] {
        hash(
            &["--format", "tmk", "--output-dir", tmk_dir.to_str().unwrap()],
            v,
        );
    }
    let tmk = tmk_dir.join("low.tmk");
    ok(&db, &["db", "list-create", "gated"]);
    ok(&db, &["db", "list-create", "open", "--quality", "0"]);
    for list in ["gated", "open"] {
        ok(&db, &["db", "import", list, tmk.to_str().unwrap()]);
    }
    ok(
        &db,
        &[
            "db",
            "import",
            "gated",
            tmk_dir.join("dim.tmk").to_str().unwrap(),
        ],
    );
    let tmk_hits = |args: &[&str]| -> BTreeSet<(String, String)> {
        lines(&ok(&db, args))
            .iter()
            .filter(|h| h["hit_by"] == "tmk_pdqf")
            .map(|h| {
                let s = |k: &str| h[k].as_str().expect(k).to_string();
                (s("list"), s("external_id"))
            })
            .collect()
    };
    let hit = |list: &str, id: &str| (list.to_string(), id.to_string());
    let file = ["match", "--file", video.to_str().unwrap()];
    assert_eq!(tmk_hits(&file), BTreeSet::from([hit("open", "low")]));
    // The dim video is matched on the gated list.
    assert_eq!(
        tmk_hits(&["match", "--file", dim.to_str().unwrap()]),
        BTreeSet::from([hit("gated", "dim")])
    );
    // `scan` judges the featureless one the same way.
    let out = Command::new(BIN)
        .args(["scan", "--no-state", "--format", "jsonl", "--db"])
        .arg(&db)
        .arg(&video)
        .env_remove("HASHSIEVE_DB")
        .output()
        .expect("scan");
    let recs = lines(&String::from_utf8_lossy(&out.stdout));
    let scanned: BTreeSet<String> = recs[0]["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .filter(|h| h["hit_by"] == "tmk_pdqf")
        .map(|h| h["list"].as_str().expect("list").to_string())
        .collect();
    assert_eq!(scanned, BTreeSet::from(["open".to_string()]), "{recs:?}");
    // The bare hash carries no frame quality: both lists, as the reference.
    let both = BTreeSet::from([hit("gated", "low"), hit("open", "low")]);
    assert_eq!(tmk_hits(&["match", "--tmk", tmk.to_str().unwrap()]), both);
    // Lowering the list's gate lets the video match it.
    ok(&db, &["db", "list-update", "gated", "--quality", "0"]);
    assert_eq!(tmk_hits(&file), both);
    // Enrolling such a video says that its copies will not match there.
    ok(&db, &["db", "list-create", "mine"]);
    let added = cmd(&db, &["db", "add", "mine", video.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&added.stderr);
    assert!(
        added.status.success()
            && err.contains("no sampled frame reaches the list's quality gate 50")
            && err.contains("will not match by TMK+PDQF"),
        "{err}"
    );
}

#[test]
fn turned_reposts_are_found_by_the_turned_tmk_views() {
    // Each turn made by the ffmpeg CLI, hashed by our pipeline: the plain
    // TMK misses, the sign changes and transposes of the plain hash
    // (`TmkHash::turned`) find it, by the turn's name, at the turns' floor
    // (0.85) and above (so the table of turns agrees with real turned frames,
    // not only with itself). The names are the TMK block's, as the
    // mirror's (`flipx` is the left-right mirror): the frame views that
    // find the same copies swap flipx / flipy and rotate90 / rotate270.
    for (vf, view) in [
        ("transpose=clock", "rotate270"),
        ("hflip,vflip", "rotate180"),
        ("transpose=cclock", "rotate90"),
        ("vflip", "flipy"),
        ("transpose=cclock_flip", "flipplus1"),
        ("transpose=clock_flip", "flipminus1"),
    ] {
        let Some(copy) = EditedCopy::make(vf) else {
            return;
        };
        let none = copy.hits("none");
        assert!(none.is_empty(), "{vf}: {none:?}");
        let found = copy.hits("dihedral");
        assert_eq!(found.len(), 1, "{vf}: {found:?}");
        assert_eq!(
            (found[0]["hit_by"].as_str(), found[0]["view"].as_str()),
            (Some("tmk_pdqf"), Some(view)),
            "{vf}: {found:?}"
        );
        assert!(
            found[0]["level1"].as_f64().unwrap() >= 0.85
                && found[0]["level2"].as_f64().unwrap() >= 0.85,
            "{vf}: {found:?}"
        );
    }
}
