#!/usr/bin/env bash
# Disabling and enabling a big list on a live PostgreSQL-backed server
# (issue 14): a list of ENTRIES PDQ hashes in a throwaway PostgreSQL,
# `hashsieve serve` on it, and for each of TOGGLES rounds:
#
#   disable: `db disable big` -> the first lookup of a listed hash that
#     no longer hits it (probed every 5 ms): the time to effect;
#   enable: `db enable big` -> the first lookup that hits it again, and
#     the time until every entry is back in the index (its PDQ count);
#
# while one process times random lookups (misses: every candidate bucket
# searched) back to back, compared with an idle phase of the same length
# before. The server's own figures per phase (from /metrics): the write
# lock holds (p99 and max: lookups cannot run meanwhile), lookups that
# found the lock taken, and `hashsieve_live_rebuilds_total`, which must
# stay 0 (the list's entries are removed and read again in place, never
# by reloading the index). Lookup p99 under a toggle against idle is the
# ratio printed.
#
# Usage: bash benches/pg_list_toggle.sh
# Environment: ENTRIES (default 1000000), TOGGLES (default 3),
#   BIN (default: cargo build --release; copy it first on a shared machine).
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES=${ENTRIES:-1000000}
TOGGLES=${TOGGLES:-3}
if [ -z "${BIN:-}" ]; then
  cargo build --release --bin hashsieve 2>&1 | tail -1
  BIN=$PWD/target/release/hashsieve
fi
. benches/lib/pg.sh
pg_start hashsieve-pg-toggle shared_buffers=512MB max_wal_size=4GB
"$BIN" db list-create big --db "$URL" >/dev/null
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); binary: $BIN"
pg_fill 1 "$ENTRIES"
BIN="$BIN" URL="$URL" WORK="$WORK" ENTRIES="$ENTRIES" TOGGLES="$TOGGLES" python3 -u - <<'PY'
import hashlib, http.client, json, multiprocessing, os, random, re, socket, statistics, subprocess, time
import sys
sys.path.insert(0, "benches/lib")
from serve_client import Probe, free_port, get, scrape, hist_q, hits, start_timer, p99

BIN, URL, WORK = os.environ["BIN"], os.environ["URL"], os.environ["WORK"]
ENTRIES, TOGGLES = int(os.environ["ENTRIES"]), int(os.environ["TOGGLES"])

parent = start_timer()

port = free_port()
t = time.monotonic()
srv = subprocess.Popen([BIN, "serve", "--db", URL, "--listen", f"127.0.0.1:{port}", "--no-sandbox"],
                       stdout=subprocess.DEVNULL, stderr=open(os.path.join(WORK, "serve.log"), "w"))
while True:
    try:
        if get(port, "/readyz")[0] == 200:
            break
    except OSError:
        pass
    time.sleep(0.05)
print(f"server ready in {time.monotonic() - t:.1f} s with {ENTRIES} entries")
listed = hashlib.md5(b"1").hexdigest() + hashlib.md5(b"7919x").hexdigest()
probe = Probe(port)
assert probe.hits(listed), "the listed hash does not match"

def phase(action):
    """Lookups timed while `action` runs; the server's figures."""
    stop = os.path.join(WORK, f"stop-{time.monotonic_ns()}")
    before = scrape(port)
    parent.send((port, stop))
    extra = action()
    open(stop, "w").close()
    lat = parent.recv()
    after = scrape(port)
    return lat, before, after, extra

def idle():
    time.sleep(4.0)

def toggle(on):
    def run():
        t0 = time.monotonic()
        subprocess.run([BIN, "db", "disable" if not on else "enable", "big", "--db", URL],
                       check=True, stdout=subprocess.DEVNULL)
        t1 = time.monotonic()
        while bool(probe.hits(listed)) != on:
            time.sleep(0.005)
        effect = time.monotonic() - t1
        # Until every entry has left / is back in the index.
        while True:
            n = scrape(port)[("hashsieve_index_pdq_hashes", "")]
            if (n >= ENTRIES) if on else (n == 0):
                break
            time.sleep(0.02)
        return effect, time.monotonic() - t1, t1 - t0
    return run

rows = {"idle": [], "disable": [], "enable": []}
for r in range(TOGGLES):
    for name, act in (("idle", idle), ("disable", toggle(False)), ("idle", idle), ("enable", toggle(True))):
        lat, b, a, extra = phase(act)
        hold99 = hist_q(b, a, "hashsieve_index_write_lock_hold_seconds", 0.99)
        waits = a.get(("hashsieve_index_read_lock_waits_total", ""), 0) - b.get(("hashsieve_index_read_lock_waits_total", ""), 0)
        rows[name].append((p99(lat), len(lat), hold99, waits, extra))
        msg = f"round {r} {name:7s}: lookups {len(lat):6d}, p99 {p99(lat)*1e3:7.2f} ms"
        if extra:
            msg += f"; effect {extra[0]*1e3:7.1f} ms after the commit, all entries {extra[1]:6.2f} s (CLI {extra[2]:.2f} s)"
            msg += f"; write-lock hold p99 <= {hold99*1e6 if hold99 else 0:.0f} us, lookups that waited {waits:.0f}"
        print(msg)
m = scrape(port)
print(f"write-lock hold max since start: {m[('hashsieve_index_write_lock_hold_max_seconds', '')]*1e3:.2f} ms")
print(f"live rebuilds: {m[('hashsieve_live_rebuilds_total', '')]:.0f} (must be 0); list changes applied in place: {m[('hashsieve_live_list_changes_total', '')]:.0f}")
idle99 = statistics.median(x[0] for x in rows["idle"])
for k in ("disable", "enable"):
    xs = rows[k]
    print(f"{k}: median time to effect {statistics.median(x[4][0] for x in xs)*1e3:.1f} ms, "
          f"all entries {statistics.median(x[4][1] for x in xs):.2f} s, "
          f"lookup p99 {statistics.median(x[0] for x in xs)*1e3:.2f} ms = {statistics.median(x[0] for x in xs)/idle99:.2f}x idle ({idle99*1e3:.2f} ms), "
          f"write-lock hold p99 <= {statistics.median(x[2] or 0 for x in xs)*1e6:.0f} us")
srv.terminate(); srv.wait()
parent.send(None)
PY
