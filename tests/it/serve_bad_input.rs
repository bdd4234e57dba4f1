//! Hostile and malformed requests against the real server on an ephemeral
//! loopback port: each gets the right status and a JSON error body, and
//! the server keeps serving.

use crate::serve_support;

use serve_support::*;
use std::io::Write;

/// A PNG whose header claims 60000 x 60000 pixels over a few bytes of data.
fn png_bomb() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&60_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![0u8; 1 << 20]).unwrap();
    chunk(&mut out, b"IDAT", &z.finish().unwrap());
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn bad_requests_get_json_errors_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let s = Server::start(&db, &["--max-body-mib", "1"]);

    // Garbage body: hashed as an unknown file (digests only), not an error.
    let r = s.post(
        "/v1/match",
        None,
        "application/octet-stream",
        b"\x00\x01garbage\xff",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["media"], "other");
    assert!(r.json()["md5"].is_string());

    // Empty body.
    let r = s.post("/v1/hash", None, "application/octet-stream", b"");
    assert_eq!((r.status, r.error_kind().as_str()), (400, "bad_request"));

    // Truncated multipart: the closing boundary never comes.
    let mut body = multipart("photo", "a.png", &test_png(64, 64, 1));
    body.truncate(body.len() - 30);
    let r = s.post("/v1/hash", None, &multipart_type(), &body);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    r.error_kind();
    let r = s.post("/m/lookup", None, &multipart_type(), &body);
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].is_string(), "HMA error shape");

    // Over the limit with a declared length: refused before the body is sent.
    let head = format!(
        "POST /v1/hash HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        3 << 20
    );
    let r = raw(s.addr, head.as_bytes());
    assert_eq!((r.status, r.error_kind().as_str()), (413, "too_large"));
    // Over the limit, chunked (no declared length): cut off while streaming.
    let mut chunked =
        b"POST /v1/hash HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    let piece = vec![b'a'; 64 << 10];
    for _ in 0..40 {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(&piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = raw(s.addr, &chunked);
    assert_eq!((r.status, r.error_kind().as_str()), (413, "too_large"));
    // Multipart over the limit.
    let big = multipart("photo", "big.bin", &vec![7u8; 2 << 20]);
    let r = s.post("/h/hash", None, &multipart_type(), &big);
    assert_eq!(r.status, 413);

    // Decompression bomb: refused by the decoder limits, digests still there.
    let r = s.post("/v1/hash", None, "image/png", &png_bomb());
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert_eq!(j["error"]["kind"], "limit", "{j}");
    assert!(j["sha256"].is_string());

    // Corrupt video: an MP4 header over garbage.
    let mut mp4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41".to_vec();
    mp4.extend((0..50_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8));
    let r = s.post("/v1/match", None, "video/mp4", &mp4);
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["error"]["kind"].is_string());
    assert!(r.json()["matches"].is_array(), "digests still matched");

    // Invalid hashes and parameters.
    for q in [
        "/v1/match?signal_type=pdq&signal=zz",
        "/v1/match?signal_type=pdq&signal=abcd",
        "/v1/match?signal_type=nosuch&signal=00",
        "/v1/match?signal=00",
        "/v1/match?signal_type=pdq&signal=00&quality=banana",
    ] {
        let r = s.get(q, None);
        assert_eq!(
            (r.status, r.error_kind().as_str()),
            (400, "bad_request"),
            "{q}"
        );
    }
    let r = s.get("/m/lookup?signal_type=pdq&signal=xyz", None);
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].is_string());
    let r = s.post("/v1/match/vpdq", None, "text/plain", b"0,100,nothex,0.0\n");
    assert_eq!(r.status, 400);
    r.error_kind();
    let r = s.post("/m/compare", None, "application/json", b"{not json");
    assert_eq!(r.status, 400);
    let r = s.post("/v1/lists", None, "application/json", b"[1,2]");
    assert_eq!((r.status, r.error_kind().as_str()), (400, "bad_request"));

    // Unknown routes and methods.
    let r = s.get("/nope", None);
    assert_eq!((r.status, r.error_kind().as_str()), (404, "not_found"));
    let r = request(s.addr, "DELETE", "/v1/match", None, &[], &[]);
    assert_eq!(
        (r.status, r.error_kind().as_str()),
        (405, "method_not_allowed")
    );
    let r = request(s.addr, "PATCH", "/v1/hash", None, &[], &[]);
    assert_eq!(r.status, 405);

    // A request that is not HTTP at all.
    let _ = raw(s.addr, b"\x16\x03\x01\x02\x00garbage-not-http\r\n\r\n").status;

    // A client that stalls mid-body is cut off by the request timeout.
    let slow = Server::start(&db, &["--timeout-secs", "1"]);
    let t = std::time::Instant::now();
    let r = raw(
        slow.addr,
        b"POST /v1/hash HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000\r\n\r\nonly ten b",
    );
    assert_eq!((r.status, r.error_kind().as_str()), (503, "timeout"));
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(r.header("retry-after"), Some("1"));

    // The OpenAPI document is served and generated from the handlers.
    let doc = s.get("/v1/openapi.json", None).json();
    assert!(doc["paths"]["/v1/match"]["get"].is_object());
    assert!(doc["paths"]["/v1/lists/{name}/entries"]["post"].is_object());

    // Still serving, and the failures are counted.
    assert_eq!(s.get("/healthz", None).status, 200);
    let m = String::from_utf8(s.get("/metrics", None).body).unwrap();
    assert!(m.contains("status=\"413\""), "{m}");
    assert!(m.contains("status=\"400\""));
}

