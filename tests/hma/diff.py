"""Send one list of requests to real HMA and to `hashsieve serve`, both
started empty, and diff the answers field by field.

Run by run_api_tests.sh (HMA's venv, OMM_CONFIG and HMA_DATABASE_URI set):
    python diff.py HMA_URL HASHSIEVE_URL RESET_HASHSIEVE_CMD

HMA builds its match index in a background task; before each lookup this
script builds it the way HMA's own tests do (build_all_indices, in-process
on HMA's database). HMA fetches from its exchanges in a background task
too: a step marked "fetch" first runs HMA's fetch_all the way its tests do
(in-process) and hashsieve's `POST /dev/run_fetch`. Volatile fields
(timestamps) are compared by type only.
Differences listed in KNOWN are deliberate and documented in the README;
every other difference is reported as such. Exit status: 1 when an
undocumented difference was found.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import typing as t
from pathlib import Path

import requests
from PIL import Image

VOLATILE = {"built_to", "newest_db_item", "index_built_to", "version", "last_fetch_complete_ts"}

# Step name -> why the answers differ (README, "HMA 2.0 compatibility").
KNOWN: dict[str, str] = {
    "site-map": "route lists differ (hashsieve lists its HMA routes)",
    "openapi": "documents differ; only info.title is HMA's",
    "signal types": "hashsieve also answers vpdq (HMA with its vPDQ extension does too)",
    "signal type index": "hashsieve also answers vpdq",
    "index status all": "hashsieve also answers vpdq",
    "exchange apis": "hashsieve offers sample and local_file; HMA installs sample by default",
    "raw lookup hash added twice": "the same two matches in another order: hashsieve lists raw lookup matches by content id, HMA in its PDQ index's order (pytx's faiss index, here the newer item first)",
    "lookup bypass coinflip": "HMA's GET /m/lookup ignores bypass_coinflip (its POST honours it); hashsieve honours it on both",
    "unknown route": "HMA answers Flask's HTML 404 page; hashsieve a JSON error",
    "exchange status after fetch": "hashsieve's sample exchange also gives pytx's vPDQ sample (HMA with its vPDQ extension does too): 19 fetched items, HMA's 18",
    "fetched sample item": "HMA's item of a fetched signal has metadata naming its exchange and fetch key ({\"collab\": {\"EXCH\": [\"('pdq', '...')\"]}}); hashsieve's has none",
    "exchange status after second fetch": "the same 19 against 18 (both fetch the sample once: pytx's NoCheckpointing)",
}


def checkerboard(cell: int, size: int = 128) -> Image.Image:
    img = Image.new("RGB", (size, size))
    px = img.load()
    assert px is not None
    for x in range(size):
        for y in range(size):
            px[x, y] = (255, 255, 255) if (x // cell + y // cell) % 2 else (0, 0, 0)
    return img


def jpeg(img: Image.Image) -> bytes:
    b = io.BytesIO()
    img.save(b, format="JPEG", quality=95)
    return b.getvalue()


def media() -> dict[str, bytes]:
    grad = Image.new("RGB", (160, 120))
    px = grad.load()
    assert px is not None
    for x in range(160):
        for y in range(120):
            px[x, y] = ((x * 7 + y * 3) % 256, (x * y) % 256, (x * 2 + y * 5) % 256)
    return {
        "image1.jpg": jpeg(checkerboard(8)),
        "image2.jpg": jpeg(checkerboard(16)),
        "image3.jpg": jpeg(grad),
        "flat.jpg": jpeg(Image.new("RGB", (64, 64), (128, 128, 128))),
    }


def serve_dir(files: dict[str, bytes]) -> str:
    d = Path(tempfile.mkdtemp())
    for n, b in files.items():
        (d / n).write_bytes(b)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(d))

    class Quiet(handler.func):  # type: ignore[name-defined,misc]
        def log_message(self, *a: t.Any) -> None:
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(d)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}"


def diff(a: t.Any, b: t.Any, path: str = "") -> list[str]:
    key = path.rsplit(".", 1)[-1]
    if key in VOLATILE:
        return [] if type(a) is type(b) else [f"{path}: type {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}" if path else k
            if k not in a:
                out.append(f"{p}: only hashsieve has it ({json.dumps(b[k])[:80]})")
            elif k not in b:
                out.append(f"{p}: only HMA has it ({json.dumps(a[k])[:80]})")
            else:
                out += diff(a[k], b[k], p)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)} items ({json.dumps(a)[:80]} vs {json.dumps(b)[:80]})"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{path}[{i}]")
        return out
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return [] if float(a) == float(b) else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {json.dumps(a)[:80]} != {json.dumps(b)[:80]}"]


def body_of(r: requests.Response) -> t.Any:
    ctype = r.headers.get("content-type", "")
    if "json" in ctype:
        try:
            return r.json()
        except ValueError:
            return r.text
    return r.text if r.content else None


def main() -> int:
    hma, hs, reset_hs = sys.argv[1].rstrip("/"), sys.argv[2].rstrip("/"), sys.argv[3]
    from OpenMediaMatch.app import create_app
    from OpenMediaMatch.background_tasks.build_index import build_all_indices
    from OpenMediaMatch.persistence import get_storage
    from OpenMediaMatch.storage.postgres.flask_utils import reset_tables
    from OpenMediaMatch.background_tasks.fetcher import fetch_all
    from threatexchange.signal_type.md5 import VideoMD5Signal
    from threatexchange.signal_type.pdq.signal import PdqSignal

    app = create_app()
    with app.app_context():
        reset_tables()
    subprocess.run(reset_hs, shell=True, check=True)

    def build() -> None:
        with app.app_context():
            s = get_storage()
            build_all_indices(s, s, s)

    def fetch() -> None:
        with app.app_context():
            s = get_storage()
            fetch_all(s, s.get_signal_type_configs())
        r = requests.post(hs + "/dev/run_fetch", timeout=120)
        assert r.status_code == 200, (r.status_code, r.text)

    files = media()
    base = serve_dir(files)
    pdq1 = PdqSignal.hash_from_bytes(files["image1.jpg"])
    md5_1 = hashlib.md5(files["image1.jpg"]).hexdigest()
    example = PdqSignal.get_examples()[0]

    def up(field: str, name: str) -> dict[str, t.Any]:
        return {"files": {field: (name, files[name], "image/jpeg")}}

    steps: list[tuple[str, str, str, dict[str, t.Any]]] = [
        ("status", "GET", "/status", {}),
        ("status live", "GET", "/status/live", {}),
        ("site-map", "GET", "/site-map", {}),
        ("openapi", "GET", "/openapi/openapi.json", {"only": ["info.title"]}),
        ("banks empty", "GET", "/c/banks", {}),
        ("create bank", "POST", "/c/banks", {"json": {"name": "BANK_A"}}),
        ("create bank ratio", "POST", "/c/banks", {"json": {"name": "BANK_B", "enabled_ratio": 0.5}}),
        ("create bank bad name", "POST", "/c/banks", {"json": {"name": "bank a"}}),
        ("create bank again", "POST", "/c/banks", {"json": {"name": "BANK_A"}}),
        ("banks", "GET", "/c/banks", {}),
        ("bank", "GET", "/c/bank/BANK_A", {}),
        ("bank missing", "GET", "/c/bank/NOPE", {}),
        ("rename bank", "PUT", "/c/bank/BANK_B", {"json": {"name": "BANK_C"}}),
        ("disable bank", "PUT", "/c/bank/BANK_C", {"json": {"enabled": False}}),
        ("bank ratio", "PUT", "/c/bank/BANK_C", {"json": {"enabled_ratio": 0.25}}),
        ("rename bad", "PUT", "/c/bank/BANK_C", {"json": {"name": "1X"}}),
        ("add content url", "POST", f"/c/bank/BANK_A/content?url={base}/image1.jpg&content_type=photo", {"json": {"note": "first", "metadata": {"content_id": "c1", "json": {"k": 1}}}}),
        ("add content upload", "POST", "/c/bank/BANK_A/content", up("photo", "image2.jpg")),
        ("add content bad metadata", "POST", f"/c/bank/BANK_A/content?url={base}/image3.jpg&content_type=photo", {"json": {"metadata": {"nope": 1}}}),
        ("add content long note", "POST", f"/c/bank/BANK_A/content?url={base}/image3.jpg&content_type=photo", {"json": {"note": "x" * 256}}),
        ("add low quality photo", "POST", "/c/bank/BANK_A/content", up("photo", "flat.jpg")),
        ("add signal", "POST", "/c/bank/BANK_A/signal", {"json": {"pdq": example, "note": "n"}}),
        ("add md5 signal", "POST", "/c/bank/BANK_C/signal", {"json": {"video_md5": md5_1}}),
        ("add same hash again", "POST", "/c/bank/BANK_A/signal", {"json": {"pdq": example}}),
        ("add bad signal", "POST", "/c/bank/BANK_A/signal", {"json": {"pdq": "banana"}}),
        ("add unknown type", "POST", "/c/bank/BANK_A/signal", {"json": {"sha256": "0" * 64}}),
        ("add to missing bank", "POST", "/c/bank/NOPE/signal", {"json": {"pdq": example}}),
        ("get content", "GET", "/c/bank/BANK_A/content/1", {}),
        ("get content signals", "GET", "/c/bank/BANK_A/content/1?include_signals=true", {}),
        ("get content no metadata", "GET", "/c/bank/BANK_A/content/1?include_metadata=false", {}),
        ("get content missing", "GET", "/c/bank/BANK_A/content/999", {}),
        ("update note", "PUT", "/c/bank/BANK_A/content/2", {"json": {"note": "second"}}),
        ("disable too late", "PUT", "/c/bank/BANK_A/content/2", {"json": {"disable_until_ts": 9999999999}}),
        ("hash photo", "POST", "/h/hash", up("photo", "image1.jpg")),
        ("hash video field", "POST", "/h/hash", up("video", "image1.jpg")),
        ("hash low quality", "POST", "/h/hash", up("photo", "flat.jpg")),
        ("hash types", "POST", "/h/hash?types=pdq", up("photo", "image1.jpg")),
        ("hash bad field", "POST", "/h/hash", up("file", "image1.jpg")),
        ("hash url", "GET", f"/h/hash?url={base}/image1.jpg", {}),
        # BANK_C matches at ratio 0.25: every lookup sends a seed, so both
        # servers flip the same coin (CPython's random.Random(seed)).
        ("lookup pdq", "GET", f"/m/lookup?signal_type=pdq&signal={pdq1}&seed=diff", {"build": True}),
        ("lookup banks", "GET", f"/m/lookup?signal_type=pdq&signal={pdq1}&banks=BANK_C&seed=diff", {"build": True}),
        ("lookup md5 ratio seed", "GET", f"/m/lookup?signal_type=video_md5&signal={md5_1}&seed=abc", {"build": True}),
        ("lookup md5 ratio seed 2", "GET", f"/m/lookup?signal_type=video_md5&signal={md5_1}&seed=1", {"build": True}),
        ("lookup no match", "GET", f"/m/lookup?signal_type=pdq&signal={'5' * 64}&seed=diff", {"build": True}),
        ("lookup bypass coinflip", "GET", f"/m/lookup?signal_type=video_md5&signal={md5_1}&seed=abc&bypass_coinflip=true", {"build": True}),
        ("lookup post bypass coinflip", "POST", "/m/lookup?seed=abc&bypass_coinflip=true", {**up("video", "image1.jpg"), "build": True}),
        ("lookup unknown type", "GET", "/m/lookup?signal_type=nope&signal=x", {}),
        ("lookup bad signal", "GET", "/m/lookup?signal_type=pdq&signal=banana", {}),
        ("lookup nothing", "GET", "/m/lookup", {}),
        ("raw lookup", "GET", f"/m/raw_lookup?signal_type=pdq&signal={pdq1}", {"build": True}),
        ("raw lookup distance", "GET", f"/m/raw_lookup?signal_type=pdq&signal={pdq1}&include_distance=true", {"build": True}),
        ("raw lookup md5", "GET", f"/m/raw_lookup?signal_type=video_md5&signal={md5_1}&include_distance=true", {"build": True}),
        ("raw lookup missing", "GET", "/m/raw_lookup?signal_type=pdq", {"status_only": True}),
        ("lookup post photo", "POST", "/m/lookup?seed=diff", {**up("photo", "image1.jpg"), "build": True}),
        ("lookup post video field", "POST", "/m/lookup?seed=abc", {**up("video", "image1.jpg"), "build": True}),
        ("lookup post video field 2", "POST", "/m/lookup?seed=seed", {**up("video", "image1.jpg"), "build": True}),
        ("lookup url", "GET", f"/m/lookup?url={base}/image1.jpg&seed=diff", {"build": True}),
        ("compare", "POST", "/m/compare", {"json": {"pdq": [example, pdq1]}}),
        ("compare bad", "POST", "/m/compare", {"json": {"pdq": ["banana", "banana"]}}),
        ("index status pdq", "GET", "/m/index/status?signal_type=pdq", {"build": True}),
        ("index status all", "GET", "/m/index/status", {"build": True}),
        ("signal types", "GET", "/c/signal_type", {}),
        ("signal type index", "GET", "/c/signal_type/index", {"build": True}),
        ("content types", "GET", "/c/content_type", {}),
        ("exchange apis", "GET", "/c/exchanges/apis", {}),
        ("exchange api", "GET", "/c/exchanges/api/sample", {}),
        ("create exchange", "POST", "/c/exchanges", {"json": {"api": "sample", "bank": "EXCH", "api_json": {}}}),
        ("exchanges", "GET", "/c/exchanges", {}),
        ("exchange status", "GET", "/c/exchange/EXCH/status", {}),
        ("exchange status missing", "GET", "/c/exchange/NOPE/status", {}),
        # The sample exchange fetched (pytx's sample signals into bank EXCH,
        # one content item each, ids counting on from the banks above).
        ("exchange status after fetch", "GET", "/c/exchange/EXCH/status", {"fetch": True}),
        ("lookup fetched sample md5", "GET", f"/m/lookup?signal_type=video_md5&signal={VideoMD5Signal.get_examples()[0]}&seed=diff", {"build": True}),
        ("lookup fetched sample pdq", "GET", f"/m/lookup?signal_type=pdq&signal={example}&banks=EXCH&seed=diff", {"build": True}),
        ("fetched sample item", "GET", "/c/bank/EXCH/content/6?include_signals=true", {}),
        ("exchange status after second fetch", "GET", "/c/exchange/EXCH/status", {"fetch": True}),
        ("delete exchange", "DELETE", "/c/exchange/EXCH", {}),
        # The example hash is in BANK_A twice ("add signal" made item 3,
        # "add same hash again" item 5): a lookup answers both items, and
        # each is disabled and deleted on its own.
        ("lookup hash added twice", "GET", f"/m/lookup?signal_type=pdq&signal={example}&seed=diff", {"build": True}),
        ("raw lookup hash added twice", "GET", f"/m/raw_lookup?signal_type=pdq&signal={example}&include_distance=true", {"build": True}),
        ("get second item of a hash", "GET", "/c/bank/BANK_A/content/5?include_signals=true", {}),
        ("disable first item of a hash", "PUT", "/c/bank/BANK_A/content/3", {"json": {"disable_until_ts": 0}}),
        ("lookup hash, one item disabled", "GET", f"/m/lookup?signal_type=pdq&signal={example}&seed=diff", {"build": True}),
        ("delete first item of a hash", "DELETE", "/c/bank/BANK_A/content/3", {}),
        ("lookup hash, one item deleted", "GET", f"/m/lookup?signal_type=pdq&signal={example}&seed=diff", {"build": True}),
        ("raw lookup hash, one item deleted", "GET", f"/m/raw_lookup?signal_type=pdq&signal={example}", {"build": True}),
        ("delete content", "DELETE", "/c/bank/BANK_A/content/1", {}),
        ("delete content again", "DELETE", "/c/bank/BANK_A/content/1", {}),
        ("delete bank", "DELETE", "/c/bank/BANK_C", {}),
        ("delete missing bank", "DELETE", "/c/bank/NOPE", {}),
        ("unknown route", "GET", "/c/nope", {"status_only": True}),
    ]

    same = documented = differ = 0
    for name, method, path, opts in steps:
        if opts.get("fetch"):
            fetch()
        if opts.get("build"):
            build()
        answers = []
        for b in (hma, hs):
            kw: dict[str, t.Any] = {"timeout": 60, "allow_redirects": False}
            if "json" in opts:
                kw["json"] = opts["json"]
            if "files" in opts:
                kw["files"] = opts["files"]
            r = requests.request(method, b + path, **kw)
            answers.append((r.status_code, body_of(r)))
        (sa, ba), (sb, bb) = answers
        problems = [] if sa == sb else [f"status {sa} != {sb}"]
        if not opts.get("status_only"):
            if "only" in opts:
                for field in opts["only"]:
                    pa, pb = ba, bb
                    for part in field.split("."):
                        pa = pa.get(part) if isinstance(pa, dict) else None
                        pb = pb.get(part) if isinstance(pb, dict) else None
                    problems += diff(pa, pb, field)
            elif 400 <= sa and 400 <= sb:
                # Error texts are free-form: compare the shape.
                ka = sorted(ba) if isinstance(ba, dict) else type(ba).__name__
                kb = sorted(bb) if isinstance(bb, dict) else type(bb).__name__
                problems += [] if ka == kb else [f"error shape {ka} != {kb}"]
            else:
                problems += diff(ba, bb)
        if not problems:
            same += 1
            print(f"same        {method:6} {name}")
        elif name in KNOWN:
            documented += 1
            print(f"documented  {method:6} {name}: {KNOWN[name]}")
            for p in problems:
                print(f"              {p}")
        else:
            differ += 1
            print(f"DIFFERENT   {method:6} {name}")
            for p in problems:
                print(f"              {p}")
    print(f"\n{len(steps)} requests: {same} same, {documented} documented differences, {differ} undocumented differences")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
