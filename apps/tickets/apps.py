from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "apps.tickets"
    label = "tickets"

    def ready(self) -> None:
        from . import checks  # noqa: F401
