"""The on-sale rush's verdict: every goal of the rush as a gate that prints its figure and PASS, FAIL or
NOT TESTED (with the reason), and fails the run when any gate fails.

bench/rush.py measures a run, turns what it saw into `RushFigures` with the functions below and calls
`evaluate`; tests/ops/test_rush_gates.py feeds figures and sees each gate fail, so a gate that cannot
fail is caught without running a rush. Plain Python on plain data: no Django, no I/O, no third-party
package (the draw's checks are apps/queue/draw.py's, standard library only). Times are seconds since
the opening of the sale unless a name says otherwise.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apps.queue.draw import draw_key
from apps.queue.draw import problems as draw_problems

PASS, FAIL, NOT_TESTED, REPORTED = "PASS", "FAIL", "NOT TESTED", "REPORTED"
LOGIN = "POST /api/auth/login"
STATUS_POLL = "GET /api/queue/status"
BOOKING_PATH = ("POST /api/reservations", "POST /api/payments")
WINDOW_SECONDS = 5.0
# Outcomes of a journey that got the buyer seats, or that the buyer chose (walking away from a hold).
SERVED = frozenset({"paid", "abandoned"})


@dataclass(frozen=True)
class Slo:
    """What the run must meet. `full()` is the on-sale's goals (10,000 seats); `arena()` the 50,000-seat
    variant's; `short()` is `make bench`'s scaled-down run, which sells its few seats within its first
    minute (so its booking windows start earlier) and is too small for a per-minute peak."""

    sellout_seconds: float = 180.0
    p99_ms: float = 1000.0
    p99_grace_seconds: float = 30.0
    unserved_share: float = 0.01
    share_503: float = 0.01
    min_prequeued_for_draw: int = 200
    draw_p_min: float = 0.001
    peak_seats_per_minute: float | None = 6000.0
    cpu_ms_per_seat: float = 15.0
    booking_p95_ms: float = 1000.0
    booking_windows_share: float = 0.95
    booking_window_max_ms: float = 3000.0
    booking_warmup_seconds: float = 60.0
    sold_out_told_seconds: float = 30.0
    sold_out_told_share: float = 0.99
    polls_after_sold_out_share: float = 0.05
    seat_unavailable_share: float = 0.05
    hold_attempts_per_order: float = 1.2
    gave_up_on_failures_share: float = 0.001  # under faults: buyers a failed request sent away
    # False under faults (`under_faults`): the speed gates print their figures and never fail the run.
    speed_judged: bool = True

    @classmethod
    def full(cls, **overrides: Any) -> Slo:
        return cls(**overrides)

    @classmethod
    def arena(cls, **overrides: Any) -> Slo:
        """The 50,000-seat variant: sold out within 15 minutes and no p99 above 2 s; no per-minute peak."""
        return cls(**{"sellout_seconds": 900.0, "p99_ms": 2000.0, "peak_seats_per_minute": None, **overrides})

    @classmethod
    def short(cls, **overrides: Any) -> Slo:
        return cls(**{"sellout_seconds": 60.0, "peak_seats_per_minute": None, "booking_warmup_seconds": 15.0,
                      **overrides})  # fmt: skip

    def under_faults(self) -> Slo:
        """The run with faults injected (`make rush-faults`) is judged on what faults must not break:
        correctness, the draw and the line's order, buyers a failed request sent away, 503s, and the
        sale selling out within the run's budget. How fast and how well it sold (the speed gates, and
        buyers whose patience ran out while every seat was held) is the same run's business without
        faults (`make rush` judges it): here those gates report their figures, to set beside that run's."""
        return dataclasses.replace(self, speed_judged=False)


@dataclass(frozen=True)
class Gate:
    name: str
    figure: str
    limit: str
    verdict: str
    reason: str = ""

    def line(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.verdict:<10} {self.name}: {self.figure} [{self.limit}]{why}"


