//! Matching in `hashsieve scan`: exact digests, image PDQ within the list
//! threshold, allowlisted hits suppressed, disabled entries and lists
//! never hit, the exit codes, `--matches-only`, the human format; and, on
//! the conformance videos, the vPDQ rule, the clip rule and a still found
//! inside a video.

use crate::scan_support;

use hashdb::model::{NewList, Record, Status, StatusChange, Value as HValue};
use hashdb::store::Store;
use hashdb::vpdq::VpdqFrame;
use scan_support::*;
use serde_json::Value;
use std::path::Path;

fn pdq_of(data: &[u8]) -> hashdb::Pdq {
    let img = image::load_from_memory(data).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let src = hashsieve::pdq::Rgb8::new(
        img.as_raw(),
        w as usize,
        h as usize,
        hashsieve::pdq::LumaRule::Pillow,
    )
    .unwrap();
    hashsieve::pdq::PdqHasher::new().hash(&src).hash
}

fn import(s: &mut Store, list: &str, values: Vec<HValue>) -> Vec<i64> {
    let recs = values
        .into_iter()
        .map(|v| {
            let mut r = Record::new(v);
            r.labels.insert("entity:test".into());
            r.external_id = Some("gifct-123".into());
            Ok(r)
        })
        .collect::<Vec<_>>();
    s.import(list, recs, Path::new("t"), Default::default())
        .unwrap()
        .added_ids
}

fn hex_digest<D: md5::Digest>(data: &[u8]) -> String {
    D::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn images_and_digests_against_lists() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let imgs: Vec<Vec<u8>> = (0..7).map(|i| png(50 + i)).collect();
    for (i, d) in imgs.iter().enumerate() {
        write(&root.join(format!("t/{}.png", (b'a' + i as u8) as char)), d);
    }
    write(&root.join("t/f.txt"), b"listed in a disabled list");
    let db = root.join("h.db");
    let mut s = Store::open(&db).unwrap();
    s.create_list(&NewList::new("known")).unwrap();
    s.create_list(&NewList::new("off")).unwrap();
    let mut near = pdq_of(&imgs[2]);
    for bit in [3, 40, 77, 150, 201] {
        near.0[bit / 8] ^= 1 << (bit % 8);
    }
    let ids = import(
        &mut s,
        "known",
        vec![
            HValue::Md5(md5_hex(&imgs[0]).parse().unwrap()),
            HValue::Sha256(hex_digest::<sha2::Sha256>(&imgs[1]).parse().unwrap()),
            HValue::Pdq(near),
            HValue::Pdq(pdq_of(&imgs[3])),
            HValue::Md5(md5_hex(&imgs[4]).parse().unwrap()),
        ],
    );
    // d.png's entry is disputed: never a hit.
    s.set_status(
        ids[3],
        &StatusChange {
            status: Status::Disputed,
            by: Some("analyst".into()),
            reason: Some("false positive".into()),
            at: None,
        },
    )
    .unwrap();
    // e.png is listed but allowlisted: reported, suppressed.
    s.allow(
        &HValue::Md5(md5_hex(&imgs[4]).parse().unwrap()),
        Some("news logo"),
        None,
    )
    .unwrap();
    let blake = blake3::hash(b"listed in a disabled list")
        .to_hex()
        .to_string();
    import(&mut s, "off", vec![HValue::Blake3(blake.parse().unwrap())]);
    s.set_list_enabled("off", false).unwrap();
    drop(s);

    let r = parse(
        scan_cmd(root)
            .args(["--no-state", "--db"])
            .arg(&db)
            .arg("t")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let m = |p: &str| r.one(p)["matches"].as_array().unwrap().clone();
    let a = m("t/a.png");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["list"], "known");
    assert_eq!(a[0]["signal_type"], "md5");
    assert_eq!(a[0]["hit_by"], "md5");
    assert_eq!(a[0]["distance"], 0);
    assert_eq!(a[0]["external_id"], "gifct-123");
    assert_eq!(a[0]["labels"], serde_json::json!(["entity:test"]));
    assert_eq!(a[0]["suppressed"], false);
    assert_eq!(a[0]["view"], "original");
    assert_eq!(a[0]["hash"], md5_hex(&imgs[0]));
    assert_eq!(m("t/b.png")[0]["signal_type"], "sha256");
    let c = m("t/c.png");
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0]["signal_type"].clone(), c[0]["distance"].clone()),
        ("pdq".into(), 5.into())
    );
    assert!(m("t/d.png").is_empty(), "disputed entries never hit");
    let e = m("t/e.png");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0]["suppressed"], true);
    assert!(m("t/f.txt").is_empty(), "disabled lists never hit");
    assert!(m("t/g.png").is_empty());

    // Only suppressed or no hits: exit 0.
    let quiet = scan_cmd(root)
        .args(["--no-state", "--db"])
        .arg(&db)
        .args(["t/e.png", "t/g.png"])
        .output()
        .unwrap();
    assert_eq!(quiet.status.code(), Some(0));

    // --matches-only keeps files with hits (suppressed ones included).
    let only = parse(
        scan_cmd(root)
            .args(["--no-state", "--matches-only", "--db"])
            .arg(&db)
            .arg("t")
            .output()
            .unwrap(),
    );
    let mut paths: Vec<&str> = only
        .records
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(paths, ["t/a.png", "t/b.png", "t/c.png", "t/e.png"]);

    // Human format: one line per hit.
    let human = scan_cmd(root)
        .args(["--no-state", "--format", "human", "--db"])
        .arg(&db)
        .arg("t")
        .output()
        .unwrap();
    let text = String::from_utf8(human.stdout).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("MATCH\t")).count(),
        3,
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("allowed\t")).count(),
        1,
        "{text}"
    );

    // A disabled or unknown list asked for by name is a clear error.
    for list in ["off", "nope"] {
        let bad = scan_cmd(root)
            .args(["--no-state", "--list", list, "--db"])
            .arg(&db)
            .arg("t")
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&bad.stderr).contains(list));
    }
}

