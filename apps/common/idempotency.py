"""`Idempotency-Key` for unsafe requests: the same key and body replays the first response and
changes nothing; the same key with another body is 409 IDEMPOTENCY_CONFLICT.

The key row is inserted in the same transaction as the work, as its first statement. A second
request with the same key blocks on the unique index until the first commits (then it replays the
stored response) or rolls back (then it does the work itself), so two racing requests do the work
once. A request that fails stores nothing, so a retry after an error runs again. A keyed payment is
five round trips to MariaDB over HTTP: the key, the service's two, the stored answer, the commit (the
queue gate takes the date from the queue token; tests/reservations/test_round_trips.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response

from .db import retry_on_lock_conflict
from .error_codes import ErrorCode
from .exceptions import Conflict, ValidationFailed
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# Visible ASCII, no spaces (a UUID, say): what every proxy passes unchanged. The schema states it too.
KEY_PATTERN = f"^[!-~]{{1,{MAX_KEY_LENGTH}}}$"
_KEY = re.compile(KEY_PATTERN)


def request_fingerprint(*, scope: str, data: Any) -> str:
    canonical = json.dumps({"scope": scope, "data": data}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def has_stored_response(*, request: Request) -> bool:
    """Whether this request's Idempotency-Key already has a completed response (then the request
    is answered from it: replayed for the same body, 409 IDEMPOTENCY_CONFLICT for another)."""
    key = request.headers.get(HEADER)
    return bool(key) and IdempotencyKey.objects.filter(user_id=request.user.id, key=key).exists()


@retry_on_lock_conflict
def run_idempotent(*, request: Request, scope: str, work: Callable[[], tuple[int, dict[str, Any]]]) -> Response:
    """Call `work()` (which returns status and body) at most once per (user, Idempotency-Key)."""
    key = request.headers.get(HEADER)
    if key is None:
        status, body = work()
        return Response(body, status=status)
    if not _KEY.fullmatch(key):
        raise ValidationFailed(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (no spaces).",
            details={HEADER: ["Invalid key."]},
        )
    fingerprint = request_fingerprint(scope=scope, data=request.data)
    try:
        with transaction.atomic():
            # The first statement of the transaction (its begin travels with it). No savepoint of its
            # own: a taken key ends the transaction, and the stored answer is read after it.
            try:
                record = IdempotencyKey.objects.create(
                    user_id=request.user.id, key=key, scope=scope, request_hash=fingerprint
                )
            except IntegrityError as taken:
                raise _KeyTaken() from taken
            status, body = work()
            record.response_status = status
            record.response_body = body
            record.save(update_fields=["response_status", "response_body", "updated_at"])
    except _KeyTaken:
        return _stored_response(request=request, key=key, fingerprint=fingerprint)
    return Response(body, status=status)


class _KeyTaken(Exception):
    """The key's row exists: committed by an earlier request (a racing one was waited for)."""


def _stored_response(*, request: Request, key: str, fingerprint: str) -> Response:
    existing = IdempotencyKey.objects.get(user_id=request.user.id, key=key)
    if existing.request_hash != fingerprint:
        raise Conflict(ErrorCode.IDEMPOTENCY_CONFLICT, f"This {HEADER} was already used with a different request.")
    response = Response(existing.response_body, status=existing.response_status)
    response["Idempotent-Replayed"] = "true"
    return response


def purge_idempotency_keys(*, older_than: timedelta, batch_size: int = 1000) -> int:
    """Delete the stored responses of keys used more than `older_than` ago, in short batches (each
    its own small transaction, so a large backlog never holds many locks at once). Returns how many
    were deleted. A client retrying after that long gets the request run again, as the header's
    contract allows (Stripe keeps keys for 24 hours too)."""
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        ids = list(
            IdempotencyKey.objects.filter(created_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += IdempotencyKey.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch_size:
            return deleted
