"""A booking request's Redis work after commit in one round trip (`apps.common.lua.one_round_trip`,
opened by the gated views): the outbox's fast paths, the seat counts and the queue gate's record
travel in one pipeline, sent before the answer leaves; each keeps its own failure handling; outside
such a request each runs at commit as before."""

import time
import uuid

import pytest
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.common import lua, outbox
from apps.common.models import OutboxEvent
from apps.common.redis import get_redis
from apps.concerts import seat_counts, seat_map
from apps.concerts.effects import SEAT_MAP_CHANGED
from apps.concerts.seat_map import versions
from apps.queue.keys import QueueKeys
from apps.reservations import serializers as reservation_serializers
from apps.reservations import services as reservations
from apps.reservations.api import ReservationListCreateApi
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import admitted_client, count_redis_sends, fund, funded_user, redis_unreachable
from tests.reservations.test_round_trips import warm

INCR = "return redis.call('INCR', KEYS[1])"
FAILING = "return redis.error_reply('the script failed')"


def fresh(source: str) -> str:
    """`source` as a script Redis has never seen (its SHA is new): the first EVALSHA gets NOSCRIPT."""
    return f"-- {uuid.uuid4().hex}\n{source}"


def sent_text(sent: list) -> list[bytes]:
    return [b"".join(command) for command in sent]


@pytest.fixture
def redis_round_trips(monkeypatch):
    """What the process sends to Redis: one entry per command or per pipeline."""
    return count_redis_sends(monkeypatch)


@pytest.fixture
def booking(db):
    """A buyer with a funded wallet and the date's queue token, one hold made already and another
    buyer's hold paid (so Redis has every script a hold and a payment run, whatever ran or was
    flushed before this test) and this process's copies warm, as in a rush; the date's seat counts
    in Redis."""
    date, user = make_date(), UserFactory()
    fund(user)
    client = admitted_client(date, user)
    ids = seat_ids(date, 4)
    other = admitted_client(date, funded_user())
    warm_up = hold(other, date, ids[:1])
    assert warm_up.status_code == 201
    assert other.post("/api/payments", {"reservation_id": warm_up.json()["id"]}, format="json").status_code == 201
    assert hold(client, date, ids[1:2]).status_code == 201
    warm(date)
    seat_map.seat_status(concert_date_id=date.pk)
    seat_counts.read_counts(concert_date_id=date.pk)
    return date, user, client, ids[2:]


def hold(client, date, ids):
    return client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": ids}, format="json")


def counts(date) -> seat_counts.SeatCounts | None:
    return seat_counts.counts_from_reply(get_redis().hmget(seat_counts.counts_key(date.pk), "available", "held"))


def version(date) -> int:
    return int(get_redis().get(versions.version_key(date.pk)))


def broken(serializer, instance):
    raise RuntimeError("the serializer broke after the commit")


def last_event_id() -> int:
    return OutboxEvent.objects.filter(kind=SEAT_MAP_CHANGED).latest("pk").pk


