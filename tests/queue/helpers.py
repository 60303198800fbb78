from django.core import signing

from apps.concerts.models import ConcertDate
from apps.queue import services, tokens


def enter(user_id: int, date: ConcertDate) -> services.QueueState:
    return services.enter_queue(user_id=user_id, concert_id=date.concert_id, concert_date_id=date.pk)


def status(user_id: int, date: ConcertDate) -> services.QueueState:
    return services.queue_status(user_id=user_id, concert_id=date.concert_id, concert_date_id=date.pk)


def fill_capacity(date: ConcertDate, settings, active: int = 1) -> None:
    """Occupy every admitted place so later entrants have to wait (in either admission mode: the
    controller starts at QUEUE_MIN_ACTIVE)."""
    settings.QUEUE_MAX_ACTIVE = settings.QUEUE_MIN_ACTIVE = active
    for uid in range(10_000_000, 10_000_000 + active):
        services.issue_access_token(user_id=uid, concert_date_id=date.pk)


def same_admission(token: str, other: str) -> bool:
    """Two access tokens of one admission (signed in different seconds they differ in the signing
    time only)."""
    return signing.loads(token, salt=tokens.TOKEN_SALT) == signing.loads(other, salt=tokens.TOKEN_SALT)


def count_dispatches(monkeypatch, view_class) -> list:
    """The requests that reach `view_class`'s dispatch (the ones a fast path passed on), as a list."""
    calls: list = []
    original = view_class.dispatch

    def counted(self, request, *args, **kwargs):
        calls.append(request)
        return original(self, request, *args, **kwargs)

    monkeypatch.setattr(view_class, "dispatch", counted)
    return calls
