//! The tar block walk: 512-byte headers, each member's data, and the
//! extension headers that describe the next member (GNU long names and
//! long link names, PAX records, GNU sparse maps), applied under limits.
//!
//! The `tar` crate reads a GNU long name or a PAX header whole into memory,
//! whatever its declared size: a 400 MB name cost 2.2 GB of memory and
//! came out as a 400 MB path. Its raw mode hands such headers over, but
//! then a PAX `size` record or a sparse file's extra header blocks put the
//! next header in the wrong place. So the walk is ours and the crate only
//! parses header fields: the size of an extension header is checked before
//! a byte of it is read; one over the limit is skipped as it streams past
//! (never held) and the member it describes is reported refused.

use crate::error::{ErrorKind, ItemError};
use std::io::{self, Read};
use tar::{GnuExtSparseHeader, Header, PaxExtensions};

const BLOCK: u64 = 512;

/// Sizes of extension headers read into memory.
#[derive(Debug, Clone, Copy)]
pub struct ExtLimits {
    /// Longest member name (GNU long name or PAX `path`), in bytes.
    pub max_name: u64,
    /// Largest PAX extended header, in bytes.
    pub max_pax: u64,
}

/// A member, its extension headers applied.
#[derive(Debug)]
pub struct Entry {
    /// Its name: the GNU long name, else the PAX `path`, else the header's.
    pub name: Vec<u8>,
    /// A regular file (the only members with content to hash).
    pub is_file: bool,
    /// Bytes of data (the PAX `size` when there is one).
    pub size: u64,
    /// Why the member is not to be read (an extension header over a
    /// limit); its data is skipped by the next [`TarWalk::next`].
    pub refused: Option<ItemError>,
}

/// Extension headers seen since the last member.
#[derive(Default)]
struct Pending {
    name: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_size: Option<u64>,
    refused: Option<ItemError>,
    any: bool,
}

/// Walks the members of a tar stream in order.
pub struct TarWalk<R> {
    inner: R,
    limits: ExtLimits,
    /// Data bytes of the current member not read yet ...
    left: u64,
    /// ... and the padding after them, up to the next block.
    padding: u64,
}

