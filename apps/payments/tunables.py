"""The knobs of payments (see apps.common.tunables)."""

from apps.common.tunables import tunable

TUNABLES = (tunable("REFUND_CUTOFF_HOURS", 24, unit="h", meaning="no refunds closer than this to the show"),)