@dataclass
class DrawFigures:
    """The pre-queue's draw: the rank tests of drawn place against arrival, and the published draw."""

    prequeued: int
    p_rho: float | None = None
    p_chi2: float | None = None
    behind_later: int = 0
    # None: the server publishes no draw; else what verify_draw found wrong (empty when it checks out).
    published_problems: list[str] | None = None
    keys_p: float | None = None  # Kolmogorov-Smirnov p of the published keys against uniform


@dataclass
class RushFigures:
    seats: int
    sold: int
    sold_99_seconds: float | None
    peak_seats_per_minute: float
    p99_ms: dict[str, float]  # endpoint -> p99 outside the opening's grace, login excluded
    buyers: int
    unserved: int
    requests: int
    answers_503: int
    draw: DrawFigures
    server_cpu_seconds: float
    booking_window_p95_ms: list[float]
    sold_out_supported: bool
    waiting_at_sell_out: int | None  # None: the date never sold out
    told_sold_out_in_time: int = 0
    poll_peak_per_second: float = 0.0
    poll_after_sold_out_per_second: float | None = None  # None: the run ended before it could be seen
    hold_attempts: int = 0
    seat_unavailable: int = 0
    paid_orders: int = 0
    hold_attempts_of_paid_orders: int = 0
    gave_up_on_failures: int = 0  # buyers whose journey ended on a request that kept failing
    correctness: list[str] = field(default_factory=list)  # the run's other checks that failed


def _verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def evaluate(f: RushFigures, slo: Slo) -> list[Gate]:
    """Every gate of the run, in a fixed order."""
    gates = [
        Gate("correctness (invariants, money, seats, holds, errors, order)",
             "all held" if not f.correctness else "; ".join(f.correctness), "every check holds",
             _verdict(not f.correctness)),
        _sellout_gate(f, slo),
        _p99_gate(f, slo),
        Gate("buyers not served while seats remained", f"{f.unserved} of {f.buyers} ({_share(f.unserved, f.buyers):.2%})",
             f"<= {slo.unserved_share:.0%}", _verdict(f.buyers > 0 and _share(f.unserved, f.buyers) <= slo.unserved_share),
             "" if f.buyers else "no buyer arrived"),
        Gate("503 answers", f"{f.answers_503} of {f.requests} requests ({_share(f.answers_503, f.requests):.2%})",
             f"<= {slo.share_503:.0%}", _verdict(_share(f.answers_503, f.requests) <= slo.share_503)),
        *_draw_gates(f.draw, slo),
        _peak_gate(f, slo),
        Gate("server CPU per seat sold (web tier, push, Celery, beat, MariaDB, Redis, nginx)",
             (f"{_cpu_per_seat(f):.1f} ms" if f.server_cpu_seconds > 0 else "not measured (no server process sampled)")
             if f.sold else f"{f.server_cpu_seconds:.0f} s for no seat",
             f"<= {slo.cpu_ms_per_seat:g} ms",
             _verdict(f.sold > 0 and f.server_cpu_seconds > 0 and _cpu_per_seat(f) <= slo.cpu_ms_per_seat)),
        _booking_windows_gate(f, slo),
        *_sold_out_gates(f, slo),
        Gate("holds refused SEAT_UNAVAILABLE",
             f"{f.seat_unavailable} of {f.hold_attempts} ({_share(f.seat_unavailable, f.hold_attempts):.1%})",
             f"<= {slo.seat_unavailable_share:.0%}",
             _verdict(_share(f.seat_unavailable, f.hold_attempts) <= slo.seat_unavailable_share)),
        _attempts_gate(f, slo),
    ]  # fmt: skip
    if slo.speed_judged:
        return gates
    reported = [_reported(gate) if gate.name.startswith(SPEED_GATES) else gate for gate in gates]
    return [reported[0], _sold_out_in_budget_gate(f), _gave_up_gate(f, slo), *reported[1:]]


