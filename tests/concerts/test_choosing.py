"""The best-available chooser on plain layouts and status strings (no database): rows in layout
order, the block nearest the centre, no stranded single seat when the row allows, scattered seats
when asked, the shortfall, and free runs kept by rows that changed equal to runs built afresh."""

import random

import pytest

from apps.concerts.choosing import Choice, FreeRuns, SeatPlan, Shortfall, choose

ID_OFFSET = 1000  # seat ids differ from positions, so a test cannot mix them up


def plan_of(*sections: tuple[str, list[int]], date_id: int = 1) -> SeatPlan:
    """A plan of sections given as (name, [seats of each row]); seat id = 1000 + seat_num."""
    document = {"concert_date_id": date_id, "layout_version": 1, "sections": []}
    seat_num = 0
    for name, rows in sections:
        section = {"name": name, "price": "1.00", "seat_prices": {}, "rows": []}
        for index, length in enumerate(rows):
            seats = []
            for _ in range(length):
                seat_num += 1
                seats.append([ID_OFFSET + seat_num, seat_num])
            section["rows"].append({"row": chr(65 + index), "seats": seats})
        document["sections"].append(section)
    return SeatPlan.of_layout(document)


def runs_of(plan: SeatPlan, *rows: str) -> FreeRuns:
    """Runs of a status given row by row ("A" free, "H"/"R" taken, spaces ignored)."""
    return FreeRuns.of(plan, "".join(rows).replace(" ", ""))


def picked(plan: SeatPlan, choice: Choice | Shortfall) -> list[tuple[str, str, int]]:
    """(section, row, seat number in the row, 1-based) of a choice, as a ticket reads."""
    assert isinstance(choice, Choice), choice
    out = []
    for seat_id in choice.seat_ids:
        row, offset = plan.place_of(seat_id)
        out.append((plan.rows[row].section, plan.rows[row].label, offset + 1))
    return out


def test_an_empty_row_gives_the_block_at_its_centre():
    plan = plan_of(("Floor", [10]))
    runs = runs_of(plan, "A" * 10)
    assert picked(plan, choose(runs, quantity=2)) == [("Floor", "A", 5), ("Floor", "A", 6)]
    # Two blocks as near the centre (4-6 and 5-7): the first.
    assert picked(plan, choose(runs, quantity=3)) == [("Floor", "A", 4), ("Floor", "A", 5), ("Floor", "A", 6)]
    assert choose(runs, quantity=2).together is True


def test_rows_go_in_layout_order_before_nearness_to_the_centre():
    plan = plan_of(("Floor", [8, 8, 8]))
    # Row A has 2 free seats at its edge, row B none side by side, row C all: 2 seats go to row A.
    runs = runs_of(plan, "AAHHHHHH", "AHAHAHAH", "AAAAAAAA")
    assert picked(plan, choose(runs, quantity=2)) == [("Floor", "A", 1), ("Floor", "A", 2)]
    assert picked(plan, choose(runs, quantity=3)) == [("Floor", "C", 3), ("Floor", "C", 4), ("Floor", "C", 5)]


def test_a_block_never_strands_a_single_seat_next_to_a_taken_seat_when_the_row_avoids_it():
    plan = plan_of(("Floor", [12]))
    # Seat 4 taken. The pair at the centre (6-7) would leave seat 5 alone between it and seat 4.
    runs = runs_of(plan, "AAAH AAAAAAAA")
    assert picked(plan, choose(runs, quantity=2)) == [("Floor", "A", 5), ("Floor", "A", 6)]


def test_a_block_never_strands_a_single_seat_at_the_rows_end_when_the_row_avoids_it():
    plan = plan_of(("Floor", [4]))
    # The centre pair (2-3) would strand seats 1 and 4 at the row's ends.
    assert picked(plan, choose(runs_of(plan, "AAAA"), quantity=2)) == [("Floor", "A", 1), ("Floor", "A", 2)]


