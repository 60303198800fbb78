from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.error_codes import ErrorCode
from apps.common.exceptions import InvalidCredentials
from apps.common.idempotency import run_idempotent
from apps.common.schema import IDEMPOTENCY_PARAMETER, JsonInput
from apps.common.throttling import ScopedUserRateThrottle, uncount_windows
from apps.common.views import PublicApi

from . import selectors, services
from .hashing_slots import HashingSlotsBusy, hashing_slot
from .serializers import (
    AmountField,
    MeOutputSerializer,
    TokenPairSerializer,
    UserOutputSerializer,
    WalletTransactionSerializer,
)
from .throttling import RefreshRateThrottle, check_not_locked_out, clear_failed_logins, record_failed_login


class SignupApi(PublicApi):
    throttle_scope = "signup"
    error_codes = (ErrorCode.EMAIL_TAKEN,)

    class InputSerializer(JsonInput):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)
        name = serializers.CharField(max_length=100)
        phone_number = serializers.RegexField(r"^\+?[0-9 ()\-]{3,32}$", max_length=32, required=False, allow_blank=True)
        address = serializers.CharField(max_length=255, required=False, allow_blank=True)

        def validate_password(self, value: str) -> str:
            # Here, beside the other fields' checks, so one answer lists every field's errors.
            data = self.initial_data if isinstance(self.initial_data, dict) else {}
            email, name = data.get("email"), data.get("name")
            problems = services.password_problems(
                password=value,
                email=email if isinstance(email, str) else "",
                name=name if isinstance(name, str) else "",
            )
            if problems:
                raise serializers.ValidationError(problems)
            return value

    @extend_schema(request=InputSerializer, responses={201: UserOutputSerializer}, operation_id="auth_signup")
    def post(self, request: Request) -> Response:
        try:
            with hashing_slot():
                user = services.signup(**self.get_input(request))
        except HashingSlotsBusy:
            uncount_windows(getattr(request, "counted_throttle_windows", []))  # the retry pays, not this
            raise
        return Response(UserOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginApi(PublicApi):
    throttle_scope = "login"
    error_codes = (ErrorCode.INVALID_CREDENTIALS,)

    class InputSerializer(JsonInput):
        email = serializers.CharField(max_length=254)
        password = serializers.CharField(max_length=128, trim_whitespace=False)

    @extend_schema(
        request=InputSerializer,
        responses={200: TokenPairSerializer},
        operation_id="auth_login",
        description=(
            "Per client address the `login` rate limit applies; per account, after LOGIN_LOCKOUT_FAILURES "
            "failed logins within LOGIN_LOCKOUT_SECONDS, logins are 429 THROTTLED with Retry-After until "
            "that window ends. A burst of logins waits briefly for the server's password hashing."
        ),
    )
    def post(self, request: Request) -> Response:
        credentials = self.get_input(request)
        check_not_locked_out(email=credentials["email"])
        try:
            with hashing_slot():
                tokens = services.login(**credentials)
        except HashingSlotsBusy:
            uncount_windows(getattr(request, "counted_throttle_windows", []))  # the retry pays, not this
            raise
        except InvalidCredentials:
            record_failed_login(email=credentials["email"])
            raise
        clear_failed_logins(email=credentials["email"])
        return Response(tokens)


class RefreshInputSerializer(JsonInput):
    refresh = serializers.CharField(max_length=2000)


class RefreshApi(PublicApi):
    throttle_classes = [RefreshRateThrottle]
    throttle_scope = "refresh"
    error_codes = (ErrorCode.NOT_AUTHENTICATED,)  # a refresh token that is malformed, expired or used

    @extend_schema(request=RefreshInputSerializer, responses={200: TokenPairSerializer}, operation_id="auth_refresh")
    def post(self, request: Request) -> Response:
        serializer = RefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(services.rotate_refresh_token(refresh=serializer.validated_data["refresh"]))


class LogoutApi(APIView):
    @extend_schema(request=RefreshInputSerializer, responses={204: None}, operation_id="auth_logout")
    def post(self, request: Request) -> Response:
        serializer = RefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.logout(
            user_id=request.user.pk, refresh=serializer.validated_data["refresh"], access_token=request.auth
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class VerifyEmailApi(PublicApi):
    throttle_scope = "verify_email"

    class InputSerializer(JsonInput):
        token = serializers.CharField(max_length=1000)

    @extend_schema(
        request=InputSerializer,
        responses={200: inline_serializer("EmailVerified", {"email_verified": serializers.BooleanField()})},
        operation_id="auth_verify_email",
    )
    def post(self, request: Request) -> Response:
        user = services.verify_email(token=self.get_input(request)["token"])
        return Response({"email_verified": user.email_verified})


class MeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: MeOutputSerializer}, operation_id="users_me")
    def get(self, request: Request) -> Response:
        return Response(MeOutputSerializer(request.user).data)


class BalanceOutputSerializer(serializers.Serializer):
    balance = serializers.DecimalField(max_digits=14, decimal_places=2)


class BalanceApi(APIView):
    @extend_schema(responses={200: BalanceOutputSerializer}, operation_id="wallet_balance")
    def get(self, request: Request) -> Response:
        return Response(BalanceOutputSerializer({"balance": selectors.balance(user_id=request.user.pk)}).data)


class BalanceChargeApi(APIView):
    throttle_classes = [ScopedUserRateThrottle]
    throttle_scope = "charge"

    class InputSerializer(JsonInput):
        amount = AmountField()

    class OutputSerializer(serializers.Serializer):
        balance = serializers.DecimalField(max_digits=14, decimal_places=2)
        transaction_id = serializers.IntegerField()

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
        operation_id="wallet_charge",
        description=f"Add money to the wallet; at most {settings.WALLET_MAX_CHARGE} per charge.",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)

        def work() -> tuple[int, dict]:
            entry = services.charge(user=request.user, amount=serializer.validated_data["amount"])
            body = self.OutputSerializer({"balance": entry.balance_after, "transaction_id": entry.id}).data
            return 200, dict(body)

        return run_idempotent(request=request, scope="wallet.charge", work=work)


class BalanceTransactionListApi(generics.ListAPIView):
    serializer_class = WalletTransactionSerializer

    def get_queryset(self):
        return selectors.ledger(user_id=self.request.user.pk)

    @extend_schema(operation_id="wallet_transactions")
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)
