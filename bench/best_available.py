"""What choosing best-available seats costs at stadium size (no database, no Redis: the chooser alone).

    .venv/bin/python bench/best_available.py [--seats 50000] [--samples 2000] [--rounds 3]

A layout of `--seats` seats (sections of 50 rows of 100 seats), its plan and free runs built once
(`apps.concerts.choosing`), then, interleaved in rounds so that a burst of the shared machine lands on
every row alike, the p50 and p99 of one call of:
- the bare floor: the same timing harness around a call that does nothing;
- choose 2 seats on an empty date (the first row fits);
- choose 2 seats in the last section, 90 % of the date held at random (rows skipped by their longest run);
- choose 4 seats side by side when no row has them (every row of the scope looked at, the shortfall);
- choose 2 seats spread over the 64 best blocks (a buyer who lost 6 races in a row);
- derive the free runs of the next version after one hold of 2 seats (what a new status version costs);
- derive them after 64 holds at random places (a reader 64 versions behind);
- the naive way, for comparison: find the free runs of every row of a section on each request.
Each row also says how many times the floor it costs. Times in microseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings.test")

ROWS_PER_SECTION, SEATS_PER_ROW = 50, 100


def layout_document(seats: int) -> dict:
    sections, seat_num = [], 0
    for index in range(-(-seats // (ROWS_PER_SECTION * SEATS_PER_ROW))):
        rows = []
        for row in range(ROWS_PER_SECTION):
            length = min(SEATS_PER_ROW, seats - seat_num)
            if length <= 0:
                break
            rows.append({"row": str(row + 1), "seats": [[seat_num + n + 1, seat_num + n + 1] for n in range(length)]})
            seat_num += length
        sections.append({"name": f"S{index + 1}", "price": "100.00", "seat_prices": {}, "rows": rows})
    return {"concert_date_id": 1, "layout_version": 1, "sections": sections}


def timings(action: Callable[[], object], samples: int) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for _ in range(samples):
        started = clock()
        action()
        out.append((clock() - started) / 1000)
    return out


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seats", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=2000, help="calls per row and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from apps.concerts.choosing import _FREE_RUN, FreeRuns, SeatPlan, choose

    rng = random.Random(22)
    started = time.perf_counter()
    plan = SeatPlan.of_layout(layout_document(args.seats))
    plan_ms = (time.perf_counter() - started) * 1000
    empty = "A" * plan.size
    started = time.perf_counter()
    fresh = FreeRuns.of(plan, empty)
    build_ms = (time.perf_counter() - started) * 1000

    busy_codes = bytearray(empty, "ascii")
    for position in rng.sample(range(plan.size), int(plan.size * 0.9)):
        busy_codes[position] = ord("H")
    busy = FreeRuns.of(plan, busy_codes.decode("ascii"))
    # No row with 4 side by side: every 4th seat taken, in every row.
    sparse = FreeRuns.of(plan, "".join("AAAH"[n % 4] for n in range(plan.size)))
    last_section = plan.sections[-1]

    def one_hold(runs: FreeRuns, count: int) -> Callable[[], object]:
        codes = bytearray(runs.codes, "ascii")
        for _ in range(count):
            start = rng.randrange(plan.size - 2)
            codes[start : start + 2] = b"HH"
        changed = codes.decode("ascii")
        return lambda: FreeRuns.of(plan, changed, previous=runs)

    section_rows = [plan.rows[index] for index in plan.rows_of[last_section]]

    def naive() -> object:
        best = None
        for row in section_rows:
            for match in _FREE_RUN.finditer(busy.codes, row.start, row.stop):
                if match.end() - match.start() >= 2 and best is None:
                    best = match.start()
        return best

    spread_rng = random.Random(1)
    rows: dict[str, Callable[[], object]] = {
        "bare floor (an empty call)": lambda: None,
        "choose 2, empty date": lambda: choose(fresh, quantity=2),
        "choose 2 in the last section, 90 % held": lambda: choose(busy, quantity=2, section=last_section),
        "choose 4 together, no row has them (shortfall)": lambda: choose(sparse, quantity=4),
        "choose 2, spread over the 64 best blocks": lambda: choose(fresh, quantity=2, spread=64, rng=spread_rng),
        "runs of the next version, 1 hold": one_hold(busy, 1),
        "runs of a version 64 holds later": one_hold(busy, 64),
        "naive: scan a section's rows per request": naive,
    }
    results: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for _ in range(args.rounds):
        for name, action in rows.items():
            values = timings(action, args.samples)
            results[name]["p50"].append(percentile(values, 0.5))
            results[name]["p99"].append(percentile(values, 0.99))

    floor = {key: statistics.median(results["bare floor (an empty call)"][key]) for key in ("p50", "p99")}
    print(
        f"{plan.size:,} seats in {len(plan.rows)} rows of {len(plan.sections)} sections; plan built once in "
        f"{plan_ms:.0f} ms, free runs built from nothing in {build_ms:.1f} ms (once per process and layout)"
    )
    print(f"median of {args.rounds} rounds of {args.samples} calls; the machine is shared, compare within this run")
    print(f"| {'row':<48} | p50 µs | p99 µs | p50 ÷ floor | p99 ÷ floor |")
    print(f"| {'-' * 48} | -----: | -----: | ----------: | ----------: |")
    for name in rows:
        p50 = statistics.median(results[name]["p50"])
        p99 = statistics.median(results[name]["p99"])
        print(f"| {name:<48} | {p50:6.1f} | {p99:6.1f} | {p50 / floor['p50']:11.0f} | {p99 / floor['p99']:11.0f} |")


if __name__ == "__main__":
    main()
