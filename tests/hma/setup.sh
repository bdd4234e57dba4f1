#!/usr/bin/env bash
# Set up real HMA 2.0 (OpenMediaMatch) beside hashsieve, from scratch, in a
# scratch directory (never in this repository):
#   - HMA's source, extracted from a git directory of facebook/ThreatExchange
#     (THREATEXCHANGE_GIT; a bare mirror or a clone's .git) or taken from an
#     already extracted tree (HMA_SRC=.../hasher-matcher-actioner);
#   - a Python venv with OpenMediaMatch, its dependencies and
#     python-threatexchange from PyPI, plus pytest;
#   - a throwaway PostgreSQL cluster (Debian's binaries) initialised in the
#     scratch directory, not started (run_api_tests.sh starts it).
# Idempotent: a step already done is skipped. Output: $HMA_WORK/env.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
HMA_WORK=${HMA_WORK:-/tmp/hashsieve-hma}
mkdir -p "$HMA_WORK"

# 1. HMA's source.
if [ -z "${HMA_SRC:-}" ]; then
  if [ ! -d "$HMA_WORK/src/hasher-matcher-actioner" ]; then
    git_dir=${THREATEXCHANGE_GIT:-}
    if [ -z "$git_dir" ]; then
      for d in /work/.mirror/facebook+ThreatExchange/repo ../ThreatExchange/.git; do
        [ -d "$d" ] && git_dir=$d && break
      done
    fi
    [ -n "$git_dir" ] || {
      echo "set THREATEXCHANGE_GIT to a git directory of facebook/ThreatExchange (or HMA_SRC to its hasher-matcher-actioner folder)" >&2
      exit 2
    }
    mkdir -p "$HMA_WORK/src"
    git --git-dir="$git_dir" archive HEAD hasher-matcher-actioner | tar -x -C "$HMA_WORK/src"
    git --git-dir="$git_dir" rev-parse HEAD >"$HMA_WORK/src/COMMIT"
  fi
  HMA_SRC=$HMA_WORK/src/hasher-matcher-actioner
fi

# 2. The venv: OpenMediaMatch's dependencies (its pyproject.toml) and pytest;
# psycopg2-binary stands in for psycopg2 (no compiler needed). OpenMediaMatch
# itself runs from its source tree (PYTHONPATH=$HMA_SRC/src), as HMA's
# Dockerfile does.
venv=$HMA_WORK/venv
if [ ! -x "$venv/bin/flask" ] || ! "$venv/bin/python" -c 'import flask_openapi3, threatexchange, pytest, psycopg2' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q psycopg2-binary flask flask_sqlalchemy flask_migrate requests \
    'threatexchange>=1.2.16' flask_apscheduler python-dateutil python-json-logger \
    'flask-openapi3[swagger]' pytest pillow
fi

# 3. PostgreSQL: a cluster owned by the postgres user (initdb refuses root).
pg_bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
pg_data=$HMA_WORK/pgdata
pg_user=postgres
if [ "$(id -u)" -ne 0 ]; then pg_user=$(id -un); fi
if [ ! -f "$pg_data/PG_VERSION" ]; then
  mkdir -p "$pg_data"
  chown "$pg_user" "$pg_data" "$HMA_WORK"
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$pg_user" -- "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres >/dev/null
  else
    "$pg_bin/initdb" -D "$pg_data" -A trust -U postgres >/dev/null
  fi
fi

cat >"$HMA_WORK/env.sh" <<ENV
HMA_WORK=$HMA_WORK
HMA_SRC=$HMA_SRC
HMA_VENV=$venv
PG_BIN=$pg_bin
PG_DATA=$pg_data
PG_USER=$pg_user
HARNESS=$here
ENV
echo "HMA set up in $HMA_WORK (source: $HMA_SRC)"
