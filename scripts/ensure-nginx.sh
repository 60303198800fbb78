#!/usr/bin/env bash
# Debian's nginx: the tests check deploy/nginx with `nginx -t` and run it in front of a test upstream, and
# the benchmarks put it in front of gunicorn (scripts/nginx.py). The package is small; its service is not
# started (scripts/nginx.py runs its own instance on a loopback port).
set -euo pipefail
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing nginx (tests of deploy/nginx, benchmarks behind a proxy)"
  $SUDO apt-get update -qq
  # policy-rc.d 101: install the package without starting the system's nginx on port 80 (a policy the
  # machine already has is left as it is).
  OWN_POLICY=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d
    OWN_POLICY=1
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx >/dev/null || status=$?
  [ -z "$OWN_POLICY" ] || $SUDO rm -f /usr/sbin/policy-rc.d
  exit $status
else
  echo "the nginx tests and benchmarks need nginx; install it first" >&2
  exit 1
fi
