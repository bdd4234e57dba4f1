//! `db add LIST --label L PATH...`: hash media you confirmed yourself (with
//! the same code as `hashsieve hash`) and add the hashes to a list: the
//! digests of every file, the PDQ of images, the frame hashes (vPDQ) of
//! videos. This is how a team contributes to a shared list. With
//! `--with-views`, the hashes of the media's query-side views are stored
//! too, labelled `derived:view=<name>`; with `--derive`, the hashes of
//! derived versions of each image (crops, small turns: see
//! `hashsieve::enroll`), labelled `derived:crop=...` / `derived:rotate=...`.

use std::path::PathBuf;

use anyhow::Context;
use hashdb::error::ParseError;
use hashdb::model::Value;
use hashdb::store::ImportOptions;
use hashsieve::contribute::{
    derived_edit_records, derived_view_records, records_for, ContributeOptions,
};
use hashsieve::enroll::{derived_hashes, DeriveSet};
use hashsieve::escape::escape_display;
use hashsieve::hashing::{hash_path, HashConfig, Worker};

use super::DbLocation;

#[derive(clap::Args, Debug)]
pub struct AddArgs {
    /// The list to add to.
    pub list: String,
    /// Media files (images, videos, anything: every file gets its digests).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Labels for every added entry, e.g. entity:..., behaviour:..., ideology:... (repeatable).
    #[arg(long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// External id to record (e.g. your case number).
    #[arg(long)]
    pub external_id: Option<String>,
    /// A note to record.
    #[arg(long)]
    pub note: Option<String>,
    /// Do not add the cryptographic digests, only perceptual hashes.
    #[arg(long)]
    pub no_digests: bool,
    /// Also add the hashes of the media's views (rotations and flips,
    /// trimmed borders, the main picture of a canvas; a video's letterbox
    /// trimmed and mirrored frames, one vPDQ entry per view), so partners
    /// matching with plain PDQ find such reposts too. They are not hashes
    /// of the media as published: each is labelled `derived:view=<name>`.
    #[arg(long)]
    pub with_views: bool,
    /// Also add the PDQ hashes of derived versions of each image, so that
    /// a cropped or slightly turned repost hashed with plain PDQ lands near
    /// one of them: `crops` (centre crops of 5-20 % in steps of 2.5),
    /// `sides` (one side cut by 5-20 %), `corners` (10, 15 and 20 % cut at
    /// a corner), `rotations` (3 to 7 degrees each way, corners cropped),
    /// `rotations-black` (the same turns, corners left black), `shifts`
    /// (5 and 10 % cuts split between opposite sides on a 2.5 % grid),
    /// `shifts-wide` (the same for 15 and 20 %, 120 hashes more),
    /// comma-separated, or `default` (also what `--derive` alone means;
    /// every family, 215 hashes an image before `--derive-min-distance`
    /// drops near repeats), `all` (the same) or `compact` (every family
    /// but `shifts-wide`, 95: crops of 15-20 % split between opposite
    /// sides are then mostly missed).
    /// Each entry is labelled `derived:crop=<anchor>-<percent>`,
    /// `derived:rotate=<degrees>` or `derived:rotate-black=<degrees>`: not
    /// a hash of the media as published, so `db export` leaves them out
    /// unless given `--include-derived`.
    #[arg(
        long,
        value_name = "SET",
        num_args = 0..=1,
        default_missing_value = "default"
    )]
    pub derive: Option<DeriveSet>,
    /// With `--derive`: leave out a derived hash within this many bits of
    /// the hash of record or of a derived hash already stored for the same
    /// image (0 keeps every value but exact repeats). Neighbouring crop
    /// windows of a smooth picture hash to nearly the same value, and the
    /// second one makes the list longer without finding more.
    #[arg(long, value_name = "BITS", default_value_t = hashsieve::enroll::DEFAULT_MIN_DISTANCE)]
    pub derive_min_distance: u32,
}

