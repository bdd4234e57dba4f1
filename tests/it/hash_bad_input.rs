//! `hashsieve hash` on hostile and broken input, through the real binary:
//! every bad file gets its own line with an error of the right kind, the good
//! file beside it is still hashed correctly, the exit code says errors
//! happened, and nothing hangs.

use serde_json::Value;
use std::io::Cursor;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hashsieve")
}

/// A small real photo-like JPEG, made by us.
fn jpeg_bytes() -> Vec<u8> {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([
            (x * 255 / 320) as u8,
            (y * 255 / 240) as u8,
            ((x * y) % 251) as u8,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A valid PNG header claiming 100000 x 100000 RGB pixels (30 GB decoded).
fn huge_png_header() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(
        &mut out,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// Run the binary, killing it (and failing) if it runs over `limit`.
fn run(args: &[&Path], as_nobody: bool) -> (i32, Vec<Value>, String) {
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()]);
        c
    } else {
        Command::new(bin())
    };
    cmd.arg("hash")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn hashsieve");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("hashsieve hung on bad input");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn by_name<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["path"].as_str().is_some_and(|p| p.ends_with(name)))
        .unwrap_or_else(|| panic!("no line for {name}: {lines:#?}"))
}

fn error_kind(v: &Value) -> Option<&str> {
    v["error"]["kind"].as_str()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn every_bad_file_gets_its_own_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = jpeg_bytes();
    std::fs::write(d.join("good.jpg"), &good).unwrap();
    std::fs::write(d.join("truncated.jpg"), &good[..good.len() / 2]).unwrap();
    let random: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect();
    std::fs::write(d.join("random.jpg"), &random).unwrap();
    std::fs::write(d.join("empty.jpg"), b"").unwrap();
    std::fs::write(d.join("huge.png"), huge_png_header()).unwrap();
    let raw_name = std::ffi::OsStr::from_bytes(b"bad-\xff\xfe-name.jpg");
    std::fs::write(d.join(raw_name), &good).unwrap();
    let unreadable = d.join("unreadable.jpg");
    std::fs::write(&unreadable, &good).unwrap();
    std::fs::set_permissions(
        &unreadable,
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();
    // A directory symlink loop and a fifo.
    std::fs::create_dir(d.join("sub")).unwrap();
    std::os::unix::fs::symlink("..", d.join("sub/loop")).unwrap();
    let fifo = d.join("fifo.jpg");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    // A file listed on the command line that is gone by the time we read it.
    let vanished = d.join("vanished.jpg");

    // As root every file is readable; drop to `nobody` so "unreadable" is real.
    let as_nobody = is_root();
    if as_nobody {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    }
    let (code, lines, stderr) = run(&[d, vanished.as_path()], as_nobody);
    assert_eq!(code, 2, "errors must give exit code 2; stderr: {stderr}");

    let good_line = by_name(&lines, "/good.jpg");
    assert!(good_line["error"].is_null(), "{good_line}");
    assert_eq!(good_line["media"], "image");
    assert_eq!(good_line["width"], 320);
    assert_eq!(good_line["pdq"][0]["hash"].as_str().unwrap().len(), 64);
    assert_eq!(good_line["md5"].as_str().unwrap().len(), 32);

    let t = by_name(&lines, "truncated.jpg");
    assert_eq!(error_kind(t), Some("decode"), "{t}");
    assert!(
        t["sha256"].is_string(),
        "crypto hashes even when decoding fails: {t}"
    );
    assert_eq!(error_kind(by_name(&lines, "random.jpg")), Some("decode"));
    assert_eq!(by_name(&lines, "random.jpg")["media"], "other");
    assert_eq!(error_kind(by_name(&lines, "empty.jpg")), Some("decode"));
    assert_eq!(by_name(&lines, "empty.jpg")["bytes"], 0);
    let huge = by_name(&lines, "huge.png");
    assert_eq!(error_kind(huge), Some("limit"), "{huge}");

    // The non-UTF-8 name: a lossy path plus the exact bytes in hex, and the
    // same hashes as the good file (same content).
    let bad_name = lines
        .iter()
        .find(|l| l["path_raw_hex"].is_string())
        .expect("non-UTF-8 name line");
    assert!(bad_name["path_raw_hex"].as_str().unwrap().contains("fffe"));
    assert_eq!(bad_name["pdq"], good_line["pdq"]);

    if as_nobody {
        assert_eq!(error_kind(by_name(&lines, "unreadable.jpg")), Some("io"));
    }
    let fifo_line = by_name(&lines, "fifo.jpg");
    assert_eq!(error_kind(fifo_line), Some("io"));
    assert!(fifo_line["error"]["message"]
        .as_str()
        .unwrap()
        .contains("fifo"));
    let loop_line = lines.iter().find(|l| {
        l["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("loop"))
    });
    assert!(loop_line.is_some(), "symlink loop reported: {lines:#?}");
    assert_eq!(error_kind(by_name(&lines, "vanished.jpg")), Some("io"));
    // One line per item, nothing lost: 8 files + the loop + the vanished path.
    assert_eq!(lines.len(), 10, "{lines:#?}");
}

#[test]
fn file_removed_between_listing_and_reading() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), jpeg_bytes()).unwrap();
    std::fs::write(dir.path().join("b.bin"), b"hello").unwrap();
    let roots = vec![dir.path().to_path_buf()];
    let items: Vec<_> = hashsieve::walk::sorted(&roots, &Default::default()).collect();
    std::fs::remove_file(dir.path().join("a.jpg")).unwrap();
    let cfg = hashsieve::hashing::HashConfig::default();
    let mut w = hashsieve::hashing::Worker::new();
    let recs: Vec<_> = items
        .into_iter()
        .map(|i| match i {
            hashsieve::walk::Input::File(k) => hashsieve::hashing::hash_path(&k.path, &cfg, &mut w),
            hashsieve::walk::Input::Failed(p, e) => hashsieve::record::FileRecord::failed(&p, e),
        })
        .collect();
    assert_eq!(recs.len(), 2);
    assert_eq!(
        recs[0].error.as_ref().map(|e| e.kind),
        Some(hashsieve::error::ErrorKind::Io)
    );
    assert!(recs[1].error.is_none());
    assert_eq!(recs[1].bytes, 5);
}

#[test]
fn output_is_in_input_order_and_stable_across_thread_counts() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = jpeg_bytes();
    let mut paths: Vec<PathBuf> = Vec::new();
    for i in 0..24 {
        let p = dir.path().join(format!("f{i:02}.jpg"));
        let mut data = jpeg.clone();
        data.extend_from_slice(&[i as u8; 3]); // distinct digests, same picture
        std::fs::write(&p, data).unwrap();
        paths.push(p);
    }
    let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
    let one = Command::new(bin())
        .args(["hash", "--threads", "1"])
        .args(&refs)
        .output()
        .unwrap();
    let two = Command::new(bin())
        .args(["hash", "--threads", "2"])
        .args(&refs)
        .output()
        .unwrap();
    assert_eq!(one.status.code(), Some(0));
    assert_eq!(one.stdout, two.stdout);
    let names: Vec<String> = String::from_utf8(one.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let want: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    assert_eq!(names, want);
}

#[test]
fn bad_arguments_exit_2_with_a_message() {
    let out = Command::new(bin())
        .args(["hash", "--threads", "many", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!out.stderr.is_empty());
    let out = Command::new(bin()).args(["hash"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
