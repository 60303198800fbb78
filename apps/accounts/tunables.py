"""The knobs of accounts (see apps.common.tunables)."""

import os
import tempfile
from decimal import Decimal
from pathlib import Path

from apps.common.tunables import tunable

TUNABLES = (
    tunable(
        "PASSWORD_HASHING_CONCURRENCY",
        lambda _: max(1, (os.cpu_count() or 2) // 2),
        cast=int,
        shown_default="half the CPUs (at least 1)",
        unit="count",
        meaning="requests of one machine that may hash a password at once; the rest answer 429 at once",
    ),
    tunable(
        "PASSWORD_HASHING_SLOTS_DIR",
        lambda _: str(Path(tempfile.gettempdir()) / f"ticketing-hashing-{os.getuid()}"),
        cast=str,
        shown_default="a directory under the system temp dir",
        unit="path",
        meaning="where the hashing slots (`flock`ed files shared by the machine's workers) live",
    ),
    tunable(
        "EMAIL_VERIFICATION_MAX_AGE_SECONDS",
        3 * 24 * 3600,
        unit="s",
        meaning="how long an e-mail verification token stays valid",
    ),
    tunable("WALLET_MAX_CHARGE", Decimal("10000000"), unit="money", meaning="the largest single charge"),
    tunable("WALLET_MAX_BALANCE", Decimal("999999999999.99"), unit="money", meaning="the largest wallet balance"),
)
