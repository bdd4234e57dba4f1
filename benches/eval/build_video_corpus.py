#!/usr/bin/env python3
"""Build the video half of the views evaluation corpus (issue #7).

Why: framewise video hashes (vPDQ) lose letterboxed, cropped, mirrored and
captioned reposts; the runner (run_video_eval.py) measures how many edited
copies the reference vPDQ, our hash of record and our views still find.

Sources are the same real photos as build_corpus.py (Debian's wallpapers
under /usr/share/wallpapers and /usr/share/backgrounds/gnome, symlinks
followed). A seeded shuffle picks --originals photos for the originals,
--distractors for distractor videos and the rest as "filler" footage for
the embedding edit. Each video is a slow pan (and slight vertical drift)
over one photo, made with the `ffmpeg` CLI: --seconds s at 30 fps, H.264,
640x360, every 4th video portrait 480x854 (--height 720: 1280x720 and
960x1706). Frames change over time, so
vPDQ's once-a-second hashes differ along the video: every other video is a
fast pan (60% of the width over the video; consecutive once-a-second
frames are over 100 PDQ bits apart, so a speed change moves every sampled
frame out of reach) and the others a slow one (15%).

Edits (each applied to every original; --distractor-edits of them also to
the distractors, so views are tested for false positives on edited
unrelated footage too):
  reencode_crf35, scale_50, letterbox_20 (black bars above/below, 20% of
  the final height), pillarbox_20 (bars left/right, 20% of the width),
  pad_43 (padded to 4:3 with black, 1:1 for portrait), crop_10 (10% of
  width and height removed, split between sides), logo (badge with text in
  a corner), caption_band (white band with black text added above the
  picture, 20% of the final height), subtitle_box (black box with white
  text drawn over the bottom 18% of the picture), hflip, fps_15, speed_125
  (setpts 0.8), clip_3_9 (seconds 3-9), clip_offset (seconds 2.5-9.5:
  out of phase with the once-a-second samples), embed (6 s unrelated footage +
  the original + 6 s unrelated footage), grey, and the short excerpts
  clip_2s ... clip_6s (2 to 6 s, each cut out of phase at its own offset;
  issue 16; the 2 s one is below the target and shows where the rule stops),
  bar_bottom (a plain black bar added under the picture, 15% of the final
  height), bar_left (a plain blue strip added left of it, 15% of the
  width), pillarbox_band (pillarbox_20, then a caption band under it), and
  the turns rot90, rot180, rot270, vflip, transpose, transverse.

Layout of OUT (default benches/out/eval-video, git-ignored):
  src/<name>.png                  downscaled photo the pan runs over
  originals/<name>.mp4
  queries/<edit>/<name>.mp4       edited originals
  distractors/none/<name>.mp4     unrelated videos
  distractors/<edit>/<name>.mp4   edited unrelated videos
  filler/<WxH>-<i>.mp4            6 s unrelated footage for `embed`
  manifest.json                   {"originals": [...], "distractors": [...],
                                   "edits": [...], "items": [{"role",
                                   "original", "edit", "path"}]}

Deterministic (seeded choices, `-bitexact`, one encoder thread); existing
outputs are kept, so a rerun only makes what is missing (delete OUT after
changing --seed, --seconds or this script: outputs are not checked against
the parameters).

Usage: python3 benches/eval/build_video_corpus.py [--out DIR] [--originals 8]
       [--distractors 12] [--seconds 12] [--seed 7] [--jobs 2]
       [--edits a,b,...] [--distractor-edits a,b,...]
"""
import argparse
import json
import random
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_corpus import sources  # noqa: E402  (same photo selection as the image corpus)

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
FPS = 30
X264 = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-threads", "1",
        "-bitexact", "-an", "-movflags", "+faststart"]


def text_filter(text, x, y, size, colour):
    """drawtext if a font exists, else nothing (the box alone is the edit)."""
    if not Path(FONT).exists():
        return None
    return (f"drawtext=fontfile={FONT}:text='{text}':x={x}:y={y}:fontsize={size}:fontcolor={colour}")


def chain(*parts):
    return ",".join(p for p in parts if p)


def even(v):
    return int(v) // 2 * 2


