//! Helpers of the hostile-input scan tests: build hostile files in the
//! test (never committed), and run the real binary while measuring its
//! peak memory.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What a measured run gave: its output, its peak resident memory and its
/// wall-clock time.
pub struct Measured {
    pub out: Output,
    pub peak_rss_kib: u64,
    pub elapsed: Duration,
}

/// The child's high-water RSS so far (`VmHWM`), if it is still running.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Run `cmd` to its end, capturing stdout and stderr, and its peak RSS:
/// `VmHWM` polled every millisecond until it exits (the kernel keeps the
/// high-water mark, so only the last millisecond could be missed).
/// `wait4`'s `ru_maxrss` would be exact but is useless here: it counts
/// the memory of the test process the child was forked from.
pub fn run_measured(mut cmd: Command) -> Measured {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn the binary");
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let mut stderr = child.stderr.take().expect("stderr pipe");
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        stdout.read_to_end(&mut v).expect("read stdout");
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        stderr.read_to_end(&mut v).expect("read stderr");
        v
    });
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait for the binary") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    Measured {
        out: Output {
            status,
            stdout: out_reader.join().expect("stdout thread"),
            stderr: err_reader.join().expect("stderr thread"),
        },
        peak_rss_kib: peak,
        elapsed: started.elapsed(),
    }
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A PNG of `width` x `height` 16-bit RGBA pixels, all zero, written row
/// by row so the test never holds the pixels: 10000x10000 decodes to
/// 800 MB and compresses to under 1 MB.
pub fn png_rgba16_zeros(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 16, colour type 6 (RGBA), deflate, no filter, no interlace.
    ihdr.extend_from_slice(&[16, 6, 0, 0, 0]);
    png_chunk(&mut png, b"IHDR", &ihdr);
    // Each row: filter type 0, then 8 bytes a pixel.
    let row = vec![0u8; 1 + width as usize * 8];
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..height {
        z.write_all(&row).expect("compress a row");
    }
    let idat = z.finish().expect("finish the zlib stream");
    png_chunk(&mut png, b"IDAT", &idat);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    crc.sum()
}

/// A zip whose central directory has `entries` members (`copy0000.png`,
/// ...) that all point at one local header holding `data` stored: the
/// bytes of one file, read `entries` times by a naive reader.
pub fn zip_of_overlapping(data: &[u8], entries: u16) -> Vec<u8> {
    let name = b"copy0000.png";
    let (crc, len) = (crc32(data), data.len() as u32);
    // Version 2.0, no flags, stored, a valid DOS date (1980-01-01).
    let common = |z: &mut Vec<u8>, name_len: u16| {
        z.extend_from_slice(&20u16.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(&0x21u16.to_le_bytes());
        z.extend_from_slice(&crc.to_le_bytes());
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&name_len.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
    };
    let mut z = b"PK\x03\x04".to_vec();
    common(&mut z, name.len() as u16);
    z.extend_from_slice(name);
    z.extend_from_slice(data);
    let cd_start = z.len() as u32;
    for i in 0..entries {
        let name = format!("copy{i:04}.png");
        z.extend_from_slice(b"PK\x01\x02");
        z.extend_from_slice(&20u16.to_le_bytes()); // made by
        common(&mut z, name.len() as u16);
        z.extend_from_slice(&0u16.to_le_bytes()); // comment length
        z.extend_from_slice(&0u16.to_le_bytes()); // disk
        z.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        z.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        z.extend_from_slice(&0u32.to_le_bytes()); // the one local header
        z.extend_from_slice(name.as_bytes());
    }
    let cd_len = z.len() as u32 - cd_start;
    z.extend_from_slice(b"PK\x05\x06");
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(&entries.to_le_bytes());
    z.extend_from_slice(&entries.to_le_bytes());
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd_start.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

/// Append `count` tiny distinct members `dir/m000000.txt`, ... to `b`.
fn append_tiny<W: Write>(b: &mut tar::Builder<W>, first: usize, count: usize) {
    for i in first..first + count {
        let data = format!("member {i}\n");
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("dir/m{i:06}.txt"), data.as_bytes())
            .expect("append a member");
    }
}

/// A plain tar of `count` tiny members.
pub fn tar_of_tiny(count: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    append_tiny(&mut b, 0, count);
    b.into_inner().expect("finish the tar")
}

/// A zstd-compressed tar: `count` tiny members, `big.bin` of `big_bytes`
/// zeros (slow to digest, a few KB compressed; needs a high --max-ratio),
/// then `count` more tiny members. Streamed: the zeros are never held.
pub fn tar_zst_with_slow_middle(count: usize, big_bytes: u64) -> Vec<u8> {
    let z = zstd::stream::write::Encoder::new(Vec::new(), 1).expect("zstd encoder");
    let mut b = tar::Builder::new(z);
    append_tiny(&mut b, 0, count);
    let mut h = tar::Header::new_gnu();
    h.set_size(big_bytes);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "big.bin", std::io::repeat(0).take(big_bytes))
        .expect("append the big member");
    append_tiny(&mut b, count, count);
    let z = b.into_inner().expect("finish the tar");
    z.finish().expect("finish the zstd stream")
}

