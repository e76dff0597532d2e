#!/usr/bin/env bash
# Makes sure the browser tests can run: Debian's chromium (playwright-core
# drives it; it never downloads a browser of its own), CJK fonts so pages
# and screenshots show Chinese, and the npm packages of e2e/.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-browser: installing ${missing[*]}" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
command -v node >/dev/null 2>&1 || { echo "ensure-browser: Node.js is missing (apt-get install nodejs npm)" >&2; exit 1; }
# playwright-core (e2e/package-lock.json) needs Node.js 20 or later; Debian 12's own is 18.
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "ensure-browser: the browser tests need Node.js 20 or later, this machine has $(node --version)" >&2
  exit 1
fi
(cd e2e && npm ci --silent --no-audit --no-fund >&2)
