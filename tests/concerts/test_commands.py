"""The catalogue's operator commands: the demo catalogue for `make run`, bulk dates for load tests
(their buyers: tests/accounts/test_commands.py)."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count
from django.utils import timezone

from apps.concerts import selectors
from apps.concerts.management.commands.seed_load import load_layout
from apps.concerts.models import INVENTORY_SHARDS, Concert, ConcertDate, Inventory, Seat, Venue
from apps.concerts.services import layout_seat_count, validate_layout
from tests.helpers import remaining_seats

pytestmark = pytest.mark.django_db


def snapshot() -> tuple:
    return (
        Venue.objects.count(), Concert.objects.count(), ConcertDate.objects.count(), Seat.objects.count(),
        Inventory.objects.count(), tuple(Inventory.objects.order_by("pk").values_list("remaining", flat=True)),
    )  # fmt: skip


class TestSeedDemo:
    @pytest.fixture(autouse=True)
    def _development_mode(self, settings):
        settings.DEBUG = True

    def test_loads_a_bookable_catalogue_once(self):
        call_command("seed_demo", stdout=StringIO())
        first = snapshot()
        assert first[:3] == (2, 3, 5)
        assert Seat.objects.count() == sum(d.total_seats for d in ConcertDate.objects.all()) == first[3]
        now = timezone.now()
        open_now = [d for d in selectors.dates_with_remaining() if selectors.is_available(d, now)]
        assert len(open_now) == 5 and all(d.starts_at > now for d in open_now)
        call_command("seed_demo", stdout=StringIO())
        assert snapshot() == first
        call_command("check_invariants", stdout=StringIO())

    def test_says_how_many_dates_it_added(self):
        out = StringIO()
        call_command("seed_demo", stdout=out)
        assert "(5 new concert dates)" in out.getvalue()
        again = StringIO()
        call_command("seed_demo", stdout=again)
        assert "(0 new concert dates)" in again.getvalue()


class TestSeedLoad:
    def test_is_resumable_and_idempotent(self):
        call_command("seed_load", "--dates", "1", "--seats-per-date", "250", stdout=StringIO())
        call_command("seed_load", "--dates", "2", "--seats-per-date", "250", stdout=StringIO())
        concert = Concert.objects.get(name="Load Test")
        assert concert.venue.seat_count == 250
        assert concert.dates.count() == 2 and Seat.objects.filter(concert_date__concert=concert).count() == 500
        assert {remaining_seats(date) for date in concert.dates.all()} == {250}
        assert Inventory.objects.filter(concert=concert).count() == 2 * INVENTORY_SHARDS
        before = snapshot()
        call_command("seed_load", "--dates", "2", "--seats-per-date", "250", stdout=StringIO())
        assert snapshot() == before
        call_command("check_invariants", stdout=StringIO())

    def test_uneven_seat_counts_get_a_balcony(self):
        call_command("seed_load", "--dates", "1", "--seats-per-date", "250", stdout=StringIO())
        date = ConcertDate.objects.get(concert__name="Load Test")
        sections = dict(date.seats.values("section").annotate(n=Count("id")).values_list("section", "n"))
        assert sections == {"Floor": 200, "Balcony": 50}

    def test_refuses_a_different_size_for_an_existing_concert(self):
        call_command("seed_load", "--dates", "1", "--seats-per-date", "10", stdout=StringIO())
        with pytest.raises(CommandError):
            call_command("seed_load", "--dates", "1", "--seats-per-date", "20", stdout=StringIO())
        with pytest.raises(CommandError):
            call_command("seed_load", "--dates", "1", "--seats-per-date", "0", stdout=StringIO())


@pytest.mark.parametrize("seats", [1, 99, 250, 20_000, 50_000, 50_050, 100_000])
def test_load_layouts_are_valid_for_any_size(seats):
    layout = load_layout(seats)
    assert validate_layout(layout) and layout_seat_count(layout) == seats
