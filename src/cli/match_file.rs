//! `hashsieve match --file MEDIA`: one media file hashed as `scan` hashes
//! it (digests, PDQ or vPDQ frames, and its query-side views unless
//! `--views none`) and matched the same way, so a single lookup finds a
//! mirrored or letterboxed repost as a scan would. Output: one JSON line
//! per hit, `scan`'s match record (with `"view"`).

use super::db::DbLocation;
use anyhow::Context;
use hashsieve::hashing::{hash_path, HashConfig, Worker};
use hashsieve::matching::{MatchConfig, RecordMatcher};
use hashsieve::views::ViewSet;
use std::io::Write;
use std::path::Path;

/// Match `path` against `lists` (all enabled lists when empty), with each
/// list's own thresholds. Exit code: 1 when an unsuppressed hit exists.
///
/// A database with no enabled list is refused unless `allow_empty`.
pub fn run(
    loc: &DbLocation,
    lists: &[String],
    views: ViewSet,
    path: &Path,
    allow_empty: bool,
) -> anyhow::Result<u8> {
    let store = loc.open_existing()?;
    super::db::require_enabled_list(&store, allow_empty)?;
    let cfg = MatchConfig {
        lists: (!lists.is_empty()).then(|| lists.to_vec()),
        ..MatchConfig::default()
    };
    let matcher = RecordMatcher::load(store, &cfg).context("loading the hash lists")?;
    let hash_cfg = HashConfig {
        views,
        ..HashConfig::default()
    };
    let rec = hash_path(path, &hash_cfg, &mut Worker::new());
    if let Some(e) = &rec.error {
        anyhow::bail!("{}: {:?}: {}", path.display(), e.kind, e.message);
    }
    let hits = matcher.match_record(&rec);
    let mut out = std::io::stdout().lock();
    for h in &hits {
        let mut j = serde_json::to_value(h).context("serialising a match")?;
        j["path"] = serde_json::json!(rec.path);
        writeln!(out, "{j}")?;
    }
    out.flush()?;
    Ok(u8::from(hits.iter().any(|h| !h.suppressed)))
}
