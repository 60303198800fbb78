"""The status document of a date at one map version: its codes, and the live holds that make it
change by itself (a hold that ends reads `A` from that moment, with no write anywhere). Its bytes
(`rendered`) are made the first time something serves them: a hold reads only the codes."""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings

from .render import Rendered, status_body


@dataclass(frozen=True)
class Status:
    concert_date_id: int
    layout_version: int
    version: int  # the map version this reads as (a patch that changed nothing keeps the body it had)
    codes: str
    holds: tuple[tuple[float, int], ...]  # (held_until as epoch seconds, position) of live holds, ascending
    built_at: float  # epoch seconds: the rows were read then
    # The version the body names: `version` itself, but a patch that changed nothing a client sees
    # keeps its base's, so the body and its ETag stay the same (a poller keeps getting 304).
    shown_version: int

    @cached_property
    def rendered(self) -> Rendered:
        """The body, its gzip and ETag, made on first use (kept on this object, and in its pickle)."""
        return status_body(
            concert_date_id=self.concert_date_id,
            layout_version=self.layout_version,
            version=self.shown_version,
            codes=self.codes,
        )

    @property
    def kept_size(self) -> int:
        """About what this copy holds in memory once served: the codes, the body (a little longer) and
        its gzip (at most a quarter of the codes: three letters)."""
        return 2 * len(self.codes) + len(self.codes) // 4 + 256

    @property
    def expires_at(self) -> float:
        """When the earliest live hold ends, and the codes with it."""
        return self.holds[0][0] if self.holds else float("inf")

    @property
    def fresh_until(self) -> float:
        return self.built_at + settings.SEAT_MAP_TTL_SECONDS

    def at(self, now: float) -> Status:
        """These codes as they read at `now`: holds that ended by then read `A`."""
        if now < self.expires_at:
            return self
        ended = bisect.bisect_right(self.holds, (now, float("inf")))
        codes = bytearray(self.codes, "ascii")
        for _, position in self.holds[:ended]:
            codes[position] = ord("A")
        return make_status(self, codes=codes.decode("ascii"), holds=self.holds[ended:])


def make_status(template: Status | None = None, **fields: Any) -> Status:
    """A Status of these fields (those of `template` where not given) whose body names its own version."""
    if template is not None:
        fields = {**{f.name: getattr(template, f.name) for f in dataclasses.fields(Status)}, **fields}
    return Status(**{**fields, "shown_version": fields["version"]})
