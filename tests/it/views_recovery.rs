//! Each query-side view recovers the hash of record of the original from
//! a typical repost edit, on seeded synthetic "photos": a letterbox is
//! trimmed back, a caption band is cut off, a photo pasted on a white
//! canvas with text around it is found, a mirrored or rotated copy is
//! found among the dihedral views; and an unrelated picture stays far.

use hashdb::Pdq;
use hashsieve::pdq::{self, LumaRule, PdqHasher, Rgb8};
use hashsieve::views::{hash_with_views, orient, Crop, RgbView, View, ViewSet};

use crate::views_support;

use views_support::*;

fn record(img: &Img) -> (Pdq, u8) {
    let h = PdqHasher::new().hash(&Rgb8::new(&img.rgb, img.w, img.h, LumaRule::Pillow).unwrap());
    (h.hash, h.quality)
}

/// The smallest distance from any view (or the hash of record) of `img`
/// to `target`, and the name of that view.
fn best_view(img: &Img, orientation: u8, target: &Pdq) -> (u32, View) {
    let v = hash_with_views(
        RgbView::packed(&img.rgb, img.w, img.h),
        orientation,
        ViewSet::All,
        &mut PdqHasher::new(),
    )
    .unwrap();
    let mut best = (v.record.hash.distance(target), View::Original);
    for view in &v.views {
        let d = view.hash.distance(target);
        if d < best.0 && view.quality >= 50 {
            best = (d, view.view);
        }
    }
    best
}

const CLOSE: u32 = 16;

#[test]
fn letterbox_and_padding_are_trimmed_back() {
    for seed in 1..=4 {
        let p = photo(320, 200, seed);
        let (h0, q) = record(&p);
        assert!(q >= 50, "seed {seed}: test photo quality {q}");
        // 25% letterbox (black bars above and below).
        let mut lb = Img::new(320, 266, [0, 0, 0]);
        lb.paste(&p, 0, 33);
        assert!(
            record(&lb).0.distance(&h0) > 31,
            "plain PDQ should miss a letterbox"
        );
        let (d, v) = best_view(&lb, 1, &h0);
        assert!(
            d <= CLOSE && v == View::Crop(Crop::Trim, pdq::DihedralKind::Original),
            "seed {seed}: letterbox best {v} at {d}"
        );
        // 20% grey padding all round.
        let mut pad = Img::new(400, 250, [128, 128, 128]);
        pad.paste(&p, 40, 25);
        let (d, v) = best_view(&pad, 1, &h0);
        assert!(
            d <= CLOSE && v == View::Crop(Crop::Trim, pdq::DihedralKind::Original),
            "seed {seed}: padding best {v} at {d}"
        );
    }
}

#[test]
fn caption_band_is_cut_off() {
    for seed in 1..=4 {
        let p = photo(300, 220, seed + 10);
        let (h0, _) = record(&p);
        let mut m = Img::new(300, 300, [255, 255, 255]);
        let mut r = Rng(seed + 99);
        text(&mut m, 12, 12, 276, 24, &mut r, [0, 0, 0]);
        text(&mut m, 30, 46, 240, 24, &mut r, [0, 0, 0]);
        m.paste(&p, 0, 80);
        assert!(record(&m).0.distance(&h0) > 31);
        let (d, v) = best_view(&m, 1, &h0);
        assert!(d <= CLOSE, "seed {seed}: caption best {v} at {d}");
    }
}

#[test]
fn photo_in_a_screenshot_canvas_is_found() {
    for seed in 1..=4 {
        let p = photo(280, 180, seed + 20);
        let (h0, _) = record(&p);
        let mut s = Img::new(360, 330, [255, 255, 255]);
        let mut r = Rng(seed + 7);
        s.fill(40, 12, 30, 30, [60, 120, 200]); // avatar
        text(&mut s, 80, 16, 200, 12, &mut r, [20, 20, 20]); // name
        text(&mut s, 40, 52, 280, 9, &mut r, [20, 20, 20]); // post text
        s.paste(&p, 40, 80);
        text(&mut s, 40, 275, 200, 9, &mut r, [90, 90, 90]); // counters
        for i in 0..4 {
            s.fill(40 + i * 70, 300, 14, 14, [90, 90, 90]); // buttons
        }
        assert!(record(&s).0.distance(&h0) > 31);
        let (d, v) = best_view(&s, 1, &h0);
        assert!(d <= CLOSE, "seed {seed}: screenshot best {v} at {d}");
    }
}

#[test]
fn mirrored_and_rotated_copies_are_found_via_dihedral_views() {
    // Under 128 px a side the downsample is exactly symmetric, so the
    // dihedral hashes equal those of the transformed pixels (bigger
    // images differ by the tent filter's half-pixel asymmetry).
    let p = photo(120, 80, 3);
    let (h0, _) = record(&p);
    // EXIF's transforms cover mirror (2), 180 (3) and both 90s (6, 8).
    for o in [2u8, 3, 4, 5, 6, 7, 8] {
        let (t, w, h) = orient::apply(&p.rgb, p.w, p.h, o).unwrap();
        let edited = Img { w, h, rgb: t };
        assert!(record(&edited).0.distance(&h0) > 31, "transform {o}");
        let (d, v) = best_view(&edited, 1, &h0);
        assert!(
            d <= 4 && v != View::Original,
            "transform {o}: best {v} at {d}"
        );
    }
}

#[test]
fn exif_view_is_the_upright_hash() {
    let p = photo(120, 80, 5);
    // Stored pixels rotated; the file says orientation 6 (turn 90 CW to view).
    let (stored, w, h) = orient::apply(&p.rgb, p.w, p.h, 8).unwrap();
    let v = hash_with_views(
        RgbView::packed(&stored, w, h),
        6,
        ViewSet::Dihedral,
        &mut PdqHasher::new(),
    )
    .unwrap();
    let exif = v
        .views
        .iter()
        .find(|v| v.view == View::Exif)
        .expect("exif view");
    let d = exif.hash.distance(&record(&p).0);
    assert!(d <= 4, "exif view at {d}");
    let none = hash_with_views(
        RgbView::packed(&p.rgb, p.w, p.h),
        1,
        ViewSet::Dihedral,
        &mut PdqHasher::new(),
    )
    .unwrap();
    assert!(
        none.views.iter().all(|v| v.view != View::Exif),
        "no exif view without orientation"
    );
}

#[test]
fn unrelated_photos_stay_far_from_every_view() {
    for seed in 30..36 {
        let a = photo(300, 200, seed);
        let b = photo(300, 200, seed + 100);
        let (hb, _) = record(&b);
        let mut framed = Img::new(360, 300, [255, 255, 255]);
        framed.paste(&a, 30, 60);
        let (d, v) = best_view(&framed, 1, &hb);
        assert!(d > 31, "seed {seed}: unrelated picture hit by {v} at {d}");
    }
}

#[test]
fn plain_photos_get_no_crop_views() {
    for seed in 40..44 {
        let p = photo(256, 256, seed);
        let v = hash_with_views(
            RgbView::packed(&p.rgb, p.w, p.h),
            1,
            ViewSet::All,
            &mut PdqHasher::new(),
        )
        .unwrap();
        let crops: Vec<_> = v
            .views
            .iter()
            .filter(|v| {
                matches!(
                    v.view,
                    View::Crop(Crop::Trim | Crop::Band | Crop::Canvas, _)
                )
            })
            .collect();
        assert!(crops.is_empty(), "seed {seed}: {crops:?}");
        assert_eq!(v.views.len(), 7, "seven dihedral views");
    }
}
