"""The seat map over HTTP: `…/seat-layout` (public, cacheable), `…/seat-status` (login + queue
token) and the seat list, each served as stored bytes with a strong ETag, 304 on If-None-Match and
gzip when accepted."""

import datetime as dt
import gzip
import json
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from apps.concerts import seat_map, selectors, services
from tests.factories import UserFactory, make_date, seat_ids
from tests.helpers import assert_error, login_client, mark_held, redis_unreachable

pytestmark = pytest.mark.django_db


def url(date, what: str, query: str = "") -> str:
    return f"/api/concerts/{date.concert_id}/dates/{date.pk}/{what}{query}"


def payload(response) -> dict | list:
    raw = response.content
    return json.loads(gzip.decompress(raw) if response.get("Content-Encoding") == "gzip" else raw)


class TestSeatLayout:
    def test_public_with_a_strong_etag_and_browser_caching(self, concert_date, api_client):
        response = api_client.get(url(concert_date, "seat-layout"))
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
        assert response["Cache-Control"] == "public, max-age=300"
        assert response["Vary"] == "Accept-Encoding"
        assert response["ETag"].startswith('"') and "Content-Encoding" not in response
        body = response.json()
        assert (body["concert_date_id"], body["layout_version"]) == (concert_date.pk, 1)
        first = concert_date.seats.get(seat_num=1)
        assert body["sections"][0] == {
            "name": "VIP", "price": "150000.00", "seat_prices": {},
            "rows": [{"row": "A", "seats": [[first.pk, 1], [first.pk + 1, 2], [first.pk + 2, 3], [first.pk + 3, 4]]}],
        }  # fmt: skip

    def test_304_on_if_none_match(self, concert_date, api_client):
        etag = api_client.get(url(concert_date, "seat-layout"))["ETag"]
        for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            response = api_client.get(url(concert_date, "seat-layout"), HTTP_IF_NONE_MATCH=sent)
            assert response.status_code == 304, sent
            assert response.content == b"" and response["ETag"] == etag
            assert response["Cache-Control"] == "public, max-age=300"
        assert api_client.get(url(concert_date, "seat-layout"), HTTP_IF_NONE_MATCH='"other"').status_code == 200

    def test_gzip_when_accepted(self, concert_date, api_client):
        plain = api_client.get(url(concert_date, "seat-layout"))
        zipped = api_client.get(url(concert_date, "seat-layout"), HTTP_ACCEPT_ENCODING="br, gzip;q=0.8")
        assert zipped["Content-Encoding"] == "gzip" and gzip.decompress(zipped.content) == plain.content
        assert zipped["ETag"] == plain["ETag"][:-1] + '-gzip"'
        # Either representation's tag validates: the client holds this body.
        again = api_client.get(url(concert_date, "seat-layout"), HTTP_ACCEPT_ENCODING="gzip",
                               HTTP_IF_NONE_MATCH=plain["ETag"])  # fmt: skip
        assert again.status_code == 304 and again["ETag"] == zipped["ETag"]
        refused = api_client.get(url(concert_date, "seat-layout"), HTTP_ACCEPT_ENCODING="gzip;q=0, identity")
        assert "Content-Encoding" not in refused and refused.content == plain.content

    def test_a_price_change_gives_a_new_layout_and_etag(
        self, concert_date, api_client, django_capture_on_commit_callbacks
    ):
        before = api_client.get(url(concert_date, "seat-layout"))
        target = seat_ids(concert_date, 1)[0]
        with django_capture_on_commit_callbacks(execute=True):
            services.set_seat_price(seat_id=target, price=Decimal("42000.00"))
        after = api_client.get(url(concert_date, "seat-layout"), HTTP_IF_NONE_MATCH=before["ETag"])
        assert after.status_code == 200 and after["ETag"] != before["ETag"]
        assert after.json()["layout_version"] == 2
        assert after.json()["sections"][1]["seat_prices"] == {str(target): "42000.00"}

    def test_a_warm_layout_costs_no_query(self, concert_date, api_client, django_assert_num_queries):
        api_client.get(url(concert_date, "seat-layout"))
        with django_assert_num_queries(0):
            assert api_client.get(url(concert_date, "seat-layout")).status_code == 200

    def test_answered_from_the_database_when_redis_is_down(self, concert_date, api_client, cache_unreachable):
        with redis_unreachable(), cache_unreachable:
            response = api_client.get(url(concert_date, "seat-layout"))
        assert response.status_code == 200 and len(response.json()["sections"]) == 2

    def test_unknown_or_mismatched_dates_are_not_found(self, concert_date, api_client):
        other = make_date()
        mismatched = f"/api/concerts/{other.concert_id}/dates/{concert_date.pk}/seat-layout"
        assert_error(api_client.get(mismatched), 404, "NOT_FOUND")
        assert_error(api_client.get(f"/api/concerts/{concert_date.concert_id}/dates/987654321/seat-layout"), 404,
                     "NOT_FOUND")  # fmt: skip


