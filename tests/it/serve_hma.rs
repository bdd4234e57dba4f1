//! HMA 2.0 compatibility: recorded request/response pairs, written from
//! the routes of facebook/ThreatExchange's
//! `hasher-matcher-actioner/src/OpenMediaMatch/blueprints/` (matching.py,
//! hashing.py, curation.py) and HMA's docstrings. `<int>` in an expected
//! body stands for any integer (content ids), `<hex64>` for a PDQ hash,
//! `<hex32>` for an MD5; everything else must be equal.

use crate::fixtures;
use crate::serve_support;

use serde_json::{json, Value};
use serve_support::*;

/// One recorded exchange.
struct Pair {
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    status: u16,
    expect: Value,
}

const PDQ_A: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
const PDQ_A_NEAR: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b23";
const PDQ_FAR: &str = "0707060e1f0b57b0f9c8f5ddfc709c0f4c91d12a699de1e2cc194c63b16364dd";

fn pairs() -> Vec<Pair> {
    let p = |method, path, body, status, expect| Pair {
        method,
        path,
        body,
        status,
        expect,
    };
    vec![
        p("GET", "/c/banks", None, 200, json!([])),
        p(
            "POST",
            "/c/banks",
            Some(json!({"name": "TEST_BANK"})),
            201,
            json!({"name": "TEST_BANK", "matching_enabled_ratio": 1.0}),
        ),
        p(
            "POST",
            "/c/banks",
            Some(json!({"name": "TEST_BANK"})),
            403,
            json!({"message": "Bank already exists"}),
        ),
        p(
            "POST",
            "/c/banks",
            Some(json!({"name": "OFF_BANK", "enabled": false})),
            201,
            json!({"name": "OFF_BANK", "matching_enabled_ratio": 0.0}),
        ),
        p(
            "GET",
            "/c/bank/TEST_BANK",
            None,
            200,
            json!({"name": "TEST_BANK", "matching_enabled_ratio": 1.0}),
        ),
        p(
            "GET",
            "/c/bank/NO_SUCH_BANK",
            None,
            404,
            json!({"message": "bank 'NO_SUCH_BANK' not found"}),
        ),
        p(
            "POST",
            "/c/bank/TEST_BANK/signal",
            Some(json!({"pdq": PDQ_A})),
            200,
            json!({"id": "<int>", "signals": {"pdq": PDQ_A}}),
        ),
        p(
            "POST",
            "/c/bank/NO_SUCH_BANK/signal",
            Some(json!({"pdq": PDQ_A})),
            404,
            json!({"message": "bank 'NO_SUCH_BANK' not found"}),
        ),
        p(
            "POST",
            "/c/bank/TEST_BANK/signal",
            Some(json!({"pdq": "nothex"})),
            400,
            json!("<message>"),
        ),
        p(
            "POST",
            "/c/bank/TEST_BANK/signal",
            Some(json!({})),
            400,
            json!({"message": "No signals given"}),
        ),
        p(
            "POST",
            "/c/bank/OFF_BANK/signal",
            Some(json!({"pdq": PDQ_FAR})),
            200,
            json!({"id": "<int>", "signals": {"pdq": PDQ_FAR}}),
        ),
        // Lookups: per bank, the matching contents and their distances
        // (disabled banks never match; `banks=` restricts).
        p(
            "GET",
            leak(format!("/m/lookup?signal_type=pdq&signal={PDQ_A_NEAR}")),
            None,
            200,
            json!({"TEST_BANK": [{"bank_content_id": "<int>", "distance": "1"}]}),
        ),
        p(
            "GET",
            leak(format!(
                "/m/lookup?signal_type=pdq&signal={PDQ_A_NEAR}&banks=OFF_BANK"
            )),
            None,
            200,
            json!({}),
        ),
        p(
            "GET",
            leak(format!(
                "/m/lookup?signal_type=pdq&signal={PDQ_A_NEAR}&banks=OFF_BANK,TEST_BANK&seed=7"
            )),
            None,
            200,
            json!({"TEST_BANK": [{"bank_content_id": "<int>", "distance": "1"}]}),
        ),
        p(
            "GET",
            leak(format!("/m/lookup?signal_type=pdq&signal={PDQ_FAR}")),
            None,
            200,
            json!({}),
        ),
        p(
            "GET",
            leak(format!("/m/raw_lookup?signal_type=pdq&signal={PDQ_A_NEAR}")),
            None,
            200,
            json!({"matches": ["<int>"]}),
        ),
        p(
            "GET",
            leak(format!(
                "/m/raw_lookup?signal_type=pdq&signal={PDQ_A_NEAR}&include_distance=true"
            )),
            None,
            200,
            json!({"matches": [{"bank_content_id": "<int>", "distance": "1"}]}),
        ),
        // PDQ_FAR is only in OFF_BANK, which is disabled: raw lookup
        // does not check enablement (HMA documents that).
        p(
            "GET",
            leak(format!("/m/raw_lookup?signal_type=pdq&signal={PDQ_FAR}")),
            None,
            200,
            json!({"matches": ["<int>"]}),
        ),
        p(
            "GET",
            "/m/lookup?signal_type=pdq",
            None,
            400,
            json!("<message>"),
        ),
        p(
            "GET",
            "/m/lookup?url=http://169.254.169.254/latest",
            None,
            403,
            json!("<message>"),
        ),
        p(
            "POST",
            "/m/compare",
            Some(json!({"pdq": [PDQ_A, PDQ_A_NEAR]})),
            200,
            json!({"pdq": [true, {"distance": 1}]}),
        ),
        p(
            "POST",
            "/m/compare",
            Some(json!({"pdq": [PDQ_A, PDQ_FAR]})),
            200,
            json!({"pdq": [false, {"distance": PDQ_DIST_A_FAR}]}),
        ),
        p(
            "POST",
            "/m/compare",
            Some(json!({"pdq": [PDQ_A]})),
            400,
            json!("<message>"),
        ),
        p(
            "PUT",
            "/c/bank/TEST_BANK",
            Some(json!({"enabled": false})),
            200,
            json!({"name": "TEST_BANK", "matching_enabled_ratio": 0.0}),
        ),
        p(
            "PUT",
            "/c/bank/TEST_BANK",
            Some(json!({"enabled_ratio": 1.0})),
            200,
            json!({"name": "TEST_BANK", "matching_enabled_ratio": 1.0}),
        ),
        p(
            "PUT",
            "/c/bank/NO_SUCH_BANK",
            Some(json!({"enabled": true})),
            404,
            json!({"message": "Bank not found"}),
        ),
        p(
            "DELETE",
            "/c/bank/OFF_BANK",
            None,
            200,
            json!({"message": "Done"}),
        ),
        p(
            "DELETE",
            "/c/bank/OFF_BANK",
            None,
            200,
            json!({"message": "Done"}),
        ),
        p(
            "GET",
            "/c/banks",
            None,
            200,
            json!([{"name": "TEST_BANK", "matching_enabled_ratio": 1.0}]),
        ),
    ]
}

