from django.contrib import admin

from apps.common.admin import ReadOnlyAdminMixin

from .models import Reservation, ReservationItem


class ReservationItemInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ReservationItem
    fields = ["seat", "price", "live_seat"]
    readonly_fields = fields
    extra = 0


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Bookings change only through the services that keep seats, inventory and money in step."""

    list_display = ["id", "user", "concert", "concert_date", "status", "total_price", "expires_at", "created_at"]
    list_filter = ["status", "concert_date__concert", "concert_date"]
    search_fields = ["=id", "user__email"]
    list_select_related = ["user", "concert", "concert_date__concert"]
    date_hierarchy = "created_at"
    inlines = [ReservationItemInline]
