"""The service's URLs plus a bare authenticated DRF endpoint that does nothing: the framework's
floor for the queue benchmark (selected with ROOT_URLCONF=bench.floor_urls, never in production)."""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.authentication import StatelessJWTAuthentication
from ticketing.urls import urlpatterns as service_urlpatterns


class FloorApi(APIView):
    authentication_classes = [StatelessJWTAuthentication]

    def get(self, request: Request) -> Response:
        return Response({"user_id": request.user.id})


urlpatterns = [path("api/bench/floor", FloorApi.as_view()), *service_urlpatterns]
