//! Request bodies of the service: uploads (raw or `multipart/form-data`,
//! our `/v1` routes and HMA's `photo=@`/`video=@` forms), the JSON bodies
//! (HMA's `/m/compare` and bank routes, our list, status and allowlist
//! routes), vPDQ text and list files, through the real router in-process.
//!
//! Input: a route selector byte, the `Content-Type` value up to the first
//! `\n`, then the body. Routes that write run on a fresh copy of the
//! seeded database, so every input meets the same one.
//!
//! Besides "no panic": a client's body must never get a 500 (a 500 is the
//! server's own fault; bad input is a 4xx), and an answer is JSON.
#![no_main]

use std::sync::OnceLock;

use hashsieve::serve::fuzzing::Service;
use hashsieve_fuzz::{check_not_500, record_panics, take_panic};
use libfuzzer_sys::fuzz_target;

/// (method, path, writes)
const ROUTES: &[(&str, &str, bool)] = &[
    ("POST", "/v1/hash", false),
    ("POST", "/v1/match", false),
    ("POST", "/h/hash", false),
    ("POST", "/m/lookup?banks=BANK_A", false),
    ("POST", "/m/compare", false),
    ("POST", "/v1/match/vpdq", false),
    ("POST", "/c/banks", true),
    ("PUT", "/c/bank/BANK_A", true),
    ("POST", "/c/bank/BANK_A/signal", true),
    ("POST", "/c/bank/BANK_A/content", true),
    ("POST", "/v1/lists", true),
    ("PATCH", "/v1/lists/demo", true),
    ("PUT", "/v1/entries/1/status", true),
    ("POST", "/v1/allowlist", true),
    ("POST", "/v1/lists/demo/entries?skip_invalid=true", true),
    ("POST", "/v1/lists/demo/media?labels=a,b&note=n", true),
];

fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("FUZZ_VERBOSE").is_some())
}

fn service() -> &'static Service {
    static S: OnceLock<Service> = OnceLock::new();
    S.get_or_init(|| Service::new().expect("the fuzzing service starts"))
}

fuzz_target!(|data: &[u8]| {
    // Panics a service job catches become 500s, judged below.
    record_panics();
    take_panic();
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (method, path, writes) = ROUTES[usize::from(sel) % ROUTES.len()];
    let (ctype, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    let svc = service();
    let reply = if writes {
        svc.request_fresh(method.as_bytes(), path, ctype, body.to_vec())
    } else {
        svc.request(method.as_bytes(), path, ctype, body.to_vec())
    };
    // A Content-Type value hyper would not have accepted as a header.
    let Ok(reply) = reply else {
        return;
    };
    if verbose() {
        // Seeing what a seed gets (FUZZ_VERBOSE=1 <binary> -runs=0 corpus/...).
        let body = String::from_utf8_lossy(&reply.body);
        eprintln!("{method} {path}: {} {:.300}", reply.status, body);
    }
    check_not_500(&format!("{method} {path}"), reply.status, &reply.body);
    assert!(
        std::str::from_utf8(&reply.body).is_ok_and(|s| s.starts_with('{') || s.starts_with('[')),
        "{method} {path}: {} with a body that is not JSON: {:?}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
});
