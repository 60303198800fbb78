"""Where the time of a seat hold goes: pyinstrument over N holds through the full Django stack
(test client: middleware, DRF, JWT, queue-token check, the hold transaction) on MariaDB.

    .venv/bin/python bench/profile_hold.py [--holds 400]

Scratch database `bench_profile`, Redis db 10.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.http_server import drop_database, scratch_env, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holds", type=int, default=400)
    args = parser.parse_args()
    env = scratch_env("bench_profile", 10, MAX_LIVE_HOLDS_PER_USER_PER_DATE="1000000", THROTTLE_HOLD="100000000/min",
                      THROTTLE_HOLD_IP="100000000/min")  # fmt: skip
    setup_django(env)
    import datetime as dt

    from django.utils import timezone
    from pyinstrument import Profiler
    from rest_framework.test import APIClient

    from apps.accounts.services import issue_tokens
    from apps.common.redis import get_redis
    from apps.concerts import services as catalogue
    from apps.concerts.models import Seat
    from apps.queue.services import issue_access_token
    from tests.factories import UserFactory

    get_redis().flushdb()
    rows = args.holds * 2 // 100 + 2
    venue = catalogue.create_venue(name="P", layout=[{"name": "A", "rows": rows, "seats_per_row": 100, "price": "10"}])
    concert = catalogue.create_concert(venue=venue, name="P", artist="P")
    date = catalogue.create_concert_date(concert=concert, starts_at=timezone.now() + dt.timedelta(days=2))
    seats = list(Seat.objects.filter(concert_date=date).order_by("pk").values_list("pk", flat=True))
    user = UserFactory()
    client = APIClient(SERVER_NAME="127.0.0.1")
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user=user)['access']}",
        HTTP_X_QUEUE_TOKEN=issue_access_token(user_id=user.pk, concert_date_id=date.pk).token,
    )
    try:
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for i in range(args.holds):
            response = client.post(
                "/api/reservations", {"concert_date_id": date.pk, "seat_ids": seats[2 * i : 2 * i + 2]}, format="json"
            )
            assert response.status_code == 201, response.content
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False, time="percent_of_total"))
    finally:
        from django.db import connections

        connections.close_all()
        get_redis().flushdb()
        drop_database(env)


if __name__ == "__main__":
    main()
