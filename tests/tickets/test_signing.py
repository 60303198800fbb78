"""Ticket codes: the format of docs/API.md, and what a forger or a typo gets."""

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ImproperlyConfigured

from apps.tickets import signing
from apps.tickets.signing import MalformedCode, TicketClaim, sign_code, verify_code


def unpadded_b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_a_code_is_the_compact_json_payload_and_its_ed25519_signature_both_base64url_unpadded():
    code = sign_code(ticket_id=17, concert_date_id=3, seat_id=250)
    payload, signature = code.split(".")
    assert "=" not in code and "+" not in code and "/" not in code
    assert unpadded_b64url_decode(payload) == b'{"t":17,"d":3,"s":250}'
    assert len(unpadded_b64url_decode(signature)) == 64
    # The public key alone verifies it (what an offline scanner holds).
    public = base64.b64decode(signing.public_key_base64())
    assert len(public) == 32
    signing.Ed25519PublicKey.from_public_bytes(public).verify(
        unpadded_b64url_decode(signature), unpadded_b64url_decode(payload)
    )
    assert verify_code(code) == TicketClaim(ticket_id=17, concert_date_id=3, seat_id=250)


def test_a_code_signed_with_another_key_is_refused():
    other = Ed25519PrivateKey.generate()
    payload = signing.payload_bytes(ticket_id=17, concert_date_id=3, seat_id=250)
    forged = f"{signing.b64url_encode(payload)}.{signing.b64url_encode(other.sign(payload))}"
    with pytest.raises(MalformedCode, match="signature"):
        verify_code(forged)


def test_a_valid_codes_signature_on_a_payload_with_another_seat_is_refused():
    code = sign_code(ticket_id=17, concert_date_id=3, seat_id=250)
    _, signature = code.split(".")
    swapped = signing.b64url_encode(json.dumps({"t": 17, "d": 3, "s": 251}, separators=(",", ":")).encode())
    with pytest.raises(MalformedCode, match="signature"):
        verify_code(f"{swapped}.{signature}")


@pytest.mark.parametrize(
    "code",
    [
        "",
        "no-dot-at-all",
        "a.b.c",
        ".",
        "eyJ0IjoxfQ.",
        "!!!.???",
        "é.é",
        "a" * 600 + "." + "b",
        "eyJ0IjoxfQ=.AAAA",  # padding is not part of the format
    ],
)
def test_malformed_codes_are_refused(code):
    with pytest.raises(MalformedCode):
        verify_code(code)


@pytest.mark.parametrize(
    "fields",
    [{"t": 1, "d": 2}, {"t": 1, "d": 2, "s": 3, "x": 4}, {"t": "1", "d": 2, "s": 3}, {"t": 0, "d": 2, "s": 3},
     {"t": True, "d": 2, "s": 3}, [1, 2, 3]],
)  # fmt: skip
def test_a_signed_payload_that_names_no_ticket_is_refused(fields):
    payload = json.dumps(fields).encode()
    code = f"{signing.b64url_encode(payload)}.{signing.b64url_encode(signing.signing_key().sign(payload))}"
    with pytest.raises(MalformedCode, match="does not name a ticket"):
        verify_code(code)


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_signing_key_is_a_configuration_error(value):
    with pytest.raises(ImproperlyConfigured, match="TICKET_SIGNING_KEY"):
        signing.private_key_from_setting(value)


def test_a_new_development_key_is_a_usable_setting():
    assert signing.private_key_from_setting(signing.new_private_key_setting()).public_key()