#[test]
fn missing_wrong_and_underscoped_tokens_do_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let dbs = db.to_str().unwrap();
    let matcher = cli(&["token", "create", "--db", dbs, "--scope", "match"]);
    let matcher = matcher.trim();
    assert!(
        matcher.starts_with("hs_") && !matcher.contains('\n'),
        "token alone on stdout"
    );
    let writer = cli(&["token", "create", "--db", dbs, "--scope", "write"]);
    let writer = writer.trim();
    // The secret is not stored in clear.
    let raw_db = std::fs::read(&db).unwrap();
    assert!(!raw_db
        .windows(matcher.len())
        .any(|w| w == matcher.as_bytes()));

    let s = Server::start(&db, &[]);
    let q = "/v1/match?signal_type=md5&signal=d41d8cd98f00b204e9800998ecf8427e";
    assert_eq!(s.get(q, None).error_kind(), "unauthorized");
    assert_eq!(s.get(q, None).status, 401);
    assert_eq!(s.get(q, Some("hs_wrong")).status, 401);
    let r = request(
        s.addr,
        "GET",
        q,
        None,
        &[("Authorization", "Basic Zm9vOmJhcg==")],
        &[],
    );
    assert_eq!(r.status, 401);
    assert_eq!(s.get(q, Some(matcher)).status, 200);

    // Wrong scope: 403 and the list is not created.
    let body = serde_json::json!({"name": "NEW"});
    let r = s.post_json("/v1/lists", Some(matcher), &body);
    assert_eq!((r.status, r.error_kind().as_str()), (403, "forbidden"));
    let r = s.post_json("/c/banks", None, &body);
    assert_eq!(r.status, 401);
    let lists = cli(&["db", "--db", dbs, "stats"]);
    assert!(!lists.contains("NEW"), "{lists}");
    // Hashing with a write-only token: 403, nothing hashed.
    let r = s.post("/v1/hash", Some(writer), "image/png", &test_png(32, 32, 0));
    assert_eq!(r.status, 403);
    let r = s.post_json("/v1/lists", Some(writer), &body);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));

    // Revocation takes effect without a restart.
    let list = cli(&["token", "list", "--db", dbs]);
    let id = list
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|t| t["scopes"][0] == "match")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    cli(&["token", "revoke", "--db", dbs, &id.to_string()]);
    assert!(eventually(5, || s.get(q, Some(matcher)).status == 401));
    // Health and metrics need no token.
    assert_eq!(s.get("/healthz", None).status, 200);
}

