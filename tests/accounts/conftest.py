"""Fixtures of the accounts tests."""

import pytest

from ticketing.settings import base


@pytest.fixture
def production_hashers(settings):
    settings.PASSWORD_HASHERS = base.PASSWORD_HASHERS  # the test settings hash with MD5, for speed
