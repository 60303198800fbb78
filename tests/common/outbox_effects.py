"""Outbox effects the outbox tests emit: one that records what it performed, one that fails a set
number of times first (registered on import, as the apps' effects modules are)."""

from apps.common import outbox
from apps.common.models import OutboxEvent

RECORD, FLAKY = "tests.record", "tests.flaky"
performed: list[int] = []
failures_left: dict[str, int] = {"count": 0}


@outbox.effect(RECORD)
def record(event: OutboxEvent) -> None:
    performed.append(event.payload["n"])


@outbox.effect(FLAKY)
def flaky(event: OutboxEvent) -> None:
    if failures_left["count"] > 0:
        failures_left["count"] -= 1
        raise ConnectionError("the broker is away")
    performed.append(event.payload["n"])


PARTIAL = "tests.partial"
at_commit_ran: list[int] = []


def record_at_commit(event: OutboxEvent) -> None:
    at_commit_ran.append(event.payload["n"])


@outbox.effect(PARTIAL, at_commit=record_at_commit)
def record_partial(event: OutboxEvent) -> None:
    record_at_commit(event)
    performed.append(event.payload["n"])


MANY = "tests.many"
batches: list[list[int]] = []
many_failures_left: dict[str, int] = {"count": 0}


def record_many(events) -> None:
    if many_failures_left["count"] > 0:
        many_failures_left["count"] -= 1
        raise ConnectionError("the broker is away")
    batches.append([event.payload["n"] for event in events])


@outbox.effect(MANY, many=record_many)
def record_one(event: OutboxEvent) -> None:
    record_many([event])
