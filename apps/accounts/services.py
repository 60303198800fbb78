"""Accounts: sign-up, login, token rotation and logout, e-mail verification, and the wallet.

Every write of a balance happens under a row lock on the user (`select_for_update`), and writes
its ledger entry in the same transaction, so the balance always equals the sum of the ledger.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token

from apps.common.db import retry_on_lock_conflict
from apps.common.error_codes import ErrorCode
from apps.common.exceptions import Conflict, InvalidCredentials, NotAuthenticated, ValidationFailed
from apps.common.tasks import enqueue_on_commit

from .authentication import deny_access_token
from .models import LedgerKind, User, WalletTransaction

EMAIL_VERIFICATION_SALT = "accounts.email-verification"


# --- Sign-up, login, tokens -------------------------------------------------------------------


def normalize_email(email: str) -> str:
    return email.strip().lower()


@retry_on_lock_conflict
def signup(*, email: str, password: str, name: str, phone_number: str = "", address: str = "") -> User:
    """Create a USER account and send the verification e-mail after commit.
    Raises EMAIL_TAKEN (409) for a registered e-mail (any case), VALIDATION_ERROR for a weak password."""
    email = normalize_email(email)
    candidate = User(email=email, name=name, phone_number=phone_number, address=address)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise ValidationFailed(exc.messages[0], details={"password": exc.messages}) from None
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(ErrorCode.EMAIL_TAKEN, "An account with this e-mail already exists.")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email, password=password, name=name, phone_number=phone_number, address=address
            )
            from .tasks import send_verification_email

            enqueue_on_commit(send_verification_email, user_id=user.id)
    except IntegrityError:  # a concurrent sign-up with the same e-mail won
        raise Conflict(ErrorCode.EMAIL_TAKEN, "An account with this e-mail already exists.") from None
    return user


def issue_tokens(*, user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def login(*, email: str, password: str) -> dict[str, str]:
    """Access and refresh tokens for valid credentials. Wrong e-mail and wrong password are the same
    INVALID_CREDENTIALS (401), and cost the same password hashing, so existence does not leak."""
    user = authenticate(email=normalize_email(email), password=password)
    if user is None or user.deleted_at is not None:
        raise InvalidCredentials()
    return issue_tokens(user=user)


def _parse_refresh(raw: str) -> RefreshToken:
    try:
        return RefreshToken(raw)  # checks signature, expiry, type and the blacklist
    except TokenError:
        raise NotAuthenticated("The refresh token is invalid, expired or already used.") from None


@retry_on_lock_conflict
def rotate_refresh_token(*, refresh: str) -> dict[str, str]:
    """A new access + refresh pair; the presented refresh token stops working. Two requests racing
    with the same refresh token get one new pair between them: the outstanding token row is locked
    and blacklisted inside one transaction."""
    token = _parse_refresh(refresh)
    with transaction.atomic():
        outstanding = OutstandingToken.objects.select_for_update().filter(jti=token["jti"]).first()
        if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
            raise NotAuthenticated("The refresh token is invalid, expired or already used.")
        BlacklistedToken.objects.create(token=outstanding)
        user = User.objects.filter(
            pk=token[jwt_settings.USER_ID_CLAIM], is_active=True, deleted_at__isnull=True
        ).first()
        if user is None:
            raise NotAuthenticated("The account is not active.")
        return issue_tokens(user=user)


@retry_on_lock_conflict
def logout(*, user_id: int, refresh: str, access_token: Token) -> None:
    """Blacklist the refresh token and deny the presented access token, both or neither."""
    try:
        token = RefreshToken(refresh)
    except TokenError:
        raise ValidationFailed(
            "The refresh token is invalid, expired or already used.", details={"refresh": ["Invalid token."]}
        ) from None
    if str(token.get(jwt_settings.USER_ID_CLAIM)) != str(user_id):
        raise ValidationFailed("The refresh token belongs to another user.", details={"refresh": ["Invalid token."]})
    with transaction.atomic():
        token.blacklist()
        # Inside the transaction: if Redis is down the blacklist entry rolls back too (503).
        deny_access_token(jti=access_token["jti"], expires_at_epoch=int(access_token["exp"]))


# --- E-mail verification ----------------------------------------------------------------------


def make_email_verification_token(*, user: User) -> str:
    return signing.dumps({"uid": user.pk, "email": user.email}, salt=EMAIL_VERIFICATION_SALT)


def verify_email(*, token: str) -> User:
    """Mark the e-mail named by a signed, unexpired verification token as verified.
    Raises VALIDATION_ERROR for a bad, expired or stale token (the e-mail changed since)."""
    invalid = ValidationFailed(
        "The verification link is invalid or has expired.", details={"token": ["Invalid token."]}
    )
    try:
        data = signing.loads(token, salt=EMAIL_VERIFICATION_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE_SECONDS)
    except signing.BadSignature:
        raise invalid from None
    if not isinstance(data, dict):
        raise invalid
    user = User.objects.filter(pk=data.get("uid"), email=data.get("email"), is_active=True).first()
    if user is None:
        raise invalid
    if not user.email_verified:
        User.objects.filter(pk=user.pk).update(email_verified=True)
        user.email_verified = True
    return user


# --- Wallet -----------------------------------------------------------------------------------


def lock_user(*, user_id: int) -> User:
    """Lock the user row (the wallet) until the caller's transaction ends."""
    return User.objects.select_for_update().only("id", "balance").get(pk=user_id)


