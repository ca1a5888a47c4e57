#!/usr/bin/env bash
# Installs the browser tests' npm dependencies (playwright-core, as pinned by
# package-lock.json) into BUILD_DIR/tests/browser/deps/, so that the source
# tree stays clean. Skips npm when that lock is already installed there.
# The browser is Debian's chromium (scripts/deps.sh); nothing is downloaded
# but the npm packages.
# Usage: tests/browser/install.sh BUILD_DIR
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:?usage: tests/browser/install.sh BUILD_DIR}
deps=$build/tests/browser/deps

if cmp -s "$here/package-lock.json" "$deps/node_modules/.zd-installed-lock"; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "tests/browser/install.sh: npm is missing (scripts/deps.sh installs it)" >&2
  exit 1
fi
mkdir -p "$deps"
cp "$here/package.json" "$here/package-lock.json" "$deps/"
echo "tests/browser/install.sh: npm ci in $deps"
# --prefer-offline: from npm's cache when it has the pinned versions.
npm ci --prefix "$deps" --no-audit --no-fund --prefer-offline --loglevel=error
cp "$here/package-lock.json" "$deps/node_modules/.zd-installed-lock"
