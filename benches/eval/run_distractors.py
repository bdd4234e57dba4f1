#!/usr/bin/env python3
"""False positives on the large distractor set (issue 16).

Compares every picture and video of build_distractors.py's set with the
listed originals of the two evaluation corpora, the way a user would:

  lists    one database, lists created with the defaults of `hashsieve db
           list-create` (PDQ distance <= 31, quality >= 50, vPDQ 80 % of the
           listed video or the clip rule 80 % of the query and >= 3 frames,
           TMK+PDQF level-1 and level-2 >= 0.7):
             images  Meta's reference PDQ (PyPI pdqhash) of the listed
                     originals of the image corpus (quality >= 50)
             videos  Meta's reference vPDQ (PyPI vpdq, one frame a second)
                     of the listed originals of the video corpus
             tmk     their TMK+PDQF (`hashsieve hash --format tmk`), with the
                     quality gate of --tmk-list-quality (50, the default:
                     a video none of whose sampled frames reaches it is
                     not matched by TMK; 0 = Meta's verdicts)
           plus two probe lists that hold the same videos with every rule
           relaxed (any frame within 31 bits; TMK level-1 and level-2 >= 0,
           the tmk list's quality gate),
           only to read how close the nearest distractor comes (a probe
           pair is scored once, by the first view that reaches it: the
           mirrored or letterbox TMK only where the plain one scored below
           0, and a TMK view only at level-1 and level-2 >= 0.8, the view
           floor, so a TMK view's scores of every pair come from
           run_tmk_views.py, not from here).
  scan     `hashsieve scan` of every distractor, once with `--views none`
           and once with its defaults (all views): a false positive is a
           distractor with a match in images, videos or tmk.
  margin   `hashsieve hash --views all`: every hash of every distractor (the
           hash of record, each view; for a video each sampled frame, its
           views and the frames between samples), quality >= 50, against
           every listed hash: the smallest distance, and false pairs (<= 31)
           per million hash comparisons, with the rule-of-three 95 % upper
           bound (3 / comparisons) when there are none.

Usage: python3 benches/eval/run_distractors.py [--distractors benches/out/distractors]
       [--image-corpus benches/out/eval16] [--video-corpus benches/out/eval-video]
       [--bin target/release/hashsieve] [--jobs 2] [--json FILE] [--skip-images] [--skip-videos]
       [--skip-scan-none] [--tmk-every-original] [--tmk-list-quality 50]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_eval import bits_to_int, ref_hash  # noqa: E402
from run_video_eval import ref_features, unique_good  # noqa: E402

THRESHOLD, QUALITY = 31, 50


def to_words(hexes):
    """(n, 4) uint64 array of 256-bit hashes given in hex."""
    if not hexes:
        return np.zeros((0, 4), dtype=np.uint64)
    return np.array([[int(h[i:i + 16], 16) for i in range(0, 64, 16)] for h in hexes], dtype=np.uint64)


def distances(q, t):
    """(len(q), len(t)) Hamming distances."""
    out = np.zeros((len(q), len(t)), dtype=np.int32)
    for w in range(4):
        x = np.bitwise_xor(q[:, w][:, None], t[:, w][None, :])
        out += np.unpackbits(x.view(np.uint8).reshape(len(q), len(t), 8), axis=2).sum(axis=2, dtype=np.int32)
    return out


def min_and_pairs(q, t, chunk=4096):
    best, pairs = 257, 0
    for i in range(0, len(q), chunk):
        d = distances(q[i:i + chunk], t)
        if d.size:
            best = min(best, int(d.min()))
            pairs += int((d <= THRESHOLD).sum())
    return best, pairs


def bound(pairs, n):
    per_m = 1e6 * pairs / max(1, n)
    return f"{per_m:.2f}" + (f" (< {3e6 / n:.2f} at 95 %)" if pairs == 0 and n else "")


def hs(binary, *args, check=True):
    r = subprocess.run([binary] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"hashsieve {' '.join(args[:6])} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r


def hash_jsonl(binary, paths, jobs):
    out = {}
    r = subprocess.run([binary, "hash", "--views", "all", "--threads", str(jobs), "--video-threads", "1"] +
                       [str(p) for p in paths], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        out[str(Path(rec["path"]).resolve())] = rec
    return out


def scan(binary, db, paths, views, jobs):
    """{path: [match record]} of `hashsieve scan --format jsonl`, every file."""
    cmd = [binary, "scan", "--db", str(db), "--format", "jsonl", "--no-state", "--no-progress",
           "--threads", str(jobs), "--video-threads", "1"] + (["--views", views] if views else [])
    cmd += [str(p) for p in paths]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        sys.exit(f"scan failed ({r.returncode}):\n{r.stderr[-3000:]}")
    out, errors = {}, 0
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        if rec.get("error"):
            errors += 1
        out[str(Path(rec["path"]).resolve())] = [m for m in rec.get("matches") or [] if not m.get("suppressed")]
    return out, errors


def describe(m):
    lab = next((x for x in m.get("labels") or [] if x.startswith("original:")), m.get("external_id"))
    extra = ""
    if m.get("vpdq"):
        v = m["vpdq"]
        extra = f" rule {v['rule']} query {v['query_percent']:.0f}% target {v['target_percent']:.0f}%"
    if m.get("level1") is not None:
        extra = f" level1 {m['level1']:.3f} level2 {m['level2']:.3f}"
    if m.get("distance") is not None:
        extra += f" distance {m['distance']}"
    return f"{m['list']}:{lab} by {m.get('hit_by')}{' view ' + m['view'] if m.get('view') else ''}{extra}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--distractors", default="benches/out/distractors")
    ap.add_argument("--image-corpus", default="benches/out/eval16")
    ap.add_argument("--video-corpus", default="benches/out/eval-video")
    ap.add_argument("--bin", default="target/release/hashsieve")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json")
    ap.add_argument("--skip-images", action="store_true")
    ap.add_argument("--skip-videos", action="store_true")
    ap.add_argument("--tmk-every-original", action="store_true",
                    help="list the TMK+PDQF of every original of the video corpus, not only of those with "
                         "vPDQ frames of quality >= 50 (TMK has no quality gate, so a list may carry them)")
    ap.add_argument("--tmk-list-quality", type=int, default=QUALITY,
                    help="quality gate of the tmk lists (default 50, a new list's: a video none of whose sampled "
                         "frames reaches it is not matched by TMK; 0 = no gate, Meta's reference verdicts)")
    ap.add_argument("--skip-scan-none", action="store_true",
                    help="no `scan --views none` (the no-views figures then come from the hashes alone)")
    a = ap.parse_args()
    b = a.bin
    dman = json.loads((Path(a.distractors) / "manifest.json").read_text())
    images = [str(Path(x["path"]).resolve()) for x in dman["images"]]
    videos = [str(Path(x["path"]).resolve()) for x in dman["videos"] if Path(x["path"]).exists()]
    kind_of = {str(Path(x["path"]).resolve()): x["kind"] for x in dman["videos"]}
    src_of = {str(Path(x["path"]).resolve()): x["source"] for x in dman["images"]}
    result = {"images": len(images), "videos": len(videos)}

    # ---- the listed originals ----
    icorp = Path(a.image_corpus)
    iman = json.loads((icorp / "manifest.json").read_text())
    origs = {n: str(icorp / "originals" / f"{n}.png") for n in iman["originals"]}
    with Pool(a.jobs) as pool:
        ref = {p: (bb, q) for p, bb, q in pool.map(ref_hash, list(origs.values()))}
    ours = hash_jsonl(b, origs.values(), a.jobs)
    order = next((o for o in ("fwd", "rev") if all(
        bits_to_int(ref[p][0], o) == int(ours[str(Path(p).resolve())]["pdq"][0]["hash"], 16) for p in origs.values())),
        None)
    if order is None:
        sys.exit("our hash of record differs from the reference on the PNG originals")
    listed_img = {n: f"{bits_to_int(ref[p][0], order):064x}" for n, p in origs.items() if ref[p][1] >= QUALITY}

    vcorp = Path(a.video_corpus)
    vman = json.loads((vcorp / "manifest.json").read_text())
    vorigs = {it["original"]: str(Path(it["path"]).resolve()) for it in vman["items"]
              if it["role"] == "original" and it["edit"] == "none"}
    with Pool(a.jobs) as pool:
        vref = dict(pool.map(ref_features, list(vorigs.values())))
    listed_vid = {n: vref[p] for n, p in vorigs.items() if unique_good(vref[p], QUALITY)}
    tmk_names = list(vorigs) if a.tmk_every_original else list(listed_vid)
    print(f"listed: {len(listed_img)} images, {len(listed_vid)} videos (vPDQ), {len(tmk_names)} (TMK+PDQF)",
          file=sys.stderr)

    tmp = tempfile.TemporaryDirectory(prefix="hashsieve-distractors-")
    t = Path(tmp.name)
    db = t / "lists.db"
    hs(b, "db", "--db", str(db), "init")
    hs(b, "db", "--db", str(db), "list-create", "images")
    hs(b, "db", "--db", str(db), "list-create", "videos")
    hs(b, "db", "--db", str(db), "list-create", "tmk", "--quality", str(a.tmk_list_quality))
    hs(b, "db", "--db", str(db), "list-create", "probe-videos", "--vpdq-target-percent", "0",
       "--vpdq-query-percent", "0", "--min-clip-frames", "1")
    hs(b, "db", "--db", str(db), "list-create", "probe-tmk", "--tmk-level1", "0", "--tmk-level2", "0",
       "--quality", str(a.tmk_list_quality))
    for n, h in listed_img.items():
        f = t / f"{n}.pdq"
        f.write_text(h + "\n")
        hs(b, "db", "--db", str(db), "import", "images", "--label", f"original:{n}", str(f))
    tmk_dir = t / "tmk"
    tmk_dir.mkdir()
    for n, feats in listed_vid.items():
        f = t / f"{n}.vpdq"
        f.write_text("".join(f"{fr},{q},{h},{ts:.3f}\n" for fr, q, h, ts in feats))
        for lst in ("videos", "probe-videos"):
            hs(b, "db", "--db", str(db), "import", lst, "--format", "vpdq", "--label", f"original:{n}", str(f))
    for n in tmk_names:
        d = t / "tmkout" / n
        hs(b, "hash", "--format", "tmk", "--output-dir", str(d), "--threads", "1", vorigs[n])
        next(d.glob("*.tmk")).rename(tmk_dir / f"{n}.tmk")
    for lst in ("tmk", "probe-tmk"):
        hs(b, "db", "--db", str(db), "import", lst, str(tmk_dir))
    real_lists = {"images", "videos", "tmk"}

    # ---- images ----
    if not a.skip_images:
        t0 = time.time()
        h = hash_jsonl(b, images, a.jobs)
        t_hash = time.time() - t0
        lw = to_words(list(listed_img.values()))
        rec_h, view_h, nq_files = [], [], 0
        files_rec, files_all = set(), set()
        per_view_best = {}
        closest = (257, None, None)
        for p in images:
            r = h.get(p)
            if not r or not r.get("pdq"):
                continue
            nq_files += 1
            hh = [("original", r["pdq"][0]["hash"], r["pdq"][0]["quality"])] + \
                 [(v["view"], v["hash"], v["quality"]) for v in r.get("views") or []]
            for view, x, q in hh:
                if q < QUALITY:
                    continue
                (rec_h if view == "original" else view_h).append(x)
                d = distances(to_words([x]), lw)[0]
                k = int(d.argmin())
                per_view_best[view] = min(per_view_best.get(view, 257), int(d[k]))
                if d[k] <= THRESHOLD:
                    files_all.add(p)
                    if view == "original":
                        files_rec.add(p)
                if d[k] < closest[0]:
                    closest = (int(d[k]), f"{p} ({view})", list(listed_img)[k])
        rb, rp = min_and_pairs(to_words(rec_h), lw)
        vb, vp = min_and_pairs(to_words(view_h), lw)
        n_rec, n_all = len(rec_h) * len(lw), (len(rec_h) + len(view_h)) * len(lw)
        t0 = time.time()
        s_none, e_none = scan(b, db, images, "none", a.jobs) if not a.skip_scan_none else ({}, 0)
        t_none = time.time() - t0
        t0 = time.time()
        s_all, e_all = scan(b, db, images, None, a.jobs)
        t_all = time.time() - t0
        fp = {}
        for name, s in (("none", s_none), ("all", s_all)):
            fp[name] = {p: [describe(m) for m in ms if m["list"] in real_lists] for p, ms in s.items()}
            fp[name] = {p: v for p, v in fp[name].items() if v}
        print(f"\nIMAGES: {len(images)} distractor pictures from {len(set(src_of.values()))} sources "
              f"({nq_files} hashed); {len(listed_img)} listed originals ({a.image_corpus}); "
              f"hash --views all {t_hash:.0f}s, scan --views none {t_none:.0f}s, scan (default views) {t_all:.0f}s")
        print("| | hash of record only | with all views |")
        print("|---|---:|---:|")
        print(f"| distractor files matched by `scan` (lists images, videos, tmk) | "
              + ("not run" if a.skip_scan_none else f"{len(fp['none'])}/{len(images)}")
              + f" | {len(fp['all'])}/{len(images)} |")
        print(f"| distractor files with a hash within {THRESHOLD} of a listed image (from the hashes) | "
              f"{len(files_rec)}/{nq_files} | {len(files_all)}/{nq_files} |")
        print(f"| quality-gated hashes compared | {len(rec_h):,} | {len(rec_h) + len(view_h):,} |")
        print(f"| hash comparisons with the {len(lw)} listed hashes | {n_rec:,} | {n_all:,} |")
        print(f"| false pairs (distance <= {THRESHOLD}) | {rp} | {rp + vp} |")
        print(f"| false pairs per million comparisons | {bound(rp, n_rec)} | {bound(rp + vp, n_all)} |")
        print(f"| false positives per query file (`scan`; 95 % bound when 0) | "
              + ("-" if a.skip_scan_none else bound(len(fp['none']), len(images)) + " per million files")
              + f" | {bound(len(fp['all']), len(images))} per million files |")
        print(f"| closest distractor hash to a listed hash (threshold {THRESHOLD}) | {rb} | {min(rb, vb)} |")
        print(f"\nclosest: distance {closest[0]}: {closest[1]} to {closest[2]}")
        print("closest per view: " + ", ".join(f"{v} {d}" for v, d in sorted(per_view_best.items(), key=lambda x: x[1])))
        for name in ("none", "all"):
            for p, v in sorted(fp[name].items()):
                print(f"FP (views {name}): {p} [{src_of.get(p)}]: {'; '.join(v)}")
        result["images_result"] = {"fp_none": fp["none"], "fp_all": fp["all"], "record": [rb, rp, n_rec],
                                   "views": [min(rb, vb), rp + vp, n_all], "closest": closest,
                                   "per_view_best": per_view_best, "scan_errors": [e_none, e_all]}

    # ---- videos ----
    if not a.skip_videos:
        t0 = time.time()
        h = hash_jsonl(b, videos, a.jobs)
        t_hash = time.time() - t0
        lf = sorted({x for feats in listed_vid.values() for x in unique_good(feats, QUALITY)})
        lw = to_words(lf)
        rec_n = all_n = rec_pairs = all_pairs = 0
        rec_best = all_best = 257
        closest = (257, None)
        for p in videos:
            r = h.get(p)
            if not r:
                continue
            rec = {f["hash"] for f in r.get("pdq") or [] if f["quality"] >= QUALITY}
            more = {v["hash"] for f in (r.get("pdq") or []) + (r.get("between") or [])
                    for v in [f] + (f.get("views") or []) if v["quality"] >= QUALITY} - rec
            b1, p1 = min_and_pairs(to_words(sorted(rec)), lw)
            b2, p2 = min_and_pairs(to_words(sorted(more)), lw)
            rec_n += len(rec) * len(lw)
            all_n += (len(rec) + len(more)) * len(lw)
            rec_pairs += p1
            all_pairs += p1 + p2
            rec_best = min(rec_best, b1)
            all_best = min(all_best, b1, b2)
            if min(b1, b2) < closest[0]:
                closest = (min(b1, b2), p)
        t0 = time.time()
        s_none, _ = scan(b, db, videos, "none", a.jobs) if not a.skip_scan_none else ({}, 0)
        t_none = time.time() - t0
        t0 = time.time()
        s_all, _ = scan(b, db, videos, None, a.jobs)
        t_all = time.time() - t0
        fp, probe = {}, {}
        for name, s in (("none", s_none), ("all", s_all)):
            fp[name] = {p: [describe(m) for m in ms if m["list"] in real_lists] for p, ms in s.items()}
            fp[name] = {p: v for p, v in fp[name].items() if v}
            pv = [(m["vpdq"], p, m) for p, ms in s.items() for m in ms if m["list"] == "probe-videos" and m.get("vpdq")]
            pt = [(m["level1"], m["level2"], p, m) for p, ms in s.items() for m in ms
                  if m["list"] == "probe-tmk" and m.get("level1") is not None]
            probe[name] = {
                "vpdq_pairs_with_a_frame_within_31": len(pv),
                "videos_with_a_frame_within_31": len({p for _, p, _ in pv}),
                "max_target_percent": max(pv, key=lambda x: x[0]["target_percent"], default=None),
                "max_query_percent": max(pv, key=lambda x: (x[0]["query_percent"], x[0]["matched_query_frames"]),
                                         default=None),
                "max_matched_frames": max(pv, key=lambda x: x[0]["matched_query_frames"], default=None),
                "tmk_pairs": len(pt),
                "max_level1": max(pt, key=lambda x: x[0], default=None),
                "max_level2": max(pt, key=lambda x: x[1], default=None),
            }
        kinds = Counter(kind_of[p] for p in videos)
        n_pairs_vid = len(videos) * len(set(listed_vid) | set(tmk_names))
        print(f"\nVIDEOS: {len(videos)} distractor videos ({dict(kinds)}); {len(set(listed_vid) | set(tmk_names))} listed originals "
              f"({a.video_corpus}); hash --views all {t_hash:.0f}s, scan --views none {t_none:.0f}s, "
              f"scan (default views) {t_all:.0f}s")
        print("| | --views none | default views |")
        print("|---|---:|---:|")
        print(f"| distractor videos matched by `scan` (lists images, videos, tmk) | "
              + ("not run" if a.skip_scan_none else f"{len(fp['none'])}/{len(videos)}")
              + f" | {len(fp['all'])}/{len(videos)} |")
        print(f"| video comparisons (distractor x listed video), false per million | "
              + ("-" if a.skip_scan_none else
                 f"{bound(sum(len(v) for v in fp['none'].values()), n_pairs_vid)} of {n_pairs_vid:,}") + " | "
              f"{bound(sum(len(v) for v in fp['all'].values()), n_pairs_vid)} of {n_pairs_vid:,} |")
        print(f"| frame hash comparisons (unique good frames x {len(lf)} listed frames) | {rec_n:,} | {all_n:,} "
              f"(views and between frames, from `hash --views all`) |")
        print(f"| false frame pairs (<= {THRESHOLD}), per million | {rec_pairs}, {bound(rec_pairs, rec_n)} | "
              f"{all_pairs}, {bound(all_pairs, all_n)} |")
        print(f"| closest distractor frame to a listed frame | {rec_best} | {all_best} |")

        def cell(x, f):
            return "-" if x is None else f(x)
        for name in ("none", "all"):
            if name == "none" and a.skip_scan_none:
                continue
            pr = probe[name]
            print(f"| probe ({name}): distractor videos with any frame within {THRESHOLD} of a listed video | "
                  f"{pr['videos_with_a_frame_within_31']} ({pr['vpdq_pairs_with_a_frame_within_31']} pairs) | |")
            print(f"| probe ({name}): highest vPDQ target % / clip query % (matched frames) | "
                  + cell(pr["max_target_percent"], lambda x: f"{x[0]['target_percent']:.1f}% ({Path(x[1]).name})")
                  + " / " + cell(pr["max_query_percent"], lambda x: f"{x[0]['query_percent']:.1f}% "
                                 f"({x[0]['matched_query_frames']} frames, {Path(x[1]).name})")
                  + " | rule: 80 % / 80 % and >= 3 frames |")
            print(f"| probe ({name}): highest TMK level-1 / level-2 over the {pr['tmk_pairs']} pairs with level-1 >= 0 | "
                  + cell(pr["max_level1"], lambda x: f"{x[0]:.3f} ({Path(x[2]).name})") + " / "
                  + cell(pr["max_level2"], lambda x: f"{x[1]:.3f} ({Path(x[2]).name})") + " | rule: 0.7 and 0.7 |")
        print(f"\nclosest frame: distance {closest[0]} in {closest[1]}")
        for name in ("none", "all"):
            for p, v in sorted(fp[name].items()):
                print(f"FP (views {name}): {p} [{kind_of.get(p)}]: {'; '.join(v)}")
        result["videos_result"] = {"fp_none": fp["none"], "fp_all": fp["all"], "closest_frame": closest,
                                   "frames": [rec_best, rec_pairs, rec_n, all_best, all_pairs, all_n],
                                   "probe": {k: {kk: (vv if not isinstance(vv, tuple) else str(vv))
                                                 for kk, vv in v.items()} for k, v in probe.items()}}
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
