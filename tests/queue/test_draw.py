"""The draw anyone can check: commitment, nonces, keys, the published draw and verify_draw."""

import dataclasses
import datetime as dt
import hashlib
import random

import pytest
from django.core.management import CommandError, call_command

from apps.common.redis import get_redis
from apps.concerts.selectors import date_facts
from apps.queue import draw, lottery, services
from apps.queue.keys import QueueKeys
from scripts import rush_gates
from tests.factories import UserFactory, make_date
from tests.helpers import assert_error, login_client, run_in_threads
from tests.queue.helpers import CHI_SQUARE_ONE_IN_A_MILLION, enter, places_chi_square, status

pytestmark = pytest.mark.django_db

HEX64 = draw.HEX64


def open_sale(clock, date) -> None:
    clock.now = date.booking_opens_at.timestamp() + 0.5


def drawn_order(date) -> list[int]:
    return [int(uid) for uid in get_redis().zrange(QueueKeys(date.pk).waiting, 0, -1)]


def draw_path(date) -> str:
    return f"/api/concerts/{date.concert_id}/dates/{date.pk}/draw"


def enter_with(client, date, **extra):
    return client.post(
        "/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk, **extra}, format="json"
    )


def stored_keys(date) -> dict[int, str]:
    return {int(uid): value[:64] for uid, value in get_redis().hgetall(QueueKeys(date.pk).drawkeys).items()}


@pytest.mark.usefixtures("no_capacity")
class TestCommitment:
    def test_no_commitment_before_the_prequeue_opens(self, client, clock, settings):
        settings.QUEUE_PREQUEUE_SECONDS = 60
        date = make_date(opens_in=dt.timedelta(minutes=10), starts_in=dt.timedelta(days=7))
        body = client.get(draw_path(date)).json()
        assert body == {
            "concert_date_id": date.pk,
            "opens_at": body["opens_at"],
            "commitment": None,
            "algorithm": draw.ALGORITHM,
            "drawn_at": None,
            "secret": None,
            "entrants": 0,
        }
        assert dt.datetime.fromisoformat(body["opens_at"]) == date.booking_opens_at
        assert not get_redis().exists(QueueKeys(date.pk).secret)

    def test_fixed_before_the_first_entry_unchanged_after_and_opened_by_the_secret(self, client, prequeue_date, clock):
        before = client.get(draw_path(prequeue_date)).json()
        assert HEX64.fullmatch(before["commitment"]) and before["secret"] is None and before["drawn_at"] is None
        states = [enter(uid, prequeue_date) for uid in range(1, 21)]
        assert client.get(draw_path(prequeue_date)).json() == before
        open_sale(clock, prequeue_date)
        services.admit_next_batch(concert_date_id=prequeue_date.pk)
        after = client.get(draw_path(prequeue_date)).json()
        assert after["commitment"] == before["commitment"]
        assert hashlib.sha256(after["secret"].encode()).hexdigest() == after["commitment"]
        assert HEX64.fullmatch(after["secret"])
        assert after["entrants"] == 20
        assert dt.datetime.fromisoformat(after["drawn_at"]).timestamp() == pytest.approx(clock.now, abs=0.01)
        # Every buyer finds the own key, at the own place in the line.
        order = client.get(f"{draw_path(prequeue_date)}/order").content.decode().split()
        line = drawn_order(prequeue_date)
        for state in states:
            place = draw.place_of(order, secret=after["secret"], user_id=state.user_id, nonce=state.draw_nonce)
            assert line[place - 1] == state.user_id

    def test_a_secret_another_process_stored_is_the_one_used(self, prequeue_date):
        enter(1, prequeue_date)  # this process caches the secret
        key = QueueKeys(prequeue_date.pk).secret
        other = "ab" * 32
        get_redis().set(key, other)  # stored by another process after a reset
        second = enter(2, prequeue_date)
        assert second.position is None
        assert stored_keys(prequeue_date)[2] == draw.draw_key(secret=other, user_id=2, nonce=second.draw_nonce)
        assert lottery.secret_for(prequeue_date.pk) == other

    def test_a_reset_draws_with_a_new_secret(self, prequeue_date):
        enter(1, prequeue_date)
        first = get_redis().get(QueueKeys(prequeue_date.pk).secret)
        services.reset_queue(concert_date_id=prequeue_date.pk)
        enter(1, prequeue_date)
        assert get_redis().get(QueueKeys(prequeue_date.pk).secret) not in (None, first)


