#!/usr/bin/env bash
# The buyer's page script is linted with ESLint, installed from npm into node_modules/ (not in git):
# make sure node (18.18 or newer) and npm are there.
set -euo pipefail
node_ok() { command -v node >/dev/null 2>&1 && node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 18) ? 0 : 1)'; }
node_ok && command -v npm >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing node and npm (lint of the buyer's page script)"
  $SUDO apt-get update -qq
  packages="npm"; node_ok || packages="nodejs npm"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $packages >/dev/null
  node_ok && exit 0
fi
echo "the page-script lint needs node >= 18.18 and npm; install them first" >&2
exit 1
