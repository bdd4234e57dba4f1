//! `.tmk` files (`hashdb::tmk::TmkHash::from_bytes`), as `compare` and the
//! list importers read them from outside, and the text forms of TMK values
//! the list formats carry (`TmkHash::from_text`: base64 of the file, or
//! ThreatExchange's `TMK1FVECPDQF|<base64>`).
//!
//! Random bytes almost never get past the header, so besides parsing the
//! input as it is (first byte 0), the target builds a VALID file from the
//! input (a few frames whose features are the input's floats, refused ones
//! included), then corrupts it with the rest of the input as patches
//! (offset, byte) and an optional cut. Checks: parsing never panics; a
//! file that parses writes back byte for byte; every score of a parsed
//! file against the valid one and against itself is finite (the type
//! promises a finite value, which every score relies on). Every file is
//! also written in both text forms, which must read as the bytes do (the
//! same hash, or an error). Modes 128 and up corrupt a valid value's TEXT
//! instead (ASCII patches and a cut): reading never panics, and what reads
//! writes back and reads again as the same hash.
#![no_main]

use hashdb::tmk::{
    encode_base64, scores, Feature, TmkAccumulator, TmkHash, TmkTextForm, FEATURE_DIM, FILE_SIZE,
};
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
        let refused = f
            .iter()
            .any(|v| !v.is_finite() || v.abs() > hashdb::tmk::MAX_FEATURE_ABS);
        assert_eq!(acc.push(&f).is_err(), refused, "push refused {refused}");
    }
    acc.finish()
}

/// Both text forms of `bytes` read as the bytes do.
fn check_text(bytes: &[u8]) {
    let direct = TmkHash::from_bytes(bytes).ok();
    let mut forms = vec![encode_base64(bytes)];
    if let Some(head) = bytes.get(..12).and_then(|h| std::str::from_utf8(h).ok()) {
        forms.push(format!("{head}|{}", encode_base64(&bytes[12..])));
    }
    for t in forms {
        assert!(
            TmkHash::from_text(&t).ok() == direct,
            "a text form reads differently from its bytes"
        );
    }
}

fn check(bytes: &[u8], valid: &TmkHash) {
    check_text(bytes);
    let Ok(h) = TmkHash::from_bytes(bytes) else {
        return;
    };
    assert!(
        h.to_bytes() == bytes,
        "a parsed file writes back differently"
    );
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
    if mode >= 128 {
        text_mode(mode - 128, rest);
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
        let at = if at & 1 == 0 {
            (at >> 1) % 1200
        } else {
            (at >> 1) % FILE_SIZE
        };
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

/// A valid value's text (form by the mode's low bit), patched with ASCII
/// `(u32 offset, byte)` pairs, cut at the last 4 bytes when bit 1 is set.
fn text_mode(mode: u8, rest: &[u8]) {
    let n = usize::from(mode >> 2) * 16;
    let (features, patches) = rest.split_at(n.min(rest.len()));
    let form = if mode & 1 == 0 {
        TmkTextForm::Base64
    } else {
        TmkTextForm::ThreatExchange
    };
    let mut text = build(features).to_text_form(form).into_bytes();
    for p in patches.chunks_exact(5) {
        let at = u32::from_le_bytes([p[0], p[1], p[2], p[3]]) as usize;
        // Mostly near the start (the prefix, the header's characters).
        let at = if at & 1 == 0 {
            (at >> 1) % 64
        } else {
            (at >> 1) % text.len()
        };
        text[at] = p[4] & 0x7f;
    }
    if mode & 2 != 0 {
        if let Some(cut) = patches.len().checked_sub(4).map(|i| &patches[i..]) {
            let len = u32::from_le_bytes([cut[0], cut[1], cut[2], cut[3]]) as usize;
            text.truncate(len % (text.len() + 1));
        }
    }
    let Ok(text) = String::from_utf8(text) else {
        return;
    };
    if let Ok(h) = TmkHash::from_text(&text) {
        for f in [TmkTextForm::Base64, TmkTextForm::ThreatExchange] {
            let again = TmkHash::from_text(&h.to_text_form(f)).expect("a written value reads");
            assert!(again == h, "a value read from text writes back differently");
        }
    }
}
