//! A throwaway `nats-server -js` for the queue tests (a free loopback port,
//! a temporary store folder, killed when dropped), and helpers that drive
//! producers and workers through the real binary.
#![allow(dead_code)]

use crate::fixtures;
use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// The hashdb tests' throwaway PostgreSQL, included as a file (as
// `pg_store` does): the queue tests run on both stores.
#[allow(clippy::duplicate_mod)]
#[path = "../../../hashdb/src/store/pg/throwaway.rs"]
pub mod throwaway;

/// Which store a queue test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database of a queue test: an SQLite file in the test's folder, or
/// a throwaway PostgreSQL server (kept running while this lives).
pub struct Db {
    path: PathBuf,
    pub pg: Option<throwaway::Server>,
}

impl Db {
    /// `None` (a skip, or a failure in CI) when PostgreSQL is wanted and
    /// not installed.
    pub fn new(dir: &Path, backend: Backend) -> Option<Db> {
        match backend {
            Backend::Sqlite => Some(Db {
                path: dir.join("h.db"),
                pg: None,
            }),
            Backend::Postgres => match throwaway::Server::start() {
                throwaway::Start::Running(s) => Some(Db {
                    path: PathBuf::from(s.fresh_url()),
                    pg: Some(s),
                }),
                throwaway::Start::Missing(why) => {
                    fixtures::missing(&format!("PostgreSQL: {why}"));
                    None
                }
            },
        }
    }

    /// What `--db` is given: the file, or the server's URL.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Two `#[test]`s per named case, `sqlite::NAME` and `postgres::NAME`,
/// each calling `NAME(Backend)` (one body, both stores).
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name($crate::queue_support::Backend::Sqlite) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name($crate::queue_support::Backend::Postgres) })*
        }
    };
}

pub struct Nats {
    child: Option<Child>,
    pub port: u16,
    store: PathBuf,
}

/// Whether `nats-server` is on the PATH; when not, say so (and fail when
/// fixtures are required).
pub fn have_nats() -> bool {
    let ok = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        fixtures::missing("nats-server (Debian package nats-server)");
    }
    ok
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("a free port");
    l.local_addr().unwrap().port()
}

impl Nats {
    /// Start a JetStream server storing under `dir`.
    pub fn start(dir: &Path) -> Nats {
        let store = dir.join("nats-store");
        std::fs::create_dir_all(&store).unwrap();
        let mut n = Nats {
            child: None,
            port: free_port(),
            store,
        };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kill the server (SIGKILL) and start it again on the same port and
    /// store: a NATS restart mid-run.
    pub fn restart(&mut self, down_for: Duration) {
        self.kill();
        std::thread::sleep(down_for);
        self.spawn();
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_hashsieve")
}

/// `hashsieve scan --queue URL --run RUN --db DB ARGS...`; its output.
pub fn produce(db: &Path, url: &str, run: &str, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .env_remove("HASHSIEVE_DB")
        .args(["scan", "--queue", url, "--run", run, "--db"])
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

/// A worker (`--threads 1`, short ack deadline, exits when idle).
pub fn worker(db: &Path, url: &str, name: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.env_remove("HASHSIEVE_DB")
        .args(["worker", "--queue", url, "--db"])
        .arg(db)
        .args(["--name", name, "--threads", "1", "--ack-wait", "2"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// A worker process whose stderr is read while it runs (by a thread that
/// keeps it all), so a test can wait for its ready line before
/// publishing.
pub struct Running {
    child: Child,
    ready: std::sync::mpsc::Receiver<()>,
    reader: Option<std::thread::JoinHandle<String>>,
}

/// Spawn `cmd` (a [`worker`] command: stderr piped) and read its stderr.
pub fn start(mut cmd: Command) -> Running {
    let mut child = cmd.spawn().expect("spawning a worker");
    let err = child.stderr.take().expect("stderr piped");
    let (tx, ready) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if line.contains(hashsieve::queue::worker::READY) {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    Running {
        child,
        ready,
        reader: Some(reader),
    }
}

impl Running {
    /// Wait until the worker says every slot waits for a job; fail after
    /// `secs` seconds or when it exits first.
    pub fn wait_ready(&mut self, secs: u64, what: &str) {
        if self.ready.recv_timeout(Duration::from_secs(secs)).is_ok() {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let err = self.reader.take().map(|r| r.join().unwrap_or_default());
        panic!(
            "{what} never said it was ready: {}",
            err.unwrap_or_default()
        );
    }

    /// Wait for the worker to exit (at most `secs` seconds, then kill it
    /// and fail); its exit status and whole stderr.
    pub fn wait_exit(mut self, secs: u64, what: &str) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{what}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let err = self.reader.take().map(|r| r.join().unwrap_or_default());
        (status, err.unwrap_or_default())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that failed midway leaves no worker behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `runs show RUN`.
pub fn show(db: &Path, run: &str) -> Value {
    let o = Command::new(bin())
        .env_remove("HASHSIEVE_DB")
        .args(["runs", "show", run, "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "runs show: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `runs report RUN` (JSON Lines), parsed.
pub fn report(db: &Path, run: &str) -> Vec<Value> {
    let o = Command::new(bin())
        .env_remove("HASHSIEVE_DB")
        .args(["runs", "report", run, "--db"])
        .arg(db)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "runs report: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Wait until `runs show` says the run is done, at most `secs` seconds.
pub fn wait_done(db: &Path, run: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = show(db, run);
        if v["done"] == true {
            return v;
        }
        assert!(Instant::now() < deadline, "run {run} not done: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Kill a child that is still running (SIGKILL) and reap it.
pub fn kill9(c: &mut Child) {
    let _ = c.kill();
    let _ = c.wait();
}
