from django.urls import path

from .views import BuyerPageView, CheckinPageView

urlpatterns = [
    path("", BuyerPageView.as_view(), name="buyer-page"),
    path("checkin/", CheckinPageView.as_view(), name="checkin-page"),
]
