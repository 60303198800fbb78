from django.conf import settings
from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class IdempotencyKey(TimeStampedModel):
    """The first response to an `Idempotency-Key`, replayed for the same key and body."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    scope = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_created")]  # the purge

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class OutboxStatus(models.TextChoices):
    PENDING = "PENDING", "pending"
    DONE = "DONE", "done"
    FAILED = "FAILED", "failed"


class OutboxEvent(TimeStampedModel):
    """An effect outside the database (an e-mail, ending queue access, dropping a cache) that a
    committed change owes. Written in the change's own transaction, so it exists exactly when the
    change does; the relay (apps.common.outbox) performs it after commit and marks it done."""

    kind = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The earliest moment the relay may (re)try it: now, after a backoff, or when a claim's lease ends.
    available_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "available_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class SentEmail(models.Model):
    """An e-mail that has been handed to the mail server, keyed by what caused it (the outbox event),
    so a relay or a task that runs twice never sends it twice."""

    key = models.CharField(max_length=100, unique=True)
    sent_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key
