#!/usr/bin/env python3
"""Score distributions of the TMK+PDQF query-side views (issue 16): what a
view gate (`TMK_VIEW_MARGIN` in src/matching/views.rs) costs and removes.

Every view's level-1 / level-2 of every (query, listed original) pair,
computed by examples/tmk_view_scores.rs (a scan reports only the first
view that reaches an entry, so it cannot show these):

  true copies  each edited copy of the video corpus against its own
               original: per edit and view, min / median / max of
               min(level-1, level-2) (the score a gate on both levels sees)
  distractors  every distractor video of build_distractors.py's set (and
               the corpus's own distractors) against every listed
               original: per view, the highest pair, and how many videos
               pass level-1 and level-2 >= t for several t

Usage: python3 benches/eval/run_tmk_views.py [--corpus benches/out/eval-video]
       [--distractors benches/out/distractors] [--bin target/release/hashsieve]
       [--scores target/release/examples/tmk_view_scores] [--jobs 2] [--json FILE]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

VIEWS = ("original", "flipx", "letterbox", "letterbox+flipx", "band", "band+flipx",
         "rotate90", "rotate180", "rotate270", "flipy", "flipplus1", "flipminus1")
CUTS = (0.7, 0.75, 0.8, 0.85, 0.9)
FLOOR = 0.8  # TMK_VIEW_FLOOR in src/matching/views.rs
TURN_FLOOR = 0.85  # TMK_TURN_FLOOR there: the six turns other than the mirror
DEFAULT_GATE = 25  # ListInfo::tmk_quality_gate of a list with the default PDQ gate (50)
TURNS = ("rotate90", "rotate180", "rotate270", "flipy", "flipplus1", "flipminus1")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="benches/out/eval-video")
    ap.add_argument("--distractors", default="benches/out/distractors")
    ap.add_argument("--bin", default="target/release/hashsieve")
    ap.add_argument("--scores", default="target/release/examples/tmk_view_scores")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    man = json.loads((Path(a.corpus) / "manifest.json").read_text())
    items = man["items"]
    for it in items:
        it["path"] = str(Path(it["path"]).resolve())
    origs = {it["original"]: it["path"] for it in items if it["role"] == "original" and it["edit"] == "none"}
    copies = [it for it in items if it["role"] == "original" and it["edit"] != "none"]
    dman = json.loads((Path(a.distractors) / "manifest.json").read_text())
    dists = {str(Path(x["path"]).resolve()): f"{x['kind']}/{Path(x['path']).stem}" for x in dman["videos"]
             if Path(x["path"]).exists()}
    for it in items:
        if it["role"] == "distractor":
            dists[it["path"]] = f"corpus-{it['edit']}/{Path(it['path']).stem}"

    tmp = tempfile.TemporaryDirectory(prefix="hashsieve-tmk-views-")
    tmk_dir = Path(tmp.name) / "tmk"
    tmk_dir.mkdir()
    for n, p in origs.items():
        d = Path(tmp.name) / "out" / n
        subprocess.run([a.bin, "hash", "--format", "tmk", "--output-dir", str(d), "--threads", "1", p],
                       check=True, capture_output=True)
        next(d.glob("*.tmk")).rename(tmk_dir / f"{n}.tmk")
    # The originals too, only for their own best frame quality.
    paths = [it["path"] for it in copies] + list(dists) + list(origs.values())
    r = subprocess.run([a.scores, str(tmk_dir)] + paths, capture_output=True, text=True,
                       env={**os.environ, "THREADS": str(a.jobs)})
    if r.returncode != 0:
        sys.exit(f"{a.scores} failed:\n{r.stderr[-3000:]}")
    sc = defaultdict(dict)  # path -> view -> {name: (l1, l2)}
    best_q = {}  # path -> best sampled frame's PDQ quality (what gates its TMK)
    for line in r.stdout.splitlines():
        j = json.loads(line)
        path = str(Path(j["path"]).resolve())
        sc[path][j["view"]] = {k: tuple(v) for k, v in j["scores"].items()}
        best_q[path] = j.get("best_quality")

    # ---- true copies ----
    edit_of = {}
    true = defaultdict(lambda: defaultdict(list))  # edit -> view -> [(min, l1, l2, name)]
    for it in copies:
        edit_of[it["path"]] = it["edit"]
        for v, s in sc.get(it["path"], {}).items():
            l1, l2 = s[it["original"]]
            true[it["edit"]][v].append((min(l1, l2), l1, l2, it["original"]))
    print(f"TRUE COPIES: each edited copy against its own original ({len(origs)} originals); "
          "min(level-1, level-2) per view: n, min / median / max, and how many reach 0.7 / 0.8 / 0.85")
    print("| edit | " + " | ".join(VIEWS) + " |")
    print("|---|" + "---|" * len(VIEWS))
    for e in man["edits"]:
        if e == "none":
            continue
        cells = []
        for v in VIEWS:
            xs = sorted(x[0] for x in true[e][v])
            if not xs:
                cells.append("-")
                continue
            cells.append(f"{len(xs)}: {xs[0]:.3f} / {statistics.median(xs):.3f} / {xs[-1]:.3f} "
                         f"({sum(x >= 0.7 for x in xs)}/{sum(x >= 0.8 for x in xs)}/{sum(x >= 0.85 for x in xs)})")
        print(f"| {e} | " + " | ".join(cells) + " |")

    # ---- distractors ----
    print(f"\nDISTRACTORS: {len(dists)} videos x {len(origs)} listed originals, every view's score of every pair")
    print("| view | videos scored | highest min(level-1, level-2) (pair, level-1 / level-2) | "
          + " | ".join(f"videos >= {c}" for c in CUTS) + " |")
    print("|---|---:|---|" + "---:|" * len(CUTS))
    dres = {}
    for v in VIEWS:
        best = []
        for p, name in dists.items():
            s = sc.get(p, {}).get(v)
            if not s:
                continue
            k, (l1, l2) = max(s.items(), key=lambda kv: min(kv[1]))
            best.append((min(l1, l2), l1, l2, name, k))
        best.sort(reverse=True)
        dres[v] = best[:10]
        top = best[0] if best else None
        print(f"| {v} | {len(best)} | " + (f"{top[0]:.3f} ({top[3]} vs {top[4]}, {top[1]:.3f} / {top[2]:.3f})"
                                          if top else "-")
              + " | " + " | ".join(str(sum(b[0] >= c for b in best)) for c in CUTS) + " |")

    def found(views, want, t):
        """Names among `want` reached by some view of `views` at its gate."""
        hit = set()
        for v, s in views.items():
            g = t if v == "original" else max(t, TURN_FLOOR if v in TURNS else FLOOR)
            hit |= {k for k, (l1, l2) in s.items() if k in want and l1 >= g and l2 >= g}
        return hit

    # ---- what a query quality gate g would do (list thresholds 0.7) ----
    print("\nQUERY QUALITY GATE (a video whose best sampled frame is below g is not matched by TMK; plain "
          f"TMK at 0.7, views at {FLOOR}, the six other turns at {TURN_FLOOR}); originals' best quality: "
          + ", ".join(f"{n} {best_q.get(p)}" for n, p in sorted(origs.items(), key=lambda x: best_q.get(x[1]) or 0)))
    print("| g | copies found (all edits) | copies lost to the gate, by original | distractor videos matched |")
    print("|---|---:|---|---:|")
    gates = {}
    for g in (0, 10, 20, 25, 30, 35, 40, 50):
        passes = lambda p: (best_q.get(p) or 0) >= g  # noqa: E731
        lost = defaultdict(int)
        n = 0
        for it in copies:
            hit = bool(found(sc.get(it["path"], {}), {it["original"]}, 0.7))
            n += hit and passes(it["path"])
            if hit and not passes(it["path"]):
                lost[it["original"]] += 1
        fp = [name for p, name in dists.items() if passes(p) and found(sc.get(p, {}), set(origs), 0.7)]
        gates[g] = {"copies": n, "lost": dict(lost), "fp": sorted(fp)}
        print(f"| {g} | {n}/{len(copies)} | " + (", ".join(f"{k} {v}" for k, v in sorted(lost.items())) or "-")
              + f" | {len(fp)}/{len(dists)} ({', '.join(sorted(fp))}) |")
    fp_q = sorted((best_q.get(p), name) for p, name in dists.items() if found(sc.get(p, {}), set(origs), 0.7))
    print("distractors matched at 0.7 and their best quality: " + ", ".join(f"{n} {q}" for q, n in fp_q))

    # ---- what a list threshold t would do, views at max(t, their floor) ----
    print(f"\nLIST THRESHOLDS (level-1 = level-2 = t for the plain TMK, views at max(t, {FLOOR}), the six "
          f"other turns at max(t, {TURN_FLOOR}); the default quality gate, {DEFAULT_GATE}), "
          "from the scores above")
    print("| t | copies found (all edits) | hflip, letterbox_20, pillarbox_20, pad_43 | distractor videos matched |")
    print("|---|---:|---|---:|")
    def gated(p):
        return (best_q.get(p) or 0) >= DEFAULT_GATE

    for t in CUTS:
        per = defaultdict(int)
        for it in copies:
            per[it["edit"]] += gated(it["path"]) and bool(found(sc.get(it["path"], {}), {it["original"]}, t))
        fp = [name for p, name in dists.items() if gated(p) and found(sc.get(p, {}), set(origs), t)]
        print(f"| {t} | {sum(per.values())}/{len(copies)} | "
              + ", ".join(str(per[e]) for e in ("hflip", "letterbox_20", "pillarbox_20", "pad_43"))
              + f" | {len(fp)}/{len(dists)} ({', '.join(sorted(fp))}) |")
    print("\ntop distractor pairs per view (min, level-1, level-2, video, listed):")
    for v in VIEWS:
        print(f"  {v}: " + "; ".join(f"{m:.3f} ({l1:.3f}/{l2:.3f}) {n}->{k}" for m, l1, l2, n, k in dres[v][:5]))
    if a.json:
        Path(a.json).write_text(json.dumps({"true": {e: dict(vv) for e, vv in true.items()}, "distractors": dres,
                                           "quality_gates": gates, "best_quality": best_q},
                                           indent=1))


if __name__ == "__main__":
    main()