/// A request path built at run time, for the `'static` table.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Distance between PDQ_A and PDQ_FAR (computed, not recorded).
const PDQ_DIST_A_FAR: u32 = {
    let a = PDQ_A.as_bytes();
    let b = PDQ_FAR.as_bytes();
    let mut d = 0;
    let mut i = 0;
    while i < 64 {
        let x = hexval(a[i]) ^ hexval(b[i]);
        d += x.count_ones();
        i += 1;
    }
    d
};

const fn hexval(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'a' + 10,
    }
}

fn matches_expected(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Number(_), Value::String(s)) if s == "<int>" => got.is_i64(),
        (Value::String(g), Value::String(s)) if s == "<hex64>" => {
            g.len() == 64 && g.bytes().all(|b| b.is_ascii_hexdigit())
        }
        (Value::String(g), Value::String(s)) if s == "<hex32>" => {
            g.len() == 32 && g.bytes().all(|b| b.is_ascii_hexdigit())
        }
        (Value::Object(g), Value::String(s)) if s == "<message>" => {
            g.len() == 1 && g.get("message").is_some_and(Value::is_string)
        }
        (Value::Object(g), Value::Object(w)) => {
            g.len() == w.len()
                && w.iter()
                    .all(|(k, v)| g.get(k).is_some_and(|gv| matches_expected(gv, v)))
        }
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(a, b)| matches_expected(a, b))
        }
        (Value::Number(g), Value::Number(w)) => g.as_f64() == w.as_f64(),
        _ => got == want,
    }
}

