//! The decoder worker: `hashsieve __decode-worker PARENT_PID MEMORY CPU`,
//! started by [`super::pool`] with its socket as standard input.
//!
//! It sets itself up (dies with its parent, closes every other inherited
//! descriptor, builds its scratch), confines itself ([`super::policy`]),
//! says it is ready, then answers requests until its socket closes: each
//! request passes a descriptor (a file, or a memfd of bytes), the worker
//! hashes what is behind it with the same code as the in-process path and
//! replies with the record.

use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use super::policy::{self, Limits};
use super::protocol::{self, TAG_FAILED, TAG_READY};
use crate::error::{ErrorKind, ItemError};
use crate::hashing::{hash_file, Worker};
use crate::record::FileRecord;

/// The hidden subcommand that runs a worker.
pub const WORKER_ARG: &str = "__decode-worker";

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn fail_start(sock: &UnixStream, what: &str, e: &std::io::Error) -> ! {
    let mut msg = vec![TAG_FAILED];
    msg.extend_from_slice(format!("{what}: {e}").as_bytes());
    let _ = protocol::write_frame(sock, &msg, None);
    std::process::exit(3);
}

/// Run a worker; `args` are the ones after [`WORKER_ARG`]. Never returns.
pub fn main(args: &[String]) -> ! {
    let num = |i: usize| args.get(i).and_then(|s| s.parse::<u64>().ok());
    let (Some(parent), Some(memory), Some(cpu)) = (num(0), num(1), num(2)) else {
        eprintln!("usage: hashsieve {WORKER_ARG} PARENT_PID MEMORY_BYTES CPU_SECONDS (internal)");
        std::process::exit(2);
    };
    // SAFETY: prctl/getppid have no memory effects; fd 0 is the socket
    // the parent gave us and nothing else owns it.
    unsafe {
        // Die with the thread that started us (the pool's spawner).
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
        if libc::getppid() as u64 != parent {
            std::process::exit(0);
        }
        // Only the socket (0) and /dev/null (1, 2) stay open.
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
    // SAFETY: see above.
    let sock = unsafe { UnixStream::from_raw_fd(0) };
    let mut worker = Worker::new();
    let limits = Limits {
        memory,
        cpu_seconds: cpu,
    };
    if let Err(e) = policy::apply_limits(&limits) {
        fail_start(&sock, "resource limits", &e);
    }
    // The tile state must be granted before the filter forbids asking.
    crate::video::prepare_cpu();
    if let Err(e) = policy::apply_seccomp() {
        fail_start(&sock, "seccomp filter", &e);
    }
    if protocol::write_frame(&sock, &[TAG_READY], None).is_err() {
        std::process::exit(0);
    }
    loop {
        let (len, fd) = match protocol::read_header_with_fd(&sock) {
            Ok(Some(h)) => h,
            // The parent is done with us (or gone).
            Ok(None) | Err(_) => std::process::exit(0),
        };
        if len as usize > protocol::MAX_REQUEST {
            std::process::exit(4);
        }
        let mut payload = vec![0u8; len as usize];
        if (&sock).read_exact(&mut payload).is_err() {
            std::process::exit(0);
        }
        let Ok((path, cfg)) = protocol::decode_request(&payload) else {
            std::process::exit(4);
        };
        let path = Path::new(std::ffi::OsStr::from_bytes(&path));
        let rec = match fd {
            None => FileRecord::failed(
                path,
                ItemError::new(ErrorKind::Io, "no file was passed to the decoder"),
            ),
            Some(fd) => {
                let mut file = File::from(fd);
                test_crash::maybe(&mut file);
                let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    hash_file(path, file, &cfg, &mut worker)
                }));
                match res {
                    Ok(rec) => rec,
                    Err(_) => {
                        worker = Worker::new();
                        FileRecord::failed(
                            path,
                            ItemError::new(
                                ErrorKind::Decode,
                                "internal error (panic) while decoding this file",
                            ),
                        )
                    }
                }
            }
        };
        let reply = protocol::encode_record(&rec, cpu_seconds());
        if protocol::write_frame(&sock, &reply, None).is_err() {
            std::process::exit(0);
        }
    }
}

/// Crash injection for the tests, in debug builds only (the binary the
/// tests run): with `HASHSIEVE_TEST_CRASH_MARKER=M` set, an item whose
/// first MiB holds `M:abort`, `M:segv`, `M:hang`, `M:spin` or `M:alloc`
/// makes its worker abort, segfault, sleep forever, spin on the CPU or
/// allocate until its memory limit stops it; `M:escape` makes it try what
/// its seccomp filter forbids (open a file, a socket, a new process) and
/// abort if any of it works, else hash the item as usual. A release build
/// has no such code.
mod test_crash {
    use super::*;

    #[cfg(not(debug_assertions))]
    pub fn maybe(_file: &mut File) {}

    #[cfg(debug_assertions)]
    pub fn maybe(file: &mut File) {
        use std::io::{Seek, SeekFrom};
        let Some(marker) = std::env::var_os("HASHSIEVE_TEST_CRASH_MARKER") else {
            return;
        };
        let marker = marker.as_bytes();
        if marker.is_empty() {
            return;
        }
        let mut head = Vec::new();
        let ok = file.seek(SeekFrom::Start(0)).is_ok()
            && (&mut *file).take(1 << 20).read_to_end(&mut head).is_ok()
            && file.seek(SeekFrom::Start(0)).is_ok();
        if !ok {
            return;
        }
        let Some(at) = memchr::memmem::find(&head, marker) else {
            return;
        };
        let rest = &head[at + marker.len()..];
        let what = |w: &[u8]| rest.starts_with(b":") && rest[1..].starts_with(w);
        if what(b"abort") {
            std::process::abort();
        } else if what(b"segv") {
            // SAFETY: none: this is the point. A real invalid access.
            unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
        } else if what(b"hang") {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        } else if what(b"spin") {
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        } else if what(b"escape") {
            // SAFETY: plain system calls on constant arguments; a child
            // (if fork worked, which it must not) exits at once.
            let escaped = unsafe {
                let f = libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY);
                let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                let p = libc::fork();
                if p == 0 {
                    libc::_exit(0);
                }
                f >= 0 || s >= 0 || p >= 0
            };
            if escaped {
                std::process::abort();
            }
        } else if what(b"alloc") {
            let mut keep: Vec<Vec<u8>> = Vec::new();
            loop {
                keep.push(vec![1u8; 64 << 20]);
                std::hint::black_box(&keep);
            }
        }
    }
}
