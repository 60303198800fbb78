from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "apps.payments"
    label = "payments"

    def ready(self) -> None:
        from apps.reservations import services as reservations

        from . import effects  # noqa: F401
        from .services import undo_booking

        reservations.set_booking_undo(undo_booking)