# The gates of how fast and how well the sale went, the line moved and the end was told: not judged
# under faults (the same sale without faults judges them).
SPEED_GATES = (
    "time to 99 % sold", "p99 per endpoint", "buyers not served while seats remained", "peak seats per minute",
    "server CPU per seat sold", "booking-path p95 per", "waiting buyers told SOLD_OUT", "status polls from",
    "holds refused SEAT_UNAVAILABLE", "hold attempts per paid order",
)  # fmt: skip


def _gave_up_gate(f: RushFigures, slo: Slo) -> Gate:
    """Under faults: buyers whose journey ended because a request kept failing (a page retries a 503
    with Retry-After and a dropped connection; a buyer sent away by a fault is a buyer lost)."""
    share = _share(f.gave_up_on_failures, f.buyers)
    return Gate("buyers who gave up on a failed request", f"{f.gave_up_on_failures} of {f.buyers} ({share:.2%})",
                f"<= {slo.gave_up_on_failures_share:.1%}",
                _verdict(f.buyers > 0 and share <= slo.gave_up_on_failures_share))  # fmt: skip


def _reported(gate: Gate) -> Gate:
    if gate.verdict != FAIL:
        return gate
    return dataclasses.replace(gate, verdict=REPORTED, reason="a speed goal: judged by the run without faults")


def _sold_out_in_budget_gate(f: RushFigures) -> Gate:
    name = "the sale sold out despite the faults (99 % within the run's budget)"
    if f.sold_99_seconds is None:
        return Gate(name, f"{f.sold} of {f.seats} sold", "99 % sold", FAIL)
    return Gate(name, f"99 % at {f.sold_99_seconds:.0f} s, {f.sold} of {f.seats} sold", "99 % sold", PASS)


def _cpu_per_seat(f: RushFigures) -> float:
    return 1000 * f.server_cpu_seconds / f.sold if f.sold else math.inf


def _sellout_gate(f: RushFigures, slo: Slo) -> Gate:
    limit = f"<= {slo.sellout_seconds:g} s"
    if f.sold_99_seconds is None:
        return Gate("time to 99 % sold", f"not reached ({f.sold} of {f.seats} sold)", limit, FAIL)
    return Gate("time to 99 % sold", f"{f.sold_99_seconds:.0f} s after the opening", limit,
                _verdict(f.sold_99_seconds <= slo.sellout_seconds))  # fmt: skip


def _p99_gate(f: RushFigures, slo: Slo) -> Gate:
    limit = f"every endpoint but login <= {slo.p99_ms:g} ms after the opening's first {slo.p99_grace_seconds:g} s"
    judged = {name: p99 for name, p99 in f.p99_ms.items() if name != LOGIN}
    if not judged:
        return Gate("p99 per endpoint", "no request", limit, FAIL, "nothing was measured")
    over = {name: p99 for name, p99 in judged.items() if p99 > slo.p99_ms}
    worst = max(judged, key=judged.get)
    figure = ", ".join(f"{name} {p99:.0f} ms" for name, p99 in sorted(over.items(), key=lambda kv: -kv[1]))
    return Gate("p99 per endpoint", figure or f"worst {worst} {judged[worst]:.0f} ms", limit, _verdict(not over))


