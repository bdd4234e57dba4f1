//! Names chosen by an attacker (file names, list names, labels) in the
//! reports of `hashsieve scan`, through the real binary: on a terminal
//! (`--format human`, the summary and the errors on stderr) their control
//! characters are escaped, so they cannot forge or hide a result line nor
//! drive the terminal; in CSV (`--format csv`), a name a spreadsheet would
//! run as a formula is written as text.

use crate::scan_support;

use hashdb::model::{NewList, Record, Value as HValue};
use hashdb::store::Store;
use scan_support::*;
use std::path::Path;

/// No character that drives a terminal or reorders text may come out raw:
/// controls other than our own line ends and column tabs, and the bidi
/// embeddings, overrides and isolates.
fn assert_inert(what: &str, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    let bad = text.chars().find(|c| {
        (c.is_control() && !matches!(c, '\n' | '\t'))
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    });
    assert_eq!(bad, None, "{what} holds a raw {bad:?}:\n{text}");
}

#[test]
fn human_report_and_stderr_escape_hostile_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A listed picture whose name retitles the terminal (OSC 0) and starts
    // a forged result line; a damaged one whose name rewrites its line.
    let listed = png(7);
    let hit_name = "a\x1b]0;pwned\x07\nMATCH\tforged.png";
    let bad_name = "b\r\x1b[2Kquiet.jpg";
    write(&root.join("t").join(hit_name), &listed);
    write(&root.join("t").join(bad_name), &truncated_jpeg(1));

    // The store refuses control characters in list names and labels, not
    // the bidi controls: the list's name reads backwards (U+202E) and the
    // label hides its end in a right-to-left isolate (U+2067 .. U+2069).
    let list = "known\u{202e}gpj.exe";
    let label = "entity:x\u{2067}\u{202d}exe.txt\u{2069}";
    let db = root.join("h.db");
    let mut s = Store::open(&db).unwrap();
    s.create_list(&NewList::new(list)).unwrap();
    let mut r = Record::new(HValue::Md5(md5_hex(&listed).parse().unwrap()));
    r.labels.insert(label.into());
    s.import(list, vec![Ok(r)], Path::new("t"), Default::default())
        .unwrap();
    drop(s);

    let out = scan_cmd(root)
        .args(["--no-state", "--format", "human", "--db"])
        .arg(&db)
        .arg("t")
        .output()
        .unwrap();
    assert_inert("stdout", &out.stdout);
    assert_inert("stderr", &out.stderr);
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "one hit and one error, no forged line:\n{text}"
    );
    for l in &lines {
        assert_eq!(l.matches('\t').count(), 2, "no forged column: {l:?}");
    }
    let hit = lines
        .iter()
        .find(|l| l.starts_with("MATCH\t"))
        .unwrap_or_else(|| panic!("no hit line:\n{text}"));
    assert!(
        hit.starts_with(
            "MATCH\tt/a\\x1b]0;pwned\\x07\\nMATCH\\tforged.png\tknown\\u{202e}gpj.exe entry "
        ),
        "{hit}"
    );
    assert!(
        hit.ends_with("[entity:x\\u{2067}\\u{202d}exe.txt\\u{2069}]"),
        "{hit}"
    );
    let err = lines
        .iter()
        .find(|l| l.starts_with("error\t"))
        .unwrap_or_else(|| panic!("no error line:\n{text}"));
    assert!(
        err.starts_with("error\tt/b\\r\\x1b[2Kquiet.jpg\tdecode: "),
        "{err}"
    );
    // The summary on stderr names the list, escaped.
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("known\\u{202e}gpj.exe: 1"), "{stderr}");

    // JSON keeps the exact names (serde escapes them for JSON).
    let json = parse(
        scan_cmd(root)
            .args(["--no-state", "--db"])
            .arg(&db)
            .arg("t")
            .output()
            .unwrap(),
    );
    let rec = json.one(&format!("t/{hit_name}"));
    assert_eq!(rec["matches"][0]["list"], list);
    assert_eq!(rec["matches"][0]["labels"][0], label);

    // The table of `db lists`.
    let out = std::process::Command::new(bin())
        .args(["db", "lists", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_inert("db lists", &out.stdout);
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("known\\u{202e}gpj.exe"));

    // An error message quoting a path (here a missing database).
    let missing = root.join("gone\x1b]0;pwned\x07\n.db");
    let out = scan_cmd(root)
        .args(["--no-state", "--db"])
        .arg(&missing)
        .arg("t")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_inert("the error message", &out.stderr);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("gone\\x1b]0;pwned\\x07\\n.db"), "{stderr}");
}

/// `scan --format csv`: a file name a spreadsheet would run as a formula
/// is written as text (a leading `'`, OWASP); hashes and numbers are not
/// touched.
#[test]
fn csv_report_defuses_formula_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let pic = jpeg(3);
    let names = ["=cmd.jpg", "+1.jpg", "@SUM(A1).jpg", "plain.jpg"];
    for n in names {
        write(&root.join(n), &pic);
    }
    let out = scan_cmd(root)
        .args(["--no-state", "--format", "csv", "--threads", "1"])
        .args(names)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rdr = csv::Reader::from_reader(out.stdout.as_slice());
    let header = rdr.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut paths = Vec::new();
    for row in rdr.records() {
        let row = row.unwrap();
        assert_eq!(&row[col("md5")], md5_hex(&pic), "{row:?}");
        assert_eq!(&row[col("bytes")], pic.len().to_string(), "{row:?}");
        assert_eq!(row[col("pdq")].len(), 64, "{row:?}");
        paths.push(row[col("path")].to_string());
    }
    paths.sort();
    assert_eq!(
        paths,
        ["'+1.jpg", "'=cmd.jpg", "'@SUM(A1).jpg", "plain.jpg"]
    );
}
