//! What a decoder worker may do: resource limits, then a seccomp filter.
//!
//! Both are applied by the worker to itself, once, after it has set up
//! (closed every inherited descriptor, built its scratch buffers) and
//! before it reads the first request; every thread FFmpeg starts later
//! inherits them, and none can be lifted (`PR_SET_NO_NEW_PRIVS`, and the
//! filter forbids `setrlimit`/`prlimit64`).
//!
//! Limits: `RLIMIT_DATA` is the memory limit (the heap and every private
//! writable mapping: what decoders allocate); `RLIMIT_AS` is a backstop
//! with room for address space that is reserved but never used (glibc
//! reserves 64 MiB per malloc arena, and FFmpeg starts a thread per core);
//! `RLIMIT_CPU` bounds the CPU time of the worker's life (see
//! [`super::pool`] for how that becomes a per-file budget); no core dumps
//! (a core of a worker holds hostile content), no files written, a few
//! descriptors.
//!
//! Seccomp: an allowlist (`seccompiler`, the rust-vmm crate Firecracker's
//! jailer uses). A worker may read and write the descriptors it has (its
//! socket, the item it was passed), manage memory, run threads, tell time
//! and exit. Everything else fails with `EPERM`: no `open`/`openat` (no
//! filesystem at all: the parent opens the input and passes the
//! descriptor), no `socket`/`connect` (no network), no `execve`, no
//! `ptrace`, no `kill` of other processes, no new processes (`clone` only
//! with `CLONE_THREAD`; `clone3`, whose flags a filter cannot see, answers
//! `ENOSYS` so glibc falls back to `clone`). `EPERM` rather than killing
//! the worker: libraries that probe (a `/proc` file, a terminal) go on
//! without, and a call outside the list is refused either way.
//!
//! Landlock was the alternative for the filesystem; it needs kernel 5.13
//! (5.19 for all file operations, 6.7 for TCP), while the filter above
//! takes the system calls away on any kernel with seccomp (3.17+).

use std::collections::BTreeMap;
use std::io;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Extra address space allowed beyond the memory limit (reserved, unused
/// arenas and thread stacks).
pub const ADDRESS_SPACE_SLACK: u64 = 8 << 30;

/// Limits of one worker process.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `RLIMIT_DATA`, bytes.
    pub memory: u64,
    /// `RLIMIT_CPU` soft limit over the worker's life, seconds (the hard
    /// limit, which kills, is 5 s above).
    pub cpu_seconds: u64,
}

fn set(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass.
    if unsafe { libc::setrlimit(resource, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Lower a limit to `value`, keeping it when it is already lower (an
/// unprivileged process cannot raise a hard limit).
fn lower(resource: libc::__rlimit_resource_t, value: u64, hard_extra: u64) -> io::Result<()> {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    if unsafe { libc::getrlimit(resource, &mut cur) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let max: u64 = cur.rlim_max;
    let hard = value.saturating_add(hard_extra).min(max);
    set(resource, value.min(hard), hard)
}

/// Apply the resource limits to this process.
pub fn apply_limits(l: &Limits) -> io::Result<()> {
    lower(libc::RLIMIT_DATA, l.memory, 0)?;
    lower(
        libc::RLIMIT_AS,
        l.memory.saturating_add(ADDRESS_SPACE_SLACK),
        0,
    )?;
    lower(libc::RLIMIT_CPU, l.cpu_seconds.max(1), 5)?;
    lower(libc::RLIMIT_CORE, 0, 0)?;
    lower(libc::RLIMIT_FSIZE, 0, 0)?;
    // The socket, stdout/stderr (/dev/null) and one item at a time.
    lower(libc::RLIMIT_NOFILE, 16, 0)?;
    Ok(())
}

fn arch() -> io::Result<TargetArch> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|_| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "no seccomp policy for {} (x86_64 and aarch64 have one)",
                std::env::consts::ARCH
            ),
        )
    })
}

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> io::Result<SeccompCondition> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(io::Error::other)
}

/// The system calls a worker may make, each with the conditions on its
/// arguments (none: any arguments).
fn allowlist() -> io::Result<BTreeMap<i64, Vec<SeccompRule>>> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let plain: &[libc::c_long] = &[
        // The socket and the item: reading, writing what we have.
        libc::SYS_read,
        libc::SYS_readv,
        libc::SYS_pread64,
        libc::SYS_write,
        libc::SYS_writev,
        libc::SYS_recvmsg,
        // std's socket reads and writes (on the one socket it has: no
        // socket can be made, so there is no address to send to).
        libc::SYS_recvfrom,
        libc::SYS_sendto,
        libc::SYS_lseek,
        libc::SYS_fstat,
        libc::SYS_close,
        // Memory.
        libc::SYS_brk,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_mprotect,
        libc::SYS_madvise,
        // Threads (FFmpeg's frame threads, our hashing thread).
        libc::SYS_futex,
        libc::SYS_set_robust_list,
        libc::SYS_rseq,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_sigaltstack,
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_restart_syscall,
        libc::SYS_gettid,
        libc::SYS_getpid,
        // Time, randomness (hash map seeds), accounting.
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_gettimeofday,
        libc::SYS_getrandom,
        libc::SYS_getrusage,
        libc::SYS_exit,
        libc::SYS_exit_group,
    ];
    for nr in plain {
        rules.insert(*nr, Vec::new());
    }
    // Answered by the first filter (ENOSYS); allowed here so that the
    // most restrictive answer is that one.
    rules.insert(libc::SYS_clone3, Vec::new());
    // Threads, never processes.
    rules.insert(
        libc::SYS_clone,
        vec![SeccompRule::new(vec![cond(
            0,
            SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
            libc::CLONE_THREAD as u64,
        )?])
        .map_err(io::Error::other)?],
    );
    // Signals to ourselves only (abort raises SIGABRT this way).
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() } as u64;
    rules.insert(
        libc::SYS_tgkill,
        vec![SeccompRule::new(vec![cond(0, SeccompCmpOp::Eq, pid)?]).map_err(io::Error::other)?],
    );
    Ok(rules)
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    on_match: SeccompAction,
) -> io::Result<BpfProgram> {
    let filter =
        SeccompFilter::new(rules, mismatch, on_match, arch()?).map_err(io::Error::other)?;
    BpfProgram::try_from(filter).map_err(io::Error::other)
}

/// Install the filter on this process (every thread, present and future).
pub fn apply_seccomp() -> io::Result<()> {
    let allow = compile(
        allowlist()?,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
    )?;
    let mut no_clone3 = BTreeMap::new();
    no_clone3.insert(libc::SYS_clone3, Vec::new());
    let clone3 = compile(
        no_clone3,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
    )?;
    // Filters stack and the most restrictive answer wins: clone3 gets
    // ENOSYS from the first, everything off the list EPERM from the
    // second (installing which the first still allows).
    seccompiler::apply_filter_all_threads(&clone3).map_err(io::Error::other)?;
    seccompiler::apply_filter_all_threads(&allow).map_err(io::Error::other)?;
    Ok(())
}
