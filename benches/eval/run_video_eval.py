#!/usr/bin/env python3
"""Video views evaluation (issue #7): recall per edit and false positives.

Reads the corpus of build_video_corpus.py. The "list" is Meta's reference
vPDQ (PyPI `vpdq`, one hash a second) of the originals, as a shared list
would hold it. Every edited copy and every distractor is compared with every
listed original under ONE rule, the same for all methods (and the defaults
of `hashsieve db list-create`): frames with quality < --quality are
dropped, frames deduplicated by hash; a pair matches when

  vPDQ rule: >= --target-percent of the listed video's unique frames are
             within --distance of some query frame, or
  clip rule: >= --query-percent of the query's unique frames are within
             --distance of some listed frame, and at least --min-clip-frames.

Methods:
  reference     query hashed with PyPI vpdq, compared here in Python
  record        query hashed with `hashsieve hash --format vpdq`, compared here
  scan-none     the product path: a hashsieve database holding the reference
                hashes (imported from vPDQ text files), `hashsieve scan
                --views none`; hits read from the match records
  scan-views    the same, `hashsieve scan` with its default views

Recall of an edit = share of listed originals whose edited copy hits its own
original. "wrong" = edited copies hitting another original. FP = distractor
videos (unedited and edited) hitting any listed original. Originals whose
reference hash has no frame of quality >= --quality cannot be listed (a list
would not hold them) and are left out, and reported.

Usage: python3 benches/eval/run_video_eval.py [--corpus benches/out/eval-video]
       [--bin target/release/hashsieve] [--distance 31] [--quality 50]
       [--target-percent 80] [--query-percent 80] [--min-clip-frames 5]
       [--jobs 2] [--json FILE] [--sweep-min-clip 2,3,4,5]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Pool
from pathlib import Path


def ref_features(path):
    """[(frame, quality, hex, timestamp)] of Meta's vPDQ (PyPI) at one hash a second."""
    import vpdq
    fs = vpdq.computeHash(str(path), seconds_per_hash=1, thread_count=1)
    return str(path), [(f.frame_number, f.quality, f.hex, f.timestamp) for f in fs]


