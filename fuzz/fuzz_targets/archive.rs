//! The archive readers as `scan` drives them: arbitrary bytes as a file
//! found by the walk, recognised by content (zip, tar, tar.gz/zst/xz),
//! its members read in place and nested archives opened in turn, under
//! small limits so that a bomb is cut off by the limits, not by the
//! fuzzer's memory or time limit.
//!
//! Besides "no panic", the limits the readers promise are checked: no
//! member handed out is over `max_member_bytes`, and all levels together
//! never hand out more than `max_members` files or `max_total_bytes`
//! bytes.
//!
//! Members are not hashed: what they decode to is the `image` target's
//! business, and hashing here would only slow the walk down.
#![no_main]

use std::io::Cursor;

use hashsieve::archive::{self, ArchiveKind, ArchiveLimits, Budget, MemberEvent};
use libfuzzer_sys::fuzz_target;

/// What `scan` reads of a file to tell whether a compressed stream is a tar
/// (`scan::process::PROBE_LEN`).
const PROBE_LEN: usize = 64 << 10;

fn limits() -> ArchiveLimits {
    ArchiveLimits {
        max_depth: 3,
        max_member_bytes: 1 << 20,
        max_ratio: 100,
        ratio_floor: 64 << 10,
        max_total_bytes: 16 << 20,
        max_members: 500,
        max_name_bytes: 4096,
        max_pax_bytes: 64 << 10,
        // Limits added later keep their defaults until chosen here.
        ..ArchiveLimits::default()
    }
}

/// `scan`'s `archive_kind`: compressed streams only when they hold a tar.
fn archive_kind(head: &[u8]) -> Option<ArchiveKind> {
    match archive::detect(head)? {
        k @ (ArchiveKind::TarGz | ArchiveKind::TarZst | ArchiveKind::TarXz) => {
            archive::is_tar_stream(k, head).then_some(k)
        }
        k => Some(k),
    }
}

struct Walk {
    limits: ArchiveLimits,
    /// Files and their bytes handed out, all levels together.
    files: u64,
    total: u64,
}

impl Walk {
    /// `scan`'s `visit` + `scan_member`: read the members of the archive
    /// at `depth` (1 = the file itself), opening nested archives while the
    /// depth allows.
    fn visit(&mut self, kind: ArchiveKind, data: &[u8], depth: u32, budget: &Budget) {
        let mut buf = Vec::new();
        let limits = self.limits.clone();
        let res = archive::visit(
            kind,
            Cursor::new(data),
            &limits,
            budget,
            &mut buf,
            // Never interrupted (Ctrl-C).
            &|| false,
            &mut |ev| match ev {
                MemberEvent::File { name, data } => {
                    self.files += 1;
                    assert!(
                        self.files <= limits.max_members,
                        "{} files handed out, over max_members {}",
                        self.files,
                        limits.max_members
                    );
                    assert!(
                        data.len() as u64 <= limits.max_member_bytes,
                        "member {:?} of {} bytes, over max_member_bytes {}",
                        String::from_utf8_lossy(name),
                        data.len(),
                        limits.max_member_bytes
                    );
                    self.total += data.len() as u64;
                    assert!(
                        self.total <= limits.max_total_bytes,
                        "{} bytes handed out, over max_total_bytes {}",
                        self.total,
                        limits.max_total_bytes
                    );
                    let head = &data[..data.len().min(PROBE_LEN)];
                    // Opened at once, in member order, as `scan` does (the
                    // shared budget runs out in the same order).
                    if let Some(k) = archive_kind(head) {
                        if depth < limits.max_depth {
                            self.visit(k, data, depth + 1, budget);
                        }
                    }
                }
                MemberEvent::Failed { .. } => {}
            },
        );
        // An archive-level error is a record's error, never a crash.
        let _ = res;
    }
}

fuzz_target!(|data: &[u8]| {
    let head = &data[..data.len().min(PROBE_LEN)];
    let Some(kind) = archive_kind(head) else {
        return;
    };
    let mut walk = Walk {
        limits: limits(),
        files: 0,
        total: 0,
    };
    // One budget per top-level archive, shared by the nested ones.
    let budget = Budget::new(&walk.limits);
    walk.visit(kind, data, 1, &budget);
});
