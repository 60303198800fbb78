from django.urls import path

from .views import BuyerPageView

urlpatterns = [path("", BuyerPageView.as_view(), name="buyer-page")]
