#!/usr/bin/env bash
# Run HMA 2.0's own API tests (OpenMediaMatch's test_api.py,
# test_api_banks.py, test_match_api.py, test_e2e_workflow.py) three ways and
# print pass/fail counts for each:
#   hma-inprocess  real HMA through Flask's test client (HMA's own way);
#   hma-http       real HMA on loopback, the tests over HTTP;
#   hashsieve      `hashsieve serve` on loopback, the tests over HTTP, with
#                  the banks each test puts into HMA's storage mirrored to it.
# Then tests/hma/diff.py sends one list of requests to both servers and
# diffs the answers field by field.
# Everything listens on 127.0.0.1 only; no network is needed once setup.sh
# has run (three tests fetch an image from the internet: they fail offline).
#
# Usage: tests/hma/run_api_tests.sh [pytest -k expression]
#   HASHSIEVE_BIN  the binary (default: cargo build, target/debug/hashsieve)
#   HMA_WORK       scratch directory (default /tmp/hashsieve-hma)
#   HMA_RUNS       which runs (default "hma-inprocess hma-http hashsieve")
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
HMA_WORK=${HMA_WORK:-/tmp/hashsieve-hma}
export HMA_WORK
bash "$here/setup.sh" >/dev/null
# shellcheck disable=SC1091
. "$HMA_WORK/env.sh"
runs=${HMA_RUNS:-"hma-inprocess hma-http hashsieve diff"}
kexpr=${1:-}

if [ -z "${HASHSIEVE_BIN:-}" ]; then
  (cd "$repo" && cargo build -q --bin hashsieve)
  HASHSIEVE_BIN=$repo/target/debug/hashsieve
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
run_dir=$(mktemp -d "$HMA_WORK/run.XXXXXX")
chown "$PG_USER" "$run_dir"
pids=()
pg_port=$(free_port)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$run_dir/hashsieve.pid" ] && kill "$(cat "$run_dir/hashsieve.pid")" 2>/dev/null || true
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

# PostgreSQL on a free loopback port, socket in the run directory.
as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$run_dir/postgres.log" -w \
  -o "-p $pg_port -h 127.0.0.1 -k $run_dir" start >/dev/null
psql_() { as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -q -v ON_ERROR_STOP=1 "$@"; }
psql_ -c "DROP DATABASE IF EXISTS media_match_test" -c "DROP ROLE IF EXISTS media_match" \
  -c "CREATE ROLE media_match LOGIN PASSWORD 'hunter2'" \
  -c "CREATE DATABASE media_match_test OWNER media_match" >/dev/null
export HMA_DATABASE_URI="postgresql+psycopg2://media_match:hunter2@127.0.0.1:$pg_port/media_match_test"
export OMM_CONFIG=$here/omm_config.py
export PYTHONPATH=$here:$HMA_SRC/src${PYTHONPATH:+:$PYTHONPATH}
tests=(OpenMediaMatch/tests/test_api.py OpenMediaMatch/tests/test_api_banks.py
  OpenMediaMatch/tests/test_match_api.py OpenMediaMatch/tests/test_e2e_workflow.py)