class TestSeatStatus:
    def test_shape_headers_and_codes_in_layout_order(self, concert_date, admitted_client):
        target = seat_ids(concert_date, 1)[0]
        mark_held(concert_date, [target])
        seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)
        response = admitted_client(concert_date).get(url(concert_date, "seat-status"))
        assert response.status_code == 200
        assert response["Cache-Control"] == "private, no-cache" and response["Vary"] == "Accept-Encoding"
        body = response.json()
        assert set(body) == {"concert_date_id", "layout_version", "version", "codes"}
        assert (body["concert_date_id"], body["layout_version"]) == (concert_date.pk, 1)
        layout = admitted_client(concert_date).get(url(concert_date, "seat-layout")).json()
        order = [pk for section in layout["sections"] for row in section["rows"] for pk, _ in row["seats"]]
        assert len(body["codes"]) == len(order) == 20
        assert {pk: code for pk, code in zip(order, body["codes"], strict=True) if code != "A"} == {target: "H"}

    def test_304_and_gzip(self, concert_date, admitted_client):
        client = admitted_client(concert_date)
        zipped = client.get(url(concert_date, "seat-status"), HTTP_ACCEPT_ENCODING="gzip")
        assert zipped["Content-Encoding"] == "gzip" and payload(zipped)["codes"] == "A" * 20
        not_modified = client.get(url(concert_date, "seat-status"), HTTP_ACCEPT_ENCODING="gzip",
                                  HTTP_IF_NONE_MATCH=zipped["ETag"])  # fmt: skip
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified["ETag"] == zipped["ETag"]

    def test_a_committed_hold_changes_the_version_and_etag(
        self, concert_date, admitted_client, django_capture_on_commit_callbacks
    ):
        client = admitted_client(concert_date)
        before = client.get(url(concert_date, "seat-status"))
        with django_capture_on_commit_callbacks(execute=True):
            mark_held(concert_date, seat_ids(concert_date, 2))
        after = client.get(url(concert_date, "seat-status"), HTTP_IF_NONE_MATCH=before["ETag"])
        assert after.status_code == 200 and after["ETag"] != before["ETag"]
        assert after.json()["version"] > before.json()["version"] and after.json()["codes"].count("H") == 2

    def test_an_ended_hold_reads_available_at_held_until_without_a_sweep(self, concert_date, admitted_client, clock):
        client = admitted_client(concert_date)
        mark_held(concert_date, seat_ids(concert_date, 1), held_until=timezone.now() + dt.timedelta(seconds=30))
        seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)
        held = client.get(url(concert_date, "seat-status"))
        assert held.json()["codes"].count("H") == 1
        clock.move(31)
        ended = client.get(url(concert_date, "seat-status"), HTTP_IF_NONE_MATCH=held["ETag"])
        assert ended.status_code == 200 and ended.json()["codes"] == "A" * 20
        assert ended.json()["version"] == held.json()["version"]  # no change was committed

    def test_a_warm_read_touches_no_database(self, concert_date, admitted_client, django_assert_num_queries):
        client = admitted_client(concert_date)
        client.get(url(concert_date, "seat-status"))
        with django_assert_num_queries(0):  # login from the token's claims, the status from memory
            assert client.get(url(concert_date, "seat-status")).status_code == 200
        seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)
        with django_assert_num_queries(3):  # a new version: layout_version, the letters, the holds
            assert client.get(url(concert_date, "seat-status")).status_code == 200

    def test_needs_a_login_and_the_queue_token_of_this_date(self, concert_date, admitted_client, api_client):
        assert_error(api_client.get(url(concert_date, "seat-status")), 401, "NOT_AUTHENTICATED")
        assert_error(login_client(UserFactory()).get(url(concert_date, "seat-status")), 403, "QUEUE_TOKEN_REQUIRED")
        other = make_date(concert=concert_date.concert)
        assert_error(admitted_client(other).get(url(concert_date, "seat-status")), 403, "QUEUE_TOKEN_REQUIRED")
        mismatched = f"/api/concerts/{make_date().concert_id}/dates/{concert_date.pk}/seat-status"
        assert_error(admitted_client(concert_date).get(mismatched), 404, "NOT_FOUND")

    def test_redis_down_is_a_503_in_the_error_shape(self, concert_date, admitted_client, cache_unreachable):
        client = admitted_client(concert_date)
        assert client.get(url(concert_date, "seat-status")).status_code == 200
        with redis_unreachable(), cache_unreachable:
            assert_error(client.get(url(concert_date, "seat-status")), 503, "SERVICE_UNAVAILABLE")
            assert_error(client.get(url(concert_date, "seats")), 503, "SERVICE_UNAVAILABLE")

    def test_the_render_store_down_alone_is_answered_from_the_database(
        self, concert_date, admitted_client, cache_unreachable, django_capture_on_commit_callbacks
    ):
        client = admitted_client(concert_date)
        assert client.get(url(concert_date, "seat-status")).status_code == 200
        with cache_unreachable:
            with django_capture_on_commit_callbacks(execute=True):
                mark_held(concert_date, seat_ids(concert_date, 1))
            assert client.get(url(concert_date, "seat-status")).json()["codes"].count("H") == 1

    def test_the_database_down_on_a_rebuild_is_a_503(self, concert_date, admitted_client, monkeypatch):
        from django.db import OperationalError

        client = admitted_client(concert_date)
        seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)

        def down(*args, **kwargs):
            raise OperationalError(2013, "Lost connection to server during query")

        monkeypatch.setattr(seat_map.queries, "build_status", down)
        assert_error(client.get(url(concert_date, "seat-status")), 503, "SERVICE_UNAVAILABLE")