def _draw_gates(d: DrawFigures, slo: Slo) -> list[Gate]:
    if d.prequeued < slo.min_prequeued_for_draw:
        reason = f"only {d.prequeued} buyers pre-queued; the draw's tests need {slo.min_prequeued_for_draw}"
        return [Gate("pre-queue draw", "-", "uniform, published, verified", NOT_TESTED, reason)]
    limit = f"p >= {slo.draw_p_min:g}"
    gates = [
        Gate("draw: drawn place independent of arrival (Spearman, chi-square)",
             f"p {_p(d.p_rho)}, {_p(d.p_chi2)} over {d.prequeued} pre-queued", limit,
             _verdict(d.p_rho is not None and d.p_chi2 is not None and min(d.p_rho, d.p_chi2) >= slo.draw_p_min)),
        Gate("draw: pre-queued buyers ahead of later arrivals", f"{d.behind_later} behind", "0",
             _verdict(d.behind_later == 0)),
    ]  # fmt: skip
    if d.published_problems is None:
        gates.append(Gate("draw: published and verified from its public URLs", "not published", "verifies",
                          FAIL, "GET …/draw or …/draw/order did not answer the draw"))  # fmt: skip
    else:
        gates.append(Gate("draw: published and verified from its public URLs",
                          "; ".join(d.published_problems[:3]) or "verified", "verifies",
                          _verdict(not d.published_problems)))  # fmt: skip
        gates.append(Gate("draw: published keys uniform (Kolmogorov-Smirnov)", f"p {_p(d.keys_p)}", limit,
                          _verdict(d.keys_p is not None and d.keys_p >= slo.draw_p_min)))  # fmt: skip
    return gates


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _peak_gate(f: RushFigures, slo: Slo) -> Gate:
    if slo.peak_seats_per_minute is None:
        return Gate("peak seats per minute", f"{f.peak_seats_per_minute:.0f}", "-", NOT_TESTED,
                    "a goal of the full rush; this run has too few seats for a minute's peak")  # fmt: skip
    return Gate("peak seats per minute", f"{f.peak_seats_per_minute:.0f}", f">= {slo.peak_seats_per_minute:g}",
                _verdict(f.peak_seats_per_minute >= slo.peak_seats_per_minute))  # fmt: skip


def _booking_windows_gate(f: RushFigures, slo: Slo) -> Gate:
    name = f"booking-path p95 per {WINDOW_SECONDS:g} s window after the first {slo.booking_warmup_seconds:g} s"
    limit = (f">= {slo.booking_windows_share:.0%} of windows <= {slo.booking_p95_ms:g} ms, "
             f"none over {slo.booking_window_max_ms:g} ms")  # fmt: skip
    windows = f.booking_window_p95_ms
    if not windows:
        return Gate(name, "no window", limit, NOT_TESTED, "no hold or payment after the warm-up")
    within = sum(1 for p95 in windows if p95 <= slo.booking_p95_ms)
    figure = f"{within} of {len(windows)} windows ({within / len(windows):.0%}) within, worst {max(windows):.0f} ms"
    ok = within / len(windows) >= slo.booking_windows_share and max(windows) <= slo.booking_window_max_ms
    return Gate(name, figure, limit, _verdict(ok))


def _sold_out_gates(f: RushFigures, slo: Slo) -> list[Gate]:
    told = f"waiting buyers told SOLD_OUT within {slo.sold_out_told_seconds:g} s of the last seat"
    polls = f"status polls from {slo.sold_out_told_seconds:g} s after the last seat"
    if not f.sold_out_supported:
        reason = "the server's status answers carry no seats_available: it does not tell SOLD_OUT"
        return [Gate(told, "-", "-", NOT_TESTED, reason)]
    if f.waiting_at_sell_out is None:
        return [Gate(told, "-", "-", NOT_TESTED, "the date never sold out")]
    gates = []
    if f.waiting_at_sell_out:
        share = f.told_sold_out_in_time / f.waiting_at_sell_out
        gates.append(Gate(told, f"{f.told_sold_out_in_time} of {f.waiting_at_sell_out} ({share:.1%})",
                          f">= {slo.sold_out_told_share:.0%}", _verdict(share >= slo.sold_out_told_share)))  # fmt: skip
    else:
        gates.append(Gate(told, "nobody was waiting", "-", NOT_TESTED, "the line was empty when the last seat sold"))
    limit = f"< {slo.polls_after_sold_out_share:.0%} of the peak ({f.poll_peak_per_second:.0f}/s)"
    if f.poll_after_sold_out_per_second is None:
        gates.append(Gate(polls, "-", limit, NOT_TESTED, "the run ended before then with buyers still polling"))
    else:
        after = f.poll_after_sold_out_per_second
        ok = after < slo.polls_after_sold_out_share * f.poll_peak_per_second or after == 0
        gates.append(Gate(polls, f"{after:.1f}/s at most", limit, _verdict(ok)))
    return gates


