//! `serve`'s fetch by URL (HMA's `?url=`) over https, against a loopback
//! https server whose CA is made here and trusted through
//! `--fetch-ca-file`: fetches work, redirects are checked hop by hop and
//! bounded, the body limit holds while streaming, an untrusted certificate
//! fails as HMA answers a failed fetch (400 "Failed to fetch URL").

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::serve_support::{init_db, multipart, multipart_type, test_png, Server};

/// What the test server answers for a path.
enum Reply {
    Media(Vec<u8>),
    Redirect(String),
    /// A Content-Length far over any limit, then a trickle of bytes.
    DeclaredHuge,
    /// No Content-Length (chunked), `total` bytes written as fast as the
    /// peer reads them.
    Chunked {
        total: usize,
    },
}

/// A loopback https server: its port, the PEM of the CA that signed its
/// certificate, the requests it saw (path: count) and the bytes of body
/// it managed to write per path.
struct Https {
    port: u16,
    _dir: tempfile::TempDir,
    ca_file: PathBuf,
    hits: Arc<Mutex<BTreeMap<String, usize>>>,
    written: Arc<Mutex<BTreeMap<String, usize>>>,
}

fn https_server(route: fn(&str, u16) -> Reply) -> Https {
    // A CA and a leaf for 127.0.0.1 and localhost, signed by it.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();

    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(Mutex::new(BTreeMap::new()));
    let written = Arc::new(Mutex::new(BTreeMap::new()));
    let (h, w) = (hits.clone(), written.clone());
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, h, w) = (config.clone(), h.clone(), w.clone());
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = tcp.set_write_timeout(Some(Duration::from_secs(10)));
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                // The request line; the rest of the head is read and dropped.
                let path = {
                    let mut r = BufReader::new(&mut tls);
                    let mut line = String::new();
                    if r.read_line(&mut line).is_err() {
                        return; // e.g. the client refused our certificate
                    }
                    loop {
                        let mut l = String::new();
                        match r.read_line(&mut l) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if l == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    line.split(' ').nth(1).unwrap_or("").to_string()
                };
                *h.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
                let mut sent = 0usize;
                let _ = match route(&path, port) {
                    Reply::Media(body) => tls
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .as_bytes(),
                        )
                        .and_then(|_| tls.write_all(&body)),
                    Reply::Redirect(to) => tls.write_all(
                        format!(
                            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .as_bytes(),
                    ),
                    Reply::DeclaredHuge => (|| {
                        tls.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 10000000000\r\nConnection: close\r\n\r\n",
                        )?;
                        tls.flush()?;
                        for _ in 0..100 {
                            tls.write_all(&[0u8; 1024])?;
                            tls.flush()?;
                            sent += 1024;
                            w.lock().unwrap().insert(path.clone(), sent);
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        Ok(())
                    })(),
                    Reply::Chunked { total } => (|| {
                        tls.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                        )?;
                        let chunk = vec![7u8; 64 << 10];
                        while sent < total {
                            tls.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                            tls.write_all(&chunk)?;
                            tls.write_all(b"\r\n")?;
                            tls.flush()?;
                            sent += chunk.len();
                            w.lock().unwrap().insert(path.clone(), sent);
                        }
                        tls.write_all(b"0\r\n\r\n")
                    })(),
                };
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    Https {
        port,
        _dir: dir,
        ca_file,
        hits,
        written,
    }
}

fn png() -> Vec<u8> {
    test_png(320, 240, 21)
}

fn route(path: &str, port: u16) -> Reply {
    if path == "/a.png" {
        return Reply::Media(png());
    }
    if path == "/two" {
        return Reply::Redirect("/one".into());
    }
    if path == "/one" {
        return Reply::Redirect(format!("https://127.0.0.1:{port}/a.png"));
    }
    if path == "/elsewhere" {
        // Same server, another host name: not on the allowlist.
        return Reply::Redirect(format!("https://localhost:{port}/never"));
    }
    if path == "/plain" {
        return Reply::Redirect(format!("ftp://127.0.0.1:{port}/a.png"));
    }
    if let Some(n) = path.strip_prefix("/loop/") {
        let n: u32 = n.parse().unwrap_or(0);
        return Reply::Redirect(format!("/loop/{}", n + 1));
    }
    if path == "/declared-huge" {
        return Reply::DeclaredHuge;
    }
    if path == "/chunked-huge" {
        return Reply::Chunked { total: 256 << 20 };
    }
    if path == "/never" {
        return Reply::Media(png());
    }
    Reply::Redirect("/a.png".into())
}

