from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from apps.common.admin import ReadOnlyAdminMixin

from .models import DoorOverview, Ticket, TicketStatus
from .selectors import door_counts


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Tickets change only through their services: issued on payment, voided by a cancellation,
    checked in at the door."""

    list_display = ["id", "reservation", "concert_date", "seat", "status", "checked_in_at", "checked_in_by"]
    list_filter = ["status", "concert_date"]
    search_fields = ["=id", "=reservation__id", "reservation__user__email"]
    list_select_related = ["reservation", "concert_date__concert", "seat", "checked_in_by"]
    date_hierarchy = "checked_in_at"
    fields = [*list_display, "voided_at", "created_at", "updated_at"]
    readonly_fields = fields


@admin.register(DoorOverview)
class DoorOverviewAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Per date: how many of the tickets sold have come in, in total and by section."""

    list_display = ["id", "concert", "starts_at", "entered_of_sold", "by_section"]
    list_select_related = ["concert"]
    search_fields = ["concert__name"]
    ordering = ["-starts_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[DoorOverview]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                sold=Count("tickets", filter=~Q(tickets__status=TicketStatus.VOID)),
                entered=Count("tickets", filter=Q(tickets__status=TicketStatus.CHECKED_IN)),
            )
        )

    @admin.display(description="entered / sold")
    def entered_of_sold(self, obj: DoorOverview) -> str:
        return format_html("<strong>{}</strong> / {}", obj.entered, obj.sold)

    @admin.display(description="by section (entered / sold, void)")
    def by_section(self, obj: DoorOverview) -> str:
        if not obj.sold:
            return "-"
        rows = door_counts(concert_date_id=obj.pk)
        return format_html_join(
            mark_safe("<br>"), "{}: {} / {}, {} void", ((r.section, r.entered, r.sold, r.void) for r in rows)
        )