#[test]
fn non_loopback_without_tokens_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let out = std::process::Command::new(BIN)
        .args(["serve", "--db"])
        .arg(&db)
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--insecure-no-auth"), "{err}");
}

/// Peak resident memory of a process, KiB (Linux `VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn token_ids(dbs: &str) -> Vec<i64> {
    cli(&["token", "list", "--db", dbs])
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|t| t["revoked_at"].is_null())
        .filter_map(|t| t["id"].as_i64())
        .collect()
}

#[test]
fn revoking_every_token_never_opens_the_service() {
    // The probe: token create, serve on loopback, token revoke 1, and a
    // second later every write went through without a token.
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let dbs = db.to_str().unwrap();
    let writer = cli(&["token", "create", "--db", dbs, "--scope", "write"]);
    let writer = writer.trim().to_string();
    let s = Server::start(&db, &[]);
    let bank = |name: &str, token: Option<&str>| {
        s.post_json("/c/banks", token, &serde_json::json!({ "name": name }))
            .status
    };
    assert_eq!(bank("WITH_TOKEN", Some(&writer)), 201);
    for id in token_ids(dbs) {
        cli(&["token", "revoke", "--db", dbs, &id.to_string()]);
    }
    // (Until the next poll the revoked token still works: each probe
    // creates a bank of its own.)
    let mut probe = 0;
    assert!(eventually(5, || {
        probe += 1;
        bank(&format!("PROBE_{probe}"), Some(&writer)) == 401
    }));
    // Several polls later (--poll-ms 200): still closed, to everyone.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(bank("NO_TOKEN", None), 401);
    assert_eq!(bank("REVOKED2", Some(&writer)), 401);
    let q = "/v1/match?signal_type=md5&signal=d41d8cd98f00b204e9800998ecf8427e";
    assert_eq!(s.get(q, None).status, 401);
    let banks = cli(&["db", "--db", dbs, "lists"]);
    assert!(
        !banks.contains("NO_TOKEN") && !banks.contains("REVOKED2"),
        "{banks}"
    );
    // The probes stay open.
    assert_eq!(s.get("/healthz", None).status, 200);
}

#[test]
fn a_service_started_open_closes_for_good_once_a_token_exists() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let dbs = db.to_str().unwrap();
    let s = Server::start(&db, &[]);
    let q = "/v1/match?signal_type=md5&signal=d41d8cd98f00b204e9800998ecf8427e";
    // Loopback, no token: open, as documented.
    assert_eq!(s.get(q, None).status, 200);
    let t = cli(&["token", "create", "--db", dbs, "--scope", "match"]);
    let t = t.trim().to_string();
    assert!(eventually(5, || s.get(q, None).status == 401));
    assert_eq!(s.get(q, Some(&t)).status, 200);
    for id in token_ids(dbs) {
        cli(&["token", "revoke", "--db", dbs, &id.to_string()]);
    }
    assert!(eventually(5, || s.get(q, Some(&t)).status == 401));
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert_eq!(s.get(q, None).status, 401);

    // --require-auth: closed from the start, with no token at all.
    let dir2 = tempfile::tempdir().unwrap();
    let db2 = db_with_list(dir2.path(), "L");
    let s2 = Server::start(&db2, &["--require-auth"]);
    assert_eq!(s2.get(q, None).status, 401);
    assert_eq!(s2.get("/healthz", None).status, 200);
}

