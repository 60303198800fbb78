"""Ticket codes: `<payload>.<signature>`, both base64url without padding. The payload is the compact
UTF-8 JSON `{"t": ticket_id, "d": concert_date_id, "s": seat_id}`; the signature is Ed25519 over the
payload's bytes, made with TICKET_SIGNING_KEY (base64 of the raw 32-byte private key).

A scanner with no network verifies a code with the public key alone (`verify_code` needs nothing
else: see docs/TICKETS.md); the server verifies it the same way before it looks the ticket up.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from functools import cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ALGORITHM = "Ed25519"
KEY_BYTES = 32
# A code is about 130 characters; anything far longer is not one (and is not worth decoding).
MAX_CODE_LENGTH = 512


class MalformedCode(ValueError):
    """The string is not a code this service signed: bad shape, bad encoding or a bad signature."""


@dataclass(frozen=True)
class TicketClaim:
    """What a verified code says: this ticket, of this date, for this seat."""

    ticket_id: int
    concert_date_id: int
    seat_id: int


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    if not text or len(text) % 4 == 1 or not text.isascii():
        raise MalformedCode("not base64url")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error as exc:
        raise MalformedCode("not base64url") from exc


def private_key_from_setting(value: str) -> Ed25519PrivateKey:
    """The key that TICKET_SIGNING_KEY names; ImproperlyConfigured if it is not base64 of 32 bytes."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImproperlyConfigured("TICKET_SIGNING_KEY is not base64.") from exc
    if len(raw) != KEY_BYTES:
        raise ImproperlyConfigured(f"TICKET_SIGNING_KEY must be base64 of {KEY_BYTES} bytes, not {len(raw)}.")
    return Ed25519PrivateKey.from_private_bytes(raw)


def new_private_key_setting() -> str:
    """A fresh TICKET_SIGNING_KEY value (what `make run` keeps under .run/ for development)."""
    key = Ed25519PrivateKey.generate()
    return base64.b64encode(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode("ascii")


@cache
def _keys(setting: str) -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    if not setting:
        raise ImproperlyConfigured("TICKET_SIGNING_KEY is not set: tickets can be neither issued nor checked in.")
    private = private_key_from_setting(setting)
    return private, private.public_key()


def signing_key() -> Ed25519PrivateKey:
    return _keys(settings.TICKET_SIGNING_KEY)[0]


def public_key() -> Ed25519PublicKey:
    return _keys(settings.TICKET_SIGNING_KEY)[1]


def public_key_base64() -> str:
    """The public key as the API publishes it: base64 of the raw 32 bytes."""
    return base64.b64encode(public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


def payload_bytes(*, ticket_id: int, concert_date_id: int, seat_id: int) -> bytes:
    return json.dumps({"t": ticket_id, "d": concert_date_id, "s": seat_id}, separators=(",", ":")).encode()


def sign_code(*, ticket_id: int, concert_date_id: int, seat_id: int) -> str:
    """The code of a ticket. Ed25519 signatures are deterministic: a ticket's code never changes
    while the key stays the same, so it is computed when shown, not stored."""
    payload = payload_bytes(ticket_id=ticket_id, concert_date_id=concert_date_id, seat_id=seat_id)
    return f"{b64url_encode(payload)}.{b64url_encode(signing_key().sign(payload))}"


def verify_code(code: str, *, key: Ed25519PublicKey | None = None) -> TicketClaim:
    """What `code` claims, once its signature verifies with `key` (the configured key's public half
    by default). Raises MalformedCode for anything else: a forged or altered code, or no code."""
    if not isinstance(code, str) or len(code) > MAX_CODE_LENGTH or code.count(".") != 1:
        raise MalformedCode("not a ticket code")
    encoded_payload, encoded_signature = code.split(".")
    payload, signature = b64url_decode(encoded_payload), b64url_decode(encoded_signature)
    try:
        (key or public_key()).verify(signature, payload)
    except InvalidSignature as exc:
        raise MalformedCode("the signature does not verify") from exc
    try:
        fields = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:  # signed by us, so this would be a bug, not a forgery
        raise MalformedCode("the payload is not JSON") from exc
    if not isinstance(fields, dict) or set(fields) != {"t", "d", "s"}:
        raise MalformedCode("the payload does not name a ticket")
    values = (fields["t"], fields["d"], fields["s"])
    if not all(type(value) is int and value > 0 for value in values):
        raise MalformedCode("the payload does not name a ticket")
    return TicketClaim(ticket_id=values[0], concert_date_id=values[1], seat_id=values[2])
