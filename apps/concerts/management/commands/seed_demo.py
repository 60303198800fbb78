from apps.common.commands import DevelopmentDataCommand
from apps.concerts.demo import seed_demo_catalogue


class Command(DevelopmentDataCommand):
    help = (
        "Load the demo catalogue that `make run` starts with (its logins come from seed_demo_users). "
        "Idempotent: a second run changes nothing. Refused when DEBUG is off unless --force."
    )

    def handle(self, *args: object, **options: object) -> None:
        dates = seed_demo_catalogue()
        self.stdout.write(self.style.SUCCESS(f"Demo catalogue ready ({dates} new concert dates)."))
