//! The horizontal pass on AMX-INT8 (the tile unit of Intel's Xeons since
//! Sapphire Rapids), 32 source rows at a time, read in place.
//!
//! Why: on HD video the horizontal pass was most of what TMK adds to
//! hashing (`perf` on `test-padded-dimensions`), and the AVX-512 VNNI pass
//! ([`super::vnni`]) is bound by its loads: one broadcast tap and one
//! transposed source vector for every `vpdpbusd` of 32 products. A tile
//! multiply (`tdpbusd`) takes 16 rows of 64 source bytes as they lie in
//! the frame (no transpose) against 16 outputs' taps and does 16,384
//! products. 1080x1080 luma, hot: 40 us against about 80 us.
//!
//! Layout: the outputs go in groups of 16 (a tile's columns). The source
//! columns a group's taps reach are cut into chunks of 64 bytes (a tile's
//! row; the last chunk of a plane is moved left to end at its edge, and
//! the columns an earlier chunk already took get zero taps). A chunk's
//! taps are a "B" tile, 16 quads of 16 outputs, four taps a dword. As in
//! the VNNI pass, the 14-bit taps are split into `256 * high + low` (`low`
//! -128 to 127) because the multiply takes i8, in two tiles and two
//! accumulators; the products are exact in i32, so the sums are those of
//! `hScale8To15_c`.
//!
//! Two blocks of 16 rows share every tap tile: on the Xeon measured a tile
//! load cost about three tile multiplies, and the taps are most of the
//! loads (a group's taps are sparse: a 1080-wide bicubic filter has 68 of
//! a chunk's 256 quad slots an output).
//!
//! Tiles are a per-thread state the kernel must be asked for once
//! ([`available`]); each pass loads its configuration and releases the
//! tiles when it ends ([`Session`]), so a thread switched out between
//! frames saves no tile data.

use std::arch::asm;
use std::arch::x86_64::*;
use std::marker::PhantomData;
use std::sync::OnceLock;

/// Source rows a call of [`hscale`] takes: two tiles of 16.
pub(super) const ROWS: usize = 32;
/// Bytes of a tile row, and source columns of a chunk.
const CHUNK: usize = 64;
/// Outputs of a group (the 16 dword columns of an accumulator tile).
const GROUP: usize = 16;

/// Whether this CPU has AMX-INT8 and Linux lets this process use the tile
/// data: asked once (`ARCH_REQ_XCOMP_PERM`), the answer kept. The kernel
/// refuses when a thread's signal stack is too small for the tile state,
/// and a seccomp filter may refuse the call: then the VNNI pass runs, as
/// it does when `HASHSIEVE_NO_AMX` is set (to compare the two, or to keep
/// a shared core off the tile unit). Call it before starting threads or a
/// sandbox (the decoder worker does).
pub fn available() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        #[cfg(target_os = "linux")]
        {
            /// `ARCH_REQ_XCOMP_PERM` and `XFEATURE_XTILEDATA`.
            const REQ_XCOMP_PERM: libc::c_long = 0x1023;
            const XTILEDATA: libc::c_long = 18;
            if std::env::var_os("HASHSIEVE_NO_AMX").is_some()
                || !std::is_x86_feature_detected!("avx512f")
                || !std::is_x86_feature_detected!("avx512bw")
            {
                return false;
            }
            // CPUID leaf 7 (which AVX-512 F, found above, proves exists):
            // EDX bit 24 AMX-TILE, bit 25 AMX-INT8.
            let leaf = __cpuid_count(7, 0);
            if leaf.edx & (1 << 24) == 0 || leaf.edx & (1 << 25) == 0 {
                return false;
            }
            // SAFETY: arch_prctl with these arguments only changes this
            // process's permitted xsave features (or fails).
            unsafe { libc::syscall(libc::SYS_arch_prctl, REQ_XCOMP_PERM, XTILEDATA) == 0 }
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    })
}

/// One tile's bytes (16 rows of 64), aligned as the tile loads like.
#[repr(C, align(64))]
#[derive(Clone)]
struct Tile([u8; 1024]);

/// A chunk of a group: its first source column and its tap tiles.
struct Chunk {
    k0: usize,
    lo: usize,
    /// `None` where no tap of the chunk has a high part.
    hi: Option<usize>,
}

/// One horizontal filter laid out for [`hscale`].
pub(super) struct Tiles {
    /// Outputs (a multiple of 16).
    ow: usize,
    /// Each group's chunks, left to right.
    groups: Vec<Vec<Chunk>>,
    tiles: Vec<Tile>,
}