def _attempts_gate(f: RushFigures, slo: Slo) -> Gate:
    name = "hold attempts per paid order"
    limit = f"<= {slo.hold_attempts_per_order:g}"
    if not f.paid_orders:
        return Gate(name, "no paid order", limit, FAIL)
    per_order = f.hold_attempts_of_paid_orders / f.paid_orders
    return Gate(name, f"{per_order:.2f} ({f.hold_attempts} attempts by everyone, {f.paid_orders} orders)", limit,
                _verdict(per_order <= slo.hold_attempts_per_order))  # fmt: skip


def failed(gates: Iterable[Gate]) -> list[Gate]:
    return [gate for gate in gates if gate.verdict == FAIL]


# --- figures from what the run saw ------------------------------------------------------------------


def time_to_share_sold(sales: Sequence[tuple[float, int]], *, seats: int, share: float = 0.99) -> float | None:
    """When the running total of `sales` ((time, seats in that payment), any order) first reaches
    `share` of `seats`; None if it never does."""
    total = 0
    for at, count in sorted(sales):
        total += count
        if total >= share * seats:
            return at
    return None


def last_seat_sold_at(sales: Sequence[tuple[float, int]], *, seats: int) -> float | None:
    """When the last of `seats` sold; None while any seat is unsold."""
    return time_to_share_sold(sales, seats=seats, share=1.0)


def peak_per_minute(sales: Sequence[tuple[float, int]]) -> int:
    """The most seats sold in any 60 s (a window sliding over the payments, not calendar minutes)."""
    ordered = sorted(sales)
    best, total, start = 0, 0, 0
    for at, count in ordered:
        total += count
        while ordered[start][0] <= at - 60:
            total -= ordered[start][1]
            start += 1
        best = max(best, total)
    return best


def p99_outside_grace(
    timeline: Iterable[tuple[str, float, Sequence[float]]], *, grace_seconds: float
) -> dict[str, float]:
    """p99 per endpoint over the windows ((endpoint, window start, latencies in ms)) outside the first
    `grace_seconds` of the opening; login is left out (it hashes a password on purpose)."""
    values: dict[str, list[float]] = {}
    for name, at, latencies in timeline:
        if name == LOGIN or 0 <= at < grace_seconds:
            continue
        values.setdefault(name, []).extend(latencies)
    return {name: percentile(latencies, 0.99) for name, latencies in values.items() if latencies}


def booking_windows(
    timeline: Iterable[tuple[str, float, Sequence[float]]], *, warmup_seconds: float
) -> dict[float, list[float]]:
    """The booking path's latencies (holds and payments together) by window, for the windows that
    start after the warm-up."""
    windows: dict[float, list[float]] = {}
    for name, at, latencies in timeline:
        if name in BOOKING_PATH and at >= warmup_seconds:
            windows.setdefault(at, []).extend(latencies)
    return windows


def windows_p95(windows: Mapping[float, Sequence[float]], *, warmup_seconds: float = -math.inf) -> list[float]:
    """p95 of each window that starts after the warm-up and had any latency, in time order."""
    return [percentile(values, 0.95) for at, values in sorted(windows.items()) if at >= warmup_seconds and values]


def booking_window_p95(timeline: Iterable[tuple[str, float, Sequence[float]]], *, warmup_seconds: float) -> list[float]:
    """p95 of the booking path (holds and payments together) in each window that starts after the
    warm-up and had any."""
    return windows_p95(booking_windows(timeline, warmup_seconds=warmup_seconds))


# The booking path as nginx's JSON access log names it (deploy/nginx's ticketing_json format).
PROXY_BOOKING_PATHS = ("/api/reservations", "/api/payments")


