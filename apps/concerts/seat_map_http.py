"""The seat map's stored bodies over HTTP, for the public layout view and the admitted buyers' seat
views: the views only pick the representation (gzip or not), answer 304 to a matching
`If-None-Match` and set the headers; and the OpenAPI description of all that. `MapVersionInGateTrip`
reads the map's version in the queue gate's round trip, for the gated views that read or change it."""

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from redis.client import Pipeline
from rest_framework.request import Request

from apps.common.queue_gate import QueueGated
from apps.common.schema import request_header

from . import seat_map


def accepts_gzip(request: Request) -> bool:
    """`Accept-Encoding` names gzip (or `*`) without `q=0`."""
    for coding in request.headers.get("Accept-Encoding", "").split(","):
        name, _, params = coding.partition(";")
        if name.strip().lower() in ("gzip", "*"):
            quality = params.strip().lower().removeprefix("q=")
            try:
                return not params.strip() or float(quality) > 0
            except ValueError:
                return False
    return False


def stored_response(request: Request, rendered: seat_map.Rendered, *, cache_control: str) -> HttpResponse:
    """The stored bytes as they are: gzip when accepted, 304 when `If-None-Match` names either
    representation of this body (weak comparison, as RFC 9110 asks for If-None-Match)."""
    gzipped = accepts_gzip(request)
    tags = {tag.removeprefix("W/") for tag in parse_etags(request.headers.get("If-None-Match", ""))}
    if "*" in tags or rendered.etag in tags or rendered.gzip_etag in tags:
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = HttpResponse(rendered.gzipped if gzipped else rendered.body, content_type="application/json")
        if gzipped:
            response["Content-Encoding"] = "gzip"
    response["ETag"] = rendered.gzip_etag if gzipped else rendered.etag
    response["Cache-Control"] = cache_control
    response["Vary"] = "Accept-Encoding"
    return response


# --- OpenAPI pieces of the stored seat-map bodies ----------------------------------------------------

IF_NONE_MATCH = request_header(
    "If-None-Match", "The `ETag` of the copy the client holds: 304 with no body while it is still current."
)
ACCEPT_ENCODING = request_header(
    "Accept-Encoding", "`gzip` to receive the stored gzip bytes (`Content-Encoding: gzip`)."
)


def response_headers(cache_control: str) -> list[OpenApiParameter]:
    return [
        OpenApiParameter("ETag", str, OpenApiParameter.HEADER, response=[200, 304],
                         description="Strong validator of this representation (the gzip one ends in `-gzip`)."),
        OpenApiParameter("Cache-Control", str, OpenApiParameter.HEADER, response=[200, 304],
                         description=f"`{cache_control}`"),
        OpenApiParameter("Vary", str, OpenApiParameter.HEADER, response=[200, 304], description="`Accept-Encoding`"),
        OpenApiParameter("Content-Encoding", str, OpenApiParameter.HEADER, response=[200],
                         description="`gzip` when the client accepted it."),
    ]  # fmt: skip


NOT_MODIFIED = OpenApiResponse(description="Not modified: the `If-None-Match` copy is current. No body.")
LAYOUT_CACHE_CONTROL = "public, max-age=300"
PRIVATE_CACHE_CONTROL = "private, no-cache"  # the browser keeps it and revalidates every time


class MapVersionInGateTrip(QueueGated):
    """A gated view that serves or changes a date's seat map: the map's version travels in the
    queue gate's round trip (`queue_reads`) instead of a round trip of its own, and with it the change
    log after this process's copy (bringing the copy forward then needs no round trip either)."""

    _map_copy_version: int | None = None

    def queue_reads(self, pipe: Pipeline, concert_date_id: int) -> None:
        self._map_copy_version = seat_map.status_copy_version(concert_date_id)
        seat_map.queue_version_read(pipe, concert_date_id, since=self._map_copy_version)

    def map_version(self, concert_date_id: int) -> seat_map.VersionRead | None:
        """The version read in the gate's round trip (None: not read; the seat map reads it then)."""
        access = self.queue_access
        if access is None or not access.read_replies:
            return None
        return seat_map.version_read(concert_date_id, access.read_replies, since=self._map_copy_version)
