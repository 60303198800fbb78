"""The waiting room's writes, as other apps and the operators' commands call them.

The work is split by concern: `keys` (the Redis layout and its clock), `tokens` (access tokens and
their revocation), `line` (enter, status, leave) and `admission` (letting waiters through).
"""

from .admission import AdmissionRun, admit_all_dates, admit_next_batch, reset_queue
from .line import QueueState, enter_queue, leave_queue, queue_status
from .tokens import (
    AccessGrant,
    access_end_call,
    end_access,
    issue_access_token,
    latest_expiry_of_access_granted_by,
)

__all__ = [
    "AccessGrant",
    "AdmissionRun",
    "QueueState",
    "access_end_call",
    "admit_all_dates",
    "admit_next_batch",
    "end_access",
    "enter_queue",
    "issue_access_token",
    "latest_expiry_of_access_granted_by",
    "leave_queue",
    "queue_status",
    "reset_queue",
]