@pytest.mark.django_db(transaction=True)
class TestThroughTheApi:
    def test_a_hold_makes_two_redis_round_trips_and_its_201_finds_the_map_and_counts_moved(
        self, booking, redis_round_trips
    ):
        """Before: 5 (the gate's; then one after another the seat map's bump, the effect's note, the
        seat counts, the gate's record). After: 2 (the gate's; one pipeline of the rest)."""
        date, _, client, ids = booking
        before_counts, before_version = counts(date), version(date)
        redis_round_trips.clear()
        held = hold(client, date, ids)
        assert held.status_code == 201, held.json()
        assert len(redis_round_trips) == 2, sent_text(redis_round_trips)
        after = sent_text(redis_round_trips)[1]
        assert after.count(b"EVALSHA") == 3 and b"outbox:fast-done" in after
        # what the client can read once it has the 201
        assert version(date) > before_version
        assert seat_map.seat_status(concert_date_id=date.pk).version == version(date)
        assert counts(date) == seat_counts.SeatCounts(
            available=before_counts.available - 2, held=before_counts.held + 2
        )
        assert get_redis().exists(outbox.fast_done_key(last_event_id())) == 1
        assert outbox.relay().done >= 1

    def test_a_payment_makes_two_redis_round_trips_and_its_201_finds_the_access_ended(self, booking, redis_round_trips):
        """Before: 6 (the gate's; then the seat map's bump, the effect's note, the end of the queue
        access, the seat counts, the gate's record). After: 2."""
        date, user, client, ids = booking
        held = hold(client, date, ids)
        assert held.status_code == 201
        before_counts, before_version = counts(date), version(date)
        assert get_redis().zscore(QueueKeys(date.pk).active, str(user.pk)) is not None
        redis_round_trips.clear()
        paid = client.post("/api/payments", {"reservation_id": held.json()["id"]}, format="json")
        assert paid.status_code == 201, paid.json()
        assert len(redis_round_trips) == 2, sent_text(redis_round_trips)
        assert sent_text(redis_round_trips)[1].count(b"EVALSHA") == 4
        assert get_redis().zscore(QueueKeys(date.pk).active, str(user.pk)) is None, "the access ended"
        assert version(date) > before_version
        assert counts(date) == seat_counts.SeatCounts(available=before_counts.available, held=before_counts.held - 2)

    def test_a_failing_script_leaves_the_fast_path_paused_no_note_and_the_effect_to_the_relay(
        self, booking, redis_round_trips, monkeypatch
    ):
        """The note travels behind the script in the pipeline and is removed again (a DEL of its own)
        when the script's reply is an error; the other scripts of the pipeline ran, and the answer is
        the 201 all the same."""
        date, _, client, ids = booking
        before_counts, before_version = counts(date), version(date)
        monkeypatch.setattr(versions, "_BUMP", FAILING)
        redis_round_trips.clear()
        held = hold(client, date, ids)
        assert held.status_code == 201
        assert outbox._paused_until[SEAT_MAP_CHANGED] > time.monotonic()
        note = outbox.fast_done_key(last_event_id())
        assert get_redis().exists(note) == 0
        assert any(b"DEL" in text and note.encode() in text for text in sent_text(redis_round_trips)[2:])
        assert version(date) == before_version, "the map was not bumped"
        assert counts(date).held == before_counts.held + 2, "the counts' script ran"
        monkeypatch.setattr(versions, "_BUMP", lua.load(versions.__file__, "bump_version"))
        assert outbox.relay().done >= 1
        assert version(date) > before_version, "the relay ran the effect"

    def test_a_view_that_breaks_after_the_commit_answers_500_with_the_commit_s_scripts_sent(
        self, booking, redis_round_trips, monkeypatch
    ):
        """The project's exception handler answers every exception (a 500 here): `finalize_response`
        runs, and the block around the dispatch sends what the committed hold owes."""
        date, _, client, ids = booking
        before_counts, before_version = counts(date), version(date)
        monkeypatch.setattr(reservation_serializers.ReservationSerializer, "to_representation", broken)
        redis_round_trips.clear()
        assert hold(client, date, ids).status_code == 500
        assert len(redis_round_trips) == 2
        assert version(date) > before_version
        assert counts(date).held == before_counts.held + 2

    def test_an_exception_escaping_the_view_still_sends_the_commit_s_scripts_and_leaves_nothing_queued(
        self, booking, redis_round_trips, monkeypatch
    ):
        """An exception DRF's handler does not answer (DRF re-raises it and calls no
        `finalize_response`; the API's middleware answers 500): the block around the dispatch still
        sends what was queued and closes its queue, so the thread's next request finds nothing of it."""
        date, _, client, ids = booking
        before_counts, before_version = counts(date), version(date)
        monkeypatch.setattr(reservation_serializers.ReservationSerializer, "to_representation", broken)
        monkeypatch.setattr(ReservationListCreateApi, "get_exception_handler", lambda view: lambda exc, context: None)
        assert hold(client, date, ids).status_code == 500
        assert lua._queued.get() is None
        assert version(date) > before_version
        assert counts(date).held == before_counts.held + 2
        redis_round_trips.clear()
        assert client.get("/api/payments").status_code == 200  # another gated view, next request
        assert not any(b"EVALSHA" in text for text in sent_text(redis_round_trips)), "nothing left over"
        key = f"t:{uuid.uuid4().hex}"
        lua.run_soon(lua.Call(INCR, [key], []), failed=pytest.fail)
        assert get_redis().get(key) == "1", "outside a request a script runs at once again"

    def test_a_hold_outside_a_request_runs_its_scripts_at_commit_as_before(self, booking, redis_round_trips):
        date, _, _, ids = booking
        before_counts, before_version = counts(date), version(date)
        redis_round_trips.clear()
        with transaction.atomic():
            reservations.hold_seats(user=UserFactory(), concert_date_id=date.pk, seat_ids=ids)
            assert not any(b"EVALSHA" in text for text in sent_text(redis_round_trips)), "nothing before the commit"
            redis_round_trips.clear()
        # the bump, its note, the counts: each its own round trip, done when the commit returns
        assert len(redis_round_trips) == 3, sent_text(redis_round_trips)
        assert [text.count(b"EVALSHA") for text in sent_text(redis_round_trips)] == [1, 0, 1]
        assert version(date) > before_version
        assert counts(date).held == before_counts.held + 2
        assert get_redis().exists(outbox.fast_done_key(last_event_id())) == 1