#[test]
fn recorded_hma_exchanges() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hma.db");
    init_db(&db);
    let s = Server::start(&db, &[]);
    let r = s.get("/status", None);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"I-AM-ALIVE"[..]));
    for p in pairs() {
        let body = p.body.as_ref().map(|b| b.to_string()).unwrap_or_default();
        let headers: &[(&str, &str)] = if p.body.is_some() {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        };
        // Bank writes are seen by lookups within a poll.
        let got = (0..30)
            .map(|_| {
                let r = request(s.addr, p.method, p.path, None, headers, body.as_bytes());
                std::thread::sleep(std::time::Duration::from_millis(50));
                r
            })
            .find(|r| {
                r.status == p.status
                    && serde_json::from_slice::<Value>(&r.body)
                        .is_ok_and(|j| matches_expected(&j, &p.expect))
                    || p.method != "GET"
            })
            .unwrap();
        let j: Value = serde_json::from_slice(&got.body).unwrap_or(Value::Null);
        assert_eq!(got.status, p.status, "{} {}: {j}", p.method, p.path);
        assert!(
            matches_expected(&j, &p.expect),
            "{} {}: got {j}, expected {}",
            p.method,
            p.path,
            p.expect
        );
    }
}

#[test]
fn hma_media_routes_hash_and_match_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hma.db");
    init_db(&db);
    let s = Server::start(&db, &[]);
    let png = test_png(320, 240, 5);
    // Our hash of the same bytes, from the CLI.
    let f = dir.path().join("a.png");
    std::fs::write(&f, &png).unwrap();
    let line: Value = serde_json::from_str(&cli(&["hash", f.to_str().unwrap()])).unwrap();
    let pdq = line["pdq"][0]["hash"].as_str().unwrap().to_string();

    let r = s.post(
        "/h/hash",
        None,
        &multipart_type(),
        &multipart("photo", "a.png", &png),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), json!({"pdq": pdq}));
    // Unknown content type field, and no file at all.
    let r = s.post(
        "/h/hash",
        None,
        &multipart_type(),
        &multipart("audio", "a.png", &png),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"message": "no such content_type: 'audio'"})
    );
    let r = s.post("/h/hash", None, "application/octet-stream", &png);
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"message": "Missing multipart/form-data file upload"})
    );

    let r = s.post_json("/c/banks", None, &json!({"name": "MEDIA"}));
    assert_eq!(r.status, 201);
    let r = s.post(
        "/m/lookup",
        None,
        &multipart_type(),
        &multipart("photo", "a.png", &png),
    );
    assert_eq!(r.json(), json!({"pdq": {}}));
    let r = s.post(
        "/c/bank/MEDIA/content",
        None,
        &multipart_type(),
        &multipart("photo", "a.png", &png),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    assert!(j["id"].is_i64());
    assert_eq!(j["signals"], json!({"pdq": pdq}));
    assert!(eventually(5, || {
        let r = s.post(
            "/m/lookup",
            None,
            &multipart_type(),
            &multipart("photo", "a.png", &png),
        );
        matches_expected(
            &r.json(),
            &json!({"pdq": {"MEDIA": [{"bank_content_id": j["id"], "distance": "0"}]}}),
        )
    }));
    let r = s.get("/m/index/status", None);
    let j = r.json();
    assert_eq!(j["pdq"]["present"], true);
    assert!(j["pdq"]["size"].as_u64().unwrap() >= 1);
    assert!(j["pdq"]["built_to"].is_i64());
    let r = s.get("/h/hash?url=http://127.0.0.1/x.jpg", None);
    assert_eq!(r.status, 403);
}