class TestSeatListStored:
    def test_etag_304_and_gzip_with_the_same_contract(self, concert_date, admitted_client):
        client = admitted_client(concert_date)
        mark_held(concert_date, seat_ids(concert_date, 1))
        seat_map.invalidate_seat_map(concert_date_id=concert_date.pk)
        plain = client.get(url(concert_date, "seats", "?status=AVAILABLE"))
        assert plain.status_code == 200 and len(plain.json()) == 19
        assert plain["ETag"].startswith('"') and plain["Cache-Control"] == "private, no-cache"
        zipped = client.get(url(concert_date, "seats", "?status=AVAILABLE"), HTTP_ACCEPT_ENCODING="gzip")
        assert zipped["Content-Encoding"] == "gzip" and payload(zipped) == plain.json()
        again = client.get(url(concert_date, "seats", "?status=AVAILABLE"), HTTP_IF_NONE_MATCH=plain["ETag"])
        assert again.status_code == 304 and again.content == b""
        everything = client.get(url(concert_date, "seats"), HTTP_IF_NONE_MATCH=plain["ETag"])
        assert everything.status_code == 200 and everything["ETag"] != plain["ETag"]  # another body

    def test_a_committed_change_shows_in_the_next_read(
        self, concert_date, admitted_client, django_capture_on_commit_callbacks
    ):
        client = admitted_client(concert_date)
        before = client.get(url(concert_date, "seats", "?status=AVAILABLE"))
        target = seat_ids(concert_date, 1)
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            services.mark_seats_held(
                concert_date_id=concert_date.pk, seat_ids=target, held_until=timezone.now() + dt.timedelta(minutes=5)
            )
        after = client.get(url(concert_date, "seats", "?status=AVAILABLE"), HTTP_IF_NONE_MATCH=before["ETag"])
        assert after.status_code == 200 and target[0] not in {seat["id"] for seat in after.json()}

    def test_a_warm_read_touches_no_database(self, concert_date, admitted_client, django_assert_num_queries):
        client = admitted_client(concert_date)
        client.get(url(concert_date, "seats"))
        with django_assert_num_queries(0):
            assert len(client.get(url(concert_date, "seats")).json()) == 20


def test_the_openapi_document_describes_both_endpoints_their_headers_and_304(api_client):
    schema = api_client.get("/api/schema", HTTP_ACCEPT="application/json").json()
    prefix = "/api/concerts/{concert_id}/dates/{concert_date_id}"
    for path, auth in (("seat-layout", False), ("seat-status", True)):
        operation = schema["paths"][f"{prefix}/{path}"]["get"]
        assert set(operation["responses"]) >= {"200", "304"}
        assert {"ETag", "Cache-Control", "Vary", "Content-Encoding"} <= set(operation["responses"]["200"]["headers"])
        assert "ETag" in operation["responses"]["304"]["headers"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert {"If-None-Match", "Accept-Encoding"} <= headers
        assert ("X-Queue-Token" in headers) is auth
    assert "304" in schema["paths"][f"{prefix}/seats"]["get"]["responses"]


def test_the_date_facts_name_the_layout_version(concert_date):
    assert selectors.date_facts(concert_date.pk).layout_version == 1
