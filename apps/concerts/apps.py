from django.apps import AppConfig


class ConcertsConfig(AppConfig):
    name = "apps.concerts"
    label = "concerts"
