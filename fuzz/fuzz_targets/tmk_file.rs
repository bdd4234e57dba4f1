//! `.tmk` files (`hashdb::tmk::TmkHash::from_bytes`), as `compare` and the
//! list importers read them from outside.
//!
//! Random bytes almost never get past the header, so besides parsing the
//! input as it is (first byte 0), the target builds a VALID file from the
//! input (a few frames whose features are the input's floats, refused ones
//! included), then corrupts it with the rest of the input as patches
//! (offset, byte) and an optional cut. Checks: parsing never panics; a
//! file that parses writes back byte for byte; every score of a parsed
//! file against the valid one and against itself is finite (the type
//! promises a finite value, which every score relies on).
#![no_main]

use hashdb::tmk::{scores, Feature, TmkAccumulator, TmkHash, FEATURE_DIM, FILE_SIZE};
use libfuzzer_sys::fuzz_target;

/// Features from the input's bytes: each 4 bytes an f32 (NaN and
/// infinities included: the accumulator must refuse them, not absorb them).
fn build(data: &[u8]) -> TmkHash {
    let mut acc = TmkAccumulator::new();
    for chunk in data.chunks(4 * FEATURE_DIM).take(4) {
        let mut f: Feature = [0.0; FEATURE_DIM];
        for (v, b) in f.iter_mut().zip(chunk.chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        let refused = f.iter().any(|v| !v.is_finite() || v.abs() > hashdb::tmk::MAX_FEATURE_ABS);
        assert_eq!(acc.push(&f).is_err(), refused, "push refused {refused}");
    }
    acc.finish()
}

fn check(bytes: &[u8], valid: &TmkHash) {
    let Ok(h) = TmkHash::from_bytes(bytes) else {
        return;
    };
    assert!(h.to_bytes() == bytes, "a parsed file writes back differently");
    for s in [scores(&h, valid), scores(&h, &h), scores(valid, &h)] {
        assert!(s.level1.is_finite() && s.level2.is_finite(), "{s:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode == 0 {
        check(rest, &build(&[]));
        return;
    }
    // Mode != 0: `n` bytes of features, then patches of 5 bytes (u32
    // offset, value), then, when mode is odd, a cut at the last 4 bytes.
    let n = usize::from(mode) * 16;
    let (features, patches) = rest.split_at(n.min(rest.len()));
    let valid = build(features);
    let mut bytes = valid.to_bytes();
    assert_eq!(bytes.len(), FILE_SIZE);
    assert!(
        matches!(TmkHash::from_bytes(&bytes), Ok(h) if h == valid),
        "a written file reads back"
    );
    for p in patches.chunks_exact(5) {
        let at = u32::from_le_bytes([p[0], p[1], p[2], p[3]]) as usize;
        // Most patches in the header and the small sections, where every
        // field is checked; the rest anywhere.
        let at = if at & 1 == 0 { (at >> 1) % 1200 } else { (at >> 1) % FILE_SIZE };
        bytes[at] = p[4];
    }
    if mode & 1 == 1 {
        if let Some(cut) = patches.len().checked_sub(4).map(|i| &patches[i..]) {
            let len = u32::from_le_bytes([cut[0], cut[1], cut[2], cut[3]]) as usize;
            bytes.truncate(len % (FILE_SIZE + 1));
        }
    }
    check(&bytes, &valid);
});
