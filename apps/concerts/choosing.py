"""Choosing seats for a buyer (best available), and reading named seats, from the stored seat status.

The seat map keeps, per version, one status character per seat in layout order (`seat_map`): the
chooser reads those bytes, never the database. Two structures sit on top of them:

- the **plan** (`SeatPlan`): the layout as the chooser walks it (sections, rows in layout order, each
  row's span of status positions and its seat ids). Immutable per layout version, built once per
  process from the stored layout document;
- the **free runs** (`FreeRuns`): per row, the runs of free seats as `(start, length)` in row order,
  with the row's longest run and free count (also one byte per row, so the first row with a long
  enough run is found by a regex search in C). Kept per date in this process and derived from the
  previous one when the status moves on: halves of the rows are compared as slices and only the rows
  that changed are read again, so a new version costs a few rows, not a scan of every seat.

Choosing walks the rows of the scope in layout order and takes the first row with a run long enough;
in that row, the block nearest the row's centre, preferring any block that strands no single free
seat between itself and a taken seat or the row's end. Without a block anywhere in the scope and with
`together=False`, it takes the free seats nearest each other in one section. The database still
decides: a chosen seat that is taken by the time it is locked makes the caller choose again (with
`excluding`), spreading retries over the next best blocks (`spread`) so that buyers who read the same
status do not all fall on the same block again.
"""

from __future__ import annotations

import functools
import json
import random
import re
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from . import seat_map

_FREE_RUN = re.compile("A+")
_TAKEN = frozenset("HR")
PLANS_KEPT = 32  # layouts (date, layout version) whose plans, and dates whose free runs, this process keeps


# --- The plan: the layout as the chooser walks it ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    section: str
    label: str
    start: int  # status position of the row's first seat; its seats are start..stop-1 in row order
    seat_ids: tuple[int, ...]

    @property
    def stop(self) -> int:
        return self.start + len(self.seat_ids)


@dataclass(frozen=True)
class SeatPlan:
    """A date's layout in the chooser's terms. A seat's status position is its `seat_num - 1` (a date's
    seats are numbered 1..N in layout order and never renumbered), so each row is one span of
    positions, and the rows' spans follow each other in layout order."""

    concert_date_id: int
    layout_version: int
    rows: tuple[Row, ...]
    sections: tuple[str, ...]  # names in layout order
    rows_of: dict[str, tuple[int, ...]]  # section → indices of its rows, in layout order
    size: int  # seats, the length of the status codes
    _place: dict[int, tuple[int, int]] = field(repr=False)  # seat id → (row index, index in row)

    @classmethod
    def of_layout(cls, document: dict) -> SeatPlan:
        """The plan of a seat-layout document (`seat_map.seat_layout`'s body)."""
        rows: list[Row] = []
        rows_of: dict[str, list[int]] = {}
        place: dict[int, tuple[int, int]] = {}
        for section in document["sections"]:
            name = section["name"]
            for row in section["rows"]:
                seats = row["seats"]
                start = seats[0][1] - 1
                if [seat_num for _, seat_num in seats] != list(range(start + 1, start + 1 + len(seats))):
                    raise ValueError(f"Row {row['row']} of {name} is not numbered in layout order.")
                index = len(rows)
                rows.append(Row(section=name, label=row["row"], start=start, seat_ids=tuple(pk for pk, _ in seats)))
                rows_of.setdefault(name, []).append(index)
                for offset, (pk, _) in enumerate(seats):
                    place[pk] = (index, offset)
        return cls(
            concert_date_id=document["concert_date_id"],
            layout_version=document["layout_version"],
            rows=tuple(rows),
            sections=tuple(rows_of),
            rows_of={name: tuple(indices) for name, indices in rows_of.items()},
            size=rows[-1].stop if rows else 0,
            _place=place,
        )

    def place_of(self, seat_id: int) -> tuple[int, int] | None:
        """(row index, index in the row) of one of the date's seats; None for any other id."""
        return self._place.get(seat_id)

    def position_of(self, seat_id: int) -> int | None:
        place = self._place.get(seat_id)
        return None if place is None else self.rows[place[0]].start + place[1]

    def taken(self, codes: str, seat_ids: Iterable[int]) -> list[int]:
        """The seats of `seat_ids` that `codes` shows held or reserved (ids not of this layout are the
        database's to refuse, so they are not named here)."""
        taken = []
        for seat_id in seat_ids:
            position = self.position_of(seat_id)
            if position is not None and position < len(codes) and codes[position] in _TAKEN:
                taken.append(seat_id)
        return taken

    def adjacent(self, seat_ids: Collection[int]) -> bool:
        """All in one row, side by side."""
        places = sorted(self._place.get(seat_id, (-1, -1)) for seat_id in seat_ids)
        if not places or places[0][0] < 0:
            return False
        row, first = places[0]
        return places == [(row, first + i) for i in range(len(places))]


