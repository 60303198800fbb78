"""The demo-data commands (DevelopmentDataCommand) refuse to run against what looks like production."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.accounts.demo import DEMO_BUYERS
from apps.accounts.models import User
from apps.concerts.models import ConcertDate

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("command", "model", "count"), [("seed_demo_users", User, 1 + len(DEMO_BUYERS)), ("seed_demo", ConcertDate, 5)]
)
def test_demo_commands_refuse_when_debug_is_off_unless_forced(settings, command, model, count):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command(command, stdout=StringIO())
    assert not model.objects.exists()
    call_command(command, "--force", stdout=StringIO())
    assert model.objects.count() == count
