from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from apps.common.admin import ReadOnlyAdminMixin

from .models import User, WalletTransaction


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


@admin.register(WalletTransaction)
class WalletTransactionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger is written only by the wallet services, with the balance, in one transaction."""

    list_display = ["id", "user", "kind", "amount", "balance_after", "reference", "created_at"]
    list_filter = ["kind"]
    search_fields = ["user__email", "reference"]
    list_select_related = ["user"]