#[test]
fn hma_video_upload_is_hashed_like_the_cli() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/vpdq/videos"
    );
    let video = std::path::Path::new(dir).join("test-padded-dimensions.mp4");
    if !video.exists() {
        fixtures::missing("../shared/conformance not found");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("v.db");
    init_db(&db);
    let s = Server::start(&db, &[]);
    let data = std::fs::read(&video).unwrap();
    let line: Value = serde_json::from_str(&cli(&["hash", video.to_str().unwrap()])).unwrap();
    let r = s.post(
        "/h/hash",
        None,
        &multipart_type(),
        &multipart("video", "v.mp4", &data),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The video's MD5, and its vPDQ as pytx writes it: a JSON list of
    // "hash,quality,timestamp" strings (timestamps to 3 significant digits).
    let j = r.json();
    assert_eq!(j["video_md5"], line["md5"]);
    let frames: Vec<String> = serde_json::from_str(j["vpdq"].as_str().unwrap()).unwrap();
    let cli_frames = line["pdq"].as_array().unwrap();
    assert_eq!(frames.len(), cli_frames.len());
    for (f, c) in frames.iter().zip(cli_frames) {
        let parts: Vec<&str> = f.split(',').collect();
        assert_eq!(parts.len(), 3, "{f}");
        assert_eq!(parts[0], c["hash"].as_str().unwrap());
        assert_eq!(parts[1], c["quality"].to_string());
        let t: f64 = parts[2].parse().unwrap();
        let want = c["timestamp"].as_f64().unwrap();
        assert!(
            (t - want).abs() <= want.abs() * 0.005 + 1e-9,
            "{f} vs {want}"
        );
    }
    // Our API: the same record as `hashsieve hash` (frames and all), but
    // the path; views only when asked for (below).
    let r = s.post("/v1/hash", None, "video/mp4", &data);
    assert_eq!(r.status, 200);
    let mut j = r.json();
    let mut want = line.clone();
    j["path"] = Value::Null;
    want["path"] = Value::Null;
    assert_eq!(j, want);
    // Views only when asked, as `hash --views=dihedral`.
    let r = s.post("/v1/hash?views=dihedral", None, "video/mp4", &data);
    assert_eq!(r.status, 200);
    let j = r.json();
    let frames = j["pdq"].as_array().unwrap();
    assert_eq!(frames.len(), want["pdq"].as_array().unwrap().len());
    for f in frames {
        let names: Vec<&str> = f["views"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["view"].as_str())
            .collect();
        assert!(
            names.contains(&"flipx") && names.contains(&"rotate90"),
            "{names:?}"
        );
    }
    let r = s.post("/v1/hash?views=sideways", None, "video/mp4", &data);
    assert_eq!(r.status, 400);
    // Bank it; a re-upload then matches by MD5 and by vPDQ.
    s.post_json("/c/banks", None, &json!({"name": "VIDS"}));
    let r = s.post(
        "/c/bank/VIDS/content",
        None,
        &multipart_type(),
        &multipart("video", "v.mp4", &data),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].clone();
    // Both signals answer for the one content item, with HMA's distance
    // strings ("-" for an exact hash, "query%[target%]" for vPDQ).
    assert!(eventually(5, || {
        let r = s.post(
            "/m/lookup",
            None,
            &multipart_type(),
            &multipart("video", "v.mp4", &data),
        );
        r.json()
            == json!({
                "video_md5": {"VIDS": [{"bank_content_id": id, "distance": "-"}]},
                "vpdq": {"VIDS": [{"bank_content_id": id, "distance": "100%[100%]"}]},
            })
    }));
}

#[test]
fn url_fetching_is_off_unless_the_host_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    init_db(&db);
    let png = test_png(200, 150, 9);
    let port = redirect_server(png.clone(), 4);
    let url = format!("http://127.0.0.1:{port}/a.png");
    {
        let s = Server::start(&db, &[]);
        let r = s.get(&format!("/h/hash?url={url}"), None);
        assert_eq!(r.status, 403);
        assert!(r.json()["message"].as_str().unwrap().contains("disabled"));
        let r = s.get(&format!("/m/lookup?url={url}"), None);
        assert_eq!(r.status, 403);
    }
    let s = Server::start(&db, &["--fetch-allow-host", "127.0.0.1"]);
    let direct = s.post(
        "/h/hash",
        None,
        &multipart_type(),
        &multipart("photo", "a.png", &png),
    );
    let r = s.get(&format!("/h/hash?url={url}"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), direct.json());
    let r = s.get(&format!("/m/lookup?url={url}"), None);
    assert_eq!(r.json(), json!({"pdq": {}}));
    // Another host name (even for the same address), another scheme: refused.
    let r = s.get(&format!("/h/hash?url=http://localhost:{port}/a.png"), None);
    assert_eq!(r.status, 403);
    let r = s.get(&format!("/h/hash?url=ftp://127.0.0.1:{port}/a.png"), None);
    assert_eq!(r.status, 403);
    // A missing required parameter: HMA's request validation answers 422
    // with pydantic's list of errors.
    let r = s.get("/h/hash", None);
    assert_eq!(r.status, 422);
    assert!(r.json().is_array());
}

fn send(s: &Server, method: &str, path: &str, body: Option<Value>) -> Resp {
    let b = body.map(|b| b.to_string()).unwrap_or_default();
    let h: &[(&str, &str)] = if b.is_empty() {
        &[]
    } else {
        &[("Content-Type", "application/json")]
    };
    request(s.addr, method, path, None, h, b.as_bytes())
}