fn reference_frames(conf: &Path, name: &str) -> Vec<VpdqFrame> {
    let text =
        std::fs::read_to_string(conf.join(format!("vpdq/reference-1fps/{name}.txt"))).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            VpdqFrame {
                frame: f[0].parse().unwrap(),
                quality: f[1].parse().unwrap(),
                hash: f[2].parse().unwrap(),
                timestamp: f[3].parse().unwrap(),
            }
        })
        .collect()
}

#[test]
fn videos_against_vpdq_and_image_entries() {
    let Some(conf) = conformance() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let mut s = Store::open(&db).unwrap();
    s.create_list(&NewList::new("videos")).unwrap();
    let orig = reference_frames(&conf, "chair-orig-22-sd-bar");
    // A longer listed video of which the original is only an excerpt: the
    // original's frames plus 60 seconds of other (random, far) frames.
    let mut longer = orig.clone();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..60u64 {
        let mut h = [0u8; 32];
        for b in h.iter_mut() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (seed >> 56) as u8;
        }
        longer.push(VpdqFrame {
            frame: 10_000 + i * 30,
            quality: 100,
            hash: hashdb::Pdq(h),
            timestamp: 400.0 + i as f64,
        });
    }
    let still = orig[5];
    let ids = import(
        &mut s,
        "videos",
        vec![
            HValue::Vpdq(orig.clone()),
            HValue::Vpdq(longer.clone()),
            HValue::Pdq(still.hash),
        ],
    );
    drop(s);
    let videos = conf.join("vpdq/videos");
    let out = scan_cmd(dir.path())
        .args(["--no-state", "--db"])
        .arg(&db)
        .arg(videos.join("chair-22-sd-grey-bar.mp4"))
        .arg(videos.join("chair-orig-22-sd-bar.mp4"))
        .output()
        .unwrap();
    let r = parse(out);
    let rec = |name: &str| {
        r.records
            .iter()
            .find(|x| x["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} missing: {}", r.stdout))
            .clone()
    };
    let grey = rec("chair-22-sd-grey-bar.mp4");
    // Decided by the build, not by the product's answer: with video
    // support an `unsupported` record is a failure.
    if !cfg!(feature = "video") {
        assert_eq!(grey["error"]["kind"], "unsupported");
        return;
    }
    assert_eq!(r.code, 1, "{}", r.stderr);
    let hit_on = |rec: &Value, entry: i64| -> Option<Value> {
        rec["matches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["entry"] == entry)
            .cloned()
    };
    // A re-encoded (grey) copy of the listed video: the vPDQ rule.
    let g = hit_on(&grey, ids[0]).unwrap_or_else(|| panic!("grey copy must match: {grey}"));
    assert_eq!(g["signal_type"], "vpdq");
    assert_eq!(g["vpdq"]["rule"], "vpdq");
    assert!(g["vpdq"]["target_percent"].as_f64().unwrap() >= 80.0, "{g}");
    assert!(!g["vpdq"]["timestamps"].as_array().unwrap().is_empty());
    // An excerpt of a listed longer video: the clip rule (only a third of
    // the listed video is there, but all of ours is from it).
    let p = hit_on(&grey, ids[1]).unwrap_or_else(|| panic!("excerpt must match: {grey}"));
    let score = &p["vpdq"];
    assert_eq!(score["rule"], "clip", "{p}");
    assert!(score["query_percent"].as_f64().unwrap() >= 80.0, "{p}");
    assert!(score["target_percent"].as_f64().unwrap() < 80.0, "{p}");
    assert!(score["matched_query_frames"].as_u64().unwrap() >= 5, "{p}");
    // With a clip rule that needs more frames than the excerpt has, no hit.
    let strict = parse(
        scan_cmd(dir.path())
            .args(["--no-state", "--min-clip-frames", "1000", "--db"])
            .arg(&db)
            .arg(videos.join("chair-22-sd-grey-bar.mp4"))
            .output()
            .unwrap(),
    );
    assert!(
        hit_on(&strict.records[0], ids[1]).is_none(),
        "{}",
        strict.stdout
    );
    // The listed still, found inside the original video: which frames hit.
    let o = rec("chair-orig-22-sd-bar.mp4");
    let st = hit_on(&o, ids[2]).unwrap_or_else(|| panic!("still must be found: {o}"));
    assert_eq!(st["hit_by"], "frames");
    let frames = st["frames"].as_array().unwrap();
    assert!(
        frames
            .iter()
            .any(|f| (f["timestamp"].as_f64().unwrap() - still.timestamp).abs() < 0.6),
        "{st}"
    );
}

