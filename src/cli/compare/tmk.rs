//! `compare A.tmk B.tmk`: the TMK+PDQF scores of two `.tmk` hashes and the
//! verdict. Files are recognised by content (`TMK` at the start), so a
//! damaged or foreign `.tmk` gets its own error instead of "not an image".

use anyhow::{bail, Context};
use hashdb::tmk::{scores, TmkHash, TmkThresholds};
use std::io::Read;
use std::path::Path;

/// Whether the file starts like a TMK file (`TMK`, any version).
pub(super) fn looks_like_tmk(path: &Path) -> anyhow::Result<bool> {
    let mut head = Vec::with_capacity(3);
    std::fs::File::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .take(3)
        .read_to_end(&mut head)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(head == b"TMK")
}

fn load(path: &Path) -> anyhow::Result<TmkHash> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    TmkHash::read_from(std::io::BufReader::new(file))
        .with_context(|| format!("{} (TMK file)", path.display()))
}

/// Compare two `.tmk` files; the exit code (1 match, 0 no match).
pub(super) fn run(a: &Path, b: &Path, t: TmkThresholds, json: bool) -> anyhow::Result<u8> {
    for (flag, v) in [("--tmk-level1", t.level1), ("--tmk-level2", t.level2)] {
        if !v.is_finite() {
            bail!("{flag} must be a number, got {v}");
        }
    }
    let (ha, hb) = (load(a)?, load(b)?);
    // Level-2 even when level-1 fails, so the report shows both.
    let s = scores(&ha, &hb);
    let is_match = t.is_match(s);
    if json {
        println!(
            "{}",
            serde_json::json!({"kind": "tmk", "level1": shortest(s.level1),
                "level2": shortest(s.level2),
                "match": is_match, "frames_a": ha.frame_count(), "frames_b": hb.frame_count()})
        );
    } else {
        println!(
            "TMK+PDQF level-1 {:.6}, level-2 {:.6} (A {} frames, B {} at 15 fps)",
            s.level1,
            s.level2,
            ha.frame_count(),
            hb.frame_count()
        );
        println!(
            "match: {} (level-1 >= {}, level-2 >= {})",
            if is_match { "yes" } else { "no" },
            t.level1,
            t.level2
        );
    }
    Ok(u8::from(is_match))
}

/// The float32 as the f64 of its shortest decimal, so JSON shows
/// `0.9890828` rather than the f64 expansion `0.98908275365829467`; read
/// back as float32, it is the exact score.
fn shortest(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}
