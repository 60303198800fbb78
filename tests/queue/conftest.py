"""Fixtures of the queue tests: fresh date facts, the waiting room's fake clock, Redis round trips."""

import datetime as dt

import pytest

from apps.concerts.selectors import forget_dates
from tests.helpers import count_redis_sends


@pytest.fixture(autouse=True)
def _fresh_date_facts():
    forget_dates()
    yield
    forget_dates()


@pytest.fixture
def date(db):
    from tests.factories import make_date

    return make_date()


@pytest.fixture
def fixed_admission(settings):
    """The fixed admission policy: QUEUE_ADMIT_BATCH per run within QUEUE_MAX_ACTIVE."""
    settings.QUEUE_ADMISSION = "fixed"
    settings.QUEUE_ADMIT_INTERVAL_SECONDS = 10


@pytest.fixture
def no_capacity(settings, fixed_admission):
    """Nobody is admitted, so every place stays visible as a position."""
    settings.QUEUE_MAX_ACTIVE = 0


@pytest.fixture
def prequeue_date(clock):
    """A date whose sale opens in ten minutes (inside the default pre-queue window)."""
    from tests.factories import make_date

    return make_date(opens_in=dt.timedelta(minutes=10), starts_in=dt.timedelta(days=7))


class FakeClock:
    """The waiting room's clock (`apps.queue.keys.now_ms`), moved by hand."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    @property
    def ms(self) -> int:
        return int(self.now * 1000)


@pytest.fixture
def clock(monkeypatch):
    import time

    fake = FakeClock(time.time())
    monkeypatch.setattr("apps.queue.keys.time", fake)
    return fake


@pytest.fixture
def round_trips(monkeypatch):
    """Counts what the process sends to Redis: one send per command or per pipeline."""
    return count_redis_sends(monkeypatch)
