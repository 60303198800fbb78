"""`manage.py checkin_export`: a door with no network checks tickets with the file alone."""

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.management import CommandError, call_command

from apps.reservations import services as reservations
from apps.tickets.models import Ticket
from tests.factories import make_date, seat_ids

pytestmark = pytest.mark.django_db


def offline_verify(code: str, public_key_b64: str) -> dict:
    """The verification docs/TICKETS.md describes, with nothing of this project: split at the dot,
    base64url-decode both halves (adding the padding back), verify Ed25519 over the payload's bytes,
    then read the payload as JSON."""
    payload_b64, signature_b64 = code.split(".")
    payload = base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4))
    signature = base64.urlsafe_b64decode(signature_b64 + "=" * (-len(signature_b64) % 4))
    Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64)).verify(signature, payload)
    return json.loads(payload)


def test_every_issued_code_verifies_offline_with_only_the_exported_public_key(paid_booking, tmp_path):
    date = make_date()
    other_date = make_date()
    ids = seat_ids(date, 12)
    bookings = [paid_booking(date, ids[i : i + 4]) for i in range(0, 12, 4)]
    paid_booking(other_date, seat_ids(other_date, 2))
    reservations.cancel_reservation(user=bookings[0].user, reservation_id=bookings[0].pk)
    target = tmp_path / "door.json"
    call_command("checkin_export", str(date.pk), "--output", str(target))
    export = json.loads(target.read_text())
    assert export["algorithm"] == "Ed25519" and export["concert_date_id"] == date.pk
    exported = {t["ticket_id"]: t for t in export["tickets"]}
    assert set(exported) == set(Ticket.objects.filter(concert_date=date).values_list("id", flat=True))
    assert len(exported) == 12
    for ticket in Ticket.objects.filter(concert_date=date):
        entry = exported[ticket.pk]
        assert offline_verify(entry["code"], export["public_key"]) == {
            "t": ticket.pk,
            "d": date.pk,
            "s": ticket.seat_id,
        }
        assert entry["seat"]["id"] == ticket.seat_id
        assert entry["status"] == ticket.status  # the cancelled booking's four are VOID
    assert sorted(t["status"] for t in export["tickets"]).count("VOID") == 4


def test_a_tampered_code_fails_the_offline_verification(paid_booking, tmp_path):
    date = make_date()
    paid_booking(date, seat_ids(date, 2))
    target = tmp_path / "door.json"
    call_command("checkin_export", str(date.pk), "-o", str(target))
    export = json.loads(target.read_text())
    first, second = export["tickets"]
    swapped = f"{second['code'].split('.')[0]}.{first['code'].split('.')[1]}"
    with pytest.raises(InvalidSignature):
        offline_verify(swapped, export["public_key"])


def test_an_unknown_date_is_an_error(db):
    with pytest.raises(CommandError, match="No concert date"):
        call_command("checkin_export", "999999")
