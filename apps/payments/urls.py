from django.urls import path

from . import api

urlpatterns = [
    path("payments", api.PaymentListCreateApi.as_view(), name="payments"),
    path("reservations/<id:reservation_id>/cancel", api.ReservationCancelApi.as_view(), name="reservation-cancel"),
]
