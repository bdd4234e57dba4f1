//! Shared helpers of the `scan` integration tests: running the real
//! binary, generating media and archives, building a hash database.
#![allow(dead_code)]

use crate::fixtures;

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hashsieve")
}

/// A scan command with no database and no state unless added.
pub fn scan_cmd(dir: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(dir).env_remove("HASHSIEVE_DB").arg("scan");
    c
}

pub struct Scan {
    pub records: Vec<Value>,
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

pub fn parse(out: Output) -> Scan {
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let records = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect();
    Scan {
        records,
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

impl Scan {
    /// The record at `path`, which must appear exactly once.
    pub fn one(&self, path: &str) -> &Value {
        let found: Vec<&Value> = self.records.iter().filter(|r| r["path"] == path).collect();
        assert_eq!(
            found.len(),
            1,
            "records at {path}: {found:?}\nstderr: {}",
            self.stderr
        );
        found[0]
    }

    pub fn error_kind(&self, path: &str) -> Option<String> {
        self.one(path)["error"]["kind"].as_str().map(str::to_string)
    }

    /// Every path appears once.
    pub fn assert_unique(&self) {
        let mut seen = std::collections::HashSet::new();
        for r in &self.records {
            let p = r["path"].as_str().unwrap_or("").to_string();
            assert!(seen.insert(p.clone()), "{p} reported twice");
        }
    }
}

/// A deterministic 64x64 grey image made of random 8x8 blocks, as PNG.
pub fn png(seed: u64) -> Vec<u8> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut blocks = [0u8; 64];
    for b in blocks.iter_mut() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *b = (s >> 56) as u8;
    }
    let img = image::GrayImage::from_fn(64, 64, |x, y| {
        image::Luma([blocks[(y / 8 * 8 + x / 8) as usize]])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

/// A deterministic 160x120 photo-like JPEG (`seed` shifts the gradient).
pub fn jpeg(seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(160, 120, |x, y| {
        image::Rgb([
            ((x + seed) * 255 / 160) as u8,
            (y * 255 / 120) as u8,
            ((x * y + seed) % 251) as u8,
        ])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("jpeg");
    out.into_inner()
}

/// The first half of [`jpeg`]: sniffed as an image, fails to decode.
pub fn truncated_jpeg(seed: u32) -> Vec<u8> {
    let mut d = jpeg(seed);
    d.truncate(d.len() / 2);
    d
}

pub fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in members {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn tar_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, data).unwrap();
}

/// A hash database at `path` with list `name` holding `records`
/// (`(signal_type, value)` pairs).
pub fn make_db(path: &Path, name: &str, records: &[(&str, String)]) {
    use hashdb::model::{NewList, Record, Value as HValue};
    let mut s = hashdb::store::Store::open(path).unwrap();
    s.create_list(&NewList::new(name)).unwrap();
    let recs: Vec<Result<Record, hashdb::error::ParseError>> = records
        .iter()
        .enumerate()
        .map(|(i, (t, v))| {
            let mut r = Record::new(HValue::parse(t.parse().unwrap(), v).unwrap());
            r.labels.insert(format!("test:{i}"));
            r.external_id = Some(format!("ext-{i}"));
            Ok(r)
        })
        .collect();
    s.import(name, recs, Path::new("test"), Default::default())
        .unwrap();
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn conformance() -> Option<PathBuf> {
    fixtures::conformance(&[])
}

/// Wait for `child` at most `secs` seconds (killing it and failing with
/// `what` past that); its exit status and stderr (which must be piped).
pub fn wait_or_fail(
    mut child: std::process::Child,
    secs: u64,
    what: &str,
) -> (std::process::ExitStatus, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut e = String::new();
    if let Some(mut err) = child.stderr.take() {
        std::io::Read::read_to_string(&mut err, &mut e).unwrap();
    }
    (status, e)
}

/// Each record's hits as `path -> sorted ["f1#f2#...", ...]`, from the
/// match fields named in `fields`: what two scans are compared by.
pub fn hits_by_path(
    records: &[Value],
    fields: &[&str],
) -> std::collections::BTreeMap<String, Vec<String>> {
    records
        .iter()
        .map(|r| {
            let mut h: Vec<String> = r["matches"]
                .as_array()
                .expect("matches array")
                .iter()
                .map(|m| {
                    fields
                        .iter()
                        .map(|f| m[*f].to_string())
                        .collect::<Vec<_>>()
                        .join("#")
                })
                .collect();
            h.sort();
            (r["path"].as_str().expect("path").to_string(), h)
        })
        .collect()
}

/// `hashsieve ARGS` run in `dir`, with no `$HASHSIEVE_DB` from the
/// environment (so a relative or default `--db` means `dir`'s).
pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .env_remove("HASHSIEVE_DB")
        .args(args)
        .output()
        .expect("run hashsieve")
}
