//! A pool of long-lived decoder workers.
//!
//! A caller (a scan thread, a hashing job of the service) checks a worker
//! out, sends it one request, waits for the reply under a wall-clock
//! deadline and puts it back. Workers are started on demand, so the pool
//! grows to the number of callers at once and no further; one that dies,
//! hangs or misbehaves is replaced by a fresh one at the next request.
//!
//! Workers are started by one spawner thread that lives as long as the
//! pool: a worker dies with the thread that started it
//! (`PR_SET_PDEATHSIG`), and the service's hashing threads come and go.
//! Each worker runs in its own process group, so a Ctrl-C at the terminal
//! reaches the scan (which finishes the files in flight) and not them.
//!
//! CPU time: `RLIMIT_CPU` counts a process's whole life, and a worker
//! lives for many files. A worker gets twice the per-file budget for its
//! life and is retired once it has used one budget, so every file starts
//! with at least a whole budget left (and a runaway is stopped after at
//! most two).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::protocol::{self, ReadError, TAG_FAILED, TAG_READY};
use super::worker::WORKER_ARG;
use super::SandboxConfig;
use crate::hashing::HashConfig;
use crate::record::FileRecord;

/// How long a new worker has to say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a request got no record from its worker.
#[derive(Debug)]
pub enum Failure {
    /// No worker could be started.
    Start(String),
    /// The worker died (a signal or an exit) before replying.
    Died(ExitStatus),
    /// No reply within the deadline: the worker was killed.
    TimedOut(Duration),
    /// The worker replied with something that is not a record (or the
    /// socket failed): it was killed.
    Broken(String),
}

/// One worker process and its socket.
struct Proc {
    child: Child,
    sock: UnixStream,
}

impl Proc {
    /// Kill the worker (if it still runs) and reap it.
    fn end(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(st)) = self.child.try_wait() {
            return Some(st);
        }
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.end();
    }
}

type SpawnReply = mpsc::Sender<io::Result<(Child, UnixStream)>>;

/// The pool. Share it (`Arc`) between threads.
pub struct Pool {
    cfg: SandboxConfig,
    program: PathBuf,
    idle: Mutex<Vec<Proc>>,
    spawner: Mutex<mpsc::Sender<SpawnReply>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("cfg", &self.cfg).finish()
    }
}

fn spawn(program: &Path, cfg: &SandboxConfig) -> io::Result<(Child, UnixStream)> {
    let (mine, theirs) = UnixStream::pair()?;
    let child = Command::new(program)
        .arg(WORKER_ARG)
        .arg(std::process::id().to_string())
        .arg(cfg.memory_bytes().to_string())
        .arg(cfg.lifetime_cpu_seconds().to_string())
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    Ok((child, mine))
}

impl Pool {
    /// Start the pool and one worker, so that a sandbox that cannot work
    /// here (no seccomp, an unsupported architecture) is reported now.
    ///
    /// # Errors
    /// The first worker could not be started, with the reason.
    pub fn start(cfg: SandboxConfig) -> Result<Pool, String> {
        Self::start_with(cfg, PathBuf::from("/proc/self/exe"))
    }

    /// [`Pool::start`] with the program to run as the worker (a binary
    /// that answers [`WORKER_ARG`]).
    pub fn start_with(cfg: SandboxConfig, program: PathBuf) -> Result<Pool, String> {
        let (tx, rx) = mpsc::channel::<SpawnReply>();
        let (p, c) = (program.clone(), cfg.clone());
        std::thread::Builder::new()
            .name("hashsieve-sandbox".into())
            .spawn(move || {
                for reply in rx {
                    let _ = reply.send(spawn(&p, &c));
                }
            })
            .map_err(|e| format!("starting the sandbox thread: {e}"))?;
        let pool = Pool {
            cfg,
            program,
            idle: Mutex::new(Vec::new()),
            spawner: Mutex::new(tx),
        };
        let first = pool.new_proc()?;
        pool.put_back(first);
        Ok(pool)
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.cfg
    }

