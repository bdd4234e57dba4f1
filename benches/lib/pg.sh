# Shared by the PostgreSQL benchmarks (benches/pg_*.sh), sourced, never run:
# a throwaway PostgreSQL server and a list of PDQ hashes made inside it.
#
#   pg_start PREFIX [postgres -c settings...]
#       initdb and start a server under a new /tmp/PREFIX.XXXXXX folder
#       (fsync off: a throwaway), wait until it answers; sets WORK, PORT,
#       URL, PGBIN, PG_PID, and an EXIT trap that stops the server and
#       removes the folder. Exits 2 when PostgreSQL is not installed.
#   pg_fill LIST_ID ENTRIES
#       ENTRIES active PDQ entries in list LIST_ID, made by one
#       INSERT ... SELECT generate_series (the fastest bulk load: no client
#       round trip); entry i's hash is md5(i) || md5(i*7919 || 'x'). Then the
#       data version and generation are bumped, as hashsieve's own commit does.
#   pg_psql [psql args...]   psql on that server, quiet, stopping at errors.

pg_start() {
  local prefix=$1; shift
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 2; }
  WORK=$(mktemp -d "/tmp/$prefix.XXXXXX")
  PG_PID=
  trap pg_cleanup EXIT
  # initdb refuses root: run the server as nobody then.
  local as=()
  if [ "$(id -u)" = 0 ]; then
    chown nobody "$WORK"
    as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  fi
  "${as[@]}" "$PGBIN/initdb" -A trust -U hashsieve --no-sync -E UTF8 --locale=C -D "$WORK/data" >/dev/null
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  local opts=(-c fsync=off -c synchronous_commit=off -c full_page_writes=off)
  local s
  for s in "$@"; do opts+=(-c "$s"); done
  "${as[@]}" "$PGBIN/postgres" -D "$WORK/data" -h 127.0.0.1 -p "$PORT" -k "$WORK" "${opts[@]}" \
    >"$WORK/pg.log" 2>&1 &
  PG_PID=$!
  for _ in $(seq 100); do
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
    sleep 0.2
  done
  URL=postgresql://hashsieve@127.0.0.1:$PORT/postgres
}

pg_cleanup() {
  # Fast shutdown, and wait for it: the folder goes only once it is down.
  if [ -n "${PG_PID:-}" ]; then kill -INT "$PG_PID" 2>/dev/null; wait "$PG_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}

pg_psql() {
  psql -X -q -h 127.0.0.1 -p "$PORT" -U hashsieve postgres -v ON_ERROR_STOP=1 "$@"
}

pg_fill() {
  local list=$1 n=$2
  pg_psql <<SQL
INSERT INTO entries (list_id, signal_type, value, quality, added_at, status)
  SELECT $list, 'pdq', decode(md5(i::text) || md5((i::bigint * 7919)::text || 'x'), 'hex'), 100,
         extract(epoch FROM now())::bigint, 'active'
  FROM generate_series(1, $n) AS i;
UPDATE store_state SET data_version = data_version + 1,
  generation = ('x' || md5(random()::text))::bit(64)::bigint WHERE id = 1;
ANALYZE entries;
SQL
}