_plans: dict[tuple[int, int], SeatPlan] = {}
_plans_lock = threading.Lock()


def seat_plan(*, concert_date_id: int, layout_version: int) -> SeatPlan:
    """The date's plan at `layout_version`, from this process or the stored layout."""
    key = (concert_date_id, layout_version)
    plan = _plans.get(key)
    if plan is None:
        layout = seat_map.seat_layout(concert_date_id=concert_date_id, layout_version=layout_version)
        plan = SeatPlan.of_layout(json.loads(layout.rendered.body))
        with _plans_lock:
            if len(_plans) >= PLANS_KEPT:
                _plans.pop(next(iter(_plans)))
            _plans[(concert_date_id, plan.layout_version)] = plan
    return plan


# --- The free runs: per row, where the free seats are -------------------------------------------------


@dataclass(frozen=True)
class FreeRuns:
    """Per row of a plan, the runs of free seats of one status (`codes`)."""

    plan: SeatPlan
    codes: str
    runs: tuple[tuple[tuple[int, int], ...], ...]  # per row: (start in row, length) of each free run
    longest: tuple[int, ...]  # per row: its longest run
    free: tuple[int, ...]  # per row: its free seats
    fits: bytes  # per row: its longest run as one byte (at most 255), searched in C for a row that fits

    @classmethod
    def of(cls, plan: SeatPlan, codes: str, *, previous: FreeRuns | None = None) -> FreeRuns:
        """The runs of `codes`, reusing `previous` (of the same plan) for every row that did not change."""
        if len(codes) != plan.size:
            raise ValueError(f"A status of {len(codes)} seats does not fit a layout of {plan.size}.")
        if previous is not None and previous.plan is plan:
            if previous.codes is codes or previous.codes == codes:
                return previous
            runs, longest, free = list(previous.runs), list(previous.longest), list(previous.free)
            fits = bytearray(previous.fits)
            rows: Iterable[int] = _changed_rows(plan, previous.codes, codes)
        else:
            count = len(plan.rows)
            runs, longest, free, fits = [()] * count, [0] * count, [0] * count, bytearray(count)
            rows = range(count)
        for index in rows:
            row = plan.rows[index]
            found = tuple(
                (match.start() - row.start, match.end() - match.start())
                for match in _FREE_RUN.finditer(codes, row.start, row.stop)
            )
            runs[index] = found
            longest[index] = max((length for _, length in found), default=0)
            free[index] = sum(length for _, length in found)
            fits[index] = min(longest[index], 255)
        return cls(plan=plan, codes=codes, runs=tuple(runs), longest=tuple(longest), free=tuple(free), fits=bytes(fits))

    def excluding(self, positions: Collection[int]) -> FreeRuns:
        """These runs with the seats at `positions` taken (seats the database refused a moment ago)."""
        if not positions:
            return self
        codes = bytearray(self.codes, "ascii")
        for position in positions:
            codes[position] = ord("H")
        return FreeRuns.of(self.plan, codes.decode("ascii"), previous=self)


