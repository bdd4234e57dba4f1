#!/usr/bin/env python3
"""Side-by-side PDQ throughput and agreement: `hashsieve hash` vs the reference.

The reference is what ThreatExchange's own Python hasher does: Pillow decodes
(`Image.open(p).convert("RGB")`) and Meta's C++ PDQ hashes (PyPI `pdqhash`).
Both sides read, decode and hash every image at full resolution on ONE thread,
in the same run, over the same files (page cache warmed first). Then ours runs
again on 2 threads. Prints images/s and megapixels/s for each, the ratios, and
the distribution of Hamming distances between our hashes and the reference's.

    pip install pdqhash==0.2.8 pillow numpy
    cargo build --release
    python3 benches/compare_pdq.py [FOLDER...] [--repeat 3] [--limit N]

Default folders: /usr/share/wallpapers (Debian: plasma-workspace-wallpapers)
and /usr/share/backgrounds (gnome-backgrounds).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import pdqhash
from PIL import Image

EXTS = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def list_images(folders, limit):
    files = []
    for folder in folders:
        for root, _dirs, names in os.walk(folder):
            for n in sorted(names):
                if os.path.splitext(n)[1].lower() in EXTS:
                    files.append(os.path.join(root, n))
    files.sort()
    # Only what Pillow opens (the reference must be able to hash it too).
    ok = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.size
            ok.append(f)
        except Exception:
            pass
    return ok[:limit] if limit else ok


def reference_once(files):
    out = {}
    t0 = time.perf_counter()
    for f in files:
        rgb = np.asarray(Image.open(f).convert("RGB"))
        bits, quality = pdqhash.compute(rgb)
        out[f] = ("".join("%x" % int("".join(map(str, bits[i:i + 4])), 2) for i in range(0, 256, 4)), quality)
    return time.perf_counter() - t0, out


def ours_once(binary, files, threads):
    t0 = time.perf_counter()
    p = subprocess.run([binary, "hash", "--threads", str(threads), *files], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode not in (0, 2):
        sys.exit("hashsieve failed: " + p.stderr)
    out = {}
    for line in p.stdout.splitlines():
        j = json.loads(line)
        if j["pdq"]:
            out[j["path"]] = (j["pdq"][0]["hash"], j["pdq"][0]["quality"])
    return dt, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folders", nargs="*", default=["/usr/share/wallpapers", "/usr/share/backgrounds"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "hashsieve"))
    a = ap.parse_args()
    files = list_images([f for f in a.folders if os.path.isdir(f)], a.limit)
    if not files:
        sys.exit("no images found in " + " ".join(a.folders))
    mp = 0.0
    for f in files:
        with Image.open(f) as im:
            mp += im.size[0] * im.size[1] / 1e6
        with open(f, "rb") as fh:  # warm the page cache
            fh.read()
    sizes = sorted(Image.open(f).size[0] * Image.open(f).size[1] / 1e6 for f in files)
    print(f"{len(files)} images, {mp:.1f} MP in all, median {statistics.median(sizes):.1f} MP")

    ref_t, ours1_t, ours2_t = [], [], []
    ref = ours = None
    for r in range(a.repeat):
        t, ref = reference_once(files)
        ref_t.append(t)
        t, ours = ours_once(a.binary, files, 1)
        ours1_t.append(t)
        t, _ = ours_once(a.binary, files, 2)
        ours2_t.append(t)
        print(f"  round {r + 1}: reference {ref_t[-1]:.2f}s  ours 1 thread {ours1_t[-1]:.2f}s  ours 2 threads {ours2_t[-1]:.2f}s")

    def report(name, ts):
        m = statistics.median(ts)
        print(f"{name:28s} median {m:7.2f}s  {len(files) / m:7.2f} images/s  {mp / m:7.1f} MP/s")
        return m

    print()
    rm = report("reference (Pillow+pdqhash)", ref_t)
    o1 = report("hashsieve --threads 1", ours1_t)
    o2 = report("hashsieve --threads 2", ours2_t)
    print(f"\nspeed-up, 1 thread vs reference : {rm / o1:.2f}x")
    print(f"speed-up, 2 threads vs 1 thread : {o1 / o2:.2f}x")

    # The decoder sets a floor under both sides, and it differs by format
    # (a lossy WebP decodes several times slower per pixel than a JPEG, in
    # libwebp as in ours), so a mixed folder's ratio depends on its mix:
    # show each format on its own, 1 thread, same rounds.
    by_format = {}
    for f in files:
        with Image.open(f) as im:
            by_format.setdefault(im.format, []).append(f)
    if len(by_format) > 1:
        print("\nby format (1 thread, median of %d rounds):" % a.repeat)
        for fmt, group in sorted(by_format.items()):
            gmp = sum(Image.open(f).size[0] * Image.open(f).size[1] / 1e6 for f in group)
            rt = statistics.median(reference_once(group)[0] for _ in range(a.repeat))
            ot = statistics.median(ours_once(a.binary, group, 1)[0] for _ in range(a.repeat))
            print(f"  {fmt:6s} {len(group):4d} images {gmp:7.1f} MP  reference {gmp / rt:6.1f} MP/s"
                  f"  ours {gmp / ot:6.1f} MP/s  speed-up {rt / ot:.2f}x")

    dists, over = [], []
    for f in files:
        if f not in ours:
            print(f"  ours failed on {f}")
            continue
        d = bin(int(ours[f][0], 16) ^ int(ref[f][0], 16)).count("1")
        dists.append(d)
        if ref[f][1] >= 80 and d > 10:
            over.append((f, d))
    hist = {}
    for d in dists:
        hist[d] = hist.get(d, 0) + 1
    print(f"\ndistance to reference over {len(dists)} images: max {max(dists)}, mean {statistics.mean(dists):.2f}")
    print("  histogram (distance: images): " + ", ".join(f"{k}: {hist[k]}" for k in sorted(hist)))
    print(f"  quality >= 80 and distance > 10: {len(over)} {over}")


if __name__ == "__main__":
    main()
