//! TLS to PostgreSQL (issue 14) through the real binary: libpq's
//! `sslmode`s, `sslrootcert` and client certificates against a throwaway
//! server with `ssl=on`, its CA and certificates made here (rcgen).
//!
//! The server's certificate names `localhost` only, so `localhost` is the
//! right name and `127.0.0.1` a wrong one. Its `pg_hba.conf` has
//! `hostssl` lines only: a connection that gets in was encrypted, one
//! without TLS is turned away ("no encryption").
//!
//! Without PostgreSQL the tests skip locally and fail in CI
//! (`HASHSIEVE_REQUIRE_FIXTURES=1`).

use crate::fixtures;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(clippy::duplicate_mod)]
#[path = "../../hashdb/src/store/pg/throwaway.rs"]
mod throwaway;

const BIN: &str = env!("CARGO_BIN_EXE_hashsieve");

/// A CA, another CA that signed nothing of ours, and what they signed.
struct Pki {
    dir: tempfile::TempDir,
    server_cert: String,
    server_key: String,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = ca_params("hashsieve test CA").self_signed(&ca_key).unwrap();
        let other_key = rcgen::KeyPair::generate().unwrap();
        let other = ca_params("someone else's CA")
            .self_signed(&other_key)
            .unwrap();
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&server_key, &ca, &ca_key)
            .unwrap();
        // A client certificate: PostgreSQL's `cert` method takes the user
        // name from its common name.
        let client_key = rcgen::KeyPair::generate().unwrap();
        let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hashsieve");
        let client = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (name, pem) in [
            ("ca.pem", ca.pem()),
            ("other-ca.pem", other.pem()),
            ("client.pem", client.pem()),
            ("client.key", client_key.serialize_pem()),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Pki {
            dir,
            server_cert: server.pem(),
            server_key: server_key.serialize_pem(),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn ca_params(name: &str) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p
}

/// A TLS server whose `pg_hba.conf` is `hba` (unix sockets: trust).
fn tls_server(pki: &Pki, hba: &str) -> Option<throwaway::Server> {
    let hba = format!("local all all trust\n{hba}\n");
    let ca = std::fs::read(pki.file("ca.pem")).unwrap();
    let files: [(&str, &[u8]); 4] = [
        ("server.crt", pki.server_cert.as_bytes()),
        ("server.key", pki.server_key.as_bytes()),
        ("root.crt", &ca),
        ("pg_hba.conf", hba.as_bytes()),
    ];
    let settings = [
        "ssl=on",
        "ssl_cert_file=server.crt",
        "ssl_key_file=server.key",
        // The CA that client certificates must chain to.
        "ssl_ca_file=root.crt",
    ];
    match throwaway::Server::start_with(&files, &settings) {
        throwaway::Start::Running(s) => Some(s),
        throwaway::Start::Missing(why) => {
            fixtures::missing(&format!("PostgreSQL: {why}"));
            None
        }
    }
}

/// The server's URL at `host`, with `query` (`sslmode=...&...`).
fn url(server: &throwaway::Server, host: &str, query: &str) -> String {
    format!(
        "postgresql://hashsieve@{host}:{}/postgres?{query}",
        server.port()
    )
}

fn run(db: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(std::env::temp_dir())
        .args(args)
        .args(["--db", db])
        // libpq's variables must not steer these runs.
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .env_remove("PGSSLCERT")
        .env_remove("PGSSLKEY")
        .output()
        .expect("run hashsieve")
}

fn ok(db: &str, args: &[&str]) -> String {
    let o = run(db, args);
    assert!(
        o.status.success(),
        "hashsieve {args:?} --db {db}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// The run failed, and its error says each of `words` (case-insensitive).
fn fails_saying(db: &str, args: &[&str], words: &[&str]) {
    let o = run(db, args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{db} should fail: {err}");
    // Shown with --nocapture: what a user would read.
    println!("{db}:\n  {}", err.trim());
    let lower = err.to_lowercase();
    for w in words {
        assert!(
            lower.contains(&w.to_lowercase()),
            "{db}: the error should say {w:?}: {err}"
        );
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn verify_full_with_the_right_ca_works_end_to_end_and_a_wrong_ca_or_name_fails() {
    let pki = Pki::new();
    let Some(server) = tls_server(
        &pki,
        "hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust",
    ) else {
        return;
    };
    let ca = format!("sslrootcert={}", path(&pki.file("ca.pem")));

    // The right CA and name: the whole CLI works over TLS.
    let db = url(&server, "localhost", &format!("sslmode=verify-full&{ca}"));
    ok(&db, &["db", "list-create", "over-tls"]);
    let lists = ok(&db, &["db", "lists"]);
    assert!(lists.contains("over-tls"), "{lists}");

    // Another CA: refused in the handshake, saying so.
    let other = format!("sslrootcert={}", path(&pki.file("other-ca.pem")));
    let db = url(
        &server,
        "localhost",
        &format!("sslmode=verify-full&{other}"),
    );
    fails_saying(
        &db,
        &["db", "lists"],
        &[
            "TLS handshake",
            "UnknownIssuer",
            "does not chain to a CA in sslrootcert=",
        ],
    );

    // The right CA, but the certificate does not name 127.0.0.1.
    let db = url(&server, "127.0.0.1", &format!("sslmode=verify-full&{ca}"));
    fails_saying(
        &db,
        &["db", "lists"],
        &[
            "TLS handshake",
            "not valid for name",
            "not for the host in the URL",
        ],
    );

    // verify-ca checks the chain only: the same name passes ...
    let db = url(&server, "127.0.0.1", &format!("sslmode=verify-ca&{ca}"));
    assert!(ok(&db, &["db", "lists"]).contains("over-tls"));
    // ... and the wrong CA still fails.
    let db = url(&server, "127.0.0.1", &format!("sslmode=verify-ca&{other}"));
    fails_saying(&db, &["db", "lists"], &["TLS", "UnknownIssuer"]);

    // A CA file that is not there: said before anything is sent.
    let db = url(
        &server,
        "localhost",
        "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
    );
    fails_saying(&db, &["db", "lists"], &["sslrootcert=/nonexistent/ca.pem"]);
}

#[test]
fn require_and_prefer_encrypt_and_disable_is_turned_away_by_a_tls_only_server() {
    let pki = Pki::new();
    let Some(server) = tls_server(&pki, "hostssl all all 127.0.0.1/32 trust") else {
        return;
    };
    // The server takes TLS connections only, so each run that gets in
    // was encrypted. require checks no certificate (127.0.0.1 is not
    // the certificate's name, and no CA is given) ...
    let list = "made-over-tls";
    ok(
        &url(&server, "127.0.0.1", "sslmode=require"),
        &["db", "list-create", list],
    );
    // ... and prefer (also the default: no sslmode at all) uses TLS
    // when the server offers it.
    assert!(ok(
        &url(&server, "127.0.0.1", "sslmode=prefer"),
        &["db", "lists"]
    )
    .contains(list));
    let bare = format!(
        "postgresql://hashsieve@127.0.0.1:{}/postgres",
        server.port()
    );
    assert!(ok(&bare, &["db", "lists"]).contains(list));

    // disable: the server refuses an unencrypted connection.
    fails_saying(
        &url(&server, "127.0.0.1", "sslmode=disable"),
        &["db", "lists"],
        &["no encryption"],
    );

    // On the unix socket (`local ... trust`) the TLS options are ignored,
    // as libpq ignores them: the server has no TLS there.
    let socket_dir = path(server.dir()).replace('/', "%2F");
    ok(
        &url(&server, &socket_dir, "sslmode=require"),
        &["db", "lists"],
    );

    // libpq's rule: require with a root file checks the chain as
    // verify-ca does, so a wrong CA fails.
    let other = format!("sslrootcert={}", path(&pki.file("other-ca.pem")));
    fails_saying(
        &url(&server, "127.0.0.1", &format!("sslmode=require&{other}")),
        &["db", "lists"],
        &["TLS", "UnknownIssuer"],
    );
}

#[test]
fn a_client_certificate_logs_in_where_the_server_asks_for_one() {
    let pki = Pki::new();
    // `cert`: the client must show a certificate from the server's CA
    // whose common name is the user name.
    let Some(server) = tls_server(&pki, "hostssl all all 127.0.0.1/32 cert") else {
        return;
    };
    let ca = format!("sslrootcert={}", path(&pki.file("ca.pem")));
    let with_cert = format!(
        "sslmode=verify-ca&{ca}&sslcert={}&sslkey={}",
        path(&pki.file("client.pem")),
        path(&pki.file("client.key"))
    );
    ok(
        &url(&server, "127.0.0.1", &with_cert),
        &["db", "list-create", "by-cert"],
    );
    assert!(ok(&url(&server, "127.0.0.1", &with_cert), &["db", "lists"]).contains("by-cert"));
    // Without one the server refuses (over TLS, so not for want of it).
    fails_saying(
        &url(&server, "127.0.0.1", &format!("sslmode=verify-ca&{ca}")),
        &["db", "lists"],
        &["certificate"],
    );
    // Half a client certificate is a mistake, said before connecting.
    fails_saying(
        &url(
            &server,
            "127.0.0.1",
            &format!(
                "sslmode=verify-ca&{ca}&sslcert={}",
                path(&pki.file("client.pem"))
            ),
        ),
        &["db", "lists"],
        &["sslcert and sslkey go together"],
    );
}

/// `serve` over TLS: its store connection and its `LISTEN` connection
/// (polling once a minute, so only a notification over the second one
/// explains a change matched within 2 s).
#[cfg(feature = "serve")]
#[test]
fn serve_listens_for_changes_over_tls() {
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    const PDQ: &str = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

    let pki = Pki::new();
    let Some(server) = tls_server(&pki, "hostssl all all 127.0.0.1/32 trust") else {
        return;
    };
    // verify-ca: the certificate names localhost, the URL says 127.0.0.1.
    let db = url(
        &server,
        "127.0.0.1",
        &format!(
            "sslmode=verify-ca&sslrootcert={}",
            path(&pki.file("ca.pem"))
        ),
    );
    ok(&db, &["db", "list-create", "L"]);

    let mut child = Command::new(BIN)
        .args(["serve", "--db", &db, "--listen", "127.0.0.1:0"])
        .args(["--no-sandbox", "--poll-ms", "60000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn hashsieve serve");
    let err = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr = loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!("serve did not start");
        };
        if let Some(a) = line.split("listening on http://").nth(1) {
            break a.trim().parse().expect("an address");
        }
    };
    let s = crate::serve_support::Server {
        child,
        addr,
        stderr: rx,
    };
    let banks = || {
        let r = s.get(&format!("/m/lookup?signal_type=pdq&signal={PDQ}"), None);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let by_bank: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&r.body).unwrap();
        by_bank.keys().cloned().collect::<Vec<_>>()
    };
    assert!(banks().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("l.txt");
    std::fs::write(&file, format!("{PDQ}\n")).unwrap();
    ok(&db, &["db", "import", "L", path(&file)]);
    let t0 = Instant::now();
    while banks() != ["L"] {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "the import was not matched within 2 s (no notification over TLS?)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A password over TLS with SCRAM channel binding required
/// (`channel_binding=require`: the client must prove the TLS session it
/// sees is the server's, from the server's certificate), as a managed
/// database's password login would run.
#[test]
fn scram_with_channel_binding_over_tls() {
    let pki = Pki::new();
    let Some(server) = tls_server(&pki, "hostssl all all 127.0.0.1/32 scram-sha-256") else {
        return;
    };
    let Some(psql) = throwaway::bin_dir()
        .map(|d| d.join("psql"))
        .filter(|p| p.is_file())
    else {
        fixtures::missing("psql (Debian package postgresql-client)");
        return;
    };
    // The password is set over the unix socket (`local ... trust`).
    let set = Command::new(psql)
        .args(["-h", path(server.dir()), "-p", &server.port().to_string()])
        .args(["-U", "hashsieve", "-d", "postgres", "-c"])
        .arg("ALTER ROLE hashsieve PASSWORD 'tls-secret'")
        .output()
        .expect("run psql");
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let db = |password: &str| {
        format!(
            "postgresql://hashsieve:{password}@127.0.0.1:{}/postgres?sslmode=require&channel_binding=require",
            server.port()
        )
    };
    ok(&db("tls-secret"), &["db", "list-create", "scram"]);
    assert!(ok(&db("tls-secret"), &["db", "lists"]).contains("scram"));
    fails_saying(
        &db("wrong"),
        &["db", "lists"],
        &["password authentication failed"],
    );
}
