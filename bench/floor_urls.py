"""The service's URLs plus two authenticated DRF endpoints that do nothing, the framework floors of
the HTTP benchmarks (selected with ROOT_URLCONF=bench.floor_urls, never in production):

- `api/bench/floor/bare`: DRF + simplejwt's own `JWTStatelessUserAuthentication` and `AccessToken`, no
  Redis, no database: the bare floor every HTTP benchmark reports its ratios against;
- `api/bench/floor`: the project's stateless authentication, which adds the logout deny-list round trip.
"""

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.authentication import JWTStatelessUserAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.tokens import AccessToken, Token

from apps.accounts.authentication import StatelessJWTAuthentication
from ticketing.urls import urlpatterns as service_urlpatterns


class FloorApi(APIView):
    authentication_classes = [StatelessJWTAuthentication]

    def get(self, request: Request) -> Response:
        return Response({"user_id": request.user.id})


class BareJWTAuthentication(JWTStatelessUserAuthentication):
    """simplejwt's own, with simplejwt's own `AccessToken`: every token checked in full, whatever the
    service's settings say (the service remembers the tokens it verified, apps/accounts/access_tokens.py)."""

    def get_validated_token(self, raw_token: bytes) -> Token:
        try:
            return AccessToken(raw_token)
        except TokenError as exc:
            raise InvalidToken({"detail": str(exc)}) from exc


class BareFloorApi(APIView):
    authentication_classes = [BareJWTAuthentication]

    def get(self, request: Request) -> Response:
        return Response({"user_id": request.user.id})


urlpatterns = [
    path("api/bench/floor", FloorApi.as_view()),
    path("api/bench/floor/bare", BareFloorApi.as_view()),
    *service_urlpatterns,
]