def proxy_booking_windows(entries: Iterable[Mapping[str, Any]], *, opens_at_epoch: float) -> dict[float, list[float]]:
    """The booking path's latencies (ms) as the proxy saw them, by the WINDOW_SECONDS window their
    request started in (seconds since the opening): from nginx's access log entries (`time`, ISO 8601
    at the end of the request, to the second; `request_time` in seconds; `method`; `uri`). Beside the
    load generator's own figures: what a buyer's browser would have seen, less the network and less any
    time the generator took to read the answer."""
    windows: dict[float, list[float]] = {}
    for entry in entries:
        if entry.get("method") != "POST" or entry.get("uri", "").split("?")[0] not in PROXY_BOOKING_PATHS:
            continue
        took = float(entry["request_time"])
        started = datetime.fromisoformat(entry["time"]).timestamp() - took - opens_at_epoch
        windows.setdefault(WINDOW_SECONDS * math.floor(started / WINDOW_SECONDS), []).append(1000 * took)
    return windows


def poll_rates(
    timeline: Iterable[tuple[str, float, Sequence[float]]], *, after: float | None, run_ended: float
) -> tuple[float, float | None]:
    """Status polls per second: the busiest window's rate, and the busiest rate among the windows that
    start at or after `after` (0 when the polls had stopped; None when the run ended before `after`)."""
    counts: dict[float, int] = {}
    for name, at, latencies in timeline:
        if name == STATUS_POLL:
            counts[at] = counts.get(at, 0) + len(latencies)
    peak = max(counts.values(), default=0) / WINDOW_SECONDS
    if after is None or run_ended < after:
        return peak, None
    later = [count for at, count in counts.items() if at >= after]
    return peak, max(later, default=0) / WINDOW_SECONDS


def unserved_buyers(journeys: Iterable[Mapping[str, Any]], *, seats_gone_at: float | None, run_ended: float) -> int:
    """Buyers whose journey ended without seats while seats remained: they gave up, timed out, or were
    still waiting (never admitted) when the run ended. `seats_gone_at` is when the last seat sold (None:
    never). A buyer who held seats (and paid or walked away from them) was served; one who learnt there
    was nothing left after the last seat sold was answered truthfully."""
    gone = math.inf if seats_gone_at is None else seats_gone_at
    unserved = 0
    for journey in journeys:
        if journey.get("outcome") in SERVED or journey.get("held"):
            continue
        ended = journey.get("ended", run_ended)
        if ended < gone:
            unserved += 1
    return unserved


def waiting_told_sold_out(
    journeys: Iterable[Mapping[str, Any]], *, seats_gone_at: float, within: float
) -> tuple[int, int]:
    """(buyers waiting in line when the last seat sold, how many of them the server told SOLD_OUT
    within `within` seconds)."""
    waiting = told = 0
    for journey in journeys:
        if "entered" not in journey or journey["entered"] > seats_gone_at:
            continue
        if journey.get("admitted", math.inf) <= seats_gone_at or journey.get("ended", math.inf) < seats_gone_at:
            continue
        waiting += 1
        if journey.get("told_sold_out", math.inf) <= seats_gone_at + within:
            told += 1
    return waiting, told