def test_the_stranded_seat_rule_on_a_row_with_taken_seats():
    plan = plan_of(("Floor", [10]))
    # Seat 8 taken. The centre pair 5-6 would leave seat 7 alone before it: 4-5 (as near the centre
    # as 6-7, and first). Three seats: 4-6 would strand seat 7, so 5-7, as near the centre.
    runs = runs_of(plan, "AAAAAAA H AA")
    assert picked(plan, choose(runs, quantity=2)) == [("Floor", "A", 4), ("Floor", "A", 5)]
    assert picked(plan, choose(runs, quantity=3)) == [("Floor", "A", n) for n in (5, 6, 7)]
    # Seats 7 and 8 taken: the centre pair 5-6 ends at the taken seats and strands nothing.
    runs = runs_of(plan, "AAAAAA HH AA")
    assert picked(plan, choose(runs, quantity=2)) == [("Floor", "A", 5), ("Floor", "A", 6)]
    # Seats 2 and 8 taken, 4 seats: 3-6 strands seat 7, 4-7 strands seat 3: no block of the run 3-7
    # avoids it, so the one nearer the centre is taken.
    runs = runs_of(plan, "AHAAAAA H AA")
    assert picked(plan, choose(runs, quantity=4)) == [("Floor", "A", n) for n in (4, 5, 6, 7)]


def test_a_stranding_block_is_taken_when_every_block_of_the_row_strands_one():
    plan = plan_of(("Floor", [5, 5]))
    # Row A: 4 of 5 free seats side by side leave the fifth alone whichever block is taken; row A
    # still comes first (rows in layout order), with the block nearest the centre.
    runs = runs_of(plan, "AAAAA", "AAAAA")
    assert picked(plan, choose(runs, quantity=4)) == [("Floor", "A", n) for n in (1, 2, 3, 4)]
    runs = runs_of(plan, "AHAAA", "AAAAA")  # run 3-5 of row A: 2 seats strand one either way
    assert picked(plan, choose(runs, quantity=2)) == [("Floor", "A", 3), ("Floor", "A", 4)]


def test_a_section_limits_the_choice_and_without_one_sections_go_in_layout_order():
    plan = plan_of(("VIP", [4]), ("Floor", [6, 6]))
    runs = runs_of(plan, "AHHA", "AAAAAA", "AAAAAA")
    assert picked(plan, choose(runs, quantity=2)) == [("Floor", "A", 3), ("Floor", "A", 4)]
    assert picked(plan, choose(runs, quantity=1, section="VIP")) == [("VIP", "A", 1)]
    shortfall = choose(runs, quantity=2, section="VIP")
    assert shortfall == Shortfall(section="VIP", quantity=2, available=2, largest_together=1)
    with pytest.raises(KeyError):
        choose(runs, quantity=1, section="Balcony")


def test_not_together_takes_the_free_seats_nearest_each_other_in_one_section():
    plan = plan_of(("Floor", [9, 9]))
    runs = runs_of(plan, "AHHAHAHAA", "HAHAHAHAH")
    # No row has 3 side by side: row A's free seats are 1, 4, 6, 8, 9; 6-8-9 span the fewest seats.
    choice = choose(runs, quantity=3, together=False)
    assert choice.together is False
    assert picked(plan, choice) == [("Floor", "A", 6), ("Floor", "A", 8), ("Floor", "A", 9)]
    # Two pairs spanning as few seats and as near the centre (1-3 and 7-9): the first in the row.
    runs = runs_of(plan, "AHAHHHAHA", "HHHHHHHHH")
    assert picked(plan, choose(runs, quantity=2, together=False)) == [("Floor", "A", 1), ("Floor", "A", 3)]
    runs = runs_of(plan, "AHHAHAHHA", "HHHHHHHHH")  # 4-6 (span 2) beats 1-4 and 6-9 (span 3)
    assert picked(plan, choose(runs, quantity=2, together=False)) == [("Floor", "A", 4), ("Floor", "A", 6)]
    assert isinstance(choose(runs, quantity=3, together=True), Shortfall)
    # Side by side when a row has them, together or not.
    runs = runs_of(plan, "AHHAHAHAA", "HAAAHAHAH")
    assert choose(runs, quantity=3, together=False) == choose(runs, quantity=3)
    assert choose(runs, quantity=3, together=False).together is True


def test_not_together_spans_the_fewest_rows_when_no_row_seats_them_all():
    plan = plan_of(("Floor", [5, 5, 5]))
    runs = runs_of(plan, "AHHHA", "HHAHH", "HAHAH")
    choice = choose(runs, quantity=3, together=False)
    # Rows A+B have 3 free seats: seats 1 and 5 of A and 3 of B.
    assert sorted(picked(plan, choice)) == [("Floor", "A", 1), ("Floor", "A", 5), ("Floor", "B", 3)]
    assert choose(runs, quantity=6, together=False) == Shortfall(
        section=None, quantity=6, available=5, largest_together=1
    )


