//! A throwaway PostgreSQL server for tests: `initdb` into a temporary
//! folder, `postgres` on a free loopback port, stopped and deleted when
//! dropped. No test relies on a server left running.
//!
//! Standard library and `tempfile` only, so that the app's integration
//! tests include this same file (`#[path]`) without depending on the
//! PostgreSQL client.
//!
//! Binaries: Debian's `/usr/lib/postgresql/<version>/bin` (newest first),
//! else `$PATH`. `initdb` refuses to run as root, so as root (CI runs as
//! root) the server runs as `nobody` (uid and gid 65534) and the folder is
//! handed to it. Missing binaries: [`Server::start`] answers
//! [`Start::Missing`], which a test turns into a skip, or, with
//! `HASHSIEVE_REQUIRE_FIXTURES=1` (CI), into a failure.

#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The unprivileged user the server runs as when we are root.
const NOBODY: u32 = 65534;

/// A running server; stopped (and its folder deleted) on drop.
pub struct Server {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
    as_nobody: bool,
    /// `-c name=value` settings of [`Server::start_with`], kept for
    /// [`Server::restart`].
    settings: Vec<String>,
}

/// What [`Server::start`] found.
pub enum Start {
    Running(Server),
    /// No PostgreSQL binaries here: the message says what was looked for.
    Missing(String),
}

/// The folder holding `initdb`, `postgres` and `pg_ctl`, if any.
pub fn bin_dir() -> Option<PathBuf> {
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    // Newest version first (numeric: 9.6 < 15).
    debian.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.split('.').next())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    let path = std::env::var_os("PATH").unwrap_or_default();
    debian
        .into_iter()
        .chain(std::env::split_paths(&path))
        .find(|d| {
            ["initdb", "postgres", "pg_ctl"]
                .iter()
                .all(|b| d.join(b).is_file())
        })
}

/// Whether a missing server must fail the test (CI) instead of skipping it.
pub fn required() -> bool {
    std::env::var("HASHSIEVE_REQUIRE_FIXTURES").is_ok_and(|v| v == "1")
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Server {
    /// Start a fresh server (a new cluster: its `postgres` database is
    /// empty).
    ///
    /// # Panics
    /// When the binaries are there but the server does not come up: that
    /// is a broken fixture, not a skip.
    pub fn start() -> Start {
        Self::start_with(&[], &[])
    }

    /// [`Server::start`], with `files` written into the data folder after
    /// `initdb` (replacing any there, e.g. `pg_hba.conf`; owned by the
    /// server's user, mode 0600 as PostgreSQL wants a key file) and
    /// `settings` (`name=value`) given as `-c` options, e.g. a TLS server:
    /// `ssl=on`, `ssl_cert_file=server.crt`, `ssl_key_file=server.key`.
    pub fn start_with(files: &[(&str, &[u8])], settings: &[&str]) -> Start {
        let Some(bin) = bin_dir() else {
            return Start::Missing(
                "no initdb/postgres/pg_ctl in /usr/lib/postgresql/*/bin or on PATH \
                 (Debian package `postgresql`)"
                    .into(),
            );
        };
        let dir = tempfile::Builder::new()
            .prefix("hashsieve-pg-")
            .tempdir()
            .expect("temporary folder");
        let as_nobody = std::fs::metadata(dir.path()).expect("stat").uid() == 0;
        if as_nobody {
            std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY)).expect("chown");
        }
        let mut s = Server {
            dir,
            bin,
            port: 0,
            child: None,
            as_nobody,
            settings: settings.iter().map(|s| s.to_string()).collect(),
        };
        let out = s
            .command("initdb")
            .args(["-A", "trust", "-U", "hashsieve", "--no-sync", "-E", "UTF8"])
            .args(["--locale=C", "-D"])
            .arg(s.data())
            .output()
            .expect("running initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for (name, bytes) in files {
            use std::os::unix::fs::PermissionsExt;
            let path = s.data().join(name);
            std::fs::write(&path, bytes).expect("writing a server file");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            if as_nobody {
                std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).expect("chown");
            }
        }
        // A port taken between our probe and the server's bind: try again.
        for _ in 0..5 {
            s.port = free_port().expect("a free port");
            let child = s
                .command("postgres")
                .arg("-D")
                .arg(s.data())
                .args(["-h", "127.0.0.1", "-p", &s.port.to_string(), "-k"])
                .arg(s.dir.path())
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off", "-c", "max_connections=60"])
                .args(s.settings.iter().flat_map(|v| ["-c", v.as_str()]))
                .stdout(Stdio::null())
                .stderr(Stdio::from(
                    std::fs::File::create(s.dir.path().join("server.log")).expect("log file"),
                ))
                .spawn()
                .expect("starting postgres");
            s.child = Some(child);
            if s.wait_ready(Duration::from_secs(60)) {
                return Start::Running(s);
            }
            s.stop();
        }
        panic!(
            "postgres did not start: {}",
            std::fs::read_to_string(s.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, name: &str) -> Command {
        let mut c = Command::new(self.bin.join(name));
        if self.as_nobody {
            c.uid(NOBODY).gid(NOBODY);
        }
        c.current_dir(self.dir.path());
        c
    }

    /// Ready when `postmaster.pid` says so (PostgreSQL 10+); false when
    /// the server exited (its port taken) or took too long.
    fn wait_ready(&mut self, limit: Duration) -> bool {
        let t0 = Instant::now();
        let pidfile = self.data().join("postmaster.pid");
        while t0.elapsed() < limit {
            if let Some(c) = self.child.as_mut() {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    return false;
                }
            }
            if std::fs::read_to_string(&pidfile)
                .is_ok_and(|s| s.lines().nth(7).map(str::trim) == Some("ready"))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The URL of database `db` (`postgres` is there from the start).
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://hashsieve@127.0.0.1:{}/{db}", self.port)
    }

    /// The URL of the empty database every fresh cluster has.
    pub fn fresh_url(&self) -> String {
        self.url("postgres")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stop the server and wait for it (fast shutdown: clients are cut).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let stopped = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "-t", "30", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// Start the server again on the same folder and port (after
    /// [`Server::stop`]): a database that went away and came back.
    pub fn restart(&mut self) -> bool {
        self.stop();
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data())
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-k"])
            .arg(self.dir.path())
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(self.settings.iter().flat_map(|v| ["-c", v.as_str()]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(c) => {
                self.child = Some(c);
                self.wait_ready(Duration::from_secs(60))
            }
            Err(_) => false,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
