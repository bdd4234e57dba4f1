#!/usr/bin/env python3
"""Reference hashes of turned and mirrored pictures, for tests/views_exact.rs.

Writes test pictures into OUTDIR (scikit-image's fine textures such as
`brick`, photos of several non-square sizes, odd crops, a 64x64 crop, a
larger seeded texture, and PNGs stored turned with an EXIF orientation, as
a phone stores a sideways photo), then prints one JSON line per picture
(those written and any extra PATHs given): the hash and quality Meta's C++
PDQ (PyPI `pdqhash`) gives each of PIL's seven transposes of its pixels,
the untransposed pixels (`original`) and, for a file with an EXIF
orientation other than 1, its upright pixels (`exif`, PIL's
`ImageOps.exif_transpose`).

Usage: pdq_oriented.py OUTDIR [PATH...]
Needs: pip install pdqhash pillow numpy scikit-image
"""
import json
import sys
from pathlib import Path

import numpy as np
import pdqhash
from PIL import Image, ImageOps
from skimage import data

# Our view names -> PIL's transposes (rotations are counter-clockwise).
TRANSPOSES = {
    "rotate90": Image.Transpose.ROTATE_90,
    "rotate180": Image.Transpose.ROTATE_180,
    "rotate270": Image.Transpose.ROTATE_270,
    "flipx": Image.Transpose.FLIP_TOP_BOTTOM,
    "flipy": Image.Transpose.FLIP_LEFT_RIGHT,
    "flipplus1": Image.Transpose.TRANSPOSE,
    "flipminus1": Image.Transpose.TRANSVERSE,
}
# What PIL's exif_transpose applies for each orientation, inverted: the
# transpose that stores an upright picture under that orientation.
STORE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def pdq(img):
    bits, quality = pdqhash.compute(np.asarray(img.convert("RGB")))
    hexa = "".join("%x" % int("".join(map(str, bits[i:i + 4])), 2) for i in range(0, 256, 4))
    return [hexa, int(quality)]


def rgb(a):
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(a[..., :3]), "RGB")


def pictures():
    """(name, PIL image, orientation to store it under)."""
    brick = rgb(data.brick())
    yield "brick", brick, 1
    # The case: the brick wall stored turned 90 degrees with the
    # orientation that turns it back upright.
    yield "brick-exif6", brick, 6
    for name in ("grass", "gravel", "camera", "astronaut", "coffee", "chelsea",
                 "rocket", "text", "page", "coins", "hubble_deep_field"):
        yield name, rgb(getattr(data, name)()), 1
    # Non-square, odd sizes (odd and even box windows), tiny, and 64x64 (the
    # reference hashes a 64x64 input without blurring).
    yield "brick-301x499", rgb(data.brick()[:499, :301]), 1
    yield "gravel-37x500", rgb(data.gravel()[:500, :37]), 1
    yield "grass-64x64", rgb(data.grass()[100:164, 200:264]), 1
    yield "coins-7x9", rgb(data.coins()[:9, :7]), 1
    rng = np.random.default_rng(16)
    big = rng.integers(0, 256, size=(1003, 1500, 3), dtype=np.uint8)
    yield "noise-1500x1003", Image.fromarray(big, "RGB"), 1
    # Every orientation, on a non-square photo.
    coffee = rgb(data.coffee())
    for o in range(2, 9):
        yield f"coffee-exif{o}", coffee, o


def row(name, img, orientation):
    out = {"file": name, "original": pdq(img)}
    for view, t in TRANSPOSES.items():
        out[view] = pdq(img.transpose(t))
    if orientation not in (None, 1):
        out["exif"] = pdq(ImageOps.exif_transpose(img))
    return out


def main():
    outdir = Path(sys.argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    for name, upright, o in pictures():
        path = outdir / f"{name}.png"
        if o == 1:
            upright.save(path)
            stored = Image.open(path)
        else:
            exif = Image.Exif()
            exif[0x0112] = o
            upright.transpose(STORE[o]).save(path, exif=exif)
            stored = Image.open(path)
            assert stored.getexif().get(0x0112) == o
            assert ImageOps.exif_transpose(stored).tobytes() == upright.tobytes()
        print(json.dumps(row(path.name, stored, stored.getexif().get(0x0112, 1))))
    for p in sys.argv[2:]:
        img = Image.open(p)
        print(json.dumps(row(p, img, img.getexif().get(0x0112, 1))))


if __name__ == "__main__":
    main()
