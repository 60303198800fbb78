from django.urls import path

from . import api

urlpatterns = [
    path("payments", api.PaymentListCreateApi.as_view(), name="payments"),
]
