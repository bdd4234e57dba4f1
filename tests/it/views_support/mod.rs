//! Seeded synthetic pictures and edits shared by the views tests.
#![allow(dead_code)]

/// A packed RGB image.
#[derive(Clone)]
pub struct Img {
    pub w: usize,
    pub h: usize,
    pub rgb: Vec<u8>,
}

impl Img {
    pub fn new(w: usize, h: usize, c: [u8; 3]) -> Img {
        Img {
            w,
            h,
            rgb: c.iter().copied().cycle().take(w * h * 3).collect(),
        }
    }
    pub fn paste(&mut self, o: &Img, x0: usize, y0: usize) {
        for y in 0..o.h {
            let d = 3 * ((y0 + y) * self.w + x0);
            self.rgb[d..d + 3 * o.w].copy_from_slice(&o.rgb[3 * y * o.w..3 * (y + 1) * o.w]);
        }
    }
    pub fn fill(&mut self, x0: usize, y0: usize, w: usize, h: usize, c: [u8; 3]) {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                self.rgb[3 * (y * self.w + x)..3 * (y * self.w + x) + 3].copy_from_slice(&c);
            }
        }
    }
}

/// Seeded xorshift.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A photo-like picture: coloured blobs over a gradient, plus noise.
pub fn photo(w: usize, h: usize, seed: u64) -> Img {
    let mut r = Rng(seed.wrapping_mul(0x9e3779b97f4a7c15) | 1);
    let blobs: Vec<(f64, f64, f64, [f64; 3])> = (0..40)
        .map(|_| {
            (
                r.unit() * w as f64,
                r.unit() * h as f64,
                (0.03 + 0.08 * r.unit()) * w as f64,
                [r.unit() * 255.0, r.unit() * 255.0, r.unit() * 255.0],
            )
        })
        .collect();
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let mut c = [
                60.0 + 100.0 * x as f64 / w as f64,
                80.0,
                60.0 + 90.0 * y as f64 / h as f64,
            ];
            for (bx, by, rad, col) in &blobs {
                let d2 = ((x as f64 - bx).powi(2) + (y as f64 - by).powi(2)) / rad.powi(2);
                let k = (-d2).exp();
                for i in 0..3 {
                    c[i] = c[i] * (1.0 - k) + col[i] * k;
                }
            }
            let n = (r.next() % 9) as f64 - 4.0;
            rgb.extend(c.map(|v| (v + n).clamp(0.0, 255.0) as u8));
        }
    }
    Img { w, h, rgb }
}

/// Random dark "glyphs" on a line of text.
pub fn text(img: &mut Img, x0: usize, y0: usize, w: usize, size: usize, r: &mut Rng, c: [u8; 3]) {
    let mut x = x0;
    while x + size < x0 + w {
        let gw = size / 2 + (r.next() % (size as u64 / 2)) as usize;
        img.fill(
            x,
            y0 + (r.next() % 3) as usize,
            gw.min(x0 + w - x),
            size / 4 + 1,
            c,
        );
        img.fill(x, y0, size / 5 + 1, size, c);
        x += gw + size / 3;
        if r.next().is_multiple_of(5) {
            x += size;
        }
    }
}

/// PNG bytes of `img`.
pub fn png(img: &Img) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_raw(img.w as u32, img.h as u32, img.rgb.clone())
        .expect("buffer size")
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}
