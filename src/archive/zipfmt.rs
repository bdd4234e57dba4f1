//! Zip: members read one by one through the central directory.

use super::guard::{Compressed, Guard};
use super::zipspan;
use super::{digest_rest, limit, oversized, ArchiveLimits, Budget, Ended, MemberEvent};
use crate::error::{ErrorKind, ItemError};
use crate::hashing::crypto::MultiDigest;
use std::cell::Cell;
use std::io::{Read, Seek};
use zip::result::ZipError;

fn zip_error(context: &str, e: ZipError) -> ItemError {
    let kind = match e {
        ZipError::UnsupportedArchive(_) => ErrorKind::Unsupported,
        ZipError::Io(ref io) if io.kind() == std::io::ErrorKind::UnexpectedEof => ErrorKind::Decode,
        ZipError::Io(_) => ErrorKind::Io,
        _ => ErrorKind::Decode,
    };
    ItemError::new(kind, format!("{context}: {e}"))
}

pub fn visit<R: Read + Seek>(
    reader: R,
    limits: &ArchiveLimits,
    budget: &Budget,
    buf: &mut Vec<u8>,
    stop: &dyn Fn() -> bool,
    f: &mut dyn FnMut(MemberEvent<'_>),
) -> Result<Ended, ItemError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| zip_error("zip", e))?;
    let count = zip.len();
    // Members that reuse another member's bytes are known before any is
    // read: each would expand and decode the same bytes again.
    let overlaps = zipspan::refused(&mut zipspan::spans(&mut zip), count);
    let tripped = Cell::new(None);
    for i in 0..count {
        if stop() {
            return Ok(Ended::Stopped);
        }
        // The raw view gives name, flags and sizes without decrypting or
        // decompressing anything.
        let (name, is_dir, encrypted, size, csize) = match zip.by_index_raw(i) {
            Ok(m) => (
                m.name_raw().to_vec(),
                m.is_dir(),
                m.encrypted(),
                m.size(),
                m.compressed_size(),
            ),
            Err(e) => {
                let name = format!("#{i}").into_bytes();
                f(MemberEvent::Failed {
                    name: &name,
                    error: zip_error("member header", e),
                    digests: None,
                });
                continue;
            }
        };
        if is_dir {
            continue;
        }
        if !budget.take_member() {
            return Err(limit(format!(
                "archive has more than {} members, nested archives included: the rest were not read",
                limits.max_members
            )));
        }
        let failed = |error: ItemError| MemberEvent::Failed {
            name: &name,
            error,
            digests: None,
        };
        if let Some(kept) = overlaps.get(i).copied().flatten() {
            let other = zip.name_for_index(kept).unwrap_or_default();
            f(failed(limit(format!(
                "overlapping zip members: this one reuses the bytes of member {other:?}, a zip bomb technique: not read"
            ))));
            continue;
        }
        if encrypted {
            f(failed(ItemError::new(
                ErrorKind::Unsupported,
                "encrypted zip member: no password, not read",
            )));
            continue;
        }
        if size > limits.ratio_floor && size > limits.max_ratio.saturating_mul(csize.max(1)) {
            f(failed(limit(format!(
                "member declares {size} bytes from {csize} compressed bytes (over {}x): refused as a possible zip bomb",
                limits.max_ratio
            ))));
            continue;
        }
        let member = match zip.by_index(i) {
            Ok(m) => m,
            Err(e) => {
                f(failed(zip_error("member", e)));
                continue;
            }
        };
        let mut guard = Guard {
            inner: member,
            out: 0,
            compressed: Compressed::Fixed(csize),
            max_ratio: limits.max_ratio,
            floor: limits.ratio_floor,
            budget,
            tripped: &tripped,
            what: "member",
        };
        buf.clear();
        let res = (&mut guard)
            .take(limits.max_member_bytes.saturating_add(1))
            .read_to_end(buf);
        if let Err(e) = res {
            let error = tripped.take().unwrap_or_else(|| {
                ItemError::new(ErrorKind::Decode, format!("damaged member: {e}"))
            });
            let out_of_budget = budget.left.get() == 0;
            f(failed(error));
            if out_of_budget {
                return Err(limit(
                    "archive expands past the total limit of decompressed bytes: the rest was not read"
                        .into(),
                ));
            }
            continue;
        }
        if buf.len() as u64 > limits.max_member_bytes {
            // Too large to decode in memory: stream its digests so it can
            // still match a cryptographic hash.
            let mut digest = MultiDigest::new();
            digest.update(buf);
            let streamed = digest_rest(&mut guard, &mut digest);
            buf.clear();
            buf.shrink_to(limits.max_member_bytes.min(64 << 20) as usize);
            match streamed {
                Ok(()) => f(oversized(&name, digest, limits)),
                Err(e) => {
                    let error = tripped.take().unwrap_or_else(|| {
                        ItemError::new(ErrorKind::Decode, format!("damaged member: {e}"))
                    });
                    f(failed(error));
                }
            }
            continue;
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
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in members {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn names_and_errors(z: &[u8], limits: &ArchiveLimits) -> Vec<(String, Option<ErrorKind>)> {
        let budget = Budget::new(limits);
        let mut out = Vec::new();
        visit(
            Cursor::new(z),
            limits,
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
        )
        .unwrap();
        out
    }

    #[test]
    fn bomb_member_is_refused_and_the_rest_read() {
        let zeros = vec![0u8; 4 << 20];
        let z = zip_of(&[
            ("a.txt", b"first"),
            ("bomb.bin", &zeros),
            ("../b.txt", b"last"),
        ]);
        let got = names_and_errors(&z, &ArchiveLimits::default());
        assert_eq!(
            got,
            vec![
                ("a.txt".into(), None),
                ("bomb.bin".into(), Some(ErrorKind::Limit)),
                ("../b.txt".into(), None)
            ]
        );
    }

    #[test]
    fn oversized_member_gets_streamed_digests() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let z = zip_of(&[("big", &data)]);
        let limits = ArchiveLimits {
            max_member_bytes: 1000,
            ..Default::default()
        };
        let budget = Budget::new(&limits);
        let mut got = None;
        visit(
            Cursor::new(&z),
            &limits,
            &budget,
            &mut Vec::new(),
            &|| false,
            &mut |ev| {
                if let MemberEvent::Failed { digests, error, .. } = ev {
                    got = Some((digests, error.kind));
                }
            },
        )
        .unwrap();
        let (digests, kind) = got.unwrap();
        assert_eq!(kind, ErrorKind::Limit);
        assert_eq!(digests, Some((crate::hashing::crypto::digest(&data), 5000)));
    }
}