#[test]
fn made_up_methods_do_not_grow_the_metrics() {
    // The probe: 20,000 requests with 30 KB custom methods took RSS from
    // 35 MB to 637 MB (each method a Prometheus label value kept for ever).
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let s = Server::start(&db, &[]);
    let marker = "ZZMETHOD";
    for i in 0..400 {
        let method = format!("{marker}{i}{}", "X".repeat(8 << 10));
        let path = if i % 2 == 0 {
            "/healthz"
        } else {
            "/no/such/route"
        };
        let r = raw(
            s.addr,
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert!(r.status >= 400, "{}", r.status);
    }
    let m = String::from_utf8(s.get("/metrics", None).body).unwrap();
    assert!(!m.contains(marker), "a client's method became a label");
    assert!(m.contains("method=\"OTHER\""), "{m}");
    assert!(m.len() < 64 << 10, "metrics grew to {} bytes", m.len());
    assert_eq!(s.get("/healthz", None).status, 200);
}

/// Send `head` then `total` bytes of `{"pdq":[0,0,0,...` chunked, as fast
/// as the server takes them; returns the answer.
fn chunked_json_flood(addr: std::net::SocketAddr, path: &str, total: usize) -> Resp {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let _ = s.write_all(head.as_bytes());
    let mut first = b"{\"pdq\":[".to_vec();
    first.extend(std::iter::repeat_n(*b"0,", 32 << 10).flatten());
    let chunk = |data: &[u8]| {
        let mut c = format!("{:x}\r\n", data.len()).into_bytes();
        c.extend_from_slice(data);
        c.extend_from_slice(b"\r\n");
        c
    };
    let zeros: Vec<u8> = std::iter::repeat_n(*b"0,", 32 << 10).flatten().collect();
    let mut sent = first.len();
    if s.write_all(&chunk(&first)).is_ok() {
        let c = chunk(&zeros);
        while sent < total {
            if s.write_all(&c).is_err() {
                break;
            }
            sent += zeros.len();
        }
    }
    read_response(&mut s)
}

#[test]
fn json_bodies_have_their_own_small_limit() {
    // The probe: one 200 MiB {"pdq":[0,0,...]} to /m/compare peaked at
    // 3.7 GB RSS; three 64 MiB bodies at once, 4.7 GB.
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let s = Server::start(&db, &[]);
    // Declared: refused before a byte is read.
    let r = raw(
        s.addr,
        b"POST /m/compare HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 209715200\r\nConnection: close\r\n\r\n{\"pdq\":[",
    );
    assert_eq!(r.status, 413);
    // Undeclared (chunked), three at once: cut off at the JSON limit.
    let addr = s.addr;
    let floods: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || chunked_json_flood(addr, "/m/compare", 64 << 20)))
        .collect();
    for f in floods {
        let r = f.join().unwrap();
        assert!(r.status == 413 || r.status == 503, "{}", r.status);
    }
    let r = chunked_json_flood(s.addr, "/c/banks", 8 << 20);
    assert_eq!(r.status, 413);
    let peak = peak_rss_kib(s.child.id());
    assert!(peak > 0 && peak < 200 << 10, "server peaked at {peak} KiB");
    // Numbers where hashes belong: refused at the first one.
    let r = s.post_json("/m/compare", None, &serde_json::json!({"pdq": [0, 0]}));
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("string"));
    // A real comparison still works.
    let a = "f".repeat(64);
    let r = s.post_json("/m/compare", None, &serde_json::json!({"pdq": [a, a]}));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["pdq"][1]["distance"], 0);
}

/// vPDQ text of `frames` (frame, quality, hash, timestamp).
fn vpdq_text(frames: &[(u64, String)]) -> String {
    frames
        .iter()
        .map(|(i, h)| format!("{i},100,{h},{i}.000\n"))
        .collect()
}

fn random_hex(seed: &mut u64) -> String {
    (0..4)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            format!("{:016x}", *seed)
        })
        .collect()
}

