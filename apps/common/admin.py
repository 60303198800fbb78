from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import outbox
from .models import OutboxEvent, OutboxStatus


class ReadOnlyAdminMixin:
    """Rows that change only through services keeping other tables in step (bookings, the ledger):
    staff may look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OutboxStateFilter(admin.SimpleListFilter):
    """Opens on what needs attention (pending or failed); "all" shows the done ones too."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("all", "All"), *((status.value, status.label.capitalize()) for status in OutboxStatus)]

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Pending or failed",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> QuerySet[OutboxEvent]:
        if self.value() == "all":
            return queryset
        if self.value() in OutboxStatus.values:
            return queryset.filter(status=self.value())
        return queryset.filter(status__in=[OutboxStatus.PENDING, OutboxStatus.FAILED])


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Pending and failed effects at a glance; failed ones can be sent back to the relay."""

    list_display = ("id", "kind", "status", "attempts", "available_at", "created_at", "short_error")
    list_filter = (OutboxStateFilter, "kind")
    search_fields = ("=id", "kind", "last_error")
    ordering = ("-id",)
    readonly_fields = ("kind", "payload", "status", "attempts", "available_at", "done_at", "last_error", "created_at")
    actions = ("retry_selected",)

    @admin.display(description="last error")
    def short_error(self, event: OutboxEvent) -> str:
        return event.last_error[:80]

    @admin.action(description="Retry the selected events now (fresh attempt count)")
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        count = outbox.retry(event_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} event(s) queued for the relay again.", messages.SUCCESS)
