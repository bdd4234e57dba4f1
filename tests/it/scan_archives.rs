//! `hashsieve scan` on a generated tree of good and hostile inputs:
//! archives of every kind, a zip bomb, path-traversal names, an encrypted
//! member, a truncated tar, nesting past the depth limit, an archive
//! disguised by its name. Asserts on the JSON records of the real binary.

use crate::scan_support;

use scan_support::*;
use std::io::Write;
use std::path::Path;

/// Set the "encrypted" flag of every entry of a zip (local headers and
/// central directory), as a password-protected zip has it. The reader must
/// refuse the member from the flag alone, never try to decrypt.
fn mark_encrypted(mut z: Vec<u8>, name: &str) -> Vec<u8> {
    let n = name.as_bytes();
    let mut i = 0;
    while i + 46 < z.len() {
        if &z[i..i + 4] == b"PK\x03\x04" {
            let len = u16::from_le_bytes([z[i + 26], z[i + 27]]) as usize;
            if &z[i + 30..i + 30 + len] == n {
                z[i + 6] |= 1;
            }
        } else if &z[i..i + 4] == b"PK\x01\x02" {
            let len = u16::from_le_bytes([z[i + 28], z[i + 29]]) as usize;
            if &z[i + 46..i + 46 + len] == n {
                z[i + 8] |= 1;
            }
        }
        i += 1;
    }
    z
}

fn build_tree(root: &Path) {
    let a = png(1);
    write(&root.join("img/a.png"), &a);
    write(&root.join("img/b.png"), &png(2));
    write(&root.join("notes.txt"), b"plain text\n");
    write(
        &root.join("arch/good.zip"),
        &zip_of(&[("x.png", &a), ("dir/y.txt", b"inside")]),
    );
    let zeros = vec![0u8; 16 << 20];
    write(
        &root.join("arch/bomb.zip"),
        &zip_of(&[
            ("first.txt", b"before"),
            ("bomb.bin", &zeros),
            ("last.png", &png(3)),
        ]),
    );
    write(
        &root.join("arch/slip.zip"),
        &zip_of(&[
            ("../../evil.txt", b"escape"),
            ("/abs/evil2.txt", b"escape2"),
        ]),
    );
    let enc = zip_of(&[("secret.png", &png(4)), ("plain.txt", b"readable")]);
    write(
        &root.join("arch/enc.zip"),
        &mark_encrypted(enc, "secret.png"),
    );
    let t = tar_of(&[("a.txt", &[1u8; 100]), ("b.bin", &[2u8; 5000])]);
    write(&root.join("arch/trunc.tar"), &t[..512 + 512 + 512 + 1000]);
    let level3 = zip_of(&[("deep.txt", b"too deep")]);
    let level2 = tar_of(&[("level3.zip", &level3)]);
    let level1 = zip_of(&[("level2.tar", &level2)]);
    write(
        &root.join("arch/nest.zip"),
        &zip_of(&[("level1.zip", &level1)]),
    );
    let inner = tar_of(&[("inner.png", &a)]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&inner).unwrap();
    write(&root.join("arch/c.tar.gz"), &gz.finish().unwrap());
    write(
        &root.join("arch/c.tar.zst"),
        &zstd::encode_all(&inner[..], 3).unwrap(),
    );
    let mut xz = xz2::write::XzEncoder::new(Vec::new(), 6);
    xz.write_all(&inner).unwrap();
    write(&root.join("arch/c.tar.xz"), &xz.finish().unwrap());
    // Named like an image, is a zip: content decides.
    write(&root.join("disguised.jpg"), &zip_of(&[("z.txt", b"zz")]));
}

