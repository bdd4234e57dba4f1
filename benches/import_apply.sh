#!/usr/bin/env bash
# A big import applied in place by running servers (issue 14: "a change
# made on one machine is matched by every server within 2 s"): a list of
# BASE PDQ hashes, SERVERS `hashsieve serve` processes on it, and for each
# of ROUNDS rounds a `hashsieve db import` of IMPORT new hashes (one
# transaction) by another process, while one process times random lookups
# (misses) against the first server back to back. Printed per round and
# as medians:
#
#   import-to-match: from the import command's exit (its commit is the
#     last thing it does) until every server matches a sample of 50 of
#     the new hashes (the last one included), probed every 10 ms;
#   all applied: until every server's /metrics counts BASE + k*IMPORT
#     PDQ hashes;
#   lookup p99 on the first server while the import is applied, against
#     an idle phase of the same length before it, and the server's own
#     write-lock holds (p99, max) and lookups that waited for the lock;
#   hashsieve_live_rebuilds_total of every server, which must stay 0
#     (applied in place, never by reloading the index).
#
# Usage: bash benches/import_apply.sh
# Environment:
#   DB=pg|sqlite  the store (default pg: a throwaway PostgreSQL server;
#                 servers are woken by LISTEN/NOTIFY). sqlite: a file in
#                 a temporary folder; servers look every POLL_MS
#   BASE=n        listed hashes before the imports (default 1000000 on
#                 PostgreSQL, made inside it; 200000 on SQLite, imported)
#   IMPORT=n      hashes per import (default 100000)
#   ROUNDS=n      imports (default 3)
#   SERVERS=n     servers (default 2)
#   POLL_MS=n     the servers' --poll-ms (default 1000, serve's default)
#   BIN=path      the hashsieve binary (default: cargo build --release;
#                 copy it first on a shared machine)
# Check `uptime` first: other work on the machine moves these figures.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=${DB:-pg}
IMPORT=${IMPORT:-100000}
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-2}
POLL_MS=${POLL_MS:-1000}
if [ -z "${BIN:-}" ]; then
  cargo build --release --bin hashsieve 2>&1 | tail -1
  BIN=$PWD/target/release/hashsieve
fi
case "$DB" in
  pg)
    BASE=${BASE:-1000000}
    . benches/lib/pg.sh
    pg_start hashsieve-import-apply shared_buffers=512MB max_wal_size=4GB
    "$BIN" db list-create big --db "$URL" >/dev/null
    pg_fill 1 "$BASE"
    ;;
  sqlite)
    BASE=${BASE:-200000}
    WORK=$(mktemp -d /tmp/hashsieve-import-apply.XXXXXX)
    trap 'rm -rf "$WORK"' EXIT
    URL=$WORK/list.db
    "$BIN" db list-create big --db "$URL" >/dev/null
    python3 -c "
import random, sys
r = random.Random(1)
sys.stdout.write(''.join('%064x\n' % r.getrandbits(256) for _ in range($BASE)))" >"$WORK/base.pdq"
    "$BIN" db import big "$WORK/base.pdq" --db "$URL" >/dev/null
    ;;
  *) echo "DB must be pg or sqlite" >&2; exit 2 ;;
esac
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); binary: $BIN; store: $DB; $BASE listed, $ROUNDS imports of $IMPORT, $SERVERS servers"
DB="$DB" BIN="$BIN" URL="$URL" WORK="$WORK" BASE="$BASE" IMPORT="$IMPORT" ROUNDS="$ROUNDS" \
  SERVERS="$SERVERS" POLL_MS="$POLL_MS" python3 -u - <<'PY'
import http.client, json, multiprocessing, os, random, re, socket, statistics, subprocess, time
import sys
sys.path.insert(0, "benches/lib")
from serve_client import Probe, free_port, get, scrape, hist_q, hits, start_timer, p99

BIN, URL, WORK = os.environ["BIN"], os.environ["URL"], os.environ["WORK"]
BASE, IMPORT, ROUNDS = int(os.environ["BASE"]), int(os.environ["IMPORT"]), int(os.environ["ROUNDS"])
SERVERS, POLL_MS = int(os.environ["SERVERS"]), os.environ["POLL_MS"]

parent = start_timer()

