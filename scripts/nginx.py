"""Debian's nginx in front of a running server, with the production config (deploy/nginx).

    .venv/bin/python scripts/nginx.py --upstream 127.0.0.1:8001 --port 8080 [--static-root staticfiles]

From code (the rush's `--proxy nginx`, the tests):

    with nginx_proxy(upstream="127.0.0.1:8001", port=free_port()) as base:   # "http://127.0.0.1:<port>"
        ...

The config is deploy/nginx/ticketing.conf.template filled in and wrapped in a minimal main config whose
pid file, temp directories and error log live in a scratch directory, so it runs beside anything else
on the machine (no /etc/nginx change, no root-owned state left behind).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.ports import ROOT, wait_for_port

TEMPLATE = ROOT / "deploy" / "nginx" / "ticketing.conf.template"
MIME_TYPES = Path("/etc/nginx/mime.types")

MAIN_CONFIG = """\
worker_processes {workers};
worker_rlimit_nofile {nofile};
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{
    worker_connections {connections};
}}
http {{
    {mime}
    default_type application/octet-stream;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    sendfile on;
    tcp_nopush on;
    include {workdir}/ticketing.conf;
}}
"""


def connection_limits() -> tuple[int, int]:
    """(open files, connections) per worker: deploy/nginx/nginx.conf's, within what this machine lets a
    process open (a proxied request holds two descriptors: the client's and the upstream's)."""
    import resource

    deployed = (ROOT / "deploy" / "nginx" / "nginx.conf").read_text()
    nofile = int(re.search(r"worker_rlimit_nofile\s+(\d+);", deployed).group(1))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        nofile = min(nofile, hard)
    connections = int(re.search(r"worker_connections\s+(\d+);", deployed).group(1))
    return nofile, min(connections, nofile // 2)


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise RuntimeError("nginx is not installed: run scripts/ensure-bench-tools.sh (Debian package nginx)")
    return found


def _servers(upstream: str) -> str:
    return "\n".join(f"    server {server.strip()};" for server in upstream.split(",") if server.strip())


def render_site(
    *,
    upstream: str,
    listen: str,
    static_root: Path,
    crowd_upstream: str | None = None,
    push_upstream: str | None = None,
) -> str:
    """The site config with its settings filled in; nginx's own $variables are left alone. `upstream`
    (and `crowd_upstream`, the waiting room's web workers, and `push_upstream`, the push process: both
    `upstream` when not given) may name several servers, comma-separated (one `server` line each)."""
    values = {
        "TICKETING_UPSTREAM": "__upstream__",
        "TICKETING_CROWD_UPSTREAM": "__crowd__",
        "TICKETING_PUSH_UPSTREAM": "__push__",
        "TICKETING_LISTEN": listen,
        "TICKETING_STATIC_ROOT": str(static_root.resolve()),
    }
    site = string.Template(TEMPLATE.read_text()).safe_substitute(values)
    site = site.replace("    server __upstream__;", _servers(upstream), 1)
    site = site.replace("    server __push__;", _servers(push_upstream or upstream), 1)
    return site.replace("    server __crowd__;", _servers(crowd_upstream or upstream), 1)


def write_config(
    workdir: Path,
    *,
    upstream: str,
    port: int,
    static_root: Path,
    workers: int = 1,
    crowd_upstream: str | None = None,
    push_upstream: str | None = None,
) -> Path:
    """Write nginx.conf and ticketing.conf into `workdir` (readable by nginx's unprivileged workers)."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(workdir, 0o755)
    (workdir / "ticketing.conf").write_text(
        render_site(
            upstream=upstream,
            listen=f"127.0.0.1:{port}",
            static_root=static_root,
            crowd_upstream=crowd_upstream,
            push_upstream=push_upstream,
        )
    )
    mime = f"include {MIME_TYPES};" if MIME_TYPES.exists() else ""
    config = workdir / "nginx.conf"
    nofile, connections = connection_limits()
    config.write_text(
        MAIN_CONFIG.format(workers=workers, workdir=workdir, mime=mime, nofile=nofile, connections=connections)
    )
    return config


def check_config(config: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on the written config: returncode 0 and "syntax is ok" when it is valid."""
    return subprocess.run(
        [nginx_binary(), "-t", "-c", str(config), "-p", str(config.parent)], capture_output=True, text=True
    )


@contextmanager
def nginx_proxy(
    *,
    upstream: str,
    port: int,
    static_root: Path | None = None,
    workers: int = 1,
    workdir: Path | None = None,
    crowd_upstream: str | None = None,
    push_upstream: str | None = None,
    access_log: Path | None = None,
) -> Iterator[str]:
    """Run nginx on 127.0.0.1:`port` in front of `upstream` (and the waiting room's `crowd_upstream` and
    the push process's `push_upstream`, `upstream` when not given) until the block ends; yields its
    base URL. Its JSON access log (stdout, as deployed) goes to `access_log`, else nowhere."""
    own_dir = workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="ticketing-nginx-")) if workdir is None else workdir
    static_root = static_root if static_root is not None else ROOT / "staticfiles"
    config = write_config(
        workdir,
        upstream=upstream,
        port=port,
        static_root=static_root,
        workers=workers,
        crowd_upstream=crowd_upstream,
        push_upstream=push_upstream,
    )
    checked = check_config(config)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx rejected the config:\n{checked.stderr}")
    log = open(access_log, "wb") if access_log is not None else None  # noqa: SIM115 (closed with nginx)
    process = subprocess.Popen(
        [nginx_binary(), "-c", str(config), "-p", str(workdir)],
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process, what="nginx", seconds=10)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)  # graceful: finish the requests in flight
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if log is not None:
            log.close()
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="host:port of the server to proxy (gunicorn)")
    parser.add_argument("--port", type=int, required=True, help="loopback port nginx listens on")
    parser.add_argument("--static-root", type=Path, default=ROOT / "staticfiles")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--crowd-upstream", help="host:port of the waiting room's web workers (default: --upstream)")
    args = parser.parse_args()
    with nginx_proxy(
        upstream=args.upstream,
        port=args.port,
        static_root=args.static_root,
        workers=args.workers,
        crowd_upstream=args.crowd_upstream,
    ) as base:
        print(f"nginx at {base} -> {args.upstream} (Ctrl-C stops it)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
