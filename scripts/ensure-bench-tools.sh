#!/usr/bin/env bash
# The HTTP benchmarks drive load with wrk (C, epoll), so the load generator costs the server little CPU;
# the scaled rush puts HAProxy in front of several gunicorn servers.
set -euo pipefail
command -v wrk >/dev/null 2>&1 && command -v haproxy >/dev/null 2>&1 && exit 0
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk haproxy >/dev/null
else
  echo "the benchmarks need wrk; install it first" >&2
  exit 1
fi