#[test]
fn hostile_and_nested_archives_each_get_their_records() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    build_tree(&root);
    let summary_path = dir.path().join("summary.json");
    let out = scan_cmd(dir.path())
        .args(["--no-state", "--threads", "2", "--summary-json"])
        .arg(&summary_path)
        .arg("tree")
        .output()
        .unwrap();
    let s = parse(out);
    s.assert_unique();
    assert_eq!(s.code, 2, "errors happened, so exit 2\n{}", s.stderr);

    // Plain files and a good zip.
    let a = s.one("tree/img/a.png");
    assert_eq!(a["media"], "image");
    let pdq_a = a["pdq"][0]["hash"].clone();
    assert!(pdq_a.is_string());
    let x = s.one("tree/arch/good.zip!/x.png");
    assert_eq!(x["media"], "image");
    assert_eq!(x["pdq"][0]["hash"], pdq_a);
    assert_eq!(x["md5"], a["md5"]);
    assert_eq!(s.one("tree/arch/good.zip!/dir/y.txt")["media"], "other");
    let good = s.one("tree/arch/good.zip");
    assert_eq!(good["media"], "archive");
    assert_eq!(good["error"], serde_json::Value::Null);
    assert_eq!(
        good["md5"].as_str().unwrap(),
        md5_hex(&std::fs::read(root.join("arch/good.zip")).unwrap())
    );

    // Zip bomb: the member is refused, its neighbours are read.
    assert_eq!(
        s.error_kind("tree/arch/bomb.zip!/bomb.bin").as_deref(),
        Some("limit")
    );
    assert_eq!(s.error_kind("tree/arch/bomb.zip!/first.txt"), None);
    assert_eq!(s.one("tree/arch/bomb.zip!/last.png")["media"], "image");
    assert_eq!(s.error_kind("tree/arch/bomb.zip"), None);

    // Traversal names are reported as is; nothing is written anywhere.
    assert_eq!(s.one("tree/arch/slip.zip!/../../evil.txt")["bytes"], 6);
    assert_eq!(s.one("tree/arch/slip.zip!//abs/evil2.txt")["bytes"], 7);
    assert!(!dir.path().join("evil.txt").exists());
    assert!(!root.join("evil.txt").exists());
    assert!(!Path::new("/abs/evil2.txt").exists());

    // Encrypted member: unsupported, the rest of the archive is read.
    assert_eq!(
        s.error_kind("tree/arch/enc.zip!/secret.png").as_deref(),
        Some("unsupported")
    );
    assert_eq!(s.one("tree/arch/enc.zip!/plain.txt")["bytes"], 8);

    // Truncated tar: members before the cut are fine, the cut one and the
    // archive report the damage.
    assert_eq!(s.error_kind("tree/arch/trunc.tar!/a.txt"), None);
    assert_eq!(
        s.error_kind("tree/arch/trunc.tar!/b.bin").as_deref(),
        Some("decode")
    );
    assert_eq!(
        s.error_kind("tree/arch/trunc.tar").as_deref(),
        Some("decode")
    );

    // Nesting: three levels are opened, the fourth is hashed and refused.
    assert_eq!(s.one("tree/arch/nest.zip!/level1.zip")["media"], "archive");
    assert_eq!(
        s.one("tree/arch/nest.zip!/level1.zip!/level2.tar")["media"],
        "archive"
    );
    let deep = s.one("tree/arch/nest.zip!/level1.zip!/level2.tar!/level3.zip");
    assert_eq!(deep["error"]["kind"], "limit");
    assert!(deep["md5"].is_string());
    assert!(!s.stdout.contains("deep.txt"));

    // Compressed tars, recognised by content.
    for ext in ["gz", "zst", "xz"] {
        let r = s.one(&format!("tree/arch/c.tar.{ext}!/inner.png"));
        assert_eq!(r["pdq"][0]["hash"], pdq_a, "{ext}");
        assert_eq!(s.one(&format!("tree/arch/c.tar.{ext}"))["media"], "archive");
    }
    assert_eq!(s.one("tree/disguised.jpg")["media"], "archive");
    assert_eq!(s.one("tree/disguised.jpg!/z.txt")["bytes"], 2);

    // The summary agrees with the records.
    let sum: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert_eq!(sum["records"].as_u64().unwrap(), s.records.len() as u64);
    assert_eq!(sum["files"], 13);
    assert_eq!(sum["exit_code"], 2);
    for kind in ["limit", "decode", "unsupported"] {
        assert!(
            sum["errors_by_kind"][kind].as_u64().unwrap() >= 1,
            "{kind}: {sum}"
        );
    }
    // x.png and the three inner.png are copies of a.png: hashed once.
    assert!(sum["deduplicated"].as_u64().unwrap() >= 3, "{sum}");
}

#[test]
fn depth_zero_leaves_archives_closed_and_csv_has_a_row_per_record() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("t/a.zip"), &zip_of(&[("m.txt", b"m")]));
    write(&dir.path().join("t/b,c.txt"), b"x");
    let out = scan_cmd(dir.path())
        .args(["--no-state", "--max-depth", "0", "--format", "csv", "t"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("path,media,bytes,md5,"));
    lines.remove(0);
    lines.sort();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("\"t/b,c.txt\",other,1,"), "{text}");
    assert!(lines[1].starts_with("t/a.zip,other,"), "{text}");
}
