"""The database helpers of the services: retrying transactions that lost a race inside the database
(deadlock, lock-wait timeout), several statements in one round trip (`run_batch` with the statements
of `update_statement`, `insert_statement` and `PreparedSelect`), and statements compiled once per
shape (`PreparedSelect`, `PreparedUpdate`, and `insert_statement`'s INSERTs)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import OperationalError, connection, connections, migrations, router, transaction
from django.db.models import Aggregate, CharField, Func, IntegerField, Model, QuerySet, sql

from .exceptions import ServiceUnavailable

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
ModelT = TypeVar("ModelT", bound=Model)

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


def call_procedure(name: str, params: Sequence[Any]) -> list[tuple]:
    """CALL the stored procedure `name` (MariaDB) on the caller's connection, in one round trip, and return
    the rows of its one result set (the call's own status after it is read too, so the connection is
    ready for the next statement). The procedure's first parameter says whether it owns its transaction
    (none is open: it begins and commits its own; else it runs in the caller's, inside
    `procedure_transaction`); `params` are the rest."""
    conn = transaction.get_connection()
    params = (not conn.in_atomic_block, *params)
    with conn.cursor() as cursor:
        cursor.execute(f"CALL {name}({', '.join(['%s'] * len(params))})", params)
        rows = list(cursor.fetchall())
        with conn.wrap_database_errors:
            while cursor.cursor.next_result():  # never leave a result unread
                pass
    return rows


def procedure_transaction() -> AbstractContextManager[Any]:
    """Where a stored procedure's call runs (`call_procedure`): with no transaction open, nothing (the
    procedure begins and commits its own); inside the caller's transaction, a savepoint, so that a
    refusal the procedure answers undoes what it wrote."""
    return transaction.atomic() if transaction.get_connection().in_atomic_block else contextlib.nullcontext()


def as_loaded(instance: ModelT) -> ModelT:
    """A model instance built from values the database returned (not read back), marked as loaded from
    the current connection's database: saved, not added."""
    instance._state.adding, instance._state.db = False, transaction.get_connection().alias
    return instance


