from django.contrib import admin
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from redis.exceptions import RedisError

from apps.common.admin import ReadOnlyAdminMixin

from .models import QueueOverview
from .selectors import describe, describe_decision, queue_summary


@admin.register(QueueOverview)
class QueueOverviewAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """One Redis summary per row (target, active, waiting, pre-queue and draw, admitted per minute,
    oldest wait) and the admission controller's last decisions."""

    list_display = ["id", "concert", "starts_at", "queue", "decisions"]
    list_select_related = ["concert"]
    search_fields = ["concert__name"]

    @admin.display(description="waiting room")
    def queue(self, obj: QueueOverview) -> str:
        try:
            s = queue_summary(concert_date_id=obj.pk)
        except RedisError:  # Redis down: the page still renders and says so
            return "Redis unavailable"
        return describe(s)

    @admin.display(description="admission controller: last decisions")
    def decisions(self, obj: QueueOverview) -> str:
        try:
            s = queue_summary(concert_date_id=obj.pk)
        except RedisError:
            return "Redis unavailable"
        return format_html_join(mark_safe("<br>"), "{}", ((describe_decision(d),) for d in s.decisions)) or "-"
