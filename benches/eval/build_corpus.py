#!/usr/bin/env python3
"""Build the views evaluation corpus: originals, edited copies, distractors.

Sources are real photos and artwork installed by Debian packages
(plasma-workspace-wallpapers under /usr/share/wallpapers, gnome-backgrounds
under /usr/share/backgrounds/gnome): one image per wallpaper (the largest
file of its `contents/images`; no dark variants, which are the same
picture), plus scikit-image's sample pictures when it is installed (fine
textures such as `brick`; `--no-textures` leaves them out), downscaled to --max-side pixels and stored as PNG. A seeded shuffle
splits them into originals (the "hash list") and distractors (unrelated
media that must never match). Every edit is applied to both: edited
originals measure recall, edited distractors widen the false-positive test.

Layout of OUT (default benches/out/eval, git-ignored):
  originals/<name>.png
  queries/<edit>/<name>.<ext>     edited originals
  distractors/<edit>/<name>.<ext> edited distractors ("none" = unedited)
  distractors/tiles/<name>-<i>.jpg random crops of the distractor photos
  manifest.json

Usage: python3 benches/eval/build_corpus.py [--out DIR] [--max-side 1024]
       [--seed 7] [--distractor-share 0.33] [--tiles 8] [--limit N] [--edits a,b,...]
       [--no-textures] [--edit-seed N]
"""
import argparse
import io
import json
import math
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
FONT_REG = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
WORDS = ("the brothers of the west will rise again join us now share before "
         "they delete this message victory is near watch and spread").split()


def font(size, bold=True):
    try:
        return ImageFont.truetype(FONT if bold else FONT_REG, max(8, int(size)))
    except OSError:
        return ImageFont.load_default()


