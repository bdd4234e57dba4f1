//! vPDQ text (`frame,quality,hash,timestamp` lines) everywhere it is read
//! from outside: `db import --format vpdq`, `compare`/`match --vpdq` files
//! (detected as vPDQ), and the body of `POST /v1/match/vpdq` through the
//! real router in-process (its size and frame caps included); plus the
//! JSON form of a vPDQ value (`Value::parse`, used by signal lines, CSV,
//! JSONL and the HMA routes).
//!
//! Besides "no panic": an accepted video exports to text that imports to
//! the same frames and exports identically again; the service never
//! answers a body with a 500; and it accepts exactly the bodies the
//! importer accepts (up to its frame cap), as both promise the same
//! format.
#![no_main]

use std::sync::OnceLock;

use hashdb::formats::{self, Format, Writer};
use hashdb::model::{Entry, Record, Value};
use hashdb::SignalType;
use hashsieve::serve::fuzzing::Service;
use hashsieve_fuzz::{check_not_500, record_panics, take_panic};
use libfuzzer_sys::fuzz_target;

/// The service's `max_query_frames` in [`Service`].
const MAX_QUERY_FRAMES: usize = 1000;

fn service() -> &'static Service {
    static S: OnceLock<Service> = OnceLock::new();
    S.get_or_init(|| Service::new().expect("the fuzzing service starts"))
}

fn export(r: &Record) -> String {
    let e = Entry {
        id: 1,
        list_id: 1,
        record: r.clone(),
        added_at: 0,
        status: Default::default(),
    };
    let mut out = Vec::new();
    let mut w = Writer::new(Format::Vpdq, &mut out, "fuzz").expect("writing to memory");
    w.write(&e).expect("writing to memory");
    w.finish().expect("writing to memory");
    String::from_utf8(out).expect("the export is text")
}

fn frames(r: &Record) -> &[hashdb::vpdq::VpdqFrame] {
    match &r.value {
        Value::Vpdq(f) => f,
        other => panic!("vPDQ text read as {:?}", other.signal_type()),
    }
}

fuzz_target!(|data: &[u8]| {
    // Panics a service job catches become 500s, judged below.
    record_panics();
    take_panic();
    let imported = formats::read(Format::Vpdq, data)
        .expect("the vPDQ reader has no header to fail on")
        .next()
        .expect("one record or error");
    if let Ok(r) = &imported {
        let text = export(r);
        let back = formats::read(Format::Vpdq, text.as_bytes())
            .expect("reader")
            .next()
            .expect("one record or error")
            .unwrap_or_else(|e| panic!("export {text:?} does not import: {e}"));
        let (f0, f1) = (frames(r), frames(&back));
        assert_eq!(f0.len(), f1.len());
        for (a, b) in f0.iter().zip(f1) {
            assert_eq!((a.frame, a.quality, a.hash), (b.frame, b.quality, b.hash));
        }
        assert_eq!(export(&back), text, "vPDQ export is not stable");
        assert_eq!(formats::detect(text.as_bytes()).ok(), Some(Format::Vpdq));
    }
    // `compare` and `match --vpdq` take a file as vPDQ text when detected.
    let _ = formats::detect(&data[..data.len().min(4096)]);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Value::parse(SignalType::Vpdq, text);
    }

    let Ok(reply) = service().request(b"POST", "/v1/match/vpdq", None, data.to_vec()) else {
        return;
    };
    check_not_500("POST /v1/match/vpdq", reply.status, &reply.body);
    // Refused only as the importer refuses, or over the frame cap; the
    // size cap (160 bytes a frame) is not reached by what the fuzzer sends.
    let too_many = imported
        .as_ref()
        .is_ok_and(|r| frames(r).len() > MAX_QUERY_FRAMES);
    if imported.is_ok() && !too_many {
        assert_eq!(
            reply.status,
            200,
            "importable vPDQ refused by /v1/match/vpdq: {}",
            String::from_utf8_lossy(&reply.body)
        );
    } else {
        assert_ne!(
            reply.status, 200,
            "/v1/match/vpdq accepted what the importer refuses"
        );
    }
});
