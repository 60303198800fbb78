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


# Chi-square's critical values at a one-in-a-million false alarm, by degrees of freedom: a uniformity test
# the suite runs on every change must not fail by chance, and a biased draw lands far beyond them.
CHI_SQUARE_ONE_IN_A_MILLION = {25: 73.9, 49: 111.1}


def places_chi_square(counts: dict[tuple[int, int], int], *, buyers: int, draws: int) -> float:
    """How far `counts` ((buyer, place) -> draws that put the buyer there) is from every buyer landing
    in every place equally often: Pearson's statistic, scaled for permutations. Each draw puts every
    buyer in one place and one buyer in every place, so a cell's count varies as Binomial(draws, 1/n)
    and the plain statistic runs n / (n - 1) times a chi-square of (n - 1)² degrees of freedom (its mean
    is n(n - 1), not (n - 1)²); scaled back by (n - 1) / n it is that chi-square."""
    expected = draws / buyers
    return (buyers - 1) / buyers * sum((seen - expected) ** 2 / expected for seen in counts.values())
