#!/usr/bin/env bash
# Live index sync on PostgreSQL at scale (issue 14): a list of ENTRIES PDQ
# hashes in a throwaway PostgreSQL, `hashsieve serve` on it, and
#
#   lookup p99 idle vs while RATE changes/s are written by another
#     process (target: under load <= 2x idle);
#   sync lag: a marker entry committed (10 a second, on top of RATE) ->
#     the server's answer to a lookup of it has the hit (every pending
#     marker looked up every 5 ms; target p99 <= 2 s);
#   start: a first server with no saved index (reads every row, builds
#     the index, saves the files) against a second one started after the
#     writes, from the saved index plus catch-up from the change log
#     (target: serving in <= 15 s at 10M), both until /readyz answers 200.
#
# The writer is one psql session doing what hashsieve's own commit path
# does (one transaction: the write lock, the rows, store_state bumped,
# NOTIFY), 10 transactions a second, each adding RATE/10*4/5 new entries
# and disabling RATE/10/5 existing ones. Lookups are GET /v1/match of
# random PDQ hashes (misses: every candidate bucket searched), one at a
# time over one keep-alive connection. The list is made inside
# PostgreSQL (INSERT ... SELECT generate_series, the fastest bulk load:
# no client round trip), with fsync off (a throwaway server).
#
# Usage: bash benches/pg_sync_10m.sh
# Environment:
#   ENTRIES=n   listed PDQ hashes (default 10000000)
#   RATE=n      changes per second while loaded (default 1000)
#   DURATION=s  seconds of each lookup phase (default 30)
#   HAMMER=n    n more lookup threads while loaded, untimed (default 0):
#               lookups overlapping on the server, as with many clients
#   PAIRS=n     n (idle, loaded) pairs of phases, alternating (default 1):
#               idle, load, idle, load, ... so drift in the machine's load
#               falls on both sides; p99s are reported per pair, their
#               medians and the pooled figures
#   BIN=path    the hashsieve binary (default: cargo build --release)
# Needs PostgreSQL (Debian `postgresql`: initdb, postgres, psql) and
# python3. Everything lives under one /tmp folder, removed at the end.
# Check `uptime` first: other work on the machine moves these figures.
# The timed lookups run in a process of their own (not behind the writer
# threads' Python lock), and each phase also reports what the server
# measured itself (from /metrics, where the binary has them): how long
# each live update held the index's write lock, and how many lookups
# found it taken and how long they waited. Those do not move with the
# machine's load.
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES=${ENTRIES:-10000000}
RATE=${RATE:-1000}
DURATION=${DURATION:-30}
if [ -z "${BIN:-}" ]; then
  cargo build --release --bin hashsieve 2>&1 | tail -1
  BIN=$PWD/target/release/hashsieve
fi
. benches/lib/pg.sh
pg_start hashsieve-pg-bench shared_buffers=1GB max_wal_size=8GB maintenance_work_mem=1GB
"$BIN" db list-create bench --db "$URL" >/dev/null
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); binary: $BIN"
t0=$(date +%s.%N)
pg_fill 1 "$ENTRIES"
t1=$(date +%s.%N)
echo "loaded $ENTRIES entries in $(python3 -c "print(f'{$t1-$t0:.0f}')") s ($(psql -X -At -h 127.0.0.1 -p "$PORT" -U hashsieve postgres -c "SELECT pg_size_pretty(pg_database_size('postgres'))"))"

BIN="$BIN" URL="$URL" PGPORT="$PORT" WORK="$WORK" RATE="$RATE" DURATION="$DURATION" \
  ENTRIES="$ENTRIES" HAMMER="${HAMMER:-0}" PAIRS="${PAIRS:-1}" python3 - <<'PY'
import http.client, json, multiprocessing, os, random, re, socket, statistics, subprocess, threading, time

