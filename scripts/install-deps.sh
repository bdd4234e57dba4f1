#!/usr/bin/env bash
# Install what hashsieve needs to build and test on Debian/Ubuntu, only what
# is missing: FFmpeg development libraries (video), clang for bindgen, the
# ffmpeg CLI (the tests generate their video fixtures with it), nats-server
# (the distributed-scan tests start a throwaway one), and a Rust
# toolchain when there is none; then the Python reference tools some tests
# run beside ours.
#
#   bash scripts/install-deps.sh            # everything
#   bash scripts/install-deps.sh --system   # system packages and Rust only
#   bash scripts/install-deps.sh --python   # the Python venvs only
#
# (.ci/run installs the venvs in the background while it checks and
# builds: they are mostly downloads, and only the tests need them.)
set -euo pipefail

part=${1:-all}
case "$part" in
  all | --system | --python) ;;
  *)
    echo "usage: $0 [--system | --python]" >&2
    exit 2
    ;;
esac

# System packages and the Rust toolchain.
install_system() {
  packages=(
    build-essential pkg-config clang libclang-dev
    libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
    libswresample-dev libavfilter-dev libavdevice-dev
    ffmpeg util-linux ca-certificates curl python3 python3-venv
    # python3-dev: the headers pytx's vpdq module builds against (below).
    python3-dev
    nats-server
    # The PostgreSQL store's tests start throwaway servers of their own
    # (initdb, postgres, pg_ctl from /usr/lib/postgresql/*/bin).
    postgresql
  )

  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
  fi

  missing=()
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done

  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -qq
    "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "system packages: all present"
  fi

  if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
      echo "cargo is in ~/.cargo/bin: add it to PATH (source ~/.cargo/env)"
    else
      echo "installing the Rust toolchain (rustup, minimal profile)"
      curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    fi
  fi
}

# The Python reference tools, each in a venv under the cache directory.
install_python() {
  # python-threatexchange (pytx), for the list round-trip tests
  # (tests/it/pytx_roundtrip.rs): its CLI in a venv under the cache directory,
  # installed once (a later run finds it and does nothing).
  pytx_venv=${XDG_CACHE_HOME:-$HOME/.cache}/hashsieve/pytx-venv
  if [ ! -x "$pytx_venv/bin/threatexchange" ]; then
    echo "installing python-threatexchange into $pytx_venv"
    rm -rf "$pytx_venv"
    python3 -m venv "$pytx_venv"
    "$pytx_venv/bin/pip" install -q --disable-pip-version-check 'threatexchange==1.2.17'
  else
    echo "python-threatexchange: present"
  fi
  # pytx's vpdq extension needs the `vpdq` module: PyPI has it as source only,
  # built here against the FFmpeg development libraries above (pip fetches
  # CMake and Cython for the build), for the vPDQ round trip in
  # pytx_roundtrip.rs.
  if ! "$pytx_venv/bin/python3" -c 'import vpdq' 2>/dev/null; then
    echo "installing vpdq (pytx's vPDQ extension) into $pytx_venv"
    "$pytx_venv/bin/pip" install -q --disable-pip-version-check 'vpdq==0.2.5'
  else
    echo "vpdq for pytx: present"
  fi

  # Meta's C++ PDQ (pdqhash), Pillow, numpy and scikit-image, for the test
  # that the rotation, mirror and EXIF views are the reference's hash of the
  # turned pixels (tests/it/views_exact.rs, tests/python/pdq_oriented.py): a venv
  # under the cache directory, installed once. The evaluation scripts in
  # benches/eval/ run with it too (add vpdq for the video half).
  pyref_venv=${XDG_CACHE_HOME:-$HOME/.cache}/hashsieve/pyref-venv
  if ! "$pyref_venv/bin/python3" -c 'import pdqhash, PIL, numpy, skimage' 2>/dev/null; then
    echo "installing pdqhash, pillow, numpy, scikit-image into $pyref_venv"
    rm -rf "$pyref_venv"
    python3 -m venv "$pyref_venv"
    "$pyref_venv/bin/pip" install -q --disable-pip-version-check \
      'pdqhash==0.2.8' 'pillow>=10' 'numpy>=1.24' 'scikit-image>=0.22'
  else
    echo "pdqhash reference venv: present"
  fi
}

if [ "$part" != --python ]; then
  install_system
fi
if [ "$part" != --system ]; then
  install_python
fi
