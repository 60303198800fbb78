from django.urls import path

from . import api

urlpatterns = [
    path("reservations/token", api.ReservationTokenApi.as_view(), name="reservation-token"),
    path("reservations", api.ReservationListCreateApi.as_view(), name="reservations"),
    path("reservations/<id:reservation_id>", api.ReservationDetailApi.as_view(), name="reservation-detail"),
    path("reservations/<id:reservation_id>/cancel", api.ReservationCancelApi.as_view(), name="reservation-cancel"),
]