fn damaged(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn limit(message: String) -> ItemError {
    ItemError::new(ErrorKind::Limit, message)
}

fn padding_of(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

impl<R: Read> TarWalk<R> {
    pub fn new(inner: R, limits: ExtLimits) -> Self {
        TarWalk {
            inner,
            limits,
            left: 0,
            padding: 0,
        }
    }

    /// The next member (the data of the previous one is skipped first),
    /// or `None` at the end of the archive.
    ///
    /// # Errors
    /// Read errors, truncation, a damaged header, extension headers with
    /// no member after them.
    pub fn next(&mut self) -> io::Result<Option<Entry>> {
        self.skip_rest()?;
        let mut pending = Pending::default();
        loop {
            let Some(header) = self.header()? else {
                if pending.any {
                    return Err(damaged(
                        "extension headers with no member after them".into(),
                    ));
                }
                return Ok(None);
            };
            let et = header.entry_type();
            // As the `tar` crate: GNU and PAX extensions only count in
            // headers that say they are GNU or ustar.
            let recognised = header.as_gnu().is_some() || header.as_ustar().is_some();
            let size = header
                .entry_size()
                .map_err(|e| damaged(format!("bad size field: {e}")))?;
            if recognised && et.is_gnu_longname() {
                pending.any = true;
                // GNU tar ends the name with a NUL.
                match self.extension(size, self.limits.max_name.saturating_add(1))? {
                    Some(mut name) => {
                        while name.last() == Some(&0) {
                            name.pop();
                        }
                        pending.name = Some(name);
                    }
                    None => {
                        pending.refused = Some(limit(format!(
                            "GNU long name of {size} bytes, over the limit of {} bytes: member not read",
                            self.limits.max_name
                        )));
                    }
                }
                continue;
            }
            if recognised && (et.is_gnu_longlink() || et.is_pax_global_extensions()) {
                // Link targets and global records are of no use to us:
                // streamed past, never held.
                pending.any |= et.is_gnu_longlink();
                self.skip(size)?;
                continue;
            }
            if recognised && et.is_pax_local_extensions() {
                pending.any = true;
                match self.extension(size, self.limits.max_pax)? {
                    Some(records) => self.apply_pax(&records, &mut pending)?,
                    None => {
                        pending.refused = Some(limit(format!(
                            "PAX header of {size} bytes, over the limit of {} bytes: member not read",
                            self.limits.max_pax
                        )));
                    }
                }
                continue;
            }
            if et.is_gnu_sparse() {
                self.skip_sparse_map(&header)?;
            }
            let size = pending.pax_size.unwrap_or(size);
            self.left = size;
            self.padding = padding_of(size);
            let name = pending
                .name
                .take()
                .or(pending.pax_path.take())
                .unwrap_or_else(|| header.path_bytes().into_owned());
            return Ok(Some(Entry {
                name,
                is_file: et.is_file() || et.is_contiguous(),
                size,
                refused: pending.refused,
            }));
        }
    }

    /// The data of the member [`next`](Self::next) returned.
    pub fn data(&mut self) -> MemberData<'_, R> {
        MemberData { walk: self }
    }

    /// One header block, checked; `None` at the end of the archive (a
    /// zero block, or the end of the stream on a block boundary).
    fn header(&mut self) -> io::Result<Option<Header>> {
        let mut header = Header::new_old();
        let block = header.as_mut_bytes();
        let mut got = 0;
        while got < block.len() {
            match self.inner.read(&mut block[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "archive ends inside a header",
                    ))
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if block.iter().all(|b| *b == 0) {
            return Ok(None);
        }
        // The checksum counts its own field as spaces.
        let sum: u32 = block[..148]
            .iter()
            .chain(&block[156..])
            .map(|b| u32::from(*b))
            .sum::<u32>()
            + 8 * u32::from(b' ');
        let want = header
            .cksum()
            .map_err(|e| damaged(format!("bad header checksum field: {e}")))?;
        if sum != want {
            return Err(damaged("header checksum mismatch".into()));
        }
        Ok(Some(header))
    }

    /// The data of an extension header of `size` bytes when it is at most
    /// `max` (read whole, then its padding skipped); `None` when larger,
    /// after skipping it.
    fn extension(&mut self, size: u64, max: u64) -> io::Result<Option<Vec<u8>>> {
        if size > max {
            self.skip(size)?;
            return Ok(None);
        }
        let mut data = Vec::new();
        (&mut self.inner).take(size).read_to_end(&mut data)?;
        if (data.len() as u64) < size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive ends inside an extension header",
            ));
        }
        self.discard(padding_of(size))?;
        Ok(Some(data))
    }

    fn apply_pax(&self, records: &[u8], pending: &mut Pending) -> io::Result<()> {
        for record in PaxExtensions::new(records) {
            let record = record.map_err(|e| damaged(format!("bad PAX record: {e}")))?;
            match record.key_bytes() {
                b"path" => {
                    let path = record.value_bytes();
                    if path.len() as u64 > self.limits.max_name {
                        pending.refused = Some(limit(format!(
                            "PAX path of {} bytes, over the limit of {} bytes: member not read",
                            path.len(),
                            self.limits.max_name
                        )));
                    } else {
                        pending.pax_path = Some(path.to_vec());
                    }
                }
                // It overrides the header's size, as the `tar` crate and
                // GNU tar read it: two readers must not disagree on where
                // the next header is.
                b"size" => {
                    let size = record
                        .value()
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| damaged("bad PAX size record".into()))?;
                    pending.pax_size = Some(size);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The extra 512-byte blocks of an old GNU sparse member's map, which
    /// come between its header and its data.
    fn skip_sparse_map(&mut self, header: &Header) -> io::Result<()> {
        let mut more = header.as_gnu().is_some_and(|g| g.is_extended());
        while more {
            let mut ext = GnuExtSparseHeader::new();
            self.inner.read_exact(ext.as_mut_bytes())?;
            more = ext.is_extended();
        }
        Ok(())
    }

    /// Skip `size` bytes of data and their padding.
    fn skip(&mut self, size: u64) -> io::Result<()> {
        self.discard(size.saturating_add(padding_of(size)))
    }

    /// Whatever is left of the current member, and its padding.
    fn skip_rest(&mut self) -> io::Result<()> {
        let n = self.left.saturating_add(self.padding);
        self.left = 0;
        self.padding = 0;
        self.discard(n)
    }

    fn discard(&mut self, n: u64) -> io::Result<()> {
        let copied = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())?;
        if copied < n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive ends inside a member",
            ));
        }
        Ok(())
    }
}

/// Reads the data of the current member, and no further.
pub struct MemberData<'a, R> {
    walk: &'a mut TarWalk<R>,
}