/// Write a header of `kind` for `size` bytes named `name`, then `size`
/// bytes of `fill` (streamed) and the padding to the next block.
fn tar_member<W: Write>(
    w: &mut W,
    kind: tar::EntryType,
    name: &str,
    size: u64,
    fill: &mut dyn Read,
) {
    let mut h = tar::Header::new_gnu();
    h.set_path(name).expect("short name");
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    w.write_all(h.as_bytes()).expect("write a header");
    let copied = std::io::copy(&mut fill.take(size), w).expect("write member data");
    assert_eq!(copied, size);
    let pad = (512 - size % 512) % 512;
    w.write_all(&vec![0; pad as usize]).expect("write padding");
}

/// A tar at `path`: `before.txt`; `long-name-member`, named by a GNU long
/// name (`L` header) of `name_len` bytes; `pax-member`, described by a PAX
/// header of `pax_len` bytes (one `comment` record); `after.txt`. Written
/// as it is made: the long name is never held in memory.
pub fn write_tar_with_huge_headers(path: &std::path::Path, name_len: u64, pax_len: u64) {
    use tar::EntryType;
    let file = std::fs::File::create(path).expect("create the tar");
    let mut w = std::io::BufWriter::new(file);
    tar_member(
        &mut w,
        EntryType::Regular,
        "before.txt",
        6,
        &mut &b"before"[..],
    );
    // GNU tar ends the name with a NUL.
    let mut name = std::io::repeat(b'n').take(name_len - 1).chain(&b"\0"[..]);
    tar_member(
        &mut w,
        EntryType::GNULongName,
        "././@LongLink",
        name_len,
        &mut name,
    );
    tar_member(
        &mut w,
        EntryType::Regular,
        "long-name-member",
        4,
        &mut &b"data"[..],
    );
    // "<len> comment=<value>\n", <len> counting itself.
    let digits = pax_len.to_string();
    let value_len = pax_len - digits.len() as u64 - " comment=\n".len() as u64;
    let head = format!("{digits} comment=").into_bytes();
    let mut pax = head
        .as_slice()
        .chain(std::io::repeat(b'x').take(value_len))
        .chain(&b"\n"[..]);
    tar_member(&mut w, EntryType::XHeader, "pax-header", pax_len, &mut pax);
    tar_member(
        &mut w,
        EntryType::Regular,
        "pax-member",
        4,
        &mut &b"data"[..],
    );
    tar_member(
        &mut w,
        EntryType::Regular,
        "after.txt",
        5,
        &mut &b"after"[..],
    );
    w.write_all(&[0; 1024]).expect("write the end blocks");
    w.flush().expect("flush the tar");
}
