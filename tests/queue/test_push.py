"""The line's event stream (apps/queue/push.py): a waiting page is told at once when its date sells out
and when seats come back, and every refusal is the API's error shape. The ASGI application is driven
directly (no server), on MariaDB and Redis: the counts it reads are the ones the status poll reads."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from apps.concerts import seat_counts
from apps.queue import push, services
from tests.factories import make_date
from tests.queue.helpers import enter, fill_capacity

pytestmark = pytest.mark.django_db(transaction=True)  # the application reads the database from threads

TWO_SEATS = [{"name": "Floor", "rows": 1, "seats_per_row": 2, "price": "50000.00"}]


class Client:
    """One request to the application: what it sent, and a way to hang up."""

    def __init__(self, path: str = push.PATH, query: str = "", method: str = "GET") -> None:
        self.scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(), "headers": []}
        self.sent: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.hang_up = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.hang_up.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self.arrived.set()

    @property
    def status(self) -> int:
        return self.sent[0]["status"]

    @property
    def headers(self) -> dict[str, str]:
        return {name.decode(): value.decode() for name, value in self.sent[0]["headers"]}

    def body(self) -> bytes:
        return b"".join(message.get("body", b"") for message in self.sent[1:])

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line[6:]) for line in self.body().decode().splitlines() if line.startswith("data: ")]

    async def until(self, predicate, timeout: float = 5.0) -> None:
        async def wait() -> None:
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(wait(), timeout)


def run(coroutine):
    return asyncio.run(coroutine)


def fresh_hub(read=push.read_seats) -> push.Hub:
    return push.Hub(read=read, interval=0.05)


async def answer(client: Client, hub: push.Hub | None = None) -> Client:
    await push.events(client.scope, client.receive, client.send, hub=hub or fresh_hub())
    return client


def move_counts(date_id: int, *, available: int, held: int) -> None:
    """A committed seat change, as the booking path applies it after commit."""
    seat_counts.seat_count_change(concert_date_id=date_id, available=available, held=held).run()


def test_a_listener_gets_the_state_at_once_then_sold_out_then_reopened_and_leaves_nothing_behind():
    date = make_date(layout=TWO_SEATS)
    seat_counts.read_counts(concert_date_id=date.pk)  # the counts in place, as the line keeps them

    async def scenario() -> tuple[Client, push.Hub]:
        hub = fresh_hub()
        client = Client(query=f"concert_date_id={date.pk}")
        task = asyncio.create_task(answer(client, hub))
        await client.until(lambda: client.events())
        await asyncio.to_thread(move_counts, date.pk, available=-2, held=2)  # both seats held: not sold out
        await asyncio.sleep(0.2)
        assert len(client.events()) == 1
        await asyncio.to_thread(move_counts, date.pk, available=0, held=-2)  # paid: sold out
        await client.until(lambda: len(client.events()) == 2)
        await asyncio.to_thread(move_counts, date.pk, available=1, held=0)  # a seat came back
        await client.until(lambda: len(client.events()) == 3)
        assert hub.listeners() == 1
        client.hang_up.set()
        await asyncio.wait_for(task, 5)
        return client, hub

    client, hub = run(scenario())
    assert client.status == 200
    assert client.headers["content-type"] == "text/event-stream"
    assert client.headers["x-accel-buffering"] == "no"
    first, sold_out, reopened = client.events()
    assert first == {"concert_date_id": date.pk, "sold_out": False, "seats_available": 2, "seats_held": 0}
    assert sold_out == {"concert_date_id": date.pk, "sold_out": True, "seats_available": 0, "seats_held": 0}
    assert reopened == {"concert_date_id": date.pk, "sold_out": False, "seats_available": 1, "seats_held": 0}
    retry, event = client.body().split(b"\n", 1)
    assert 5_000 <= int(retry.removeprefix(b"retry: ")) <= 20_000  # reconnects spread after a drop
    assert event.startswith(b"event: seats\ndata: ")
    assert hub.listeners() == 0 and hub.watches == {}  # the date's reading task is gone with its last listener


def turns(client: Client) -> list[dict[str, Any]]:
    lines = client.body().decode().split("\n\n")
    return [json.loads(event.split("data: ", 1)[1]) for event in lines if event.startswith("event: turn")]


def test_a_waiter_that_gives_its_number_is_told_when_admission_reaches_it(settings):
    """The status answer's `number` on the stream: each page is told its turn once the admission run has
    admitted up to its number, and no other page is; a page that connects after its turn is told at once."""
    date = make_date(layout=[{"name": "Floor", "rows": 1, "seats_per_row": 10, "price": "50000.00"}])
    settings.QUEUE_ADMISSION = "fixed"
    fill_capacity(date, settings, active=1)  # one place, taken: entrants wait
    first, second, third = (enter(uid, date) for uid in (11, 12, 13))
    assert [first.position, second.position, third.position] == [1, 2, 3]
    settings.QUEUE_MAX_ACTIVE = 3  # room for two more, admitted one a run below
    assert first.number < second.number < third.number

    async def scenario() -> tuple[Client, Client, Client]:
        hub = fresh_hub()
        clients = [Client(query=f"concert_date_id={date.pk}&number={state.number}") for state in (first, second, third)]
        tasks = [asyncio.create_task(answer(client, hub)) for client in clients]
        for client in clients:
            await client.until(lambda client=client: client.events())
        await asyncio.sleep(0.2)
        assert [turns(client) for client in clients] == [[], [], []]  # nobody admitted yet
        await asyncio.to_thread(services.admit_next_batch, concert_date_id=date.pk, count=1)
        await clients[0].until(lambda: turns(clients[0]))
        await asyncio.to_thread(services.admit_next_batch, concert_date_id=date.pk, count=1)
        await clients[1].until(lambda: turns(clients[1]))
        await asyncio.sleep(0.2)
        assert turns(clients[2]) == []  # still waiting: never told
        late = Client(query=f"concert_date_id={date.pk}&number={first.number}")
        tasks.append(asyncio.create_task(answer(late, hub)))
        await late.until(lambda: turns(late))  # its turn came before it listened: told with the state
        for client in [*clients, late]:
            client.hang_up.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        assert all(not watch.turns for watch in hub.watches.values())
        return clients[0], clients[1], late

    told_first, told_second, told_late = run(scenario())
    assert turns(told_first) == turns(told_late) == [{"concert_date_id": date.pk, "number": first.number}]
    assert turns(told_second) == [{"concert_date_id": date.pk, "number": second.number}]
    assert services.queue_status(user_id=11, concert_id=date.concert_id, concert_date_id=date.pk).status == "READY"
    assert services.queue_status(user_id=12, concert_id=date.concert_id, concert_date_id=date.pk).status == "READY"
    assert services.queue_status(user_id=13, concert_id=date.concert_id, concert_date_id=date.pk).position == 1


def test_a_date_already_sold_out_says_so_in_its_first_event():
    date = make_date(layout=TWO_SEATS)
    seat_counts.read_counts(concert_date_id=date.pk)
    move_counts(date.pk, available=-2, held=0)

    async def scenario() -> Client:
        client = Client(query=f"concert_date_id={date.pk}")
        task = asyncio.create_task(answer(client))
        await client.until(lambda: client.events())
        client.hang_up.set()
        await asyncio.wait_for(task, 5)
        return client

    assert run(scenario()).events() == [
        {"concert_date_id": date.pk, "sold_out": True, "seats_available": 0, "seats_held": 0}
    ]


def test_one_reading_task_serves_every_listener_of_a_date(settings):
    date = make_date(layout=TWO_SEATS)
    reads: list[int] = []

    def counted(date_id: int) -> push.Seats:
        reads.append(date_id)
        return push.read_seats(date_id)

    async def scenario() -> None:
        hub = fresh_hub(read=counted)
        clients = [Client(query=f"concert_date_id={date.pk}") for _ in range(20)]
        tasks = [asyncio.create_task(answer(client, hub)) for client in clients]
        for client in clients:
            await client.until(lambda client=client: client.events())
        assert len(hub.watches) == 1 and hub.listeners() == 20
        reads.clear()
        await asyncio.sleep(0.5)
        assert 3 <= len(reads) <= 15  # one task at 0.05 s, not twenty
        await asyncio.to_thread(move_counts, date.pk, available=-2, held=0)
        for client in clients:
            await client.until(lambda client=client: len(client.events()) == 2)
        for client in clients:
            client.hang_up.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)

    run(scenario())


def test_a_listener_joining_a_watched_date_reads_nothing_of_its_own(monkeypatch):
    """The date's reader read it within the interval: a new listener starts from that state (what its
    changes are told against) and pays no Redis read and no date lookup; past the interval it reads."""
    date = make_date(layout=TWO_SEATS)
    reads: list[int] = []
    lookups: list[int] = []
    exists = push.date_exists
    monkeypatch.setattr(push, "date_exists", lambda date_id: lookups.append(date_id) or exists(date_id))

    def counted(date_id: int) -> push.Seats:
        reads.append(date_id)
        return push.read_seats(date_id)

    async def scenario() -> list[Client]:
        hub = push.Hub(read=counted, interval=0.5)
        clients = [Client(query=f"concert_date_id={date.pk}") for _ in range(3)]
        tasks = [asyncio.create_task(answer(clients[0], hub))]
        await clients[0].until(lambda: clients[0].events())
        tasks.append(asyncio.create_task(answer(clients[1], hub)))
        await clients[1].until(lambda: clients[1].events())
        assert reads == [date.pk] and lookups == [date.pk]  # the first listener's, only
        await asyncio.sleep(0.3)
        hub.watches[date.pk].read_at -= 1.0  # the reader's last read is past the interval now
        tasks.append(asyncio.create_task(answer(clients[2], hub)))
        await clients[2].until(lambda: clients[2].events())
        assert len(reads) >= 2 and lookups == [date.pk]
        for client in clients:
            client.hang_up.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return clients

    first, second, third = run(scenario())
    assert first.events() == second.events() == third.events()


def test_a_quiet_stream_carries_keep_alives(settings):
    settings.QUEUE_EVENTS_KEEPALIVE_SECONDS = 0.05
    date = make_date(layout=TWO_SEATS)

    async def scenario() -> Client:
        client = Client(query=f"concert_date_id={date.pk}")
        task = asyncio.create_task(answer(client))
        await client.until(lambda: client.body().count(b": keep-alive\n\n") >= 2)
        client.hang_up.set()
        await asyncio.wait_for(task, 5)
        return client

    assert len(run(scenario()).events()) == 1


@pytest.mark.parametrize(
    "query",
    ["", "concert_date_id=", "concert_date_id=abc", "concert_date_id=0", "concert_date_id=-3", "concert_date_id=1.5",
     "concert_date_id=1&concert_date_id=2", "concert_date_id=1&x=2", "concert_date_id=99999999999999999999",
     "concert_date_id=%EF%BC%91", "concert_date_id=1&number=", "concert_date_id=1&number=x",
     "concert_date_id=1&number=0", "concert_date_id=1&number=1&number=2", "number=1"],
)  # fmt: skip
def test_a_bad_date_id_is_a_validation_error(query):
    client = run(answer(Client(query=query)))
    assert client.status == 400
    assert json.loads(client.body())["error"]["code"] == "VALIDATION_ERROR"
    assert "concert_date_id" in json.loads(client.body())["error"]["details"]


def test_an_unknown_date_another_path_and_another_method_are_refused_in_the_api_shape():
    unknown = run(answer(Client(query="concert_date_id=987654")))
    assert unknown.status == 404 and json.loads(unknown.body())["error"]["code"] == "NOT_FOUND"
    elsewhere = run(answer(Client(path="/api/queue/status", query="concert_date_id=1")))
    assert elsewhere.status == 404 and json.loads(elsewhere.body())["error"]["code"] == "NOT_FOUND"
    posted = run(answer(Client(method="POST", query="concert_date_id=1")))
    assert posted.status == 405 and json.loads(posted.body())["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert posted.headers["allow"] == "GET, HEAD"


def test_redis_down_is_a_503_with_retry_after_and_no_listener_kept():
    date = make_date(layout=TWO_SEATS)

    def down(date_id: int) -> push.Seats:
        raise ConnectionError("Redis is down")

    hub = fresh_hub(read=down)
    client = run(answer(Client(query=f"concert_date_id={date.pk}"), hub))
    assert client.status == 503 and client.headers["retry-after"] == "5"
    assert json.loads(client.body())["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert hub.watches == {}


def test_a_reading_failure_mid_stream_keeps_the_listener_and_its_state():
    date = make_date(layout=TWO_SEATS)
    failing = {"now": False}

    def flaky(date_id: int) -> push.Seats:
        if failing["now"]:
            raise ConnectionError("Redis restarting")
        return push.read_seats(date_id)

    async def scenario() -> Client:
        hub = fresh_hub(read=flaky)
        client = Client(query=f"concert_date_id={date.pk}")
        task = asyncio.create_task(answer(client, hub))
        await client.until(lambda: client.events())
        failing["now"] = True
        await asyncio.sleep(0.3)
        failing["now"] = False
        await asyncio.to_thread(move_counts, date.pk, available=-2, held=0)
        await client.until(lambda: len(client.events()) == 2)
        client.hang_up.set()
        await asyncio.wait_for(task, 5)
        return client

    assert [event["sold_out"] for event in run(scenario()).events()] == [False, True]


def test_a_process_at_its_stream_limit_answers_503(settings):
    settings.QUEUE_EVENTS_MAX_CONNECTIONS = 0
    date = make_date(layout=TWO_SEATS)
    client = run(answer(Client(query=f"concert_date_id={date.pk}")))
    assert client.status == 503 and json.loads(client.body())["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_the_health_path_answers_for_the_containers_check():
    client = run(answer(Client(path="/api/health/live")))
    assert client.status == 200 and json.loads(client.body()) == {"status": "ok"}


def test_the_application_completes_its_lifespan():
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    run(push.application({"type": "lifespan"}, receive, send))
    assert [message["type"] for message in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
