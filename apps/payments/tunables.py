"""The knobs of payments (see apps.common.tunables)."""

from apps.common.tunables import hours, tunable

TUNABLES = (
    hours("REFUND_CUTOFF_HOURS", 24, "no refunds closer than this to the show"),
    tunable(
        "PAYMENT_FAST_PATH",
        True,
        unit="",
        meaning="payments answered before the other middlewares and DRF's dispatch (same answer, less CPU)",
    ),
    tunable(
        "PAYMENT_PROCEDURE",
        True,
        unit="",
        meaning="on MariaDB a payment's transaction is one call of a stored procedure (same rows, one round trip)",
    ),
)
