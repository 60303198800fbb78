"""Opt-in error reporting: Sentry with the Django and Celery integrations, started from the settings
only when SENTRY_DSN is set. Events carry the request id of the logs (tag `request_id`)."""

from __future__ import annotations

from typing import Any

from .logs import current_request_id


def _tag_request_id(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def init_sentry(*, dsn: str, environment: str, release: str | None, traces_sample_rate: float) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        environment=environment,
        release=release,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,  # no e-mail addresses, cookies or bodies leave the service
        before_send=_tag_request_id,
    )