impl Tiles {
    /// The layout of a filter (`pos`, `len`, `coef`, `size` as
    /// `super::Filter`) over a source `width` wide. `None` when the source
    /// is narrower than a chunk, the outputs are not whole groups, a tap
    /// reaches past `width`, or a high part would leave i8 (a tap of
    /// 32,640 or more, which libswscale's 14-bit taps never are).
    pub(super) fn new(
        pos: &[usize],
        len: &[usize],
        coef: &[i16],
        size: usize,
        width: usize,
    ) -> Option<Tiles> {
        let ow = pos.len();
        if width < CHUNK || ow == 0 || !ow.is_multiple_of(GROUP) || len.len() != ow {
            return None;
        }
        let mut tiles = Vec::new();
        let mut groups = Vec::with_capacity(ow / GROUP);
        for n0 in (0..ow).step_by(GROUP) {
            let outputs = n0..n0 + GROUP;
            let first = outputs.clone().map(|i| pos[i]).min()?;
            let end = outputs.clone().map(|i| pos[i] + len[i]).max()?;
            if end > width {
                return None;
            }
            let mut chunks = Vec::new();
            let mut start = first;
            while start < end {
                let k0 = start.min(width - CHUNK);
                let (mut lo, mut hi) = (Tile([0; 1024]), Tile([0; 1024]));
                let mut high = false;
                for (n, i) in outputs.clone().enumerate() {
                    for (k, &c) in coef[i * size..i * size + len[i]].iter().enumerate() {
                        let col = pos[i] + k;
                        // Columns before `start` were an earlier chunk's.
                        if col < start || col >= k0 + CHUNK {
                            continue;
                        }
                        let h = i8::try_from((i32::from(c) + 128) >> 8).ok()?;
                        let l = (i32::from(c) - 256 * i32::from(h)) as i8;
                        // Row: the quad; column: output n's dword, byte
                        // the column within the quad.
                        let at = (col - k0) / 4 * CHUNK + n * 4 + (col - k0) % 4;
                        lo.0[at] = l as u8;
                        hi.0[at] = h as u8;
                        high |= h != 0;
                    }
                }
                tiles.push(lo);
                let lo = tiles.len() - 1;
                let hi = high.then(|| {
                    tiles.push(hi);
                    tiles.len() - 1
                });
                chunks.push(Chunk { k0, lo, hi });
                start = k0 + CHUNK;
            }
            groups.push(chunks);
        }
        Some(Tiles { ow, groups, tiles })
    }
}

/// The tile configuration: palette 1, every tile 16 rows of 64 bytes.
/// tmm0-3 accumulate (low and high parts of the two row blocks), tmm4-5
/// hold the two blocks' source, tmm6-7 the low and high taps.
#[repr(C, align(64))]
struct Config([u8; 64]);

const CONFIG: Config = {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        // colsb (u16, bytes a row) at 16 + 2t, rows (u8) at 48 + t.
        c[16 + 2 * t] = 64;
        c[48 + t] = 16;
        t += 1;
    }
    Config(c)
};

/// The tiles configured on this thread; released when dropped. Not
/// `Send`: the configuration belongs to the thread that loaded it.
pub(super) struct Session {
    _thread: PhantomData<*const ()>,
}