fn start(https: &Https, extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    init_db(&db);
    let ca = https.ca_file.to_str().unwrap().to_string();
    let mut args = vec!["--fetch-allow-host", "127.0.0.1", "--fetch-ca-file", &ca];
    args.extend_from_slice(extra);
    let s = Server::start(&db, &args);
    (dir, s)
}

fn message(r: &crate::serve_support::Resp) -> String {
    r.json()["message"].as_str().unwrap_or("").to_string()
}

#[test]
fn https_fetch_with_a_trusted_ca_hashes_as_an_upload_does() {
    let https = https_server(route);
    let (_d, s) = start(&https, &[]);
    let direct = s.post(
        "/h/hash",
        None,
        &multipart_type(),
        &multipart("photo", "a.png", &png()),
    );
    assert_eq!(direct.status, 200);
    let base = format!("https://127.0.0.1:{}", https.port);
    let r = s.get(&format!("/h/hash?url={base}/a.png"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), direct.json());
    // Two hops (relative, then absolute), both to the allowed host.
    let r = s.get(&format!("/h/hash?url={base}/two"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), direct.json());
    let r = s.get(&format!("/m/lookup?url={base}/a.png"), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn redirects_only_to_allowed_hosts_and_at_most_five() {
    let https = https_server(route);
    let (_d, s) = start(&https, &[]);
    let base = format!("https://127.0.0.1:{}", https.port);
    // To another host name: refused before that hop is requested.
    let r = s.get(&format!("/h/hash?url={base}/elsewhere"), None);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let m = message(&r);
    assert!(m.starts_with("Failed to fetch URL"), "{m}");
    assert!(m.contains("not on the fetch allowlist"), "{m}");
    assert_eq!(https.hits.lock().unwrap().get("/never"), None);
    // To another scheme: refused too.
    let r = s.get(&format!("/h/hash?url={base}/plain"), None);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    // A loop: the first request and five redirects, then it stops.
    let r = s.get(&format!("/h/hash?url={base}/loop/0"), None);
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let m = message(&r);
    assert!(m.contains("more than 5 redirects"), "{m}");
    let loops: usize = https
        .hits
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p.starts_with("/loop/"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(loops, 6);
    // The first URL's host off the allowlist: refused without a request.
    let r = s.get(
        &format!("/h/hash?url=https://localhost:{}/never", https.port),
        None,
    );
    assert_eq!(r.status, 403);
    assert_eq!(https.hits.lock().unwrap().get("/never"), None);
}

#[test]
fn bodies_over_the_limit_are_refused_while_streaming() {
    let https = https_server(route);
    let (_d, s) = start(&https, &["--max-body-mib", "1"]);
    let base = format!("https://127.0.0.1:{}", https.port);
    // A declared length over the limit: refused at once, not after the
    // server's 10 s trickle.
    let t = Instant::now();
    let r = s.get(&format!("/h/hash?url={base}/declared-huge"), None);
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // No declared length (chunked, 256 MiB offered): the fetch stops soon
    // after 1 MiB; the server could not write more than the limit plus
    // what sits in socket and TLS buffers.
    let r = s.get(&format!("/h/hash?url={base}/chunked-huge"), None);
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    std::thread::sleep(Duration::from_millis(500));
    let sent = https
        .written
        .lock()
        .unwrap()
        .get("/chunked-huge")
        .copied()
        .unwrap_or(0);
    assert!(sent < 32 << 20, "the server wrote {sent} bytes");
}

#[test]
fn an_untrusted_certificate_fails_as_hma_answers_a_failed_fetch() {
    let https = https_server(route);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    init_db(&db);
    // No --fetch-ca-file: the test CA is not trusted.
    let s = Server::start(&db, &["--fetch-allow-host", "127.0.0.1"]);
    let r = s.get(
        &format!("/h/hash?url=https://127.0.0.1:{}/a.png", https.port),
        None,
    );
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    let m = message(&r);
    assert!(m.starts_with("Failed to fetch URL"), "{m}");
    assert!(m.to_lowercase().contains("certificate"), "{m}");
    assert_eq!(https.hits.lock().unwrap().get("/a.png"), None);
}

#[test]
fn a_bad_ca_file_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("f.db");
    init_db(&db);
    let pem = dir.path().join("bad.pem");
    std::fs::write(&pem, "not a certificate").unwrap();
    let o = std::process::Command::new(crate::serve_support::BIN)
        .arg("serve")
        .arg("--db")
        .arg(&db)
        .args(["--listen", "127.0.0.1:0", "--fetch-allow-host", "a"])
        .arg("--fetch-ca-file")
        .arg(&pem)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--fetch-ca-file"), "{err}");
}
