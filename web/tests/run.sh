#!/bin/sh
# Runs the browser tests: headless Debian Chromium (playwright-core) against ringtty
# servers the tests start themselves on free loopback ports. Screenshots of the
# terminal and the dashboard go to target/browser/.
#
# Usage: web/tests/run.sh RINGTTY_BINARY      (e.g. target/debug/ringtty)
# Needs: chromium (apt-get install chromium; or set CHROMIUM=/path/to/chrome), Node.js,
# openssl and certutil (apt-get install libnss3-tools) for tls.test.mjs, nats-server
# (apt-get install nats-server; or set NATS_SERVER) for fleet.test.mjs.
set -eu
[ $# -eq 1 ] || { echo "usage: $0 RINGTTY_BINARY" >&2; exit 2; }
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -x "$binary" ] || { echo "$0: $1 is not an executable ringtty binary" >&2; exit 2; }
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "$0: no browser at $chromium: apt-get install chromium, or set CHROMIUM" >&2; exit 2; }
cd "$(dirname "$0")/.."
# playwright-core is a devDependency: the same lockfile-pinned tree the build uses.
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
RINGTTY_BINARY=$binary CHROMIUM=$chromium exec node --test --test-concurrency=1 --test-reporter=spec tests/*.test.mjs