BIN, URL, WORK = os.environ["BIN"], os.environ["URL"], os.environ["WORK"]
PGPORT, RATE = os.environ["PGPORT"], int(os.environ["RATE"])
DURATION, ENTRIES = float(os.environ["DURATION"]), int(os.environ["ENTRIES"])
HAMMER = int(os.environ.get("HAMMER", "0"))
PAIRS = max(1, int(os.environ.get("PAIRS", "1")))
INDEX = os.path.join(WORK, "index")
os.makedirs(INDEX, exist_ok=True)

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def serve():
    port = free_port()
    env = dict(os.environ, HASHSIEVE_INDEX_DIR=INDEX)
    t = time.monotonic()
    p = subprocess.Popen([BIN, "serve", "--db", URL, "--listen", f"127.0.0.1:{port}"],
                         env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(WORK, f"serve-{port}.log"), "w"))
    while True:
        if p.poll() is not None:
            raise SystemExit(f"serve exited: see {WORK}/serve-{port}.log")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/readyz"); r = c.getresponse(); body = r.read()
            if r.status == 200:
                return p, port, time.monotonic() - t, json.loads(body)
        except OSError:
            pass
        time.sleep(0.05)

def rand_pdq():
    return "%064x" % random.getrandbits(256)

class Client:
    def __init__(self, port):
        self.port = port; self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    def match(self, h):
        try:
            self.c.request("GET", f"/v1/match?signal_type=pdq&signal={h}")
            r = self.c.getresponse(); body = r.read()
        except (OSError, http.client.HTTPException):
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            return None
        return json.loads(body)["matches"] if r.status == 200 else None

def lookups_here(port, seconds):
    c, out, end = Client(port), [], time.monotonic() + seconds
    while time.monotonic() < end:
        h = rand_pdq(); t = time.perf_counter(); c.match(h); out.append(time.perf_counter() - t)
    return out

def timer_main(conn):
    # Forked before any thread starts: the timed loop never waits for the
    # Python lock held by the writer, prober or checker threads.
    while True:
        msg = conn.recv()
        if msg is None:
            return
        port, seconds = msg
        conn.send(lookups_here(port, seconds))

_ctx = multiprocessing.get_context("fork")
_timer_conn, _child_conn = _ctx.Pipe()
_timer = _ctx.Process(target=timer_main, args=(_child_conn,), daemon=True)
_timer.start()

def lookups(port, seconds):
    _timer_conn.send((port, seconds))
    return _timer_conn.recv()

def scrape(port):
    """The server's own counters: {(name, frozenset(labels)): value}."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/metrics"); body = c.getresponse().read().decode()
    except (OSError, http.client.HTTPException):
        return {}
    out = {}
    for line in body.splitlines():
        m = re.match(r'^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if not m or line.startswith("#"):
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(3))
        except ValueError:
            pass
    return out

def hist(before, after, name, want=()):
    """A histogram's buckets counted between two scrapes: [(le, n)] cumulative."""
    bs = []
    for (n, labels), v in after.items():
        if n != name + "_bucket" or not set(want) <= labels:
            continue
        le = float(dict(labels)["le"])
        bs.append((le, v - before.get((n, labels), 0.0)))
    return sorted(bs)

def hist_q(bs, q):
    """Upper bound of the bucket holding quantile q (None: nothing counted)."""
    if not bs or bs[-1][1] <= 0:
        return None
    for le, n in bs:
        if n >= q * bs[-1][1]:
            return le
    return bs[-1][0]

def server_figures(before, after):
    """What the server measured in one phase."""
    if not any(k[0].startswith("hashsieve_index_write_lock_hold") for k in after):
        return None
    match = (("route", "/v1/match"),)
    hold = hist(before, after, "hashsieve_index_write_lock_hold_seconds")
    wait = hist(before, after, "hashsieve_index_read_lock_wait_seconds")
    served = hist(before, after, "hashsieve_http_request_duration_seconds", match)
    g = lambda k: after.get((k, frozenset()), 0.0) - before.get((k, frozenset()), 0.0)
    return {
        "holds": hold[-1][1] if hold else 0,
        "hold_p99": hist_q(hold, 0.99),
        "hold_sum": g("hashsieve_index_write_lock_hold_seconds_sum"),
        "waits": g("hashsieve_index_read_lock_waits_total"),
        "wait_p99": hist_q(wait, 0.99),
        "served": served[-1][1] if served else 0,
        "served_p99": hist_q(served, 0.99),
        "hold_max": after.get(("hashsieve_index_write_lock_hold_max_seconds", frozenset()), 0.0),
    }

