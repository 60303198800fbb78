"""A strict JSON parser for request bodies.

DRF's own parser reads the request stream directly, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE never
applies to it, and a deeply nested document raises RecursionError (a 500). This one reads at most
the limit (413 PAYLOAD_TOO_LARGE beyond it), refuses NaN/Infinity, reads numbers with a fraction or
an exponent as Decimal (never float), and turns any malformed or too deeply nested document into
400 VALIDATION_ERROR."""

import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import APIException, ParseError


class PayloadTooLarge(APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


class StrictJSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge()
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads(raw, encoding)
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None
        except (ValueError, UnicodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def loads(raw: bytes, encoding: str = "utf-8") -> Any:
    """A body as the API reads it: raises ValueError or UnicodeError for what it refuses as malformed
    (RecursionError for a document nested too deeply)."""
    # Numbers with a fraction or exponent become Decimal, exactly as written: a float would
    # round 1.0000000000000001 to 1.0 (money read wrong without a word).
    data = json.loads(raw.decode(encoding), parse_constant=_reject_constant, parse_float=Decimal)
    # "\ud800" escapes decode to lone surrogates, which no UTF-8 consumer (the database
    # driver, the password hasher) can encode: refuse them here, as malformed text.
    json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
    return data
