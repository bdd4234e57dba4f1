//! Lists move between python-threatexchange (pytx, the real CLI from PyPI,
//! installed by scripts/install-deps.sh into a venv) and hashsieve in both
//! directions:
//! - what pytx writes (`threatexchange dataset -P -S` lines and
//!   `dataset -P --csv`) imports, the types hashsieve cannot match reported
//!   line by line with `--skip-invalid`;
//! - what `db export --format signal` writes is read by pytx's
//!   `local_file` exchange unchanged, and `threatexchange match` then finds
//!   the listed photos by PDQ and by MD5;
//! - `hashsieve hash` equals `threatexchange hash photo` on a PNG;
//! - vPDQ both ways, with pytx's vpdq extension: a video listed by
//!   hashsieve matches near-duplicates in `threatexchange match video`, and
//!   a video hashed by pytx matches in `hashsieve match --file` by vPDQ.
//!
//! pytx keeps its state in `~/.threatexchange`: each test gives it its own
//! HOME. Its built-in sample collaboration works offline.

use crate::ffmpeg_support;
use crate::fixtures;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_hashsieve");

/// The pytx CLI: `$HASHSIEVE_PYTX`, else the venv install-deps.sh makes.
fn pytx() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HASHSIEVE_PYTX") {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
    let p = cache.join("hashsieve/pytx-venv/bin/threatexchange");
    p.exists().then_some(p)
}

fn tx(bin: &Path, home: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .env("HOME", home)
        .current_dir(home)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "threatexchange {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn hs(db: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("HASHSIEVE_DB", db)
        .output()
        .unwrap()
}

