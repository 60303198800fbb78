from django.urls import path

from . import api, draw_api

DATE = "concerts/<id:concert_id>/dates/<id:concert_date_id>"  # the catalogue's path of one date

urlpatterns = [
    path("queue", api.QueueApi.as_view(), name="queue"),
    path("queue/status", api.QueueStatusApi.as_view(), name="queue-status"),
    # The pre-queue's draw, public: anyone can check it.
    path(f"{DATE}/draw", draw_api.DrawApi.as_view(), name="draw"),
    path(f"{DATE}/draw/order", draw_api.DrawOrderApi.as_view(), name="draw-order"),
]
