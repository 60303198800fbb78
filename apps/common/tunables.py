"""Tunables: the knobs of an app, each declared once with its default, unit and meaning.

Every app lists its own in `<app>/tunables.py` as `TUNABLES = (tunable(...), ...)`; the settings module
(`ticketing/settings/base.py`) reads them all from the environment in one place (`read`) and the code
reads them as `settings.NAME`. docs/API.md's settings table is generated from the same declarations
(`manage.py tunables --markdown`) and a test keeps the two equal. Adding a knob is one `tunable(...)` line
in the app that owns it; docs/SETTINGS.md says how.

This module is imported by the settings module, before Django is set up: it imports nothing of Django
but its exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ImproperlyConfigured

Default = Any  # a value, or a function of the values read before it (a default that depends on another knob)

_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n", ""}


def _bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word in _TRUE | _FALSE:
        return word in _TRUE
    raise ValueError(f"{raw!r} is not a yes or no")


def _cast_for(default: Any) -> Callable[[str], Any]:
    if isinstance(default, bool):
        return _bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    if isinstance(default, Decimal):
        return Decimal
    if isinstance(default, str):
        return str
    raise TypeError(f"say how to read a {type(default).__name__} from the environment (cast=…)")


@dataclass(frozen=True, kw_only=True)
class Tunable:
    name: str
    default: Default
    unit: str  # "s", "ms", "h", "count", "ratio", "bytes", "" (a word or a name)
    meaning: str  # one line, for the settings table
    cast: Callable[[str], Any]  # the environment's string → the value
    choices: tuple[Any, ...] = ()
    shown_default: str = ""  # for the table when the default is computed: the function's docstring

    def read(self, environ: Mapping[str, str], earlier: Mapping[str, Any]) -> Any:
        raw = environ.get(self.name)
        if raw is None:
            value = self.default(earlier) if callable(self.default) else self.default
        else:
            try:
                value = self.cast(raw)
            except (ValueError, InvalidOperation) as exc:
                raise ImproperlyConfigured(f"{self.name}={raw!r}: {exc}") from None
        if self.choices and value not in self.choices:
            raise ImproperlyConfigured(f"{self.name} must be one of {', '.join(map(str, self.choices))}.")
        return value

    def default_text(self) -> str:
        if callable(self.default):
            return self.shown_default or (self.default.__doc__ or "computed").strip()
        return f"`{self.default}`" if isinstance(self.default, str) else str(self.default)


def tunable(
    name: str,
    default: Default,
    *,
    unit: str,
    meaning: str,
    cast: Callable[[str], Any] | None = None,
    choices: Iterable[Any] = (),
    shown_default: str = "",
) -> Tunable:
    """Declare a knob; its type is its default's unless `cast` says how to read it."""
    if cast is None and callable(default):
        raise TypeError(f"{name}: a computed default needs cast=…")
    return Tunable(
        name=name,
        default=default,
        unit=unit,
        meaning=meaning,
        cast=cast or _cast_for(default),
        choices=tuple(choices),
        shown_default=shown_default,
    )


def seconds(name: str, default: Default, meaning: str) -> Tunable:
    return tunable(name, default, unit="s", meaning=meaning, cast=float if isinstance(default, float) else int)


def hours(name: str, default: Default, meaning: str) -> Tunable:
    return tunable(name, default, unit="h", meaning=meaning, cast=int)


def count(name: str, default: Default, meaning: str) -> Tunable:
    return tunable(name, default, unit="count", meaning=meaning, cast=int)


def ratio(name: str, default: Default, meaning: str) -> Tunable:
    return tunable(name, default, unit="ratio", meaning=meaning, cast=float)


def text(name: str, default: Default, meaning: str, *, unit: str = "") -> Tunable:
    return tunable(name, default, unit=unit, meaning=meaning, cast=str)


def read(tunables: Iterable[Tunable], environ: Mapping[str, str]) -> dict[str, Any]:
    """Every knob's value: from the environment when set there, else its default."""
    values: dict[str, Any] = {}
    for declared in tunables:
        if declared.name in values:
            raise ImproperlyConfigured(f"{declared.name} is declared twice.")
        values[declared.name] = declared.read(environ, values)
    return values


def markdown_table(tunables: Iterable[Tunable]) -> str:
    """The settings table of docs/API.md."""
    lines = ["| name | default | unit | meaning |", "| --- | --- | --- | --- |"]
    lines += [f"| `{t.name}` | {t.default_text()} | {t.unit} | {t.meaning} |" for t in tunables]
    return "\n".join(lines) + "\n"


# --- The knobs of common ------------------------------------------------------------------------------

TUNABLES = (
    seconds("DB_LOCK_WAIT_TIMEOUT_SECONDS", 5, "MySQL row-lock wait before the request answers 503"),
    count("DB_RETRY_ATTEMPTS", 3, "deadlock and lock-wait retries before 503"),
    seconds("DB_HEALTH_CHECK_IDLE_SECONDS", 5.0, "a MySQL connection idle longer is pinged before use (0: always)"),
    seconds(
        "REQUEST_QUEUED_LIMIT_SECONDS",
        5.0,
        "a request that waited longer for a web worker (the proxy's stamp) is answered 503 at once (0: never)",
    ),
    hours("IDEMPOTENCY_KEY_TTL_HOURS", 24, "a stored `Idempotency-Key` response replays this long, then goes"),
    seconds("PURGE_INTERVAL_SECONDS", 3600, "how often beat purges old idempotency keys, tokens and sessions"),
    seconds("BOOKING_TASK_SOFT_TIME_LIMIT_SECONDS", 25, "soft time limit of a booking-queue task"),
    seconds("BOOKING_TASK_TIME_LIMIT_SECONDS", 30, "hard time limit of a booking-queue task"),
    seconds("OUTBOX_RELAY_INTERVAL_SECONDS", 1.0, "how often beat runs the outbox relay"),
    count("OUTBOX_BATCH", 100, "events one relay batch claims"),
    count("OUTBOX_MAX_BATCHES_PER_RUN", 20, "batches one relay run performs at most"),
    count("OUTBOX_MAX_ATTEMPTS", 10, "attempts before an event is parked as FAILED"),
    seconds("OUTBOX_BACKOFF_BASE_SECONDS", 2.0, "attempt n+1 waits base · 2^(n-1) (±25 %), up to the max"),
    seconds("OUTBOX_BACKOFF_MAX_SECONDS", 300.0, "the longest wait between two attempts (about 17 min in all)"),
    seconds("OUTBOX_LEASE_SECONDS", 60, "a claimed event is not due again before this (> the relay's time limit)"),
    seconds(
        "OUTBOX_FAST_PATH_NOTE_SECONDS", 3600, "how long the note that an effect ran after commit waits for the relay"
    ),
    hours("OUTBOX_KEEP_DONE_HOURS", 72, "DONE events and their sent-e-mail records are purged after this"),
)
