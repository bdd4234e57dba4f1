#!/usr/bin/env bash
# One command for a newcomer: install what is missing, build in release mode,
# and run the main job (a scan of folders and archives against a hash list)
# on the small bundled example in demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

cargo build --release
bin=target/release/hashsieve

db=target/demo.db
rm -f "$db" "$db"-wal "$db"-shm "$db".runs
echo
echo "== a hash list (embedded SQLite at $db), imported from demo/demo-list.csv"
"$bin" db --db "$db" list-create demo-known --source file \
  --description "Demo list: synthetic media standing in for confirmed items" >/dev/null
"$bin" db --db "$db" import demo-known demo/demo-list.csv
"$bin" db --db "$db" stats

echo
echo "== scanning demo/uploads (a folder with a zip inside) against it"
set +e
"$bin" scan --db "$db" --format jsonl --no-progress --summary-json target/demo-summary.json demo/uploads \
  > target/demo-report.jsonl
code=$?
set -e
python3 - target/demo-report.jsonl <<'PY' 2>/dev/null || cat target/demo-report.jsonl
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    hits = ", ".join(f"{m['list']}/{m['signal_type']}" + (f" d={m['distance']}" if m.get('distance') is not None else "")
                     for m in r.get("matches") or [])
    err = (r.get("error") or {})
    status = f"MATCH {hits}" if hits else (f"error {err.get('kind')}: {err.get('message')}" if err else "no match")
    print(f"  {r['path']:<55} {r['media']:<8} {status}")
PY
echo
echo "report: target/demo-report.jsonl   summary: target/demo-summary.json   exit code: $code"
echo "(exit codes: 0 no match, 1 matches found, 2 errors happened, 3 both; here broken.jpg is a truncated JPEG on purpose)"
