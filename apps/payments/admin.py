from django.contrib import admin

from apps.common.admin import ReadOnlyAdminMixin

from .models import Payment


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Payments change only through the payment and cancellation services, with the wallet."""

    list_display = ["id", "user", "reservation", "amount", "status", "paid_at", "refunded_at"]
    list_filter = ["status", "reservation__concert_date__concert", "reservation__concert_date"]
    search_fields = ["=id", "=reservation__id", "user__email"]
    list_select_related = ["user", "reservation"]
    date_hierarchy = "paid_at"
