"""The load generator's results, merged when the buyers ran in several Locust processes
(bench/rush.py `--loadgen-processes`): each process writes what its buyers saw (bench/rush_locust.py),
and the run is judged on all of them together, as if one process had written it."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

MAX_SERVER_ERRORS = 50


def _supports(parts: Sequence[Mapping[str, Any]]) -> dict[str, bool | None]:
    """What the server turned out to support, as any process learnt it: SOLD_OUT told and the stream
    answered when one process saw them; best available offered unless one process was refused it."""
    seen = [part.get("server_supports", {}) for part in parts]
    streams = [s.get("sold_out_stream") for s in seen]
    return {
        "sold_out": any(s.get("sold_out") for s in seen),
        "best_available": all(s.get("best_available", True) for s in seen),
        "sold_out_stream": True if True in streams else (False if False in streams else None),
    }


def _worst_by_window(parts: Sequence[Mapping[str, Any]], key: str) -> list[list[float]]:
    """`[[window, value], ...]` with each window's largest value over every process's `key`."""
    worst: dict[float, float] = {}
    for part in parts:
        for at, value in part.get(key, []):
            worst[at] = max(worst.get(at, 0.0), value)
    return [[at, value] for at, value in sorted(worst.items())]


def merge(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One result from every process's: the journeys and the latencies together, each 5 s window's
    latencies together, the status counts summed, each window's loop lag and collector pause the worst of
    any process, and the full collections summed."""
    if len(parts) == 1:
        return dict(parts[0])
    latencies: dict[str, list[float]] = defaultdict(list)
    timeline: dict[tuple[str, float], list[float]] = defaultdict(list)
    statuses: dict[str, Counter] = defaultdict(Counter)
    missing: Counter = Counter()
    for part in parts:
        for name, values in part.get("latencies", {}).items():
            latencies[name] += values
        for name, at, values in part.get("timeline", []):
            timeline[(name, at)] += values
        for name, codes in part.get("statuses", {}).items():
            statuses[name].update(codes)
        missing.update(part.get("missing_retry_after", {}))
    return {
        "started_at": min(part["started_at"] for part in parts),
        "server_supports": _supports(parts),
        "journeys": [journey for part in parts for journey in part.get("journeys", [])],
        "latencies": dict(latencies),
        "timeline": [[name, at, values] for (name, at), values in sorted(timeline.items())],
        "statuses": {name: dict(codes) for name, codes in statuses.items()},
        "missing_retry_after": dict(missing),
        "server_errors": [error for part in parts for error in part.get("server_errors", [])][:MAX_SERVER_ERRORS],
        "loop_lag": _worst_by_window(parts, "loop_lag"),
        "gc_pause": _worst_by_window(parts, "gc_pause"),
        "gc_full": {
            "automatic": any(part.get("gc_full", {}).get("automatic") for part in parts),
            "collections": sum(part.get("gc_full", {}).get("collections", 0) for part in parts),
            "ms": round(sum(part.get("gc_full", {}).get("ms", 0.0) for part in parts), 1),
            "max_rss_mb": sum(part.get("gc_full", {}).get("max_rss_mb", 0) for part in parts),
        },
        "processes": len(parts),
    }
