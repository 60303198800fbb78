from django.urls import path

from . import api

urlpatterns = [
    path("reservations", api.ReservationListCreateApi.as_view(), name="reservations"),
    path("reservations/<id:reservation_id>", api.ReservationDetailApi.as_view(), name="reservation-detail"),
]
