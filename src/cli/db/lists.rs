//! `db list-create`, `db list-update`, `db list-delete`, `db lists`, `db stats`,
//! `db enable|disable`.

use hashdb::model::{
    ListUpdate, NewList, DEFAULT_PDQ_QUALITY, DEFAULT_PDQ_THRESHOLD, DEFAULT_TMK_LEVEL1,
    DEFAULT_TMK_LEVEL2,
};
use hashdb::vpdq::{DEFAULT_MIN_CLIP_FRAMES, DEFAULT_QUERY_PERCENT, DEFAULT_TARGET_PERCENT};

use hashsieve::escape::{escape, escape_display};
use hashsieve::float_json::shortest;

use super::DbLocation;

#[derive(clap::Args, Debug)]
pub struct ListCreateArgs {
    /// The list's name (unique).
    pub name: String,
    /// PDQ hashes within this Hamming distance match (0..=256).
    #[arg(long, default_value_t = DEFAULT_PDQ_THRESHOLD)]
    pub threshold: u32,
    /// PDQ hashes below this quality (0..=100) are ignored; a video none
    /// of whose sampled frames reaches half of it (featureless throughout)
    /// is not matched by TMK+PDQF (0 or 1: every video, as Meta's reference).
    #[arg(long, default_value_t = DEFAULT_PDQ_QUALITY)]
    pub quality: u8,
    /// Where the list comes from: local, gifct, tcap, ncmec, threatexchange, file, ...
    #[arg(long, default_value = "local")]
    pub source: String,
    /// Free text.
    #[arg(long, default_value = "")]
    pub description: String,
    /// vPDQ rule: a listed video matches when at least this % (0..=100) of
    /// its unique frames are in the scanned video.
    #[arg(long, default_value_t = DEFAULT_TARGET_PERCENT, value_name = "PERCENT")]
    pub vpdq_target_percent: f64,
    /// Clip rule: ... or when at least this % (0..=100) of the scanned
    /// video's unique frames are in the listed one ...
    #[arg(long, default_value_t = DEFAULT_QUERY_PERCENT, value_name = "PERCENT")]
    pub vpdq_query_percent: f64,
    /// ... and at least this many of them.
    #[arg(long, default_value_t = DEFAULT_MIN_CLIP_FRAMES, value_name = "FRAMES")]
    pub min_clip_frames: u32,
    /// TMK+PDQF: a listed video matches when level-1 (the cosine of the
    /// average frame features) is at least this ...
    #[arg(long, default_value_t = DEFAULT_TMK_LEVEL1, value_name = "SCORE")]
    pub tmk_level1: f32,
    /// ... and level-2 (the time-aligned score) at least this (0.7 / 0.7:
    /// the reference's validated defaults; 0.9 for exact copies only).
    #[arg(long, default_value_t = DEFAULT_TMK_LEVEL2, value_name = "SCORE")]
    pub tmk_level2: f32,
}

/// `db list-update NAME`: only the flags given change.
#[derive(clap::Args, Debug)]
pub struct ListUpdateArgs {
    /// The list's name.
    pub name: String,
    /// PDQ hashes within this Hamming distance match (0..=256).
    #[arg(long)]
    pub threshold: Option<u32>,
    /// PDQ hashes below this quality (0..=100) are ignored; a video none
    /// of whose sampled frames reaches half of it (featureless throughout)
    /// is not matched by TMK+PDQF (0 or 1: every video, as Meta's reference).
    #[arg(long)]
    pub quality: Option<u8>,
    /// Where the list comes from.
    #[arg(long)]
    pub source: Option<String>,
    /// Free text.
    #[arg(long)]
    pub description: Option<String>,
    /// vPDQ rule: % (0..=100) of the listed video's unique frames to match.
    #[arg(long, value_name = "PERCENT")]
    pub vpdq_target_percent: Option<f64>,
    /// Clip rule: % (0..=100) of the scanned video's unique frames to match ...
    #[arg(long, value_name = "PERCENT")]
    pub vpdq_query_percent: Option<f64>,
    /// ... and at least this many of them.
    #[arg(long, value_name = "FRAMES")]
    pub min_clip_frames: Option<u32>,
    /// TMK+PDQF level-1 threshold.
    #[arg(long, value_name = "SCORE")]
    pub tmk_level1: Option<f32>,
    /// TMK+PDQF level-2 threshold.
    #[arg(long, value_name = "SCORE")]
    pub tmk_level2: Option<f32>,
}

#[derive(clap::Args, Debug)]
pub struct ListDeleteArgs {
    pub name: String,
    /// Really delete (the list and all its entries).
    #[arg(long)]
    pub yes: bool,
}

#[derive(clap::Args, Debug)]
pub struct ListNameArg {
    pub list: String,
}

