#!/usr/bin/env bash
# Seed corpora for the fuzz targets: small valid examples of every input
# kind, so the fuzzer starts from inputs that get past the magic bytes and
# headers instead of having to discover them.
#
# Writes fuzz/corpus/<target>/seed-*. Needs ffmpeg (images), zip, tar,
# gzip, zstd, xz and python3 (raw bytes). The committed corpora were made
# with it and then grown and minimised by the fuzzer (`cargo fuzz cmin`);
# run it again only to start a corpus afresh.
set -euo pipefail
cd "$(dirname "$0")"
c=corpus
mkdir -p "$c"/{list_formats,vpdq_text,archive,image,pdq_pixels,serve_body,hma_params}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The hashes the fuzzing service's database holds (src/serve/fuzzing.rs),
# so lookups can hit.
PDQ=e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c
PDQ2=f271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c
MD5=0cc175b9c0f1b6a831c399e269772661
SHA=ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb
B3=af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262

# ---- list files (the Format::ALL order: pdq signal csv te-csv vpdq jsonl)
cat >"$tmp/pdq" <<EOF
# reference tool output
$PDQ
$PDQ2,87,cat.jpg
EOF
cat >"$tmp/signal" <<EOF
pdq $PDQ
md5 $MD5
sha256 $SHA
blake3 $B3
vpdq {"0":{"quality":100,"hash":"$PDQ","timestamp":0.0},"30":{"quality":90,"hash":"$PDQ2","timestamp":1.0}}
EOF
cat >"$tmp/csv" <<EOF
signal_type,signal_value,labels,external_id,note,quality
pdq,$PDQ,entity:x;'=formula,ext-1,"a note, quoted",90
md5,$MD5,,,,
vpdq,"[{""frame"":0,""quality"":100,""hash"":""$PDQ"",""timestamp"":0.5}]",video,,,
EOF
cat >"$tmp/te-csv" <<EOF
signal_type,signal_str,collab,category,tags
pdq,$PDQ,gifct,terrorism,tag1 tag2
video_md5,$MD5,tcap,,
EOF
cat >"$tmp/vpdq" <<EOF
0,100,$PDQ,0.000
30,90,$PDQ2,1.000
60,0,$PDQ,2.000
EOF
cat >"$tmp/jsonl" <<EOF
{"list":"l","id":1,"signal_type":"pdq","value":"$PDQ","quality":80,"labels":["a","b"],"external_id":"e","note":"n","added_at":5,"status":"disputed","status_by":"bob","status_reason":"logo","status_at":6}
{"signal_type":"vpdq","frames":[{"frame":0,"quality":100,"hash":"$PDQ","timestamp":0.0},{"frame":30,"quality":7,"hash":"$PDQ2","timestamp":1.0000000001}]}
{"signal_type":"sha256","value":"$SHA"}
EOF
i=0
for f in pdq signal csv te-csv vpdq jsonl; do
    { printf "\\x$(printf %02x $i)"; cat "$tmp/$f"; } >"$c/list_formats/seed-$f"
    # Selector 6: detected, as `db import` without --format.
    { printf '\x06'; cat "$tmp/$f"; } >"$c/list_formats/seed-detect-$f"
    i=$((i + 1))
done

# ---- vPDQ text
cp "$tmp/vpdq" "$c/vpdq_text/seed-3-frames"
printf '\xef\xbb\xbf# from vpdq-hash\n0,100,%s,0.000\n\n1,100,%s,0.033\n' "$PDQ" "$PDQ2" \
    >"$c/vpdq_text/seed-bom-comment"
printf '0,100,%s,0.000\n30,90,%s' "$PDQ" "${PDQ:0:20}" >"$c/vpdq_text/seed-truncated"

