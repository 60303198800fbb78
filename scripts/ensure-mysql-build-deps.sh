#!/usr/bin/env bash
# mysqlclient compiles against the MariaDB/MySQL client library (and needs a C compiler and the Python
# headers); install what is missing. PYTHON names the interpreter it is built for (default python3).
set -euo pipefail
PYTHON=${PYTHON:-python3}
have_client() { pkg-config --exists mariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null; }
have_headers() { "$PYTHON" -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; }
have_compiler() { command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1; }
if have_client && have_headers && have_compiler; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  PACKAGES="libmariadb-dev pkg-config gcc"
  have_headers || PACKAGES="$PACKAGES python3-dev"
  echo "installing $PACKAGES (needed to build mysqlclient)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PACKAGES >/dev/null
else
  echo "mysqlclient needs the MariaDB/MySQL client headers, pkg-config, a C compiler and the Python headers; install them first" >&2
  exit 1
fi
