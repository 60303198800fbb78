#!/usr/bin/env bash
# The buyer's page is tested in a real browser: Playwright drives Debian's Chromium (Playwright's own
# browser download is not used).
set -euo pipefail
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing chromium (browser tests of the buyer's page)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
else
  echo "the browser tests need Chromium at ${CHROMIUM_PATH:-/usr/bin/chromium}" >&2
  exit 1
fi
