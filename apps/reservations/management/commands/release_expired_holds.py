from django.core.management.base import BaseCommand

from apps.reservations.services import release_expired_holds


class Command(BaseCommand):
    help = "Release every expired seat hold now (what the Celery beat sweep does every few seconds)."

    def handle(self, *args: object, **options: object) -> None:
        released = release_expired_holds()
        self.stdout.write(self.style.SUCCESS(f"released {released} expired hold(s)"))
