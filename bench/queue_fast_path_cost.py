"""What the waiting room's two crowd requests cost with and without their fast path
(apps/queue/fast_path.py), beside the bare floor, in this process.

    .venv/bin/python bench/queue_fast_path_cost.py [--requests 400] [--rounds 7]

One Django WSGI handler with the settings' middlewares. In alternating blocks of --requests, with the
fast paths on and then off (QUEUE_ENTRY_FAST_PATH, QUEUE_STATUS_FAST_PATH): `POST /api/queue` by buyers
who have not entered (each block its own fresh buyers: every answer a 201, admitted at once), the same
buyers' `GET /api/queue/status` (200 READY), and the floor, `GET /api/health/live` (DRF with no work,
no token). Each block's CPU time (time.process_time) per request, the median block of each, and each
route's ratio to the floor. The answers are checked (status code) so a block that fell through to an
error is not counted as cheap. Scratch database `bench_queue_fast_path`, Redis db 9.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.in_process import Blocks, environ, report, serve
from bench.scratch import bench_date, scratch_django


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


UNLIMITED = {
    "THROTTLE_QUEUE_ENTER": "100000000/min",
    "THROTTLE_QUEUE_ENTER_IP": "100000000/min",
    "QUEUE_MAX_ACTIVE": "100000000",
    "QUEUE_MIN_ACTIVE": "100000000",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    with scratch_django("bench_queue_fast_path", 9, **UNLIMITED):
        from django.conf import settings
        from django.core.handlers.wsgi import WSGIHandler

        from apps.accounts.models import User
        from apps.accounts.services import issue_tokens

        date = bench_date(seats=1_000)
        handler = WSGIHandler()
        body = json.dumps({"concert_id": date.concert_id, "concert_date_id": date.pk}).encode()
        query = f"concert_id={date.concert_id}&concert_date_id={date.pk}"
        needed = 2 * args.rounds * (args.requests + 20)
        User.objects.bulk_create(
            User(email=f"queue-fast-{i}@example.com", name="Buyer", email_verified=True) for i in range(needed)
        )
        # Each buyer's access token as a login issues it (a session, the e-mail claim), made as needed.
        tokens = (
            issue_tokens(user=u)["access"] for u in User.objects.filter(email__startswith="queue-fast-").order_by("pk")
        )

        def block(kind: str, block_tokens: list[str]) -> float:
            began = time.process_time()
            for token in block_tokens:
                if kind == "entry":
                    serve(handler, environ("POST", "/api/queue", body=body, headers=bearer(token)), "201 Created")
                elif kind == "status":
                    serve(handler, environ("GET", "/api/queue/status", query=query, headers=bearer(token)), "200 OK")
                else:
                    serve(handler, environ("GET", "/api/health/live"), "200 OK")
            return 1e6 * (time.process_time() - began) / len(block_tokens)

        blocks: Blocks = {}
        for _ in range(args.rounds):
            for mode in ("fast path", "full stack"):
                on = mode == "fast path"
                settings.QUEUE_ENTRY_FAST_PATH = settings.QUEUE_STATUS_FAST_PATH = on
                buyers = [next(tokens) for _ in range(args.requests + 20)]
                warm, measured = buyers[:20], buyers[20:]
                for kind in ("entry", "status"):
                    block(kind, warm)
                    blocks.setdefault((kind, mode), []).append(block(kind, measured))
                block("floor", warm)
                blocks.setdefault(("floor", mode), []).append(block("floor", measured))
        report(
            blocks,
            [("entry", "POST /api/queue (201)"), ("status", "GET /api/queue/status")],
            rounds=args.rounds,
            requests=args.requests,
        )


if __name__ == "__main__":
    main()