#[test]
fn huge_vpdq_queries_are_capped_and_linear() {
    // The probe: 100k random frames took 14.8 s (a linear find per
    // frame); 1M-frame bodies kept both cores busy for minutes.
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let dbs = db.to_str().unwrap();
    let mut seed = 0x1234_5678_9abc_def1;
    let listed: Vec<(u64, String)> = (0..20).map(|i| (i, random_hex(&mut seed))).collect();
    let list_file = dir.path().join("v.vpdq");
    std::fs::write(&list_file, vpdq_text(&listed)).unwrap();
    cli(&[
        "db",
        "--db",
        dbs,
        "import",
        "L",
        list_file.to_str().unwrap(),
        "--format",
        "vpdq",
    ]);
    let s = Server::start(&db, &["--max-query-frames", "100000"]);
    // 100,000 frames of which the 20 listed ones: the listed video is
    // found (all of it is in the query).
    let mut q: Vec<(u64, String)> = (0..99_980).map(|i| (i, random_hex(&mut seed))).collect();
    q.extend(listed.iter().map(|(i, h)| (100_000 + i, h.clone())));
    let body = vpdq_text(&q);
    let r = s.post("/v1/match/vpdq", None, "text/plain", body.as_bytes());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let hits = r.json()["matches"].as_array().unwrap().clone();
    assert!(
        hits.iter()
            .any(|h| h["hit_by"] == "vpdq" && h["vpdq"]["target_percent"] == 100.0),
        "{hits:?}"
    );
    // One frame over the cap: a clear 413, nothing matched.
    q.push((200_000, random_hex(&mut seed)));
    let r = s.post(
        "/v1/match/vpdq",
        None,
        "text/plain",
        vpdq_text(&q).as_bytes(),
    );
    assert_eq!(r.status, 413);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--max-query-frames"));
    // A million frames declared: refused before reading.
    let r = raw(
        s.addr,
        b"POST /v1/match/vpdq HTTP/1.1\r\nHost: x\r\nContent-Length: 90000000\r\nConnection: close\r\n\r\n0,100,",
    );
    assert_eq!(r.status, 413);
    assert_eq!(s.get("/healthz", None).status, 200);
}

#[test]
fn slow_uploads_do_not_hold_the_hashing_slots() {
    // The probe: 6 connections sending one byte every 4 s kept /v1/hash
    // at 503 for a minute (the hashing ticket was taken before the body).
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let s = Server::start(&db, &["--max-jobs", "1", "--queue", "1"]);
    let addr = s.addr;
    let slow: Vec<_> = (0..6)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                c.set_read_timeout(Some(std::time::Duration::from_secs(60)))
                    .unwrap();
                let _ = c.write_all(
                    b"POST /v1/hash HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n",
                );
                let start = std::time::Instant::now();
                // One byte every 2 s until the server gives up (or 40 s).
                while start.elapsed() < std::time::Duration::from_secs(40) {
                    if c.write_all(b"x").is_err() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_secs(2));
                    let mut peek = [0u8; 1];
                    c.set_nonblocking(true).unwrap();
                    let answered = matches!(c.peek(&mut peek), Ok(n) if n > 0);
                    c.set_nonblocking(false).unwrap();
                    if answered {
                        break;
                    }
                }
                (read_response(&mut c).status, start.elapsed())
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_secs(3));
    // Meanwhile real uploads are hashed.
    for seed in 0..3 {
        let r = s.post("/v1/hash", None, "image/png", &test_png(64, 64, seed));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    for t in slow {
        let (status, took) = t.join().unwrap();
        assert_eq!(status, 408, "a dribbling upload was answered {status}");
        assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    }
}

/// A counter or gauge of the service's /metrics.
fn metric(s: &Server, name: &str) -> f64 {
    let m = String::from_utf8(s.get("/metrics", None).body).unwrap();
    m.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0)
}

#[test]
fn the_list_poller_retries_and_shows_its_lag() {
    // The probe: the poller could stop for good (a failed reopen) while
    // /readyz went on saying ready.
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let s = Server::start(&db, &[]);
    let ready = s.get("/readyz", None).json();
    assert!(ready["sync_lag_seconds"].as_f64().unwrap() < 5.0, "{ready}");
    // Every look at the change log fails: another process renames a table
    // the poller reads (its commit also tells the poller to look), and a
    // list change made through the service waits to be seen.
    let other = rusqlite::Connection::open(&db).unwrap();
    other
        .execute_batch("ALTER TABLE allowlist_log RENAME TO allowlist_log_away")
        .unwrap();
    let r = request(
        s.addr,
        "PATCH",
        "/v1/lists/L",
        None,
        &[("Content-Type", "application/json")],
        br#"{"pdq_threshold": 20}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(eventually(15, || metric(
        &s,
        "hashsieve_live_update_errors"
    ) >= 3.0));
    assert!(eventually(15, || {
        s.get("/readyz", None).json()["sync_lag_seconds"]
            .as_f64()
            .unwrap_or(0.0)
            > 1.5
    }));
    assert!(metric(&s, "hashsieve_live_sync_lag_seconds") > 1.5);
    // The table comes back: the poller catches up on its own, in place.
    other
        .execute_batch("ALTER TABLE allowlist_log_away RENAME TO allowlist_log")
        .unwrap();
    assert!(eventually(15, || {
        s.get("/readyz", None).json()["sync_lag_seconds"]
            .as_f64()
            .is_some_and(|l| l < 1.0)
    }));
    assert_eq!(metric(&s, "hashsieve_live_rebuilds"), 0.0);
}

