"""Demo accounts for `make run` (called by `manage.py seed_demo_users`)."""

from decimal import Decimal

from django.db import transaction

from . import services
from .models import Role, User

DEMO_STAFF = {"email": "staff@example.com", "password": "staff-demo-pass-1", "name": "Demo Staff"}
DEMO_BUYERS = [
    {"email": f"buyer{n}@example.com", "password": "buyer-demo-pass-1", "name": f"Demo Buyer {n}"} for n in (1, 2, 3)
]
DEMO_BUYER_BALANCE = Decimal("500000.00")


def seed_demo_users() -> list[dict[str, str]]:
    """Create the demo staff user and buyers (with a charged wallet) once; return their logins."""
    with transaction.atomic():
        if not User.objects.filter(email=DEMO_STAFF["email"]).exists():
            User.objects.create_user(
                email=DEMO_STAFF["email"],
                password=DEMO_STAFF["password"],
                name=DEMO_STAFF["name"],
                role=Role.STAFF,
                email_verified=True,
            )
        for buyer in DEMO_BUYERS:
            if not User.objects.filter(email=buyer["email"]).exists():
                user = User.objects.create_user(**buyer, email_verified=True)
                services.charge(user=user, amount=DEMO_BUYER_BALANCE, reference="demo wallet")
    return [DEMO_STAFF, *DEMO_BUYERS]
