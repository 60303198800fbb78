"""Sessions record their newest refresh token's `jti` (TokenFamily.refresh_jti) instead of one
outstanding-token row per rotation and a blacklist row per rotated token. Live sessions keep working:
each takes the `jti` of its newest refresh token that simplejwt's tables hold as not blacklisted
(those tables, if this database has them, are read with plain SQL: the app that made them is no
longer installed). A session with no such token gets an empty `refresh_jti`, which no token matches."""

import base64
import json

from django.db import migrations, models


def _claims(token: str) -> dict:
    """The payload of a JWT this service signed (read, not verified: it came from its own table)."""
    try:
        body = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (IndexError, ValueError):
        return {}


def carry_live_sessions_over(apps, schema_editor):
    connection = schema_editor.connection
    tables = set(connection.introspection.table_names())
    if not {"token_blacklist_outstandingtoken", "token_blacklist_blacklistedtoken"} <= tables:
        return
    TokenFamily = apps.get_model("accounts", "TokenFamily")
    newest: dict[str, tuple[str, str]] = {}  # family → (created_at, jti) of its newest live refresh token
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT o.jti, o.token, o.created_at FROM token_blacklist_outstandingtoken o"
            " LEFT JOIN token_blacklist_blacklistedtoken b ON b.token_id = o.id WHERE b.id IS NULL"
        )
        for jti, token, created_at in cursor.fetchall():
            family = _claims(token).get("fam")
            if isinstance(family, str) and (family not in newest or str(created_at) > newest[family][0]):
                newest[family] = (str(created_at), jti)
    for family, (_, jti) in newest.items():
        TokenFamily.objects.filter(pk=family, revoked_at__isnull=True).update(refresh_jti=jti)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_token_family"),
    ]

    operations = [
        migrations.AddField(
            model_name="tokenfamily",
            name="refresh_jti",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(carry_live_sessions_over, migrations.RunPython.noop),
    ]
