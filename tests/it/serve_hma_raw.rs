//! `/m/raw_lookup` includes disabled banks (HMA documents that raw lookup
//! does not check bank enablement), while `/m/lookup` leaves them out.

use serde_json::json;

use crate::serve_support::{eventually, init_db, request, Server};

/// A PDQ hash and the same with 3 bits flipped.
const PDQ: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";
const PDQ_NEAR: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b25";
const MD5: &str = "0123456789abcdef0123456789abcdef";

fn put(s: &Server, path: &str, body: serde_json::Value) -> u16 {
    let b = body.to_string();
    request(
        s.addr,
        "PUT",
        path,
        None,
        &[("Content-Type", "application/json")],
        b.as_bytes(),
    )
    .status
}

#[test]
fn raw_lookup_includes_disabled_banks_and_lookup_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("raw.db");
    init_db(&db);
    let s = Server::start(&db, &[]);
    assert_eq!(
        s.post_json("/c/banks", None, &json!({"name": "B"})).status,
        201
    );
    assert_eq!(
        s.post_json("/c/banks", None, &json!({"name": "ON"})).status,
        201
    );
    let r = s.post_json("/c/bank/B/signal", None, &json!({"pdq": PDQ}));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().unwrap();
    let r = s.post_json("/c/bank/B/signal", None, &json!({"video_md5": MD5}));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let md5_id = r.json()["id"].as_i64().unwrap();

    let lookup = || {
        s.get(
            &format!("/m/lookup?signal_type=pdq&signal={PDQ_NEAR}"),
            None,
        )
        .json()
    };
    let raw = |q: &str| s.get(&format!("/m/raw_lookup?{q}"), None).json();
    let near = format!("signal_type=pdq&signal={PDQ_NEAR}&include_distance=true");
    assert!(eventually(5, || lookup()["B"][0]["bank_content_id"] == id));
    // Enabled: found through the index.
    assert_eq!(
        raw(&near),
        json!({"matches": [{"bank_content_id": id, "distance": "3"}]})
    );

    assert_eq!(put(&s, "/c/bank/B", json!({"enabled": false})), 200);
    assert!(eventually(5, || lookup() == json!({})));
    // Disabled: /m/lookup has nothing, raw lookup still finds it, with
    // the same distance, restricted by banks= as before.
    assert_eq!(
        raw(&near),
        json!({"matches": [{"bank_content_id": id, "distance": "3"}]})
    );
    assert_eq!(
        raw(&format!("signal_type=pdq&signal={PDQ_NEAR}")),
        json!({"matches": [id]})
    );
    assert_eq!(
        raw(&format!("signal_type=pdq&signal={PDQ_NEAR}&banks=ON")),
        json!({"matches": []})
    );
    assert_eq!(
        raw(&format!(
            "signal_type=video_md5&signal={MD5}&include_distance=true"
        )),
        json!({"matches": [{"bank_content_id": md5_id, "distance": "-"}]})
    );
    // Far away: nothing, disabled or not.
    assert_eq!(
        raw("signal_type=pdq&signal=0707060e1f0b57b0f9c8f5ddfc709c0f4c91d12a699de1e2cc194c63b16364dd"),
        json!({"matches": []})
    );

    // Enabled again: one answer, not one from the index and one from the
    // disabled-bank read.
    assert_eq!(put(&s, "/c/bank/B", json!({"enabled": true})), 200);
    assert!(eventually(5, || lookup()["B"][0]["bank_content_id"] == id));
    assert_eq!(
        raw(&format!("signal_type=pdq&signal={PDQ_NEAR}")),
        json!({"matches": [id]})
    );
}