#[test]
fn hma_content_items_ratios_and_config_routes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hma.db");
    init_db(&db);
    let s = Server::start(&db, &[]);
    assert_eq!(
        s.post_json("/c/banks", None, &json!({"name": "B"})).status,
        201
    );
    // Two photos: one content item each, consecutive ids (not one id per
    // stored digest).
    let add = |seed: u32| {
        let png = test_png(200, 150, seed);
        let r = s.post(
            "/c/bank/B/content",
            None,
            &multipart_type(),
            &multipart("photo", "p.png", &png),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let j = r.json();
        assert_eq!(j["signals"].as_object().map(|o| o.len()), Some(1), "{j}");
        (
            j["id"].as_i64().unwrap(),
            j["signals"]["pdq"].as_str().unwrap().to_string(),
        )
    };
    let (id1, pdq1) = add(1);
    let (id2, _) = add(2);
    assert_eq!(id2, id1 + 1);
    // A multipart upload's note and metadata fields (HMA's form fields).
    let png = test_png(200, 150, 3);
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nuploaded\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{{\"content_id\": \"ext-1\"}}\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&multipart("photo", "p.png", &png));
    let r = s.post("/c/bank/B/content", None, &multipart_type(), &body);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().unwrap();
    let j = s.get(&format!("/c/bank/B/content/{id}"), None).json();
    assert_eq!(j["note"], "uploaded");
    assert_eq!(j["metadata"]["content_id"], "ext-1");
    // Read, note, metadata.
    let r = s.post_json(
        "/c/bank/B/signal",
        None,
        &json!({"pdq": "0".repeat(64), "note": "from campaign X"}),
    );
    let id3 = r.json()["id"].as_i64().unwrap();
    let r = s.get(
        &format!("/c/bank/B/content/{id3}?include_signals=true"),
        None,
    );
    let j = r.json();
    assert_eq!(j["note"], "from campaign X");
    assert_eq!(j["signals"], json!({"pdq": "0".repeat(64)}));
    assert_eq!(
        j["bank"],
        json!({"name": "B", "matching_enabled_ratio": 1.0})
    );
    let r = send(
        &s,
        "PUT",
        &format!("/c/bank/B/content/{id3}"),
        Some(json!({"note": "x".repeat(256)})),
    );
    assert_eq!(r.status, 400);
    assert_eq!(s.get("/c/bank/B/content/999", None).status, 404);
    assert_eq!(s.get("/c/bank/NOPE/content/1", None).status, 404);
    // Disabled until later: /m/lookup leaves it out, raw_lookup does not.
    let lookup = |q: &str| {
        s.get(&format!("/m/lookup?signal_type=pdq&signal={pdq1}{q}"), None)
            .json()
    };
    assert!(eventually(5, || lookup("")["B"][0]["bank_content_id"] == id1));
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let r = send(
        &s,
        "PUT",
        &format!("/c/bank/B/content/{id1}"),
        Some(json!({"disable_until_ts": later})),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["disable_until_ts"], later);
    assert_eq!(lookup(""), json!({}));
    let raw = s
        .get(
            &format!("/m/raw_lookup?signal_type=pdq&signal={pdq1}"),
            None,
        )
        .json();
    assert_eq!(raw, json!({"matches": [id1]}));
    send(
        &s,
        "PUT",
        &format!("/c/bank/B/content/{id1}"),
        Some(json!({"disable_until_ts": 1})),
    );
    // A bank at ratio 0.5: CPython's random.Random("abc").random() is
    // 0.772 (no match), Random("seed") 0.138 (match); bypass_coinflip
    // always matches.
    let r = send(&s, "PUT", "/c/bank/B", Some(json!({"enabled_ratio": 0.5})));
    assert_eq!(
        r.json(),
        json!({"name": "B", "matching_enabled_ratio": 0.5})
    );
    assert_eq!(lookup("&seed=abc"), json!({}));
    assert!(lookup("&seed=seed")["B"].is_array());
    assert!(lookup("&seed=abc&bypass_coinflip=true")["B"].is_array());
    // Rename.
    let r = send(&s, "PUT", "/c/bank/B", Some(json!({"name": "RENAMED"})));
    assert_eq!(r.json()["name"], "RENAMED");
    assert_eq!(s.get("/c/bank/B", None).status, 404);
    // Delete the item: every signal of it goes.
    let r = send(
        &s,
        "DELETE",
        &format!("/c/bank/RENAMED/content/{id1}"),
        None,
    );
    assert_eq!(r.json(), json!({"deleted": 1}));
    let raw = s
        .get(
            &format!("/m/raw_lookup?signal_type=pdq&signal={pdq1}"),
            None,
        )
        .json();
    assert_eq!(raw, json!({"matches": []}));
    // Service and configuration routes.
    assert_eq!(s.get("/status/live", None).body, b"I-AM-ALIVE");
    let j = s.get("/openapi/openapi.json", None).json();
    assert_eq!(j["info"]["title"], "Open Media Match API");
    let j = s.get("/site-map", None).json();
    assert!(j
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "/c/bank/<bank_name>/content/<content_id>"));
    assert_eq!(
        s.get("/c/content_type", None).json(),
        json!([{"name": "photo", "enabled": true}, {"name": "video", "enabled": true}])
    );
    let r = send(
        &s,
        "PUT",
        "/c/signal_type/pdq",
        Some(json!({"enabled_ratio": 0})),
    );
    assert_eq!(r.status, 204);
    let r = s.get(&format!("/m/lookup?signal_type=pdq&signal={pdq1}"), None);
    assert_eq!(r.status, 400);
    assert_eq!(s.get("/m/raw_lookup?signal_type=pdq", None).status, 422);
    let r = s.post_json(
        "/c/exchanges",
        None,
        &json!({"api": "sample", "bank": "EX", "api_json": {}}),
    );
    assert_eq!(r.status, 201);
    assert_eq!(s.get("/c/exchanges", None).json(), json!(["EX"]));
    assert_eq!(
        s.get("/c/exchange/EX/status", None).json()["fetched_items"],
        0
    );
    assert_eq!(s.get("/c/exchange/NOPE/status", None).status, 404);
    assert_eq!(
        send(&s, "DELETE", "/c/exchange/EX", None).json()["message"],
        "Exchange deleted"
    );
}

/// A loopback server answering `/r<k>` with a redirect to `/r<k-1>`, `/r0`
/// to `/a.png`, `/a.png` with the media, and anything else with 404.
fn redirect_server(body: Vec<u8>, n: usize) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().take(n) {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let k = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..k]).to_string();
            let path = req.split(' ').nth(1).unwrap_or("").to_string();
            let head = if path == "/a.png" {
                format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
            } else if let Some(k) = path.strip_prefix("/r").and_then(|k| k.parse::<u32>().ok()) {
                let to = if k == 0 {
                    "/a.png".to_string()
                } else {
                    format!("/r{}", k - 1)
                };
                format!("HTTP/1.0 302 Found\r\nLocation: {to}\r\n\r\n")
            } else {
                "HTTP/1.0 404 Not Found\r\n\r\n".to_string()
            };
            let _ = c.write_all(head.as_bytes());
            if path == "/a.png" {
                let _ = c.write_all(&body);
            }
        }
    });
    port
}