class Psql:
    """One psql session; `run` returns once the statements have committed."""
    def __init__(self):
        self.p = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p", PGPORT,
                                   "-U", "hashsieve", "postgres", "-v", "ON_ERROR_STOP=1"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.n = 0
    def run(self, sql):
        self.n += 1
        self.p.stdin.write(sql + f"\n\\echo done{self.n}\n"); self.p.stdin.flush()
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise SystemExit("psql died")
            if line.strip() == f"done{self.n}":
                return
    def close(self):
        self.p.stdin.close(); self.p.wait()

# What hashsieve's commit path does (PgStore::commit): the write lock,
# the rows, the data version and generation, the notification.
def tx(body):
    return ("BEGIN; SELECT pg_advisory_xact_lock(" + str(0x6861_7368_7369_6576) + ") \\g /dev/null\n" + body +
            "UPDATE store_state SET data_version = data_version + 1, generation = ('x' || md5(random()::text))::bit(64)::bigint WHERE id = 1;"
            " SELECT pg_notify('hashsieve_changes', '') \\g /dev/null\nCOMMIT;")

def insert(hashes):
    vals = ",".join(f"(1,'pdq',decode('{h}','hex'),100,extract(epoch from now())::bigint,'active')" for h in hashes)
    return f"INSERT INTO entries (list_id, signal_type, value, quality, added_at, status) VALUES {vals};\n"

stop = threading.Event()
loading = threading.Event()  # set during the loaded phases
written = [0]
def writer():
    s = Psql(); per_tx = max(1, RATE // 10); adds = per_tx * 4 // 5; dis = per_tx - adds
    next_t = time.monotonic()
    while not stop.is_set():
        if not loading.is_set():
            time.sleep(0.01); next_t = time.monotonic()
            continue
        ids = ",".join(str(random.randint(1, ENTRIES)) for _ in range(dis))
        body = insert([rand_pdq() for _ in range(adds)])
        if dis:
            body += f"UPDATE entries SET status = 'disabled', status_at = extract(epoch from now())::bigint WHERE id IN ({ids});\n"
        s.run(tx(body)); written[0] += per_tx
        next_t += 0.1
        time.sleep(max(0, next_t - time.monotonic()))
    s.close()

lags, markers = [], []
pending = {}
lock = threading.Lock()
def prober():
    """A marker entry committed every 100 ms (the commit time noted)."""
    s = Psql()
    while not stop.is_set():
        if not loading.is_set():
            time.sleep(0.01)
            continue
        h = rand_pdq()
        s.run(tx(insert([h])))
        with lock:
            pending[h] = time.monotonic()
        time.sleep(0.1)
    s.close()

def checker(port):
    """Look every pending marker up until the server has it."""
    c = Client(port)
    while not stop.is_set() or pending:
        with lock:
            todo = list(pending.items())
        for h, t in todo:
            if c.match(h):
                with lock:
                    del pending[h]
                lags.append(time.monotonic() - t); markers.append(h)
            elif time.monotonic() - t > 30:
                with lock:
                    del pending[h]
                lags.append(float("inf"))
        time.sleep(0.005)

def pct(xs, q):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(q * len(xs)))]
def ms(x):
    return f"{x * 1000:.2f} ms"

a, port_a, start_a, ready_a = serve()
print(f"server A (no saved index: full read, index built, files saved): serving {ready_a['pdq_hashes']} hashes {start_a:.1f} s after start")
lookups(port_a, 2)  # warm up
def hammer(port):
    """Extra lookups, not timed: with several at once the server's
    lookups overlap, as with many clients (HAMMER=n threads)."""
    c = Client(port)
    while not stop.is_set():
        if loading.is_set():
            c.match(rand_pdq())
        else:
            time.sleep(0.01)

threads = [threading.Thread(target=writer), threading.Thread(target=prober),
           threading.Thread(target=checker, args=(port_a,))]
