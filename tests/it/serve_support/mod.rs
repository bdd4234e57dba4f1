//! Shared by the `serve_*` integration tests: start the real binary on an
//! ephemeral loopback port, and a minimal HTTP/1.1 client over a plain
//! TcpStream (so tests can also send malformed requests no client library
//! would produce).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hashsieve");

/// A running `hashsieve serve`; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: std::sync::mpsc::Receiver<String>,
}

/// Create an empty database at `db` (`hashsieve db init`), for a service
/// whose lists are made through its API: `serve` refuses a missing
/// database (a mistyped `--db` must not start an empty service).
pub fn init_db(db: &Path) {
    let o = Command::new(BIN)
        .args(["db", "init", "--db"])
        .arg(db)
        .output()
        .expect("run hashsieve db init");
    assert!(
        o.status.success(),
        "db init: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Server {
    /// Start `serve --db DB --listen 127.0.0.1:0 EXTRA...` and wait until it listens.
    pub fn start(db: &Path, extra: &[&str]) -> Server {
        Self::start_with_env(db, extra, &[])
    }

    /// [`Server::start`] with extra environment variables for the server
    /// only: all tests share one process, so none may change its own
    /// environment for a child.
    pub fn start_with_env(db: &Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .envs(env.iter().copied())
            .arg("serve")
            .arg("--db")
            .arg(db)
            .args(["--listen", "127.0.0.1:0", "--poll-ms", "200"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hashsieve serve");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not report its address in time");
            };
            if let Some(a) = line.split("listening on http://").nth(1) {
                let Ok(addr) = a.trim().parse() else {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("bad address line {line:?}");
                };
                return Server {
                    child,
                    addr,
                    stderr: rx,
                };
            }
        }
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        request(self.addr, "GET", path, token, &[], &[])
    }

    pub fn post(&self, path: &str, token: Option<&str>, ctype: &str, body: &[u8]) -> Resp {
        request(
            self.addr,
            "POST",
            path,
            token,
            &[("Content-Type", ctype)],
            body,
        )
    }

    pub fn post_json(&self, path: &str, token: Option<&str>, body: &serde_json::Value) -> Resp {
        self.post(path, token, "application/json", body.to_string().as_bytes())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// An error answer: JSON `{"error": {"kind", "message"}}`; returns the kind.
    pub fn error_kind(&self) -> String {
        let j = self.json();
        assert!(j["error"]["message"].is_string(), "no error message in {j}");
        j["error"]["kind"].as_str().unwrap().to_string()
    }
}

/// Send raw bytes, read the whole answer (the request says `Connection: close`).
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // The server may answer (413) and close before the whole body is sent.
    let _ = s.write_all(bytes);
    read_response(&mut s)
}

pub fn read_response(s: &mut TcpStream) -> Resp {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> Resp {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..p]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        let start = p + 2;
        out.extend_from_slice(&b[start..(start + n).min(b.len())]);
        b = &b[(start + n + 2).min(b.len())..];
    }
    out
}

/// One request with `Connection: close`.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes)
}

pub const BOUNDARY: &str = "hashsieveTestBoundary7MA4YWxk";

/// A multipart/form-data body with one file field.
pub fn multipart(field: &str, filename: &str, data: &[u8]) -> Vec<u8> {
    let mut b = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    b.extend_from_slice(data);
    b.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    b
}

pub fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A synthetic photo-like PNG (smooth gradients plus a pattern: PDQ quality is high).
pub fn test_png(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let v = ((x * 7 + y * 3 + seed * 50) % 256) as u8;
        let s = if ((x / 16) + (y / 16) + seed).is_multiple_of(2) {
            40
        } else {
            200
        };
        image::Rgb([v, s, v.wrapping_add(s)])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A fresh database with list `name`.
pub fn db_with_list(dir: &Path, name: &str) -> PathBuf {
    let db = dir.join("t.db");
    let out = Command::new(BIN)
        .args(["db", "--db"])
        .arg(&db)
        .args(["list-create", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

/// Run `hashsieve ARGS...` and return stdout (panics on failure).
pub fn cli(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "hashsieve {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Poll `f` until it is true or `secs` pass; returns whether it became true.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
