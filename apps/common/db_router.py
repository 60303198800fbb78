"""Read replicas for catalogue reads that may be a little stale.

Only requests that `apps.common.middleware.ReplicaReadsMiddleware` marks (GETs of the URL names in
REPLICA_READ_URL_NAMES: concert lists and date lists) read from the `replica` alias, and only when one
is configured (DATABASE_REPLICA_URL). Everything that locks, writes or must read its own writes (the
seat map after a hold, reservations, payments, the wallet, authentication) reads the primary.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections

REPLICA = "replica"
_state = threading.local()


@contextmanager
def replica_reads() -> Iterator[None]:
    previous = getattr(_state, "active", False)
    _state.active = True
    try:
        yield
    finally:
        _state.active = previous


class ReplicaRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        if getattr(_state, "active", False) and REPLICA in connections.databases:
            return REPLICA
        return None  # the primary

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database, copied

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db != REPLICA  # the replica gets its schema by replication
