from django.contrib import admin
from redis.exceptions import RedisError

from apps.common.admin import ReadOnlyAdminMixin

from .models import QueueOverview
from .selectors import queue_summary


@admin.register(QueueOverview)
class QueueOverviewAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """One Redis summary per row (waiting, active, admitted per minute, oldest wait)."""

    list_display = ["id", "concert", "starts_at", "queue"]
    list_select_related = ["concert"]
    search_fields = ["concert__name"]

    @admin.display(description="waiting room")
    def queue(self, obj: QueueOverview) -> str:
        try:
            s = queue_summary(concert_date_id=obj.pk)
        except RedisError:  # Redis down: the page still renders and says so
            return "Redis unavailable"
        oldest = "-" if s.oldest_wait_seconds is None else f"{s.oldest_wait_seconds} s"
        return f"{s.waiting} waiting · {s.active} active · {s.admitted_per_minute}/min admitted · oldest wait {oldest}"