def serve():
    port = free_port()
    t = time.monotonic()
    p = subprocess.Popen([BIN, "serve", "--db", URL, "--listen", f"127.0.0.1:{port}", "--no-sandbox",
                          "--poll-ms", POLL_MS],
                         stdout=subprocess.DEVNULL, stderr=open(os.path.join(WORK, f"serve-{port}.log"), "w"))
    while True:
        if p.poll() is not None:
            raise SystemExit(f"serve exited: see {WORK}/serve-{port}.log")
        try:
            if get(port, "/readyz")[0] == 200:
                return p, port, time.monotonic() - t
        except OSError:
            pass
        time.sleep(0.05)

servers = [serve() for _ in range(SERVERS)]
for _, port, t in servers:
    print(f"server on {port} ready in {t:.1f} s")
ports = [s[1] for s in servers]
probes = [Probe(p) for p in ports]

def timed(action):
    """Lookups on the first server timed while `action` runs."""
    stop = os.path.join(WORK, f"stop-{time.monotonic_ns()}")
    before = scrape(ports[0])
    parent.send((ports[0], stop))
    extra = action()
    open(stop, "w").close()
    lat = parent.recv()
    return lat, before, scrape(ports[0]), extra

rng = random.Random(7)
rows = []
for r in range(ROUNDS):
    hashes = ["%064x" % rng.getrandbits(256) for _ in range(IMPORT)]
    path = os.path.join(WORK, f"import-{r}.pdq")
    with open(path, "w") as f:
        f.write("".join(h + "\n" for h in hashes))
    sample = rng.sample(hashes[:-1], min(49, IMPORT - 1)) + [hashes[-1]]
    want = BASE + (r + 1) * IMPORT

    def run():
        t0 = time.monotonic()
        subprocess.run([BIN, "db", "import", "big", path, "--db", URL], check=True, stdout=subprocess.DEVNULL)
        t1 = time.monotonic()
        matched = [None] * SERVERS
        applied = [None] * SERVERS
        todo = [list(sample) for _ in range(SERVERS)]
        while any(m is None for m in matched) or any(a is None for a in applied):
            now = time.monotonic()
            if now - t1 > 120:
                raise SystemExit(f"round {r}: not applied after 120 s: matched {matched}, applied {applied}")
            for i, c in enumerate(probes):
                while todo[i] and c.hits(todo[i][-1]):
                    todo[i].pop()
                if not todo[i] and matched[i] is None:
                    matched[i] = time.monotonic() - t1
                if applied[i] is None and scrape(ports[i]).get(("hashsieve_index_pdq_hashes", ""), 0) >= want:
                    applied[i] = time.monotonic() - t1
            time.sleep(0.01)
        return t1 - t0, max(matched), max(applied), matched

    idle_lat, _, _, _ = timed(lambda: time.sleep(3.0))
    lat, b, a, (cli, match_all, applied_all, matched) = timed(run)
    hold99 = hist_q(b, a, "hashsieve_index_write_lock_hold_seconds", 0.99)
    holds = sum(v - b.get(k, 0) for k, v in a.items() if k[0] == "hashsieve_index_write_lock_hold_seconds_count")
    waits = a.get(("hashsieve_index_read_lock_waits_total", ""), 0) - b.get(("hashsieve_index_read_lock_waits_total", ""), 0)
    rows.append((match_all, applied_all, p99(idle_lat), p99(lat), cli))
    print(f"round {r}: import command {cli:.2f} s; import-to-match on every server {match_all:.2f} s "
          f"(each: {', '.join(f'{m:.2f}' for m in matched)}), all {IMPORT} applied {applied_all:.2f} s; "
          f"lookups on server 1: p99 idle {p99(idle_lat)*1e3:.2f} ms, while applying {p99(lat)*1e3:.2f} ms (n={len(lat)}); "
          f"write lock held {holds:.0f} times, p99 <= {(hold99 or 0)*1e6:.0f} us; lookups that waited {waits:.0f}")
rebuilds = [scrape(p).get(("hashsieve_live_rebuilds_total", ""), -1) for p in ports]
hold_max = scrape(ports[0]).get(("hashsieve_index_write_lock_hold_max_seconds", ""), 0)
print(f"live rebuilds per server: {rebuilds} (must be 0); longest write-lock hold on server 1: {hold_max*1e3:.2f} ms")
med = lambda k: statistics.median(x[k] for x in rows)
print(f"median over {ROUNDS}: import-to-match {med(0):.2f} s, all applied {med(1):.2f} s "
      f"({IMPORT} entries, {SERVERS} servers, {os.environ.get('DB', 'pg')}); lookup p99 while applying / idle = {med(3)/med(2):.2f}x")
for p, _, _ in servers:
    p.terminate(); p.wait()
parent.send(None)
PY