threads += [threading.Thread(target=hammer, args=(port_a,)) for _ in range(HAMMER)]
idle, loaded, pairs = [], [], []
t_load, elapsed = None, 0.0
for i in range(PAIRS):
    m0 = scrape(port_a)
    idle_i = lookups(port_a, DURATION)
    m1 = scrape(port_a)
    loading.set()
    if i == 0:
        for t in threads: t.start()
    t0 = time.monotonic()
    time.sleep(2)
    m2 = scrape(port_a)
    loaded_i = lookups(port_a, DURATION)
    m3 = scrape(port_a)
    loading.clear()
    elapsed += time.monotonic() - t0
    # The last writes land and are applied before the next idle phase.
    time.sleep(1)
    idle += idle_i; loaded += loaded_i
    pairs.append((idle_i, loaded_i, server_figures(m0, m1), server_figures(m2, m3)))
stop.set()
for t in threads: t.join()
b, port_b, start_b, ready_b = serve()
# The second server caught up: it matches the last change written.
cb = Client(port_b)
caught = sum(1 for h in markers[-20:] if cb.match(h))
print(f"server B (saved index + catch-up of {written[0] + len(markers)} changes): serving {ready_b['pdq_hashes']} hashes {start_b:.1f} s after start; {caught}/{min(20, len(markers))} of the last changes matched")
print(f"start: B/A = {start_b / start_a:.2f}")
print(f"writes: {written[0] + len(markers)} changes in {elapsed:.1f} s = {(written[0] + len(markers)) / elapsed:.0f}/s")
print(f"lookup idle:   n={len(idle)} median {ms(statistics.median(idle))} p99 {ms(pct(idle, 0.99))}")
print(f"lookup loaded: n={len(loaded)} median {ms(statistics.median(loaded))} p99 {ms(pct(loaded, 0.99))}")
print(f"lookup p99 loaded/idle = {pct(loaded, 0.99) / pct(idle, 0.99):.2f} (target <= 2); median ratio {statistics.median(loaded) / statistics.median(idle):.2f}")
def us(x):
    return "n/a" if x is None else f"{x * 1e6:.0f} us"
for i, (il, ld, fi, fl) in enumerate(pairs):
    line = (f"pair {i + 1}: lookup p99 idle {ms(pct(il, 0.99))} loaded {ms(pct(ld, 0.99))} = {pct(ld, 0.99) / pct(il, 0.99):.2f}x;"
            f" median {ms(statistics.median(il))} / {ms(statistics.median(ld))}")
    print(line)
    for name, f in (("idle", fi), ("loaded", fl)):
        if f is None:
            continue
        wf = f["waits"] / f["served"] if f["served"] else 0.0
        print(f"  server, {name}: /v1/match p99 <= {us(f['served_p99'])} ({f['served']:.0f} served);"
              f" write lock held {f['holds']:.0f} times, p99 <= {us(f['hold_p99'])}, {f['hold_sum'] * 1000:.1f} ms in all;"
              f" lookups that waited for it {f['waits']:.0f} ({wf * 100:.3f} %), wait p99 <= {us(f['wait_p99'])}")
if PAIRS > 1:
    r = [pct(ld, 0.99) / pct(il, 0.99) for il, ld, _, _ in pairs]
    print(f"over {PAIRS} pairs: median p99 idle {ms(statistics.median(pct(p[0], 0.99) for p in pairs))},"
          f" loaded {ms(statistics.median(pct(p[1], 0.99) for p in pairs))}; median of the ratios {statistics.median(r):.2f}")
last = [p[3] for p in pairs if p[3] is not None]
if last:
    print(f"write lock: longest hold since start {last[-1]['hold_max'] * 1e6:.0f} us")
print(f"sync lag (marker committed -> a lookup on A hits it, checked every 5 ms): n={len(lags)} median {ms(statistics.median(lags))} p99 {ms(pct(lags, 0.99))} max {ms(max(lags))} (target p99 <= 2 s)")
for p in (a, b):
    p.terminate(); p.wait()
_timer_conn.send(None); _timer.join()
PY
