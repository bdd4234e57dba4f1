//! `hashsieve compare A B`: are two media files (or vPDQ text files) the
//! same content? The vPDQ rule for videos, the PDQ distance for images.

use hashdb::vpdq::VpdqThresholds;
use hashsieve::compare::{images, is_vpdq_text, load, videos, Side};
use hashsieve::hashing::HashConfig;
use hashsieve::views::View;
use std::path::PathBuf;

mod tmk;

/// Compare two videos (or images) as the vPDQ reference does.
///
/// A and B are each a media file (hashed now) or a vPDQ text file
/// (`frame,quality,hash,timestamp` lines, as `hash --format vpdq` and Meta's
/// tools write). A is the query (the upload), B the target (the listed
/// video). Prints the percentage of A's unique frame hashes of quality >=
/// --quality that have a frame of B within --distance, the same for B, and
/// whether that is a match: B's share >= --target-percent and A's share >=
/// --query-percent. Two images: the PDQ distance, a match when it is <=
/// --distance and both qualities are >= --quality.
///
/// With --views, A (a media file) is also hashed with query-side views
/// (letterbox bars trimmed, rotations and flips) and each view's frames are
/// compared with B as another query: a match by a view is reported with its
/// name. The default stays the reference's plain comparison.
///
/// TMK+PDQF (Meta's whole-video hash): when A or B is a `.tmk` file
/// (recognised by content), or with --tmk, both sides are compared by their
/// TMK+PDQF (a video is hashed now): level-1 and level-2 scores, a match
/// when both reach --tmk-level1 and --tmk-level2 ("kind": "tmk"). Two
/// videos without --tmk are judged by vPDQ as above, and the report adds
/// their TMK+PDQF scores and verdict ("tmk": {...}) for information. With
/// --views, a video A's TMK+PDQF views (mirrored; letterbox bars trimmed;
/// a caption band on one side cut off) are tried when its plain TMK does
/// not match, each needing level-1 and level-2 >= 0.8 (the view floor
/// `scan` applies); the first that matches is named ("view").
///
/// Exit code: 1 match, 0 no match, 2 error.
#[derive(clap::Args)]
pub struct CompareArgs {
    /// The query: media file or vPDQ text file.
    pub a: PathBuf,
    /// The target (listed) side: media file or vPDQ text file.
    pub b: PathBuf,

    /// Frames match when their PDQ distance is at most this.
    #[arg(long, default_value_t = 31)]
    pub distance: u32,

    /// Ignore frames of lower PDQ quality.
    #[arg(long, default_value_t = 50)]
    pub quality: u8,

    /// Match only if at least this % of B's unique frames are matched.
    #[arg(long, default_value_t = 80.0, value_name = "PERCENT")]
    pub target_percent: f64,

    /// ... and at least this % of A's unique frames.
    #[arg(long, default_value_t = 0.0, value_name = "PERCENT")]
    pub query_percent: f64,

    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub views: super::views_args::DescribeViews,

    /// Two .tmk files match when level-1 (the average features' cosine)
    /// is at least this ...
    #[arg(long, default_value_t = 0.7, value_name = "SCORE")]
    pub tmk_level1: f32,

    /// ... and level-2 (the time-aligned TMK score) at least this (0.7/0.7
    /// are the validated defaults; 0.9 for exact copies only).
    #[arg(long, default_value_t = 0.7, value_name = "SCORE")]
    pub tmk_level2: f32,

    /// Judge two videos by TMK+PDQF alone (the default when either side is
    /// a `.tmk` file).
    #[arg(long)]
    pub tmk: bool,

    #[command(flatten)]
    pub video: super::video_args::VideoArgs,
}