/// A listed picture next to a damaged one: the exit code says both (3), so
/// a job that only reads the status does not miss the match.
#[test]
fn matches_and_errors_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let listed = jpeg(11);
    write(&root.join("up/listed.jpg"), &listed);
    write(&root.join("up/broken.jpg"), &truncated_jpeg(12));
    write(&root.join("up/other.png"), &png(13));
    let db = root.join("h.db");
    make_db(&db, "known", &[("md5", md5_hex(&listed))]);
    let summary = root.join("summary.json");

    let r = parse(
        scan_cmd(root)
            .args(["--no-state", "--summary-json"])
            .arg(&summary)
            .arg("--db")
            .arg(&db)
            .arg("up")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 3, "matches and errors\n{}", r.stderr);
    let hits = r.one("up/listed.jpg")["matches"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["list"], "known");
    assert_eq!(r.error_kind("up/broken.jpg").as_deref(), Some("decode"));
    assert!(r.one("up/other.png")["error"].is_null());
    let sum: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(
        (
            sum["matches"].as_u64(),
            sum["errors"].as_u64(),
            sum["exit_code"].as_u64()
        ),
        (Some(1), Some(1), Some(3)),
        "{sum}"
    );
    assert!(r.stderr.contains("matches: 1"), "{}", r.stderr);
    assert!(r.stderr.contains("errors: 1"), "{}", r.stderr);

    // The human format reports both too.
    let human = scan_cmd(root)
        .args(["--no-state", "--format", "human", "--db"])
        .arg(&db)
        .arg("up")
        .output()
        .unwrap();
    assert_eq!(human.status.code(), Some(3));
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(
        text.contains("MATCH\tup/listed.jpg\tknown entry "),
        "{text}"
    );
    assert!(text.contains("error\tup/broken.jpg\tdecode: "), "{text}");

    // Each alone keeps its code.
    for (paths, code) in [(&["up/listed.jpg"][..], 1), (&["up/broken.jpg"][..], 2)] {
        let o = scan_cmd(root)
            .args(["--no-state", "--db"])
            .arg(&db)
            .args(paths)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(code), "{paths:?}");
    }
}
