from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.common.admin import ReadOnlyAdminMixin

from . import services
from .models import TokenFamily, User, WalletTransaction


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-created_at"]
    list_display = ["email", "name", "role", "balance", "email_verified", "is_active", "created_at"]
    list_filter = ["role", "email_verified", "is_active"]
    search_fields = ["email", "name", "phone_number"]
    # The balance moves only through the wallet services, which write the ledger with it.
    readonly_fields = ["balance", "created_at", "updated_at", "last_login", "deleted_at"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["name", "phone_number", "address", "email_verified"]}),
        ("Access", {"fields": ["role", "is_active", "is_superuser", "groups", "user_permissions"]}),
        ("Wallet and dates", {"fields": ["balance", "last_login", "created_at", "updated_at", "deleted_at"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "name", "role", "password1", "password2"]})]
    filter_horizontal = ["groups", "user_permissions"]
    actions = ["end_sessions", "deactivate"]

    @admin.action(description="End every session (log out everywhere)", permissions=["change"])
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user_id in queryset.values_list("pk", flat=True):
            services.end_all_sessions(user_id=user_id)
        self.message_user(request, f"Every session of {queryset.count()} user(s) has ended.", messages.SUCCESS)

    @admin.action(description="Deactivate (and end every session)", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user_id in queryset.values_list("pk", flat=True):
            services.deactivate_user(user_id=user_id)
        self.message_user(request, f"{queryset.count()} user(s) deactivated.", messages.SUCCESS)


@admin.register(TokenFamily)
class TokenFamilyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Login sessions: one row per login, kept through every token rotation until it expires."""

    list_display = ["id", "user", "created_at", "expires_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__email", "id"]
    list_select_related = ["user"]


@admin.register(WalletTransaction)
class WalletTransactionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger is written only by the wallet services, with the balance, in one transaction."""

    list_display = ["id", "user", "kind", "amount", "balance_after", "reference", "created_at"]
    list_filter = ["kind"]
    search_fields = ["user__email", "reference"]
    list_select_related = ["user"]
