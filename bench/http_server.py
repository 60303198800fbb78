"""Shared plumbing for the HTTP benchmarks (the scratch database is bench/scratch.py, the servers they drive come
from scripts/local_servers.py): wrk driving a server, with throughput and latency reported.

Every benchmark stays on 127.0.0.1, bounds its requests by count and time, and stops by itself.
"""

from __future__ import annotations

import statistics
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    name: str
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    fixed_p50: float | None = None
    fixed_p99: float | None = None

    def percentile(self, p: float) -> float:
        if self.fixed_p99 is not None and p == 0.99:
            return self.fixed_p99
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000

    @property
    def p50(self) -> float:
        if self.fixed_p50 is not None:
            return self.fixed_p50
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0

    def row(self) -> str:
        codes = " ".join(f"{code}:{n}" for code, n in sorted(self.statuses.items()))
        return f"{self.name:<44} {self.requests:>7} {self.per_second:>8.0f} {self.p50:>8.1f} {self.percentile(0.99):>8.1f}  {codes}"


HEADER = f"{'endpoint':<44} {'requests':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses"


WRK_SCRIPT = """
local requests_ = REQUESTS
local thread_index, n, threads = 0, 0, {}
statuses = {}  -- global: done() reads each thread's copy with thread:get
function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end
function init(args)
  thread_index = index
  statuses = {}
end
function request()
  local r = requests_[(n * NTHREADS + thread_index) % #requests_ + 1]
  n = n + 1
  return wrk.format(r[1], r[2], r[3], r[4])
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    for code, count in pairs(t:get("statuses")) do
      merged[code] = (merged[code] or 0) + count
    end
  end
  local parts = {}
  for code, count in pairs(merged) do table.insert(parts, code .. ":" .. count) end
  io.write(string.format("WRK %d %f %f %f %s\\n", summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, table.concat(parts, " ")))
end
"""


def _lua_string(value: str) -> str:
    return "[==[" + value + "]==]"


def wrk(
    name: str, base: str, requests: list[tuple[str, str, dict[str, str], dict | None]], *, seconds: float = 10,
    connections: int = 16, threads: int = 2,
) -> LoadResult:  # fmt: skip
    """Drive the server with wrk (C, epoll: it costs the server little CPU). Each connection walks
    the list of (method, path, headers, json body) in turn; wrk stops after `seconds`."""
    import json
    import tempfile

    items = []
    for method, path, headers, body in requests:
        headers = {**headers, "Content-Type": "application/json"} if body is not None else headers
        header_lua = "{" + ", ".join(f"[ {_lua_string(k)} ]={_lua_string(v)}" for k, v in headers.items()) + "}"
        body_lua = _lua_string(json.dumps(body)) if body is not None else "nil"
        items.append(f"{{{_lua_string(method)}, {_lua_string(path)}, {header_lua}, {body_lua}}}")
    script = WRK_SCRIPT.replace("REQUESTS", "{" + ",\n".join(items) + "}").replace("NTHREADS", str(threads))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{int(seconds)}s", "-s", handle.name, "--timeout", "10s", base],
        capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr or out.stdout}")
    out = out.stdout
    line = next(line for line in out.splitlines() if line.startswith("WRK "))
    _, total, duration, p50, p99, *codes = line.split()
    result = LoadResult(name, requests=int(total), seconds=float(duration))
    result.fixed_p50, result.fixed_p99 = float(p50), float(p99)
    for part in codes:
        code, count = part.split(":")
        result.statuses[int(code)] += int(count)
    return result


def rotated_rounds(
    plan: list[tuple[str, str, str, list]], *, rounds: int, seconds: float, connections: int
) -> Iterator[dict[str, LoadResult]]:
    """wrk over every row of `plan` ((key, name, base URL, requests)) once per round, starting one row
    later each round so that no row always runs first or last on a machine whose load drifts; yields
    each round's results by key."""
    for round_ in range(rounds):
        shift = round_ % len(plan)
        yield {
            key: wrk(name, base, requests, seconds=seconds, connections=connections)
            for key, name, base, requests in plan[shift:] + plan[:shift]
        }
