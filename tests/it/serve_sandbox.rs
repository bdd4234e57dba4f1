//! The service decodes uploads in sandboxed workers (security issue, item
//! 13): an upload that crashes its decoder is answered with its record and
//! an error of kind `crash`; the service stays up and the next upload is
//! hashed. The crash order reaches the server through its environment.

use crate::serve_support;

use serve_support::*;

const MARKER: &str = "HASHSIEVE-TEST-CRASH";

fn with_order(png: &[u8], order: &str) -> Vec<u8> {
    let mut v = png.to_vec();
    v.extend_from_slice(format!("{MARKER}:{order}").as_bytes());
    v
}

#[test]
fn a_crashing_upload_gets_a_crash_record_and_the_service_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    // The server (and so its decoder workers) gets the crash order.
    let s = Server::start_with_env(
        &db,
        &["--max-jobs", "2"],
        &[("HASHSIEVE_TEST_CRASH_MARKER", MARKER)],
    );
    let good = test_png(64, 48, 1);

    let r = s.post("/v1/hash", None, "image/png", &good);
    assert_eq!(r.status, 200);
    let first = r.json();
    assert!(first["pdq"][0]["hash"].is_string(), "{first}");

    for order in ["segv", "abort"] {
        let bad = with_order(&test_png(64, 48, 2), order);
        let r = s.post("/v1/hash", None, "image/png", &bad);
        assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json();
        assert_eq!(j["error"]["kind"], "crash", "{j}");
        assert_eq!(j["media"], "image");
        assert!(j["md5"].is_string(), "{j}");
        // The next request works, on a fresh worker.
        let r = s.post("/v1/hash", None, "image/png", &good);
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["pdq"], first["pdq"]);
    }
    // Matching routes too (multipart upload).
    let bad = with_order(&good, "segv");
    let r = s.post(
        "/v1/match",
        None,
        &multipart_type(),
        &multipart("file", "x.png", &bad),
    );
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["error"]["kind"], "crash");
    assert_eq!(s.get("/healthz", None).status, 200);
    let r = s.post("/v1/match", None, "image/png", &good);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}