@pytest.mark.usefixtures("no_capacity")
class TestNonce:
    @pytest.mark.parametrize("nonce", ["", "x" * 65, "café", "tab\there", "line\n", 5, None, ["a"]])
    def test_a_bad_nonce_is_400(self, prequeue_date, user, nonce):
        response = enter_with(login_client(user), prequeue_date, draw_nonce=nonce)
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert "draw_nonce" in error["details"]
        assert not get_redis().exists(QueueKeys(prequeue_date.pk).prequeue)

    @pytest.mark.parametrize("nonce", ["a", " spaced ~!", "x" * 64, "0123:4567"])
    def test_the_buyers_nonce_makes_the_key(self, prequeue_date, user, nonce):
        response = enter_with(login_client(user), prequeue_date, draw_nonce=nonce)
        assert (response.status_code, response.json()["draw_nonce"]) == (201, nonce)
        secret = lottery.secret_for(prequeue_date.pk)
        assert stored_keys(prequeue_date)[user.pk] == draw.draw_key(secret=secret, user_id=user.pk, nonce=nonce)

    def test_without_one_the_server_makes_one_and_keeps_the_first(self, prequeue_date, user):
        client = login_client(user)
        made = enter_with(client, prequeue_date).json()["draw_nonce"]
        assert len(made) == 32
        again = enter_with(client, prequeue_date, draw_nonce="another")
        assert (again.status_code, again.json()["draw_nonce"]) == (200, made)  # the first entry, kept
        query = f"concert_id={prequeue_date.concert_id}&concert_date_id={prequeue_date.pk}"
        assert client.get(f"/api/queue/status?{query}").json()["draw_nonce"] == made

    def test_no_nonce_after_the_opening(self, prequeue_date, user, clock):
        open_sale(clock, prequeue_date)
        response = enter_with(login_client(user), prequeue_date, draw_nonce="late")
        assert (response.status_code, response.json()["draw_nonce"]) == (201, None)

    def test_the_service_refuses_a_bad_nonce_too(self, prequeue_date):
        from apps.common.exceptions import ValidationFailed

        with pytest.raises(ValidationFailed):
            services.enter_queue(
                user_id=1, concert_id=prequeue_date.concert_id, concert_date_id=prequeue_date.pk, draw_nonce="\x7f"
            )


@pytest.mark.usefixtures("no_capacity")
class TestKeysAndOrder:
    def test_keys_follow_the_formula_and_the_line_follows_the_keys(self, client, prequeue_date, clock):
        nonces = {uid: f"nonce-{uid}" for uid in range(1, 201)}
        for uid, nonce in nonces.items():
            services.enter_queue(
                user_id=uid, concert_id=prequeue_date.concert_id, concert_date_id=prequeue_date.pk, draw_nonce=nonce
            )
        secret = lottery.secret_for(prequeue_date.pk)
        expected = {uid: draw.draw_key(secret=secret, user_id=uid, nonce=nonce) for uid, nonce in nonces.items()}
        assert stored_keys(prequeue_date) == expected
        # The quantile a pre-queued buyer is told is the key's first 32 bits.
        open_sale(clock, prequeue_date)
        assert services.admit_next_batch(concert_date_id=prequeue_date.pk).drawn == 200
        order = client.get(f"{draw_path(prequeue_date)}/order").content.decode().split()
        assert order == sorted(expected.values())
        assert drawn_order(prequeue_date) == sorted(expected, key=expected.get)
        assert not get_redis().exists(QueueKeys(prequeue_date.pk).drawkeys)
        assert [status(uid, prequeue_date).position for uid in drawn_order(prequeue_date)[:3]] == [1, 2, 3]

    def test_the_draw_is_uniform_over_places(self, clock, monkeypatch):
        """Many real draws of six buyers, each with a nonce of its own: every buyer lands in every place
        about equally often (a draw in id or arrival order puts each in one place every time)."""
        rng = random.Random(20261203)
        monkeypatch.setattr(lottery, "new_secret", lambda: rng.randbytes(32).hex())
        date = make_date(opens_in=dt.timedelta(minutes=10), starts_in=dt.timedelta(days=7))
        buyers, draws = list(range(1, 7)), 900
        counts = {(buyer, place): 0 for buyer in buyers for place in range(len(buyers))}
        for _ in range(draws):
            clock.now = date.booking_opens_at.timestamp() - 60
            for uid in buyers:
                services.enter_queue(user_id=uid, concert_id=date.concert_id, concert_date_id=date.pk, draw_nonce="n")
            open_sale(clock, date)
            lottery.published_draw(date_facts(date.pk))  # the public read draws
            for place, uid in enumerate(drawn_order(date)):
                counts[uid, place] += 1
            services.reset_queue(concert_date_id=date.pk)
        chi_square = places_chi_square(counts, buyers=len(buyers), draws=draws)
        assert chi_square < CHI_SQUARE_ONE_IN_A_MILLION[25], chi_square  # 25 degrees of freedom


