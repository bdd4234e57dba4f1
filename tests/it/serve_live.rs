//! Live list updates (writes by another process, by this server, entry
//! disables), concurrent writes while matching, and graceful shutdown on
//! SIGTERM, against the real server.

use crate::serve_support;

use serve_support::*;
use std::time::{Duration, Instant};

fn hex_pdq(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

fn banks_of(s: &Server, pdq: &str) -> Vec<String> {
    let r = s.get(&format!("/m/lookup?signal_type=pdq&signal={pdq}"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // HMA's answer: {bank: [{"bank_content_id", "distance"}]}.
    let by_bank: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&r.body).unwrap();
    by_bank.keys().cloned().collect()
}

#[test]
fn imports_and_disables_from_another_process_are_matched_within_5s() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let dbs = db.to_str().unwrap();
    let s = Server::start(&db, &[]);
    let h = hex_pdq(0x5a);
    assert!(banks_of(&s, &h).is_empty());

    let file = dir.path().join("l.txt");
    std::fs::write(&file, format!("{h}\n")).unwrap();
    let t0 = Instant::now();
    cli(&["db", "--db", dbs, "import", "L", file.to_str().unwrap()]);
    assert!(
        eventually(5, || banks_of(&s, &h) == ["L"]),
        "import not seen"
    );
    let seen = t0.elapsed();
    assert!(seen < Duration::from_secs(5), "{seen:?}");
    // In place: no rebuild happened for an entry import.
    let m = String::from_utf8(s.get("/metrics", None).body).unwrap();
    assert!(m.contains("hashsieve_live_rebuilds_total 0"), "{m}");

    let id = cli(&["db", "--db", dbs, "export", "L", "--format", "jsonl"]);
    let id = serde_json::from_str::<serde_json::Value>(id.lines().next().unwrap()).unwrap();
    let id = id["id"]
        .as_i64()
        .or_else(|| id["entry"].as_i64())
        .unwrap_or(1);
    cli(&["db", "--db", dbs, "disable-entry", &id.to_string()]);
    assert!(
        eventually(5, || banks_of(&s, &h).is_empty()),
        "disable not seen"
    );

    // A disabled list stops matching too (rebuild in the background).
    std::fs::write(&file, format!("{}\n", hex_pdq(0x33))).unwrap();
    cli(&["db", "--db", dbs, "import", "L", file.to_str().unwrap()]);
    assert!(eventually(5, || banks_of(&s, &hex_pdq(0x33)) == ["L"]));
    cli(&["db", "--db", dbs, "disable", "L"]);
    assert!(eventually(5, || banks_of(&s, &hex_pdq(0x33)).is_empty()));
}

#[test]
fn writes_through_the_api_while_matching() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let s = Server::start(&db, &[]);
    let addr = s.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|i| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let q = format!("/v1/match?signal_type=pdq&signal={}", hex_pdq(i));
                    let r = request(addr, "GET", &q, None, &[], &[]);
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    n += 1;
                }
                n
            })
        })
        .collect();
    let writers: Vec<_> = (0..3u8)
        .map(|w| {
            std::thread::spawn(move || {
                for k in 0..10u8 {
                    let body: String = (0..20u8)
                        .map(|j| format!("{}\n", hex_pdq(100 + w * 40 + k * 2 + j % 2)))
                        .collect();
                    let r = request(
                        addr,
                        "POST",
                        "/v1/lists/L/entries?format=pdq",
                        None,
                        &[("Content-Type", "text/plain")],
                        body.as_bytes(),
                    );
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let n: u32 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(n > 0);
    // Everything written is matched.
    for w in 0..3u8 {
        let h = hex_pdq(100 + w * 40 + 18 + 1);
        assert!(eventually(5, || banks_of(&s, &h) == ["L"]), "{h}");
    }
    // Disable through the API: stops matching.
    let h = hex_pdq(100);
    let r = s.get(&format!("/v1/match?signal_type=pdq&signal={h}"), None);
    let entry = r.json()["matches"][0]["entry"].as_i64().unwrap();
    let r = request(
        addr,
        "PUT",
        &format!("/v1/entries/{entry}/status"),
        None,
        &[("Content-Type", "application/json")],
        br#"{"status":"disputed","reason":"false positive"}"#,
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(eventually(5, || banks_of(&s, &h).is_empty()));
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits() {
    let dir = tempfile::tempdir().unwrap();
    let db = db_with_list(dir.path(), "L");
    let mut s = Server::start(&db, &["--max-jobs", "1"]);
    let addr = s.addr;
    let png = test_png(2000, 1500, 3);
    let inflight = std::thread::spawn(move || {
        request(
            addr,
            "POST",
            "/v1/hash",
            None,
            &[("Content-Type", "image/png")],
            &png,
        )
    });
    std::thread::sleep(Duration::from_millis(150));
    let pid = s.child.id() as i32;
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let r = inflight.join().unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["pdq"][0]["hash"].is_string());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    // Stopped accepting.
    assert!(std::net::TcpStream::connect(addr).is_err());
}