def _post(*, user_id: int, kind: LedgerKind, amount: Decimal, reference: str) -> WalletTransaction:
    """Apply a signed amount to a locked wallet and write its ledger entry (caller holds a transaction)."""
    wallet = lock_user(user_id=user_id)
    new_balance = wallet.balance + amount
    if new_balance < 0:
        raise Conflict(
            ErrorCode.INSUFFICIENT_BALANCE,
            f"The wallet holds {wallet.balance}; {-amount} is needed.",
            details={"balance": str(wallet.balance), "required": str(-amount)},
        )
    if new_balance > settings.WALLET_MAX_BALANCE:
        raise ValidationFailed(
            "The wallet would exceed its largest balance.", details={"amount": ["The wallet cannot hold this much."]}
        )
    wallet.balance = new_balance
    wallet.save(update_fields=["balance", "updated_at"])
    return WalletTransaction.objects.create(
        user_id=user_id, kind=kind, amount=amount, balance_after=new_balance, reference=reference[:100]
    )


def _positive(amount: Decimal) -> Decimal:
    amount = Decimal(amount)
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed(
            "Amount must be a positive number with at most two decimals.", details={"amount": ["Invalid amount."]}
        )
    return amount


@retry_on_lock_conflict
def charge(*, user: Any, amount: Decimal, reference: str = "") -> WalletTransaction:
    """Add money to the wallet (ledger CHARGE). Raises VALIDATION_ERROR for a bad amount."""
    amount = _positive(amount)
    if amount > settings.WALLET_MAX_CHARGE:
        raise ValidationFailed(
            f"A single charge is at most {settings.WALLET_MAX_CHARGE}.", details={"amount": ["Too large."]}
        )
    with transaction.atomic():
        return _post(user_id=user.pk, kind=LedgerKind.CHARGE, amount=amount, reference=reference or "charge")


@retry_on_lock_conflict
def debit(*, user: Any, amount: Decimal, reference: str) -> WalletTransaction:
    """Take a payment from the wallet (ledger PAYMENT). Raises INSUFFICIENT_BALANCE (409)."""
    amount = _positive(amount)
    with transaction.atomic():
        return _post(user_id=user.pk, kind=LedgerKind.PAYMENT, amount=-amount, reference=reference)


@retry_on_lock_conflict
def refund(*, user: Any, amount: Decimal, reference: str) -> WalletTransaction:
    """Give money back to the wallet (ledger REFUND)."""
    amount = _positive(amount)
    with transaction.atomic():
        return _post(user_id=user.pk, kind=LedgerKind.REFUND, amount=amount, reference=reference)