impl AddArgs {
    fn contribute_options(&self) -> ContributeOptions {
        ContributeOptions {
            labels: self.labels.clone(),
            external_id: self.external_id.clone(),
            note: self.note.clone(),
            no_digests: self.no_digests,
        }
    }
}

pub fn run(loc: &DbLocation, a: AddArgs) -> anyhow::Result<u8> {
    let mut store = loc.open_existing()?;
    let list = store.list(&a.list)?;
    let cfg = HashConfig {
        views: if a.with_views {
            hashsieve::views::ViewSet::All
        } else {
            hashsieve::views::ViewSet::None
        },
        ..HashConfig::default()
    };
    let mut worker = Worker::new();
    // Derived versions are hashed while the worker still holds the decoded
    // pixels they are cut from, so with a hasher of their own.
    let mut derive_hasher = hashsieve::pdq::PdqHasher::new();
    let opts = a.contribute_options();
    let mut code = 0;
    for path in &a.paths {
        let rec = hash_path(path, &cfg, &mut worker);
        let mut recs = records_for(&rec, &opts);
        let views = if a.with_views {
            derived_view_records(&rec, &opts)
        } else {
            Vec::new()
        };
        let edits = match (a.derive, worker.decoded_image(&rec)) {
            (Some(set), Some(img)) if !set.is_empty() => {
                let hashes = derived_hashes(&img, set, &mut derive_hasher);
                derived_edit_records(&rec, &hashes, &views, &opts, a.derive_min_distance)
            }
            _ => Vec::new(),
        };
        let derived = views.len() + edits.len();
        recs.extend(views);
        recs.extend(edits);
        // Paths may come from a glob over files someone else named, and
        // decoder messages quote the file.
        let shown = escape_display(path.display());
        if let Some(e) = &rec.error {
            eprintln!(
                "hashsieve: error: {shown}: {:?}: {}",
                e.kind,
                escape_display(&e.message)
            );
            code = 2;
        }
        if recs.is_empty() {
            continue;
        }
        let kinds: Vec<&str> = recs
            .iter()
            .map(|r| r.value.signal_type().as_str())
            .collect();
        if list.pdq_quality > 0 {
            for r in &recs {
                if let (Value::Pdq(_), Some(q)) = (&r.value, r.quality) {
                    if q < list.pdq_quality {
                        eprintln!(
                            "hashsieve: warning: {shown}: PDQ quality {q} is below the list's gate {}; it will not match",
                            list.pdq_quality
                        );
                    }
                }
                // A video with no frame at the gate: vPDQ compares none;
                // below half of it, a copy as featureless is not matched
                // by TMK either.
                if let Value::Vpdq(frames) = &r.value {
                    let best = hashsieve::matching::best_frame_quality(frames);
                    if let Some(q) = best.filter(|&q| q < list.pdq_quality) {
                        let tmk = if q < list.tmk_quality_gate() {
                            format!(", and a copy as featureless will not match by TMK+PDQF either (below {})", list.tmk_quality_gate())
                        } else {
                            String::from(" (TMK+PDQF still matches)")
                        };
                        eprintln!(
                            "hashsieve: warning: {shown}: no sampled frame reaches the list's quality gate {} (best {q}); vPDQ will compare none of them{tmk}",
                            list.pdq_quality
                        );
                    }
                }
            }
        }
        let sum = store
            .import(
                &a.list,
                recs.into_iter().map(Ok::<_, ParseError>),
                path,
                ImportOptions::default(),
            )
            .with_context(|| format!("{}: adding to {:?}", path.display(), a.list))?;
        println!(
            "{}",
            serde_json::json!({
                "path": path.to_string_lossy(), "list": a.list, "media": rec.media,
                "signals": kinds, "derived": derived, "added": sum.added, "merged": sum.merged,
                "unchanged": sum.unchanged, "entry_ids": sum.added_ids,
            })
        );
    }
    Ok(code)
}
