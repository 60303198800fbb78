"""Accounts: sign-up, login, token rotation and logout, e-mail verification, and the wallet.

Every write of a balance happens under a row lock on the user (`select_for_update`), and writes
its ledger entry in the same transaction, so the balance always equals the sum of the ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.expressions import BaseExpression
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from apps.common import outbox
from apps.common.db import (
    PreparedSelect,
    PreparedUpdate,
    Statement,
    StatementResult,
    insert_statement,
    retry_on_lock_conflict,
    run_batch,
)
from apps.common.error_codes import ErrorCode
from apps.common.exceptions import Conflict, InvalidCredentials, NotAuthenticated, ValidationFailed

from . import revocation
from .access_tokens import remembering_backend
from .models import LedgerKind, TokenFamily, User, WalletTransaction
from .tokens import EMAIL_VERIFIED_CLAIM, read_email_verification_token

logger = logging.getLogger(__name__)

# The outbox event of a sign-up: its verification e-mail is owed (performed in effects.py).
VERIFICATION_OWED = "accounts.verification_owed"

# --- Sign-up, login, tokens -------------------------------------------------------------------


def normalize_email(email: str) -> str:
    return email.strip().lower()


def password_problems(*, password: str, email: str = "", name: str = "") -> list[str]:
    """What Django's password validators find wrong with a new account's password (empty: none);
    the e-mail and name feed the similarity check."""
    try:
        validate_password(password, user=User(email=normalize_email(email), name=name))
    except DjangoValidationError as exc:
        return list(exc.messages)
    return []


@retry_on_lock_conflict
def signup(*, email: str, password: str, name: str, phone_number: str = "", address: str = "") -> User:
    """Create a USER account and send the verification e-mail after commit.
    Raises EMAIL_TAKEN (409) for a registered e-mail (any case), VALIDATION_ERROR for a weak password."""
    email = normalize_email(email)
    problems = password_problems(password=password, email=email, name=name)
    if problems:
        raise ValidationFailed(problems[0], details={"password": problems})
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(ErrorCode.EMAIL_TAKEN, "An account with this e-mail already exists.")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email, password=password, name=name, phone_number=phone_number, address=address
            )
            outbox.emit(VERIFICATION_OWED, user_id=user.id)
    except IntegrityError:  # a concurrent sign-up with the same e-mail won
        raise Conflict(ErrorCode.EMAIL_TAKEN, "An account with this e-mail already exists.") from None
    return user


class _SignedRefreshToken(RefreshToken):
    """A refresh token checked for signature, expiry and type; whether it is its session's newest is
    the session row's to say (TokenFamily.refresh_jti). Its signature is checked once per request
    (apps.accounts.access_tokens): the rate limit reads it before the rotation does."""

    @property
    def token_backend(self) -> Any:
        return remembering_backend("refresh")

    def verify(self) -> None:
        Token.verify(self)


def _parse_refresh(raw: str) -> tuple[_SignedRefreshToken, int, str]:
    """The token, its user id and its family, or NOT_AUTHENTICATED (401)."""
    try:
        token = _SignedRefreshToken(raw)
        return token, revocation.user_id_from_claims(token.payload), revocation.family_of(token.payload)
    except (TokenError, revocation.MalformedClaims):
        raise NotAuthenticated("The refresh token is invalid, expired or already used.") from None


def refresh_token_user_id(*, refresh: str) -> int | None:
    """The user a correctly signed, unexpired refresh token names (blacklisted or not), else None."""
    try:
        return revocation.user_id_from_claims(_SignedRefreshToken(refresh).payload)
    except (TokenError, revocation.MalformedClaims):
        return None


def _mint_token_pair(*, user: User, family_id: str) -> tuple[dict[str, str], str, datetime]:
    """A new refresh token of the family and its access token; returns them with the refresh token's
    `jti` and expiry, which the caller records on the family row."""
    refresh = RefreshToken()
    refresh[jwt_settings.USER_ID_CLAIM] = str(user.pk)
    refresh[revocation.FAMILY_CLAIM] = family_id
    refresh[revocation.ISSUED_AT_MS_CLAIM] = revocation.epoch_ms(refresh.current_time)
    refresh[EMAIL_VERIFIED_CLAIM] = bool(user.email_verified)  # copied to the access token
    access = refresh.access_token
    access[revocation.ISSUED_AT_MS_CLAIM] = revocation.epoch_ms(access.current_time)
    pair = {"access": str(access), "refresh": str(refresh)}
    return pair, refresh[jwt_settings.JTI_CLAIM], datetime_from_epoch(refresh["exp"])


def issue_tokens(*, user: User) -> dict[str, str]:
    """Access and refresh tokens of a new session (token family): one INSERT."""
    family_id = uuid4().hex
    pair, jti, expires_at = _mint_token_pair(user=user, family_id=family_id)
    TokenFamily.objects.create(id=family_id, user=user, refresh_jti=jti, expires_at=expires_at)
    return pair


def login(*, email: str, password: str) -> dict[str, str]:
    """Access and refresh tokens for valid credentials. Wrong e-mail and wrong password are the same
    INVALID_CREDENTIALS (401), and cost the same password hashing, so existence does not leak."""
    user = authenticate(email=normalize_email(email), password=password)
    if user is None or user.deleted_at is not None:
        raise InvalidCredentials()
    return issue_tokens(user=user)


class RefreshTokenReplayed(NotAuthenticated):
    default_message = "The refresh token was already used: the session has been ended. Log in again."


# A refresh's two statements, compiled once per process (`PreparedSelect`): what the request costs
# beyond them is the tokens and the framework.
_ACTIVE_USER = PreparedSelect(
    lambda *, user_id: User.objects.filter(pk=user_id, is_active=True, deleted_at__isnull=True),
    fields=["id", "email_verified"],
)
_ROTATE_REFRESH = PreparedUpdate(
    lambda *, family_id, user_id, jti, new_jti, expires_at: (
        TokenFamily.objects.filter(pk=family_id, user_id=user_id, revoked_at__isnull=True, refresh_jti=jti),
        {"refresh_jti": new_jti, "expires_at": expires_at},
    )
)


@retry_on_lock_conflict
def rotate_refresh_token(*, refresh: str) -> dict[str, str]:
    """A new access + refresh pair of the same session; the presented refresh token stops working.

    Two statements, no transaction: the user's row (active, and the e-mail claim the tokens carry),
    then one conditional UPDATE that moves the session's `refresh_jti` from the presented token's to
    the new one's only if the session is live and the presented token is its newest. The row lock of
    that UPDATE serialises rotations of one session, so two racing requests with the same refresh
    token get one new pair between them.

    A refresh token of a live session that is not its newest was rotated already: two parties hold it
    (it was stolen, or leaked from a client), so the whole session is revoked, the tokens issued from
    it included, and the caller gets NOT_AUTHENTICATED (401), as for any invalid, expired or revoked
    token (the loser of a race above included)."""
    token, user_id, family_id = _parse_refresh(refresh)
    jti = token[jwt_settings.JTI_CLAIM]
    if not isinstance(jti, str):
        raise NotAuthenticated("The refresh token is invalid, expired or already used.")
    statement, read = _ACTIVE_USER.statement(user_id=user_id)
    (found,) = run_batch([statement])
    users = read(found)
    if not users:
        raise NotAuthenticated("The account is not active.")
    pair, new_jti, expires_at = _mint_token_pair(user=users[0], family_id=family_id)
    rotate = _ROTATE_REFRESH.statement(
        family_id=family_id, user_id=user_id, jti=jti, new_jti=new_jti, expires_at=expires_at
    )
    (rotated,) = run_batch([rotate])
    if rotated.rowcount:
        return pair
    live = TokenFamily.objects.filter(pk=family_id, user_id=user_id, revoked_at__isnull=True)
    with transaction.atomic():
        replayed = live.update(revoked_at=timezone.now())
        if replayed:
            # Inside the transaction: with Redis down nothing is revoked and the caller gets 503.
            revocation.revoke_family(user_id=user_id, family=family_id)
    if replayed:
        logger.warning("refresh token replayed: session %s of user %s revoked", family_id, user_id)
        raise RefreshTokenReplayed()
    raise NotAuthenticated("The refresh token is invalid, expired or already used.")


@retry_on_lock_conflict
def logout(*, user_id: int, refresh: str, access_token: Token) -> None:
    """End the session: the refresh token, the presented access token and every other token of the
    session (of both tokens' sessions, should they differ) stop working at once, or nothing changes."""
    invalid = ValidationFailed(
        "The refresh token is invalid, expired or already used.", details={"refresh": ["Invalid token."]}
    )
    try:
        _, refresh_user_id, refresh_family = _parse_refresh(refresh)
    except NotAuthenticated:
        raise invalid from None
    if refresh_user_id != user_id:
        raise ValidationFailed("The refresh token belongs to another user.", details={"refresh": ["Invalid token."]})
    families = {refresh_family, revocation.family_of(access_token.payload)}
    with transaction.atomic():
        TokenFamily.objects.filter(pk__in=families, user_id=user_id, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        # Inside the transaction: if Redis is down the database changes roll back too (503).
        for family in sorted(families):
            revocation.revoke_family(user_id=user_id, family=family)


def end_all_sessions(*, user_id: int) -> None:
    """Every token the user holds stops working ("log out everywhere"): refresh tokens through their
    revoked families, access tokens (on every endpoint, the stateless ones included) through the
    Redis stamp. Both or neither: with Redis down the families stay live and the caller gets 503.
    Deactivation calls it inside its own transaction, so a Redis outage undoes that too."""
    with transaction.atomic():
        TokenFamily.objects.filter(user_id=user_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
        revocation.revoke_user_tokens(user_id=user_id)


@retry_on_lock_conflict
def deactivate_user(*, user_id: int) -> None:
    """Deactivate an account: it can no longer log in, and every token it holds stops working at once.
    Saving a user as inactive in the admin does the same (`receivers.end_sessions_of_inactive_user`)."""
    with transaction.atomic():
        User.objects.filter(pk=user_id).update(is_active=False)
        end_all_sessions(user_id=user_id)


def purge_expired_tokens(*, batch_size: int = 1000) -> int:
    """Delete sessions whose newest refresh token has expired: an expired token is refused by its
    signature's `exp` alone, so their rows only grow the table (in batches). Returns how many rows
    were deleted."""
    now = timezone.now()
    deleted = 0
    while True:
        ids = list(
            TokenFamily.objects.filter(expires_at__lt=now).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if ids:
            deleted += TokenFamily.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch_size:
            return deleted


# --- E-mail verification ----------------------------------------------------------------------


def verify_email(*, token: str) -> User:
    """Mark the e-mail named by a signed, unexpired verification token as verified.
    Raises VALIDATION_ERROR for a bad, expired or stale token (the e-mail changed since)."""
    invalid = ValidationFailed(
        "The verification link is invalid or has expired.", details={"token": ["Invalid token."]}
    )
    claims = read_email_verification_token(token)
    if claims is None:
        raise invalid
    user_id, email = claims
    user = User.objects.filter(pk=user_id, email=email, is_active=True).first()
    if user is None:
        raise invalid
    if not user.email_verified:
        User.objects.filter(pk=user.pk).update(email_verified=True)
        user.email_verified = True
    return user


# --- Wallet -----------------------------------------------------------------------------------


def user_lock(*, user_id: int, reading: Mapping[str, BaseExpression] | None = None) -> QuerySet[User]:
    """The locking read of the user row (the wallet: `id` and `balance`) with the scalar subqueries
    `reading` names, as a queryset for a caller that runs it itself (a hold compiles it once per shape).
    A locking read does not lock the rows its subqueries read, and they see what was committed when
    the statement began, which may be before the lock was granted: nothing that must be exact under
    this lock belongs in `reading`."""
    return User.objects.select_for_update().only("id", "balance").annotate(**(reading or {})).filter(pk=user_id)


def lock_user(*, user_id: int) -> User:
    """Lock the user row (the wallet: `id` and `balance`) until the caller's transaction ends."""
    return user_lock(user_id=user_id).get()


def refuse_overdraft(*, balance: Decimal, amount: Decimal) -> None:
    """INSUFFICIENT_BALANCE (409) when a signed `amount` would take the wallet below zero."""
    if balance + amount < 0:
        raise overdraft(balance=balance, amount=amount)


def overdraft(*, balance: Decimal, amount: Decimal) -> Conflict:
    """The INSUFFICIENT_BALANCE (409) of a signed `amount` that would take the wallet below zero."""
    return Conflict(
        ErrorCode.INSUFFICIENT_BALANCE,
        f"The wallet holds {balance}; {-amount} is needed.",
        details={"balance": str(balance), "required": str(-amount)},
    )


def _post_ledger_entry(*, user_id: int, kind: LedgerKind, amount: Decimal, reference: str) -> WalletTransaction:
    """Apply a signed amount to a locked wallet and write its ledger entry (caller holds a transaction)."""
    wallet = lock_user(user_id=user_id)
    new_balance = wallet.balance + amount
    refuse_overdraft(balance=wallet.balance, amount=amount)
    if new_balance > settings.WALLET_MAX_BALANCE:
        raise ValidationFailed(
            "The wallet would exceed its largest balance.", details={"amount": ["The wallet cannot hold this much."]}
        )
    wallet.balance = new_balance
    wallet.save(update_fields=["balance", "updated_at"])
    return WalletTransaction.objects.create(
        user_id=user_id, kind=kind, amount=amount, balance_after=new_balance, reference=reference[:100]
    )


def _positive_amount(amount: Decimal) -> Decimal:
    amount = Decimal(amount)
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed(
            "Amount must be a positive number with at most two decimals.", details={"amount": ["Invalid amount."]}
        )
    return amount


@retry_on_lock_conflict
def charge(*, user: Any, amount: Decimal, reference: str = "") -> WalletTransaction:
    """Add money to the wallet (ledger CHARGE). Raises VALIDATION_ERROR for a bad amount."""
    amount = _positive_amount(amount)
    if amount > settings.WALLET_MAX_CHARGE:
        raise ValidationFailed(
            f"A single charge is at most {settings.WALLET_MAX_CHARGE}.", details={"amount": ["Too large."]}
        )
    with transaction.atomic():
        return _post_ledger_entry(
            user_id=user.pk, kind=LedgerKind.CHARGE, amount=amount, reference=reference or "charge"
        )


def wallet_lock(*, user_id: int) -> tuple[Statement, Callable[[StatementResult], User]]:
    """`lock_user` as a statement for the caller's batch (`run_batch`), and the function that reads
    the locked wallet (id and balance) from its result."""
    statement, read = _WALLET_LOCK.statement(user_id=user_id)
    return statement, lambda result: read(result)[0]


_WALLET_LOCK = PreparedSelect(user_lock, fields=("id", "balance"))
# The debit's balance update, compiled once (apps.common.db.PreparedUpdate).
_SET_BALANCE = PreparedUpdate(
    lambda *, user_id, balance, now: (User.objects.filter(pk=user_id), {"balance": balance, "updated_at": now})
)


def debit_statements(*, wallet: User, amount: Decimal, reference: str) -> tuple[list[Statement], WalletTransaction]:
    """A payment from a wallet the caller's transaction has locked (`wallet_lock`), as statements for
    its batch: the balance update and the ledger entry (PAYMENT), returned unsaved with them. Raises
    INSUFFICIENT_BALANCE (409) before anything is written."""
    amount = -_positive_amount(amount)
    new_balance = wallet.balance + amount
    refuse_overdraft(balance=wallet.balance, amount=amount)
    entry = WalletTransaction(
        user_id=wallet.pk, kind=LedgerKind.PAYMENT, amount=amount, balance_after=new_balance, reference=reference[:100]
    )
    statements = [
        _SET_BALANCE.statement(user_id=wallet.pk, balance=new_balance, now=timezone.now()),
        insert_statement(WalletTransaction, [entry]),
    ]
    wallet.balance = new_balance
    return statements, entry


@retry_on_lock_conflict
def refund(*, user: Any, amount: Decimal, reference: str) -> WalletTransaction:
    """Give money back to the wallet (ledger REFUND)."""
    amount = _positive_amount(amount)
    with transaction.atomic():
        return _post_ledger_entry(user_id=user.pk, kind=LedgerKind.REFUND, amount=amount, reference=reference)