wait_up() { # url pid
  for _ in $(seq 1 150); do
    curl -s -o /dev/null "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# The reset command for hashsieve: a fresh database, the server restarted
# on the same port (HMA's tests expect content ids to start at 1 each test).
# `reset-hashsieve.sh --keep ARGS...` restarts it on the same database with
# extra serve arguments: the plugin's way to apply a test's change of HMA's
# role settings (`--hma-roles`, see hma_http_plugin.py).
# github.com and raw.githubusercontent.com are allowed for the three tests
# that add an image by its GitHub URL (they need the internet).
hs_port=$(free_port)
cat >"$run_dir/reset-hashsieve.sh" <<RESET
#!/usr/bin/env bash
set -eu
keep=
if [ "\${1:-}" = --keep ]; then keep=1; shift; fi
if [ -f "$run_dir/hashsieve.pid" ]; then
  pid=\$(cat "$run_dir/hashsieve.pid")
  kill "\$pid" 2>/dev/null || true
  while kill -0 "\$pid" 2>/dev/null; do sleep 0.05; done
fi
if [ -z "\$keep" ]; then
  rm -f "$run_dir"/hs.db*
  "$HASHSIEVE_BIN" db init --db "$run_dir/hs.db" >/dev/null 2>&1 || true
fi
"$HASHSIEVE_BIN" serve --db "$run_dir/hs.db" --listen 127.0.0.1:$hs_port \
  --fetch-allow-host 127.0.0.1 --fetch-allow-host github.com \
  --fetch-allow-host raw.githubusercontent.com --poll-ms 50 ${HASHSIEVE_SERVE_ARGS:-} "\$@" \
  >>"$run_dir/hashsieve.log" 2>&1 &
echo \$! >"$run_dir/hashsieve.pid"
for _ in \$(seq 1 150); do
  curl -s -o /dev/null "http://127.0.0.1:$hs_port/status/live" && exit 0
  curl -s -o /dev/null "http://127.0.0.1:$hs_port/healthz" && exit 0
  kill -0 \$(cat "$run_dir/hashsieve.pid") 2>/dev/null || { tail -5 "$run_dir/hashsieve.log" >&2; exit 1; }
  sleep 0.05
done
exit 1
RESET
chmod +x "$run_dir/reset-hashsieve.sh"

summary=()
hma_port=
diff_summary=
start_hma() {
  [ -n "$hma_port" ] && return 0
  hma_port=$(free_port)
  (cd "$HMA_SRC/src" && exec "$HMA_VENV/bin/flask" --app 'OpenMediaMatch.app:create_app()' \
    run --host 127.0.0.1 --port "$hma_port" --no-reload) >"$run_dir/hma.log" 2>&1 &
  pids+=($!)
  wait_up "http://127.0.0.1:$hma_port/status/live" "${pids[-1]}" || { tail "$run_dir/hma.log"; exit 1; }
}
run_pytest() { # name
  local name=$1 log="$run_dir/pytest-$1.log"
  (cd "$HMA_SRC/src" && "$HMA_VENV/bin/python" -m pytest -p hma_http_plugin -q -rA \
    -p no:cacheprovider ${kexpr:+-k "$kexpr"} "${tests[@]}") >"$log" 2>&1 || true
  local line
  line=$(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$log" | tail -1 | sed 's/=//g; s/^ *//; s/ in [0-9.]*s.*//')
  summary+=("$(printf '%-14s %s' "$name" "${line:-no result (see $log)}")")
  echo "== $name: ${line:-no result}   (log: $log)"
  grep -E '^(PASSED|FAILED|ERROR) ' "$log" | sed 's/ - .*//' | sort >"$run_dir/outcomes-$name.txt" || true
}

for r in $runs; do
  case $r in
  hma-inprocess)
    unset HMA_TEST_BASE_URL HMA_TEST_RESET HMA_TEST_MIRROR
    run_pytest hma-inprocess
    ;;
  hma-http)
    start_hma
    HMA_TEST_BASE_URL=http://127.0.0.1:$hma_port HMA_TEST_RESET= HMA_TEST_MIRROR= run_pytest hma-http
    ;;
  hashsieve)
    HMA_TEST_BASE_URL=http://127.0.0.1:$hs_port HMA_TEST_RESET=$run_dir/reset-hashsieve.sh \
      HMA_TEST_MIRROR=1 HMA_TEST_ROLES_RESTART="$run_dir/reset-hashsieve.sh --keep" \
      run_pytest hashsieve
    ;;
  diff)
    start_hma
    echo "== side-by-side requests (HMA vs hashsieve): $run_dir/diff.txt"
    (cd "$HMA_SRC/src" && "$HMA_VENV/bin/python" "$here/diff.py" "http://127.0.0.1:$hma_port" \
      "http://127.0.0.1:$hs_port" "$run_dir/reset-hashsieve.sh") >"$run_dir/diff.txt" 2>&1 || true
    diff_summary=$(tail -1 "$run_dir/diff.txt")
    ;;
  esac
done

echo
echo "HMA API tests (${#tests[@]} files) - passed/failed per server:"
printf '  %s\n' "${summary[@]}"
for r in $runs; do
  [ "$r" = hma-inprocess ] && continue
  [ -f "$run_dir/outcomes-$r.txt" ] && [ -f "$run_dir/outcomes-hma-inprocess.txt" ] || continue
  echo "  tests whose outcome differs from hma-inprocess on $r:"
  changed=$({ diff "$run_dir/outcomes-hma-inprocess.txt" "$run_dir/outcomes-$r.txt" || true; } | sed -n 's/^> /    /p')
  echo "${changed:-    (none)}"
done
[ -n "$diff_summary" ] && echo "side-by-side: $diff_summary (details: $run_dir/diff.txt)"
echo "logs: $run_dir"