@pytest.mark.usefixtures("no_capacity")
class TestEndpoints:
    def test_order_is_404_before_the_draw_and_text_after(self, client, prequeue_date, clock):
        enter(1, prequeue_date)
        assert_error(client.get(f"{draw_path(prequeue_date)}/order"), 404, "NOT_FOUND")
        open_sale(clock, prequeue_date)
        # Nobody polled and beat has not run: the public read draws.
        response = client.get(f"{draw_path(prequeue_date)}/order")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        assert response.content.decode() == stored_line(prequeue_date)
        assert drawn_order(prequeue_date) == [1]

    def test_an_empty_prequeue_is_drawn_with_no_entrants(self, client, prequeue_date, clock):
        commitment = client.get(draw_path(prequeue_date)).json()["commitment"]
        open_sale(clock, prequeue_date)
        body = client.get(draw_path(prequeue_date)).json()
        assert (body["commitment"], body["entrants"]) == (commitment, 0)
        assert hashlib.sha256(body["secret"].encode()).hexdigest() == commitment
        response = client.get(f"{draw_path(prequeue_date)}/order")
        assert (response.status_code, response.content) == (200, b"")

    def test_unknown_or_foreign_date_is_404(self, client, prequeue_date):
        other = make_date()
        assert_error(client.get(f"/api/concerts/{other.concert_id}/dates/{prequeue_date.pk}/draw"), 404, "NOT_FOUND")
        path = f"/api/concerts/{prequeue_date.concert_id}/dates/999999/draw/order"
        assert_error(client.get(path), 404, "NOT_FOUND")


def stored_line(date) -> str:
    value = get_redis().get(QueueKeys(date.pk).order)
    return value.decode() if isinstance(value, bytes) else value


class TestOneRoundTrip:
    def test_a_prequeue_entry_is_one_round_trip_once_the_secret_is_cached(self, prequeue_date, round_trips):
        status(1, prequeue_date)  # the date's facts and the script cached, as in a running server
        round_trips.clear()
        enter(1, prequeue_date)
        assert len(round_trips) == 2  # the secret, once per process, then the entry
        round_trips.clear()
        enter(2, prequeue_date)
        assert len(round_trips) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_capacity")
