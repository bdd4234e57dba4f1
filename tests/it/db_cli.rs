//! `hashsieve db ...` end to end with the real binary: list lifecycle,
//! imports in every format, idempotent re-import, lossless JSONL round trip,
//! entry status changes, allowlist, `db add` of real media.

use crate::fixtures;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hashsieve");

fn run(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("db")
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("HASHSIEVE_DB")
        .output()
        .expect("run hashsieve")
}

fn ok(db: &Path, args: &[&str]) -> String {
    let o = run(db, args);
    assert!(
        o.status.success(),
        "hashsieve db {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("utf-8 stdout")
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn hex(seed: u64) -> String {
    let mut z = seed;
    (0..4)
        .map(|_| {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let x = (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            format!("{:016x}", x ^ (x >> 29))
        })
        .collect()
}

fn match_pdq(db: &Path, h: &str) -> (i32, Vec<serde_json::Value>) {
    let o = Command::new(BIN)
        .args(["match", "--pdq", h, "--db"])
        .arg(db)
        .output()
        .expect("run");
    (
        o.status.code().unwrap_or(-1),
        json_lines(&String::from_utf8_lossy(&o.stdout)),
    )
}

#[test]
fn list_lifecycle_and_formats() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    ok(&db, &["init"]);
    let l = json_lines(&ok(
        &db,
        &[
            "list-create",
            "gifct",
            "--threshold",
            "20",
            "--source",
            "gifct",
        ],
    ));
    assert_eq!(l[0]["pdq_threshold"], 20);
    assert_eq!(run(&db, &["list-create", "gifct"]).status.code(), Some(2));

    // Plain PDQ text with qualities, then the same again: idempotent.
    let pdq: String = (0..100)
        .map(|i| format!("{},{}\n", hex(i), 50 + i % 50))
        .collect();
    std::fs::write(dir.path().join("a.txt"), &pdq).unwrap();
    let a = dir.path().join("a.txt");
    let r = json_lines(&ok(&db, &["import", "gifct", a.to_str().unwrap()]));
    assert_eq!(
        (r[0]["added"].as_u64(), r[0]["format"].as_str()),
        (Some(100), Some("pdq"))
    );
    let r = json_lines(&ok(&db, &["import", "gifct", a.to_str().unwrap()]));
    assert_eq!(
        (r[0]["added"].as_u64(), r[0]["unchanged"].as_u64()),
        (Some(0), Some(100))
    );

    // Our CSV: labels merge into existing entries; new digests are added.
    let csv = format!(
        "signal_type,signal_value,labels,external_id,note\npdq,{},entity:x;ideology:y,ext-1,first\nmd5,{},behaviour:z,,\n",
        hex(0),
        "0f".repeat(16)
    );
    std::fs::write(dir.path().join("b.csv"), csv).unwrap();
    let r = json_lines(&ok(
        &db,
        &[
            "import",
            "gifct",
            dir.path().join("b.csv").to_str().unwrap(),
        ],
    ));
    assert_eq!(
        (r[0]["added"].as_u64(), r[0]["merged"].as_u64()),
        (Some(1), Some(1))
    );

    // ThreatExchange CSV and signal lines.
    let te = format!(
        "signal_type,signal_str,collab,category,tags\npdq,{},TCAP,terror,t1 t2\n",
        hex(500)
    );
    std::fs::write(dir.path().join("c.csv"), te).unwrap();
    let lines = format!("sha256 {}\nblake3 {}\n", "ab".repeat(32), "cd".repeat(32));
    std::fs::write(dir.path().join("d.txt"), lines).unwrap();
    let r = json_lines(&ok(
        &db,
        &[
            "import",
            "gifct",
            dir.path().join("c.csv").to_str().unwrap(),
            dir.path().join("d.txt").to_str().unwrap(),
        ],
    ));
    assert_eq!(r[0]["format"], "te-csv");
    assert_eq!(r[1]["format"], "signal");
    let stats = json_lines(&ok(&db, &["stats", "--json"]));
    assert_eq!(stats[0]["entries"], 104);

    // Lossless round trip: export JSONL, import into a new list, export again.
    let j1 = ok(&db, &["export", "gifct", "--format", "jsonl"]);
    std::fs::write(dir.path().join("e.jsonl"), &j1).unwrap();
    ok(&db, &["list-create", "copy"]);
    ok(
        &db,
        &[
            "import",
            "copy",
            dir.path().join("e.jsonl").to_str().unwrap(),
        ],
    );
    let j2 = ok(&db, &["export", "copy"]);
    let strip = |s: &str| -> Vec<serde_json::Value> {
        json_lines(s)
            .into_iter()
            .map(|mut v| {
                let o = v.as_object_mut().unwrap();
                o.remove("list");
                o.remove("id");
                v
            })
            .collect()
    };
    assert_eq!(strip(&j1), strip(&j2));
    let first = &json_lines(&j1)[0];
    assert_eq!(
        first["labels"],
        serde_json::json!(["entity:x", "ideology:y"])
    );
    assert_eq!(first["external_id"], "ext-1");
    assert_eq!(first["quality"], 50);

    // Sharing formats: only what they can hold.
    let pdq_out = ok(&db, &["export", "gifct", "--format", "pdq"]);
    assert_eq!(pdq_out.lines().count(), 101);
    assert!(pdq_out.contains(&format!("{},50", hex(0))));
    let te_out = ok(&db, &["export", "gifct", "--format", "te-csv"]);
    assert!(te_out.starts_with("signal_type,signal_str,collab,category,tags\n"));
    assert!(te_out.contains(&format!("pdq,{},TCAP,terror,t1 t2", hex(500))));
    let csv_out = ok(&db, &["export", "gifct", "--format", "csv"]);
    assert!(csv_out.contains("entity:x;ideology:y"));

    // Disabled list: kept, never matched.
    assert_eq!(match_pdq(&db, &hex(3)).0, 1);
    ok(&db, &["disable", "gifct"]);
    ok(&db, &["disable", "copy"]);
    // No enabled list left: matching is refused unless that is intended.
    assert_eq!(match_pdq(&db, &hex(3)).0, 2);
    let o = Command::new(BIN)
        .args(["match", "--allow-empty", "--pdq", &hex(3), "--db"])
        .arg(&db)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
    ok(&db, &["enable", "gifct"]);
    assert_eq!(match_pdq(&db, &hex(3)).0, 1);
    assert_eq!(run(&db, &["enable", "nope"]).status.code(), Some(2));
}

#[test]
fn entry_status_and_allowlist() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    ok(&db, &["list-create", "l"]);
    let f = dir.path().join("l.txt");
    std::fs::write(&f, format!("{}\n{}\n", hex(1), hex(2))).unwrap();
    ok(&db, &["import", "l", f.to_str().unwrap()]);
    let (code, hits) = match_pdq(&db, &hex(1));
    assert_eq!(code, 1);
    let id = hits[0]["entry"].as_i64().unwrap().to_string();

    ok(
        &db,
        &["dispute", &id, "--reason", "a news logo", "--by", "alice"],
    );
    assert_eq!(match_pdq(&db, &hex(1)).0, 0);
    let shown = json_lines(&ok(&db, &["show", &id]));
    assert_eq!(shown[0]["status"], "disputed");
    assert_eq!(shown[0]["status_reason"], "a news logo");
    assert_eq!(shown[0]["status_by"], "alice");
    // Re-importing the list does not re-activate a disputed entry.
    ok(&db, &["import", "l", f.to_str().unwrap()]);
    assert_eq!(match_pdq(&db, &hex(1)).0, 0);
    ok(&db, &["enable-entry", &id]);
    assert_eq!(match_pdq(&db, &hex(1)).0, 1);
    ok(&db, &["disable-entry", &id]);
    assert_eq!(match_pdq(&db, &hex(1)).0, 0);
    assert_eq!(
        run(&db, &["dispute", "999", "--reason", "x"]).status.code(),
        Some(2)
    );

    // Allowlisted: reported as suppressed, exit 0.
    ok(&db, &["allow", "add", "pdq", &hex(2), "--note", "flag"]);
    let (code, hits) = match_pdq(&db, &hex(2));
    assert_eq!(code, 0);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["suppressed"], true);
    let allow = json_lines(&ok(&db, &["allow", "list"]));
    assert_eq!(allow[0]["note"], "flag");
    // The hit names the allowlist entry that suppressed it.
    assert_eq!(hits[0]["allowlist_id"], allow[0]["id"]);
    ok(&db, &["allow", "remove", &allow[0]["id"].to_string()]);
    assert_eq!(match_pdq(&db, &hex(2)).0, 1);
}

