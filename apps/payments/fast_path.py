"""A payment (`POST /api/payments`) answered before the rest of the stack (apps.common.fast_path): a
body of exactly `{reservation_id}` with an id, read here as the view's input serializer reads it, and
everything after the access token's check run by the view's own code (the gate, the idempotency key,
the payment). Anything else goes to the full stack, which answers it as before.

`PAYMENT_FAST_PATH=False` turns it off (the parity tests compare both answers)."""

from __future__ import annotations

from typing import Any

from apps.common.fast_path import GatedFastPath
from apps.common.schema import json_id


def payment_input(data: Any) -> dict[str, Any] | None:
    """The validated input of a payment's body (`PaymentListCreateApi.InputSerializer`), or None."""
    if isinstance(data, dict) and data.keys() == {"reservation_id"} and json_id(data["reservation_id"]):
        return {"reservation_id": data["reservation_id"]}
    return None


class PaymentFastPathMiddleware(GatedFastPath):
    url_name = "payments"
    switch = "PAYMENT_FAST_PATH"

    def read_input(self, data: Any) -> dict[str, Any] | None:
        return payment_input(data)
