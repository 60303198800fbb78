"""Retrying transactions that lost a race inside the database (deadlock, lock-wait timeout)."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import OperationalError, connection, router, transaction
from django.db.models import Aggregate, CharField, Func, IntegerField, Model, QuerySet, sql

from .exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

MYSQL_DEADLOCK = 1213
MYSQL_LOCK_WAIT_TIMEOUT = 1205


def is_lock_conflict(exc: OperationalError) -> bool:
    """A deadlock or lock-wait timeout (MySQL/MariaDB) or a busy SQLite file: safe to retry whole."""
    code = exc.args[0] if exc.args else None
    if code in (MYSQL_DEADLOCK, MYSQL_LOCK_WAIT_TIMEOUT):
        return True
    return "database is locked" in str(exc)


def retry_on_lock_conflict(func: Callable[P, R]) -> Callable[P, R]:
    """Run a service that owns its transaction again when the database chose it as a deadlock
    victim or its lock wait timed out; after DB_RETRY_ATTEMPTS answer 503 SERVICE_UNAVAILABLE.
    Inside an outer transaction nothing is retried: the outer owner decides."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        attempts = max(1, settings.DB_RETRY_ATTEMPTS)
        for attempt in range(1, attempts + 1):
            try:
                return func(*args, **kwargs)
            except OperationalError as exc:
                if not is_lock_conflict(exc) or connection.in_atomic_block:
                    raise
                logger.info("lock conflict in %s (attempt %d/%d): %s", func.__name__, attempt, attempts, exc)
                if attempt == attempts:
                    raise ServiceUnavailable() from exc
                time.sleep(random.uniform(0.005, 0.03) * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


class IdList(Aggregate):
    """The group's integer values as one comma-separated string ("3,5,8", ascending), for a row that
    needs a short list read with it in one statement (MySQL/MariaDB and SQLite; read it back with
    `read_id_list`). MySQL cuts the string at group_concat_max_len (1024 bytes by default): keep it
    to a few dozen ids."""

    function = "GROUP_CONCAT"
    output_field = CharField()

    def as_mysql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="GROUP_CONCAT(%(expressions)s ORDER BY %(expressions)s)", **extra_context
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        # SQLite orders GROUP_CONCAT by the order rows arrive; callers sort what they read back.
        return self.as_sql(compiler, connection, **extra_context)


def read_id_list(value: str | None) -> list[int]:
    return sorted(int(part) for part in value.split(",")) if value else []


# --- Several statements in one round trip -------------------------------------------------------


@dataclass
class StatementResult:
    rowcount: int
    lastrowid: int | None
    rows: list[tuple] = field(default_factory=list)


Statement = tuple[str, Sequence[Any]]


def run_batch(statements: Sequence[Statement]) -> list[StatementResult]:
    """Run `statements` in order in the caller's transaction and return each one's result. On
    MySQL/MariaDB they travel in one round trip (apps.common.mysql's multi-statement connection);
    elsewhere (SQLite, in process) one by one. A statement that fails raises, and the statements after
    it did not run: the caller's transaction rolls back. Every statement must carry parameters (a
    literal % is written %%), as Django's compiled statements do."""
    conn = transaction.get_connection()
    results = []
    with conn.cursor() as cursor:
        if conn.vendor == "mysql" and len(statements) > 1:
            cursor.execute(";\n".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
            with conn.wrap_database_errors:
                for index in range(len(statements)):
                    if index:
                        cursor.cursor.next_result()
                    raw = cursor.cursor.cursor
                    rows = list(raw.fetchall()) if raw.description else []
                    results.append(StatementResult(raw.rowcount, raw.lastrowid, rows))
                while cursor.cursor.next_result():  # nothing should follow; never leave a result unread
                    pass
        else:
            for sql, params in statements:
                cursor.execute(sql, params)
                rows = list(cursor.fetchall()) if cursor.description else []
                results.append(StatementResult(cursor.rowcount, cursor.lastrowid, rows))
    return results


def update_statement(queryset: QuerySet, **values: Any) -> Statement:
    """The UPDATE that `queryset.update(**values)` would run, for `run_batch` (a plain filter on the
    model's own columns: no joins, no related updates)."""
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    query.clear_select_clause()
    return query.get_compiler(queryset.db).as_sql()


def insert_statement(model: type[Model], objs: Sequence[Model]) -> Statement:
    """The one INSERT of `objs` (one row each) that `bulk_create` would run, for `run_batch`. A field
    may hold an expression (`LastInsertId`); auto_now fields are filled as on save."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key and not f.generated]
    query = sql.InsertQuery(model)
    query.insert_values(fields, objs)
    compiler = query.get_compiler(using=router.db_for_write(model))
    if compiler.connection.features.can_return_rows_from_bulk_insert:  # MariaDB ≥ 10.5, SQLite ≥ 3.35
        compiler.returning_fields = [model._meta.pk]
    (statement,) = compiler.as_sql()
    return statement


def inserted_ids(result: StatementResult, count: int) -> list[int]:
    """The ids of the `count` rows an `insert_statement` inserted: returned by the statement where the
    database can, else consecutive from the first (one multi-row INSERT takes consecutive ids)."""
    if result.rows:
        return [row[0] for row in result.rows]
    first = result.lastrowid if transaction.get_connection().vendor == "mysql" else result.lastrowid - count + 1
    return list(range(first, first + count))


class LastInsertId(Func):
    """The id of the row of `model` that the previous INSERT of the same round trip added (a row
    referring to it in the next statement). MySQL/MariaDB: LAST_INSERT_ID(), which a statement reads
    unchanged for all its rows. SQLite, whose last_insert_rowid() moves row by row: the table's
    largest id, which is that row's (one writer at a time, ids only grow)."""

    template = "LAST_INSERT_ID()"
    output_field = IntegerField()

    def __init__(self, model: type[Model]) -> None:
        super().__init__()
        self.model = model

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        opts = self.model._meta
        qn = connection.ops.quote_name
        return f"(SELECT MAX({qn(opts.pk.column)}) FROM {qn(opts.db_table)})", []  # noqa: S608 (names from the model)


def select_statement(
    queryset: QuerySet, *, fields: Sequence[str] | None = None
) -> tuple[Statement, Callable[[StatementResult], list[Any]]]:
    """The SELECT of `queryset` (locking if it is `select_for_update()`) for `run_batch`, and the
    function that reads its result into model instances carrying `fields` (all concrete fields when
    None) and the queryset's annotations as attributes."""
    model = queryset.model
    names = list(fields or [f.attname for f in model._meta.concrete_fields])
    extra = list(queryset.query.annotations)
    values = queryset.values_list(*names, *extra)
    compiler = values.query.get_compiler(values.db)
    statement = compiler.as_sql()

    def read(result: StatementResult) -> list[Any]:
        converters = compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]])
        rows = compiler.apply_converters(result.rows, converters) if converters else result.rows
        objs = []
        for row in rows:
            obj = model.from_db(values.db, names, tuple(row[: len(names)]))
            for name, value in zip(extra, row[len(names) :], strict=True):
                setattr(obj, name, value)
            objs.append(obj)
        return objs

    return statement, read
