//! `compare A B` by TMK+PDQF: the scores of two whole-video hashes, each
//! a `.tmk` file or a video hashed now, and the verdict. `.tmk` files are
//! recognised by content (`TMK` at the start), so a damaged or foreign
//! `.tmk` gets its own error instead of "not an image".

use anyhow::{bail, Context};
use hashdb::tmk::{scores, TmkHash, TmkScores, TmkThresholds};
use hashsieve::float_json::shortest;
use hashsieve::hashing::{hash_path, HashConfig, Worker};
use hashsieve::matching::{tmk_view_thresholds, tmk_views};
use hashsieve::views::View;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// Whether the file is meant as a TMK file: named `.tmk`, or starting
/// like one (`TMK`, any version). A damaged `.tmk` then gets the reader's
/// error (wrong magic, truncated, ...) rather than "not a video".
pub(super) fn looks_like_tmk(path: &Path) -> anyhow::Result<bool> {
    if path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("tmk"))
    {
        return Ok(true);
    }
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

/// A video's TMK+PDQF views, in the order they are tried.
type TmkViews = Vec<(View, Arc<TmkHash>)>;

/// The TMK+PDQF of `path`: a `.tmk` file read, or a video hashed now,
/// with its TMK views when `cfg` asks for views (see
/// [`hashsieve::matching::tmk_views`]; none for a `.tmk` file).
fn load_any(path: &Path, cfg: &HashConfig) -> anyhow::Result<(TmkHash, TmkViews)> {
    if looks_like_tmk(path)? {
        return Ok((load(path)?, Vec::new()));
    }
    let rec = hash_path(path, cfg, &mut Worker::new());
    if let Some(e) = &rec.error {
        bail!("{}: {e}", path.display());
    }
    if rec.media != hashsieve::record::Media::Video {
        bail!(
            "{}: neither a video nor a .tmk file (detected: {}); TMK+PDQF compares videos",
            path.display(),
            rec.media
        );
    }
    match &rec.tmk {
        Some(h) => Ok((TmkHash::clone(h), tmk_views(&rec))),
        None => bail!(
            "{}: no TMK+PDQF: {}",
            path.display(),
            rec.video
                .as_ref()
                .and_then(|v| v.tmk_error.as_deref())
                .unwrap_or("not computed")
        ),
    }
}

/// Refuse thresholds that are not numbers.
pub(super) fn check_thresholds(t: TmkThresholds) -> anyhow::Result<()> {
    for (flag, v) in [("--tmk-level1", t.level1), ("--tmk-level2", t.level2)] {
        if !v.is_finite() {
            bail!("{flag} must be a number, got {v}");
        }
    }
    Ok(())
}

/// The scores of `a` against `b` as JSON (`level1`, `level2`, `match`,
/// the frame counts), level-2 computed even when level-1 fails.
pub(super) fn json(a: &TmkHash, b: &TmkHash, t: TmkThresholds) -> serde_json::Value {
    let s = scores(a, b);
    serde_json::json!({"level1": shortest(s.level1), "level2": shortest(s.level2),
        "match": t.is_match(s), "frames_a": a.frame_count(), "frames_b": b.frame_count()})
}

/// The text line of [`json`].
pub(super) fn line(s: TmkScores, a: &TmkHash, b: &TmkHash) -> String {
    format!(
        "TMK+PDQF level-1 {:.6}, level-2 {:.6} (A {} frames, B {} at 15 fps)",
        s.level1,
        s.level2,
        a.frame_count(),
        b.frame_count()
    )
}

/// Compare two videos or `.tmk` files by TMK+PDQF; the exit code (1
/// match, 0 no match). `a_cfg` hashes A: with views (`--views`), A's TMK
/// views (mirrored, letterbox-trimmed, beside a caption band) are tried
/// when the plain TMK does not match, each at the thresholds raised to
/// the view floor as `scan` does, and the first that matches is named
/// ("view").
pub(super) fn run(
    a: &Path,
    b: &Path,
    a_cfg: &HashConfig,
    cfg: &HashConfig,
    t: TmkThresholds,
    json_out: bool,
) -> anyhow::Result<u8> {
    check_thresholds(t)?;
    let ((ha, a_views), (hb, _)) = (load_any(a, a_cfg)?, load_any(b, cfg)?);
    // Level-2 even when level-1 fails, so the report shows both.
    let s = scores(&ha, &hb);
    let mut is_match = t.is_match(s);
    let by_view = if is_match {
        None
    } else {
        a_views.iter().find_map(|(v, h)| {
            let vs = scores(h, &hb);
            tmk_view_thresholds(*v, t).is_match(vs).then_some((*v, vs))
        })
    };
    is_match |= by_view.is_some();
    if json_out {
        let mut j = json(&ha, &hb, t);
        j["kind"] = "tmk".into();
        j["match"] = is_match.into();
        if let Some((v, vs)) = by_view {
            j["view"] = v.to_string().into();
            j["view_level1"] = shortest(vs.level1).into();
            j["view_level2"] = shortest(vs.level2).into();
        }
        println!("{j}");
    } else {
        println!("{}", line(s, &ha, &hb));
        if let Some((v, vs)) = by_view {
            println!(
                "view {v} of A: level-1 {:.6}, level-2 {:.6}",
                vs.level1, vs.level2
            );
        }
        println!(
            "match: {}{} (level-1 >= {}, level-2 >= {})",
            if is_match { "yes" } else { "no" },
            by_view
                .map(|(v, _)| format!(" by view {v}"))
                .unwrap_or_default(),
            t.level1,
            t.level2
        );
    }
    Ok(u8::from(is_match))
}
