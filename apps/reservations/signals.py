"""Domain events of reservations, sent through transaction.on_commit (nothing reacts to a rollback)."""

from django.dispatch import Signal

# A payment completed and the hold became a booking. kwargs: reservation_id, user_id, concert_date_id.
reservation_confirmed = Signal()
# A reservation was cancelled by its owner (a confirmed one was refunded). kwargs as above.
reservation_cancelled = Signal()
