"""Where a concert date's waiting room lives in Redis, and the clock its scores use.

Every key of one date carries the date's hash tag (`queue:{<date_id>}:…`), so a script may touch
all of them in one Redis Cluster slot; scores and expiries are epoch milliseconds (`now_ms`).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from apps.common.redis import redis_key

# The set of dates that have had someone waiting since their line last emptied (the admission run's
# work list). Not hash-tagged: it spans dates.
DATES_WITH_WAITERS = "queue:dates"


def dates_with_waiters_key() -> str:
    return redis_key(DATES_WITH_WAITERS)


def now_ms() -> int:
    return int(time.time() * 1000)


def datetime_from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def ms_from_datetime(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def iso_utc(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z, as the API renders every other time."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class QueueKeys:
    concert_date_id: int

    def _key(self, name: str) -> str:
        return redis_key("queue", f"{{{self.concert_date_id}}}", name)

    @property
    def waiting(self) -> str:
        return self._key("waiting")

    @property
    def active(self) -> str:
        return self._key("active")

    @property
    def seq(self) -> str:
        return self._key("seq")

    @property
    def seen(self) -> str:
        return self._key("seen")

    @property
    def arrived(self) -> str:
        return self._key("arrived")

    @property
    def admissions(self) -> str:
        return self._key("admissions")

    @property
    def prequeue(self) -> str:
        return self._key("prequeue")

    @property
    def drawn(self) -> str:
        return self._key("drawn")

    @property
    def secret(self) -> str:
        return self._key("secret")

    @property
    def drawkeys(self) -> str:
        return self._key("drawkeys")

    @property
    def order(self) -> str:
        return self._key("order")

    @property
    def idle(self) -> str:
        return self._key("idle")

    @property
    def due(self) -> str:
        return self._key("due")

    @property
    def parked(self) -> str:
        return self._key("parked")

    @property
    def control(self) -> str:
        return self._key("control")

    @property
    def decisions(self) -> str:
        return self._key("decisions")

    def deciding(self, basis: int) -> str:
        """Claimed by the one admission run that decides after the decision made at `basis` (ms; 0
        before the first): beat replicas racing each other cannot both admit. Expires on its own."""
        return self._key(f"deciding:{basis}")

    def latency(self, second: int) -> str:
        """The booking-path latency histogram of one epoch second (expires on its own)."""
        return self._key(f"latency:{second}")

    def all(self) -> list[str]:
        """Every key of the date but the latency histograms, which expire within a minute."""
        return [
            self.waiting,
            self.active,
            self.seq,
            self.seen,
            self.arrived,
            self.admissions,
            self.prequeue,
            self.drawn,
            self.secret,
            self.drawkeys,
            self.order,
            self.idle,
            self.due,
            self.parked,
            self.control,
            self.decisions,
            self.deciding(0),
        ]
