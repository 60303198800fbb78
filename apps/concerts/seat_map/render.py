"""The bytes the seat map serves: each JSON body with its gzip and strong ETag, built from rows or
documents already read (no Redis, no SQL here)."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..models import SeatStatus

CODE = {SeatStatus.AVAILABLE.value: "A", SeatStatus.HELD.value: "H", SeatStatus.RESERVED.value: "R"}
STATUS_OF = {code: status for status, code in CODE.items()}


@dataclass(frozen=True)
class Rendered:
    """A JSON body, its gzip, and the strong ETag of the body. The gzip bytes are a different
    representation, so they carry their own validator (the body's with `-gzip`)."""

    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, body: bytes, *, level: int = 6) -> Rendered:
        digest = hashlib.blake2b(body, digest_size=16).hexdigest()
        # mtime=0: the same body gzips to the same bytes in every process.
        return cls(body=body, gzipped=gzip.compress(body, compresslevel=level, mtime=0), etag=f'"{digest}"')

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gzip"'

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped)


@dataclass(frozen=True)
class Layout:
    """The layout document of a date, immutable per (date, layout_version)."""

    concert_date_id: int
    layout_version: int
    rendered: Rendered


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def layout(concert_date_id: int, rows: list[tuple]) -> Layout:
    """The layout document of `rows` (pk, seat_num, section, row, price, layout_version, in seat
    order). A section's `price` is the price most of its seats have;
    `seat_prices` lists the seats staff priced differently, as {seat_id: price}."""
    layout_version = rows[0][5] if rows else 1
    sections: list[dict[str, Any]] = []
    prices: list[dict[Decimal, list[int]]] = []
    for pk, seat_num, section, row, price, _ in rows:
        if not sections or sections[-1]["name"] != section:
            sections.append({"name": section, "price": None, "rows": [], "seat_prices": {}})
            prices.append({})
        current = sections[-1]
        if not current["rows"] or current["rows"][-1]["row"] != row:
            current["rows"].append({"row": row, "seats": []})
        current["rows"][-1]["seats"].append([pk, seat_num])
        prices[-1].setdefault(price, []).append(pk)
    for section, by_price in zip(sections, prices, strict=True):
        common = max(by_price, key=lambda price: len(by_price[price]))
        section["price"] = f"{common:.2f}"
        section["seat_prices"] = {
            str(pk): f"{price:.2f}" for price, pks in by_price.items() if price != common for pk in pks
        }
    body = {"concert_date_id": concert_date_id, "layout_version": layout_version, "sections": sections}
    return Layout(concert_date_id, layout_version, Rendered.of(_dumps(body)))


def status_body(*, concert_date_id: int, layout_version: int, version: int, codes: str) -> Rendered:
    """The status document: one character per seat in layout order."""
    body = (
        f'{{"concert_date_id":{concert_date_id},"layout_version":{layout_version},'
        f'"version":{version},"codes":"{codes}"}}'
    ).encode("ascii")
    return Rendered.of(body)


def seat_prefixes(layout: Rendered) -> list[str]:
    """Each seat's JSON object up to its status value, in layout order (what the seat list repeats
    50,000 times), from the layout document itself."""
    document = json.loads(layout.body)
    prefixes = []
    for section in document["sections"]:
        name = json.dumps(section["name"], ensure_ascii=False)
        for row in section["rows"]:
            label = json.dumps(row["row"], ensure_ascii=False)
            for pk, seat_num in row["seats"]:
                price = section["seat_prices"].get(str(pk), section["price"])
                prefixes.append(
                    f'{{"id":{pk},"seat_num":{seat_num},"section":{name},"row":{label},"price":"{price}","status":"'
                )
    return prefixes


_ENDINGS = {code: f'{status}"}}' for code, status in STATUS_OF.items()}


def seat_list_body(prefixes: Iterable[str], codes: str, wanted: str | None) -> Rendered:
    """The seat list of `codes` (only the seats whose code is `wanted`, when given)."""
    body = ",".join(
        prefix + _ENDINGS[code]
        for prefix, code in zip(prefixes, codes, strict=True)
        if wanted is None or code == wanted
    )
    return Rendered.of(f"[{body}]".encode(), level=1)  # large: gzip's fastest level costs a fifth
