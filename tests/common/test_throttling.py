"""Rate limits on login, signup, queue entry, hold and payment: per user and per IP, 429 THROTTLED."""

import pytest

from apps.common.redis import get_redis
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import assert_error, login_client, queue_token

pytestmark = pytest.mark.django_db


def test_signup_is_limited_per_ip(api_client, rates):
    rates(signup="2/min")
    for n in range(2):
        body = {"email": f"s{n}@example.com", "password": "s3cure-enough-pw", "name": "S"}
        assert api_client.post("/api/auth/signup", body, format="json").status_code == 201
    response = api_client.post(
        "/api/auth/signup", {"email": "s9@example.com", "password": "s3cure-enough-pw", "name": "S"}, format="json"
    )
    assert_error(response, 429, "THROTTLED")
    # Sliding: the two requests weigh on the next minute's window until half of it has passed.
    assert 1 <= int(response["Retry-After"]) <= 90


def test_queue_entry_is_limited_per_user(rates):
    rates(queue_enter="2/min")
    date = make_date()
    client = login_client(UserFactory())
    body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
    for _ in range(2):
        assert client.post("/api/queue", body, format="json").status_code in (200, 201)
    assert_error(client.post("/api/queue", body, format="json"), 429, "THROTTLED")
    # Another user from the same address is not held back by the per-user limit.
    assert login_client(UserFactory()).post("/api/queue", body, format="json").status_code in (200, 201)


def test_a_redis_without_the_queue_script_counts_the_entry_once(rates):
    """A Redis that restarted (or never saw the script) answers NOSCRIPT: the entry still works, and
    the rate limit travelling in the same round trip is counted once, not twice."""
    rates(queue_enter="2/min")
    date = make_date()
    client = login_client(UserFactory())
    body = {"concert_id": date.concert_id, "concert_date_id": date.pk}
    get_redis().script_flush()
    assert client.post("/api/queue", body, format="json").status_code in (200, 201)
    get_redis().script_flush()
    assert client.post("/api/queue", body, format="json").status_code == 200
    assert_error(client.post("/api/queue", body, format="json"), 429, "THROTTLED")


def test_holds_are_limited_per_ip_across_accounts(rates):
    rates(hold="100/min", hold_ip="3/min")
    date = make_date()
    ids = seat_ids(date)
    codes = []
    for n in range(4):
        user = UserFactory()
        client = login_client(user)
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=queue_token(user, date)
        )
        codes.append(
            client.post("/api/reservations", {"concert_date_id": date.pk, "seat_ids": [ids[n]]}, format="json")
        )
    assert [r.status_code for r in codes[:3]] == [201, 201, 201]
    assert_error(codes[3], 429, "THROTTLED")


def test_payments_are_limited_per_user(rates):
    rates(pay="1/min")
    date = make_date()
    user = UserFactory()
    client = login_client(user)
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {client.tokens['access']}", HTTP_X_QUEUE_TOKEN=queue_token(user, date)
    )
    reservation_id = client.post(
        "/api/reservations", {"concert_date_id": date.pk, "seat_ids": seat_ids(date, 1)}, format="json"
    ).json()["id"]
    assert client.post("/api/payments", {"reservation_id": reservation_id}, format="json").status_code == 409
    assert_error(client.post("/api/payments", {"reservation_id": reservation_id}, format="json"), 429, "THROTTLED")


# Budgets per day in the tests below: a fixed window cannot roll over in the middle of a test.


def login_attempt(client, **extra):
    return client.post("/api/auth/login", {"email": "nobody@example.com", "password": "wrong"}, format="json", **extra)


def test_login_refresh_and_verify_email_have_separate_budgets(api_client, rates):
    rates(login="2/day", refresh="2/day", verify_email="2/day")
    user = UserFactory()
    for _ in range(2):
        assert_error(login_attempt(api_client), 401, "INVALID_CREDENTIALS")
    assert_error(login_attempt(api_client), 429, "THROTTLED")
    # Logins used up; refreshing a session and verifying an e-mail from the same address still work.
    refresh = login_client(user).tokens["refresh"]
    assert api_client.post("/api/auth/refresh", {"refresh": refresh}, format="json").status_code == 200
    assert_error(api_client.post("/api/auth/verify-email", {"token": "x"}, format="json"), 400, "VALIDATION_ERROR")


def test_refresh_is_counted_per_user_behind_one_address(api_client, rates):
    rates(login="2/day", refresh="2/day", refresh_ip="100/day")
    users = [UserFactory() for _ in range(3)]
    tokens = {user.pk: login_client(user).tokens["refresh"] for user in users}
    # Three buyers behind one office NAT refresh twice each: nobody is locked out by the others.
    for _ in range(2):
        for user in users:
            response = api_client.post("/api/auth/refresh", {"refresh": tokens[user.pk]}, format="json")
            assert response.status_code == 200, response.content
            tokens[user.pk] = response.json()["refresh"]
    # The third refresh of one buyer is over that buyer's own budget.
    assert_error(
        api_client.post("/api/auth/refresh", {"refresh": tokens[users[0].pk]}, format="json"), 429, "THROTTLED"
    )


