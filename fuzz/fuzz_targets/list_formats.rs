//! `db import`: the list readers of every format on arbitrary bytes, the
//! format given (`--format`) or detected from the head of the file as
//! `db import` does without it.
//!
//! Input: one selector byte, then the file. Selector % 8 picks
//! `Format::ALL[i]`; 6 and 7 detect.
//!
//! Besides "no panic", every record a reader accepts must survive `db
//! export` in the same format and import again unchanged (as far as the
//! format holds the field), and the export must be detected as that
//! format: lists travel between teams as exports, and an export that does
//! not import back, or imports as a different entry (a second copy of a
//! listed video), is a bug of the formats. Every accepted record must
//! also be one the store takes (the ranges its schema checks), and an
//! accepted video must export as vPDQ text, the interchange format of
//! videos, and import back.
#![no_main]

use hashdb::formats::{self, Format, Writer};
use hashdb::model::{Entry, Record, Value};
use libfuzzer_sys::fuzz_target;

/// `db import` detects on what its 64 KiB read buffer holds.
const DETECT_HEAD: usize = 64 << 10;

/// Records round-tripped per input (the reader still reads them all): the
/// check is per record, a few hundred cover every interplay of lines.
const MAX_CHECKED: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, file)) = data.split_first() else {
        return;
    };
    let format = match Format::ALL.get(usize::from(sel % 8)) {
        Some(f) => *f,
        None => match formats::detect(&file[..file.len().min(DETECT_HEAD)]) {
            Ok(f) => f,
            Err(_) => return,
        },
    };
    let Ok(records) = formats::read(format, file) else {
        return;
    };
    let mut checked = 0;
    for r in records {
        let Ok(r) = r else { continue };
        if checked < MAX_CHECKED {
            valid(&r);
            round_trip(format, &r);
            if format != Format::Vpdq && matches!(r.value, Value::Vpdq(_)) {
                round_trip(Format::Vpdq, &r);
            }
            checked += 1;
        }
    }
});

/// What the store's schema requires of a record (a reader that lets
/// more through fails the whole import with a database error, a 500 on
/// the service).
fn valid(r: &Record) {
    assert!(
        r.quality.is_none_or(|q| q <= 100),
        "quality {:?}",
        r.quality
    );
    if let Value::Vpdq(frames) = &r.value {
        assert!(!frames.is_empty(), "a video without frames");
        for w in frames.windows(2) {
            assert!(w[0].frame < w[1].frame, "frames out of order or twice");
        }
        for f in frames {
            assert!(
                f.quality <= 100,
                "frame {} of quality {}",
                f.frame,
                f.quality
            );
        }
    }
}

/// Export `r` as `format` (one entry, as `db export` writes it); `None`
/// when the format cannot hold its type (e.g. an MD5 in PDQ text).
fn export(format: Format, r: &Record) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = Writer::new(format, &mut out, "fuzz").expect("writing to memory");
    w.write(&entry_of(r)).expect("writing to memory");
    let sum = w.finish().expect("writing to memory");
    (sum.written == 1).then_some(out)
}

/// The entry `db export` would see for an imported record.
fn entry_of(r: &Record) -> Entry {
    Entry {
        id: 1,
        list_id: 1,
        record: r.clone(),
        added_at: r.added_at.unwrap_or(1_700_000_000),
        status: r.status.clone().unwrap_or_default(),
    }
}

/// Import the export of `r` and compare what the format keeps.
fn round_trip(format: Format, r: &Record) {
    let Some(text) = export(format, r) else {
        return;
    };
    assert_eq!(
        formats::detect(&text).ok(),
        Some(format),
        "an export is not detected as its format: {:?}",
        String::from_utf8_lossy(&text)
    );
    let back: Vec<_> = formats::read(format, text.as_slice())
        .unwrap_or_else(|e| panic!("export does not import: {e}"))
        .collect();
    assert_eq!(back.len(), 1, "one entry exported, {} imported", back.len());
    let b = match &back[0] {
        Ok(b) => b,
        Err(e) => panic!(
            "export does not import: {e}\nexport: {:?}",
            String::from_utf8_lossy(&text)
        ),
    };
    match format {
        Format::PdqText => {
            assert_eq!(b.value, r.value);
            assert_eq!(b.quality, r.quality);
        }
        // Only the value travels in these (te-csv adds the list name as
        // `collab`, by design). A video travels as pytx writes it: frames
        // as "hash,quality,timestamp" in order, without their numbers, the
        // timestamp in 3 significant digits; so hashes and qualities in
        // order come back, and a second export equals the first.
        Format::SignalLines | Format::TeCsv => match (&r.value, &b.value) {
            (Value::Vpdq(f0), Value::Vpdq(f1)) => {
                let kept = |f: &[hashdb::vpdq::VpdqFrame]| -> Vec<_> {
                    f.iter().map(|x| (x.hash, x.quality)).collect()
                };
                assert_eq!(kept(f0), kept(f1));
                let again = export(format, b).expect("a vPDQ value exports");
                assert_eq!(
                    String::from_utf8_lossy(&again),
                    String::from_utf8_lossy(&text),
                    "a second export differs"
                );
            }
            _ => assert_eq!(b.value, r.value),
        },
        Format::Csv => {
            assert_eq!(b.value, r.value);
            assert_eq!(b.quality, r.quality);
            assert_eq!(b.labels, r.labels);
            assert_eq!(b.external_id, r.external_id);
            assert_eq!(b.note, r.note);
        }
        Format::Jsonl => {
            // Lossless: everything, with the time and status the export
            // filled in.
            let e = entry_of(r);
            let mut want = r.clone();
            want.added_at = Some(e.added_at);
            want.status = Some(e.status);
            assert_eq!(b, &want);
        }
        Format::Vpdq => {
            // Timestamps are written with 3 decimals (as the reference
            // tools): the second export must equal the first.
            let (Value::Vpdq(f0), Value::Vpdq(f1)) = (&r.value, &b.value) else {
                panic!("a vPDQ file imported as {:?}", b.value.signal_type());
            };
            assert_eq!(f0.len(), f1.len());
            for (x, y) in f0.iter().zip(f1) {
                assert_eq!((x.frame, x.quality, x.hash), (y.frame, y.quality, y.hash));
            }
            let again = export(format, b).expect("a vPDQ value exports");
            assert_eq!(
                String::from_utf8_lossy(&again),
                String::from_utf8_lossy(&text),
                "vPDQ export is not stable"
            );
        }
    }
}