#[test]
fn url_fetching_follows_few_redirects_to_allowed_hosts_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hma.db");
    init_db(&db);
    let png = test_png(320, 240, 9);
    let port = redirect_server(png.clone(), 64);
    let s = Server::start(&db, &["--fetch-allow-host", "127.0.0.1"]);
    let direct = s.post(
        "/h/hash",
        None,
        &multipart_type(),
        &multipart("photo", "a.png", &png),
    );
    // Two hops: followed.
    let r = s.get(&format!("/h/hash?url=http://127.0.0.1:{port}/r1"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), direct.json());
    // More than five: refused, as HMA answers a failed fetch (400).
    let r = s.get(&format!("/h/hash?url=http://127.0.0.1:{port}/r9"), None);
    assert_eq!(r.status, 400);
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("Failed to fetch URL"));
    // An upstream 404: 400 too.
    let r = s.get(&format!("/h/hash?url=http://127.0.0.1:{port}/nope"), None);
    assert_eq!(r.status, 400);
}

#[test]
fn views_on_hma_routes_only_with_hma_views() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hma.db");
    init_db(&db);
    let png = test_png(320, 240, 11);
    let turned = {
        let img = image::load_from_memory(&png).unwrap().rotate90();
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    let lookup = |s: &Server| {
        s.post(
            "/m/lookup",
            None,
            &multipart_type(),
            &multipart("photo", "t.png", &turned),
        )
        .json()
    };
    {
        let s = Server::start(&db, &[]);
        s.post_json("/c/banks", None, &json!({"name": "V"}));
        let r = s.post(
            "/c/bank/V/content",
            None,
            &multipart_type(),
            &multipart("photo", "p.png", &png),
        );
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        // HMA's semantics: the turned copy is another picture.
        assert_eq!(lookup(&s), json!({"pdq": {}}));
    }
    // With --hma-views it matches, and says through which view.
    let s = Server::start(&db, &["--hma-views"]);
    let j = lookup(&s);
    let hit = &j["pdq"]["V"][0];
    assert!(hit["bank_content_id"].is_i64(), "{j}");
    let view = hit["view"].as_str().unwrap_or("");
    assert!(!view.is_empty() && view != "original", "{j}");
}

