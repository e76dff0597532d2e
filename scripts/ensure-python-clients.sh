#!/usr/bin/env bash
# Prints the Python that has the third-party clients the tests drive
# (georeport, a GeoReport v2 client from PyPI), installing them into a
# virtual environment under the user's cache the first time.
set -euo pipefail
venv="${XDG_CACHE_HOME:-$HOME/.cache}/chuangwen/python"
want="georeport==0.3.1"
if ! "$venv/bin/python" -c 'import georeport' >/dev/null 2>&1; then
  echo "ensure-python-clients: installing $want into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$want" >&2
fi
echo "$venv/bin/python"
