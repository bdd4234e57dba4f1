#!/usr/bin/env bash
# Peak memory of a scan: 200,000 small files plus a 2 GB video, measured
# with /usr/bin/time -v (Maximum resident set size). Target: < 1 GiB.
#
# Usage: bash benches/scan_rss.sh [WORKDIR]   (default /tmp/hashsieve-scan-rss)
#
# The small files: 20,000 copies of a small conformance PNG with a distinct
# 4-byte tail each (distinct content, so each is decoded and PDQ-hashed),
# and 180,000 random files of 100 B to 8 KiB, spread over 200 folders. The video: 21 minutes of FFmpeg's testsrc2 at 720p30,
# MPEG-4 part 2 capped at 27 Mbit/s (the encoder averages ~13 Mbit/s on this
# synthetic content: about 2 GB). The scan records its resume
# state, as a real run does.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/hashsieve-scan-rss}
CONF=../shared/conformance
cargo build --release --bin hashsieve 2>&1 | tail -1
BIN=$PWD/target/release/hashsieve
mkdir -p "$WORK"
if [ ! -f "$WORK/.small-done" ]; then
  rm -rf "$WORK/tree/small" && mkdir -p "$WORK/tree/small"
  PNG=$(ls -S "$CONF"/pdq/decoded/*.png 2>/dev/null | tail -1 || true)
  python3 - "$WORK/tree/small" "${PNG:-}" <<'PY'
import os, random, sys
root, png = sys.argv[1], sys.argv[2]
r = random.Random(7)
img = open(png, "rb").read() if png else None
for i in range(200_000):
    d = os.path.join(root, "d%03d" % (i % 200))
    if i < 200:
        os.makedirs(d, exist_ok=True)
    p = os.path.join(d, "f%06d" % i)
    with open(p, "wb") as f:
        if img is not None and i % 10 == 0:
            f.write(img + i.to_bytes(4, "little"))
        else:
            f.write(r.randbytes(r.randint(100, 8192)))
PY
  touch "$WORK/.small-done"
fi
if [ ! -f "$WORK/tree/video-2gb.mp4" ]; then
  ffmpeg -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30 -t 1260 \
    -c:v mpeg4 -b:v 27M -maxrate 27M -bufsize 8M "$WORK/video.tmp.mp4"
  mv "$WORK/video.tmp.mp4" "$WORK/tree/video-2gb.mp4"
fi
ls -la "$WORK/tree/video-2gb.mp4"
echo "files: $(find "$WORK/tree" -type f | wc -l), bytes: $(du -sb "$WORK/tree" | cut -f1)"
rm -f "$WORK/state.runs"*
/usr/bin/time -v "$BIN" scan --threads 2 --no-progress --state "$WORK/state.runs" \
  --summary-json "$WORK/summary.json" "$WORK/tree" >/dev/null 2>"$WORK/time.txt" || true
grep -E "Maximum resident|Elapsed|Exit status" "$WORK/time.txt"
grep -E '"(files|records|images|videos|frames|errors|seconds)"' "$WORK/summary.json"
