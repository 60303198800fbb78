"""Catalogue data rules: constraints the database enforces, seats from the layout, and the seat
transitions that keep inventory.remaining equal to the AVAILABLE seats (invariant 2)."""

import datetime as dt
from collections import Counter
from decimal import Decimal
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db import DataError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.common.exceptions import Conflict, NotFound, ValidationFailed
from apps.concerts import selectors, services
from apps.concerts.models import INVENTORY_SHARDS, ConcertDate, Inventory, Seat, SeatStatus, inventory_shard_of
from tests.factories import LAYOUT, ConcertFactory, VenueFactory, make_date, seat_ids
from tests.helpers import mark_held, remaining_seats, reserve_seats, run_in_threads

pytestmark = pytest.mark.django_db


def available(date: ConcertDate) -> int:
    return Seat.objects.filter(concert_date=date, status=SeatStatus.AVAILABLE).count()


class TestConstraints:
    def test_a_seat_number_is_unique_per_date(self, concert_date):
        seat = concert_date.seats.first()
        with pytest.raises(IntegrityError), transaction.atomic():
            Seat.objects.create(
                concert_date=concert_date, venue_id=seat.venue_id, seat_num=seat.seat_num, section="X", row="A", price=1
            )
        other = make_date(concert=concert_date.concert)
        assert other.seats.filter(seat_num=seat.seat_num).exists()  # the same number on another date is fine

    def test_a_price_cannot_be_negative(self, concert_date):
        seat = concert_date.seats.first()
        with pytest.raises(IntegrityError), transaction.atomic():
            Seat.objects.filter(pk=seat.pk).update(price=Decimal("-0.01"))
        Seat.objects.filter(pk=seat.pk).update(price=Decimal("0.00"))  # free seats are allowed
        assert Seat.objects.get(pk=seat.pk).price == Decimal("0.00")

    def test_a_shard_stays_between_zero_and_its_total(self, concert_date):
        shard = Inventory.objects.filter(concert_date=concert_date, total__gt=0).first()
        with pytest.raises(IntegrityError), transaction.atomic():
            Inventory.objects.filter(pk=shard.pk).update(remaining=shard.total + 1)
        # remaining is unsigned as well as CHECKed: MariaDB refuses -1 as out of range.
        with pytest.raises((IntegrityError, DataError)), transaction.atomic():
            Inventory.objects.filter(pk=shard.pk).update(remaining=-1)
        Inventory.objects.filter(concert_date=concert_date).update(remaining=0)
        assert remaining_seats(concert_date) == 0

    def test_one_inventory_row_per_shard_of_a_date(self, concert_date):
        with pytest.raises(IntegrityError), transaction.atomic():
            Inventory.objects.create(
                concert=concert_date.concert, concert_date=concert_date, shard=0, total=1, remaining=1
            )