    /// A fresh worker, ready for requests.
    fn new_proc(&self) -> Result<Proc, String> {
        let (tx, rx) = mpsc::channel();
        self.spawner
            .lock()
            .map_err(|_| "sandbox spawner lock poisoned".to_string())?
            .send(tx)
            .map_err(|_| "the sandbox spawner thread is gone".to_string())?;
        let (child, sock) = rx
            .recv()
            .map_err(|_| "the sandbox spawner thread is gone".to_string())?
            .map_err(|e| format!("running {}: {e}", self.program.display()))?;
        let mut proc = Proc { child, sock };
        let deadline = Some(Instant::now() + START_TIMEOUT);
        match protocol::read_frame(&proc.sock, 64 << 10, deadline) {
            Ok(m) if m == [TAG_READY] => {
                // Requests set their own deadline (or none).
                proc.sock
                    .set_read_timeout(None)
                    .map_err(|e| format!("talking to the decoder process: {e}"))?;
                Ok(proc)
            }
            Ok(m) if m.first() == Some(&TAG_FAILED) => Err(format!(
                "the decoder process could not confine itself ({})",
                crate::escape::escape(&String::from_utf8_lossy(&m[1..]))
            )),
            Ok(_) => Err("the decoder process sent a malformed greeting".into()),
            Err(ReadError::Closed) => Err(format!(
                "the decoder process ended at start ({})",
                describe_status(proc.end())
            )),
            Err(ReadError::TimedOut) => Err(format!(
                "the decoder process was not ready within {} s",
                START_TIMEOUT.as_secs()
            )),
            Err(ReadError::Malformed(m)) => Err(m.to_string()),
            Err(ReadError::Io(e)) => Err(format!("talking to the decoder process: {e}")),
        }
    }

    fn take(&self) -> Result<Proc, String> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        match idle {
            Some(p) => Ok(p),
            None => self.new_proc(),
        }
    }

    fn put_back(&self, p: Proc) {
        if let Ok(mut v) = self.idle.lock() {
            v.push(p);
        }
    }

    /// Hash the item behind `fd` in a worker, recorded under `path`.
    ///
    /// # Errors
    /// The worker gave no record (see [`Failure`]); the caller makes the
    /// item's error record.
    pub fn hash(
        &self,
        path: &Path,
        fd: BorrowedFd<'_>,
        cfg: &HashConfig,
    ) -> Result<FileRecord, Failure> {
        let request = protocol::encode_request(path.as_os_str().as_bytes(), cfg);
        // A worker can die while idle (the OOM killer picks it): a failed
        // send gets one fresh worker.
        let mut proc = self.take().map_err(Failure::Start)?;
        if protocol::write_frame(&proc.sock, &request, Some(fd.as_raw_fd())).is_err() {
            drop(proc);
            proc = self.new_proc().map_err(Failure::Start)?;
            protocol::write_frame(&proc.sock, &request, Some(fd.as_raw_fd()))
                .map_err(|e| Failure::Broken(format!("sending the request: {e}")))?;
        }
        let deadline = self.cfg.timeout.map(|t| Instant::now() + t);
        let reply = protocol::read_frame(&proc.sock, protocol::MAX_REPLY, deadline);
        let buf = match reply {
            Ok(buf) => buf,
            Err(ReadError::Closed) => {
                let st = proc.end();
                return Err(match st {
                    Some(st) => Failure::Died(st),
                    None => Failure::Broken("the decoder process vanished".into()),
                });
            }
            Err(ReadError::TimedOut) => {
                proc.end();
                return Err(Failure::TimedOut(self.cfg.timeout.unwrap_or_default()));
            }
            Err(ReadError::Malformed(m)) => return Err(Failure::Broken(m.to_string())),
            Err(ReadError::Io(e)) => return Err(Failure::Broken(e.to_string())),
        };
        let mut rec = FileRecord::new(path);
        match protocol::decode_record(&buf, &mut rec) {
            Ok(cpu) => {
                // Retire a worker that has used a file's budget of its
                // life's CPU time (see the module doc).
                if cpu < self.cfg.cpu_seconds as f64 {
                    self.put_back(proc);
                }
                Ok(rec)
            }
            Err(m) => Err(Failure::Broken(m.to_string())),
        }
    }
}

/// A worker's end in words.
pub fn describe_status(st: Option<ExitStatus>) -> String {
    let Some(st) = st else {
        return "its status is unknown".into();
    };
    if let Some(sig) = st.signal() {
        let name = match sig {
            libc::SIGSEGV => "SIGSEGV, an invalid memory access",
            libc::SIGBUS => "SIGBUS, an invalid memory access",
            libc::SIGILL => "SIGILL, an invalid instruction",
            libc::SIGFPE => "SIGFPE, an arithmetic fault",
            libc::SIGABRT => {
                "SIGABRT: an abort, which is also how an allocation over the memory limit ends"
            }
            libc::SIGXCPU => "SIGXCPU: its CPU-time limit",
            libc::SIGKILL => {
                "SIGKILL: the kernel (out of memory, or its hard CPU-time limit) or another process"
            }
            libc::SIGSYS => "SIGSYS: a system call its sandbox forbids",
            _ => "",
        };
        if name.is_empty() {
            format!("killed by signal {sig}")
        } else {
            format!("killed by {name}")
        }
    } else {
        match st.code() {
            Some(c) => format!("exited with status {c}"),
            None => "ended".into(),
        }
    }
}
