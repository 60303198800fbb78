"""Django's MySQL/MariaDB backend with a transaction that costs one round trip, not three.

Django begins a transaction with `SET autocommit=0` and ends it with `COMMIT` and `SET autocommit=1`:
three round trips around every `transaction.atomic()`. Here the begin is not sent on its own: the
first statement of the block carries `START TRANSACTION` in the same round trip (multi-statement
protocol), the block ends with `COMMIT` or `ROLLBACK`, and the session stays in autocommit, so
there is nothing to switch back. A block that sent no statement sends nothing at all.

The connection also accepts several statements in one round trip (`apps.common.db.run_batch`).
Django builds every statement with parameters and the driver escapes them; nothing here
concatenates client input into SQL."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError
from django.db.backends.mysql import base
from MySQLdb.constants import CLIENT

Database = base.Database


class CursorWrapper(base.CursorWrapper):
    def __init__(self, cursor: Any, wrapper: DatabaseWrapper) -> None:
        super().__init__(cursor)
        self.wrapper = wrapper

    def execute(self, query: str, args: Any = None) -> Any:
        if not self.wrapper.begin_pending:
            return super().execute(query, args)
        self.wrapper.begin_pending = False
        super().execute("START TRANSACTION;\n" + query, args)
        self.next_result()  # the statement's own result follows the begin's
        return self.cursor.rowcount

    def executemany(self, query: str, args: Any) -> Any:
        if self.wrapper.begin_pending:
            self.wrapper.begin_pending = False
            self.cursor.execute("START TRANSACTION")
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
    begin_pending = False

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        params["client_flag"] = params.get("client_flag", 0) | CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS
        return params

    def create_cursor(self, name: Any = None) -> CursorWrapper:
        return CursorWrapper(self.connection.cursor(), self)

    def _set_autocommit(self, autocommit: bool) -> None:
        if autocommit:
            self.begin_pending = False
            super()._set_autocommit(True)  # the driver sends nothing when the session is in autocommit
        else:
            self.begin_pending = True

    def _commit(self) -> None:
        self._end_transaction(super()._commit)

    def _rollback(self) -> None:
        self._end_transaction(super()._rollback)

    def _end_transaction(self, end: Any) -> None:
        if not self.begin_pending:
            end()
        # Outside autocommit (an atomic block ending, or manual transactions) the next statement
        # begins the next transaction; leaving the block switches autocommit back on.
        self.begin_pending = not self.autocommit
