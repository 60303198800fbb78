from django.urls import path

from . import api

urlpatterns = [
    path(
        "reservations/<id:reservation_id>/tickets", api.ReservationTicketListApi.as_view(), name="reservation-tickets"
    ),
    path("tickets/<id:ticket_id>/qr.svg", api.TicketQrApi.as_view(), name="ticket-qr"),
    path("checkin", api.CheckinApi.as_view(), name="checkin"),
    path("checkin/public-key", api.CheckinPublicKeyApi.as_view(), name="checkin-public-key"),
]