def stored_procedure(name: str, create: str) -> migrations.RunPython:
    """The migration operation that (re)creates the stored procedure `name` from its `CREATE PROCEDURE`
    statement on MySQL/MariaDB, and drops it when unapplied; nothing elsewhere (SQLite has none: the
    services run the same steps from Python there). The migration must not be atomic (DDL)."""

    def forwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "mysql":
            schema_editor.execute(f"DROP PROCEDURE IF EXISTS {name}")
            schema_editor.execute(create)

    def backwards(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "mysql":
            schema_editor.execute(f"DROP PROCEDURE IF EXISTS {name}")

    return migrations.RunPython(forwards, backwards, atomic=False, elidable=False)


def update_statement(queryset: QuerySet, **values: Any) -> Statement:
    """The UPDATE that `queryset.update(**values)` would run, for `run_batch` (a plain filter on the
    model's own columns: no joins, no related updates)."""
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    query.clear_select_clause()
    return query.get_compiler(queryset.db).as_sql()


def insert_statement(model: type[Model], objs: Sequence[Model]) -> Statement:
    """The one INSERT of `objs` (one row each) that `bulk_create` would run, for `run_batch`. A field
    may hold an expression (`LastInsertId`); auto_now fields are filled as on save. Its SQL is
    compiled once per shape (`_PreparedInsert`)."""
    return _INSERTS.statement(model, objs)


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


@dataclass(frozen=True)
class _CompiledSelect:
    """The SELECT of a queryset (locking if it is `select_for_update()`) for `run_batch`, and the
    function that reads its result into model instances carrying `fields` (all concrete fields when
    None) and the queryset's annotations as attributes."""

    statement: Statement
    read: Callable[[StatementResult], list[Any]]

    @classmethod
    def of(cls, queryset: QuerySet, *, using: str, fields: Sequence[str] | None = None) -> _CompiledSelect:
        model = queryset.model
        names = list(fields or [f.attname for f in model._meta.concrete_fields])
        extra = list(queryset.query.annotations)
        values = queryset.values_list(*names, *extra)
        compiler = values.query.get_compiler(using)
        statement = compiler.as_sql()
        converters = compiler.get_converters([column[0] for column in compiler.select[: compiler.col_count]])
        db = using

        def read(result: StatementResult) -> list[Any]:
            rows = compiler.apply_converters(result.rows, converters) if converters else result.rows
            objs = []
            for row in rows:
                obj = model.from_db(db, names, tuple(row[: len(names)]))
                for name, value in zip(extra, row[len(names) :], strict=True):
                    setattr(obj, name, value)
                objs.append(obj)
            return objs

        return cls(statement, read)


# --- A statement compiled once per shape ------------------------------------------------------------

# Stand-in values, within the range of every integer column (the ORM answers a lookup with a value
# out of its column's range by dropping the condition, which would change the statement's shape).
_STAND_IN_INT = 20_001
_STAND_IN_TIME = (dt.datetime(2001, 1, 1, tzinfo=dt.UTC), dt.datetime(2002, 1, 1, tzinfo=dt.UTC))
_UNPREPARABLE = object()


class _Prepared:
    """A statement built and compiled once per process and shape, then run with new values on the
    connection of the caller's transaction (where `run_batch` runs it): the ORM's cost of building a
    queryset and compiling it, most of a short statement's Python time, is paid once instead of on
    every request (a hold's and a payment's statements run through it).

    `build(**values)` makes the statement. The values are ints, strings, aware datetimes, decimals and
    lists of ints (a list's length is part of the shape); the builder uses each only as a parameter of
    the statement (compared, matched, assigned), never to choose the statement's shape or to compute
    another parameter. The first use of a shape compiles it with the real values and twice with stand-ins;
    the shape is kept only when the three statements are the same SQL and every parameter that
    differs between the stand-ins is exactly one value. Otherwise (a builder that breaks the rule, or
    values the ORM treats specially) that shape is compiled on every use, as a plain queryset would
    be, and `is_prepared` says so. A locking statement is compiled inside the caller's transaction, as
    the ORM requires."""

    def __init__(self, build: Callable[..., Any]) -> None:
        self.build = build
        self._shapes: dict[tuple, Any] = {}

    def _compile(self, values: dict[str, Any], using: str) -> tuple[Statement, Any]:
        """The statement compiled with `values`, and what its caller gets beside it."""
        raise NotImplementedError

    def is_prepared(self, **values: Any) -> bool:
        """Whether the shape of these values is kept compiled (after its first use)."""
        shape = self._shape(sorted(values), values, transaction.get_connection())
        return self._shapes.get(shape, _UNPREPARABLE) is not _UNPREPARABLE

    def _bound(self, values: dict[str, Any]) -> tuple[Statement, Any]:
        conn = transaction.get_connection()
        names = sorted(values)
        shape = self._shape(names, values, conn)
        known = self._shapes.get(shape)
        if known is None or known is _UNPREPARABLE:
            real = self._compile(values, conn.alias)
            if known is None:
                self._shapes[shape] = self._prepare(names, values, conn, real[0][0])
            return real
        (sql, template), beside, slots = known
        flat = _flat(names, values, conn)
        params = list(template)
        for position, index in slots:
            params[position] = flat[index]
        return (sql, params), beside

    @staticmethod
    def _shape(names: list[str], values: dict[str, Any], conn: Any) -> tuple:
        lengths = ((name, len(values[name]) if isinstance(values[name], list) else -1) for name in names)
        return (conn.alias, *lengths)

    def _prepare(self, names: list[str], values: dict[str, Any], conn: Any, real_sql: str) -> Any:
        first, second = (self._stand_ins(names, values, side) for side in (0, 1))
        (sql, params), beside = self._compile(first, conn.alias)
        (other_sql, other_params), _ = self._compile(second, conn.alias)
        if not sql == other_sql == real_sql or len(params) != len(other_params):
            logger.warning("%r: not prepared (the values change the statement's shape)", self.build)
            return _UNPREPARABLE
        flat_first, flat_second = _flat(names, first, conn), _flat(names, second, conn)
        slots = []
        for position, (one, two) in enumerate(zip(params, other_params, strict=True)):
            if one == two:
                continue
            matches = [i for i, pair in enumerate(zip(flat_first, flat_second, strict=True)) if pair == (one, two)]
            if len(matches) != 1:
                logger.warning("%r: not prepared (parameter %d is not one of the values)", self.build, position)
                return _UNPREPARABLE
            slots.append((position, matches[0]))
        return (sql, params), beside, tuple(slots)

    @staticmethod
    def _stand_ins(names: list[str], values: dict[str, Any], side: int) -> dict[str, Any]:
        """Values of the same shape, each distinct from every other and from the other side's."""
        stand_ins: dict[str, Any] = {}
        counter = 0
        for name in names:
            value = values[name]
            if isinstance(value, list):
                stand_ins[name] = [_STAND_IN_INT + 2 * (counter + i) + side for i in range(len(value))]
                counter += len(value)
            elif isinstance(value, dt.datetime):
                stand_ins[name] = _STAND_IN_TIME[side] + dt.timedelta(microseconds=counter)
                counter += 1
            elif isinstance(value, int):
                stand_ins[name] = _STAND_IN_INT + 2 * counter + side
                counter += 1
            elif isinstance(value, str):
                stand_ins[name] = f"stand-in-{2 * counter + side}"
                counter += 1
            elif isinstance(value, Decimal):
                stand_ins[name] = Decimal(_STAND_IN_INT + 2 * counter + side)
                counter += 1
            else:
                raise TypeError(
                    f"{name}: a prepared statement takes ints, strings, datetimes, decimals and lists of ints."
                )
        return stand_ins


class PreparedSelect(_Prepared):
    """A SELECT prepared once per shape (see `_Prepared`); `build(**values)` returns the queryset."""

    def __init__(self, build: Callable[..., QuerySet], *, fields: Sequence[str] | None = None) -> None:
        super().__init__(build)
        self.fields = fields

    def _compile(self, values: dict[str, Any], using: str) -> tuple[Statement, Any]:
        compiled = _CompiledSelect.of(self.build(**values), using=using, fields=self.fields)
        return compiled.statement, compiled.read

    def statement(self, **values: Any) -> tuple[Statement, Callable[[StatementResult], list[Any]]]:
        """The statement with these values, and the function that reads its result into model instances
        (the builder's `fields`, all concrete fields when None, and its annotations as attributes)."""
        return self._bound(values)


class PreparedUpdate(_Prepared):
    """An UPDATE prepared once per shape (see `_Prepared`); `build(**values)` returns
    `(queryset, {field: value})`, what `queryset.update(**fields)` would take (`update_statement`)."""

    def _compile(self, values: dict[str, Any], using: str) -> tuple[Statement, Any]:
        queryset, assigned = self.build(**values)
        return update_statement(queryset.using(using), **assigned), None

    def statement(self, **values: Any) -> Statement:
        return self._bound(values)[0]


def _flat(names: list[str], values: dict[str, Any], conn: Any) -> list[Any]:
    """The values in order, each as the database driver receives it."""
    flat: list[Any] = []
    for name in names:
        value = values[name]
        if isinstance(value, list):
            flat.extend(value)
        elif isinstance(value, dt.datetime):
            flat.append(conn.ops.adapt_datetimefield_value(value))
        else:
            flat.append(value)
    return flat


# --- INSERTs compiled once per shape --------------------------------------------------------------


class _PreparedInsert:
    """The INSERTs of `insert_statement`, compiled once per process and shape: an INSERT's SQL
    depends only on its table, its connection, its number of rows, which of its values are
    expressions and whether it returns the ids, and its parameters are each field's
    `get_db_prep_save` of the value `pre_save` gives, as `SQLInsertCompiler` computes them
    (`pre_save_val`, `prepare_value`, `field_as_sql`). Compiling it costs far more than that, on a
    hold's three INSERTs and a payment's three.

    Every call runs `pre_save` once per field and row, as the compiler would (it fills auto_now
    fields on the objects). The first use of a shape also compiles it with Django, on those values,
    and keeps the shape only when the compiled SQL and parameters are exactly the ones it computes
    (same types and reprs): otherwise, and for an expression other than `LastInsertId` or a field
    with its own placeholder, the statement is compiled on every use, and `is_prepared` says so."""

    def __init__(self) -> None:
        self._shapes: dict[tuple, Any] = {}

    def statement(self, model: type[Model], objs: Sequence[Model]) -> Statement:
        fields, placeholders = _insert_fields(model)
        using = router.db_for_write(model)
        conn = connections[using]
        values = [[field.pre_save(obj, add=True) for field in fields] for obj in objs]
        shape = None if placeholders else self._shape(model, conn, values)
        known = self._shapes.get(shape) if shape is not None else _UNPREPARABLE
        if known is not None and known is not _UNPREPARABLE:
            sql, returning_params = known
            return sql, (*_insert_params(fields, values, conn), *returning_params)
        compiled, returning_params = _compile_insert(model, fields, objs, values, using)
        if known is None:
            self._shapes[shape] = self._check(model, compiled, returning_params, fields, values, conn)
        return compiled

    def is_prepared(self, model: type[Model], objs: Sequence[Model]) -> bool:
        """Whether the shape of these objects is kept compiled (after its first use). Runs the fields'
        `pre_save` (fills auto_now fields), as `statement` does."""
        fields, placeholders = _insert_fields(model)
        if placeholders:
            return False
        conn = connections[router.db_for_write(model)]
        shape = self._shape(model, conn, [[field.pre_save(obj, add=True) for field in fields] for obj in objs])
        return shape is not None and self._shapes.get(shape, _UNPREPARABLE) is not _UNPREPARABLE

    @staticmethod
    def _shape(model: type[Model], conn: Any, values: list[list[Any]]) -> tuple | None:
        """The key of the statement's SQL; None when a value is an expression whose SQL this cannot
        tell from its type (anything but `LastInsertId`)."""
        expressions = []
        for row, row_values in enumerate(values):
            for column, value in enumerate(row_values):
                if hasattr(value, "resolve_expression") or hasattr(value, "as_sql"):
                    if type(value) is not LastInsertId:
                        return None
                    expressions.append((row, column, value.model))
        returning = conn.features.can_return_rows_from_bulk_insert
        return (model, conn.alias, conn.vendor, len(values), tuple(expressions), returning)

    @staticmethod
    def _check(
        model: type[Model],
        compiled: Statement,
        returning_params: tuple,
        fields: Sequence[Any],
        values: list[list[Any]],
        conn: Any,
    ) -> Any:
        """The shape's SQL and returned-column parameters when the parameters computed without the
        compiler are exactly the compiler's and its SQL has a placeholder for each (no value wrote its
        own SQL), else `_UNPREPARABLE`."""
        sql, params = compiled
        computed = (*_insert_params(fields, values, conn), *returning_params)
        if (
            len(params) != len(computed)
            or sql.count("%s") != len(params)
            or not all(_same(one, two) for one, two in zip(params, computed, strict=True))
        ):
            logger.warning("INSERT into %s: not prepared (the compiler's statement differs)", model._meta.db_table)
            return _UNPREPARABLE
        return sql, tuple(returning_params)


def _same(one: Any, two: Any) -> bool:
    """The same parameter for the driver: equal is not enough (Decimal("1.0") == Decimal("1.00"), 1 == True)."""
    return type(one) is type(two) and repr(one) == repr(two)


@functools.cache
def _insert_fields(model: type[Model]) -> tuple[tuple[Any, ...], bool]:
    """The fields an INSERT of `model` writes, and whether one of them makes its own placeholder (whose
    SQL may depend on the value: never kept)."""
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key and not f.generated)
    return fields, any(hasattr(f, "get_placeholder") for f in fields)