def _changed_rows(plan: SeatPlan, old: str, new: str) -> list[int]:
    """The rows whose codes differ between two statuses of one plan: halves of the rows compared as
    slices (in C), recursing only into halves that differ, so k changed rows cost about k·log(rows)
    comparisons whose sizes add up to a few times the status per level at most."""
    changed: list[int] = []
    pending = [(0, len(plan.rows))]
    rows = plan.rows
    while pending:
        low, high = pending.pop()
        first, stop = rows[low].start, rows[high - 1].stop
        if new.startswith(old[first:stop], first):
            continue
        if high - low == 1:
            changed.append(low)
        else:
            middle = (low + high) // 2
            pending += [(middle, high), (low, middle)]
    return changed


_runs: dict[int, FreeRuns] = {}


def free_runs(plan: SeatPlan, codes: str) -> FreeRuns:
    """The free runs of the date's status `codes`, derived from the last ones this process read."""
    last = _runs.get(plan.concert_date_id)
    runs = FreeRuns.of(plan, codes, previous=last)
    if runs is not last:
        with _plans_lock:
            if last is None and len(_runs) >= PLANS_KEPT:
                _runs.pop(next(iter(_runs)))  # the date that came first (a process sells few at a time)
            _runs[plan.concert_date_id] = runs
    return runs


def forget_free_runs() -> None:
    """Drop this process's plans and runs (tests)."""
    _runs.clear()
    with _plans_lock:
        _plans.clear()


# --- Choosing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    seat_ids: tuple[int, ...]
    together: bool  # side by side in one row


@dataclass(frozen=True)
class Shortfall:
    """Why nothing fits: the scope's free seats and its longest run of free seats in one row."""

    section: str | None
    quantity: int
    available: int
    largest_together: int


