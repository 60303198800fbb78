"""Fixtures of the cross-cutting tests."""

import pytest
from rest_framework.settings import api_settings


@pytest.fixture
def rates(settings):
    def set_rates(**overrides: str) -> None:
        settings.REST_FRAMEWORK = dict(
            settings.REST_FRAMEWORK, DEFAULT_THROTTLE_RATES=dict(api_settings.DEFAULT_THROTTLE_RATES, **overrides)
        )

    return set_rates
