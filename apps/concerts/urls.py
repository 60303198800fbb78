from django.urls import path

from . import api

DATE = "concerts/<id:concert_id>/dates/<id:concert_date_id>"  # one date of one concert

urlpatterns = [
    path("concerts", api.ConcertListApi.as_view(), name="concerts"),
    path("concerts/<id:concert_id>", api.ConcertDetailApi.as_view(), name="concert-detail"),
    path("concerts/<id:concert_id>/dates", api.ConcertDateListApi.as_view(), name="concert-dates"),
    path(f"{DATE}/seat-layout", api.SeatLayoutApi.as_view(), name="seat-layout"),
    # The admitted buyers' views (gated by the date's queue access token).
    path(f"{DATE}/seats", api.SeatListApi.as_view(), name="seats"),
    path(f"{DATE}/seat-status", api.SeatStatusApi.as_view(), name="seat-status"),
]