def our_features(args):
    """The same from `hashsieve hash --format vpdq` (our hash of record)."""
    binary, path = args
    r = subprocess.run([binary, "hash", "--format", "vpdq", "--threads", "1", "--video-threads", "1", str(path)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"hashsieve hash failed on {path}: {r.stderr.strip()}", file=sys.stderr)
        return str(path), None
    out = []
    for line in r.stdout.splitlines():
        fr, q, h, ts = line.split(",")
        out.append((int(fr), int(q), h, float(ts)))
    return str(path), out


def unique_good(feats, min_q):
    return sorted({h for _, q, h, _ in feats if q >= min_q})


def popcount(x):
    return bin(x).count("1")


class Rule:
    def __init__(self, a):
        self.d, self.q = a.distance, a.quality
        self.tp, self.qp, self.mc = a.target_percent, a.query_percent, a.min_clip_frames

    def match(self, query, target):
        """'vpdq' / 'clip' / None for query and target lists of unique hash ints."""
        if not query or not target:
            return None
        q_hit = sum(any(popcount(x ^ t) <= self.d for t in target) for x in query)
        t_hit = sum(any(popcount(x ^ t) <= self.d for x in query) for t in target)
        if 100.0 * t_hit / len(target) >= self.tp:
            return "vpdq"
        if 100.0 * q_hit / len(query) >= self.qp and q_hit >= self.mc:
            return "clip"
        return None


def scan(binary, db, paths, views, jobs, extra=()):
    """{path: [(original name, rule, view)]} from `hashsieve scan --format jsonl`."""
    cmd = [binary, "scan", "--db", str(db), "--format", "jsonl", "--no-state", "--no-progress",
           "--threads", str(jobs), "--video-threads", "1"] + (["--views", views] if views else []) + \
        list(extra) + [str(p) for p in paths]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd[:12])} ... failed ({r.returncode}):\n{r.stderr[-3000:]}")
    out = {}
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        if rec.get("error"):
            print(f"scan error on {rec['path']}: {rec['error']}", file=sys.stderr)
        hits = []
        for m in rec.get("matches") or []:
            if m.get("suppressed"):
                continue
            name = next((lab.split(":", 1)[1] for lab in m.get("labels", []) if lab.startswith("original:")), None)
            hits.append((name, (m.get("vpdq") or {}).get("rule", m.get("hit_by")), m.get("view", "original")))
        out[str(Path(rec["path"]).resolve())] = hits
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="benches/out/eval-video")
    ap.add_argument("--bin", default="target/release/hashsieve")
    ap.add_argument("--distance", type=int, default=31)
    ap.add_argument("--quality", type=int, default=50)
    ap.add_argument("--target-percent", type=float, default=80)
    ap.add_argument("--query-percent", type=float, default=80)
    ap.add_argument("--min-clip-frames", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", help="also write the results as JSON here")
    ap.add_argument("--sweep-min-clip", default="",
                    help="comma-separated clip minimums (frames) to try on the product path: one more "
                         "`scan` (default views, `--min-clip-frames N`) each, printed as recall per edit "
                         "and false positives per N (issue 16: the default that finds short excerpts)")
    a = ap.parse_args()
    corpus = Path(a.corpus)
    man = json.loads((corpus / "manifest.json").read_text())
    items = man["items"]
    for it in items:
        it["path"] = str(Path(it["path"]).resolve())
    rule = Rule(a)

    t0 = time.time()
    with Pool(a.jobs) as pool:
        ref = dict(pool.map(ref_features, [it["path"] for it in items], chunksize=2))
    t_ref = time.time() - t0
    t0 = time.time()
    with ThreadPoolExecutor(a.jobs) as pool:
        ours = dict(pool.map(our_features, [(a.bin, it["path"]) for it in items]))
    t_ours = time.time() - t0
    print(f"hashed {len(items)} videos: reference vpdq {t_ref:.1f}s, hashsieve hash --format vpdq {t_ours:.1f}s "
          f"({a.jobs} at a time)", file=sys.stderr)

    # Conformance of our hash of record on the originals (same frames, hashes, qualities).
    origs = {it["original"]: it["path"] for it in items if it["role"] == "original" and it["edit"] == "none"}
    same_frames = total_frames = 0
    for n, p in origs.items():
        r, o = ref[p], ours[p] or []
        total_frames += len(r)
        same_frames += sum(1 for x, y in zip(r, o) if x[:3] == y[:3])
    print(f"conformance: {same_frames}/{total_frames} frames of the originals identical "
          "(frame number, quality, hash) in ours and the reference", file=sys.stderr)

    listed, unlisted = {}, []
    for n, p in origs.items():
        u = unique_good(ref[p], a.quality)
        if u:
            listed[n] = [int(h, 16) for h in u]
        else:
            unlisted.append(n)

    # The product path: a database with the reference hashes of the listed originals.
    tmp = tempfile.TemporaryDirectory(prefix="hashsieve-video-eval-")
    db = Path(tmp.name) / "eval.db"

    def hs(*args):
        r = subprocess.run([a.bin, "db", "--db", str(db)] + list(args), capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"hashsieve db {' '.join(args)} failed:\n{r.stderr}")

    hs("init")
    hs("list-create", "ref", "--threshold", str(a.distance), "--quality", str(a.quality),
       "--vpdq-target-percent", str(a.target_percent), "--vpdq-query-percent", str(a.query_percent),
       "--min-clip-frames", str(a.min_clip_frames))
    for n in listed:
        f = Path(tmp.name) / f"{n}.vpdq"
        f.write_text("".join(f"{fr},{q},{h},{ts:.3f}\n" for fr, q, h, ts in ref[origs[n]]))
        hs("import", "ref", "--format", "vpdq", "--label", f"original:{n}", str(f))

    queries = [it for it in items if it["role"] == "original" and it["edit"] != "none"]
    dists = [it for it in items if it["role"] == "distractor"]
    scan_paths = [it["path"] for it in queries + dists]
    t0 = time.time()
    scan_none = scan(a.bin, db, scan_paths, "none", a.jobs)
    t_none = time.time() - t0
    t0 = time.time()
    scan_all = scan(a.bin, db, scan_paths, None, a.jobs)  # the default views
    t_all = time.time() - t0
    print(f"scan of {len(scan_paths)} videos: --views none {t_none:.1f}s, default views {t_all:.1f}s",
          file=sys.stderr)

    def py_hits(feats):
        if feats is None:
            return []
        q = [int(h, 16) for h in unique_good(feats, a.quality)]
        return [(n, r, "original") for n, t in listed.items() for r in [rule.match(q, t)] if r]

    methods = ["reference", "record", "scan-none", "scan-views"]

    def hits(it, m):
        p = it["path"]
        if m == "reference":
            return py_hits(ref[p])
        if m == "record":
            return py_hits(ours[p])
        return (scan_none if m == "scan-none" else scan_all).get(p, [])

    edits = man["edits"]
    table = {e: {m: [0, 0, 0] for m in methods} for e in edits}  # ok, wrong, tried
    view_wins = defaultdict(Counter)
    rule_wins = defaultdict(Counter)
    misses = defaultdict(list)
    for it in queries:
        n = it["original"]
        if n not in listed:
            continue
        for m in methods:
            h = hits(it, m)
            row = table[it["edit"]][m]
            row[2] += 1
            own = [x for x in h if x[0] == n]
            if not own:
                misses[(it["edit"], m)].append(n)
            if own:
                row[0] += 1
                rule_wins[(it["edit"], m)][own[0][1]] += 1
                if m == "scan-views":
                    view_wins[it["edit"]][own[0][2]] += 1
            if any(x[0] != n for x in h):
                row[1] += 1
    fp = {m: 0 for m in methods}
    fp_detail = defaultdict(list)
    for it in dists:
        for m in methods:
            h = hits(it, m)
            if h:
                fp[m] += 1
                fp_detail[m].append(f"{it['edit']}/{it['name']}->{h[0][0]} ({h[0][1]}, {h[0][2]})")

    n_l = len(listed)
    print(f"\n{n_l} listed originals ({len(unlisted)} left out, no frame of quality >= {a.quality}: "
          f"{', '.join(unlisted) or '-'}); {len(dists)} distractor videos "
          f"({len(man['distractors'])} unrelated x (unedited + {len(man['distractor_edits'])} edits)); "
          f"rule: distance <= {a.distance}, quality >= {a.quality}, vPDQ {a.target_percent:g}% of the listed "
          f"video OR clip {a.query_percent:g}% of the query and >= {a.min_clip_frames} frames\n")
    print("| edit | reference (PyPI vpdq) | ours: record (hash --format vpdq) | ours: scan --views none "
          "| ours: scan (default views) | scan views: which view hit (rule) |")
    print("|---|---:|---:|---:|---:|---|")
    for e in edits:
        cells = []
        for m in methods:
            ok, wrong, tried = table[e][m]
            cells.append(f"{ok}/{tried}" + (f" (+{wrong} wrong)" if wrong else ""))
        wins = ", ".join(f"{v} {k}" for v, k in view_wins[e].most_common())
        rules = ", ".join(f"{r} {k}" for r, k in rule_wins[(e, 'scan-views')].most_common())
        print(f"| {e} | {' | '.join(cells)} | {wins}{f' ({rules})' if rules else ''} |")
    tot = {m: sum(table[e][m][0] for e in edits) for m in methods}
    tried = sum(table[e]["reference"][2] for e in edits)
    print("| **all edits** | " + " | ".join(f"{tot[m]}/{tried} ({100 * tot[m] / max(1, tried):.0f}%)"
                                          for m in methods) + " | |")
    print("| **FP: distractor videos hitting a listed original** | " +
          " | ".join(f"{fp[m]}/{len(dists)}" for m in methods) + " | |")
    print("| **edited originals hitting another original** | " +
          " | ".join(str(sum(table[e][m][1] for e in edits)) for m in methods) + " | |")
    print("\nmisses (reference | scan default views):")
    for e in edits:
        print(f"  {e}: {', '.join(misses[(e, 'reference')]) or '-'} | {', '.join(misses[(e, 'scan-views')]) or '-'}")
    for m in methods:
        if fp_detail[m]:
            print(f"\nFP {m}: " + "; ".join(fp_detail[m]))
    sweep = {}
    for n_min in [int(x) for x in a.sweep_min_clip.split(",") if x]:
        got = scan(a.bin, db, scan_paths, None, a.jobs, ["--min-clip-frames", str(n_min)])
        per_edit = {}
        for e in edits:
            its = [it for it in queries if it["edit"] == e and it["original"] in listed]
            per_edit[e] = (sum(any(x[0] == it["original"] for x in got.get(it["path"], [])) for it in its), len(its))
        fps = [f"{it['edit']}/{it['name']}->{got[it['path']][0][0]} ({got[it['path']][0][1]}, "
               f"{got[it['path']][0][2]})" for it in dists if got.get(it["path"])]
        wrong = sum(any(x[0] != it["original"] for x in got.get(it["path"], [])) for it in queries)
        sweep[n_min] = {"per_edit": per_edit, "fp": fps, "wrong": wrong}
    if sweep:
        print(f"\nclip minimum sweep (scan, default views, --min-clip-frames N; {len(dists)} distractor videos):\n")
        ns = list(sweep)
        print("| edit | " + " | ".join(f"N = {n}" for n in ns) + " |")
        print("|---|" + "---:|" * len(ns))
        for e in edits:
            print(f"| {e} | " + " | ".join("%d/%d" % sweep[n]["per_edit"][e] for n in ns) + " |")
        tot = {n: sum(v[0] for v in sweep[n]["per_edit"].values()) for n in ns}
        tried = sum(v[1] for v in sweep[ns[0]]["per_edit"].values())
        print("| **all edits** | " + " | ".join(f"{tot[n]}/{tried}" for n in ns) + " |")
        print("| **FP: distractor videos hitting a listed original** | " +
              " | ".join(f"{len(sweep[n]['fp'])}/{len(dists)}" for n in ns) + " |")
        print("| **edited originals hitting another original** | " +
              " | ".join(str(sweep[n]["wrong"]) for n in ns) + " |")
        for n in ns:
            if sweep[n]["fp"]:
                print(f"\nFP at N = {n}: " + "; ".join(sweep[n]["fp"]))
    if a.json:
        Path(a.json).write_text(json.dumps({"sweep": sweep, "table": table, "fp": fp, "fp_detail": fp_detail,
                                            "listed": list(listed),
                                            "unlisted": unlisted, "views": view_wins}, indent=1, default=dict))


if __name__ == "__main__":
    main()
