"""Domain events of the catalogue, sent through transaction.on_commit."""

from django.dispatch import Signal

# A seat of this concert date changed status (held, reserved, released). kwargs: concert_date_id.
seats_changed = Signal()
