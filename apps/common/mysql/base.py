"""Django's MySQL/MariaDB backend with a transaction that costs one round trip, not three, and
savepoints that cost none of their own.

Django begins a transaction with `SET autocommit=0` and ends it with `COMMIT` and `SET autocommit=1`:
three round trips around every `transaction.atomic()`. Here the begin is not sent on its own: the
first statement of the block carries `START TRANSACTION` in the same round trip (multi-statement
protocol), the block ends with `COMMIT` or `ROLLBACK`, and the session stays in autocommit, so
there is nothing to switch back. A block that sent no statement sends nothing at all.

A nested block's `SAVEPOINT` and `RELEASE SAVEPOINT` wait the same way and travel with the next
statement; a `RELEASE` that no statement follows is left to `COMMIT` (which releases every
savepoint), and a savepoint no statement followed is never sent, so rolling back to it sends nothing
either. Only `ROLLBACK TO SAVEPOINT` of a savepoint the server has is sent when Django asks, as before.

The connection also accepts several statements in one round trip (`apps.common.db.run_batch`).

Django's health check (`CONN_HEALTH_CHECKS`) pings a persistent connection before the first statement
of every request, a round trip of its own on every hold and payment. Here a connection that ran a
statement within the last DB_HEALTH_CHECK_IDLE_SECONDS is taken as alive without a ping, as the Redis
client's `health_check_interval` does; one idle longer is pinged, and replaced when dead, as before. A
connection the server dropped in between (a restart) fails its request's first statement instead: that
request answers 503 and Django closes the connection when the request ends, so the next one reconnects.
Django builds every statement with parameters and the driver escapes them; nothing here
concatenates client input into SQL."""

from __future__ import annotations

import math
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.db.backends.mysql import base
from MySQLdb.constants import CLIENT

Database = base.Database

BEGIN = "START TRANSACTION"


class CursorWrapper(base.CursorWrapper):
    def __init__(self, cursor: Any, wrapper: DatabaseWrapper) -> None:
        super().__init__(cursor)
        self.wrapper = wrapper

    def execute(self, query: str, args: Any = None) -> Any:
        owed = self.wrapper.take_owed()
        if not owed:
            return super().execute(query, args)
        super().execute(";\n".join([*owed, query]), args)
        for _ in owed:
            self.next_result()  # the statement's own result follows the owed ones'
        return self.cursor.rowcount

    def executemany(self, query: str, args: Any) -> Any:
        owed = self.wrapper.take_owed()
        if owed:
            self.cursor.execute(";\n".join(owed))
            for _ in owed[1:]:
                self.next_result()
        return super().executemany(query, args)

    def next_result(self) -> bool:
        """Move to the next statement's result of a multi-statement round trip; False after the last."""
        try:
            return bool(self.cursor.nextset())
        except Database.OperationalError as exc:
            if exc.args[0] in self.codes_for_integrityerror:
                raise IntegrityError(*tuple(exc.args)) from exc
            raise


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What the next statement carries before it: the begin, savepoints and their releases.
        self.owed: list[str] = []
        # Savepoints rolled back before they were sent (so never created on the server).
        self.forgotten: set[str] = set()
        self.used_at = -math.inf  # when a statement last took a cursor of this connection (monotonic)

    @property
    def begin_pending(self) -> bool:
        """Whether the open transaction has sent nothing yet (its begin still waits)."""
        return bool(self.owed) and self.owed[0] == BEGIN

    def take_owed(self) -> list[str]:
        owed, self.owed = self.owed, []
        return owed

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        params["client_flag"] = params.get("client_flag", 0) | CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS
        return params

    def create_cursor(self, name: Any = None) -> CursorWrapper:
        self.used_at = time.monotonic()
        return CursorWrapper(self.connection.cursor(), self)

    def close_if_health_check_failed(self) -> None:
        """Django's check before a request's first statement, skipped for a connection used within
        DB_HEALTH_CHECK_IDLE_SECONDS (the module's docstring)."""
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and time.monotonic() - self.used_at < settings.DB_HEALTH_CHECK_IDLE_SECONDS
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _set_autocommit(self, autocommit: bool) -> None:
        if autocommit:
            self.owed = []
            self.forgotten.clear()
            super()._set_autocommit(True)  # the driver sends nothing when the session is in autocommit
        else:
            self.owed = [BEGIN]

    def _savepoint(self, sid: str) -> None:
        self.owed.append(self.ops.savepoint_create_sql(sid))

    def _savepoint_commit(self, sid: str) -> None:
        if sid in self.forgotten:  # rolled back before it was sent; Django releases it after that
            self.forgotten.discard(sid)
        elif not self._forget_unsent(sid):
            self.owed.append(self.ops.savepoint_commit_sql(sid))

    def _savepoint_rollback(self, sid: str) -> None:
        if self._forget_unsent(sid):
            self.forgotten.add(sid)
        else:
            with self.cursor() as cursor:
                cursor.execute(self.ops.savepoint_rollback_sql(sid))

    def _forget_unsent(self, sid: str) -> bool:
        """Drop a savepoint that was never sent, with everything owed after it (no statement ran since
        it was set, so there is nothing to release or roll back); False when the server has it."""
        create = self.ops.savepoint_create_sql(sid)
        if create not in self.owed:
            return False
        del self.owed[self.owed.index(create) :]
        return True

    def _commit(self) -> None:
        self._end_transaction(super()._commit)

    def _rollback(self) -> None:
        self._end_transaction(super()._rollback)

    def _end_transaction(self, end: Any) -> None:
        sent = not self.begin_pending
        self.owed = []  # savepoints end with the transaction
        self.forgotten.clear()
        if sent:
            end()
        # Outside autocommit (an atomic block ending, or manual transactions) the next statement
        # begins the next transaction; leaving the block switches autocommit back on.
        self.owed = [] if self.autocommit else [BEGIN]