def edit_filters(edit, w, h, rng):
    """(ffmpeg args placed before the output) for an edit of a w x h video; None = special."""
    crf = ["-crf", "23"]
    if edit == "reencode_crf35":
        return ["-crf", "35"]
    if edit == "scale_50":
        return ["-vf", f"scale={even(w / 2)}:{even(h / 2)}"] + crf
    if edit == "letterbox_20":
        nh = even(h / 0.8)
        return ["-vf", f"pad={w}:{nh}:0:{(nh - h) // 2}:black"] + crf
    if edit == "pillarbox_20":
        nw = even(w / 0.8)
        return ["-vf", f"pad={nw}:{h}:{(nw - w) // 2}:0:black"] + crf
    if edit == "pad_43":
        if w >= h:  # landscape: pad the height to 4:3
            nw, nh = w, even(w * 3 / 4)
        else:  # portrait: pad the width to 1:1
            nw, nh = h, h
        return ["-vf", f"pad={nw}:{nh}:{(nw - w) // 2}:{(nh - h) // 2}:black"] + crf
    if edit == "crop_10":
        cw, ch = even(w * 0.9), even(h * 0.9)
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        return ["-vf", f"crop={cw}:{ch}:{x}:{y}"] + crf
    if edit == "logo":
        s = even(min(w, h) * 0.15)
        x, y = w - s - s // 4, s // 4
        return ["-vf", chain(f"drawbox=x={x}:y={y}:w={s}:h={s}:color=0xC81414@1:t=fill",
                             f"drawbox=x={x}:y={y}:w={s}:h={s}:color=white@1:t={max(2, s // 12)}",
                             text_filter("TV", x + s // 5, y + s // 3, s * 2 // 5, "white"))] + crf
    if edit == "caption_band":
        band = even(h * 0.2 / 0.8)
        size = max(10, band // 4)
        return ["-vf", chain(f"pad={w}:{h + band}:0:{band}:white",
                             text_filter("JOIN US NOW SHARE BEFORE", "(w-text_w)/2", band // 8, size, "black"),
                             text_filter("THEY DELETE THIS", "(w-text_w)/2", band // 8 + size * 13 // 10 + 2,
                                         size, "black"))] + crf
    if edit == "bar_bottom":
        # A plain black bar added under the picture (15 % of the final
        # height), nothing on it: one side only, so not letterboxing.
        bar = even(h * 0.15 / 0.85)
        return ["-vf", f"pad={w}:{h + bar}:0:0:black"] + crf
    if edit == "bar_left":
        # A plain coloured strip added left of the picture (15 % of the
        # final width).
        bar = even(w * 0.15 / 0.85)
        return ["-vf", f"pad={w + bar}:{h}:{bar}:0:0x1E5AA0"] + crf
    if edit == "pillarbox_band":
        # A caption band added under a pillarboxed copy: bars on three
        # sides, the band on one.
        nw = even(w / 0.8)
        band = even(h * 0.2 / 0.8)
        size = max(10, band // 4)
        return ["-vf", chain(f"pad={nw}:{h}:{(nw - w) // 2}:0:black", f"pad={nw}:{h + band}:0:0:white",
                             text_filter("JOIN US NOW SHARE BEFORE", "(w-text_w)/2", h + band // 8, size, "black"),
                             text_filter("THEY DELETE THIS", "(w-text_w)/2", h + band // 8 + size * 13 // 10 + 2,
                                         size, "black"))] + crf
    if edit in TURNS:
        return ["-vf", TURNS[edit]] + crf
    if edit == "subtitle_box":
        bh = even(h * 0.18)
        size = max(10, bh // 3)
        return ["-vf", chain(f"drawbox=x=0:y={h - bh}:w={w}:h={bh}:color=black@0.85:t=fill",
                             text_filter("the brothers of the west will rise", "(w-text_w)/2",
                                         h - bh + bh // 3, size, "white"))] + crf
    if edit == "hflip":
        return ["-vf", "hflip"] + crf
    if edit == "fps_15":
        return ["-vf", "fps=15"] + crf
    if edit == "speed_125":
        return ["-vf", "setpts=0.8*PTS", "-r", str(FPS)] + crf
    if edit == "clip_3_9":
        return ["-ss", "3", "-t", "6"] + crf  # output-side seek: exact frames, deterministic
    if edit == "clip_offset":
        # Cut half a second out of phase with the once-a-second samples:
        # what a repost cut anywhere looks like to vPDQ.
        return ["-ss", "2.5", "-t", "7"] + crf
    if edit in SHORT_CLIPS:
        # Short excerpts (issue 16), each cut out of phase at its own offset.
        start, length = SHORT_CLIPS[edit]
        return ["-ss", str(start), "-t", str(length)] + crf
    if edit == "grey":
        return ["-vf", "hue=s=0"] + crf
    if edit == "embed":
        return None
    raise ValueError(edit)


# (start, length) in seconds of the short excerpts: what social platforms
# cut; as distractor edits they are the false-positive test of a lower clip
# minimum (a short query needs few frames to match).
SHORT_CLIPS = {"clip_2s": (6.4, 2), "clip_3s": (2.5, 3), "clip_4s": (5.3, 4), "clip_5s": (1.7, 5),
               "clip_6s": (4.6, 6)}
# The six turns of the picture besides itself and hflip, as ffmpeg filters.
TURNS = {"rot90": "transpose=clock", "rot180": "hflip,vflip", "rot270": "transpose=cclock", "vflip": "vflip",
         "transpose": "transpose=cclock_flip", "transverse": "transpose=clock_flip"}
EDITS = ["reencode_crf35", "scale_50", "letterbox_20", "pillarbox_20", "pad_43", "crop_10", "logo",
         "caption_band", "subtitle_box", "hflip", "fps_15", "speed_125", "clip_3_9", "clip_offset", "embed", "grey",
         *SHORT_CLIPS, "bar_bottom", "bar_left", "pillarbox_band", *TURNS]
DISTRACTOR_EDITS = ["letterbox_20", "pillarbox_20", "crop_10", "caption_band", "hflip", "embed",
                    "clip_2s", "clip_3s", "clip_4s", "clip_5s", "bar_bottom", "bar_left", "pillarbox_band",
                    "rot90", "vflip"]


def run(cmd, out):
    """Run ffmpeg to a temp file and rename, so an interrupted run leaves no half file."""
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    r = subprocess.run(cmd + [str(tmp)], capture_output=True, text=True)
    if r.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg failed for {out}:\n{' '.join(cmd)}\n{r.stderr[-2000:]}")
    tmp.rename(out)


def ffmpeg():
    return ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]


def prepare_photo(src, dst, w, h):
    """Downscale the photo so its height is 1.3 x h and it is at least 1.6 x w wide
    (cropped to that aspect if wider): room for the pan."""
    if dst.exists():
        return
    img = Image.open(src).convert("RGB")
    th = even(h * 1.3)
    tw = even(max(w * 1.6, img.width * th / img.height))
    scale = max(tw / img.width, th / img.height)
    img = img.resize((max(tw, round(img.width * scale)), max(th, round(img.height * scale))), Image.LANCZOS)
    l, t = (img.width - tw) // 2, (img.height - th) // 2
    tmp = dst.with_name(dst.stem + ".part.png")
    img.crop((l, t, l + tw, t + th)).save(tmp, compress_level=1)
    tmp.rename(dst)


def pan_video(photo, out, w, h, seconds, reverse, travel):
    """A pan across the photo (left to right, or back) with a slight vertical drift.
    `travel`: the horizontal distance covered over the whole video, as a share of
    the video's width (0.6 = fast: consecutive once-a-second frames are over 100
    bits apart in PDQ; 0.15 = slow: about 15-45 bits on this corpus)."""
    if out.exists():
        return
    dx, x0 = w * travel, f"(iw-{w}-{w * travel})/2"
    x = f"{x0}+{dx}*t/{seconds}" if not reverse else f"{x0}+{dx}*(1-t/{seconds})"
    y = f"(ih-{h})*(0.5+{travel / 2}*(t/{seconds}-0.5))"
    run(ffmpeg() + ["-loop", "1", "-framerate", str(FPS), "-t", str(seconds), "-i", str(photo),
                    "-vf", f"crop={w}:{h}:x='{x}':y='{y}',setsar=1", "-r", str(FPS), "-crf", "20"] + X264, out)


def edit_video(src, out, edit, w, h, rng, filler):
    if out.exists():
        return
    args = edit_filters(edit, w, h, rng)
    if args is None:  # embed: filler + original + filler, one re-encode
        a, b = filler
        run(ffmpeg() + ["-i", str(a), "-i", str(src), "-i", str(b), "-filter_complex",
                        "[0:v][1:v][2:v]concat=n=3:v=1:a=0,setsar=1[v]", "-map", "[v]", "-crf", "23"] + X264, out)
        return
    run(ffmpeg() + ["-i", str(src)] + args + X264, out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="benches/out/eval-video")
    ap.add_argument("--originals", type=int, default=8)
    ap.add_argument("--distractors", type=int, default=12)
    ap.add_argument("--seconds", type=int, default=12)
    ap.add_argument("--height", type=int, default=360,
                    help="height of the landscape videos (16:9; portrait ones are 4:3 of it wide, "
                         "16:9 of that tall): 720 makes an HD corpus")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=2, help="parallel ffmpeg processes (one thread each)")
    ap.add_argument("--edits", default=",".join(EDITS), help="comma-separated subset of: " + ",".join(EDITS))
    ap.add_argument("--distractor-edits", default=",".join(DISTRACTOR_EDITS),
                    help="edits also applied to the distractors ('' = none)")
    a = ap.parse_args()
    if not shutil.which("ffmpeg"):
        sys.exit("the ffmpeg CLI is needed")
    edits = [e for e in a.edits.split(",") if e]
    dedits = [e for e in a.distractor_edits.split(",") if e]
    for e in edits + dedits:
        if e not in EDITS:
            sys.exit(f"unknown edit {e!r}")
    srcs = sources()
    rng = random.Random(a.seed)
    rng.shuffle(srcs)
    if len(srcs) < a.originals + a.distractors + 2:
        sys.exit(f"need at least {a.originals + a.distractors + 2} photos, found {len(srcs)}")
    origs = srcs[: a.originals]
    dists = srcs[a.originals: a.originals + a.distractors]
    fill = srcs[a.originals + a.distractors:]
    out = Path(a.out)
    for d in ("src", "originals", "filler"):
        (out / d).mkdir(parents=True, exist_ok=True)

    def size(i):
        def ev(v):  # nearest even (480 x 16/9 = 853.3 -> 854)
            return int(round(v / 2)) * 2
        pw = ev(a.height * 4 / 3)
        return (pw, ev(pw * 16 / 9)) if i % 4 == 3 else (ev(a.height * 16 / 9), a.height)

    def travel(i):  # every other video a fast pan, the others slow
        return 0.6 if i % 2 == 0 else 0.15

    # 1. photos and base videos
    bases = []  # (role, name, path, w, h)
    for role, group in (("original", origs), ("distractor", dists)):
        for i, (name, path) in enumerate(group):
            w, h = size(i)
            photo = out / "src" / f"{name}-{w}x{h}.png"
            prepare_photo(path, photo, w, h)
            vdir = out / ("originals" if role == "original" else "distractors/none")
            vdir.mkdir(parents=True, exist_ok=True)
            bases.append((role, name, photo, vdir / f"{name}.mp4", w, h, i % 4 in (1, 2), travel(i)))
    fillers = {}
    for w, h in sorted({(b[4], b[5]) for b in bases}):
        for k in range(min(4, len(fill))):
            name, path = fill[k]
            photo = out / "src" / f"filler-{name}-{w}x{h}.png"
            prepare_photo(path, photo, w, h)
            fillers.setdefault((w, h), []).append((photo, out / "filler" / f"{w}x{h}-{k}.mp4", k % 2 == 1, travel(k)))

    jobs = [(pan_video, (p, v, w, h, a.seconds, rev, tr)) for _, _, p, v, w, h, rev, tr in bases]
    jobs += [(pan_video, (p, v, w, h, 6, rev, tr)) for (w, h), fs in fillers.items() for p, v, rev, tr in fs]
    with ThreadPoolExecutor(a.jobs) as pool:
        for f in [pool.submit(fn, *args) for fn, args in jobs]:
            f.result()

    # 2. edits
    items, jobs = [], []
    for role, name, _, v, w, h, _, _ in bases:
        items.append({"role": role, "original": name if role == "original" else None,
                      "name": name, "edit": "none", "path": str(v)})
        for e in edits if role == "original" else dedits:
            er = random.Random(f"{a.seed}/{name}/{e}")
            d = out / ("queries" if role == "original" else "distractors") / e
            d.mkdir(parents=True, exist_ok=True)
            fs = fillers[(w, h)]
            pick = er.sample(range(len(fs)), 2)
            o = d / f"{name}.mp4"
            jobs.append((v, o, e, w, h, er, (fs[pick[0]][1], fs[pick[1]][1])))
            items.append({"role": role, "original": name if role == "original" else None,
                          "name": name, "edit": e, "path": str(o)})
    with ThreadPoolExecutor(a.jobs) as pool:
        futs = [pool.submit(edit_video, *j) for j in jobs]
        for k, f in enumerate(futs):
            f.result()
            if (k + 1) % 20 == 0:
                print(f"  {k + 1}/{len(futs)} edited videos", file=sys.stderr)
    manifest = {"seed": a.seed, "seconds": a.seconds, "fps": FPS, "edits": edits, "distractor_edits": dedits,
                "originals": [n for n, _ in origs], "distractors": [n for n, _ in dists],
                "sources": {n: str(p) for n, p in origs + dists}, "items": items}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"{len(origs)} originals x {len(edits)} edits, {len(dists)} distractors x ({len(dedits)} edits + "
          f"unedited) -> {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
