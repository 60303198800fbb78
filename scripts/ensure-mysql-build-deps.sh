#!/usr/bin/env bash
# mysqlclient compiles against the MariaDB/MySQL client library; install it when it is missing.
set -euo pipefail
if pkg-config --exists mariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing libmariadb-dev and pkg-config (needed to build mysqlclient)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libmariadb-dev pkg-config >/dev/null
else
  echo "mysqlclient needs the MariaDB/MySQL client headers and pkg-config; install them first" >&2
  exit 1
fi