/// `--hma-roles`, HMA's ROLE_HASHER/ROLE_MATCHER/ROLE_CURATOR: a role not
/// taken removes its routes; a matcher without the hasher role refuses to
/// hash (`/m/lookup` by URL or upload: 403) but still looks up signals.
#[test]
fn hma_roles_remove_routes_and_hashing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hma.db");
    init_db(&db);
    let png = test_png(320, 240, 12);
    {
        let s = Server::start(&db, &[]);
        let r = s.post_json("/c/banks", None, &json!({"name": "R"}));
        assert_eq!(r.status, 201);
        let r = s.post_json("/c/bank/R/signal", None, &json!({"pdq": PDQ_A}));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let lookup_upload = |s: &Server| {
        s.post(
            "/m/lookup",
            None,
            &multipart_type(),
            &multipart("photo", "p.png", &png),
        )
    };
    let by_signal = format!("/m/lookup?signal_type=pdq&signal={PDQ_A}");

    // A matcher only: no hashing, no curation; lookups by signal answer.
    let s = Server::start(
        &db,
        &["--hma-roles", "matcher", "--fetch-allow-host", "127.0.0.1"],
    );
    let r = lookup_upload(&s);
    assert_eq!(r.status, 403);
    assert_eq!(
        r.json(),
        json!({"message": "Hashing is disabled, missing role"})
    );
    let r = s.get("/m/lookup?url=http://127.0.0.1:9/x.jpg", None);
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let r = s.get(&by_signal, None);
    assert_eq!(r.status, 200);
    assert!(r.json()["R"][0]["bank_content_id"].is_i64(), "{}", r.json());
    assert_eq!(s.get("/h/hash?url=x", None).status, 404);
    assert_eq!(s.get("/c/banks", None).status, 404);
    let r = s.post_json("/c/banks", None, &json!({"name": "NEW"}));
    assert_eq!(r.status, 404);
    // The site map and the OpenAPI document list the served routes only.
    let map = s.get("/site-map", None).json();
    let map: Vec<&str> = map
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(
        map.contains(&"/m/lookup") && map.contains(&"/status"),
        "{map:?}"
    );
    assert!(
        !map.iter()
            .any(|p| p.starts_with("/c/") || p.starts_with("/h/")),
        "{map:?}"
    );
    let doc = s.get("/openapi/openapi.json", None).json();
    assert!(doc["paths"]["/m/lookup"].is_object());
    assert!(doc["paths"]["/c/banks"].is_null());
    drop(s);

    // A curator and hasher without the matcher: /m/ is gone, /status does
    // not wait for an index, curation and hashing answer.
    let s = Server::start(&db, &["--hma-roles", "curator,hasher"]);
    assert_eq!(s.get(&by_signal, None).status, 404);
    assert_eq!(lookup_upload(&s).status, 404);
    let r = s.get("/status", None);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"I-AM-ALIVE"[..]));
    assert_eq!(s.get("/c/banks", None).status, 200);
    let r = s.post(
        "/h/hash",
        None,
        &multipart_type(),
        &multipart("photo", "p.png", &png),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    drop(s);

    // The default: every role, the upload is hashed and looked up.
    let s = Server::start(&db, &[]);
    assert_eq!(lookup_upload(&s).status, 200);
}

