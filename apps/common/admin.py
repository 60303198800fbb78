from typing import Any

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """Rows that change only through services keeping other tables in step (bookings, the ledger):
    staff may look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
