"""The knobs of payments (see apps.common.tunables)."""

from apps.common.tunables import hours

TUNABLES = (hours("REFUND_CUTOFF_HOURS", 24, "no refunds closer than this to the show"),)
