"""A hold (`POST /api/reservations`) answered before the rest of the stack (apps.common.fast_path):
the body of one of the two common shapes, read here as the view's input serializer reads it, and
everything after the access token's check run by the view's own code. Anything else (a string where
an id goes, a repeated seat, an unknown field, a section with surrounding spaces or control
characters, no or a bad token) goes to the full stack, which answers it as before.

`HOLD_FAST_PATH=False` turns it off (the parity tests compare both answers)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.common.fast_path import GatedFastPath
from apps.common.schema import json_id

PICKED_FIELDS = frozenset({"concert_date_id", "seat_ids"})
BEST_AVAILABLE_FIELDS = frozenset({"concert_date_id", "quantity", "section", "together"})
SECTION_MAX_LENGTH = 100  # the input serializer's `section`


def hold_input(data: Any) -> dict[str, Any] | None:
    """The validated input of a hold's body (`ReservationListCreateApi.InputSerializer`) when the body
    is `{concert_date_id, seat_ids}` or `{concert_date_id, quantity[, section][, together]}` with values
    the serializer takes unchanged; None for anything else."""
    if not isinstance(data, dict) or not json_id(data.get("concert_date_id")):
        return None
    most = settings.MAX_SEATS_PER_RESERVATION
    if data.keys() == PICKED_FIELDS:
        seat_ids = data["seat_ids"]
        if (
            type(seat_ids) is list
            and 1 <= len(seat_ids) <= most
            and all(json_id(seat_id) for seat_id in seat_ids)
            and len(set(seat_ids)) == len(seat_ids)
        ):
            return {"concert_date_id": data["concert_date_id"], "seat_ids": seat_ids, "together": True}
        return None
    if "quantity" not in data or not data.keys() <= BEST_AVAILABLE_FIELDS:
        return None
    quantity, together = data["quantity"], data.get("together", True)
    if type(quantity) is not int or not 1 <= quantity <= most or type(together) is not bool:
        return None
    validated = {"concert_date_id": data["concert_date_id"], "quantity": quantity, "together": together}
    if "section" in data:
        section = data["section"]
        # As the serializer's CharField takes it unchanged: text, not blank, no surrounding whitespace
        # (it would trim it), no control or surrogate characters (it refuses NUL and surrogates).
        if type(section) is not str or not 0 < len(section) <= SECTION_MAX_LENGTH:
            return None
        if section != section.strip() or not section.isprintable():
            return None
        validated["section"] = section
    return validated


class HoldFastPathMiddleware(GatedFastPath):
    url_name = "reservations"
    switch = "HOLD_FAST_PATH"

    def read_input(self, data: Any) -> dict[str, Any] | None:
        return hold_input(data)