# ---- images (tiny, from FFmpeg's test source)
img() { # name, ffmpeg output options...
    local name=$1
    shift
    ffmpeg -loglevel error -y -f lavfi -i testsrc=size=40x30:rate=1 -frames:v 1 \
        -fflags +bitexact -flags:v +bitexact "$@" "$tmp/$name"
}
img a.png
img grey.png -pix_fmt gray
img pal.png -pix_fmt pal8
img rgba.png -pix_fmt rgba
img deep.png -pix_fmt rgb48be
img a.jpg -q:v 5
img grey.jpg -pix_fmt gray -q:v 5
img a.gif
img a.bmp
img a.tiff
img a.webp -c:v libwebp -lossless 0 -quality 50
ffmpeg -loglevel error -y -f lavfi -i testsrc=size=64x64:rate=1 -frames:v 1 \
    -fflags +bitexact -flags:v +bitexact "$tmp/sq64.png"
# A picture in a black letterbox (the views' border trimming).
ffmpeg -loglevel error -y -f lavfi -i testsrc=size=40x24:rate=1 -frames:v 1 \
    -vf pad=40:40:0:8:black -fflags +bitexact -flags:v +bitexact "$tmp/boxed.png"
for f in a.png grey.png pal.png rgba.png deep.png a.jpg grey.jpg a.gif a.bmp a.tiff a.webp sq64.png boxed.png; do
    cp "$tmp/$f" "$c/image/seed-$f"
done

# ---- raw pixels: width-1, height-1, flags, RGB bytes
python3 - "$c/pdq_pixels" <<'EOF'
import sys, os
d = sys.argv[1]
def put(name, w, h, flags, px):
    open(os.path.join(d, "seed-" + name), "wb").write(bytes([w - 1, h - 1, flags]) + bytes(px))
grad = [(x * 7 + y * 3) % 256 for y in range(64) for x in range(64) for _ in range(3)]
put("64x64-gradient", 64, 64, 0, grad)
put("1x1", 1, 1, 0, [1, 2, 3])
put("strip-256x5", 256, 5, 1, [(i * 31) % 256 for i in range(256 * 5 * 3)])
# A picture in black bars, with EXIF orientation 6.
w, h = 48, 64
px = []
for y in range(h):
    for x in range(w):
        inside = 12 <= y < 52
        px += [(x * 5) % 256, (y * 9) % 256, (x * y) % 256] if inside else [0, 0, 0]
put("letterboxed", w, h, 6 << 1, px)
# One colour (quality 0).
put("flat", 32, 32, 0, [128] * 3)
EOF