def _blocks(length: int, runs: Sequence[tuple[int, int]], quantity: int, *, every: bool) -> list[tuple[int, int, int]]:
    """(strands a single seat, twice the distance from the row's centre, start) of the row's blocks of
    `quantity` free seats: every one, or (`every=False`) a few that include the best."""
    centre = length - 1  # twice the row's centre, in seat indices
    blocks = []
    for start, run in runs:
        if run < quantity:
            continue
        first, last = start, start + run - quantity
        if every:
            starts: Iterable[int] = range(first, last + 1)
        else:
            # The block nearest the centre, and its neighbours in case it strands a seat: at most two
            # starts of a run strand one (first + 1 and last - 1), so one within two of it does not.
            ideal = min(max((centre - quantity + 1) // 2, first), last)
            starts = {first, last, *(b for b in range(ideal - 2, ideal + 3) if first <= b <= last)}
        for b in starts:
            strands = b - start == 1 or start + run - (b + quantity) == 1
            blocks.append((strands, abs(2 * b + quantity - 1 - centre), b))
    blocks.sort()
    return blocks


def _spans(plan: SeatPlan, section: str | None) -> list[tuple[int, int]]:
    """The scope's rows as [low, high) spans of row indices, in layout order (a section's rows are
    one span unless seats were added to it later)."""
    if section is None:
        return [(0, len(plan.rows))]
    spans: list[tuple[int, int]] = []
    for index in plan.rows_of[section]:
        if spans and spans[-1][1] == index:
            spans[-1] = (spans[-1][0], index + 1)
        else:
            spans.append((index, index + 1))
    return spans


@functools.cache
def _byte_at_least(value: int) -> re.Pattern[bytes]:
    return re.compile(b"[" + re.escape(bytes([value])) + b"-\xff]")


def _rows_that_fit(runs: FreeRuns, spans: Sequence[tuple[int, int]], quantity: int) -> Iterator[int]:
    """Rows of the spans, in order, with `quantity` free seats side by side (found in C)."""
    fits = _byte_at_least(min(quantity, 255))
    for low, high in spans:
        position = low
        while (found := fits.search(runs.fits, position, high)) is not None:
            yield found.start()
            position = found.start() + 1


def choose(
    runs: FreeRuns,
    *,
    quantity: int,
    section: str | None = None,
    together: bool = True,
    spread: int = 1,
    rng: random.Random | None = None,
) -> Choice | Shortfall:
    """The best `quantity` free seats of `section` (of every section in layout order when None), or
    the shortfall. With `spread` > 1 one of the first `spread` disjoint blocks, in order of preference,
    at random (buyers retrying after a lost race then spread over the next best blocks)."""
    plan = runs.plan
    if section is not None and section not in plan.rows_of:
        raise KeyError(section)
    spans = _spans(plan, section)
    candidates: list[tuple[int, int]] = []  # (row index, start)
    for index in _rows_that_fit(runs, spans, quantity):
        length = len(plan.rows[index].seat_ids)
        blocks = _blocks(length, runs.runs[index], quantity, every=spread > 1)
        if spread == 1:
            candidates.append((index, blocks[0][2]))
            break
        used = bytearray(length)  # seats of the blocks taken from this row: candidates do not overlap
        for _, _, b in blocks:
            if not any(used[b : b + quantity]):
                used[b : b + quantity] = b"\x01" * quantity
                candidates.append((index, b))
                if len(candidates) == spread:
                    break
        if len(candidates) == spread:
            break
    if candidates:
        index, start = candidates[0] if len(candidates) == 1 else (rng or random).choice(candidates)
        return Choice(seat_ids=plan.rows[index].seat_ids[start : start + quantity], together=True)
    if not together:
        for name in (section,) if section is not None else plan.sections:
            scattered = _nearest(runs, plan.rows_of[name], quantity)
            if scattered is not None:
                return Choice(seat_ids=scattered, together=False)
    return Shortfall(
        section=section,
        quantity=quantity,
        available=sum(sum(runs.free[low:high]) for low, high in spans),
        largest_together=max((max(runs.longest[low:high], default=0) for low, high in spans), default=0),
    )


def _free_seats(runs: FreeRuns, index: int) -> Iterator[int]:
    for start, length in runs.runs[index]:
        yield from range(start, start + length)


def _nearest(runs: FreeRuns, rows: Sequence[int], quantity: int) -> tuple[int, ...] | None:
    """`quantity` free seats of these rows (one section's), nearest each other: in one row, the ones
    spanning the fewest seats (nearest the centre among equals); else from the fewest rows in a row
    of rows, the seats nearest those rows' centre. None when the rows have fewer free seats."""
    plan = runs.plan
    if sum(runs.free[index] for index in rows) < quantity:
        return None
    best: tuple[int, int, int, int] | None = None  # (span, distance, row index, first of the seats)
    for index in rows:
        if runs.free[index] < quantity:
            continue
        seats = list(_free_seats(runs, index))
        centre = len(plan.rows[index].seat_ids) - 1
        for i in range(len(seats) - quantity + 1):
            first, last = seats[i], seats[i + quantity - 1]
            key = (last - first, abs(first + last - centre), index, i)
            if best is None or key < best:
                best = key
        if best is not None:
            break  # rows in layout order: the first row that seats them all
    if best is not None:
        _, _, index, i = best
        seats = list(_free_seats(runs, index))[i : i + quantity]
        return tuple(plan.rows[index].seat_ids[seat] for seat in seats)
    for width in range(2, len(rows) + 1):
        for first in range(len(rows) - width + 1):
            window = rows[first : first + width]
            if sum(runs.free[index] for index in window) < quantity:
                continue
            seats = sorted(
                (abs(2 * seat - (len(plan.rows[index].seat_ids) - 1)), order, index, seat)
                for order, index in enumerate(window)
                for seat in _free_seats(runs, index)
            )[:quantity]
            return tuple(plan.rows[index].seat_ids[seat] for _, _, index, seat in sorted(seats, key=lambda s: s[1:]))
    return None  # unreachable: the whole section seats them