impl<R: Read> Read for MemberData<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.walk.left).unwrap_or(usize::MAX));
        if want == 0 {
            return Ok(0);
        }
        let n = self.walk.inner.read(&mut buf[..want])?;
        self.walk.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tar::EntryType;

    const LIMITS: ExtLimits = ExtLimits {
        max_name: 4096,
        max_pax: 1 << 20,
    };

    fn file_header(name: &str, size: u64) -> Header {
        let mut h = Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    fn push(out: &mut Vec<u8>, header: &Header, data: &[u8]) {
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len() + padding_of(data.len() as u64) as usize, 0);
    }

    fn ext(kind: EntryType, data: &[u8]) -> Header {
        let mut h = Header::new_gnu();
        h.set_path("././@LongLink").unwrap();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_cksum();
        h
    }

    fn walk(tar: &[u8]) -> Vec<(String, u64, Option<ErrorKind>, Vec<u8>)> {
        let mut w = TarWalk::new(tar, LIMITS);
        let mut out = Vec::new();
        while let Some(e) = w.next().unwrap() {
            let mut data = Vec::new();
            if e.refused.is_none() {
                w.data().read_to_end(&mut data).unwrap();
            }
            let name = String::from_utf8_lossy(&e.name).into_owned();
            out.push((name, e.size, e.refused.map(|r| r.kind), data));
        }
        out
    }

    #[test]
    fn long_names_from_the_tar_crate_builder_are_applied() {
        let long = "d/".repeat(150) + "file.txt";
        let mut b = tar::Builder::new(Vec::new());
        let mut h = Header::new_gnu();
        h.set_size(5);
        h.set_cksum();
        b.append_data(&mut h, &long, &b"hello"[..]).unwrap();
        b.append_data(&mut h, "short", &b"world"[..]).unwrap();
        let got = walk(&b.into_inner().unwrap());
        assert_eq!(got[0].0, long);
        assert_eq!(got[0].3, b"hello");
        assert_eq!((got[1].0.as_str(), &got[1].3[..]), ("short", &b"world"[..]));
    }

    #[test]
    fn pax_path_and_size_are_applied() {
        let mut t = Vec::new();
        let records = b"21 path=pax/name.bin\n11 size=12\n";
        push(&mut t, &ext(EntryType::XHeader, records), records);
        // The header says 0 bytes (as writers do past 8 GiB); PAX says 12.
        push(&mut t, &file_header("short", 0), b"twelve bytes");
        push(&mut t, &file_header("next", 3), b"abc");
        let got = walk(&t);
        assert_eq!(got[0].0, "pax/name.bin");
        assert_eq!(got[0].3, b"twelve bytes");
        assert_eq!((got[1].0.as_str(), &got[1].3[..]), ("next", &b"abc"[..]));
    }

    #[test]
    fn oversized_extension_headers_refuse_their_member_only() {
        let mut t = Vec::new();
        let name = vec![b'a'; 5000];
        push(&mut t, &ext(EntryType::GNULongName, &name), &name);
        push(&mut t, &file_header("aaaa", 4), b"body");
        let pax = format!("1048600 comment={}\n", "x".repeat(1_048_583));
        assert_eq!(pax.len(), 1_048_600);
        push(
            &mut t,
            &ext(EntryType::XHeader, pax.as_bytes()),
            pax.as_bytes(),
        );
        push(&mut t, &file_header("bbbb", 4), b"body");
        push(&mut t, &file_header("fine", 2), b"ok");
        let got = walk(&t);
        let summary: Vec<(&str, Option<ErrorKind>)> =
            got.iter().map(|g| (g.0.as_str(), g.2)).collect();
        assert_eq!(
            summary,
            vec![
                ("aaaa", Some(ErrorKind::Limit)),
                ("bbbb", Some(ErrorKind::Limit)),
                ("fine", None)
            ]
        );
        assert_eq!(got[2].3, b"ok");
    }

    #[test]
    fn sparse_map_blocks_are_skipped() {
        let mut t = Vec::new();
        let mut h = Header::new_gnu();
        h.set_path("sparse").unwrap();
        h.set_entry_type(EntryType::GNUSparse);
        h.set_size(3);
        h.as_gnu_mut().unwrap().set_is_extended(true);
        h.set_cksum();
        t.extend_from_slice(h.as_bytes());
        let mut map = GnuExtSparseHeader::new();
        map.set_is_extended(false);
        t.extend_from_slice(map.as_bytes());
        t.extend_from_slice(b"xyz");
        t.resize(t.len() + 509, 0);
        push(&mut t, &file_header("after", 2), b"ok");
        let got = walk(&t);
        assert_eq!(got.len(), 2);
        assert_eq!((got[1].0.as_str(), &got[1].3[..]), ("after", &b"ok"[..]));
    }

    #[test]
    fn damage_is_an_error() {
        let mut t = Vec::new();
        push(&mut t, &file_header("a", 1), b"x");
        let mut bad = t.clone();
        bad[0] ^= 1;
        assert!(TarWalk::new(&bad[..], LIMITS).next().is_err());
        let name = b"dangling";
        let mut dangling = Vec::new();
        push(&mut dangling, &ext(EntryType::GNULongName, name), name);
        let mut w = TarWalk::new(&dangling[..], LIMITS);
        assert!(w.next().is_err());
        let mut w = TarWalk::new(&t[..700], LIMITS);
        assert!(w.next().unwrap().is_some());
        assert_eq!(w.next().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