def sources():
    out = []
    for d in sorted(Path("/usr/share/wallpapers").glob("*/contents/images")):
        files = [p for p in d.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")]
        if files:
            best = max(files, key=lambda p: p.stat().st_size)
            out.append((d.parent.parent.name, best))
    gnome = Path("/usr/share/backgrounds/gnome")
    for p in sorted(gnome.glob("*-l.webp")) if gnome.exists() else []:
        if p.stat().st_size > 10000:  # vnc-l.webp is a tiny placeholder
            out.append(("gnome-" + p.stem[:-2], p))
    return out


# scikit-image's sample pictures (shipped in its wheel): fine textures
# (brick, grass, gravel, microscopy) that PDQ's downsample aliases, which is
# where the reference's DCT-trick rotations fail (issue 16), and photos. Left
# out: the chessboards (symmetric: every rotation is itself), the binary
# horse, the logo (alpha), phantom, and motorcycle_right (a near copy of
# motorcycle_left, which would count as another original).
SKIMAGE = ["astronaut", "brick", "camera", "cell", "chelsea", "clock_motion", "coffee", "coins", "color",
           "grass", "gravel", "hubble_deep_field", "ihc", "microaneurysms", "moon", "motorcycle_left", "page",
           "retina", "rocket", "text"]


def texture_sources():
    """(name, path) of scikit-image's sample pictures, if it is installed."""
    try:
        import skimage
    except ImportError:
        return []
    d = Path(skimage.__file__).parent / "data"
    out = []
    for n in SKIMAGE:
        p = next((q for q in (d / f"{n}.png", d / f"{n}.jpg") if q.exists()), None)
        if p:
            out.append(("skimage-" + n, p))
    return out


def sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def draw_lines(draw, x, y, width, size, rng, lines, fill):
    f = font(size, bold=False)
    for _ in range(lines):
        draw.text((x, y), sentence(rng, rng.randint(4, 9))[: int(width / (size * 0.55))], font=f, fill=fill)
        y += int(size * 1.5)
    return y


# ---- edits: each takes (PIL RGB image, rng) and returns (image, format) ----

def jpeg(img, rng, q=50):
    return img, ("JPEG", q)


def resize(img, rng, f=0.5):
    return img.resize((max(1, int(img.width * f)), max(1, int(img.height * f))), Image.LANCZOS), "PNG"


def crop(img, rng, frac):
    # remove `frac` of the width and of the height, split randomly between sides
    dw, dh = int(img.width * frac), int(img.height * frac)
    l, t = rng.randint(0, dw), rng.randint(0, dh)
    return img.crop((l, t, img.width - (dw - l), img.height - (dh - t))), "PNG"


def crop_at(img, rng, frac, where):
    # remove `frac` of the side(s) `where` names: "center" (half on each
    # side, width and height), "side" (one side picked at random: a strip
    # cut off), "corner" (width and height, at a corner picked at random)
    W, H = img.size
    cw, ch = round(W * frac), round(H * frac)
    if where == "center":
        l, t, r, b = cw // 2, ch // 2, cw - cw // 2, ch - ch // 2
    elif where == "side":
        side = rng.choice("ltrb")
        l, t, r, b = [(cw if s in "lr" else ch) if s == side else 0 for s in "ltrb"]
    else:
        l, r = (cw, 0) if rng.random() < 0.5 else (0, cw)
        t, b = (ch, 0) if rng.random() < 0.5 else (0, ch)
    return img.crop((l, t, W - r, H - b)), "PNG"


def rot_cropped(img, rng, deg):
    # turned by `deg` (sign picked at random), then cropped to the largest
    # centred rectangle of the same aspect ratio without empty corners, as
    # photo editors' straighten tools do; Pillow's bicubic, not ours
    deg = deg * rng.choice((-1, 1))
    W, H = img.size
    a = math.radians(abs(deg))
    s = min(W / (W * math.cos(a) + H * math.sin(a)), H / (W * math.sin(a) + H * math.cos(a)))
    w, h = W * s, H * s
    out = img.rotate(deg, resample=Image.BICUBIC, expand=False)
    return out.crop((round((W - w) / 2), round((H - h) / 2), round((W + w) / 2), round((H + h) / 2))), ("JPEG", 90)


def pad_colour(rng):
    return rng.choice([(0, 0, 0), (255, 255, 255), (128, 128, 128),
                       tuple(rng.randint(0, 255) for _ in range(3))])


def pad(img, rng, frac):
    # padding that makes up `frac` of the final width and height
    c = pad_colour(rng)
    nw, nh = int(img.width / (1 - frac)), int(img.height / (1 - frac))
    out = Image.new("RGB", (nw, nh), c)
    out.paste(img, ((nw - img.width) // 2, (nh - img.height) // 2))
    return out, "PNG"


def letterbox(img, rng, frac):
    # black bars above and below making up `frac` of the final height
    nh = int(img.height / (1 - frac))
    out = Image.new("RGB", (img.width, nh), (0, 0, 0))
    out.paste(img, (0, (nh - img.height) // 2))
    return out, ("JPEG", 85)


def pillarbox(img, rng, frac):
    nw = int(img.width / (1 - frac))
    out = Image.new("RGB", (nw, img.height), (0, 0, 0))
    out.paste(img, ((nw - img.width) // 2, 0))
    return out, ("JPEG", 85)


def blurred_pillarbox(img, rng, frac=0.25):
    # the picture over a blurred, enlarged copy of itself (phone-video style)
    nw = int(img.width / (1 - frac))
    bg = img.resize((nw, int(img.height * nw / img.width))).crop((0, 0, nw, img.height))
    bg = bg.filter(ImageFilter.GaussianBlur(img.width / 30))
    bg.paste(img, ((nw - img.width) // 2, 0))
    return bg, ("JPEG", 85)


def watermark(img, rng):
    out = img.copy()
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    size = img.height / 14
    d.text((img.width * 0.05, img.height * 0.85), "@channel_" + str(rng.randint(100, 999)),
           font=font(size), fill=(255, 255, 255, 160))
    return Image.alpha_composite(out.convert("RGBA"), layer).convert("RGB"), ("JPEG", 85)


def logo(img, rng):
    out = img.copy()
    d = ImageDraw.Draw(out)
    s = int(min(img.size) * 0.15)
    x, y = img.width - s - s // 4, s // 4
    d.ellipse((x, y, x + s, y + s), fill=(200, 20, 20), outline=(255, 255, 255), width=max(1, s // 12))
    d.text((x + s * 0.2, y + s * 0.3), "TV", font=font(s * 0.4), fill=(255, 255, 255))
    return out, ("JPEG", 85)


def caption(img, rng, frac):
    # meme: a white band with black text above the picture, `frac` of the final height
    band = int(img.height * frac / (1 - frac))
    out = Image.new("RGB", (img.width, img.height + band), (255, 255, 255))
    out.paste(img, (0, band))
    d = ImageDraw.Draw(out)
    size = band / 3.2
    f = font(size)
    for i in range(2):
        txt = sentence(rng, rng.randint(3, 6)).upper()
        while d.textlength(txt, font=f) > img.width * 0.95 and len(txt) > 4:
            txt = txt[:-2]
        w = d.textlength(txt, font=f)
        d.text(((img.width - w) / 2, band * 0.12 + i * size * 1.3), txt, font=f, fill=(0, 0, 0))
    return out, ("JPEG", 85)


def screenshot(img, rng, dark=False):
    # a social-media post: header (avatar, name), text, the picture at
    # 60-85% of the width, then counters and buttons
    bg, fg = ((21, 32, 43), (230, 230, 230)) if dark else ((255, 255, 255), (20, 20, 20))
    cw = int(img.width / rng.uniform(0.6, 0.85))
    pw = int(cw * rng.uniform(0.85, 0.95))
    ph = int(img.height * pw / img.width)
    pic = img.resize((pw, ph), Image.LANCZOS)
    unit = cw / 30
    head = int(unit * 6)
    foot = int(unit * 5)
    out = Image.new("RGB", (cw, head + ph + foot), bg)
    d = ImageDraw.Draw(out)
    m = (cw - pw) // 2
    d.ellipse((m, unit, m + unit * 2.5, unit * 3.5), fill=(rng.randint(0, 255), 120, 200))
    d.text((m + unit * 3, unit * 1.2), "Some Channel @some_" + str(rng.randint(10, 99)), font=font(unit), fill=fg)
    draw_lines(d, m, unit * 3.8, pw, unit * 0.8, rng, 2, fg)
    out.paste(pic, (m, head))
    y = head + ph + unit
    d.text((m, y), f"{rng.randint(1, 99)}K views  {rng.randint(1, 999)} reposts", font=font(unit * 0.8, False), fill=fg)
    for i in range(4):
        d.rectangle((m + i * pw / 4, y + unit * 2, m + i * pw / 4 + unit * 1.2, y + unit * 3.2), outline=fg, width=2)
    return out, ("PNG" if rng.random() < 0.5 else ("JPEG", 90))


def card(img, rng):
    # a photo pasted on a coloured card, with a title under it
    c = pad_colour(rng)
    fg = (0, 0, 0) if sum(c) > 380 else (255, 255, 255)
    m = int(img.width * rng.uniform(0.05, 0.12))
    title = int(img.height * 0.18)
    out = Image.new("RGB", (img.width + 2 * m, img.height + 2 * m + title), c)
    out.paste(img, (m, m))
    d = ImageDraw.Draw(out)
    d.text((m, img.height + m * 1.3), sentence(rng, 5), font=font(title * 0.35), fill=fg)
    return out, ("JPEG", 90)


def mirror(img, rng):
    return ImageOps.mirror(img), "PNG"


def rot(img, rng, deg):
    return img.rotate(deg, expand=True), "PNG"


def small_rot(img, rng, deg):
    return img.rotate(deg, resample=Image.BICUBIC, expand=False), "PNG"


def grey(img, rng):
    return ImageOps.grayscale(img).convert("RGB"), "PNG"


def bright(img, rng):
    return ImageEnhance.Brightness(img).enhance(1.3), "PNG"


def contrast(img, rng):
    return ImageEnhance.Contrast(img).enhance(1.4), "PNG"


def gamma(img, rng, g=0.7):
    lut = [min(255, int(255 * (i / 255) ** g + 0.5)) for i in range(256)] * 3
    return img.point(lut), "PNG"


def blur(img, rng):
    return img.filter(ImageFilter.GaussianBlur(max(1.0, img.width / 400))), "PNG"


def noise(img, rng):
    a = np.asarray(img).astype(np.int16)
    g = np.random.default_rng(rng.randint(0, 2**31)).normal(0, 12, a.shape)
    return Image.fromarray(np.clip(a + g, 0, 255).astype(np.uint8)), ("JPEG", 90)


def mirror_letterbox(img, rng):
    return letterbox(ImageOps.mirror(img), rng, 0.2)


# The transpose that stores an upright picture under EXIF orientation o
# (the inverse of what a viewer, or PIL's exif_transpose, applies).
EXIF_STORE = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def exif_stored(img, rng, o):
    # a phone photo stored sideways with the orientation that turns it back
    # upright; an EXIF-aware viewer shows the original
    return img.transpose(EXIF_STORE[o]), ("PNG", o)


EDITS = {
    "none": lambda i, r: (i, "PNG"),
    "jpeg_q50": jpeg,
    "resize_50": resize,
    "crop_5": lambda i, r: crop(i, r, 0.05),
    "crop_10": lambda i, r: crop(i, r, 0.10),
    "crop_20": lambda i, r: crop(i, r, 0.20),
    "pad_10": lambda i, r: pad(i, r, 0.10),
    "pad_20": lambda i, r: pad(i, r, 0.20),
    "pad_25": lambda i, r: pad(i, r, 0.25),
    "letterbox_25": lambda i, r: letterbox(i, r, 0.25),
    "pillarbox_25": lambda i, r: pillarbox(i, r, 0.25),
    "blurred_pillarbox": blurred_pillarbox,
    "watermark": watermark,
    "logo": logo,
    "caption_20": lambda i, r: caption(i, r, 0.2),
    "caption_30": lambda i, r: caption(i, r, 0.3),
    "screenshot": screenshot,
    "screenshot_dark": lambda i, r: screenshot(i, r, dark=True),
    "card": card,
    "mirror": mirror,
    "rot90": lambda i, r: rot(i, r, 90),
    "rot180": lambda i, r: rot(i, r, 180),
    "rot270": lambda i, r: rot(i, r, 270),
    "rot_3": lambda i, r: small_rot(i, r, 3),
    # issue 16, list-side enrollment: crops at the enrolled grid's
    # fractions and between them (7, 12), and turns with corners cropped
    # at 3-7 degrees (4 and 6 between the enrolled 3, 5, 7)
    "crop_15": lambda i, r: crop(i, r, 0.15),
    "crop_center_5": lambda i, r: crop_at(i, r, 0.05, "center"),
    "crop_center_7": lambda i, r: crop_at(i, r, 0.07, "center"),
    "crop_center_10": lambda i, r: crop_at(i, r, 0.10, "center"),
    "crop_center_12": lambda i, r: crop_at(i, r, 0.12, "center"),
    "crop_center_20": lambda i, r: crop_at(i, r, 0.20, "center"),
    "crop_side_5": lambda i, r: crop_at(i, r, 0.05, "side"),
    "crop_side_10": lambda i, r: crop_at(i, r, 0.10, "side"),
    "crop_side_12": lambda i, r: crop_at(i, r, 0.12, "side"),
    "crop_side_20": lambda i, r: crop_at(i, r, 0.20, "side"),
    "crop_corner_10": lambda i, r: crop_at(i, r, 0.10, "corner"),
    "crop_corner_15": lambda i, r: crop_at(i, r, 0.15, "corner"),
    "rot_crop_3": lambda i, r: rot_cropped(i, r, 3),
    "rot_crop_4": lambda i, r: rot_cropped(i, r, 4),
    "rot_crop_5": lambda i, r: rot_cropped(i, r, 5),
    "rot_crop_6": lambda i, r: rot_cropped(i, r, 6),
    "rot_crop_7": lambda i, r: rot_cropped(i, r, 7),
    "rot_7": lambda i, r: small_rot(i, r, 7),
    "grey": grey,
    "bright": bright,
    "contrast": contrast,
    "gamma": gamma,
    "blur": blur,
    "noise": noise,
    "mirror_letterbox": mirror_letterbox,
    "exif_6": lambda i, r: exif_stored(i, r, 6),
    "exif_8": lambda i, r: exif_stored(i, r, 8),
}


def save(img, fmt, path_stem):
    if isinstance(fmt, tuple) and fmt[0] == "PNG":  # PNG with an EXIF orientation
        path = path_stem.with_suffix(".png")
        exif = Image.Exif()
        exif[0x0112] = fmt[1]
        img.save(path, "PNG", compress_level=1, exif=exif)
    elif isinstance(fmt, tuple):
        path = path_stem.with_suffix(".jpg")
        img.save(path, "JPEG", quality=fmt[1])
    else:
        path = path_stem.with_suffix(".png")
        img.save(path, "PNG", compress_level=1)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benches/out/eval")
    ap.add_argument("--max-side", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--edit-seed", type=int, default=None,
                    help="seed of the edits' random choices (crop splits, turn signs ...); default --seed. "
                         "A second corpus with the same originals and other edits checks that a tuned "
                         "setting does not only fit one draw")
    ap.add_argument("--distractor-share", type=float, default=0.33)
    ap.add_argument("--limit", type=int, default=0, help="use at most N source images (0 = all)")
    ap.add_argument("--edits", default="", help="comma-separated subset of: " + ",".join(EDITS))
    ap.add_argument("--no-textures", action="store_true",
                    help="leave out scikit-image's sample pictures (the corpus before issue 16)")
    ap.add_argument("--tiles", type=int, default=8,
                    help="extra distractors: N random crops (30-70%% of each side) of each distractor photo")
    a = ap.parse_args()
    out = Path(a.out)
    edits = [e for e in a.edits.split(",") if e] or list(EDITS)
    for e in edits:
        if e not in EDITS:
            sys.exit(f"unknown edit {e!r}")
    srcs = sources() + ([] if a.no_textures else texture_sources())
    if not srcs:
        sys.exit("no source photos found (install plasma-workspace-wallpapers / gnome-backgrounds)")
    rng = random.Random(a.seed)
    rng.shuffle(srcs)
    if a.limit:
        srcs = srcs[: a.limit]
    n_d = max(1, int(len(srcs) * a.distractor_share))
    roles = [("distractors", s) for s in srcs[:n_d]] + [("queries", s) for s in srcs[n_d:]]
    manifest = {"seed": a.seed, "edit_seed": a.edit_seed, "max_side": a.max_side, "edits": edits, "originals": [], "distractors": []}
    (out / "originals").mkdir(parents=True, exist_ok=True)
    for role, (name, path) in roles:
        img = Image.open(path)
        img = img.convert("RGB")
        img.thumbnail((a.max_side, a.max_side), Image.LANCZOS)
        if role == "queries":
            img.save(out / "originals" / f"{name}.png", compress_level=1)
            manifest["originals"].append(name)
        else:
            manifest["distractors"].append(name)
        for e in edits:
            er = random.Random(f"{a.seed if a.edit_seed is None else a.edit_seed}/{name}/{e}")
            d = out / role / e
            d.mkdir(parents=True, exist_ok=True)
            edited, fmt = EDITS[e](img, er)
            save(edited, fmt, d / name)
        if role == "distractors" and a.tiles:
            tr = random.Random(f"{a.seed}/{name}/tiles")
            d = out / role / "tiles"
            d.mkdir(parents=True, exist_ok=True)
            for t in range(a.tiles):
                fw, fh = tr.uniform(0.3, 0.7), tr.uniform(0.3, 0.7)
                w, h = int(img.width * fw), int(img.height * fh)
                x, y = tr.randint(0, img.width - w), tr.randint(0, img.height - h)
                img.crop((x, y, x + w, y + h)).save(d / f"{name}-{t}.jpg", "JPEG", quality=85)
        print(f"{role[:-1]:>10} {name}", file=sys.stderr)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"{len(manifest['originals'])} originals, {len(manifest['distractors'])} distractors, "
          f"{len(edits)} edits -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
