#!/usr/bin/env python3
"""List-side enrollment evaluation (issue 16): recall per edit and the
false-positive cost of storing derived hashes (`db add --derive`).

Reads the corpus of build_corpus.py. The listed originals (reference PDQ
quality >= --quality, as in run_eval.py) are enrolled with
`hashsieve db add --no-digests --derive all` into a scratch database, one
call per original, and the list is read back with `db export --format
jsonl` (which keeps the `derived:` labels). Each derived set to compare
(--sets) is then a subset of those entries, chosen by label, so one
enrollment serves every set:

  crops            derived:crop=center-*
  sides            derived:crop=left-*, right-*, top-*, bottom-*
  corners          derived:crop=top-left-* ... bottom-right-*
  rotations        derived:rotate=*
  rotations-black  derived:rotate-black=*
  shifts           derived:crop=split-*-5, split-*-10
  shifts-wide      derived:crop=split-*-15, split-*-20
  compact          all of them but shifts-wide (the default before the
                   second round of issue 16)
  default, all     all of them (`db add --derive`'s default also drops
                   near repeats: default@8)
  old              the default before the shifts and black turns:
                   crops:5/10/15/20,sides:5/10/15/20,corners:10/20,rotations:3/5/7
  (a family:PARAMS item keeps only those parameters, /-separated, e.g.
  rotations:3/5 or crops:7.5/12.5; a set ending in @BITS, e.g. all@8,
  also drops each derived entry within BITS of the hash of record or of
  an entry kept before it for the same original, as `db add
  --derive-min-distance BITS` does: the enrollment itself uses
  --derive-min-distance 0 so that every set sees every value)

Queries are hashed two ways, as in run_eval.py: `reference` (Meta's PDQ
through PyPI `pdqhash` on Pillow pixels: a partner matching with plain
PDQ) and `views` (our hash with `--views=all`). Each is matched against
the plain list ("before") and against the list plus each derived set
("after"), with the same rule: distance <= --distance, both qualities >=
--quality. A hit of an edited original on *its own* original counts for
recall; a hit on another original is a wrong match. False positives: the
distractor files (every edit of every distractor, and random tiles) that
hit any list hash; the closest any distractor hash comes to a list hash;
and the false hash pairs per million comparisons (distractor hashes x
list hashes; when none, the rule-of-three 95 % bound 3/comparisons).

--large-distractors DIR (build_distractors.py's set, e.g. benches/out/distractors)
also hashes every picture under DIR/images with `hash --views=all` and
reports, per derived set, the pictures hitting the list, the closest
distance and the false pairs per million, against the same list.

Usage: python3 benches/eval/run_enroll_eval.py [--corpus benches/out/eval16b]
       [--bin target/release/hashsieve] [--sets old;compact;default@8;all]
       [--distance 31] [--quality 50] [--jobs 2] [--json FILE] [--large-distractors DIR]
       [--hash-cache DIR]
(Needs PIL, numpy and pdqhash: /root/.cache/hashsieve/pytx-venv/bin/python.)
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from multiprocessing import Pool
from pathlib import Path

import numpy as np

FAMILIES = {
    "crops": lambda k: k.startswith("crop=center-"),
    "sides": lambda k: k.split("=")[0] == "crop" and k.split("=")[1].split("-")[0] in ("left", "right", "top", "bottom")
    and k.count("-") == 1,
    "corners": lambda k: k.startswith("crop=") and k.count("-") == 2,
    "rotations": lambda k: k.startswith("rotate="),
    "rotations-black": lambda k: k.startswith("rotate-black="),
    "shifts": lambda k: k.startswith("crop=split-") and param(k) <= 10,
    "shifts-wide": lambda k: k.startswith("crop=split-") and param(k) > 10,
}
PRESETS = {
    # `db add --derive`'s presets: the default is every family (since the
    # second round of issue 16; add @8 for its --derive-min-distance).
    "compact": ",".join(f for f in FAMILIES if f != "shifts-wide"),
    "default": ",".join(FAMILIES),
    "all": ",".join(FAMILIES),
    "old": "crops:5/10/15/20,sides:5/10/15/20,corners:10/20,rotations:3/5/7",
}


def param(k):
    """The number in a derived label's value: 10 for crop=left-10, 7.5 for
    crop=center-7.5, 5 for rotate=-5."""
    return abs(float(k.rsplit("-", 1)[1] if k.startswith("crop=") else k.split("=")[1]))


def set_filter(spec):
    """A predicate over derived labels (without `derived:`) for one --sets item."""
    preds = []
    items = [i.strip() for i in spec.split(",")]
    items = [j for i in items for j in (PRESETS[i].split(",") if i in PRESETS else [i])]
    for item in items:
        fam, _, params = item.partition(":")
        if fam not in FAMILIES:
            sys.exit(f"unknown family {fam!r} in {spec!r}")
        keep = {float(p) for p in params.split("/") if p} if params else None
        preds.append((FAMILIES[fam], keep))
    return lambda k: any(f(k) and (keep is None or param(k) in keep) for f, keep in preds)


def ref_hash(path):
    import pdqhash
    from PIL import Image
    img = np.asarray(Image.open(path).convert("RGB"))
    bits, q = pdqhash.compute(img)
    b = bits.astype(np.uint8)
    # Both bit orders: which one is our hex is found on the originals.
    return str(path), (np.packbits(b).tobytes().hex(), np.packbits(b[::-1]).tobytes().hex()), int(q)


POP = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def to_bytes(hexes):
    return np.array([list(bytes.fromhex(h)) for h in hexes], dtype=np.uint8).reshape(-1, 32)


def distances(q, lst):
    """Hamming distances, (len(q), len(lst)), of 32-byte hash rows."""
    out = np.empty((len(q), len(lst)), dtype=np.uint16)
    for i in range(0, len(q), 256):
        x = q[i:i + 256, None, :] ^ lst[None, :, :]
        out[i:i + 256] = POP[x].sum(axis=2)
    return out


def enroll(binary, names_paths, quality):
    """(name, hex, quality, derived label or None) of every PDQ entry of the
    originals enrolled with --derive all."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, HASHSIEVE_DB=str(Path(d) / "e.db"))
        run = lambda *a: subprocess.run([binary, *a], env=env, capture_output=True, text=True, check=True)
        run("db", "init")
        run("db", "list-create", "e")
        # A binary from before --derive-min-distance kept every value but
        # exact repeats, which is what 0 asks for.
        help_text = run("db", "add", "--help").stdout
        exact = ["--derive-min-distance", "0"] if "--derive-min-distance" in help_text else []
        for n, p in names_paths:
            # Every derived value but exact repeats: the sets below drop
            # near-repeats themselves (set@BITS), as `--derive-min-distance` would.
            run("db", "add", "e", "--no-digests", "--derive", "all", *exact, "--label", f"orig:{n}", p)
        out = run("db", "export", "e", "--format", "jsonl").stdout
    entries = []
    for line in out.splitlines():
        e = json.loads(line)
        if e["signal_type"] != "pdq":
            continue
        der = [l[len("derived:"):] for l in e["labels"] if l.startswith("derived:")]
        for l in e["labels"]:
            if l.startswith("orig:"):
                entries.append((l[5:], e["value"], e.get("quality", 100), der[0] if der else None))
    return entries