#[test]
fn env_var_and_default_location() {
    let dir = tempfile::tempdir().unwrap();
    let via_env = dir.path().join("env.db");
    let o = Command::new(BIN)
        .args(["db", "list-create", "x"])
        .env("HASHSIEVE_DB", &via_env)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(via_env.exists());
    let o = Command::new(BIN)
        .args(["db", "init"])
        .env_remove("HASHSIEVE_DB")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(dir.path().join("hashsieve.db").exists());
}

#[test]
fn add_hashes_real_media() {
    let Some(conf) = fixtures::conformance(&["pdq/reference.csv"]) else {
        return;
    };
    let refs = std::fs::read_to_string(conf.join("pdq/reference.csv")).unwrap();
    let mut rows = refs.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    // A decoded PNG: our PDQ must equal the reference's exactly.
    let row: Vec<&str> = rows
        .map(|r| r.split(',').collect::<Vec<_>>())
        .find(|r| !r[col("decoded_png")].is_empty())
        .expect("a row with a decoded png");
    let png = conf.join("pdq").join(row[col("decoded_png")]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    ok(&db, &["list-create", "mine"]);
    let out = json_lines(&ok(
        &db,
        &[
            "add",
            "mine",
            "--label",
            "entity:test",
            png.to_str().unwrap(),
        ],
    ));
    assert_eq!(
        out[0]["signals"],
        serde_json::json!(["md5", "sha256", "blake3", "pdq"])
    );
    let (code, hits) = match_pdq(&db, row[col("pdq")]);
    assert_eq!(code, 1);
    assert_eq!(hits[0]["distance"], 0);
    assert_eq!(hits[0]["labels"], serde_json::json!(["entity:test"]));
    // Adding the same file again is idempotent.
    let again = json_lines(&ok(&db, &["add", "mine", png.to_str().unwrap()]));
    assert_eq!(again[0]["added"], 0);
    // A missing file is an error for that file only.
    let o = run(
        &db,
        &[
            "add",
            "mine",
            "/nonexistent/file.jpg",
            png.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(json_lines(&String::from_utf8_lossy(&o.stdout)).len(), 1);
}

/// A label, external id or note that a spreadsheet would run as a formula
/// is exported as text (a leading `'`, OWASP), and imports back as it was.
#[test]
fn csv_export_defuses_formulas_and_imports_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    ok(&db, &["list-create", "shared"]);
    ok(&db, &["list-create", "back"]);
    let label = r#"=HYPERLINK("http://x","y")"#;
    let entry = serde_json::json!({"signal_type": "pdq", "value": hex(7), "labels": [label],
        "external_id": "@SUM(1+1)", "note": "-2+3+cmd|' /C calc'!A0"});
    let src = dir.path().join("in.jsonl");
    std::fs::write(&src, format!("{entry}\n")).unwrap();
    ok(&db, &["import", "shared", src.to_str().unwrap()]);

    let csv = ok(&db, &["export", "shared", "--format", "csv"]);
    let row = csv.lines().nth(1).expect("a data row");
    let h = hex(7);
    assert_eq!(
        row,
        format!(r#"pdq,{h},"'=HYPERLINK(""http://x"",""y"")",'@SUM(1+1),'-2+3+cmd|' /C calc'!A0,"#)
    );

    let exported = dir.path().join("out.csv");
    std::fs::write(&exported, &csv).unwrap();
    ok(&db, &["import", "back", exported.to_str().unwrap()]);
    let back = json_lines(&ok(&db, &["export", "back"]));
    assert_eq!(back.len(), 1);
    assert_eq!(back[0]["labels"], serde_json::json!([label]));
    assert_eq!(back[0]["external_id"], entry["external_id"]);
    assert_eq!(back[0]["note"], entry["note"]);
}
