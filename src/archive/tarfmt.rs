//! Tar, plain or inside a gzip, zstd or xz stream: members in stream order,
//! found by [`TarWalk`] (extension headers bounded by the member limits).
//!
//! A compressed stream has no per-member compressed size, so the ratio is
//! checked on the whole stream (bytes out vs compressed bytes in). Once a
//! stream breaks (damage, truncation, a limit) the members after it cannot
//! be reached: the error goes to the archive's record.

use super::guard::{Compressed, Counting, Guard};
use super::tarwalk::{ExtLimits, TarWalk};
use super::{
    decompressor, digest_rest, limit, oversized, ArchiveKind, ArchiveLimits, Budget, Ended,
    MemberEvent,
};
use crate::error::{ErrorKind, ItemError};
use crate::hashing::crypto::MultiDigest;
use std::cell::Cell;
use std::io::Read;

fn broken(what: &str, e: &std::io::Error, tripped: &Cell<Option<ItemError>>) -> ItemError {
    tripped.take().unwrap_or_else(|| {
        let kind = if e.kind() == std::io::ErrorKind::UnexpectedEof {
            "truncated"
        } else {
            "damaged"
        };
        ItemError::new(ErrorKind::Decode, format!("{kind} {what}: {e}"))
    })
}

pub fn visit<R: Read>(
    kind: ArchiveKind,
    reader: R,
    limits: &ArchiveLimits,
    budget: &Budget,
    buf: &mut Vec<u8>,
    stop: &dyn Fn() -> bool,
    f: &mut dyn FnMut(MemberEvent<'_>),
) -> Result<Ended, ItemError> {
    let counted = Cell::new(0u64);
    let tripped = Cell::new(None);
    let input = Counting {
        inner: reader,
        count: &counted,
    };
    let stream = decompressor(kind, input)
        .map_err(|e| ItemError::new(ErrorKind::Decode, format!("zstd: {e}")))?;
    let compressed = if kind == ArchiveKind::Tar {
        Compressed::None
    } else {
        Compressed::Counted(&counted)
    };
    let guard = Guard {
        inner: stream,
        out: 0,
        compressed,
        max_ratio: limits.max_ratio,
        floor: limits.ratio_floor,
        budget,
        tripped: &tripped,
        what: "compressed stream",
    };
    let what = kind.name();
    let mut walk = TarWalk::new(
        guard,
        ExtLimits {
            max_name: limits.max_name_bytes,
            max_pax: limits.max_pax_bytes,
        },
    );
    loop {
        if stop() {
            return Ok(Ended::Stopped);
        }
        let Some(entry) = walk.next().map_err(|e| broken(what, &e, &tripped))? else {
            break;
        };
        if !entry.is_file {
            // Directories, links, devices: nothing to hash.
            continue;
        }
        if !budget.take_member() {
            return Err(limit(format!(
                "archive has more than {} members, nested archives included: the rest were not read",
                limits.max_members
            )));
        }
        if let Some(error) = entry.refused {
            // Its data is skipped by the next step of the walk.
            f(MemberEvent::Failed {
                name: &entry.name,
                error,
                digests: None,
            });
            continue;
        }
        let name = entry.name;
        let size = entry.size;
        let mut entry = walk.data();
        if size > limits.max_member_bytes {
            let mut digest = MultiDigest::new();
            if let Err(e) = digest_rest(&mut entry, &mut digest) {
                let error = broken(what, &e, &tripped);
                f(MemberEvent::Failed {
                    name: &name,
                    error: error.clone(),
                    digests: None,
                });
                return Err(error);
            }
            let bytes = digest.bytes();
            if bytes < size {
                let error = ItemError::new(
                    ErrorKind::Decode,
                    format!("truncated {what}: member has {bytes} of its {size} bytes"),
                );
                f(MemberEvent::Failed {
                    name: &name,
                    error: error.clone(),
                    digests: None,
                });
                return Err(error);
            }
            f(oversized(&name, digest, limits));
            continue;
        }
        buf.clear();
        if let Err(e) = entry.read_to_end(buf) {
            let error = broken(what, &e, &tripped);
            f(MemberEvent::Failed {
                name: &name,
                error: error.clone(),
                digests: None,
            });
            return Err(error);
        }
        if (buf.len() as u64) < size {
            let error = ItemError::new(
                ErrorKind::Decode,
                format!(
                    "truncated {what}: member has {} of its {size} bytes",
                    buf.len()
                ),
            );
            f(MemberEvent::Failed {
                name: &name,
                error: error.clone(),
                digests: None,
            });
            return Err(error);
        }
        f(MemberEvent::File {
            name: &name,
            data: buf,
        });
    }
    Ok(Ended::Complete)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, &data[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    type Seen = Vec<(String, Option<ErrorKind>)>;

    fn run(kind: ArchiveKind, data: &[u8]) -> (Seen, Result<Ended, ItemError>) {
        let limits = ArchiveLimits::default();
        let budget = Budget::new(&limits);
        let mut out = Vec::new();
        let r = visit(
            kind,
            data,
            &limits,
            &budget,
            &mut Vec::new(),
            &|| false,
            &mut |ev| match ev {
                MemberEvent::File { name, .. } => {
                    out.push((String::from_utf8_lossy(name).into_owned(), None))
                }
                MemberEvent::Failed { name, error, .. } => {
                    out.push((String::from_utf8_lossy(name).into_owned(), Some(error.kind)))
                }
            },
        );
        (out, r)
    }

    #[test]
    fn reads_every_compression() {
        use std::io::Write;
        let t = tar_of(&[("a/x.txt", b"hello".to_vec()), ("y", vec![7; 3000])]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&t).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&t[..], 3).unwrap();
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&t).unwrap();
        let xz = xz.finish().unwrap();
        for (kind, data) in [
            (ArchiveKind::Tar, &t),
            (ArchiveKind::TarGz, &gz),
            (ArchiveKind::TarZst, &zst),
            (ArchiveKind::TarXz, &xz),
        ] {
            let (got, r) = run(kind, data);
            assert!(r.is_ok(), "{kind:?}: {r:?}");
            assert_eq!(
                got,
                vec![("a/x.txt".into(), None), ("y".into(), None)],
                "{kind:?}"
            );
        }
    }

    #[test]
    fn truncated_tar_reports_the_cut_member_and_fails_the_archive() {
        let t = tar_of(&[("a", vec![1; 100]), ("b", vec![2; 5000])]);
        let cut = &t[..512 + 512 + 512 + 1000];
        let (got, r) = run(ArchiveKind::Tar, cut);
        assert_eq!(got[0], ("a".into(), None));
        assert_eq!(got[1], ("b".into(), Some(ErrorKind::Decode)));
        assert_eq!(r.unwrap_err().kind, ErrorKind::Decode);
    }

    #[test]
    fn gzip_bomb_trips_the_stream_ratio() {
        use std::io::Write;
        let t = tar_of(&[("zeros", vec![0; 8 << 20])]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&t).unwrap();
        let gz = gz.finish().unwrap();
        let (got, r) = run(ArchiveKind::TarGz, &gz);
        assert_eq!(got, vec![("zeros".into(), Some(ErrorKind::Limit))]);
        assert_eq!(r.unwrap_err().kind, ErrorKind::Limit);
    }
}
