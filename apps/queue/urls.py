from django.urls import path

from . import api

urlpatterns = [
    path("queue", api.QueueApi.as_view(), name="queue"),
    path("queue/status", api.QueueStatusApi.as_view(), name="queue-status"),
    path("reservations/token", api.ReservationTokenApi.as_view(), name="reservation-token"),
]