def fifo_violations(admitted: Iterable[tuple[float, float]], seen_waiting: Iterable[tuple[float, float]]) -> int:
    """Admissions out of line order: pairs of a buyer admitted and a buyer ahead of it (a lower score in
    the line) still seen waiting after that admission. `admitted` holds (when the generator received the
    READY answer, score); `seen_waiting` (when the generator sent a poll then answered WAITING, score).

    Each time errs on the safe side for the check, so a busy generator (a loop lagging seconds behind)
    cannot make a violation up: the answer was received no later than it was recorded, and the poll sent
    no earlier. If the admission's answer came before the poll was sent, the buyer ahead was waiting
    after the buyer behind had been admitted; the line admits strictly by score, so that is a violation.
    Sorted sweep with a Fenwick tree over the scores: O((n + m) log n), for the arena's 10^5 of each."""
    ordered = sorted(admitted)
    ranks = {score: rank for rank, score in enumerate(sorted({score for _, score in ordered}), start=1)}
    tree = [0] * (len(ranks) + 1)

    def add(rank: int) -> None:
        while rank < len(tree):
            tree[rank] += 1
            rank += rank & -rank

    def at_most(rank: int) -> int:
        total = 0
        while rank > 0:
            total += tree[rank]
            rank -= rank & -rank
        return total

    scores = sorted(ranks)
    violations = taken = 0
    for sent, score in sorted(seen_waiting):
        while taken < len(ordered) and ordered[taken][0] < sent:
            add(ranks[ordered[taken][1]])
            taken += 1
        violations += taken - at_most(bisect.bisect_right(scores, score))
    return violations


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


# --- the published draw ---------------------------------------------------------------------------

# The formulas and the checks anyone can run on a published draw are the product's own (apps/queue/draw.py,
# standard library only): the harness checks the draw exactly as `manage.py verify_draw` does, and adds
# what only the load generator knows (every buyer's nonce and the order the line admitted them in).


def verify_draw(
    *, draw: Mapping[str, Any], order: Sequence[str], nonces: Mapping[int, str], drawn_order: Sequence[int]
) -> list[str]:
    """What is wrong with a published draw (empty when it checks out), from the two public documents
    (`draw`: GET …/draw, `order`: the lines of GET …/draw/order) and what the buyers know: each one's
    user id and nonce (`nonces`), and `drawn_order`, the user ids of the pre-queued buyers in the order
    the line actually admitted them. Checks: the secret opens the commitment; the keys are ascending and
    as many as the entrants; every buyer's recomputed key is published, and the buyers' keys are in the
    line's order."""
    problems = draw_problems(draw, order)
    if problems:
        return problems
    place = published_places(draw=draw, order=order, nonces=nonces)
    missing = [uid for uid in nonces if uid not in place]
    if missing:
        problems.append(f"{len(missing)} buyers' keys are not published (user {missing[0]} first)")
    places = [place[uid] for uid in drawn_order if uid in place]
    inversions = sum(1 for a, b in itertools.pairwise(places) if a > b)
    if inversions:
        problems.append(f"the line's order differs from the published keys' order at {inversions} places")
    return problems


def published_places(*, draw: Mapping[str, Any], order: Sequence[str], nonces: Mapping[int, str]) -> dict[int, int]:
    """Each buyer's place in the published draw (0 = first), found as a buyer finds it: the own key
    recomputed from the revealed secret, the user id and the nonce, looked up in the published order.
    Buyers whose key is not published are left out; {} before the secret is revealed."""
    secret = draw.get("secret")
    if not secret:
        return {}
    place = {key: index for index, key in enumerate(order)}
    found = ((uid, place.get(draw_key(secret=secret, user_id=uid, nonce=nonce))) for uid, nonce in nonces.items())
    return {uid: at for uid, at in found if at is not None}


def keys_uniform_p(keys: Sequence[str]) -> float | None:
    """Kolmogorov-Smirnov p-value of the keys (hex, read as fractions of 2^256) against the uniform
    distribution; None for fewer than 20 keys. The asymptotic distribution with Stephens' correction,
    good to a few per cent of p from n = 20."""
    n = len(keys)
    if n < 20:
        return None
    scale = float(16 ** len(keys[0]))
    values = sorted(int(key, 16) / scale for key in keys)
    d = max(max((i + 1) / n - v, v - i / n) for i, v in enumerate(values))
    root = math.sqrt(n)
    lam = (root + 0.12 + 0.11 / root) * d
    if lam < 0.2:
        return 1.0
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return min(1.0, max(0.0, p))
