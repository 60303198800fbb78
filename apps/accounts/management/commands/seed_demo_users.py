from apps.accounts.demo import seed_demo_users
from apps.common.commands import DevelopmentDataCommand


class Command(DevelopmentDataCommand):
    help = (
        "Create the demo staff login and buyers (with charged wallets) that `make run` starts with, and print "
        "their logins. Idempotent. Refused when DEBUG is off unless --force."
    )

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write(self.style.SUCCESS("Demo logins (e-mail / password); the staff login opens /admin/:"))
        for login in seed_demo_users():
            self.stdout.write(f"  {login['email']:<24} {login['password']}")
