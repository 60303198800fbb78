"""The stable error codes of docs/API.md, in one place (Saleor keeps its codes in enums the same way)."""

from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    EMAIL_NOT_VERIFIED = "EMAIL_NOT_VERIFIED"
    QUEUE_TOKEN_REQUIRED = "QUEUE_TOKEN_REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    SEAT_UNAVAILABLE = "SEAT_UNAVAILABLE"
    HOLD_EXPIRED = "HOLD_EXPIRED"
    HOLD_LIMIT_REACHED = "HOLD_LIMIT_REACHED"
    NOT_ENOUGH_SEATS = "NOT_ENOUGH_SEATS"
    BOOKING_CLOSED = "BOOKING_CLOSED"
    SOLD_OUT = "SOLD_OUT"
    INVALID_STATE = "INVALID_STATE"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"
    ALREADY_CHECKED_IN = "ALREADY_CHECKED_IN"
    TICKET_VOID = "TICKET_VOID"
    INVALID_TICKET = "INVALID_TICKET"
    THROTTLED = "THROTTLED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


# The HTTP status each code is answered with (the error table of docs/API.md).
STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.NOT_AUTHENTICATED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.EMAIL_NOT_VERIFIED: 403,
    ErrorCode.QUEUE_TOKEN_REQUIRED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.EMAIL_TAKEN: 409,
    ErrorCode.SEAT_UNAVAILABLE: 409,
    ErrorCode.HOLD_EXPIRED: 409,
    ErrorCode.HOLD_LIMIT_REACHED: 409,
    ErrorCode.NOT_ENOUGH_SEATS: 409,
    ErrorCode.BOOKING_CLOSED: 409,
    ErrorCode.SOLD_OUT: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.INSUFFICIENT_BALANCE: 409,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.ALREADY_CHECKED_IN: 409,
    ErrorCode.TICKET_VOID: 409,
    ErrorCode.INVALID_TICKET: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.THROTTLED: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
}


# When each code is answered (the OpenAPI schema lists these under every operation's error statuses).
MEANING_OF: dict[ErrorCode, str] = {
    ErrorCode.VALIDATION_ERROR: "malformed JSON, or missing or invalid fields or parameters (`details` names them)",
    ErrorCode.NOT_AUTHENTICATED: "no or bad access token, or one that expired or was logged out",
    ErrorCode.INVALID_CREDENTIALS: "a wrong e-mail or password",
    ErrorCode.PERMISSION_DENIED: "authenticated but not allowed",
    ErrorCode.EMAIL_NOT_VERIFIED: "queue entry by an account whose e-mail is not verified (REQUIRE_VERIFIED_EMAIL on)",
    ErrorCode.QUEUE_TOKEN_REQUIRED: "no valid, unexpired `X-Queue-Token` for this user and concert date",
    ErrorCode.NOT_FOUND: "an unknown id (or one of another user's), or a page past the last",
    ErrorCode.METHOD_NOT_ALLOWED: "the path exists, but not with this method",
    ErrorCode.NOT_ACCEPTABLE: "the `Accept` header excludes JSON, the only representation",
    ErrorCode.EMAIL_TAKEN: "the e-mail is already registered",
    ErrorCode.SEAT_UNAVAILABLE: "a seat is held or reserved by someone else (`details.seat_ids`)",
    ErrorCode.HOLD_EXPIRED: "the reservation's hold has expired",
    ErrorCode.HOLD_LIMIT_REACHED: "the buyer already has the most live holds, or seats, allowed for the date",
    ErrorCode.NOT_ENOUGH_SEATS: "a best-available hold found no `quantity` free seats (together, when asked) in the "
    "section or the date (`details`: `section`, `quantity`, `available`, `largest_together`)",
    ErrorCode.BOOKING_CLOSED: "outside the date's booking window (before the pre-queue: `details.queue_opens_at`)",
    ErrorCode.SOLD_OUT: "queue entry into a date with no free seat and no live hold (the line keeps its order; "
    "it reopens if seats come back)",
    ErrorCode.INVALID_STATE: "the action does not fit the object's state (paid or cancelled already, too late)",
    ErrorCode.INSUFFICIENT_BALANCE: "the wallet cannot cover the payment",
    ErrorCode.IDEMPOTENCY_CONFLICT: "the `Idempotency-Key` was used with another request body",
    ErrorCode.ALREADY_CHECKED_IN: "a ticket scanned a second time; `details.checked_in_at` says when the first scan was",
    ErrorCode.TICKET_VOID: "a ticket of a cancelled or refunded booking",
    ErrorCode.INVALID_TICKET: "a ticket code whose signature does not verify or that names no ticket",
    ErrorCode.PAYLOAD_TOO_LARGE: "the body is over the size limit",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "the body is not JSON",
    ErrorCode.THROTTLED: "a rate limit was hit; `Retry-After` says when to try again",
    ErrorCode.SERVICE_UNAVAILABLE: "a dependency is down or overloaded; nothing was changed; `Retry-After` is set",
    ErrorCode.INTERNAL_ERROR: "a fault on the server's side (never with a stack trace)",
}
