#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests, the integration tests on
# SQLite and on PostgreSQL, and the browser tests in headless chromium. PostgreSQL comes from TEST_DATABASE_URL, or is
# found or installed and started by scripts/ensure-postgres.sh.
# `scripts/test.sh --sqlite-only` skips PostgreSQL (for a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--sqlite-only" ]; then
  unset TEST_DATABASE_URL REQUIRE_POSTGRES
elif [ -z "${TEST_DATABASE_URL:-}" ]; then
  TEST_DATABASE_URL=$(scripts/ensure-postgres.sh)
  export TEST_DATABASE_URL
fi
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  # A PostgreSQL run that finds no server fails instead of passing unseen.
  export REQUIRE_POSTGRES=1
  echo "test.sh: store tests run on SQLite and on PostgreSQL"
else
  echo "test.sh: store tests run on SQLite only"
fi

# The report tests read produced PDFs back with poppler's pdftotext, an
# independent reader (Debian's poppler-utils).
if ! command -v pdftotext >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "test.sh: the report tests need pdftotext: run 'sudo apt-get install poppler-utils' first" >&2
    exit 1
  fi
  echo "test.sh: installing poppler-utils (pdftotext)" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >&2
fi

# The Open311 tests drive a GeoReport v2 client from PyPI (georeport), kept in
# a virtual environment under the user's cache.
TEST_PYTHON=$(scripts/ensure-python-clients.sh)
export TEST_PYTHON

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --workspace

# Browser tests drive the binary the integration tests just built.
scripts/ensure-browser.sh
cargo build --locked --quiet
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
(cd e2e && CHUANGWEN_BIN="$target_dir/debug/chuangwen" node --test)
