"""Outbox effects that payments owe (see apps.common.outbox). Each is idempotent."""

from collections.abc import Sequence

from apps.common import lua
from apps.common.lua import Call
from apps.common.models import OutboxEvent
from apps.common.outbox import effect
from apps.queue import services as queue
from apps.reservations.tasks import send_reservation_confirmed_emails
from apps.tickets import services as tickets

from .tasks import send_refund_email

PAYMENT_COMPLETED = "payments.completed"
PAYMENT_REFUNDED = "payments.refunded"


def end_the_access_used(event: OutboxEvent) -> Call:
    """The queue access the payment used is spent, at commit (invariant 6; its place goes to the next
    waiter). Only that access ends: one the buyer was granted after paying (entered the queue again)
    outlives a late run of this effect, and ending it twice is a no-op. One script, returned for the
    outbox to run (after commit, in the payment request's one round trip)."""
    return queue.access_end_call(
        user_id=event.payload["user_id"],
        concert_date_id=event.payload["concert_date_id"],
        expiring_by_ms=event.payload["access_expiring_by_ms"],
    )


def payments_completed(events: Sequence[OutboxEvent]) -> None:
    """`payment_completed` for a relay's batch at once: the accesses end in one Redis round trip, the
    tickets are issued in one transaction and the e-mails go out in one task. Any failure raises, and
    the whole batch is tried again (each part is idempotent)."""
    failures: list[Exception] = []
    with lua.one_round_trip():
        for event in events:
            lua.run_soon(end_the_access_used(event), failed=failures.append)
    if failures:
        raise failures[0]
    tickets.issue_tickets_for(reservation_ids=[event.payload["reservation_id"] for event in events])
    send_reservation_confirmed_emails.apply_async(
        kwargs={"confirmations": [[event.payload["reservation_id"], event.pk] for event in events]}
    )


@effect(PAYMENT_COMPLETED, at_commit=end_the_access_used, many=payments_completed)
def payment_completed(event: OutboxEvent) -> None:
    """The access the payment used ends (again, should that have failed at commit), the reservation's
    tickets are issued (a second run creates none; a booking cancelled meanwhile gets none) and the
    confirmation e-mail goes out (once per event: send_mail_once). The relay performs a batch of them
    at once (`payments_completed`)."""
    payments_completed([event])


@effect(PAYMENT_REFUNDED)
def payment_refunded(event: OutboxEvent) -> None:
    """Tell the buyer about the refund: one e-mail per event (send_mail_once)."""
    send_refund_email.apply_async(kwargs={"payment_id": event.payload["payment_id"], "event_id": event.pk})
