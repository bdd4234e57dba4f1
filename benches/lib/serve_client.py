"""What the benchmarks that drive `hashsieve serve` over HTTP share
(benches/pg_list_toggle.sh, benches/import_apply.sh): imported by their
Python parts, which run from the repository's root."""
import http.client, json, multiprocessing, os, random, re, socket


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path); r = c.getresponse(); return r.status, r.read()


def scrape(port):
    """The server's /metrics: {(name, labels text): value}."""
    out = {}
    for line in get(port, "/metrics")[1].decode().splitlines():
        m = re.match(r'^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)', line)
        if m and not line.startswith("#"):
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def hist_q(before, after, name, q):
    """Upper bound of the bucket holding quantile q of histogram `name`
    between two scrapes (None: nothing counted)."""
    bs = sorted((float(re.search(r'le="([^"]+)"', l).group(1)), v - before.get((n, l), 0.0))
                for (n, l), v in after.items() if n == name + "_bucket")
    if not bs or bs[-1][1] <= 0:
        return None
    return next(le for le, n in bs if n >= q * bs[-1][1])


def hits(c, h):
    """The matches of PDQ hash `h` on kept-alive connection `c`."""
    c.request("GET", f"/v1/match?signal_type=pdq&signal={h}")
    r = c.getresponse(); return json.loads(r.read())["matches"]


class Probe:
    """A kept-alive connection to one server, opened again when the server
    closed it (its idle timeout runs out while an import is written)."""
    def __init__(self, port):
        self.port, self.c = port, None
    def hits(self, h):
        for _ in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                return hits(self.c, h)
            except (OSError, http.client.HTTPException):
                self.c.close(); self.c = None
        raise SystemExit(f"server on {self.port} does not answer")


def _timer_main(conn):
    while True:
        msg = conn.recv()
        if msg is None:
            return
        port, stop_file = msg
        c, out = http.client.HTTPConnection("127.0.0.1", port, timeout=30), []
        while not os.path.exists(stop_file):
            h = "%064x" % random.getrandbits(256); t = __import__("time").perf_counter(); hits(c, h)
            out.append(__import__("time").perf_counter() - t)
        conn.send(out)


def start_timer():
    """A process of its own (forked before the caller starts threads) that
    times random lookups (misses) back to back: send (port, stop_file),
    receive the latencies once stop_file exists; send None to end it."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    ctx.Process(target=_timer_main, args=(child,), daemon=True).start()
    return parent


def p99(xs):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(0.99 * len(xs)))]
