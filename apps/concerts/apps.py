from django.apps import AppConfig


class ConcertsConfig(AppConfig):
    name = "apps.concerts"
    label = "concerts"

    def ready(self) -> None:
        from . import effects  # noqa: F401
