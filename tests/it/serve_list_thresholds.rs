//! The service's list JSON carries each list's vPDQ rules: created with
//! `POST /v1/lists`, shown by `GET /v1/lists/{name}`, changed by `PATCH`,
//! validated, described in the OpenAPI document; HMA's bank shape stays
//! as HMA has it.

use crate::serve_support;

use serde_json::json;
use serve_support::*;

#[test]
fn list_json_carries_the_video_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("l.db");
    init_db(&db);
    let s = Server::start(&db, &[]);

    let r = s.post_json(
        "/v1/lists",
        None,
        &json!({"name": "STRICT", "vpdq_target_percent": 95.0,
                "vpdq_query_percent": 90, "vpdq_min_clip_frames": 12}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let l = r.json();
    assert_eq!(l["vpdq_target_percent"], 95.0);
    assert_eq!(l["vpdq_query_percent"], 90.0);
    assert_eq!(l["vpdq_min_clip_frames"], 12);
    // Defaults for what is not given.
    let d = s
        .post_json("/v1/lists", None, &json!({"name": "plain"}))
        .json();
    assert_eq!(
        (
            &d["vpdq_target_percent"],
            &d["vpdq_query_percent"],
            &d["vpdq_min_clip_frames"]
        ),
        (&json!(80.0), &json!(80.0), &json!(3))
    );

    // PATCH changes only what it names.
    let patch = |body: serde_json::Value| {
        request(
            s.addr,
            "PATCH",
            "/v1/lists/STRICT",
            None,
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    };
    let r = patch(json!({"vpdq_min_clip_frames": 7, "pdq_threshold": 20}));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let got = s.get("/v1/lists/STRICT", None).json();
    assert_eq!(got["vpdq_min_clip_frames"], 7);
    assert_eq!(got["pdq_threshold"], 20);
    assert_eq!(got["vpdq_target_percent"], 95.0);
    assert_eq!(got["enabled"], true);
    // Out of range: refused, nothing changed.
    let r = patch(json!({"vpdq_query_percent": 150, "vpdq_min_clip_frames": 9}));
    assert_eq!(r.status, 400);
    assert_eq!(
        s.get("/v1/lists/STRICT", None).json()["vpdq_min_clip_frames"],
        7
    );
    let r = s.post_json(
        "/v1/lists",
        None,
        &json!({"name": "bad", "vpdq_target_percent": -1}),
    );
    assert_eq!(r.status, 400);

    // The OpenAPI document, generated from the code, names the fields.
    let doc = s.get("/v1/openapi.json", None).json();
    for schema in ["CreateList", "UpdateList"] {
        let props = &doc["components"]["schemas"][schema]["properties"];
        for f in [
            "vpdq_target_percent",
            "vpdq_query_percent",
            "vpdq_min_clip_frames",
        ] {
            assert!(props[f].is_object(), "{schema}.{f}: {props}");
        }
    }

    // HMA's bank shape is HMA's: name and enabled ratio only.
    let bank = s.get("/c/bank/STRICT", None).json();
    assert_eq!(
        bank,
        json!({"name": "STRICT", "matching_enabled_ratio": 1.0})
    );
}
