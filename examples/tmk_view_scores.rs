//! Every TMK+PDQF view's scores against every listed `.tmk`, for choosing
//! how view matches are gated (`hashsieve::matching::TMK_VIEW_MARGIN`).
//!
//! Why not `scan` against a list with thresholds 0 / 0: a scan reports one
//! record per listed entry, by the first view that reaches it (the plain
//! TMK first), so a view's own score for a pair the plain TMK already hit
//! is never seen. This hashes each video as `scan` does with its default
//! views and scores the plain TMK, the mirrored one (`flipx`), the
//! letterbox-trimmed one (`letterbox`, when the video has bars) and it
//! mirrored (`letterbox+flipx`) against each listed hash.
//!
//! Usage: cargo run --release --example tmk_view_scores -- LISTED_TMK_DIR VIDEO...
//! Prints one JSON line per video and view: {"path", "view", "scores":
//! {"<listed name>": [level1, level2], ...}, "best_quality": the video's
//! best sampled frame's PDQ quality, which gates its TMK}. (benches/eval/run_tmk_views.py
//! reads it.)

use hashdb::tmk::{scores, TmkHash};
use hashsieve::hashing::{hash_path, HashConfig, Worker};
use hashsieve::views::ViewSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: LISTED_TMK_DIR VIDEO..."))?,
    );
    let mut listed = Vec::new();
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "tmk") {
            let h = TmkHash::from_bytes(&std::fs::read(&p)?)?;
            let name = p
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            listed.push((name, h));
        }
    }
    listed.sort_by(|a, b| a.0.cmp(&b.0));
    let listed = Arc::new(listed);
    let videos: Arc<Mutex<Vec<PathBuf>>> =
        Arc::new(Mutex::new(args.map(PathBuf::from).rev().collect()));
    let threads = std::env::var("THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (listed, videos, out) = (listed.clone(), videos.clone(), out.clone());
            std::thread::spawn(move || {
                let mut cfg = HashConfig {
                    views: ViewSet::All,
                    ..HashConfig::default()
                };
                cfg.video.threads = 1;
                let mut worker = Worker::new();
                loop {
                    let Some(p) = videos.lock().ok().and_then(|mut v| v.pop()) else {
                        return;
                    };
                    let rec = hash_path(&p, &cfg, &mut worker);
                    let Some(t) = rec.tmk.as_ref() else {
                        eprintln!("no TMK for {}", p.display());
                        continue;
                    };
                    let mut views: Vec<(&str, TmkHash)> =
                        vec![("original", (**t).clone()), ("flipx", t.mirrored())];
                    if let Some(lb) = rec.tmk_letterbox.as_ref() {
                        views.push(("letterbox", (**lb).clone()));
                        views.push(("letterbox+flipx", lb.mirrored()));
                    }
                    if let Some(b) = rec.tmk_band.as_ref() {
                        views.push(("band", (**b).clone()));
                        views.push(("band+flipx", b.mirrored()));
                    }
                    // What gates the video's TMK against a list (its
                    // best sampled frame's PDQ quality).
                    let best_quality = hashsieve::matching::best_frame_quality(&rec.vpdq_frames());
                    // The six other turns of the whole video (`TmkHash::turned`).
                    for kind in &pdq::DihedralKind::ALL[1..] {
                        if *kind != pdq::DihedralKind::FlipX {
                            views.push((kind.name(), t.turned(*kind)));
                        }
                    }
                    for (view, h) in views {
                        let s: serde_json::Map<String, serde_json::Value> = listed
                            .iter()
                            .map(|(n, l)| {
                                let s = scores(&h, l);
                                (n.clone(), serde_json::json!([s.level1, s.level2]))
                            })
                            .collect();
                        let line = serde_json::json!({"path": p, "view": view, "scores": s,
                            "best_quality": best_quality});
                        if let Ok(mut o) = out.lock() {
                            use std::io::Write;
                            let _ = writeln!(o, "{line}");
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}
