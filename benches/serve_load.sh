#!/usr/bin/env bash
# Load benchmark of `hashsieve serve` (issue 6). Loopback only, bounded in
# time and request count.
#
#   benches/serve_load.sh            # full run: 1,000,000-entry PDQ list
#   ENTRIES=100000 DUR=10 benches/serve_load.sh   # quicker
#
# Needs: wrk (Debian `apt-get install wrk`), python3, ffmpeg (test JPEGs).
# Prints, for (a) GET /v1/match by PDQ, (b) POST /v1/match of a 1 MP JPEG
# (vs the CLI's single-file hashing throughput on the same images, same
# cores), (c) open-loop overload at 4x (b)'s capacity: 503 share, p50/p99
# of accepted requests, recovery, and the server's RSS before/after.
set -euo pipefail
cd "$(dirname "$0")/.."
ENTRIES=${ENTRIES:-1000000}
DUR=${DUR:-15}
PORT=${PORT:-18089}
WORK=$(mktemp -d /tmp/hashsieve-serve-bench.XXXXXX)
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER=

command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk"; exit 1; }
cargo build --release --bin hashsieve >/dev/null 2>&1
BIN=target/release/hashsieve
DB=$WORK/bench.db
U=http://127.0.0.1:$PORT

echo "== setup: $ENTRIES random PDQ hashes (seed 42), 1 MP JPEGs"
python3 - "$WORK/list.txt" "$WORK/queries.lua" "$ENTRIES" <<'PY'
import random, sys
random.seed(42)
n = int(sys.argv[3])
with open(sys.argv[1], "w") as f:
    for _ in range(n):
        f.write("%064x\n" % random.getrandbits(256))