def _insert_params(fields: Sequence[Any], values: list[list[Any]], conn: Any) -> list[Any]:
    """The parameters of the rows' values, as `SQLInsertCompiler.prepare_value` makes them (an
    expression's SQL carries none: only `LastInsertId` reaches here)."""
    return [
        field.get_db_prep_save(value, connection=conn)
        for row in values
        for field, value in zip(fields, row, strict=True)
        if not hasattr(value, "as_sql")
    ]


def _compile_insert(
    model: type[Model], fields: Sequence[Any], objs: Sequence[Model], values: list[list[Any]], using: str
) -> tuple[Statement, tuple]:
    """The INSERT compiled by Django with the values `pre_save` already gave (it runs once per field
    and row, as on save: a second run would move auto_now), and the parameters of its RETURNING."""
    query = sql.InsertQuery(model)
    query.insert_values(list(fields), objs)
    compiler = query.get_compiler(using=using)
    given = {
        (id(obj), field.attname): value
        for obj, row in zip(objs, values, strict=True)
        for field, value in zip(fields, row, strict=True)
    }
    compiler.pre_save_val = lambda field, obj: given[id(obj), field.attname]
    if compiler.connection.features.can_return_rows_from_bulk_insert:  # MariaDB ≥ 10.5, SQLite ≥ 3.35
        compiler.returning_fields = [model._meta.pk]
    (statement,) = compiler.as_sql()
    return statement, tuple(compiler.returning_params)


_INSERTS = _PreparedInsert()