class TestLayout:
    def test_a_date_gets_one_seat_per_place_of_the_layout(self, concert_date):
        seats = list(concert_date.seats.order_by("seat_num"))
        assert len(seats) == concert_date.total_seats == 20
        assert [s.seat_num for s in seats] == list(range(1, 21))
        assert [(s.section, s.row) for s in seats[:5]] == [("VIP", "A")] * 4 + [("Floor", "A")]
        assert (seats[-1].section, seats[-1].row, seats[-1].price) == ("Floor", "B", Decimal("50000.00"))
        assert {s.price for s in seats[:4]} == {Decimal("150000.00")}
        assert {s.status for s in seats} == {SeatStatus.AVAILABLE}
        assert {s.venue_id for s in seats} == {concert_date.concert.venue_id}
        shards = list(Inventory.objects.filter(concert_date=concert_date).order_by("shard"))
        assert [shard.shard for shard in shards] == list(range(INVENTORY_SHARDS))
        assert {shard.concert_id for shard in shards} == {concert_date.concert_id}
        per_shard = Counter(inventory_shard_of(seat.pk) for seat in seats)
        assert [(shard.total, shard.remaining) for shard in shards] == [(per_shard[k], per_shard[k]) for k in range(16)]
        assert sum(shard.remaining for shard in shards) == 20

    def test_create_venue_normalises_the_layout_and_counts_seats(self):
        venue = services.create_venue(
            name="Blue Square", layout=[{"name": " A ", "rows": "3", "seats_per_row": 5, "price": 99000}]
        )
        assert venue.seat_count == 15
        assert venue.layout == [{"name": "A", "rows": 3, "seats_per_row": 5, "price": "99000"}]

    @pytest.mark.parametrize(
        ("index", "label"), [(0, "A"), (25, "Z"), (26, "AA"), (27, "AB"), (701, "ZZ"), (702, "AAA")]
    )
    def test_row_labels(self, index, label):
        assert services.row_label(index) == label

    @pytest.mark.parametrize(
        "layout",
        [[], "not a list", [{"name": "A"}], [{"name": "A", "rows": 0, "seats_per_row": 1, "price": "1"}],
         [{"name": "A", "rows": 1, "seats_per_row": 501, "price": "1"}],
         [{"name": "A", "rows": 1, "seats_per_row": 1, "price": "-1"}],
         [{"name": "A", "rows": 1, "seats_per_row": 1, "price": "1.001"}],
         [{"name": "A", "rows": 1, "seats_per_row": 1, "price": "NaN"}],
         [{"name": "A", "rows": 1, "seats_per_row": 1, "price": "1"}, {"name": "A", "rows": 1, "seats_per_row": 1, "price": "1"}]],
    )  # fmt: skip
    def test_bad_layouts_are_refused(self, layout):
        with pytest.raises(ValidationFailed):
            services.create_venue(name="Bad", layout=layout)

    def test_a_large_date_is_created_in_bulk(self, django_assert_max_num_queries):
        layout = [{"name": f"S{i}", "rows": 50, "seats_per_row": 100, "price": "10.00"} for i in range(2)]
        concert = ConcertFactory(venue=VenueFactory(layout=layout))
        # date, 10,000 seats in batches of 2,000, inventory, savepoint: no query per seat
        with django_assert_max_num_queries(12):
            date = services.create_concert_date(concert=concert, starts_at=timezone.now() + dt.timedelta(days=9))
        assert date.seats.count() == 10_000 == remaining_seats(date)


