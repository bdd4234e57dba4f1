//! Helpers of the hostile-input scan tests: build hostile files in the
//! test (never committed), and run the real binary while measuring its
//! peak memory.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What a measured run gave: its output, its peak resident memory and its
/// wall-clock time.
pub struct Measured {
    pub out: Output,
    pub peak_rss_kib: u64,
    pub elapsed: Duration,
}

/// Run `cmd` to its end, capturing stdout and stderr, and take its peak
/// RSS from the kernel when reaping it (`wait4`'s `ru_maxrss`: exact,
/// unlike polling `VmHWM`, which misses the last moments).
// `wait4` reaps the child itself: `Child::wait` could not give its rusage.
#[allow(clippy::zombie_processes)]
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
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `rusage` is plain old data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let elapsed = started.elapsed();
    Measured {
        out: Output {
            status: std::process::ExitStatus::from_raw(status),
            stdout: out_reader.join().expect("stdout thread"),
            stderr: err_reader.join().expect("stderr thread"),
        },
        peak_rss_kib: usage.ru_maxrss as u64,
        elapsed,
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