def test_the_shortfall_names_what_is_left():
    plan = plan_of(("VIP", [4]), ("Floor", [6]))
    runs = runs_of(plan, "HHHH", "AAHAAA")
    assert choose(runs, quantity=4) == Shortfall(section=None, quantity=4, available=5, largest_together=3)
    assert choose(runs, quantity=1, section="VIP") == Shortfall(
        section="VIP", quantity=1, available=0, largest_together=0
    )


def test_spread_picks_one_of_the_best_disjoint_blocks():
    plan = plan_of(("Floor", [10, 10]))
    runs = runs_of(plan, "A" * 10, "A" * 10)
    best = choose(runs, quantity=2).seat_ids
    seen = {choose(runs, quantity=2, spread=4, rng=random.Random(seed)).seat_ids for seed in range(200)}
    # The four best disjoint blocks of row A: 5-6 (the best), then 3-4 and 7-8, then 1-2.
    assert best in seen
    assert seen == {(1005, 1006), (1003, 1004), (1007, 1008), (1001, 1002)}
    everywhere = {choose(runs, quantity=2, spread=64, rng=random.Random(seed)).seat_ids for seed in range(500)}
    assert len(everywhere) == 10  # 5 disjoint pairs a row, both rows


def test_excluding_takes_seats_out_of_the_runs():
    plan = plan_of(("Floor", [6]))
    runs = runs_of(plan, "AAAAAA").excluding({2, 3})
    assert runs.runs == (((0, 2), (4, 2)),) and runs.longest == (2,) and runs.free == (4,)
    assert picked(plan, choose(runs, quantity=2)) == [("Floor", "A", 1), ("Floor", "A", 2)]


def test_free_runs_derived_from_the_last_ones_equal_runs_built_afresh():
    plan = plan_of(("VIP", [7, 7]), ("Floor", [13] * 20), ("Balcony", [1, 30]))
    rng = random.Random(7)
    codes = [rng.choice("AAAH") for _ in range(plan.size)]
    runs = FreeRuns.of(plan, "".join(codes))
    for _ in range(300):
        for _ in range(rng.choice([1, 1, 2, 5, 40])):
            codes[rng.randrange(plan.size)] = rng.choice("AHR")
        derived = FreeRuns.of(plan, "".join(codes), previous=runs)
        fresh = FreeRuns.of(plan, "".join(codes))
        assert (derived.runs, derived.longest, derived.free) == (fresh.runs, fresh.longest, fresh.free)
        runs = derived
    assert FreeRuns.of(plan, runs.codes, previous=runs) is runs


def test_named_seats_read_from_the_status():
    plan = plan_of(("VIP", [4]), ("Floor", [6]))
    codes = "AHAA" + "RAAAAA"
    assert plan.taken(codes, [1001, 1002, 1005, 1006, 99]) == [1002, 1005]  # 99: not of this layout
    assert plan.adjacent([1007, 1006, 1008]) and not plan.adjacent([1004, 1005]) and not plan.adjacent([1006, 1008])
    with pytest.raises(ValueError):
        FreeRuns.of(plan, codes + "A")


def test_this_process_keeps_the_runs_of_a_bounded_number_of_dates():
    from apps.concerts import choosing

    choosing.forget_free_runs()
    for date in range(choosing.PLANS_KEPT + 5):
        plan = plan_of(("Floor", [4]), date_id=date)
        assert choosing.free_runs(plan, "AAHA").longest == (2,)
    assert len(choosing._runs) == choosing.PLANS_KEPT
    assert 0 not in choosing._runs and choosing.PLANS_KEPT + 4 in choosing._runs
    choosing.forget_free_runs()


def test_a_new_version_reads_only_the_rows_that_changed():
    plan = plan_of(("Floor", [10] * 50))
    before = FreeRuns.of(plan, "A" * plan.size)
    codes = bytearray(before.codes, "ascii")
    codes[123:125] = b"HH"  # one hold in row 13
    after = FreeRuns.of(plan, codes.decode("ascii"), previous=before)
    assert [index for index in range(50) if after.runs[index] is not before.runs[index]] == [12]
    assert after.runs[12] == ((0, 3), (5, 5)) and after.longest[12] == 5 and after.free[12] == 8