# Queries: a mix of random hashes (misses) and listed hashes with 1-8 bits flipped (hits).
random.seed(7)
listed = []
with open(sys.argv[1]) as f:
    for i, line in enumerate(f):
        if i % (n // 500 or 1) == 0:
            listed.append(int(line, 16))
qs = []
for i in range(1000):
    if i % 2 == 0:
        qs.append("%064x" % random.getrandbits(256))
    else:
        h = random.choice(listed)
        for _ in range(random.randint(1, 8)):
            h ^= 1 << random.randrange(256)
        qs.append("%064x" % h)
with open(sys.argv[2], "w") as f:
    f.write("local q = {" + ",".join('"%s"' % q for q in qs) + "}\n")
    f.write("local i = 0\n")
    f.write("request = function()\n  i = i + 1\n  return wrk.format('GET', '/v1/match?signal_type=pdq&signal=' .. q[(i % #q) + 1])\nend\n")
PY
$BIN db --db "$DB" list-create BENCH >/dev/null
/usr/bin/time -f "import: %e s, max RSS %M KiB" $BIN db --db "$DB" import BENCH "$WORK/list.txt" >/dev/null
mkdir -p "$WORK/img"
for i in 0 1 2 3 4 5 6 7; do
  ffmpeg -loglevel error -f lavfi -i "testsrc2=size=1000x1000:rate=1,noise=alls=$((i*6)):allf=t" \
    -frames:v 1 -q:v 3 "$WORK/img/p$i.jpg"
done
# The CLI's throughput: 200 files (25 copies of each, with a distinct
# trailing byte each, which decoders ignore, so that scan's same-content
# cache cannot skip any), all cores.
mkdir -p "$WORK/cli"
for r in $(seq 25); do for i in 0 1 2 3 4 5 6 7; do
  { cat "$WORK/img/p$i.jpg"; printf "\\$(printf '%03o' $r)"; } > "$WORK/cli/r${r}_$i.jpg"
done; done
# cli_rate ARGS...: median images/s and CPU ms per image of `hashsieve ARGS... $WORK/cli`.
cli_rate() {
  python3 - "$BIN" "$WORK/cli" "$@" <<'PY'
import resource, subprocess, sys, time, statistics
rates, cpus = [], []
for _ in range(3):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run([sys.argv[1], *sys.argv[3:], sys.argv[2]], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if p.returncode not in (0, 1):
        sys.exit("hashsieve %s failed: %d" % (sys.argv[3:], p.returncode))
    rates.append(200 / (time.perf_counter() - t))
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpus.append((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / 200 * 1e3)
print("%.2f %.2f" % (statistics.median(rates), statistics.median(cpus)))
PY
}
read CLI CLICPU < <(cli_rate hash)
echo "CLI: hashsieve hash (200 x 1 MP JPEG, all cores): median of 3 = $CLI images/s, $CLICPU ms CPU per image"
# The same job as POST /v1/match: hash, the default views, match against
# the same 1M-entry list.
read SCAN SCANCPU < <(cli_rate scan --no-state --no-progress --db "$DB")
echo "CLI: hashsieve scan --db (same list, default views): median of 3 = $SCAN images/s, $SCANCPU ms CPU per image"

$BIN serve --db "$DB" --listen 127.0.0.1:$PORT 2>"$WORK/serve.err" &
SERVER=$!
for _ in $(seq 600); do grep -q listening "$WORK/serve.err" 2>/dev/null && break; sleep 0.2; done
grep -q listening "$WORK/serve.err" || { cat "$WORK/serve.err"; exit 1; }
rss() { awk '/VmRSS/ {print $2}' /proc/$SERVER/status; }
# Server CPU time (utime + stime, clock ticks): CPU per request does not
# depend on what else the machine runs (wrk shares the same 2 cores).
cpu() { awk '{print $14 + $15}' /proc/$SERVER/stat; }
TCK=$(getconf CLK_TCK)
echo "server up; index: $(curl -s $U/readyz); RSS $(rss) KiB"

echo
echo "== (a) GET /v1/match by PDQ: wrk -t2 -c32 -d${DUR}s (1000 queries, half near-hits)"
C0=$(cpu)
wrk -t2 -c32 -d${DUR}s --latency -s "$WORK/queries.lua" $U > "$WORK/a.txt"
C1=$(cpu)
grep -E "Requests/sec|Non-2xx|^ +50%|^ +99%" "$WORK/a.txt" | sed 's/^/  /'
N=$(awk '/requests in/ {print $1}' "$WORK/a.txt")
python3 -c "print('  server CPU per request: %.1f us (%d requests)' % (($C1 - $C0) / $TCK * 1e6 / $N, $N))"

echo
echo "== (b) POST /v1/match, 1 MP JPEG: wrk -t2 -c4 -d${DUR}s"
cat > "$WORK/post.lua" <<LUA
local f = io.open("$WORK/img/p3.jpg", "rb")
wrk.method = "POST"
wrk.body = f:read("*all")
f:close()
wrk.headers["Content-Type"] = "image/jpeg"
wrk.path = "/v1/match"
LUA
C0=$(cpu)
wrk -t2 -c4 -d${DUR}s --latency -s "$WORK/post.lua" $U > "$WORK/b.txt"
C1=$(cpu)
grep -E "Requests/sec|Non-2xx|^ +50%|^ +99%" "$WORK/b.txt" | sed 's/^/  /'
N=$(awk '/requests in/ {print $1}' "$WORK/b.txt")
python3 -c "c = ($C1 - $C0) / $TCK * 1e3 / $N; print('  server CPU per request: %.2f ms (%d requests); CLI/server CPU-per-image ratio %.3f' % (c, $N, $CLICPU / c))"
B=$(awk '/Requests\/sec/ {print $2}' "$WORK/b.txt")
python3 -c "print('  server/CLI throughput ratio: %.3f (server %s req/s, CLI hash $CLI images/s)' % ($B / $CLI, '$B'))"
python3 -c "print('  same job (views + 1M-list match): server/CLI scan throughput %.3f, CPU per image CLI/server %.3f' % ($B / $SCAN, $SCANCPU / (($C1 - $C0) / $TCK * 1e3 / $N)))"

echo
RSS0=$(rss)
RATE=$(python3 -c "print(round(4 * $B, 1))")
echo "== (c) overload: open-loop $RATE req/s (4x (b)) for ${DUR}s, POST /v1/match 1 MP JPEG; RSS before $RSS0 KiB"
python3 - "$PORT" "$WORK/img/p3.jpg" "$RATE" "$DUR" <<'PY'
import asyncio, sys, time, statistics
port, img, rate, dur = int(sys.argv[1]), open(sys.argv[2], "rb").read(), float(sys.argv[3]), float(sys.argv[4])
head = ("POST /v1/match HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: image/jpeg\r\n"
        "Content-Length: %d\r\n\r\n" % len(img)).encode()
results = []
async def one():
    t = time.perf_counter()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(head + img)
        await w.drain()
        data = await asyncio.wait_for(r.read(), 120)
        w.close()
        status = int(data.split(b" ", 2)[1])
    except Exception as e:
        status = 0
    results.append((status, time.perf_counter() - t))
async def main():
    tasks = []
    n = int(rate * dur)
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
asyncio.run(main())
ok = sorted(l for s, l in results if s == 200)
shed = sum(1 for s, _ in results if s == 503)
other = [s for s, _ in results if s not in (200, 503)]
def pct(v, p): return v[min(len(v) - 1, int(p * len(v)))] * 1000 if v else float("nan")
print("  sent %d: 200=%d, 503=%d (%.0f%%), other=%d %s" % (len(results), len(ok), shed, 100.0 * shed / max(1, len(results)), len(other), sorted(set(other))))
print("  accepted: %.1f req/s, p50 %.0f ms, p99 %.0f ms" % (len(ok) / dur, pct(ok, .5), pct(ok, .99)))
sl = sorted(l for s, l in results if s == 503)
print("  503 answers: p50 %.1f ms, p99 %.1f ms" % (pct(sl, .5), pct(sl, .99)))
PY
RSS1=$(rss)
sleep 5
R=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: image/jpeg' --data-binary @"$WORK/img/p3.jpg" $U/v1/match)
wrk -t2 -c4 -d5s -s "$WORK/post.lua" $U > "$WORK/c2.txt"
RSS2=$(rss)
echo "  recovery: single request -> $R; then $(awk '/Requests\/sec/ {print $2}' "$WORK/c2.txt") req/s, $(grep -c Non-2xx "$WORK/c2.txt" || true) lines with non-2xx"
echo "  RSS KiB: before $RSS0, right after $RSS1, after recovery run $RSS2"
kill -TERM $SERVER; wait $SERVER || true; SERVER=
echo "server stopped (SIGTERM)"

echo
echo "== (b') POST /v1/match, 1 MP JPEG, server started with --views none (the work of hash + a lookup)"
$BIN serve --db "$DB" --listen 127.0.0.1:$PORT --views none 2>"$WORK/serve2.err" &
SERVER=$!
for _ in $(seq 600); do grep -q listening "$WORK/serve2.err" 2>/dev/null && break; sleep 0.2; done
C0=$(cpu)
wrk -t2 -c4 -d${DUR}s --latency -s "$WORK/post.lua" $U > "$WORK/b2.txt"
C1=$(cpu)
grep -E "Requests/sec|Non-2xx|^ +50%|^ +99%" "$WORK/b2.txt" | sed 's/^/  /'
N=$(awk '/requests in/ {print $1}' "$WORK/b2.txt")
B2=$(awk '/Requests\/sec/ {print $2}' "$WORK/b2.txt")
python3 -c "c = ($C1 - $C0) / $TCK * 1e3 / $N; print('  server CPU per request: %.2f ms; CLI hash/server CPU-per-image %.3f; server/CLI hash throughput %.3f' % (c, $CLICPU / c, $B2 / $CLI))"
kill -TERM $SERVER; wait $SERVER || true; SERVER=
