#!/usr/bin/env bash
# One entry point for people and CI. Creates .venv (Python 3.10+), installs the pinned requirements when they
# changed, then runs what was asked:
#   bash dev.sh app            set up and launch the dashboard (built-in encoder works offline)
#   bash dev.sh test [ARGS]    set up and run the test suite (ARGS go to pytest)
#   bash dev.sh setup          only set up
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
cmd=${1:-app}
[ $# -gt 0 ] && shift

setup() {
  local reqs=$1
  if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $($PY --version)"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(basename "$reqs")"
  local want
  want=$(cat requirements.txt "$reqs" | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "[setup] installing $reqs (first run takes a few minutes: TensorFlow is large)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$reqs"
    echo "$want" > "$stamp"
  fi
}

case "$cmd" in
  app)
    setup requirements.txt
    exec "$VENV/bin/python" -m streamlit run app.py "$@"
    ;;
  test)
    setup requirements-dev.txt
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  setup)
    setup requirements-dev.txt
    ;;
  *)
    echo "usage: bash dev.sh app|test|setup [args]" >&2
    exit 2
    ;;
esac
