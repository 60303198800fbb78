"""The pre-queue's draw as anyone can check it: the formulas of the commit-and-reveal lottery and the
checks of a published draw, read from its two public URLs. Standard library only (no Django, no
Redis): `manage.py verify_draw`, the tests and the rush harness all use these same functions.

- the secret: 256 random bits written as 64 lowercase hex characters, fixed when the pre-queue opens;
- the commitment, published from then on: hex SHA-256 of those 64 characters;
- a buyer's key: hex SHA-256 of the UTF-8 text `<secret hex>:<user_id>:<draw_nonce>`;
- the drawn order: the pre-queue in ascending order of keys (place 1 = the smallest key), published
  with the secret after the draw.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ALGORITHM = "sha256-commit-reveal: commitment = sha256(secret), key = sha256(secret:user_id:draw_nonce), ascending"
HEX64 = re.compile(r"[0-9a-f]{64}")
# A buyer's nonce: 1-64 printable ASCII characters (space to tilde).
NONCE = re.compile(r"[\x20-\x7e]{1,64}")


def commitment(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def draw_key(*, secret: str, user_id: int, nonce: str) -> str:
    return hashlib.sha256(f"{secret}:{user_id}:{nonce}".encode()).hexdigest()


def valid_nonce(nonce: object) -> bool:
    return isinstance(nonce, str) and NONCE.fullmatch(nonce) is not None


def problems(draw: Mapping[str, Any], order: Sequence[str]) -> list[str]:
    """What is wrong with a published draw (empty when it checks out): `draw` is GET …/draw, `order`
    the lines of GET …/draw/order. The secret opens the commitment, the keys are 64 lowercase hex
    characters in ascending order, and there is one per entrant."""
    found = []
    secret, promised = draw.get("secret") or "", draw.get("commitment") or ""
    if not HEX64.fullmatch(secret):
        found.append("no secret published (64 lowercase hex characters)")
    elif commitment(secret) != promised:
        found.append("the secret does not open the commitment")
    if any(not HEX64.fullmatch(key) for key in order):
        found.append("a published key is not 64 lowercase hex characters")
    if list(order) != sorted(order):
        found.append("the published keys are not in ascending order")
    if len(order) != draw.get("entrants"):
        found.append(f"{len(order)} keys published for {draw.get('entrants')} entrants")
    return found


def place_of(order: Sequence[str], *, secret: str, user_id: int, nonce: str) -> int | None:
    """The buyer's 1-based place in the published order, None when the own key is not in it."""
    key = draw_key(secret=secret, user_id=user_id, nonce=nonce)
    try:
        return list(order).index(key) + 1
    except ValueError:
        return None


@dataclass
class Published:
    draw: dict[str, Any]
    order: list[str] | None  # None: the order is not published (not drawn yet)
    errors: list[str] = field(default_factory=list)  # what could not be fetched


def draw_url(base_url: str, concert_id: int, concert_date_id: int) -> str:
    return f"{base_url.rstrip('/')}/api/concerts/{concert_id}/dates/{concert_date_id}/draw"


def fetch(base_url: str, concert_id: int, concert_date_id: int, *, timeout: float = 60) -> Published:
    """The date's draw from its two public URLs, as anyone would read them (no credentials)."""
    url = draw_url(base_url, concert_id, concert_date_id)
    if not url.startswith(("http://", "https://")):
        return Published(draw={}, order=None, errors=[f"{base_url}: not an http(s) URL"])
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s), checked above)
            draw = json.loads(response.read())
    except (urllib.error.URLError, ValueError, OSError) as failed:
        return Published(draw={}, order=None, errors=[f"GET {url}: {failed}"])
    try:
        with urllib.request.urlopen(f"{url}/order", timeout=timeout) as response:  # noqa: S310 (as above)
            order = response.read().decode().split()
    except (urllib.error.URLError, ValueError, OSError) as failed:
        return Published(draw=draw, order=None, errors=[f"GET {url}/order: {failed}"])
    return Published(draw=draw, order=order)
