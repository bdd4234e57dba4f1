#!/usr/bin/env python3
"""Issue 16: would list-side masks find logo- and watermark-stamped reposts?

An overlay cannot be predicted, but logos are usually stamped in a corner:
this measures whether storing hashes of the original with a corner (12, 18
or 25 % of the short side) or the bottom band (10, 20 % of the height)
filled black, white, with its mean colour or blurred would bring the
corpus' `logo` and `watermark` edits within the threshold (31) where the
hash of record does not. Reference PDQ (pdqhash on Pillow pixels) on both
sides: a partner's plain PDQ. Prints per original the distance of the
record and of the closest mask, then per mask family how many edits are
found.

Usage (the pytx venv's Python):
  overlay_masks.py CORPUS distractors OUT.pkl   the corpus' distractor photos
                                                 and their logo/watermark edits
                                                 (to choose a family on)
  overlay_masks.py CORPUS queries OUT.pkl        the listed originals (to check it)
"""
import pickle
import sys

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFilter
from pathlib import Path
from multiprocessing import Pool
POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)
def h(img):
    b, q = pdqhash.compute(np.asarray(img.convert("RGB")))
    return np.packbits(b.astype(np.uint8)), q
def d(a, b): return int(POP[a ^ b].sum())
def variants(img):
    W, H = img.size; out = {}
    for frac in (0.12, 0.18, 0.25):
        s = int(min(W, H) * frac)
        for corner in ("tl", "tr", "bl", "br"):
            x = 0 if corner[1] == "l" else W - s
            y = 0 if corner[0] == "t" else H - s
            box = (x, y, x + s, y + s)
            for fill in ("black", "white", "mean", "blur"):
                im = img.copy()
                if fill == "mean":
                    c = tuple(int(v) for v in np.asarray(img.crop(box)).reshape(-1, 3).mean(0))
                    ImageDraw.Draw(im).rectangle(box, fill=c)
                elif fill == "blur":
                    im.paste(img.crop(box).filter(ImageFilter.GaussianBlur(s / 4)), box[:2])
                else:
                    ImageDraw.Draw(im).rectangle(box, fill=fill)
                out[(frac, corner, fill)] = h(im)
    # bottom band (a caption / watermark line): the lowest 10/20 % of the height
    for frac in (0.1, 0.2):
        for fill in ("black", "white", "mean", "blur"):
            im = img.copy(); box = (0, int(H * (1 - frac)), W, H)
            if fill == "mean":
                c = tuple(int(v) for v in np.asarray(img.crop(box)).reshape(-1, 3).mean(0))
                ImageDraw.Draw(im).rectangle(box, fill=c)
            elif fill == "blur":
                im.paste(img.crop(box).filter(ImageFilter.GaussianBlur(H * frac / 4)), box[:2])
            else:
                ImageDraw.Draw(im).rectangle(box, fill=fill)
            out[(frac, "band", fill)] = h(im)
    return out
def work(args):
    orig, qs = args
    img = Image.open(orig).convert("RGB")
    rec = h(img)
    v = variants(img)
    res = {}
    for e, q in qs.items():
        qh = h(Image.open(q))
        res[e] = (d(rec[0], qh[0]), {k: d(vh[0], qh[0]) for k, vh in v.items()}, qh[1])
    return orig, res

def summary(r):
    keys = list(r[0][1]["logo"][1].keys())
    fams = {}
    for fill in ("black", "white", "mean", "blur"):
        for frac in (0.12, 0.18, 0.25):
            fams[f"{fill}-{frac}"] = [k for k in keys if k[2] == fill and k[0] == frac and k[1] != "band"]
        fams[f"{fill}-all"] = [k for k in keys if k[2] == fill and k[1] != "band"]
        fams[f"{fill}-band"] = [k for k in keys if k[2] == fill and k[1] == "band"]
    fams["everything"] = keys
    for e in ("logo", "watermark"):
        base = sum(1 for o, res in r if res[e][0] <= 31 and res[e][2] >= 50)
        print(e, "hash of record only", base, "/", len(r))
        for name, ks in fams.items():
            n = sum(1 for o, res in r if res[e][2] >= 50 and (res[e][0] <= 31 or min(res[e][1][k] for k in ks) <= 31))
            print(f"  {name:14s} ({len(ks):2d} hashes) {n}")


if __name__ == "__main__":
    root = Path(sys.argv[1]); role = sys.argv[2]; out = sys.argv[3]
    jobs = []
    if role == "distractors":
        for p in sorted((root / "distractors/none").glob("*.png")):
            qs = {e: next((root / "distractors" / e).glob(p.stem + ".*")) for e in ("logo", "watermark")}
            jobs.append((str(p), {k: str(v) for k, v in qs.items()}))
    else:
        for p in sorted((root / "originals").glob("*.png")):
            qs = {e: next((root / "queries" / e).glob(p.stem + ".*")) for e in ("logo", "watermark")}
            jobs.append((str(p), {k: str(v) for k, v in qs.items()}))
    with Pool(2) as pool:
        r = pool.map(work, jobs)
    pickle.dump(r, open(out, "wb"))
    for orig, res in r:
        print(Path(orig).stem[:20], {e: (x[0], min(x[1].values()), min(x[1], key=x[1].get)) for e, x in res.items()})
    summary(r)
