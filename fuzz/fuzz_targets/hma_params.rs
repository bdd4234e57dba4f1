//! Query strings of the lookup and hashing routes (HMA's `/m/lookup`,
//! `/m/raw_lookup`, `/h/hash`, our `GET /v1/match` ...) through the real
//! router in-process, and the signal parsing under them
//! (`SignalType::from_str`, `Value::parse`) on the same text.
//!
//! Input: a route selector byte, then the query string. Bytes a request
//! line cannot carry are percent-encoded (hyper refuses them before any
//! handler runs); `&`, `=`, `%` and `+` stay as they are, so the fuzzer
//! controls the parameters' structure and, through `%XX`, every decoded
//! byte.
//!
//! Besides "no panic": no 500 (bad input is a 4xx), and what
//! `Value::parse` accepts prints as text that parses to the same value
//! (lookups and bank answers echo that text).
#![no_main]

use std::sync::OnceLock;

use hashdb::model::Value;
use hashdb::SignalType;
use hashsieve::serve::fuzzing::Service;
use hashsieve_fuzz::{check_not_500, record_panics, take_panic};
use libfuzzer_sys::fuzz_target;

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/m/lookup"),
    ("GET", "/m/raw_lookup"),
    ("GET", "/h/hash"),
    ("GET", "/v1/match"),
    ("POST", "/v1/hash"),
    ("POST", "/m/lookup"),
    ("GET", "/v1/lists/BANK_A/export"),
];

fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("FUZZ_VERBOSE").is_some())
}

fn service() -> &'static Service {
    static S: OnceLock<Service> = OnceLock::new();
    S.get_or_init(|| Service::new().expect("the fuzzing service starts"))
}

/// The query as it can appear in a request line.
fn query_of(raw: &[u8]) -> String {
    let mut q = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            q.push(char::from(b));
        } else {
            q.push_str(&format!("%{b:02X}"));
        }
    }
    q
}

/// Every signal type and value split the text could mean.
fn parse_signals(text: &str) {
    let _ = text.parse::<SignalType>();
    for t in SignalType::ALL {
        if let Ok(v) = Value::parse(t, text) {
            let printed = v.to_text();
            let again = Value::parse(t, &printed)
                .unwrap_or_else(|e| panic!("{t} value prints as {printed:?}, which fails: {e}"));
            assert_eq!(again.key(), v.key(), "{t} value changes when printed");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // Panics a service job catches become 500s, judged below.
    record_panics();
    take_panic();
    let Some((&sel, raw)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(raw) {
        parse_signals(text);
        if let Some((t, v)) = text.split_once('=') {
            parse_signals(t);
            parse_signals(v);
        }
    }
    let (method, path) = ROUTES[usize::from(sel) % ROUTES.len()];
    let uri = format!("{path}?{}", query_of(raw));
    let Ok(reply) = service().request(method.as_bytes(), &uri, None, Vec::new()) else {
        return;
    };
    if verbose() {
        // Seeing what a seed gets (FUZZ_VERBOSE=1 <binary> -runs=0 corpus/...).
        let body = String::from_utf8_lossy(&reply.body);
        eprintln!("{method} {uri}: {} {:.300}", reply.status, body);
    }
    check_not_500(&format!("{method} {uri}"), reply.status, &reply.body);
});
