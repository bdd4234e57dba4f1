//! PDQ and the query-side views on arbitrary pixels of arbitrary (small)
//! sizes, without a decoder in front: the downsampling windows, the DCT,
//! the median and the crop finders (borders, bands, canvas, edges) see
//! shapes and contents no real image test reaches (1-pixel sides, 5x4000
//! strips, one colour, noise).
//!
//! Input: width-1 (1 byte), height-1 (1 byte), a flags byte (luma rule,
//! EXIF orientation), then the pixels (RGB, repeated to fill the image).
//!
//! Checked besides "no panic":
//! - the hash of record from the views path equals the plain hash (the
//!   views module promises identical bits; matching relies on it);
//! - a hasher that has hashed other images gives the same hashes as a
//!   fresh one (its scratch buffers are reused per thread);
//! - qualities are 0..=100.
#![no_main]

use std::cell::RefCell;

use hashsieve::pdq::{Grey8, LumaRule, PdqHasher, Rgb8};
use hashsieve::views::{hash_with_views, RgbView, ViewSet};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static HASHER: RefCell<PdqHasher> = RefCell::new(PdqHasher::new());
}

/// Widths and heights up to 256 (the other side may be as short as 1):
/// large enough for every code path of the downsampler, small enough for
/// thousands of inputs a second.
fn dims(a: u8, b: u8) -> (usize, usize) {
    (usize::from(a) + 1, usize::from(b) + 1)
}

fuzz_target!(|data: &[u8]| {
    let [a, b, flags, pixels @ ..] = data else {
        return;
    };
    if pixels.is_empty() {
        return;
    }
    let (w, h) = dims(*a, *b);
    let rule = if flags & 1 == 0 {
        LumaRule::Pillow
    } else {
        LumaRule::Reference
    };
    let orientation = (flags >> 1) % 9;
    let rgb: Vec<u8> = pixels.iter().copied().cycle().take(w * h * 3).collect();
    let grey: Vec<u8> = pixels.iter().copied().cycle().take(w * h).collect();

    HASHER.with(|hasher| {
        let hasher = &mut *hasher.borrow_mut();
        let src = Rgb8::new(&rgb, w, h, rule).expect("buffer sized for the image");
        let plain = hasher.hash(&src);
        let dihedral = hasher.dihedral(&src);
        assert!(plain.quality <= 100 && dihedral.quality <= 100);

        let mut fresh = PdqHasher::new();
        assert_eq!(fresh.hash(&src), plain, "reused scratch changed the hash");
        assert_eq!(
            fresh.dihedral(&src),
            dihedral,
            "reused scratch changed the dihedral hashes"
        );

        let g = Grey8::new(&grey, w, h, w).expect("buffer sized for the image");
        assert!(hasher.hash(&g).quality <= 100);

        let view = RgbView::with_stride(&rgb, w, h, 3 * w, rule);
        for set in [ViewSet::None, ViewSet::Dihedral, ViewSet::All] {
            let hashed =
                hash_with_views(view, orientation, set, hasher).expect("a valid buffer is hashed");
            assert_eq!(
                hashed.record, plain,
                "the views path's hash of record differs from the plain hash ({set:?})"
            );
        }
    });
});