class TestSeatTransitions:
    def test_each_transition_keeps_remaining_equal_to_available(self, concert_date):
        ids = seat_ids(concert_date, 3)
        mark_held(concert_date, ids)
        assert remaining_seats(concert_date) == available(concert_date) == 17
        assert set(Seat.objects.filter(pk__in=ids).values_list("status", flat=True)) == {SeatStatus.HELD}
        with transaction.atomic():
            reserve_seats(concert_date_id=concert_date.pk, seat_ids=ids[:2])
        assert remaining_seats(concert_date) == available(concert_date) == 17
        assert Seat.objects.get(pk=ids[0]).held_until is None
        with transaction.atomic():
            services.release_seats(concert_date_id=concert_date.pk, seat_ids=ids)
        assert remaining_seats(concert_date) == available(concert_date) == 20
        with transaction.atomic():
            services.release_seats(concert_date_id=concert_date.pk, seat_ids=ids)  # twice changes nothing
        assert remaining_seats(concert_date) == available(concert_date) == 20

    def test_every_transition_bumps_the_versions(self, concert_date):
        ids = seat_ids(concert_date, 1)
        shard = Inventory.objects.filter(concert_date=concert_date, shard=inventory_shard_of(ids[0]))
        before = shard.get().version
        mark_held(concert_date, ids)
        with transaction.atomic():
            services.release_seats(concert_date_id=concert_date.pk, seat_ids=ids)
        assert Seat.objects.get(pk=ids[0]).version == 2
        assert shard.get().version == before + 2

    def test_a_hold_is_all_or_nothing(self, concert_date):
        first, second, third = seat_ids(concert_date, 3)
        mark_held(concert_date, [second])
        with pytest.raises(Conflict) as caught:
            mark_held(concert_date, [first, second, third])
        assert caught.value.code == "SEAT_UNAVAILABLE" and caught.value.details == {"seat_ids": [second]}
        assert Seat.objects.get(pk=first).status == Seat.objects.get(pk=third).status == SeatStatus.AVAILABLE
        assert remaining_seats(concert_date) == available(concert_date) == 19

    def test_seats_of_another_date_or_unknown_seats_are_not_found(self, concert_date):
        other = make_date(concert=concert_date.concert)
        with pytest.raises(NotFound):
            mark_held(concert_date, [seat_ids(other, 1)[0]])
        with pytest.raises(NotFound):
            mark_held(concert_date, [seat_ids(concert_date, 1)[0], 987654321])
        assert remaining_seats(concert_date) == available(concert_date) == 20

    def test_only_held_seats_can_be_reserved(self, concert_date):
        ids = seat_ids(concert_date, 2)
        mark_held(concert_date, ids[:1])
        with pytest.raises(Conflict) as caught, transaction.atomic():
            reserve_seats(concert_date_id=concert_date.pk, seat_ids=ids)
        assert caught.value.code == "INVALID_STATE"
        assert Seat.objects.get(pk=ids[0]).status == SeatStatus.HELD

    def test_a_stale_shard_version_is_read_again_and_the_update_lands_once(self, concert_date):
        seat = seat_ids(concert_date, 1)[0]
        row = Inventory.objects.get(concert_date=concert_date, shard=inventory_shard_of(seat))
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            services.mark_seats_held(
                concert_date_id=concert_date.pk,
                seat_ids=[seat],
                held_until=timezone.now() + dt.timedelta(minutes=5),
                shard_versions={row.shard: row.version + 7},  # another hold landed since it was read
            )
        updates = sum(q["sql"].count("UPDATE `inventory`") for q in queries.captured_queries)
        assert updates == 2  # the stale one (in the batch) matched nothing; the one after the re-read landed
        fresh = Inventory.objects.get(pk=row.pk)
        assert (fresh.remaining, fresh.version) == (row.remaining - 1, row.version + 1)
        assert remaining_seats(concert_date) == available(concert_date) == 19

    def test_a_hold_across_two_shards_updates_each_in_ascending_order(self, concert_date):
        ids = seat_ids(concert_date)
        pair = next([a, b] for a, b in pairwise(ids) if inventory_shard_of(a) != inventory_shard_of(b))
        with CaptureQueriesContext(connection) as queries:
            mark_held(concert_date, pair[::-1])
        updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE `inventory`")]
        shards = sorted(inventory_shard_of(seat) for seat in pair)
        assert [f"`inventory`.`shard` = {shard}" in sql for sql, shard in zip(updates, shards, strict=True)] == [
            True
        ] * 2
        assert remaining_seats(concert_date) == available(concert_date) == 18

    def test_recount_rebuilds_the_shards_from_seats_written_in_bulk(self, concert_date):
        ids = seat_ids(concert_date)
        Seat.objects.filter(pk__in=ids[:5]).update(status=SeatStatus.RESERVED)  # behind the inventory's back
        Inventory.objects.filter(concert_date=concert_date, shard__gt=3).delete()
        services.recount_inventory(concert_date_id=concert_date.pk)
        shards = {row.shard: row for row in Inventory.objects.filter(concert_date=concert_date)}
        assert sorted(shards) == list(range(INVENTORY_SHARDS))
        for shard, row in shards.items():
            mine = [seat for seat in concert_date.seats.all() if inventory_shard_of(seat.pk) == shard]
            assert (row.total, row.remaining) == (len(mine), sum(s.status == SeatStatus.AVAILABLE for s in mine))
        assert remaining_seats(concert_date) == available(concert_date) == 15

    def test_the_operators_command_recounts_a_date(self, concert_date, capsys):
        Seat.objects.filter(pk__in=seat_ids(concert_date)[:3]).update(status=SeatStatus.RESERVED)
        assert remaining_seats(concert_date) == 20 != available(concert_date)
        call_command("recount_inventory", "--date", str(concert_date.pk))
        assert remaining_seats(concert_date) == available(concert_date) == 17
        assert f"date {concert_date.pk}: inventory recounted" in capsys.readouterr().out
        with pytest.raises(CommandError, match="No concert date"):
            call_command("recount_inventory", "--date", str(concert_date.pk + 1000))

    def test_a_busy_inventory_row_is_a_503_not_a_lost_update(self, concert_date, monkeypatch):
        monkeypatch.setattr(services, "INVENTORY_VERSION_RETRIES", 0)
        with pytest.raises(services.ServiceUnavailable), transaction.atomic():
            services.mark_seats_held(concert_date_id=concert_date.pk, seat_ids=seat_ids(concert_date, 1),
                                     held_until=timezone.now())  # fmt: skip
        assert remaining_seats(concert_date) == available(concert_date) == 20

    @pytest.mark.django_db(transaction=True)
    def test_racing_holds_on_one_seat_have_one_winner(self):
        date = make_date()
        target = seat_ids(date, 2)

        def attempt(index: int) -> str:
            try:
                mark_held(date, target if index % 2 else list(reversed(target)))
                return "won"
            except Conflict:
                return "taken"

        results = run_in_threads(12, attempt)
        assert sorted(results) == ["taken"] * 11 + ["won"], results
        assert remaining_seats(date) == available(date) == 18