fn hs_ok(db: &Path, args: &[&str]) -> String {
    let out = hs(db, args);
    assert!(
        out.status.success(),
        "hashsieve {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The lines of a signal export, as a set.
fn export_lines(db: &Path, list: &str) -> BTreeSet<String> {
    hs_ok(db, &["db", "export", list, "--format", "signal"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// What hashsieve keeps of pytx's `type signal` lines: the types it can
/// match, `video_sha256` as our `sha256`.
fn matchable(lines: &str) -> BTreeSet<String> {
    lines
        .lines()
        .filter_map(|l| {
            let (t, v) = l.split_once(' ')?;
            match t {
                "pdq" | "video_md5" => Some(format!("{t} {v}")),
                "video_sha256" => Some(format!("sha256 {v}")),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn pytx_dataset_lines_and_csv_import() {
    let Some(bin) = pytx() else {
        fixtures::missing("the pytx CLI (scripts/install-deps.sh installs it)");
        return;
    };
    let home = tempfile::tempdir().unwrap();
    tx(&bin, home.path(), &["fetch"]);
    let lines = tx(&bin, home.path(), &["dataset", "-P", "-S"]);
    let csv = tx(&bin, home.path(), &["dataset", "-P", "--csv"]);
    let want = matchable(&lines);
    assert!(
        want.iter().any(|l| l.starts_with("pdq "))
            && want.iter().any(|l| l.starts_with("video_md5 ")),
        "pytx's sample data has PDQ and MD5 signals: {lines}"
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let lines_file = dir.path().join("dataset.txt");
    let csv_file = dir.path().join("dataset.csv");
    std::fs::write(&lines_file, &lines).unwrap();
    std::fs::write(&csv_file, &csv).unwrap();
    hs_ok(&db, &["db", "list-create", "LINES"]);
    hs_ok(&db, &["db", "list-create", "CSV"]);
    // Without --skip-invalid the types we cannot match stop the import
    // (nothing written); with it each is reported and the rest imports.
    let out = hs(
        &db,
        &["db", "import", "LINES", lines_file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(export_lines(&db, "LINES").is_empty());
    let out = hs(
        &db,
        &[
            "db",
            "import",
            "--skip-invalid",
            "LINES",
            lines_file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    let unknown = lines.lines().count() - want.len();
    assert!(
        report.contains(&format!("\"skipped\":{unknown}")),
        "skipped count in: {report}"
    );
    assert_eq!(export_lines(&db, "LINES"), want);
    hs_ok(
        &db,
        &[
            "db",
            "import",
            "--skip-invalid",
            "CSV",
            csv_file.to_str().unwrap(),
        ],
    );
    assert_eq!(export_lines(&db, "CSV"), want);
}

fn png(path: &Path, seed: u32) {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        let v = ((x * 7 + y * 3 + seed * 50) % 256) as u8;
        let s = if ((x / 16) + (y / 16) + seed).is_multiple_of(2) {
            40
        } else {
            200
        };
        image::Rgb([v, s, v.wrapping_add(s)])
    });
    img.save(path).unwrap();
}

#[test]
fn signal_export_matches_in_pytx() {
    let Some(bin) = pytx() else {
        fixtures::missing("the pytx CLI (scripts/install-deps.sh installs it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let (a, b, c) = (
        dir.path().join("a.png"),
        dir.path().join("b.png"),
        dir.path().join("c.png"),
    );
    png(&a, 1);
    png(&b, 4);
    png(&c, 7);
    // Our PDQ of a PNG is pytx's.
    let home = tempfile::tempdir().unwrap();
    let ours: serde_json::Value =
        serde_json::from_str(&hs_ok(&db, &["hash", a.to_str().unwrap()])).unwrap();
    let theirs = tx(&bin, home.path(), &["hash", "photo", a.to_str().unwrap()]);
    assert_eq!(
        theirs.trim(),
        format!("pdq {}", ours["pdq"][0]["hash"].as_str().unwrap())
    );
    // Export two photos' hashes; pytx reads them through local_file.
    hs_ok(&db, &["db", "list-create", "HS"]);
    hs_ok(
        &db,
        &["db", "add", "HS", a.to_str().unwrap(), b.to_str().unwrap()],
    );
    let sig = dir.path().join("hs.txt");
    hs_ok(
        &db,
        &[
            "db",
            "export",
            "HS",
            "--format",
            "signal",
            "-o",
            sig.to_str().unwrap(),
        ],
    );
    let text = std::fs::read_to_string(&sig).unwrap();
    assert!(text.lines().any(|l| l.starts_with("video_md5 ")), "{text}");
    tx(
        &bin,
        home.path(),
        &[
            "config",
            "collab",
            "edit",
            "local_file",
            "--create",
            "--filename",
            sig.to_str().unwrap(),
            "HS",
        ],
    );
    tx(&bin, home.path(), &["fetch"]);
    // Both listed photos match by PDQ (distance 0) and by MD5; the
    // unlisted one matches neither.
    for p in [&a, &b] {
        let m = tx(&bin, home.path(), &["match", "photo", p.to_str().unwrap()]);
        assert!(m.lines().any(|l| l.starts_with("pdq 0 (HS)")), "{m}");
        let m = tx(&bin, home.path(), &["match", "video", p.to_str().unwrap()]);
        assert!(m.lines().any(|l| l.starts_with("video_md5 - (HS)")), "{m}");
    }
    let m = tx(&bin, home.path(), &["match", "video", c.to_str().unwrap()]);
    assert!(!m.contains("(HS)"), "{m}");
    // And what pytx lists back imports into a new list unchanged.
    let back = tx(&bin, home.path(), &["dataset", "-P", "-S"]);
    let back_file = dir.path().join("back.txt");
    std::fs::write(&back_file, &back).unwrap();
    hs_ok(&db, &["db", "list-create", "BACK"]);
    hs_ok(
        &db,
        &[
            "db",
            "import",
            "--skip-invalid",
            "BACK",
            back_file.to_str().unwrap(),
        ],
    );
    let exported: BTreeSet<String> = text
        .lines()
        .filter(|l| l.starts_with("pdq ") || l.starts_with("video_md5 "))
        .map(str::to_string)
        .collect();
    assert!(export_lines(&db, "BACK").is_superset(&exported));
}

/// `hashsieve hash` against `threatexchange hash photo` on the PDQ
/// conformance images: the same hash on PNGs, a matching one (within PDQ's
/// threshold 31) on JPEGs, whose decoders differ slightly (libjpeg-turbo
/// under PIL, zune-jpeg here), and the same quality gate: pytx prints no
/// hash where our quality is below 50.
#[test]
fn photo_hashes_and_quality_gate_agree_with_pytx() {
    let Some(bin) = pytx() else {
        fixtures::missing("the pytx CLI (scripts/install-deps.sh installs it)");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/pdq");
    let mut files: Vec<PathBuf> = ["bridge-mods", "misc-images"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d)).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    if files.is_empty() {
        fixtures::missing("../shared/conformance/pdq");
        return;
    }
    files.sort();
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("unused.db");
    let (mut exact, mut close, mut gated) = (0, 0, 0);
    for f in &files {
        let theirs = tx(&bin, home.path(), &["hash", "photo", f.to_str().unwrap()]);
        let theirs = theirs
            .trim()
            .strip_prefix("pdq")
            .unwrap_or("")
            .trim()
            .to_string();
        let ours: serde_json::Value = serde_json::from_str(
            hs_ok(&db, &["hash", f.to_str().unwrap()])
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        let p = &ours["pdq"][0];
        let quality = p["quality"].as_u64().unwrap_or(0);
        if quality < 50 {
            assert!(
                theirs.is_empty(),
                "{f:?}: quality {quality}, pytx gave {theirs:?}"
            );
            gated += 1;
            continue;
        }
        let ours = p["hash"].as_str().unwrap();
        let d: u32 = (0..64)
            .step_by(16)
            .map(|i| {
                let a = u64::from_str_radix(&ours[i..i + 16], 16).unwrap();
                let b = u64::from_str_radix(&theirs[i..i + 16], 16).unwrap();
                (a ^ b).count_ones()
            })
            .sum();
        let png = f.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"));
        if png {
            assert_eq!(d, 0, "{f:?}");
        }
        assert!(d <= 31, "{f:?}: distance {d} to pytx's hash");
        if d == 0 {
            exact += 1;
        } else {
            close += 1;
        }
    }
    println!(
        "{} images: {exact} equal to pytx, {close} within 31 bits, {gated} below the quality gate",
        files.len()
    );
    assert!(exact > 0 && gated > 0);
}

/// The pytx CLI with its vpdq extension's module (`vpdq` from PyPI, a
/// native build that scripts/install-deps.sh adds to the pytx venv).
fn pytx_with_vpdq() -> Option<PathBuf> {
    let bin = pytx()?;
    let python = bin.with_file_name("python3");
    let ok = Command::new(&python)
        .args(["-c", "import vpdq"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(bin)
}

/// A fresh pytx HOME with the vpdq extension turned on.
fn pytx_home_with_vpdq(bin: &Path) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    tx(
        bin,
        home.path(),
        &[
            "config",
            "extensions",
            "add",
            "threatexchange.extensions.vpdq.manifest",
        ],
    );
    home
}

/// vPDQ lists move both ways through the pytx CLI, on the vPDQ
/// conformance videos: `chair-orig-22-sd-bar` listed, its grey and logo
/// versions (other files: other MD5s) must match it by vPDQ in both tools,
/// and `chair-19-sd-bar` (another clip) in neither.
#[test]
fn vpdq_lists_move_both_ways_with_pytx() {
    let Some(bin) = pytx_with_vpdq() else {
        fixtures::missing(
            "the pytx CLI with the vpdq module (scripts/install-deps.sh installs both)",
        );
        return;
    };
    if !ffmpeg_support::require_ffmpeg() {
        return;
    }
    let Some(root) = fixtures::conformance(&["vpdq/videos"]) else {
        return;
    };
    let videos = root.join("vpdq/videos");
    let video = |name: &str| videos.join(format!("{name}.mp4"));
    let listed = video("chair-orig-22-sd-bar");
    let near = [
        video("chair-22-sd-grey-bar"),
        video("chair-22-with-small-logo-bar"),
    ];
    let other = video("chair-19-sd-bar");
    let dir = tempfile::tempdir().unwrap();

    // hashsieve -> pytx: `db add`, `db export --format signal`, pytx's
    // local_file exchange, `threatexchange match video`.
    let db = dir.path().join("hs.db");
    hs_ok(&db, &["db", "list-create", "HS"]);
    hs_ok(&db, &["db", "add", "HS", listed.to_str().unwrap()]);
    let sig = dir.path().join("hs.txt");
    hs_ok(
        &db,
        &[
            "db",
            "export",
            "HS",
            "--format",
            "signal",
            "-o",
            sig.to_str().unwrap(),
        ],
    );
    let home = pytx_home_with_vpdq(&bin);
    tx(
        &bin,
        home.path(),
        &[
            "config",
            "collab",
            "edit",
            "local_file",
            "--create",
            "--filename",
            sig.to_str().unwrap(),
            "HS",
        ],
    );
    tx(&bin, home.path(), &["fetch"]);
    let pytx_vpdq_hit = |v: &Path| {
        tx(&bin, home.path(), &["match", "video", v.to_str().unwrap()])
            .lines()
            .any(|l| l.starts_with("vpdq ") && l.contains("(HS)"))
    };
    for v in &near {
        assert!(
            pytx_vpdq_hit(v),
            "pytx does not match {} by vPDQ",
            v.display()
        );
    }
    assert!(!pytx_vpdq_hit(&other));

    // pytx -> hashsieve: `threatexchange hash video` into a local_file
    // exchange, `dataset -P -S`, `db import`, `hashsieve match --file`.
    let home = pytx_home_with_vpdq(&bin);
    let hashes = tx(
        &bin,
        home.path(),
        &["hash", "video", listed.to_str().unwrap()],
    );
    assert!(hashes.lines().any(|l| l.starts_with("vpdq [")), "{hashes}");
    let tx_file = dir.path().join("tx.txt");
    std::fs::write(&tx_file, &hashes).unwrap();
    tx(
        &bin,
        home.path(),
        &[
            "config",
            "collab",
            "edit",
            "local_file",
            "--create",
            "--filename",
            tx_file.to_str().unwrap(),
            "TX",
        ],
    );
    tx(&bin, home.path(), &["fetch"]);
    let lines = tx(&bin, home.path(), &["dataset", "-P", "-S"]);
    let lines_file = dir.path().join("dataset.txt");
    std::fs::write(&lines_file, &lines).unwrap();
    let db = dir.path().join("from_pytx.db");
    hs_ok(&db, &["db", "list-create", "TX"]);
    hs_ok(
        &db,
        &[
            "db",
            "import",
            "--skip-invalid",
            "TX",
            lines_file.to_str().unwrap(),
        ],
    );
    let vpdq_hit = |v: &Path| {
        let out = hs(
            &db,
            &["match", "--file", v.to_str().unwrap(), "--views", "none"],
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|r| r["hit_by"] == "vpdq" && r["list"] == "TX")
    };
    for v in &near {
        assert!(
            vpdq_hit(v),
            "hashsieve does not match {} by vPDQ",
            v.display()
        );
    }
    assert!(!vpdq_hit(&other));
}
