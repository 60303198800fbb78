"""What a login costs, and what a crowd of logins does to the queue endpoints.

    .venv/bin/python bench/login.py [--checks 20] [--logins 200] [--pollers 8]

1. CPU per password check in this process (`time.process_time`), both hashers in the same run:
   Django's PBKDF2 at 1,000,000 iterations (how every password was hashed before) and the first
   hasher of PASSWORD_HASHERS (what a login costs now).
2. Through gunicorn (2 sync workers, the same as every HTTP benchmark here): --pollers buyers poll
   `GET /api/queue/status` back to back, first alone, then while --logins buyers log in at once.
   A login answered 429 (the server's hashing slots are busy) or 503 is retried after its
   Retry-After, as the buyer's page does. Reported: status p50/p99 alone and during the burst (requests that started
   between the first login sent and the last login answered 200), and how long the burst took.
Scratch database `bench_login`, Redis db --redis-db (default 13; only that db is flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import bench_date, scratch_django
from scripts.local_servers import gunicorn

PASSWORD = "bench-login-password-7"


def cpu_per_check(hasher: str | None, checks: int) -> tuple[str, float]:
    """(the hasher's name and parameters, CPU seconds per check_password)."""
    from django.contrib.auth.hashers import check_password, get_hasher, make_password

    encoded = make_password(PASSWORD, hasher=hasher or "default")
    name = get_hasher(hasher or "default")
    began = time.process_time()
    for _ in range(checks):
        assert check_password(PASSWORD, encoded)
    per_check = (time.process_time() - began) / checks
    return f"{type(name).__module__}.{type(name).__name__}: {encoded.rsplit('$', 2)[0]}", per_check


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


async def crowd(
    base: str, pollers: list[dict], status_path: str, logins: list[str], calm_seconds: float, max_burst_seconds: float
) -> dict:
    import httpx

    polls: list[tuple[float, float]] = []  # (started, seconds)
    login_seconds: list[float] = []
    login_statuses: dict[int, int] = {}
    burst: dict[str, float] = {}
    stop = asyncio.Event()

    timeout = httpx.Timeout(60, pool=None)
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=httpx.Limits(max_connections=1000)) as client:

        async def poll(headers: dict) -> None:
            while not stop.is_set():
                began = time.perf_counter()
                try:
                    response = await client.get(status_path, headers=headers)
                    assert response.status_code == 200, response.text
                except httpx.TimeoutException:  # counted at the timeout: it waited at least that long
                    pass
                polls.append((began, time.perf_counter() - began))

        async def log_in(email: str) -> None:
            began = time.perf_counter()
            for _ in range(600):
                try:
                    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
                except httpx.TimeoutException:
                    login_statuses[0] = login_statuses.get(0, 0) + 1  # 0: timed out, tried again
                    continue
                login_statuses[response.status_code] = login_statuses.get(response.status_code, 0) + 1
                if response.status_code not in (429, 503):  # busy: retried after Retry-After, as the page does
                    break
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")) * random.uniform(0.5, 1.5))
            assert response.status_code == 200, response.text
            login_seconds.append(time.perf_counter() - began)

        for headers in pollers:  # warm the workers up (first requests import and compile lazily)
            for _ in range(3):
                await client.get(status_path, headers=headers)
        tasks = [asyncio.create_task(poll(h)) for h in pollers]
        await asyncio.sleep(calm_seconds)
        burst["start"] = time.perf_counter()
        crowd_tasks = [asyncio.create_task(log_in(email)) for email in logins]
        _, pending = await asyncio.wait(crowd_tasks, timeout=max_burst_seconds)
        burst["end"] = time.perf_counter()
        for task in pending:  # past the cut-off: reported as not logged in
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*tasks)

    calm = [s for began, s in polls if began < burst["start"]]
    during = [s for began, s in polls if burst["start"] <= began < burst["end"]]
    return {
        "calm": calm, "during": during, "burst_seconds": burst["end"] - burst["start"],
        "login_seconds": login_seconds, "login_statuses": login_statuses,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checks", type=int, default=20, help="password checks per hasher (CPU per check)")
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--pollers", type=int, default=8)
    parser.add_argument("--calm-seconds", type=float, default=5)
    parser.add_argument("--max-burst-seconds", type=float, default=150, help="stop the burst (and the window) here")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--proxy", choices=["none", "nginx"], default="none",
                        help="nginx: the production proxy config (deploy/nginx) in front of gunicorn")  # fmt: skip
    args = parser.parse_args()

    unlimited = {"THROTTLE_LOGIN": "100000000/min", "THROTTLE_ANON_IP": "100000000/min"}
    with scratch_django("bench_login", args.redis_db, QUEUE_TOKEN_TTL_SECONDS="3600", **unlimited) as env:
        from django.conf import settings
        from django.contrib.auth.hashers import make_password
        from rest_framework_simplejwt.tokens import AccessToken

        from apps.accounts.models import User
        from apps.queue.services import issue_access_token

        print("CPU per password check (this process, one core):")
        before_name, before = cpu_per_check("pbkdf2_sha256", max(2, args.checks // 4))
        after_name, after = cpu_per_check(None, args.checks)
        print(f"  before  {before * 1000:8.1f} ms  {before_name}")
        print(f"  now     {after * 1000:8.1f} ms  {after_name}")
        print(f"  now ÷ before: {after / before:.3f}\n")

        encoded = make_password(PASSWORD)  # one hash with the configured hasher, shared: setup is not measured
        User.objects.bulk_create(
            User(email=f"login{n}@example.com", name=f"Buyer {n}", password=encoded)
            for n in range(args.logins + args.pollers)
        )
        users = list(User.objects.order_by("pk"))
        date = bench_date(seats=10, price="1", starts_in_days=3)
        pollers = []
        for user in users[args.logins :]:
            issue_access_token(user_id=user.pk, concert_date_id=date.pk)
            pollers.append({"Authorization": f"Bearer {AccessToken.for_user(user)}"})
        status_path = f"/api/queue/status?concert_id={date.concert_id}&concert_date_id={date.pk}"
        logins = [user.email for user in users[: args.logins]]
        cap = getattr(settings, "PASSWORD_HASHING_CONCURRENCY", None)
        proxy = " behind nginx (deploy/nginx)" if args.proxy == "nginx" else ""
        print(f"gunicorn 2 sync workers{proxy}; hashing slots per machine: {cap or 'no cap'}; {args.pollers} pollers")
        with ExitStack() as stack:
            base = stack.enter_context(gunicorn(env))
            if args.proxy == "nginx":
                from scripts.nginx import nginx_proxy
                from scripts.ports import free_port

                base = stack.enter_context(nginx_proxy(upstream=base.removeprefix("http://"), port=free_port()))
            result = asyncio.run(crowd(base, pollers, status_path, logins, args.calm_seconds, args.max_burst_seconds))
        report(result, args.logins)


def report(result: dict, logins: int) -> None:
    calm, during = result["calm"], result["during"]
    print(f"  status alone:        {len(calm):6} polls  p50 {pct(calm, 0.5):8.1f} ms  p99 {pct(calm, 0.99):8.1f} ms")
    print(
        f"  status during burst: {len(during):6} polls  p50 {pct(during, 0.5):8.1f} ms  p99 {pct(during, 0.99):8.1f} ms"
    )
    print(
        f"  {logins} logins at once: {len(result['login_seconds'])} in after {result['burst_seconds']:.1f} s;"
        f" per login p50 {statistics.median(result['login_seconds'] or [0]):.2f} s, p99 {pct(result['login_seconds'], 0.99) / 1000:.2f} s;"
        f" answers {dict(sorted(result['login_statuses'].items()))}"
    )
    print(f"  status p99 during ÷ alone: {pct(during, 0.99) / max(pct(calm, 0.99), 0.001):.1f}")


if __name__ == "__main__":
    main()