class TestCatalogueWrites:
    def test_repricing_only_touches_available_seats(self, concert_date):
        held, free = seat_ids(concert_date, 2)
        mark_held(concert_date, [held])
        services.set_seat_price(seat_id=free, price=Decimal("1.00"))
        assert Seat.objects.get(pk=free).price == Decimal("1.00")
        with pytest.raises(Conflict):
            services.set_seat_price(seat_id=held, price=Decimal("1.00"))
        with pytest.raises(ValidationFailed):
            services.set_seat_price(seat_id=free, price=Decimal("-1"))
        assert Seat.objects.get(pk=held).price == Decimal("50000.00")

    def test_closing_booking_shows_in_date_facts_at_once(self, concert_date):
        assert selectors.date_facts(concert_date.pk).booking_open_now() is True
        assert services.set_booking_open(concert_date_ids=[concert_date.pk], is_open=False) == 1
        assert selectors.date_facts(concert_date.pk).booking_open_now() is False
        services.set_booking_open(concert_date_ids=[concert_date.pk], is_open=True)
        assert ConcertDate.objects.get(pk=concert_date.pk).booking_open is True

    @pytest.mark.parametrize(
        ("kwargs", "bookable"),
        [
            ({}, True),
            ({"opens_in": dt.timedelta(hours=1)}, False),
            ({"starts_in": -dt.timedelta(minutes=1)}, False),
            ({"booking_open": False}, False),
        ],
    )
    def test_the_booking_window_rule_serves_the_catalogue_and_the_hot_paths(self, kwargs, bookable):
        date = make_date(**kwargs)
        assert selectors.is_available(date) is bookable
        assert selectors.date_facts(date.pk).booking_open_now() is bookable

    def test_a_date_of_another_concert_is_not_found(self, concert_date):
        other = make_date()
        facts = selectors.date_of_concert(concert_id=concert_date.concert_id, concert_date_id=concert_date.pk)
        assert facts.concert_date_id == concert_date.pk
        for concert_id, concert_date_id in [(other.concert_id, concert_date.pk), (concert_date.concert_id, 10**12)]:
            with pytest.raises(NotFound):
                selectors.date_of_concert(concert_id=concert_id, concert_date_id=concert_date_id)


def test_the_test_layout_has_twenty_seats():
    assert services.layout_seat_count(LAYOUT) == 20