def test_refresh_has_a_ceiling_per_address(api_client, rates):
    rates(refresh="100/day", refresh_ip="3/day")
    codes = [
        api_client.post("/api/auth/refresh", {"refresh": login_client(UserFactory()).tokens["refresh"]}, format="json")
        for _ in range(4)
    ]
    assert [r.status_code for r in codes[:3]] == [200, 200, 200]
    assert_error(codes[3], 429, "THROTTLED")


def test_unverifiable_refresh_tokens_count_against_the_address(api_client, rates):
    rates(refresh="2/day", refresh_ip="100/day")
    for _ in range(2):
        assert_error(
            api_client.post("/api/auth/refresh", {"refresh": "forged"}, format="json"), 401, "NOT_AUTHENTICATED"
        )
    assert_error(api_client.post("/api/auth/refresh", {"refresh": "forged"}, format="json"), 429, "THROTTLED")
    # A real buyer from the same address has a budget of their own.
    refresh = login_client(UserFactory()).tokens["refresh"]
    assert api_client.post("/api/auth/refresh", {"refresh": refresh}, format="json").status_code == 200


def test_a_wrong_method_does_not_use_up_the_budget(api_client, rates):
    rates(login="2/day")
    for _ in range(5):
        assert_error(api_client.put("/api/auth/login", {}, format="json"), 405, "METHOD_NOT_ALLOWED")
        assert api_client.options("/api/auth/login").status_code == 200
        assert_error(api_client.get("/api/auth/login"), 405, "METHOD_NOT_ALLOWED")
    for _ in range(2):
        assert_error(login_attempt(api_client), 401, "INVALID_CREDENTIALS")
    assert_error(login_attempt(api_client), 429, "THROTTLED")


def test_num_proxies_reads_the_client_address_the_proxy_appended(api_client, rates, settings):
    rates(login="2/day")
    settings.REST_FRAMEWORK = dict(settings.REST_FRAMEWORK, NUM_PROXIES=1)
    first, second = {"HTTP_X_FORWARDED_FOR": "203.0.113.5"}, {"HTTP_X_FORWARDED_FOR": "203.0.113.6"}
    for _ in range(2):
        assert_error(login_attempt(api_client, **first), 401, "INVALID_CREDENTIALS")
    assert_error(login_attempt(api_client, **first), 429, "THROTTLED")
    # Another buyer behind the same proxy (same REMOTE_ADDR) has a budget of their own ...
    assert_error(login_attempt(api_client, **second), 401, "INVALID_CREDENTIALS")
    # ... and a client cannot escape its own by prepending a made-up address: the proxy appends the real one.
    assert_error(login_attempt(api_client, HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.5"), 429, "THROTTLED")


def test_without_num_proxies_a_forwarded_header_is_ignored(api_client, rates):
    rates(login="2/day")
    for n in range(2):
        assert_error(login_attempt(api_client, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}"), 401, "INVALID_CREDENTIALS")
    assert_error(login_attempt(api_client, HTTP_X_FORWARDED_FOR="198.51.100.9"), 429, "THROTTLED")


def test_admin_login_is_rate_limited(rates):
    from django.test import Client

    from tests.factories import DEFAULT_PASSWORD

    rates(admin_login="3/day")
    staff = UserFactory(role="STAFF")
    client = Client()
    for _ in range(3):
        response = client.post("/admin/login/", {"username": staff.email, "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    response = client.post("/admin/login/", {"username": staff.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert client.get("/admin/login/").status_code == 200  # the form itself is not counted
    # Another address is not held back.
    response = Client(REMOTE_ADDR="192.0.2.7").post(
        "/admin/login/", {"username": staff.email, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302


def test_a_burst_at_the_end_of_a_minute_and_another_at_the_start_of_the_next_is_refused(rates, monkeypatch):
    """Fixed windows let 10 admin logins through at :55 and 10 more at :01; the sliding window still
    weighs the first burst at :01 and refuses the second."""
    import time as real_time

    from django.test import Client

    from apps.common import throttling

    rates(admin_login="10/min")
    minute = (int(real_time.time()) // 60 + 1) * 60  # a minute boundary
    clock = {"now": minute - 5.0}
    monkeypatch.setattr(throttling.time, "time", lambda: clock["now"])
    client = Client()

    def attempt() -> int:
        return client.post("/admin/login/", {"username": "nobody@example.com", "password": "x"}).status_code

    assert [attempt() for _ in range(10)] == [200] * 10  # the form again: wrong credentials
    clock["now"] = minute + 1.0
    refused = client.post("/admin/login/", {"username": "nobody@example.com", "password": "x"})
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 120
    # Once the burst has slid out of the last minute, logins are allowed again.
    clock["now"] = minute + 56.0
    assert attempt() == 200


def test_a_refused_request_does_not_count(rates, monkeypatch):
    from apps.common import throttling

    clock = {"now": 1_000_020.0}  # 20 s into a minute window
    monkeypatch.setattr(throttling.time, "time", lambda: clock["now"])
    throttle = throttling.RedisRateThrottle()

    def window():
        return [throttling.make_window("test:refused", 2, 60)]

    assert throttle.allow(window()) and throttle.allow(window())
    for _ in range(5):
        assert not throttle.allow(window())
    assert get_redis().get(window()[0].key) == "2"