#[test]
fn dribbled_headers_are_cut_off_and_connections_are_capped() {
    // The probe: 1,000 connections dribbling headers stayed open, and one
    // half-sent request held graceful shutdown for 200 s.
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let mut s = Server::start(
        &db,
        &["--header-timeout-secs", "2", "--max-connections", "40"],
    );
    let start = Instant::now();
    let mut dribblers: Vec<std::net::TcpStream> = (0..40)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(s.addr).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    // Over the cap: closed at once, unanswered.
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = std::net::TcpStream::connect(s.addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut buf = Vec::new();
    let _ = extra.read_to_end(&mut buf);
    assert!(buf.is_empty(), "over the cap yet answered");
    // Dribbling one header byte a second does not keep them open.
    for c in &mut dribblers {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    for _ in 0..4 {
        for c in &mut dribblers {
            let _ = c.write_all(b"X");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    for mut c in dribblers {
        let mut buf = Vec::new();
        let _ = c.read_to_end(&mut buf);
    }
    assert!(
        start.elapsed() < Duration::from_secs(12),
        "{:?}",
        start.elapsed()
    );
    // The slots are free again.
    assert!(eventually(5, || s.get("/healthz", None).status == 200));
    assert!(metric(&s, "hashsieve_connections_refused") >= 1.0);

    // A half-sent request does not hold a graceful shutdown.
    let mut half = std::net::TcpStream::connect(s.addr).unwrap();
    half.write_all(b"POST /v1/hash HTTP/1.1\r\nHost: x\r\nContent-Le")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let stop = Instant::now();
    sigterm(s.child.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break Some(st);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.is_some(), "shutdown held by a half-sent request");
    assert!(
        stop.elapsed() < Duration::from_secs(10),
        "{:?}",
        stop.elapsed()
    );
}

/// SIGTERM to `pid` (the server's graceful shutdown signal).
fn sigterm(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM {pid}");
}

#[test]
fn changes_record_the_token_that_made_them() {
    // The probe: status changes took the client's `by` as the author, so
    // any writer could sign a change with someone else's name.
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let dbs = db.to_str().unwrap();
    let list = dir.path().join("l.txt");
    std::fs::write(&list, format!("{}\n", "f".repeat(64))).unwrap();
    cli(&["db", "--db", dbs, "import", "L", list.to_str().unwrap()]);
    let writer = cli(&["token", "create", "--db", dbs, "--scope", "write"]);
    let writer = writer.trim().to_string();
    let id = token_ids(dbs)[0];
    let s = Server::start(&db, &[]);
    let r = request(
        s.addr,
        "PUT",
        "/v1/entries/1/status",
        Some(&writer),
        &[("Content-Type", "application/json")],
        br#"{"status": "disabled", "by": "alice"}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let shown: serde_json::Value =
        serde_json::from_str(cli(&["db", "--db", dbs, "show", "1"]).trim()).unwrap();
    assert_eq!(shown["status_by"], format!("token:{id} (alice)"));
    let r = s.post_json(
        "/v1/allowlist",
        Some(&writer),
        &serde_json::json!({"signal_type": "md5", "signal": "d41d8cd98f00b204e9800998ecf8427e"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let allowed = cli(&["db", "--db", dbs, "allow", "list"]);
    assert!(allowed.contains(&format!("token:{id}")), "{allowed}");
}
