//! `hashsieve match`: look hashes up in the lists.
//!
//! One query from the flags, or many from `--queries FILE|-` (one
//! `<signal_type> <value>` or bare PDQ hex, optionally `hex,quality`, per
//! line), all answered from one loaded index. Output is JSON Lines: one line
//! per hit for a single query; one line per query, in input order, with its
//! hits, for `--queries`. A hit is the match record every other way of
//! matching prints ([`hashsieve::matching::MatchRecord`]). Exit code: 0 no match, 1 match, 2 error (a bad
//! query line is reported on its own line and the others are answered), 3
//! matches and bad lines ([`hashsieve::exit::code`]).

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use hashdb::formats;
use hashdb::model::Value;
use hashdb::{Pdq, SignalType};
use hashsieve::matching::{MatchConfig, MatchRecord, RecordMatcher};
use serde_json::{json, Value as Json};

use super::db::DbLocation;

/// Look hashes up in the hash lists; print the hits as JSON Lines.
#[derive(clap::Args, Debug)]
pub struct MatchArgs {
    #[command(flatten)]
    pub location: DbLocation,

    /// A PDQ hash (64 hex digits).
    #[arg(long, value_name = "HEX", group = "query")]
    pub pdq: Option<Pdq>,
    /// The PDQ query's quality, if known (queries below a list's gate do not match it).
    #[arg(long, requires = "pdq")]
    pub quality: Option<u8>,
    /// An MD5 digest.
    #[arg(long, value_name = "HEX", group = "query")]
    pub md5: Option<hashdb::Md5>,
    /// A SHA-256 digest.
    #[arg(long, value_name = "HEX", group = "query")]
    pub sha256: Option<hashdb::Sha256>,
    /// A BLAKE3 digest.
    #[arg(long, value_name = "HEX", group = "query")]
    pub blake3: Option<hashdb::Blake3>,
    /// A vPDQ file (`frame,quality,hash,timestamp` lines) of the query video.
    #[arg(long, value_name = "FILE", group = "query")]
    pub vpdq: Option<PathBuf>,
    /// A `.tmk` file (TMK+PDQF, as Meta's `tmk-hash-video` and `hash
    /// --format tmk` write it) of the query video.
    #[arg(long, value_name = "FILE", group = "query")]
    pub tmk: Option<PathBuf>,
    /// Many queries, one per line (`-` = standard input).
    #[arg(long, value_name = "FILE", group = "query")]
    pub queries: Option<PathBuf>,
    /// A media file, hashed and matched as `scan` does, with its views
    /// (each list's own thresholds; one `scan` match record per hit).
    #[arg(long, value_name = "MEDIA", group = "query")]
    pub file: Option<PathBuf>,
    /// Views of --file matched besides the hash of record, as in `scan`:
    /// `all`, `dihedral` or `none`.
    #[arg(long, value_name = "SET", default_value = "all", requires = "file")]
    pub views: hashsieve::views::ViewSet,

    /// Only these lists (repeatable; default: every enabled list).
    #[arg(long = "list", value_name = "LIST")]
    pub lists: Vec<String>,
    /// PDQ distance to use instead of each list's own threshold.
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=256))]
    pub threshold: Option<u32>,
    #[command(flatten)]
    pub rule: super::rule_args::VideoRuleArgs,
    /// vPDQ: frames below this quality are ignored.
    #[arg(long, default_value_t = 50)]
    pub vpdq_quality: u8,
    /// TMK+PDQF level-1 threshold instead of each list's own.
    #[arg(long, value_name = "SCORE")]
    pub tmk_level1: Option<f32>,
    /// TMK+PDQF level-2 threshold instead of each list's own.
    #[arg(long, value_name = "SCORE")]
    pub tmk_level2: Option<f32>,
    /// Run even when the database has no enabled list (every answer is
    /// then "no match"); without it, that is an error.
    #[arg(long)]
    pub allow_empty: bool,
}

impl MatchArgs {
    /// The lists to match and this run's overrides of their thresholds.
    fn config(&self) -> anyhow::Result<MatchConfig> {
        Ok(MatchConfig {
            lists: (!self.lists.is_empty()).then(|| self.lists.clone()),
            video: self.rule.to_override()?,
            threshold: self.threshold,
            vpdq_quality: Some(self.vpdq_quality),
            tmk: self.tmk_thresholds()?,
        })
    }

    /// `--tmk-level1/2`: both or none (a lone one keeps each list's other
    /// threshold as the default would not).
    fn tmk_thresholds(&self) -> anyhow::Result<Option<hashdb::tmk::TmkThresholds>> {
        match (self.tmk_level1, self.tmk_level2) {
            (None, None) => Ok(None),
            (Some(l1), Some(l2)) if l1.is_finite() && l2.is_finite() => {
                Ok(Some(hashdb::tmk::TmkThresholds {
                    level1: l1,
                    level2: l2,
                }))
            }
            (Some(_), Some(_)) => anyhow::bail!("--tmk-level1 and --tmk-level2 must be numbers"),
            _ => anyhow::bail!("give --tmk-level1 and --tmk-level2 together"),
        }
    }
}

/// One hit as JSON: the match record `scan`, `match --file` and
/// `/v1/match` print (see the README's *Match records*).
fn hit_json(h: &MatchRecord) -> anyhow::Result<Json> {
    serde_json::to_value(h).context("serialising a match")
}

