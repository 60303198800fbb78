"""JsonInput: a body's fields take only their JSON types, and the fields made once per class and thread
validate every body as fresh ones would."""

import threading

from rest_framework import serializers

from apps.common.schema import ID, JsonInput, UniqueIdListField


class HoldInput(JsonInput):
    concert_date_id = serializers.IntegerField(**ID)
    seat_ids = UniqueIdListField(min_length=1, max_length=4, required=False)
    together = serializers.BooleanField(default=True)


def test_each_body_is_judged_on_its_own_with_the_fields_kept():
    good = HoldInput(data={"concert_date_id": 7, "seat_ids": [1, 2]})
    assert good.is_valid(), good.errors
    bad = HoldInput(data={"concert_date_id": "7", "seat_ids": [1, 1, 2, 3, 4]})
    assert not bad.is_valid()
    # The second instance reuses the first one's fields, bound to itself now.
    assert bad.fields is good.fields
    assert all(field.parent is bad for field in bad.fields.values())
    assert bad.fields["seat_ids"].child.parent is bad.fields["seat_ids"]
    assert set(bad.errors) == {"concert_date_id", "seat_ids"}
    # Neither the refusal nor a later body leaks into what the first one validated.
    again = HoldInput(data={"concert_date_id": 9, "together": False})
    assert again.is_valid(), again.errors
    assert good.validated_data == {"concert_date_id": 7, "seat_ids": [1, 2], "together": True}
    assert again.validated_data == {"concert_date_id": 9, "together": False}


def test_another_thread_gets_fields_of_its_own():
    here = HoldInput(data={"concert_date_id": 1}).fields
    there = {}

    def other() -> None:
        serializer = HoldInput(data={"concert_date_id": 2, "seat_ids": [5]})
        assert serializer.is_valid(), serializer.errors
        there["fields"], there["data"] = serializer.fields, serializer.validated_data

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert there["fields"] is not here
    assert there["data"] == {"concert_date_id": 2, "seat_ids": [5], "together": True}