# ---- archives (stable bytes: fixed times, no owners)
mkdir -p "$tmp/tree/sub"
cp "$tmp/a.png" "$tmp/tree/a.png"
printf 'hello\n' >"$tmp/tree/sub/b.txt"
touch -d @0 "$tmp/tree" "$tmp/tree/sub" "$tmp/tree/a.png" "$tmp/tree/sub/b.txt"
tarit() { tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$tmp/tree" -cf - "$@"; }
tarit a.png sub >"$tmp/a.tar"
gzip -n -c "$tmp/a.tar" >"$tmp/a.tar.gz"
zstd -q -c "$tmp/a.tar" >"$tmp/a.tar.zst"
xz -c "$tmp/a.tar" >"$tmp/a.tar.xz"
(cd "$tmp/tree" && TZ=UTC zip -X -q -r "$tmp/a.zip" a.png sub)
(cd "$tmp/tree" && TZ=UTC zip -X -q -0 "$tmp/stored.zip" sub/b.txt)
# Nested: a tar.gz inside a zip inside a tar.
cp "$tmp/a.tar.gz" "$tmp/tree/inner.tar.gz" && touch -d @0 "$tmp/tree/inner.tar.gz"
(cd "$tmp/tree" && TZ=UTC zip -X -q "$tmp/mid.zip" inner.tar.gz)
cp "$tmp/mid.zip" "$tmp/tree/mid.zip" && touch -d @0 "$tmp/tree/mid.zip"
tarit mid.zip >"$tmp/nested.tar"
for f in a.tar a.tar.gz a.tar.zst a.tar.xz a.zip stored.zip nested.tar; do
    cp "$tmp/$f" "$c/archive/seed-$f"
done

# ---- request bodies: selector (ROUTES in serve_body.rs), Content-Type, \n, body
body() { # selector, content type, body file
    printf "\\x$(printf %02x "$1")%s\n" "$2"
    cat "$3"
}
form() { # field name, file name, file -> multipart body with boundary XyZ
    printf -- '--XyZ\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\nContent-Type: application/octet-stream\r\n\r\n' "$1" "$2"
    cat "$3"
    printf -- '\r\n--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\ntext field\r\n--XyZ--\r\n'
}
MP='multipart/form-data; boundary=XyZ'
form photo a.png "$tmp/a.png" >"$tmp/form-photo"
form video a.mp4 "$tmp/a.png" >"$tmp/form-video"
sb="$c/serve_body"
body 0 image/png "$tmp/a.png" >"$sb/seed-hash-raw"
body 0 "$MP" "$tmp/form-photo" >"$sb/seed-hash-form"
body 1 image/jpeg "$tmp/a.jpg" >"$sb/seed-match-raw"
body 2 "$MP" "$tmp/form-photo" >"$sb/seed-hma-hash"
body 2 "$MP" "$tmp/form-video" >"$sb/seed-hma-hash-video"
body 3 "$MP" "$tmp/form-photo" >"$sb/seed-hma-lookup"
json() { # selector, JSON text
    printf "\\x$(printf %02x "$1")application/json\n%s" "$2"
}
json 4 "{\"pdq\":[\"$PDQ\",\"$PDQ2\"],\"md5\":[\"$MD5\",\"$MD5\"]}" >"$sb/seed-compare"
body 5 text/plain "$tmp/vpdq" >"$sb/seed-match-vpdq"
json 6 '{"name":"BANK_C","enabled_ratio":0.5}' >"$sb/seed-bank-create"
json 7 '{"name":"BANK_A","enabled":"false"}' >"$sb/seed-bank-update"
json 8 "{\"pdq\":\"$PDQ2\",\"video_md5\":\"$MD5\"}" >"$sb/seed-bank-signal"
body 9 "$MP" "$tmp/form-photo" >"$sb/seed-bank-content"
json 10 '{"name":"new","description":"d","source":"gifct","pdq_threshold":40,"pdq_quality":60,"vpdq_target_percent":70.5,"vpdq_query_percent":90,"vpdq_min_clip_frames":3}' >"$sb/seed-list-create"
json 11 '{"enabled":false,"pdq_threshold":20,"description":"x"}' >"$sb/seed-list-update"
json 12 '{"status":"disputed","reason":"logo","by":"analyst"}' >"$sb/seed-status"
json 13 "{\"signal_type\":\"pdq\",\"signal\":\"$PDQ\",\"note\":\"fp\"}" >"$sb/seed-allow"
body 14 text/csv "$tmp/csv" >"$sb/seed-import-csv"
body 14 text/plain "$tmp/jsonl" >"$sb/seed-import-jsonl"
body 15 image/png "$tmp/a.png" >"$sb/seed-add-media"

# ---- query strings: selector (ROUTES in hma_params.rs), then the query
q() { printf "\\x$(printf %02x "$1")%s" "$2" >"$c/hma_params/seed-$3"; }
q 0 "signal_type=pdq&signal=$PDQ&banks=BANK_A,BANK_B" lookup-pdq
q 0 "signal_type=video_md5&signal=$MD5" lookup-md5
q 0 "url=http://example.com/a.jpg&content_type=photo" lookup-url
q 1 "signal_type=pdq&signal=$PDQ&include_distance=true" raw-lookup
q 2 "url=http://example.com/a.mp4&content_type=video" hash-url
q 3 "signal_type=sha256&signal=$SHA&quality=80" match-sha
q 3 "signal_type=vpdq&signal=%7B%220%22:%7B%22quality%22:100,%22hash%22:%22$PDQ%22,%22timestamp%22:0%7D%7D" match-vpdq
q 3 "signal_type=blake3&signal=$B3" match-blake3
q 4 "views=all" hash-views
q 5 "banks=BANK_A" lookup-post
q 6 "format=csv&include_inactive=true&skip_invalid=1" export

echo "seeds written under $(pwd)/$c"
