"""What the outbox relay costs a payment: the confirmation's effects (the access ended again, the
tickets issued, the e-mail sent) performed by `outbox.relay()` for a sale's worth of payments.

    .venv/bin/python bench/relay_cost.py [--payments 300] [--rounds 3]

Each round makes --payments paid bookings (a buyer each, 2 seats, through the services, their effects'
urgent part run at commit as in production), drains the holds' seat-map events, then times one relay
over the payments' events with Celery eager (the e-mail tasks run in this process, to a dummy mail
backend): wall and this process's CPU per payment, and the relay's database round trips. Run it in two
checkouts one after the other for a before and after. Scratch database `bench_relay`, Redis db
--redis-db (default 13; only that db is flushed, before and after).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import bench_date, scratch_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=300, help="payments per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redis-db", type=int, default=13)
    args = parser.parse_args()
    with scratch_django("bench_relay", args.redis_db, CELERY_TASK_ALWAYS_EAGER="True", EMAIL_URL="dummymail://"):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from apps.common import outbox
        from apps.common.models import OutboxEvent
        from apps.payments import services as payments
        from apps.reservations import services as reservations
        from tests.factories import UserFactory
        from tests.helpers import fund

        date = bench_date(seats=args.payments * 2 * args.rounds + 10)
        seats = iter(list(date.seats.order_by("pk").values_list("pk", flat=True)))
        cpu_ms, wall_ms, trips = [], [], []
        for round_no in range(1, args.rounds + 1):
            for _ in range(args.payments):
                buyer = UserFactory()
                fund(buyer)
                hold = reservations.hold_seats(user=buyer, concert_date_id=date.pk, seat_ids=[next(seats), next(seats)])
                payments.pay_for_reservation(user=buyer, reservation_id=hold.pk)
            # The holds' and charges' events first: the row measures the payments' alone.
            OutboxEvent.objects.exclude(kind="payments.completed").filter(status="PENDING").update(status="DONE")
            pending = OutboxEvent.objects.filter(status="PENDING").count()
            cpu, wall = time.process_time(), time.perf_counter()
            with CaptureQueriesContext(connection) as queries:
                done = outbox.relay().done
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            assert done == pending == args.payments, (done, pending)
            cpu_ms.append(1000 * cpu / done)
            wall_ms.append(1000 * wall / done)
            trips.append(len(queries.captured_queries) / done)
            print(f"round {round_no}: relay of {done} payments: {wall_ms[-1]:.2f} ms a payment, CPU {cpu_ms[-1]:.2f} ms,"
                  f" {trips[-1]:.1f} statements")  # fmt: skip
        print(f"median: {statistics.median(wall_ms):.2f} ms a payment, CPU {statistics.median(cpu_ms):.2f} ms,"
              f" {statistics.median(trips):.1f} statements a payment")  # fmt: skip


if __name__ == "__main__":
    main()
