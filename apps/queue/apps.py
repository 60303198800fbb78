from django.apps import AppConfig


class QueueConfig(AppConfig):
    name = "apps.queue"
    label = "queue"

    def ready(self) -> None:
        from . import receivers  # noqa: F401
