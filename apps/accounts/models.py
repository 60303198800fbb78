from decimal import Decimal
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.models import PermissionsMixin
from django.db import models, transaction

from apps.common.models import TimeStampedModel

MONEY = {"max_digits": 14, "decimal_places": 2}


class Role(models.TextChoices):
    USER = "USER", "User"
    STAFF = "STAFF", "Staff"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: object) -> "User":
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> "User":
        fields.setdefault("role", Role.STAFF)
        fields.setdefault("is_superuser", True)
        fields.setdefault("email_verified", True)
        return self.create_user(email, password, **fields)


# Model permissions a STAFF user has in the admin without being a superuser: venue and concert
# staff run the catalogue; bookings, payments and users are theirs to look at, not to edit.
STAFF_MANAGED_APPS = {"concerts"}
STAFF_VIEW_APPS = {"accounts", "reservations", "payments", "queue", "tickets"}


class User(AbstractBaseUser, PermissionsMixin, TimeStampedModel):
    # Stored lower-cased (the manager and signup normalise it), so uniqueness is case-insensitive.
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.USER)
    balance = models.DecimalField(**MONEY, default=Decimal("0.00"))
    address = models.CharField(max_length=255, blank=True, default="")
    phone_number = models.CharField(max_length=32, blank=True, default="")
    email_verified = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        db_table = "users"
        constraints = [
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="users_balance_non_negative"),
        ]

    def __str__(self) -> str:
        return self.email

    # The password hash as last read from or written to the database (None: not known here).
    _stored_password: str | None = None

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any) -> "User":
        user = super().from_db(db, field_names, values)
        user._stored_password = user.__dict__.get("password")
        return user

    def password_replaced(self) -> bool:
        """Whether the save in progress replaces a password someone could log in with: `set_password()`
        was called (AbstractBaseUser keeps the raw password until the save; re-hashing at login does
        not) on an account that had one, or whose old hash this object does not know."""
        if self._password is None:
            return False
        old = self._stored_password
        return old is None or (bool(old) and is_password_usable(old))

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A new password and the end of every session it implies (receivers) commit together.
        if self._state.adding or not self.password_replaced():
            super().save(*args, **kwargs)
        else:
            with transaction.atomic(using=kwargs.get("using") or self._state.db):
                super().save(*args, **kwargs)
        self._stored_password = self.__dict__.get("password")  # never loads a deferred field (the wallet's)

    @property
    def is_staff(self) -> bool:
        """Who may enter the admin: STAFF users and superusers."""
        return self.is_active and (self.role == Role.STAFF or self.is_superuser)

    def has_perm(self, perm: str, obj: object = None) -> bool:
        if self.is_active and self.role == Role.STAFF and not self.is_superuser:
            app_label, _, codename = perm.partition(".")
            if app_label in STAFF_MANAGED_APPS:
                return True
            if app_label in STAFF_VIEW_APPS and codename.startswith("view_"):
                return True
        return super().has_perm(perm, obj)

    def has_module_perms(self, app_label: str) -> bool:
        if self.is_active and self.role == Role.STAFF and app_label in STAFF_MANAGED_APPS | STAFF_VIEW_APPS:
            return True
        return super().has_module_perms(app_label)


class LedgerKind(models.TextChoices):
    CHARGE = "CHARGE", "Charge"
    PAYMENT = "PAYMENT", "Payment"
    REFUND = "REFUND", "Refund"


class WalletTransaction(TimeStampedModel):
    """One movement of a wallet. `amount` is signed (a payment is negative), so a wallet's balance
    is always the sum of its ledger, and `balance_after` is the balance right after this entry."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="wallet_transactions")
    kind = models.CharField(max_length=10, choices=LedgerKind.choices)
    amount = models.DecimalField(**MONEY)
    balance_after = models.DecimalField(**MONEY)
    reference = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        db_table = "wallet_transaction"
        indexes = [models.Index(fields=["user", "-created_at", "-id"], name="wallet_tx_user_recent")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(balance_after__gte=0), name="wallet_tx_balance_after_non_negative"
            ),
            models.CheckConstraint(condition=~models.Q(amount=0), name="wallet_tx_amount_non_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.user_id})"


class TokenFamily(models.Model):
    """One login session: the chain of refresh tokens rotated from one login, and every access token
    issued from them (they carry its id in the `fam` claim). Revoking the family (logout, a replayed
    refresh token) ends them all; the row is the durable record that refuses its refresh tokens: a
    refresh token is good while its family is live and its `jti` is the family's `refresh_jti`."""

    id = models.CharField(primary_key=True, max_length=32)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # The `jti` of the family's newest refresh token, the only one that rotates: an older token of the
    # family presented again is a replay, and revokes the family.
    refresh_jti = models.CharField(max_length=64)
    # When the newest refresh token of the family expires: after that the row can be purged.
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "token_family"
        indexes = [
            models.Index(fields=["expires_at"], name="token_family_expires"),
            models.Index(fields=["user", "revoked_at"], name="token_family_user_live"),
        ]

    def __str__(self) -> str:
        return f"{self.id} ({self.user_id})"
