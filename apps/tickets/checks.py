"""`manage.py check` (and so `check --deploy`) says what is wrong with TICKET_SIGNING_KEY, which
would otherwise fail only at the first payment's tickets. With DEBUG off a missing key stops the
settings from loading at all (ticketing/settings/base.py says why); with DEBUG on it is a warning,
so development commands still run."""

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from .signing import private_key_from_setting

SETTING_HELP = (
    "Set TICKET_SIGNING_KEY to base64 of a raw 32-byte Ed25519 private key, e.g. "
    "python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'. "
    "`make run` makes a development key under .run/."
)


@checks.register(checks.Tags.security)
def ticket_signing_key(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    value = settings.TICKET_SIGNING_KEY
    if not value:
        return [
            checks.Warning(
                "TICKET_SIGNING_KEY is not set: tickets can be neither issued nor checked in.",
                hint=SETTING_HELP,
                id="tickets.W001",
            )
        ]
    try:
        private_key_from_setting(value)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), hint=SETTING_HELP, id="tickets.E001")]
    return []