/// Parse one `--queries` line: `<signal_type> <value>`, `hex` or `hex,quality`.
fn parse_query(line: &str) -> Result<(Value, Option<u8>), String> {
    let line = line.trim();
    if let Some((t, v)) = line.split_once(char::is_whitespace) {
        let t: SignalType = t
            .parse()
            .map_err(|e: hashdb::UnknownSignalType| e.to_string())?;
        let v = Value::parse(t, v).map_err(|e| format!("bad {t} value: {e}"))?;
        return Ok((v, None));
    }
    let (hex, q) = match line.split_once(',') {
        Some((h, q)) => (
            h,
            Some(
                q.trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|q| *q <= 100)
                    .ok_or_else(|| format!("bad quality {q:?}"))?,
            ),
        ),
        None => (line, None),
    };
    let p: Pdq = hex.parse().map_err(|e| format!("bad PDQ hash: {e}"))?;
    Ok((Value::Pdq(p), q))
}

fn counts(hits: &[MatchRecord]) -> bool {
    hits.iter().any(|h| !h.suppressed)
}

pub fn run(args: MatchArgs) -> anyhow::Result<u8> {
    if let Some(f) = &args.file {
        return super::match_file::run(
            &args.location,
            &args.lists,
            args.views,
            f,
            args.allow_empty,
        );
    }
    args.rule.to_override()?;
    let single = if let Some(p) = args.pdq {
        Some((Value::Pdq(p), args.quality))
    } else if let Some(h) = args.md5 {
        Some((Value::Md5(h), None))
    } else if let Some(h) = args.sha256 {
        Some((Value::Sha256(h), None))
    } else if let Some(h) = args.blake3 {
        Some((Value::Blake3(h), None))
    } else if let Some(path) = &args.vpdq {
        let f = std::fs::File::open(path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        let mut recs = formats::read(formats::Format::Vpdq, BufReader::new(f))?;
        let rec = recs
            .next()
            .ok_or_else(|| anyhow::anyhow!("{}: empty vPDQ file", path.display()))?
            .with_context(|| format!("{}", path.display()))?;
        Some((rec.value, None))
    } else if let Some(path) = &args.tmk {
        let f = std::fs::File::open(path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        let h = hashdb::tmk::TmkHash::read_from(BufReader::new(f))
            .with_context(|| format!("{} (TMK file)", path.display()))?;
        Some((Value::Tmk(std::sync::Arc::new(h)), None))
    } else {
        None
    };
    if single.is_none() && args.queries.is_none() {
        anyhow::bail!(
            "give a query: --pdq, --md5, --sha256, --blake3, --vpdq FILE, --tmk FILE, --file MEDIA or --queries FILE"
        );
    }
    let cfg = args.config()?;
    let store = args.location.open_existing()?;
    super::db::require_enabled_list(&store, args.allow_empty)?;
    let matcher = RecordMatcher::load(store, &cfg).context("loading the hash lists")?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    if let Some((value, quality)) = single {
        let hits = matcher.match_value(&value, quality, None);
        for h in &hits {
            writeln!(out, "{}", hit_json(h)?)?;
        }
        out.flush()?;
        return Ok(u8::from(counts(&hits)));
    }
    let qpath = args.queries.clone().unwrap_or_default();
    let input: Box<dyn BufRead> = if qpath.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin()))
    } else {
        Box::new(BufReader::new(
            std::fs::File::open(&qpath)
                .with_context(|| format!("{}: cannot open", qpath.display()))?,
        ))
    };
    let mut matched = false;
    let mut errors = false;
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                writeln!(
                    out,
                    "{}",
                    json!({"line": n, "error": format!("unreadable line: {e}")})
                )?;
                errors = true;
                break;
            }
        };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        match parse_query(t) {
            Err(e) => {
                errors = true;
                writeln!(out, "{}", json!({"line": n, "query": t, "error": e}))?;
            }
            Ok((value, quality)) => {
                let hits = matcher.match_value(&value, quality, None);
                matched |= counts(&hits);
                let hits: Vec<Json> = hits.iter().map(hit_json).collect::<Result<_, _>>()?;
                let q = if matches!(value, Value::Vpdq(_)) {
                    "<vpdq>".to_string()
                } else if matches!(value, Value::Tmk(_)) {
                    "<tmk_pdqf>".to_string()
                } else {
                    value.to_text()
                };
                writeln!(
                    out,
                    "{}",
                    json!({"line": n, "signal_type": value.signal_type().as_str(), "query": q, "hits": hits})
                )?;
            }
        }
    }
    out.flush()?;
    Ok(hashsieve::exit::code(matched, errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_lines() {
        let h = "a".repeat(64);
        assert!(matches!(parse_query(&h), Ok((Value::Pdq(_), None))));
        assert!(matches!(
            parse_query(&format!("{h},77")),
            Ok((Value::Pdq(_), Some(77)))
        ));
        assert!(matches!(
            parse_query(&format!("md5 {}", "0".repeat(32))),
            Ok((Value::Md5(_), None))
        ));
        assert!(parse_query("sha1 abc")
            .unwrap_err()
            .contains("unknown signal type"));
        assert!(parse_query(&h[..10]).unwrap_err().contains("expected 64"));
        assert!(parse_query(&format!("{h},300")).is_err());
    }
}
