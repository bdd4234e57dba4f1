#!/usr/bin/env bash
# How the demo media were made: all synthetic, from FFmpeg's own test sources
# (no real propaganda, no third-party images). Kept for provenance; the
# files are committed so the demo needs no FFmpeg run.
set -euo pipefail
cd "$(dirname "$0")"
t=$(mktemp -d)
ffmpeg -loglevel error -f lavfi -i "mandelbrot=size=960x540:rate=1" -frames:v 1 -q:v 3 known/known-poster.jpg
ffmpeg -loglevel error -f lavfi -i "testsrc2=size=480x270:rate=15:duration=12" -f lavfi -i "sine=frequency=440:duration=12" \
  -c:v libx264 -preset veryfast -crf 30 -pix_fmt yuv420p -c:a aac -b:a 32k -shortest known/known-clip.mp4
# Uploads: a resized, brightened, recompressed repost; an unrelated picture;
# an excerpt of the clip at a lower resolution; a truncated JPEG; a zip
# holding another copy of the poster.
ffmpeg -loglevel error -i known/known-poster.jpg -vf "scale=640:-2,eq=brightness=0.04" -q:v 8 uploads/poster-repost.jpg
ffmpeg -loglevel error -f lavfi -i "cellauto=size=800x450:rule=110:rate=1" -frames:v 1 -q:v 4 uploads/holiday.jpg
ffmpeg -loglevel error -i known/known-clip.mp4 -ss 2 -t 8 -vf "scale=320:180" -c:v libx264 -preset veryfast -crf 34 -an uploads/clip-excerpt.mp4
head -c 6000 uploads/holiday.jpg > uploads/broken.jpg
mkdir -p "$t/incoming"
ffmpeg -loglevel error -i known/known-poster.jpg -vf "scale=480:-2" -q:v 5 "$t/incoming/poster-in-archive.jpg"
echo "meeting notes, nothing to see" > "$t/incoming/notes.txt"
rm -f uploads/batch.zip
(cd "$t" && zip -qr "$OLDPWD/uploads/batch.zip" incoming)
# The list: hashes of the known media, made with hashsieve itself.
db="$t/list.db"
../target/release/hashsieve db --db "$db" list-create demo-known >/dev/null
../target/release/hashsieve db --db "$db" add demo-known --label demo:poster known/known-poster.jpg >/dev/null
../target/release/hashsieve db --db "$db" add demo-known --label demo:clip known/known-clip.mp4 >/dev/null
../target/release/hashsieve db --db "$db" export demo-known --format csv -o demo-list.csv
rm -rf "$t"
