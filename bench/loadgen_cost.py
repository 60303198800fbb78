"""Which load generator costs less per simulated buyer here: Locust (FastHttpUser, gevent) or k6 (Go)?

    .venv/bin/python bench/loadgen_cost.py [--buyers 1500] [--arrival-seconds 30] [--polls 10]

The same open-model scenario in both tools against the same gunicorn: buyers arrive at a constant rate,
each enters the waiting queue of one date, then polls its status `--polls` times, `--interval` seconds
apart (the line does not move: admission is switched off, so every buyer waits the whole time). The rush
is mostly this, so the cheaper tool here is the cheaper tool for the rush. Printed: requests, the tool's
CPU seconds (user + system, from the kernel's accounting of the child process), CPU per buyer and per
request, peak memory, and the latency each tool measured.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import ROOT, scratch_django
from scripts.local_servers import VENV_BIN, gunicorn

K6_SCRIPT = """
import http from 'k6/http';
import { sleep } from 'k6';
import { SharedArray } from 'k6/data';

const plan = JSON.parse(open(__ENV.PLAN));
const tokens = new SharedArray('tokens', () => plan.tokens);
export const options = {
  discardResponseBodies: false,
  scenarios: { buyers: {
    executor: 'constant-arrival-rate', rate: plan.buyers, timeUnit: `${plan.arrival_seconds}s`,
    duration: `${plan.arrival_seconds}s`, preAllocatedVUs: plan.vus, maxVUs: plan.vus,
    gracefulStop: `${plan.polls * plan.interval + 120}s`,
  } },
  summaryTrendStats: ['med', 'p(95)', 'p(99)'],
};
export default function () {
  const token = tokens[(__VU * 7919 + __ITER) % tokens.length];
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
  http.post(`${plan.base}/api/queue`, JSON.stringify(plan.target), { headers });
  for (let i = 0; i < plan.polls; i++) {
    sleep(plan.interval);
    http.get(`${plan.base}/api/queue/status?${plan.query}`, { headers });
  }
}
"""

LOCUST_SCRIPT = """
import itertools, json, os, time
from locust import FastHttpUser, LoadTestShape, task
import gevent

PLAN = json.load(open(os.environ["PLAN"]))
TOKENS = itertools.cycle(PLAN["tokens"])
T0 = time.time()
done = 0


class Shape(LoadTestShape):
    def tick(self):
        elapsed = time.time() - T0
        if done >= PLAN["buyers"] or elapsed > PLAN["arrival_seconds"] + PLAN["polls"] * PLAN["interval"] + 120:
            return None
        return min(PLAN["buyers"], int(PLAN["buyers"] * elapsed / PLAN["arrival_seconds"]) + 1), 500


class Buyer(FastHttpUser):
    @task
    def wait(self):
        global done
        headers = {"Authorization": f"Bearer {next(TOKENS)}"}
        self.client.post("/api/queue", json=PLAN["target"], headers=headers, name="POST /api/queue")
        for _ in range(PLAN["polls"]):
            gevent.sleep(PLAN["interval"])
            self.client.get(f"/api/queue/status?{PLAN['query']}", headers=headers, name="GET /api/queue/status")
        done += 1
        while True:
            gevent.sleep(3600)
"""


def run_tool(name: str, command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run one tool to the end; its CPU from the kernel's accounting of the reaped child, its peak
    memory sampled twice a second."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began, peak = time.time(), 0
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, text=True)
        watched = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.5)
        process.wait()
        output.seek(0)
        text = output.read()
    wall = time.time() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode not in (0, 1):
        print(text[-3000:])
        raise RuntimeError(f"{name} exited {process.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu": cpu, "wall": wall, "max_rss_mb": peak / 2**20, "output": text}


def waiting_buyers(count: int) -> dict[str, Any]:
    """A date that admits nobody, and `count` buyers with access tokens."""
    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.accounts.services import issue_tokens
    from apps.concerts.models import Concert

    call_command("seed_load", "--dates", "1", "--seats-per-date", "100", "--name", "Loadgen", verbosity=0)
    call_command("seed_load_users", "--users", str(count), verbosity=0)  # fmt: skip
    concert = Concert.objects.get(name="Loadgen")
    date_id = concert.dates.get().pk
    users = User.objects.filter(email__startswith="load").order_by("pk")[:count]
    return {
        "tokens": [issue_tokens(user=user)["access"] for user in users],
        "target": {"concert_id": concert.pk, "concert_date_id": date_id},
        "query": f"concert_id={concert.pk}&concert_date_id={date_id}",
    }


def print_results(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    requests = args.buyers * (1 + args.polls)
    print(f"\n{args.buyers} waiting buyers arriving over {args.arrival_seconds} s, {args.polls} polls "
          f"{args.interval} s apart each ({requests} requests)")  # fmt: skip
    print(f"{'tool':<8} {'CPU s':>7} {'ms CPU/buyer':>13} {'µs CPU/request':>15} {'peak MB':>8} {'wall s':>7}")
    for name, result in results.items():
        print(f"{name:<8} {result['cpu']:>7.1f} {1000 * result['cpu'] / args.buyers:>13.1f} "
              f"{1e6 * result['cpu'] / requests:>15.0f} {result['max_rss_mb']:>8.0f} {result['wall']:>7.0f}")  # fmt: skip
    for name, result in results.items():
        print(f"\n--- {name} summary ---\n" + "\n".join(result["output"].strip().splitlines()[-25:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buyers", type=int, default=1500)
    parser.add_argument("--arrival-seconds", type=int, default=30)
    parser.add_argument("--polls", type=int, default=10)
    parser.add_argument("--interval", type=float, default=4.0)
    args = parser.parse_args()
    closed = {"QUEUE_ADMISSION": "fixed", "QUEUE_ADMIT_BATCH": "0", "QUEUE_MAX_ACTIVE": "0", "QUEUE_MIN_ACTIVE": "0",
              "THROTTLE_QUEUE_ENTER": "1000000/min", "THROTTLE_QUEUE_ENTER_IP": "1000000/min"}  # fmt: skip
    results = {}
    with scratch_django("bench_loadgen", 13, **closed) as env:
        from django.db import connections

        from apps.common.redis import get_redis

        data = waiting_buyers(args.buyers)
        connections.close_all()
        with gunicorn(env) as base, tempfile.TemporaryDirectory() as tmp:
            plan = {**data, "base": base, "buyers": args.buyers, "arrival_seconds": args.arrival_seconds,
                    "polls": args.polls, "interval": args.interval, "vus": args.buyers}  # fmt: skip
            (Path(tmp) / "plan.json").write_text(json.dumps(plan))
            (Path(tmp) / "k6.js").write_text(K6_SCRIPT)
            (Path(tmp) / "locustfile.py").write_text(LOCUST_SCRIPT)
            tool_env = {**os.environ, "PLAN": str(Path(tmp) / "plan.json")}
            k6 = [str(VENV_BIN / "k6"), "run", "--quiet", "--no-usage-report", str(Path(tmp) / "k6.js")]
            locust = [str(VENV_BIN / "locust"), "-f", str(Path(tmp) / "locustfile.py"), "--headless", "--host", base,
                      "--only-summary", "--loglevel", "ERROR"]  # fmt: skip
            for name, command in (("k6", k6), ("Locust", locust)):
                get_redis().flushdb()
                results[name] = run_tool(name, command, tool_env)
    print_results(args, results)


if __name__ == "__main__":
    main()