class TestOneRoundTrip:
    def test_outside_a_block_a_script_runs_at_once(self, redis_round_trips):
        key = f"t:{uuid.uuid4().hex}"
        lua.run_soon(lua.Call(INCR, [key], []), failed=pytest.fail)
        assert get_redis().get(key) == "1" and len(redis_round_trips) >= 1

    def test_a_block_sends_its_scripts_and_notes_in_one_pipeline_at_its_end(self, redis_round_trips):
        a, b, note = (f"t:{uuid.uuid4().hex}" for _ in range(3))
        lua.registered(INCR)(keys=[a], args=[])  # loaded
        get_redis().delete(a)
        redis_round_trips.clear()
        with lua.one_round_trip():
            lua.run_soon(lua.Call(INCR, [a], []), failed=pytest.fail, note=(note, 60))
            lua.run_soon(lua.Call(INCR, [b], []), failed=pytest.fail)
            assert redis_round_trips == [] and get_redis().exists(a, b, note) == 0
            redis_round_trips.clear()
        assert len(redis_round_trips) == 1
        assert (get_redis().get(a), get_redis().get(b), get_redis().get(note)) == ("1", "1", "1")
        assert 0 < get_redis().ttl(note) <= 60

    def test_on_noscript_only_that_script_is_sent_again_alone(self, redis_round_trips):
        unknown = fresh(INCR)
        a, b, note = (f"t:{uuid.uuid4().hex}" for _ in range(3))
        lua.registered(INCR)(keys=[b], args=[])
        get_redis().delete(b)
        redis_round_trips.clear()
        with lua.one_round_trip():
            lua.run_soon(lua.Call(unknown, [a], []), failed=pytest.fail, note=(note, 60))
            lua.run_soon(lua.Call(INCR, [b], []), failed=pytest.fail)
        # the pipeline; then the unknown script alone: EVALSHA (NOSCRIPT), SCRIPT LOAD, EVALSHA
        texts = sent_text(redis_round_trips)
        assert len(texts) == 4, texts
        assert all(b.encode() not in text and b"SET" not in text for text in texts[1:]), "the rest not again"
        assert (get_redis().get(a), get_redis().get(b), get_redis().get(note)) == ("1", "1", "1")

    def test_a_failing_script_goes_to_its_handler_its_note_is_removed_and_the_others_run(self):
        a, note = f"t:{uuid.uuid4().hex}", f"t:{uuid.uuid4().hex}"
        failures: list[Exception] = []
        with lua.one_round_trip():
            lua.run_soon(lua.Call(FAILING, [a], []), failed=failures.append, note=(note, 60))
            lua.run_soon(lua.Call(INCR, [a], []), failed=pytest.fail)
        assert [str(exc) for exc in failures] == ["the script failed"]
        assert get_redis().exists(note) == 0 and get_redis().get(a) == "1"

    def test_a_script_that_fails_again_after_noscript_has_its_note_removed(self):
        note = f"t:{uuid.uuid4().hex}"
        failures: list[Exception] = []
        with lua.one_round_trip():
            lua.run_soon(lua.Call(fresh(FAILING), ["k"], []), failed=failures.append, note=(note, 60))
        assert len(failures) == 1 and get_redis().exists(note) == 0

    def test_redis_away_hands_every_script_to_its_handler_and_raises_nothing(self):
        failures: list[Exception] = []
        with redis_unreachable(), lua.one_round_trip():
            lua.run_soon(lua.Call(INCR, ["a"], []), failed=failures.append, note=("n", 60))
            lua.run_soon(lua.Call(INCR, ["b"], []), failed=failures.append)
        assert len(failures) == 2 and all(isinstance(exc, RedisConnectionError) for exc in failures)

    def test_an_exception_in_the_block_still_sends_the_queue_and_closes_it(self):
        key = f"t:{uuid.uuid4().hex}"

        def broken_view() -> None:
            with lua.one_round_trip():
                lua.run_soon(lua.Call(INCR, [key], []), failed=pytest.fail)
                raise RuntimeError("the view broke")

        with pytest.raises(RuntimeError):
            broken_view()
        assert get_redis().get(key) == "1" and lua._queued.get() is None

    def test_on_a_redis_cluster_client_each_script_is_a_request_of_its_own(self, redis_round_trips, monkeypatch):
        """redis-py refuses EVALSHA in a cluster pipeline: the scripts go one by one, as outside a block."""
        monkeypatch.setattr(lua, "RedisCluster", type(get_redis()))
        a, b, note = (f"t:{uuid.uuid4().hex}" for _ in range(3))
        lua.registered(INCR)(keys=[a], args=[])
        get_redis().delete(a)
        redis_round_trips.clear()
        with lua.one_round_trip():
            lua.run_soon(lua.Call(INCR, [a], []), failed=pytest.fail, note=(note, 60))
            lua.run_soon(lua.Call(INCR, [b], []), failed=pytest.fail)
        assert len(redis_round_trips) == 3  # each script, then the note behind the first
        assert (get_redis().get(a), get_redis().get(b), get_redis().get(note)) == ("1", "1", "1")
