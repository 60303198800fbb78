"""The push process: Granian serving the line's event streams (apps/queue/push.py) behind nginx.

    python scripts/push_server.py

Knobs from the environment: PORT (8001), BIND_HOST (127.0.0.1; the container sets 0.0.0.0),
PUSH_WORKERS (1: one process holds thousands of idle streams; add one per ~15,000 listeners),
QUEUE_EVENTS_MAX_CONNECTIONS (streams a process holds before it answers 503). Each stream is an open
file, so the soft open-files limit is raised to the hard one first. Without nginx in front (`make run`)
nothing sends the path here and the page polls.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    from granian import Granian
    from granian.constants import Interfaces

    from scripts.ports import raise_open_files_limit

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ticketing.settings.base")
    streams = int(os.environ.get("QUEUE_EVENTS_MAX_CONNECTIONS", "15000"))
    raise_open_files_limit()
    Granian(
        "apps.queue.push:application",
        address=os.environ.get("BIND_HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8001")),
        interface=Interfaces.ASGI,
        workers=int(os.environ.get("PUSH_WORKERS", "1")),
        backlog=2048,
        backpressure=streams + 256,  # the streams, and room to answer the ones over the limit 503
        websockets=False,
        respawn_failed_workers=True,
        log_level=os.environ.get("PUSH_LOG_LEVEL", "warning"),
        working_dir=ROOT,
    ).serve()


if __name__ == "__main__":
    main()
