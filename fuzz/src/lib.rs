//! Shared by the fuzz targets: panics caught by the code under test.
//!
//! libfuzzer-sys aborts on every panic, even one the code under test
//! catches by design: a decoder's panic becomes that file's `decode` error
//! (`catch_unwind` in `media::image`), a panic in a service job becomes a
//! 500 (tokio catches it). Targets that drive such code install
//! [`record_panics`] instead: a panic is printed and remembered, the
//! target then judges the outcome (a 500 is a finding, a decode error is
//! not), and a panic nothing catches still reaches libfuzzer-sys, which
//! aborts.

use std::collections::HashSet;
use std::sync::{Mutex, Once};

/// The last panic: `file:line: message`.
static LAST: Mutex<Option<String>> = Mutex::new(None);

/// Install the recording panic hook (once per process). Panics in
/// dependencies (the decoders, which run under `catch_unwind`) are printed
/// once per place; ours always, with a backtrace.
pub fn record_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
        std::panic::set_hook(Box::new(|info| {
            let place = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let dependency = place.contains("/.cargo/registry/");
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if !dependency {
                let bt = std::backtrace::Backtrace::force_capture();
                eprintln!("panic: {info}\n{bt}");
            } else if seen.get_or_insert_with(HashSet::new).insert(place.clone()) {
                eprintln!("panic (printed once for this place): {info}");
            }
            *LAST.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{place}: {message}"));
        }));
    });
}

/// The last panic since the previous call, if any.
pub fn take_panic() -> Option<String> {
    LAST.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// A service answer to client input must not be a 500 (bad input is a
/// 4xx; a 500 is the server's own fault, often a panic a job caught).
/// Panics with the answer and the panic behind it.
pub fn check_not_500(what: &str, status: u16, body: &[u8]) {
    if status != 500 {
        return;
    }
    let panic = take_panic();
    panic!(
        "{what}: 500 {}{}",
        String::from_utf8_lossy(body),
        panic
            .map(|p| format!("\nafter a panic at {p}"))
            .unwrap_or_default()
    );
}
