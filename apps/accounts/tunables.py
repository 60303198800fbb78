"""The knobs of accounts (see apps.common.tunables)."""

import os
import tempfile
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from apps.common.tunables import count, seconds, text, tunable


def _half_the_cpus(_: Mapping[str, Any]) -> int:
    """half the CPUs (at least 1)"""
    return max(1, (os.cpu_count() or 2) // 2)


def _a_temp_dir(_: Mapping[str, Any]) -> str:
    """a directory under the system temp dir"""
    return str(Path(tempfile.gettempdir()) / f"ticketing-hashing-{os.getuid()}")


TUNABLES = (
    count("PASSWORD_HASHING_CONCURRENCY", _half_the_cpus, "password hashes one machine runs at once; more get 429"),
    text(
        "PASSWORD_HASHING_SLOTS_DIR",
        _a_temp_dir,
        "where the machine's hashing slots (`flock`ed files) are",
        unit="path",
    ),
    seconds("PASSWORD_HASHING_WAIT_SECONDS", 3.0, "how long a login waits for a hashing slot before its 429"),
    count("LOGIN_LOCKOUT_FAILURES", 5, "failed logins of one e-mail within LOGIN_LOCKOUT_SECONDS that lock it"),
    seconds("LOGIN_LOCKOUT_SECONDS", 900, "the window of LOGIN_LOCKOUT_FAILURES, and how long the lockout lasts"),
    count(
        "VERIFIED_ACCESS_TOKENS_KEPT",
        20_000,
        "access tokens a web process remembers as verified: the next request with one skips the signature check "
        "(0: none)",
    ),
    seconds("EMAIL_VERIFICATION_MAX_AGE_SECONDS", 3 * 24 * 3600, "how long an e-mail verification token is valid"),
    tunable("WALLET_MAX_CHARGE", Decimal("10000000"), unit="money", meaning="the largest single charge"),
    tunable("WALLET_MAX_BALANCE", Decimal("999999999999.99"), unit="money", meaning="the largest wallet balance"),
)
