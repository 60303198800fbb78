from django.urls import path

from . import api, draw_api

DATE = "concerts/<id:concert_id>/dates/<id:concert_date_id>"  # the catalogue's path of one date

urlpatterns = [
    path("queue", api.QueueApi.as_view(), name="queue"),
    path("queue/status", api.QueueStatusApi.as_view(), name="queue-status"),
    path("reservations/token", api.ReservationTokenApi.as_view(), name="reservation-token"),
    # The seat views of admitted buyers (gated by the queue token; the public layout is the catalogue's).
    path(f"{DATE}/seats", api.SeatListApi.as_view(), name="seats"),
    path(f"{DATE}/seat-status", api.SeatStatusApi.as_view(), name="seat-status"),
    # The pre-queue's draw, public: anyone can check it.
    path(f"{DATE}/draw", draw_api.DrawApi.as_view(), name="draw"),
    path(f"{DATE}/draw/order", draw_api.DrawOrderApi.as_view(), name="draw-order"),
]
