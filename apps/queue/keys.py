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

    def all(self) -> list[str]:
        return [self.waiting, self.active, self.seq, self.seen, self.arrived, self.admissions]