class TestVerifyDraw:
    def test_a_real_draw_verifies_from_the_live_server_and_a_tampered_one_does_not(
        self, live_server, clock, capsys, monkeypatch
    ):
        date = make_date(opens_in=dt.timedelta(minutes=10), starts_in=dt.timedelta(days=7))
        users = [UserFactory() for _ in range(3)]
        noted = draw.fetch(live_server.url, date.concert_id, date.pk).draw["commitment"]
        nonces = {}
        for user in users:
            nonces[user.pk] = enter_with(login_client(user), date, draw_nonce=f"mine {user.pk}").json()["draw_nonce"]
        for uid in range(10**9, 10**9 + 30):  # ids no user of the database has
            nonces[uid] = enter(uid, date).draw_nonce
        args = [date.concert_id, date.pk, "--base-url", live_server.url]
        with pytest.raises(CommandError, match="order"):  # not drawn yet: …/draw/order is 404
            call_command("verify_draw", *args)
        open_sale(clock, date)
        services.admit_next_batch(concert_date_id=date.pk)

        capsys.readouterr()
        call_command("verify_draw", *args)
        assert "33 keys ascending, one per entrant" in capsys.readouterr().out
        line = drawn_order(date)
        for user in users:
            call_command("verify_draw", *args, "--user-id", user.pk, "--nonce", nonces[user.pk])
            assert f"place {line.index(user.pk) + 1} of 33" in capsys.readouterr().out
        with pytest.raises(CommandError, match="not in the published order"):
            call_command("verify_draw", *args, "--user-id", users[0].pk, "--nonce", "not mine")
        # The rush harness's check of the same URLs, with every buyer's nonce and the line's order.
        published = draw.fetch(live_server.url, date.concert_id, date.pk)
        assert rush_gates.verify_draw(draw=published.draw, order=published.order, nonces=nonces, drawn_order=line) == []
        assert rush_gates.verify_draw(draw=published.draw, order=published.order, nonces=nonces, drawn_order=line[::-1])

        # Two keys swapped: no longer ascending.
        keys = stored_line(date).split()
        keys[0], keys[1] = keys[1], keys[0]
        get_redis().set(QueueKeys(date.pk).order, "".join(f"{key}\n" for key in keys))
        with pytest.raises(CommandError, match="not in ascending order"):
            call_command("verify_draw", *args)
        # One key dropped: one short of the entrants.
        get_redis().set(QueueKeys(date.pk).order, "".join(f"{key}\n" for key in sorted(keys)[1:]))
        with pytest.raises(CommandError, match="32 keys published for 33 entrants"):
            call_command("verify_draw", *args)
        # A secret that does not open the commitment.
        get_redis().set(QueueKeys(date.pk).order, "".join(f"{key}\n" for key in sorted(keys)))
        real = lottery.published_draw
        monkeypatch.setattr(lottery, "published_draw", lambda facts: dataclasses.replace(real(facts), secret="0" * 64))
        with pytest.raises(CommandError, match="does not open the commitment"):
            call_command("verify_draw", *args)
        monkeypatch.setattr(lottery, "published_draw", real)
        # A commitment other than the one the buyer noted before entering.
        with pytest.raises(CommandError, match="not the commitment noted"):
            call_command("verify_draw", *args, "--commitment", "1" * 64)
        call_command("verify_draw", *args, "--commitment", noted)

    def test_exactly_one_draw_under_racing_runs_polls_entries_and_readers(self, clock):
        date = make_date(opens_in=dt.timedelta(minutes=10), starts_in=dt.timedelta(days=7))
        nonces = {uid: enter(uid, date).draw_nonce for uid in range(1, 301)}
        open_sale(clock, date)
        facts = date_facts(date.pk)

        def work(i):
            if i < 6:
                return services.admit_next_batch(concert_date_id=date.pk).drawn
            if i < 16:
                return lottery.published_draw(facts).entrants
            if i < 26:
                return status(i, date)
            return enter(1000 + i, date)

        results = run_in_threads(40, work)
        assert not [r for r in results if isinstance(r, BaseException)]
        assert set(results[6:16]) == {300}  # every reader saw the one draw
        assert sum(results[:6]) in (0, 300)  # an admission run drew, or a reader, poll or entry did first
        published = lottery.published_draw(facts)
        order = lottery.published_order(facts).split()
        assert draw.problems(dataclasses.asdict(published), order) == []
        assert published.entrants == len(order) == 300
        # The line's first 300 are the pre-queue in the published order; the later arrivals follow.
        line = drawn_order(date)
        keys = [draw.draw_key(secret=published.secret, user_id=uid, nonce=nonces[uid]) for uid in line[:300]]
        assert keys == order
        assert sorted(line[300:]) == [1000 + i for i in range(26, 40)]
        assert get_redis().get(QueueKeys(date.pk).drawn).endswith(":300")