pub fn run(args: CompareArgs) -> anyhow::Result<u8> {
    let tmk_t = hashdb::tmk::TmkThresholds {
        level1: args.tmk_level1,
        level2: args.tmk_level2,
    };
    let mut cfg = HashConfig {
        video: args.video.to_options()?,
        ..HashConfig::default()
    };
    if args.tmk || tmk::looks_like_tmk(&args.a)? || tmk::looks_like_tmk(&args.b)? {
        anyhow::ensure!(
            cfg.video.tmk && cfg.video.fast.is_none(),
            "comparing by TMK+PDQF needs it computed: not with --no-tmk or --fast"
        );
        let a_cfg = HashConfig {
            views: args.views.views,
            ..cfg.clone()
        };
        return tmk::run(&args.a, &args.b, &a_cfg, &cfg, tmk_t, args.json);
    }
    tmk::check_thresholds(tmk_t)?;
    // TMK+PDQF is reported only for two media files: against a vPDQ text
    // file the media side's would be computed for nothing (a file that
    // cannot be read fails in `load` below, with its own message).
    if [&args.a, &args.b]
        .iter()
        .any(|p| is_vpdq_text(p).unwrap_or(false))
    {
        cfg.video.tmk = false;
    }
    anyhow::ensure!(
        (0.0..=100.0).contains(&args.target_percent) && (0.0..=100.0).contains(&args.query_percent),
        "--target-percent and --query-percent must be between 0 and 100"
    );
    let a = load(
        &args.a,
        &HashConfig {
            views: args.views.views,
            ..cfg.clone()
        },
    )?;
    let b = load(&args.b, &cfg)?;
    let (a_tmk, b_tmk) = (&a.tmk, &b.tmk);
    // Two videos: their TMK+PDQF too, for information (the verdict is
    // vPDQ's; --tmk makes it TMK's).
    let tmk_report = match (a_tmk, b_tmk) {
        (Some(x), Some(y)) => Some((tmk::json(x, y, tmk_t), hashdb::tmk::scores(x, y), x, y)),
        _ => None,
    };
    if let (
        Side::Image {
            hash: ha,
            quality: qa,
        },
        Side::Image {
            hash: hb,
            quality: qb,
        },
    ) = (&a.side, &b.side)
    {
        let v = images(
            (*ha, *qa),
            &a.views,
            (*hb, *qb),
            args.distance,
            args.quality,
        );
        let (d, is_match, view) = (v.distance, v.is_match, v.view);
        let best = v.best.map(|b| (b.view, b.distance, b.quality));
        if args.json {
            println!(
                "{}",
                serde_json::json!({"kind": "pdq", "distance": d, "quality_a": qa,
                    "quality_b": qb, "match": is_match, "view": view,
                    "best_view": best.map(|(n, d, q)| serde_json::json!(
                        {"view": n, "distance": d, "quality": q}))})
            );
        } else {
            println!("PDQ distance {d} (quality {qa} and {qb})");
            if let Some((n, vd, vq)) = best {
                println!("closest view of A: {n}, distance {vd} (quality {vq})");
            }
            println!(
                "match: {}{} (distance <= {}, quality >= {})",
                if is_match { "yes" } else { "no" },
                view.filter(|v| *v != View::Original)
                    .map(|v| format!(" by view {v}"))
                    .unwrap_or_default(),
                args.distance,
                args.quality
            );
        }
        return Ok(u8::from(is_match));
    }
    let t = VpdqThresholds {
        distance: args.distance,
        quality: args.quality,
        target_percent: args.target_percent,
        query_percent: args.query_percent,
    };
    let verdict = videos(&a.side.frames(), &a.views, &b.side.frames(), &t);
    let (c, is_match, view, views) = (
        &verdict.plain,
        verdict.is_match,
        verdict.view,
        &verdict.views,
    );
    let best = verdict.best();
    if args.json {
        let vj: Vec<serde_json::Value> = views
            .iter()
            .map(|(n, vc)| {
                serde_json::json!({"view": n, "query_percent": vc.query_percent,
                    "target_percent": vc.target_percent, "query_frames": vc.query_frames,
                    "target_frames": vc.target_frames, "match": vc.is_match(&t)})
            })
            .collect();
        let mut j = serde_json::json!({"kind": "vpdq", "query_percent": c.query_percent,
                "target_percent": c.target_percent, "query_frames": c.query_frames,
                "target_frames": c.target_frames, "match": is_match});
        if args.views.views != hashsieve::views::ViewSet::None {
            j["view"] = serde_json::json!(view);
            j["views"] = serde_json::json!(vj);
        }
        if let Some((tj, ..)) = &tmk_report {
            j["tmk"] = tj.clone();
        }
        println!("{j}");
    } else {
        println!(
            "A (query):  {:6.2}% of {} unique frames matched in B",
            c.query_percent, c.query_frames
        );
        println!(
            "B (target): {:6.2}% of {} unique frames matched in A",
            c.target_percent, c.target_frames
        );
        if let Some((n, vc)) = best {
            println!(
                "best view of A: {n}: {:.2}% of {} matched in B, B {:.2}% of {} matched",
                vc.query_percent, vc.query_frames, vc.target_percent, vc.target_frames
            );
        }
        println!(
            "match: {}{} (B >= {}%, A >= {}%, distance <= {}, quality >= {})",
            if is_match { "yes" } else { "no" },
            view.filter(|v| *v != View::Original)
                .map(|v| format!(" by view {v}"))
                .unwrap_or_default(),
            t.target_percent,
            t.query_percent,
            t.distance,
            t.quality
        );
        if let Some((tj, s, x, y)) = &tmk_report {
            println!(
                "{}: {} by TMK+PDQF (level-1 >= {}, level-2 >= {}; for information, \
                 --tmk judges by it)",
                tmk::line(*s, x, y),
                if tj["match"] == true {
                    "match"
                } else {
                    "no match"
                },
                tmk_t.level1,
                tmk_t.level2
            );
        }
    }
    Ok(u8::from(is_match))
}
