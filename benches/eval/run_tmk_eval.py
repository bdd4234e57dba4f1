#!/usr/bin/env python3
"""TMK+PDQF on the video evaluation corpus (issue 12): recall per edit and
false positives of the plain TMK and of its query-side views (the mirrored
TMK, `flipx`; the letterbox-trimmed TMK, `letterbox`, and it mirrored,
`letterbox+flipx`), with and without them.

Reads the corpus of build_video_corpus.py. The "list" is the TMK+PDQF of
the originals as `hashsieve hash --format tmk` writes it (byte-identical to
Meta's tmk-hash-video on the conformance videos), imported from the `.tmk`
files into a list that holds nothing else, with the default thresholds
(level-1 and level-2 >= 0.7) and the list quality gate of --list-quality
(50 by default, a new list's: a video none of whose sampled frames reaches
it is not matched by TMK; 0 gives Meta's verdicts). Every edited copy and every distractor is
scanned twice by the product path:

  tmk           `hashsieve scan --views none`: the plain TMK only
  tmk+views     `hashsieve scan` with its default views: the plain TMK,
                then its views for entries nothing before them hit

Only TMK hits count (the list has no other signal). Recall of an edit =
share of originals whose edited copy hits its own original; "wrong" =
edited copies hitting another original; FP = distractor videos (unedited
and edited) hitting any original.

Usage: python3 benches/eval/run_tmk_eval.py [--corpus benches/out/eval-video]
       [--bin target/release/hashsieve] [--jobs 2] [--json FILE] [--edits a,b,...]
       [--list-quality 50]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path


def scan(binary, db, paths, views, jobs):
    """{path: [(original name, view, level1, level2)]} of the TMK hits."""
    cmd = [binary, "scan", "--db", str(db), "--format", "jsonl", "--no-state", "--no-progress",
           "--threads", str(jobs), "--video-threads", "1", "--views", views] + [str(p) for p in paths]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd[:12])} ... failed ({r.returncode}):\n{r.stderr[-3000:]}")
    out = {}
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        if rec.get("error"):
            print(f"scan error on {rec['path']}: {rec['error']}", file=sys.stderr)
        if (rec.get("video") or {}).get("tmk_error"):
            print(f"no TMK for {rec['path']}: {rec['video']['tmk_error']}", file=sys.stderr)
        hits = [(m.get("external_id"), m.get("view", "original"), m.get("level1"), m.get("level2"))
                for m in rec.get("matches") or []
                if m.get("hit_by") == "tmk_pdqf" and not m.get("suppressed")]
        out[str(Path(rec["path"]).resolve())] = hits
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="benches/out/eval-video")
    ap.add_argument("--bin", default="target/release/hashsieve")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", help="also write the results as JSON here")
    ap.add_argument("--list-quality", type=int, default=50,
                    help="the list's PDQ quality gate (default 50, a new list's): a video none of whose sampled "
                         "frames reaches it is not matched by TMK; 0 = no gate, Meta's reference verdicts")
    ap.add_argument("--edits", help="comma-separated edits of the originals to scan (default: all of the "
                    "corpus's); the distractors are always scanned")
    a = ap.parse_args()
    man = json.loads((Path(a.corpus) / "manifest.json").read_text())
    items = man["items"]
    for it in items:
        it["path"] = str(Path(it["path"]).resolve())
    origs = {it["original"]: it["path"] for it in items if it["role"] == "original" and it["edit"] == "none"}

    tmp = tempfile.TemporaryDirectory(prefix="hashsieve-tmk-eval-")
    db = Path(tmp.name) / "eval.db"
    tmk_dir = Path(tmp.name) / "tmk"
    tmk_dir.mkdir()

    def run(*args):
        r = subprocess.run([a.bin] + list(args), capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"hashsieve {' '.join(args[:6])} failed:\n{r.stderr}")
        return r.stdout

    # One folder per original, so each .tmk is named after its original.
    for n, p in origs.items():
        d = tmk_dir / n
        d.mkdir()
        run("hash", "--format", "tmk", "--output-dir", str(d), "--threads", "1", p)
        (next(d.glob("*.tmk"))).rename(tmk_dir / f"{n}.tmk")
        d.rmdir()
    run("db", "--db", str(db), "init")
    run("db", "--db", str(db), "list-create", "tmk", "--quality", str(a.list_quality))
    run("db", "--db", str(db), "import", "tmk", str(tmk_dir))

    edits = man["edits"]
    if a.edits:
        edits = [e for e in a.edits.split(",") if e in man["edits"]]
    queries = [it for it in items if it["role"] == "original" and it["edit"] in edits]
    dists = [it for it in items if it["role"] == "distractor"]
    paths = [it["path"] for it in queries + dists]
    t0 = time.time()
    plain = scan(a.bin, db, paths, "none", a.jobs)
    t_plain = time.time() - t0
    t0 = time.time()
    views = scan(a.bin, db, paths, "all", a.jobs)
    t_views = time.time() - t0
    print(f"scan of {len(paths)} videos against {len(origs)} listed TMK hashes: --views none {t_plain:.1f}s, "
          f"--views all {t_views:.1f}s ({a.jobs} at a time; the views' time is mostly vPDQ's views)",
          file=sys.stderr)

    methods = {"tmk": plain, "tmk+views": views}
    table = {e: {m: [0, 0, 0] for m in methods} for e in edits}
    view_wins = defaultdict(Counter)
    for it in queries:
        n = it["original"]
        for m, res in methods.items():
            h = res.get(it["path"], [])
            row = table[it["edit"]][m]
            row[2] += 1
            own = [x for x in h if x[0] == n]
            if own:
                row[0] += 1
                if m == "tmk+views":
                    view_wins[it["edit"]][own[0][1]] += 1
            if any(x[0] != n for x in h):
                row[1] += 1
    fp = {m: [f"{it['edit']}/{Path(it['path']).stem}->{res[it['path']][0][0]} ({res[it['path']][0][1]})"
              for it in dists if res.get(it["path"])] for m, res in methods.items()}

    print(f"\n{len(origs)} listed originals (TMK+PDQF, level-1 and level-2 >= 0.7, list quality gate "
          f"{a.list_quality}); "
          f"{len(dists)} distractor videos\n")
    print("| edit | TMK (--views none) | TMK + views (--views all) | which view hit |")
    print("|---|---:|---:|---|")
    for e in edits:
        cells = []
        for m in methods:
            ok, wrong, tried = table[e][m]
            cells.append(f"{ok}/{tried}" + (f" (+{wrong} wrong)" if wrong else ""))
        wins = ", ".join(f"{v} {k}" for k, v in view_wins[e].most_common())
        print(f"| {e} | {' | '.join(cells)} | {wins} |")
    tried = sum(table[e]["tmk"][2] for e in edits)
    print("| **all edits** | " + " | ".join(
        f"{sum(table[e][m][0] for e in edits)}/{tried} ({100 * sum(table[e][m][0] for e in edits) / max(1, tried):.0f}%)"
        for m in methods) + " | |")
    print("| **FP: distractor videos hitting a listed original** | " +
          " | ".join(f"{len(fp[m])}/{len(dists)}" for m in methods) + " | |")
    print("| **edited originals hitting another original** | " +
          " | ".join(str(sum(table[e][m][1] for e in edits)) for m in methods) + " | |")
    for m in methods:
        if fp[m]:
            print(f"\nFP {m}: " + "; ".join(fp[m]))
    if a.json:
        Path(a.json).write_text(json.dumps({"table": table, "fp": fp, "views": view_wins}, indent=1, default=dict))


if __name__ == "__main__":
    main()
