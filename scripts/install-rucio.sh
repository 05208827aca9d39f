#!/usr/bin/env bash
# A real Rucio server for the tests and benchmarks (tests/harness/rucio.py), in its own cached
# virtualenv: never the portal's, whose pins it must not disturb. Installs only when missing.
set -euo pipefail
RUCIO_VERSION=41.5.1
DEST="${GATEHOUSE_RUCIO_VENV:-$HOME/.cache/gatehouse/rucio-$RUCIO_VERSION}"
STAMP="$DEST/.installed-rucio-$RUCIO_VERSION"
[ -f "$STAMP" ] && exit 0
PY="${RUCIO_PYTHON:-python3}"
echo "Installing rucio==$RUCIO_VERSION into $DEST (a few minutes, once)"
test -x "$DEST/bin/python" || "$PY" -m venv "$DEST"
"$DEST/bin/pip" install --quiet --disable-pip-version-check \
  "rucio==$RUCIO_VERSION" "gunicorn==27.0.1" "psycopg[binary]==3.3.9"
touch "$STAMP"
