//! The rotation, mirror and EXIF views are the reference's hash of the
//! turned pixels, bit for bit: `hashsieve hash --views=dihedral` against
//! Meta's C++ PDQ (PyPI `pdqhash`) on PIL-transposed pictures
//! (`tests/python/pdq_oriented.py`): scikit-image's fine textures
//! (`brick`, `grass`, `gravel`), photos of several non-square sizes, odd
//! crops, a 64x64 crop, a 1500x1003 noise picture, PNGs stored turned under
//! each EXIF orientation, and the conformance set's decoded PNGs when
//! `../shared/conformance` is there.
//!
//! The Python side needs `pdqhash`, `pillow`, `numpy` and `scikit-image`
//! (`scripts/install-deps.sh` puts them in a venv under
//! `~/.cache/hashsieve/pyref-venv`); the interpreter is
//! `$HASHSIEVE_PYTHON`, else that venv's, else `python3`.
//! Without them the test skips locally and fails in CI
//! (`tests/fixtures/mod.rs`).

use crate::fixtures;

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const VIEWS: [&str; 8] = [
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flipx",
    "flipy",
    "flipplus1",
    "flipminus1",
];

/// A Python with the reference and the test pictures' packages, if any.
fn python() -> Option<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    let candidates: Vec<PathBuf> = std::env::var_os("HASHSIEVE_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain(cache.map(|c| c.join("hashsieve/pyref-venv/bin/python3")))
        .chain(["python3".into()])
        .collect();
    candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import pdqhash, PIL, numpy, skimage"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn distance(a: &str, b: &str) -> u32 {
    let a: hashdb::Pdq = a.parse().expect("hex");
    let b: hashdb::Pdq = b.parse().expect("hex");
    a.distance(&b)
}

/// `hash FLAGS FILES` records keyed by path.
fn ours(files: &[PathBuf], flags: &[&str]) -> HashMap<String, Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_hashsieve"))
        .arg("hash")
        .args(flags)
        .args(files)
        .output()
        .expect("run hashsieve");
    assert!(
        out.status.success(),
        "hashsieve hash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json line");
            (v["path"].as_str().expect("path").to_string(), v)
        })
        .collect()
}

/// `(hash, quality)` of view `name` in one of our records.
fn view_of(rec: &Value, name: &str) -> Option<(String, u64)> {
    let item = if name == "original" {
        rec["pdq"].get(0)?
    } else {
        rec["views"]
            .as_array()?
            .iter()
            .find(|v| v["view"] == name)?
    };
    Some((
        item["hash"].as_str()?.to_string(),
        item["quality"].as_u64()?,
    ))
}

#[test]
fn turned_views_equal_the_reference_hash_of_turned_pixels() {
    let Some(py) = python() else {
        fixtures::missing(
            "a python3 with pdqhash, pillow, numpy and scikit-image (scripts/install-deps.sh)",
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let conformance = root.join("../shared/conformance/pdq/decoded");
    let mut extra: Vec<PathBuf> = std::fs::read_dir(&conformance)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "png"))
                .collect()
        })
        .unwrap_or_default();
    extra.sort();
    let out = Command::new(&py)
        .arg(root.join("tests/python/pdq_oriented.py"))
        .arg(dir.path())
        .args(&extra)
        .output()
        .expect("run the reference script");
    assert!(
        out.status.success(),
        "pdq_oriented.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let files: Vec<PathBuf> = expected
        .iter()
        .map(|e| {
            let f = e["file"].as_str().expect("file");
            let p = Path::new(f);
            if p.is_absolute() || p.exists() {
                p.to_path_buf()
            } else {
                dir.path().join(f)
            }
        })
        .collect();
    let recs = ours(&files, &["--views=dihedral"]);
    let by_name = |p: &Path| recs.get(p.to_str().expect("utf-8 path"));

    let mut compared = 0;
    let mut wrong = Vec::new();
    for (e, path) in expected.iter().zip(&files) {
        let rec = by_name(path).unwrap_or_else(|| panic!("no record for {}", path.display()));
        assert!(
            rec["error"].is_null(),
            "{}: {}",
            path.display(),
            rec["error"]
        );
        let names = VIEWS.iter().copied().chain(e.get("exif").map(|_| "exif"));
        for name in names {
            let want = e[name][0].as_str().expect("hex");
            let want_q = e[name][1].as_u64().expect("quality");
            let Some((got, got_q)) = view_of(rec, name) else {
                // A view equal to the hash of record may be left out by no
                // rule: every turn must be there.
                wrong.push(format!("{} {name}: missing", path.display()));
                continue;
            };
            let d = distance(&got, want);
            if d != 0 || got_q != want_q {
                wrong.push(format!(
                    "{} {name}: distance {d}, quality {got_q} vs {want_q}",
                    path.display()
                ));
            }
            compared += 1;
        }
    }
    println!(
        "{compared} hashes compared on {} pictures ({} from the conformance set)",
        files.len(),
        extra.len()
    );
    assert!(
        wrong.is_empty(),
        "not the reference's hash:\n{}",
        wrong.join("\n")
    );
    assert!(files.len() >= 25, "too few pictures: {}", files.len());

    // The case: the brick wall stored turned, tagged upright. Its
    // EXIF view is the listed original's hash; the reference's dihedral
    // (the DCT trick, `--dihedral`) is not.
    let brick = by_name(&dir.path().join("brick.png")).expect("brick");
    let turned = by_name(&dir.path().join("brick-exif6.png")).expect("brick-exif6");
    let (listed, _) = view_of(brick, "original").expect("brick hash");
    let (exif, _) = view_of(turned, "exif").expect("exif view");
    assert_eq!(distance(&listed, &exif), 0);
    let export = ours(&[dir.path().join("brick-exif6.png")], &["--dihedral"]);
    let trick = export
        .values()
        .next()
        .and_then(|r| r["dihedral"]["rotate270"].as_str())
        .expect("dihedral export");
    let d = distance(&listed, trick);
    println!("brick stored turned: EXIF view at 0, the reference's dihedral rotate270 at {d}");
    assert!(d > 31, "the DCT trick was expected to miss this texture");
}