#[derive(clap::Args, Debug)]
pub struct ListsArgs {
    /// JSON Lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn create(loc: &DbLocation, a: ListCreateArgs) -> anyhow::Result<u8> {
    let mut store = loc.open()?;
    let l = store.create_list(&NewList {
        name: a.name,
        description: a.description,
        source: a.source,
        pdq_threshold: a.threshold,
        pdq_quality: a.quality,
        vpdq_target_percent: a.vpdq_target_percent,
        vpdq_query_percent: a.vpdq_query_percent,
        vpdq_min_clip_frames: a.min_clip_frames,
        tmk_level1: a.tmk_level1,
        tmk_level2: a.tmk_level2,
    })?;
    println!("{}", serde_json::to_string(&l)?);
    Ok(0)
}

pub fn update(loc: &DbLocation, a: ListUpdateArgs) -> anyhow::Result<u8> {
    let l = loc.open_existing()?.update_list(
        &a.name,
        &ListUpdate {
            description: a.description,
            source: a.source,
            enabled: None,
            pdq_threshold: a.threshold,
            pdq_quality: a.quality,
            vpdq_target_percent: a.vpdq_target_percent,
            vpdq_query_percent: a.vpdq_query_percent,
            vpdq_min_clip_frames: a.min_clip_frames,
            tmk_level1: a.tmk_level1,
            tmk_level2: a.tmk_level2,
        },
    )?;
    println!("{}", serde_json::to_string(&l)?);
    Ok(0)
}

pub fn delete(loc: &DbLocation, a: ListDeleteArgs) -> anyhow::Result<u8> {
    if !a.yes {
        anyhow::bail!(
            "deleting list {:?} removes all its entries; pass --yes to confirm",
            a.name
        );
    }
    loc.open_existing()?.delete_list(&a.name)?;
    eprintln!("deleted list {:?}", a.name);
    Ok(0)
}

pub fn set_enabled(loc: &DbLocation, a: ListNameArg, enabled: bool) -> anyhow::Result<u8> {
    let l = loc.open_existing()?.set_list_enabled(&a.list, enabled)?;
    println!("{}", serde_json::to_string(&l)?);
    Ok(0)
}

pub fn show(loc: &DbLocation, a: ListsArgs, counts: bool) -> anyhow::Result<u8> {
    let store = loc.open_existing()?;
    let stats = store.stats()?;
    if a.json {
        for s in &stats {
            if counts {
                println!("{}", serde_json::to_string(s)?);
            } else {
                println!(
                    "{}",
                    serde_json::json!({
                        "name": s.list.name, "id": s.list.id, "source": s.list.source,
                        "enabled": s.list.enabled, "threshold": s.list.pdq_threshold,
                        "quality": s.list.pdq_quality,
                        "vpdq_target_percent": s.list.vpdq_target_percent,
                        "vpdq_query_percent": s.list.vpdq_query_percent,
                        "min_clip_frames": s.list.vpdq_min_clip_frames,
                        "tmk_level1": shortest(s.list.tmk_level1),
                        "tmk_level2": shortest(s.list.tmk_level2),
                        "entries": s.entries,
                        "description": s.list.description,
                    })
                );
            }
        }
        return Ok(0);
    }
    if stats.is_empty() {
        eprintln!(
            "no lists in {} (create one with `hashsieve db list-create NAME`)",
            escape_display(store.path().display())
        );
        return Ok(0);
    }
    println!(
        "{:<24} {:<8} {:<15} {:>9} {:>7} {:>7} {:>7} {:>10} {:>6} {:>6} {:>10}",
        "LIST",
        "ENABLED",
        "SOURCE",
        "THRESHOLD",
        "QUALITY",
        "VPDQ%",
        "CLIP%",
        "CLIP-MIN",
        "TMK-L1",
        "TMK-L2",
        "ENTRIES"
    );
    for s in &stats {
        let l = &s.list;
        // Names and sources come with the lists (a shared database, an
        // import): a control character in them must not reach the terminal.
        println!(
            "{:<24} {:<8} {:<15} {:>9} {:>7} {:>7} {:>7} {:>10} {:>6} {:>6} {:>10}",
            escape(&l.name),
            if l.enabled { "yes" } else { "no" },
            escape(&l.source),
            l.pdq_threshold,
            l.pdq_quality,
            l.vpdq_target_percent,
            l.vpdq_query_percent,
            l.vpdq_min_clip_frames,
            l.tmk_level1,
            l.tmk_level2,
            s.entries
        );
        if counts {
            for c in &s.counts {
                println!("    {:<8} {:<9} {:>10}", c.signal_type, c.status, c.count);
            }
        }
    }
    Ok(0)
}