/// What HMA's three internet-bound tests check
/// (`test_bank_get_content_returns_stored_metadata`,
/// `..._include_metadata_false`, `..._without_metadata_omitted`: an image
/// added by its GitHub URL, which redirects), on loopback: content added
/// by `url=` with a JSON body's metadata keeps it, `include_metadata=false`
/// leaves it out, and an item added without any has no `metadata` key.
#[test]
fn content_added_by_url_keeps_json_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hma.db");
    init_db(&db);
    let port = redirect_server(test_png(320, 240, 13), 8);
    let s = Server::start(&db, &["--fetch-allow-host", "127.0.0.1"]);
    assert_eq!(
        s.post_json("/c/banks", None, &json!({"name": "M"})).status,
        201
    );
    let meta = json!({
        "content_id": "ext-id-123",
        "content_uri": "https://example.com/item/123",
        "json": {"source": "test", "nested": {"key": "value"}},
    });
    let add = format!("/c/bank/M/content?url=http://127.0.0.1:{port}/r0&content_type=photo");
    let r = s.post_json(&add, None, &json!({ "metadata": meta }));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().unwrap();
    let got = s.get(&format!("/c/bank/M/content/{id}"), None).json();
    for k in ["content_id", "content_uri", "json"] {
        assert_eq!(got["metadata"][k], meta[k], "{got}");
    }
    let r = s.get(
        &format!("/c/bank/M/content/{id}?include_metadata=false"),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.json().get("metadata").is_none(), "{}", r.json());

    // Another bank, the same picture without metadata: no metadata key.
    s.post_json("/c/banks", None, &json!({"name": "N"}));
    let add = add.replace("/bank/M/", "/bank/N/");
    let r = s.post(&add, None, "application/octet-stream", &[]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().unwrap();
    let got = s.get(&format!("/c/bank/N/content/{id}"), None).json();
    assert!(got.get("metadata").is_none(), "{got}");
    assert_eq!(got["bank"]["name"], "N");
}

/// Signal type ratios and exchanges are in the store, as HMA keeps them in
/// its database: a second server on the same database sees what the first
/// set (within its poll interval), and a restart keeps them.
#[test]
fn hma_signal_ratios_and_exchanges_are_kept_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hma.db");
    init_db(&db);
    let by_signal = format!("/m/lookup?signal_type=pdq&signal={PDQ_A}");
    let a = Server::start(&db, &[]);
    let b = Server::start(&db, &[]);
    assert_eq!(b.get(&by_signal, None).status, 200);
    let r = send(
        &a,
        "PUT",
        "/c/signal_type/pdq",
        Some(json!({"enabled_ratio": 0})),
    );
    assert_eq!(r.status, 204);
    let r = a.post_json(
        "/c/exchanges",
        None,
        &json!({"api": "local_file", "bank": "EX_FILE", "api_json": {"filename": "l.txt"}}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // The other server: pdq off (after at most one poll interval of its
    // copy), the exchange there with its settings.
    assert!(eventually(5, || b.get(&by_signal, None).status == 400));
    let pdq_ratio = |s: &Server| {
        s.get("/c/signal_type", None)
            .json()
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "pdq")
            .map(|t| t["enabled_ratio"].clone())
    };
    assert_eq!(pdq_ratio(&b), Some(json!(0.0)));
    assert_eq!(b.get("/c/exchanges", None).json(), json!(["EX_FILE"]));
    let j = b.get("/c/exchange/EX_FILE", None).json();
    assert_eq!(
        (&j["api"], &j["filename"], &j["enabled"]),
        (&json!("local_file"), &json!("l.txt"), &json!(true))
    );
    let r = send(
        &b,
        "PUT",
        "/c/exchange/EX_FILE",
        Some(json!({"enabled": false})),
    );
    assert_eq!(r.json()["enabled"], false);
    // Taken again twice: refused, on either server.
    let again = json!({"api": "sample", "bank": "EX_FILE"});
    assert_eq!(a.post_json("/c/exchanges", None, &again).status, 400);
    drop(a);
    drop(b);

    // A restart keeps both.
    let c = Server::start(&db, &[]);
    assert_eq!(pdq_ratio(&c), Some(json!(0.0)));
    assert_eq!(c.get(&by_signal, None).status, 400);
    assert_eq!(c.get("/c/exchange/EX_FILE", None).json()["enabled"], false);
    let r = send(
        &c,
        "PUT",
        "/c/signal_type/pdq",
        Some(json!({"enabled_ratio": 1})),
    );
    assert_eq!(r.status, 204);
    assert_eq!(c.get(&by_signal, None).status, 200);
    send(&c, "DELETE", "/c/exchange/EX_FILE", None);
    assert_eq!(c.get("/c/exchanges", None).json(), json!([]));
}
