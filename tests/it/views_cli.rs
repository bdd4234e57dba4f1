//! The real binary: `hash --views` prints the views on the image line;
//! `scan` matches views by default, names the view on each match record,
//! and `--views none` / `--views dihedral` restrict them.

use crate::views_support;

use hashdb::model::{NewList, Record, Value as HValue};
use hashdb::store::Store;
use hashsieve::views::orient;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use views_support::*;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hashsieve"))
}

fn lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn record_hash(path: &Path) -> hashdb::Pdq {
    let out = bin().arg("hash").arg(path).output().unwrap();
    let v = &lines(&out.stdout)[0];
    v["pdq"][0]["hash"].as_str().unwrap().parse().unwrap()
}

#[test]
fn hash_views_output() {
    let dir = tempfile::tempdir().unwrap();
    let p = photo(200, 140, 1);
    let mut lb = Img::new(200, 190, [0, 0, 0]);
    lb.paste(&p, 0, 25);
    let f = dir.path().join("lb.png");
    std::fs::write(&f, png(&lb)).unwrap();

    let plain = lines(&bin().arg("hash").arg(&f).output().unwrap().stdout);
    assert!(plain[0].get("views").is_none(), "no views unless asked");

    // `--views all` names the set (it was once taken as a path); `--views`
    // alone, last, means the same.
    let out = bin()
        .args(["hash", "--views", "all"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = lines(&out.stdout);
    assert_eq!(all.len(), 1, "{all:?}");
    let alone = bin().arg("hash").arg(&f).arg("--views").output().unwrap();
    assert!(alone.status.success());
    assert_eq!(lines(&alone.stdout), all);
    let v = &all[0];
    let views = v["views"].as_array().expect("views array");
    let names: Vec<&str> = views.iter().map(|x| x["view"].as_str().unwrap()).collect();
    for want in [
        "rotate90",
        "rotate180",
        "rotate270",
        "flipx",
        "flipy",
        "flipplus1",
        "flipminus1",
        "trim",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for x in views {
        let h = x["hash"].as_str().unwrap();
        assert_eq!(h.len(), 64);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(x["quality"].as_u64().unwrap() <= 100);
    }
    // The trim view is the original picture's hash (within a few bits).
    let orig = dir.path().join("orig.png");
    std::fs::write(&orig, png(&p)).unwrap();
    let h0 = record_hash(&orig);
    let trim = views.iter().find(|x| x["view"] == "trim").unwrap();
    let th: hashdb::Pdq = trim["hash"].as_str().unwrap().parse().unwrap();
    assert!(th.distance(&h0) <= 16, "trim view at {}", th.distance(&h0));

    let out = bin()
        .args(["hash", "--views=dihedral"])
        .arg(&f)
        .output()
        .unwrap();
    let v = &lines(&out.stdout)[0];
    let names: Vec<&str> = v["views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["view"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7, "{names:?}");
    assert!(!names.contains(&"trim"));

    let bad = bin()
        .args(["hash", "--views=most"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("none, dihedral or all"));

    // A path right after `--views` is refused as a set, never hashed
    // without the views that were asked for.
    let path_as_set = bin().args(["hash", "--views"]).arg(&f).output().unwrap();
    assert_eq!(path_as_set.status.code(), Some(2));
    assert!(path_as_set.stdout.is_empty());
    assert!(String::from_utf8_lossy(&path_as_set.stderr).contains("none, dihedral or all"));
}

#[test]
fn scan_matches_views_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let p = photo(120, 80, 4);
    let big = photo(300, 200, 6);
    std::fs::create_dir_all(root.join("q")).unwrap();
    let orig = root.join("orig.png");
    std::fs::write(&orig, png(&p)).unwrap();
    let orig_big = root.join("orig_big.png");
    std::fs::write(&orig_big, png(&big)).unwrap();
    // Edited copies: a mirror of the small one, a letterboxed and a
    // captioned copy of the big one; plus an unrelated picture.
    let (m, w, h) = orient::apply(&p.rgb, p.w, p.h, 2).unwrap();
    std::fs::write(root.join("q/mirror.png"), png(&Img { w, h, rgb: m })).unwrap();
    let mut lb = Img::new(300, 266, [0, 0, 0]);
    lb.paste(&big, 0, 33);
    std::fs::write(root.join("q/letterbox.png"), png(&lb)).unwrap();
    let mut cap = Img::new(300, 270, [255, 255, 255]);
    let mut r = Rng(5);
    text(&mut cap, 10, 14, 280, 22, &mut r, [0, 0, 0]);
    cap.paste(&big, 0, 70);
    std::fs::write(root.join("q/caption.png"), png(&cap)).unwrap();
    std::fs::write(root.join("q/unrelated.png"), png(&photo(300, 200, 77))).unwrap();

    let db = root.join("h.db");
    let mut s = Store::open(&db).unwrap();
    s.create_list(&NewList::new("known")).unwrap();
    let recs = [record_hash(&orig), record_hash(&orig_big)]
        .into_iter()
        .map(|h| Ok(Record::new(HValue::Pdq(h))))
        .collect::<Vec<_>>();
    s.import("known", recs, Path::new("t"), Default::default())
        .unwrap();
    drop(s);

    let scan = |extra: &[&str]| -> Vec<(String, Vec<String>)> {
        let out = bin()
            .args([
                "scan",
                "--no-state",
                "--format",
                "jsonl",
                "--no-progress",
                "--db",
            ])
            .arg(&db)
            .args(extra)
            .arg(root.join("q"))
            .output()
            .unwrap();
        let mut v: Vec<(String, Vec<String>)> = lines(&out.stdout)
            .iter()
            .filter(|r| r.get("path").is_some())
            .map(|r| {
                let name = Path::new(r["path"].as_str().unwrap())
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let views = r["matches"]
                    .as_array()
                    .map(|m| {
                        m.iter()
                            .map(|x| x["view"].as_str().unwrap().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                assert!(
                    r.get("views").is_none(),
                    "views are not repeated in the scan report"
                );
                (name, views)
            })
            .collect();
        v.sort();
        v
    };
    let all = scan(&[]);
    let get = |v: &[(String, Vec<String>)], n: &str| {
        v.iter()
            .find(|(k, _)| k == n)
            .map(|(_, m)| m.clone())
            .unwrap()
    };
    assert_eq!(get(&all, "mirror.png"), vec!["flipy"]);
    assert_eq!(get(&all, "letterbox.png"), vec!["trim"]);
    assert_eq!(get(&all, "caption.png").len(), 1, "{all:?}");
    assert!(get(&all, "unrelated.png").is_empty());

    let none = scan(&["--views", "none"]);
    assert!(none.iter().all(|(_, m)| m.is_empty()), "{none:?}");
    let dihedral = scan(&["--views", "dihedral"]);
    assert_eq!(get(&dihedral, "mirror.png"), vec!["flipy"]);
    assert!(get(&dihedral, "letterbox.png").is_empty());
}
