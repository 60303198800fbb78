"""The queue, tokens, rate limits and the seat-map cache on a real 3-master Redis Cluster, started
here from the redis-server binary (cluster mode, no persistence) and torn down afterwards."""

import pytest

from apps.concerts import seat_map
from apps.concerts.seat_counts import counts_key
from apps.queue import push, services
from apps.queue.keys import QueueKeys
from apps.queue.models import QueueStatus
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import access_token_valid, assert_error, login_client, run_in_threads


def test_every_key_of_a_date_shares_one_slot(on_cluster):
    keys = QueueKeys(4242)
    slots = {on_cluster.keyslot(key) for key in [*keys.all(), counts_key(4242)]}  # the seat counts too
    assert len(slots) == 1
    assert on_cluster.keyslot(QueueKeys(4243).waiting) in range(16384)


@pytest.mark.django_db(transaction=True)
def test_concurrent_enters_get_consecutive_positions_on_the_cluster(on_cluster, settings):
    date = make_date()
    settings.QUEUE_MIN_ACTIVE = settings.QUEUE_MAX_ACTIVE = 0  # everyone waits
    services.queue_status(user_id=1, concert_id=date.concert_id, concert_date_id=date.pk)  # warm the date facts
    results = run_in_threads(
        300, lambda i: services.enter_queue(user_id=10 + i, concert_id=date.concert_id, concert_date_id=date.pk)
    )
    assert not [r for r in results if isinstance(r, BaseException)], results[:3]
    assert sorted(r.position for r in results) == list(range(1, 301))


@pytest.mark.django_db(transaction=True)
def test_admission_cycle_and_caps_on_the_cluster(on_cluster, settings):
    # More free seats than the 70 admitted (admission lets in one buyer per free seat at most).
    date = make_date(layout=[{"name": "Floor", "rows": 4, "seats_per_row": 20, "price": "50000.00"}])
    settings.QUEUE_MIN_ACTIVE = settings.QUEUE_MAX_ACTIVE = 0
    for uid in range(1, 201):
        services.enter_queue(user_id=uid, concert_id=date.concert_id, concert_date_id=date.pk)
    # Auto admission (the controller reads its state and the latency histograms on the cluster too),
    # held at 70 at once.
    settings.QUEUE_MIN_ACTIVE = settings.QUEUE_MAX_ACTIVE = 70
    runs = run_in_threads(6, lambda i: services.admit_next_batch(concert_date_id=date.pk))
    assert sum(run.admitted for run in runs) == 70
    assert on_cluster.zcard(QueueKeys(date.pk).active) == 70
    first = services.queue_status(user_id=1, concert_id=date.concert_id, concert_date_id=date.pk)
    assert first.status == QueueStatus.READY
    assert access_token_valid(token=first.token, user_id=1, concert_date_id=date.pk)
    services.end_access(user_id=1, concert_date_id=date.pk)
    assert not access_token_valid(token=first.token, user_id=1, concert_date_id=date.pk)
    behind = services.queue_status(user_id=71, concert_id=date.concert_id, concert_date_id=date.pk)
    assert (behind.status, behind.position) == (QueueStatus.WAITING, 1)
    # The push process's one read (counts and admission's progress, one pipeline) on the cluster: the
    # 70 admitted are the first 70 numbers, the next waiter's number is beyond them.
    seats = push.read_seats(date.pk)
    assert (seats.seats_available, seats.sold_out) == (80, False)
    assert (seats.admitted_through, behind.number) == (70, 71)


@pytest.mark.django_db
def test_the_http_flow_rate_limits_and_seat_map_cache_run_on_the_cluster(on_cluster):
    date = make_date()
    user = UserFactory()
    client = login_client(user)
    entered = client.post("/api/queue", {"concert_id": date.concert_id, "concert_date_id": date.pk}, format="json")
    assert entered.status_code == 201
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=entered.json()["token"]
    )
    url = f"/api/concerts/{date.concert_id}/dates/{date.pk}/seats?status=AVAILABLE"
    assert len(client.get(url).json()) == date.total_seats  # built and cached on the cluster
    held = client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 2)}, format="json")
    assert held.status_code == 201
    seat_map.invalidate_seat_map(concert_date_id=date.pk)  # the on-commit hook, run by hand in this test
    assert len(client.get(url).json()) == date.total_seats - 2
    client.post("/api/auth/logout", {"refresh": client.tokens["refresh"]}, format="json")
    assert_error(client.get("/api/users/me"), 401, "NOT_AUTHENTICATED")  # deny-list on the cluster