def hash_views(a, folder):
    """`hash --views=all` of every file under `folder` (JSON lines). With
    --hash-cache DIR the output is kept there and read back on the next
    run: the query side does not depend on the derived sets compared, and
    hashing 11,800 pictures with every view takes a while on 2 cores.
    Delete DIR after changing the views."""
    cache = None
    if a.hash_cache:
        Path(a.hash_cache).mkdir(parents=True, exist_ok=True)
        cache = Path(a.hash_cache) / (str(Path(folder).resolve()).strip("/").replace("/", "_") + ".jsonl")
        if cache.exists():
            return cache.read_text()
    r = subprocess.run([a.bin, "hash", "--views=all", "--threads", str(a.jobs), str(folder)],
                       capture_output=True, text=True)
    # 2: some file could not be hashed (said on stderr); the rest are there.
    if r.returncode not in (0, 2):
        sys.exit(f"hash {folder} failed ({r.returncode}): {r.stderr[-2000:]}")
    if r.stderr.strip():
        print(r.stderr.strip()[-2000:], file=sys.stderr)
    out = r.stdout
    if cache:
        cache.write_text(out)
    return out


def near_dedup(rows, bits):
    """`db add --derive-min-distance BITS` on the exported entries: per
    original, in enrollment order (the hash of record first), a derived
    entry within BITS of one kept before it is dropped."""
    kept, out = defaultdict(list), []
    for e in sorted(rows, key=lambda e: e[3] is not None):  # stable: records first
        h = int(e[1], 16)
        if e[3] is not None and any(bin(h ^ k).count("1") <= bits for k in kept[e[0]]):
            continue
        kept[e[0]].append(h)
        out.append(e)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="benches/out/eval16b")
    ap.add_argument("--bin", default="target/release/hashsieve")
    ap.add_argument("--sets", default="old;compact;default@8;all",
                    help="derived sets to compare, ';'-separated (each a comma list of families)")
    ap.add_argument("--distance", type=int, default=31)
    ap.add_argument("--quality", type=int, default=50)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", help="also write the figures as JSON here")
    ap.add_argument("--hash-cache", help="keep the query side's `hash --views=all` output in this folder")
    ap.add_argument("--large-distractors", help="also compare the pictures of this distractor set (DIR/images)")
    a = ap.parse_args()
    corpus = Path(a.corpus)
    man = json.loads((corpus / "manifest.json").read_text())
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".png", ".jpg") and p.is_file())
    sets = [s for s in a.sets.split(";") if s]

    t0 = time.time()
    ours = {}
    for line in hash_views(a, corpus).splitlines():
        r = json.loads(line)
        if r.get("media") == "image" and r.get("pdq"):
            ours[r["path"]] = r
    with Pool(a.jobs) as pool:
        ref2 = {p: (b, q) for p, b, q in pool.map(ref_hash, files, chunksize=4)}
    print(f"hashed {len(files)} files in {time.time() - t0:.0f}s", file=sys.stderr)

    origs = {n: str(corpus / "originals" / f"{n}.png") for n in man["originals"]}
    order = next((i for i in (0, 1) if all(ref2[p][0][i] == ours[p]["pdq"][0]["hash"] for p in origs.values())),
                 None)
    if order is None:
        sys.exit("our hash of record differs from the reference on the PNG originals: not conformant?")
    ref = {p: (b[order], q) for p, (b, q) in ref2.items()}
    listed = [n for n, p in origs.items() if ref[p][1] >= a.quality]

    t0 = time.time()
    entries = enroll(a.bin, [(n, origs[n]) for n in listed], a.quality)
    print(f"enrolled {len(listed)} originals with --derive all in {time.time() - t0:.0f}s", file=sys.stderr)
    # How far PDQ moves when a crop window shifts: the distance between
    # neighbouring split windows of one original (the window 0 % and 12 %
    # of a 20 % cut from the left: 2.4 % of the width apart; 0 % and 25 %
    # of a 10 % cut: 2.5 %), which bounds how sparse a window grid can be.
    by_label = {(e[0], e[3]): int(e[1], 16) for e in entries if e[3]}
    for lo, hi, apart in (("crop=split-0-50-20", "crop=split-12-50-20", 2.4),
                          ("crop=split-0-50-10", "crop=split-25-50-10", 2.5)):
        ds = sorted(bin(by_label[(n, lo)] ^ by_label[(n, hi)]).count("1") for n in listed
                    if (n, lo) in by_label and (n, hi) in by_label)
        if ds:
            print(f"windows {apart} % apart ({lo} / {hi}): median {ds[len(ds) // 2]} bits, "
                  f"min {ds[0]}, of {len(ds)} originals", file=sys.stderr)
    for n in listed:
        mine = [e for e in entries if e[0] == n and e[3] is None]
        if [e[1] for e in mine] != [ref[origs[n]][0]]:
            sys.exit(f"{n}: the enrolled hash of record is not the reference's")

    def list_for(derive):
        spec, _, bits = (derive or "").partition("@")
        keep = (lambda k: False) if derive is None else set_filter(spec)
        rows = [e for e in entries if e[3] is None or keep(e[3])]
        if bits:
            rows = near_dedup(rows, int(bits))
        # The list's quality gate: an entry under it never matches.
        rows = [e for e in rows if e[2] >= a.quality]
        return [e[0] for e in rows], [e[3] or "original" for e in rows], to_bytes([e[1] for e in rows])

    def query(path, side):
        """(hex, quality, view) of one file's query hashes, quality-gated."""
        if side == "reference":
            h, q = ref[path]
            hs = [(h, q, "original")]
        else:
            r = ours.get(path)
            if r is None:
                return []
            hs = [(r["pdq"][0]["hash"], r["pdq"][0]["quality"], "original")]
            hs += [(v["hash"], v["quality"], v["view"]) for v in r.get("views") or []]
        return [x for x in hs if x[1] >= a.quality]

    configs = []
    for side in ("reference", "views"):
        configs.append((side, None))
        configs.extend((side, s) for s in sets)
    cname = lambda c: c[0] if c[1] is None else f"{c[0]}+{c[1]}"

    qfiles = {e: {n: next((str(x) for x in (corpus / "queries" / e).glob(f"{n}.*")), None) for n in listed}
              for e in man["edits"]}
    dfiles = sorted(str(p) for p in (corpus / "distractors").rglob("*") if p.is_file())
    recall = defaultdict(dict)
    via = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    fp = {}
    summary = {}
    for c in configs:
        lnames, llabels, lbytes = list_for(c[1])
        lnames = np.array(lnames)
        for e in man["edits"]:
            ok = wrong = 0
            for n, p in qfiles[e].items():
                if p is None:
                    continue
                qs = query(p, c[0])
                if not qs:
                    continue
                d = distances(to_bytes([x[0] for x in qs]), lbytes)
                hit = d <= a.distance
                own = hit & (lnames == n)[None, :]
                if own.any():
                    ok += 1
                    qi, li = np.argwhere(own)[np.argmin(d[own])]
                    via[cname(c)][e][llabels[li]] += 1
                if (hit & (lnames != n)[None, :]).any():
                    wrong += 1
            recall[cname(c)][e] = (ok, wrong)
        n_fp, best, hashes, pairs = 0, 256, 0, 0
        for p in dfiles:
            qs = query(p, c[0])
            if not qs:
                continue
            d = distances(to_bytes([x[0] for x in qs]), lbytes)
            hashes += len(qs)
            best = min(best, int(d.min()))
            k = int((d <= a.distance).sum())
            pairs += k
            n_fp += k > 0
        fp[cname(c)] = n_fp
        summary[cname(c)] = {"list_hashes": len(llabels), "closest": best, "distractor_hashes": hashes,
                             "false_pairs": pairs, "comparisons": hashes * len(llabels)}

    n = len(listed)
    names = [cname(c) for c in configs]
    print(f"\n{n} listed originals, {len(man['edits'])} edits, {len(dfiles)} distractor files; "
          f"distance <= {a.distance}, quality >= {a.quality}\n")
    for side in ("reference", "views"):
        cols = [cname(c) for c in configs if c[0] == side]
        print(f"### queries hashed as `{side}`\n")
        print("| edit | " + " | ".join(cols) + " | best derived set: which entry hit |")
        print("|---|" + "---:|" * len(cols) + "---|")
        for e in man["edits"]:
            cells = []
            for c in cols:
                ok, wrong = recall[c][e]
                cells.append(f"{ok}/{n}" + (f" (+{wrong} wrong)" if wrong else ""))
            last = cols[-1]
            wins = ", ".join(f"{k} {v}" for k, v in sorted(via[last][e].items(), key=lambda x: -x[1])[:4])
            print(f"| {e} | " + " | ".join(cells) + f" | {wins} |")
        tot = {c: sum(recall[c][e][0] for e in man["edits"]) for c in cols}
        print("| **all edits** | " + " | ".join(f"{100 * tot[c] / (n * len(man['edits'])):.1f} %" for c in cols) + " | |")
        print("| **edited originals hitting another original** | " +
              " | ".join(str(sum(recall[c][e][1] for e in man["edits"])) for c in cols) + " | |")
        print("| **list hashes (per listed original)** | " +
              " | ".join(f"{summary[c]['list_hashes']} ({summary[c]['list_hashes'] / n:.1f})" for c in cols) + " | |")
        print("| **distractor files hitting the list** | " +
              " | ".join(f"{fp[c]}/{len(dfiles)}" for c in cols) + " | |")
        print("| **closest distractor hash to a list hash** | " +
              " | ".join(str(summary[c]["closest"]) for c in cols) + " | |")
        print("| **false pairs per million comparisons (95 % bound when 0)** | " +
              " | ".join(f"{1e6 * summary[c]['false_pairs'] / max(1, summary[c]['comparisons']):.2f}" +
                         (f" (< {3e6 / summary[c]['comparisons']:.2f})" if not summary[c]["false_pairs"] else "") +
                         f" of {summary[c]['comparisons']:,}" for c in cols) + " | |")
        print()
    large = {}
    if a.large_distractors:
        t0 = time.time()
        per_file = []
        for line in hash_views(a, Path(a.large_distractors) / "images").splitlines():
            r = json.loads(line)
            if r.get("media") != "image" or not r.get("pdq"):
                continue
            hs = [(r["pdq"][0]["hash"], r["pdq"][0]["quality"])]
            hs += [(v["hash"], v["quality"]) for v in r.get("views") or []]
            per_file.append([h for h, q in hs if q >= a.quality])
        print(f"hashed {len(per_file)} large-set pictures in {time.time() - t0:.0f}s", file=sys.stderr)
        flat = [h for x in per_file for h in x]
        owner = np.repeat(np.arange(len(per_file)), [len(x) for x in per_file])
        dbytes = to_bytes(flat)
        print(f"### large distractor set: {len(per_file)} pictures, {len(flat)} hashes "
              f"(record and every view, quality >= {a.quality}), queries as `views`\n")
        print("| list | hashes | pictures hitting | closest | false pairs per million (95 % bound when 0) |")
        print("|---|---:|---:|---:|---|")
        for c in [c for c in configs if c[0] == "views"]:
            _, _, lbytes = list_for(c[1])
            best, pairs, hit_files = 256, 0, set()
            for i in range(0, len(dbytes), 4096):
                d = distances(dbytes[i:i + 4096], lbytes)
                best = min(best, int(d.min()))
                h = d <= a.distance
                pairs += int(h.sum())
                hit_files.update(owner[i:i + 4096][h.any(axis=1)].tolist())
            comps = len(dbytes) * len(lbytes)
            large[cname(c)] = {"list_hashes": len(lbytes), "files_hit": len(hit_files), "closest": best,
                               "false_pairs": pairs, "comparisons": comps}
            print(f"| {cname(c)} | {len(lbytes)} | {len(hit_files)}/{len(per_file)} | {best} | "
                  f"{1e6 * pairs / comps:.3f}" + (f" (< {3e6 / comps:.4f})" if not pairs else "") + f" of {comps:,} |")
        print()
    if a.json:
        Path(a.json).write_text(json.dumps({"recall": recall, "fp": fp, "summary": summary, "listed": n,
                                            "edits": man["edits"], "distractor_files": len(dfiles),
                                            "large_distractors": large}, indent=1))


if __name__ == "__main__":
    main()
