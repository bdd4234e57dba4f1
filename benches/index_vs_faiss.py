#!/usr/bin/env python3
"""hashdb's PDQ index vs faiss, side by side, on the same hashes.

Run by hand (not in CI):

    pip install faiss-cpu numpy
    python3 benches/index_vs_faiss.py                      # N = 1M (about 2 minutes)
    python3 benches/index_vs_faiss.py --n 1000000 10000000 # also 10M (about 10 minutes)

For each N: N uniform random 256-bit hashes, 10,000 uniform random queries,
and for query i one planted near-duplicate at distance i % 32 (0..31) at a
distinct position. Every engine answers radius-31 queries single-threaded:

  * hashdb    our multi-index (hashdb/examples/index_bench.rs, release build)
  * flat      faiss IndexBinaryFlat (a scan)
  * mih       faiss IndexBinaryMultiHash(256, 16, 16) with nflip = 31 // 16 = 1
              (python-threatexchange's default)

It prints queries/s, recall of the planted neighbours, build time and the
memory the index added to its process (RSS after build minus RSS before the
data was loaded), then our speed-up over each faiss index. faiss's range
search keeps distances < radius, so it is given radius + 1 (<= 31 inclusive).
faiss is slow at 10M, so by default it answers the first --slow-queries
queries only (q/s is a rate; recall is over the queries it answered).
Each engine runs in its own process so memory figures do not mix.
"""

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_mib(field="VmRSS:"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0
    return 0.0


def make_data(n, nq, seed, workdir):
    import numpy as np

    rng = np.random.default_rng(seed)
    db = rng.integers(0, 256, size=(n, 32), dtype=np.uint8)
    q = rng.integers(0, 256, size=(nq, 32), dtype=np.uint8)
    stride = max(n // nq, 1)
    planted = []
    for i in range(nq):
        d = i % 32
        pos = (i * stride + int(rng.integers(0, stride))) % n
        h = np.unpackbits(q[i])
        bits = rng.choice(256, size=d, replace=False)
        h[bits] ^= 1
        db[pos] = np.packbits(h)
        planted.append((i, pos))
    os.makedirs(workdir, exist_ok=True)
    db_path = os.path.join(workdir, f"db-{n}.u8")
    q_path = os.path.join(workdir, f"q-{n}.u8")
    db.tofile(db_path)
    q.tofile(q_path)
    return db_path, q_path, planted


def faiss_child(kind, db_path, q_path, nq, radius):
    import faiss
    import numpy as np

    faiss.omp_set_num_threads(1)
    rss0 = rss_mib()
    db = np.fromfile(db_path, dtype=np.uint8).reshape(-1, 32)
    q = np.fromfile(q_path, dtype=np.uint8).reshape(-1, 32)[:nq]
    t = time.perf_counter()
    if kind == "flat":
        index = faiss.IndexBinaryFlat(256)
    else:
        index = faiss.IndexBinaryMultiHash(256, 16, 16)
        index.nflip = 31 // 16
    index.add(db)
    build_s = time.perf_counter() - t
    del db
    import gc

    gc.collect()
    rss_built = rss_mib()
    t = time.perf_counter()
    lims, _dist, ids = index.range_search(q, radius + 1)
    query_s = time.perf_counter() - t
    hits = {}
    for i in range(len(q)):
        hits[i] = ids[lims[i]:lims[i + 1]].tolist()
    out = {
        "engine": kind,
        "queries": len(q),
        "build_s": build_s,
        "qps": len(q) / query_s,
        "rss_index_mib": rss_built - rss0,
        "hits": hits,
    }
    print(json.dumps(out))


def run_faiss(kind, db_path, q_path, nq, radius):
    p = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", kind, db_path, q_path, str(nq), str(radius)],
        check=True,
        capture_output=True,
        text=True,
    )
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["hits"] = {int(k): v for k, v in res["hits"].items()}
    return res


def run_ours(db_path, q_path, radius, workdir):
    exe = os.path.join(REPO, "target", "release", "examples", "index_bench")
    hits_path = os.path.join(workdir, "hashdb-hits.txt")
    p = subprocess.run(
        [exe, "--db", db_path, "--query", q_path, "--radius", str(radius), "--hits", hits_path],
        check=True,
        capture_output=True,
        text=True,
    )
    res = json.loads(p.stdout.strip().splitlines()[-1])
    hits = {}
    with open(hits_path) as f:
        for line in f:
            qi, idx = line.split()
            hits.setdefault(int(qi), []).append(int(idx))
    res["hits"] = hits
    return res


def recall(res, planted):
    answered = [(qi, pos) for qi, pos in planted if qi < res["queries"]]
    found = sum(1 for qi, pos in answered if pos in res["hits"].get(qi, []))
    return found / max(len(answered), 1)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, db_path, q_path, nq, radius = sys.argv[2:7]
        faiss_child(kind, db_path, q_path, int(nq), int(radius))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1_000_000], help="list sizes")
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--slow-queries", type=int, default=300, help="queries for the faiss indexes")
    ap.add_argument("--radius", type=int, default=31)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", default="/tmp/hashsieve-index-bench")
    ap.add_argument("--skip", nargs="*", default=[], choices=["flat", "mih"], help="faiss indexes to skip")
    args = ap.parse_args()

    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "hashdb", "--example", "index_bench"], cwd=REPO, check=True
    )
    rows = []
    for n in args.n:
        print(f"N = {n:,}: generating data ...", file=sys.stderr)
        db_path, q_path, planted = make_data(n, args.queries, args.seed, args.workdir)
        results = [run_ours(db_path, q_path, args.radius, args.workdir)]
        for kind in ["flat", "mih"]:
            if kind in args.skip:
                continue
            print(f"N = {n:,}: faiss {kind} ...", file=sys.stderr)
            results.append(run_faiss(kind, db_path, q_path, min(args.slow_queries, args.queries), args.radius))
        for r in results:
            rows.append((n, r["engine"], r["queries"], r["qps"], recall(r, planted), r["build_s"], r["rss_index_mib"]))
        os.remove(db_path)
        os.remove(q_path)

    print(f"\nradius {args.radius}, single-threaded queries; memory = RSS added by the index")
    print(f"{'N':>11} {'engine':<8} {'queries':>7} {'q/s':>10} {'recall':>7} {'build s':>8} {'memory MiB':>10}")
    for n, eng, nq, qps, rec, b, mem in rows:
        print(f"{n:>11,} {eng:<8} {nq:>7} {qps:>10.1f} {rec:>7.4f} {b:>8.2f} {mem:>10.0f}")
    print()
    for n in args.n:
        ours = next(r for r in rows if r[0] == n and r[1] == "hashdb")
        for r in rows:
            if r[0] == n and r[1] != "hashdb":
                print(f"N = {n:,}: hashdb / faiss {r[1]}: {ours[3] / r[3]:.1f}x queries/s")


if __name__ == "__main__":
    main()
