from django.core.management.base import BaseCommand

from apps.accounts.demo import seed_demo_users
from apps.concerts.demo import seed_demo_catalogue


class Command(BaseCommand):
    help = "Load the demo data that `make run` starts with. Idempotent: a second run changes nothing."

    def handle(self, *args: object, **options: object) -> None:
        logins = seed_demo_users()
        dates = seed_demo_catalogue()
        self.stdout.write(self.style.SUCCESS(f"Demo catalogue ready ({dates} new concert dates)."))
        self.stdout.write(self.style.SUCCESS("Demo logins (e-mail / password); the staff login opens /admin/:"))
        for login in logins:
            self.stdout.write(f"  {login['email']:<24} {login['password']}")
