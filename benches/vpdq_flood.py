#!/usr/bin/env python3
"""Cost of a hostile vPDQ query (issue 17, item 4): POST /v1/match/vpdq with
100,000 random frames (plus the 20 frames of a listed video, so the answer
is checked) against a release `hashsieve serve` on loopback. Prints the
median of N runs, the answer to one frame over the cap, and the server's
peak RSS.

    cargo build --release && python3 benches/vpdq_flood.py [--runs 7] [--frames 100000]

Before the fix (a linear find per unique frame, pair-by-pair bag
comparisons) the probe measured 14.8 s for 100,000 frames.
"""
import argparse
import http.client
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "hashsieve")


def vpdq_text(frames):
    return "".join(f"{i},100,{h},{i}.000\n" for i, h in frames).encode()


def post(addr, path, body):
    host, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=120)
    t = time.perf_counter()
    c.request("POST", path, body=body, headers={"Content-Type": "text/plain"})
    r = c.getresponse()
    data = r.read()
    return r.status, data, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--frames", type=int, default=100_000)
    a = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"build first: cargo build --release ({BIN} missing)")
    rnd = random.Random(17)
    hexs = lambda: "%064x" % rnd.getrandbits(256)
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "b.db")
        subprocess.run([BIN, "db", "--db", db, "list-create", "L"], check=True, capture_output=True)
        listed = [(i, hexs()) for i in range(20)]
        lf = os.path.join(d, "v.vpdq")
        open(lf, "wb").write(vpdq_text(listed))
        subprocess.run([BIN, "db", "--db", db, "import", "L", lf, "--format", "vpdq"], check=True, capture_output=True)
        srv = subprocess.Popen([BIN, "serve", "--db", db, "--listen", "127.0.0.1:0",
                                "--max-query-frames", str(a.frames)],
                               stderr=subprocess.PIPE, text=True)
        addr = None
        for line in srv.stderr:
            if "listening on http://" in line:
                addr = line.split("http://")[1].strip()
                break
        try:
            q = [(i, hexs()) for i in range(a.frames - 20)] + [(a.frames + i, h) for i, h in listed]
            body = vpdq_text(q)
            times = []
            for _ in range(a.runs):
                st, data, dt = post(addr, "/v1/match/vpdq", body)
                assert st == 200, (st, data[:200])
                assert b'"target_percent":100.0' in data, data[:300]
                times.append(dt)
            print(f"command: {' '.join(sys.argv)}")
            print(f"{a.frames} frames, {len(body) / 1e6:.1f} MB: median {statistics.median(times):.3f} s "
                  f"(min {min(times):.3f}, max {max(times):.3f}, {a.runs} runs; probe before the fix: 14.8 s)")
            over = vpdq_text(q + [(10**7, hexs())])
            st, data, dt = post(addr, "/v1/match/vpdq", over)
            print(f"{a.frames + 1} frames: {st} in {dt:.3f} s: {data[:160].decode(errors='replace')}")
            with open(f"/proc/{srv.pid}/status") as f:
                hwm = next(l for l in f if l.startswith("VmHWM"))
            print(f"server peak RSS: {hwm.split(':')[1].strip()}")
        finally:
            srv.terminate()
            srv.wait(timeout=30)


if __name__ == "__main__":
    main()
