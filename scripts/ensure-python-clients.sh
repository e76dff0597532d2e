#!/usr/bin/env bash
# Prints the Python that has the third-party tools the tests drive, from
# PyPI: georeport (a GeoReport v2 client) and openapi-spec-validator;
# installed into a virtual environment under the user's cache the first time.
set -euo pipefail
venv="${XDG_CACHE_HOME:-$HOME/.cache}/chuangwen/python"
want="georeport==0.3.1 openapi-spec-validator==0.9.0"
if ! "$venv/bin/python" -c 'import georeport, openapi_spec_validator' >/dev/null 2>&1; then
  echo "ensure-python-clients: installing $want into $venv" >&2
  if ! python3 -m venv "$venv" >&2; then
    # Debian's Python keeps venv in its own package.
    [ "$(id -u)" = 0 ] || { echo "ensure-python-clients: run 'sudo apt-get install python3-venv' first" >&2; exit 1; }
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    python3 -m venv "$venv" >&2
  fi
  # shellcheck disable=SC2086 # the list of requirements
  "$venv/bin/pip" install --quiet --disable-pip-version-check $want >&2
fi
echo "$venv/bin/python"