impl Session {
    /// Load the configuration.
    ///
    /// # Safety
    /// [`available`] returned true.
    pub(super) unsafe fn start() -> Session {
        // SAFETY: the caller checked AMX; CONFIG is a valid palette-1
        // configuration, 64 bytes, aligned.
        unsafe { asm!("ldtilecfg [{0}]", in(reg) CONFIG.0.as_ptr(), options(nostack, readonly)) };
        Session {
            _thread: PhantomData,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: a Session exists only after `start` (AMX present).
        unsafe { asm!("tilerelease", options(nostack, nomem)) };
    }
}

/// `ROWS` source rows through the filter: row `r` starts at
/// `src + r * stride`, into `dst[r * ow..(r + 1) * ow]` as
/// `hScale8To15_c` would (15-bit, clamped).
///
/// # Safety
/// `session` was started on this thread; AVX-512 F and BW are present;
/// each of the `ROWS` rows is readable for the `width` bytes `tiles` was
/// made for; `dst` holds `ROWS * ow` samples.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn hscale(
    _session: &Session,
    tiles: &Tiles,
    src: *const u8,
    stride: usize,
    dst: &mut [i16],
) {
    let ow = tiles.ow;
    let second = src.wrapping_add(16 * stride);
    // Accumulators stored here: low and high of the first block, then of
    // the second.
    let mut sums = [
        Tile([0; 1024]),
        Tile([0; 1024]),
        Tile([0; 1024]),
        Tile([0; 1024]),
    ];
    // 512-bit here, unlike the VNNI pass: the core runs the tile unit
    // anyway, and the same combine in 256-bit halves made the whole of
    // TMK slower (test-padded-dimensions +10.1/10.5/11.0 % against
    // +8.5/9.7/8.9 %, bench binaries alternating).
    let max = _mm512_set1_epi32((1 << 15) - 1);
    for (g, chunks) in tiles.groups.iter().enumerate() {
        asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            options(nostack, nomem)
        );
        for c in chunks {
            let lo = tiles.tiles[c.lo].0.as_ptr();
            asm!(
                "tileloadd tmm4, [{a} + {s}*1]",
                "tileloadd tmm6, [{t} + {w}*1]",
                "tdpbusd tmm0, tmm4, tmm6",
                "tileloadd tmm5, [{b} + {s}*1]",
                "tdpbusd tmm2, tmm5, tmm6",
                a = in(reg) src.add(c.k0),
                b = in(reg) second.add(c.k0),
                s = in(reg) stride,
                t = in(reg) lo,
                w = in(reg) CHUNK,
                options(nostack, readonly)
            );
            if let Some(hi) = c.hi {
                asm!(
                    "tileloadd tmm7, [{t} + {w}*1]",
                    "tdpbusd tmm1, tmm4, tmm7",
                    "tdpbusd tmm3, tmm5, tmm7",
                    t = in(reg) tiles.tiles[hi].0.as_ptr(),
                    w = in(reg) CHUNK,
                    options(nostack, readonly)
                );
            }
        }
        asm!(
            "tilestored [{a} + {w}*1], tmm0",
            "tilestored [{b} + {w}*1], tmm1",
            "tilestored [{c} + {w}*1], tmm2",
            "tilestored [{d} + {w}*1], tmm3",
            a = in(reg) sums[0].0.as_mut_ptr(),
            b = in(reg) sums[1].0.as_mut_ptr(),
            c = in(reg) sums[2].0.as_mut_ptr(),
            d = in(reg) sums[3].0.as_mut_ptr(),
            w = in(reg) CHUNK,
            options(nostack)
        );
        for (block, pair) in sums.chunks_exact(2).enumerate() {
            for r in 0..16 {
                let lo = _mm512_load_si512(pair[0].0.as_ptr().add(r * CHUNK) as *const _);
                let hi = _mm512_load_si512(pair[1].0.as_ptr().add(r * CHUNK) as *const _);
                let sum = _mm512_add_epi32(lo, _mm512_slli_epi32::<8>(hi));
                let v = _mm512_min_epi32(_mm512_srai_epi32::<7>(sum), max);
                // Saturating below -32768 too, which taps this size cannot
                // reach (as the VNNI pass).
                let at = dst.as_mut_ptr().add((block * 16 + r) * ow + g * GROUP);
                _mm256_storeu_si256(at as *mut __m256i, _mm512_cvtsepi32_epi16(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::video::tmk_scale::random_taps::{taps, Rng};

    /// The pass against `hScale8To15_c`'s arithmetic written plainly, on
    /// filters libswscale would not make: random taps over the whole range
    /// the split takes, random positions and lengths (chunks starting
    /// anywhere, the last one moved left to the edge), random bytes, rows
    /// that end exactly at the width (a read past it would show in the
    /// sums: the bytes after are 255 and the taps there are not zero).
    #[test]
    fn random_filters_equal_the_plain_sum() {
        if !available() {
            eprintln!(
                "no AMX-INT8 here (or not permitted): the pass cannot run, nothing to compare"
            );
            return;
        }
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..300 {
            let ow = GROUP * (1 + rng.below(4) as usize);
            let size = 1 + rng.below(120) as usize;
            let width = (size + rng.below(700) as usize).max(CHUNK);
            let (pos, len, coef) = taps(&mut rng, ow, size, width, round % 2 == 0);
            let tiles = Tiles::new(&pos, &len, &coef, size, width).expect("taps in range");
            let stride = width + rng.below(3) as usize * 32;
            let mut data = vec![255u8; stride * ROWS + 64];
            for r in 0..ROWS {
                for c in 0..width {
                    data[r * stride + c] = rng.below(256) as u8;
                }
            }
            let mut dst = vec![0i16; ROWS * ow];
            // SAFETY: AMX is available (which implies AVX-512 F and BW;
            // VL on every AMX CPU); each row holds `width` bytes; `dst`
            // holds ROWS rows of `ow`.
            unsafe {
                let s = Session::start();
                hscale(&s, &tiles, data.as_ptr(), stride, &mut dst);
            }
            for r in 0..ROWS {
                for i in 0..ow {
                    let sum: i64 = (0..len[i])
                        .map(|k| {
                            i64::from(data[r * stride + pos[i] + k]) * i64::from(coef[i * size + k])
                        })
                        .sum();
                    let want = (sum >> 7).clamp(-32_768, 32_767);
                    assert_eq!(
                        i64::from(dst[r * ow + i]),
                        want,
                        "round {round} row {r} output {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn layouts_it_cannot_take_are_refused() {
        // A tap whose high part leaves i8.
        assert!(Tiles::new(&[0; 16], &[1; 16], &[32_640; 16], 1, 64).is_none());
        assert!(Tiles::new(&[0; 16], &[1; 16], &[32_639; 16], 1, 64).is_some());
        // Outputs not in groups of 16, a source narrower than a chunk, a
        // tap past the width.
        assert!(Tiles::new(&[0; 8], &[1; 8], &[1; 8], 1, 64).is_none());
        assert!(Tiles::new(&[0; 16], &[1; 16], &[1; 16], 1, 63).is_none());
        assert!(Tiles::new(&[64; 16], &[1; 16], &[1; 16], 1, 64).is_none());
    }
}
