"""The apps' tunables: read from the environment with their declared types, each a Django setting,
declared once, and documented by the table generated from them."""

from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.common.tunables import read, tunable
from ticketing import tunables

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_settings_table_of_the_api_doc_is_generated_from_the_declarations():
    text = (ROOT / "docs" / "API.md").read_text()
    assert tunables.documented(text) == text, "run `python -m ticketing.tunables`"
    for declared in tunables.ALL:
        assert f"| `{declared.name}` |" in text


def test_every_tunable_is_a_setting_declared_once_and_read_nowhere_else():
    names = [declared.name for declared in tunables.ALL]
    assert len(names) == len(set(names))
    base = (ROOT / "ticketing" / "settings" / "base.py").read_text()
    for name in names:
        assert hasattr(settings, name), name
        assert f'"{name}"' not in base, f"{name} is read in base.py besides its declaration"


def test_values_come_from_the_environment_with_the_declared_type():
    knobs = (
        tunable("A_SECONDS", 5, unit="s", meaning="an int"),
        tunable("A_SHARE", 0.8, unit="ratio", meaning="a float"),
        tunable("A_PRICE", Decimal("10"), unit="money", meaning="a decimal"),
        tunable("A_SWITCH", False, unit="", meaning="a bool"),
        tunable("A_MODE", "auto", choices=("auto", "fixed"), unit="", meaning="a choice"),
        tunable("A_PACE", lambda earlier: 10 if earlier["A_MODE"] == "fixed" else 2, cast=int, unit="s", meaning="x"),
    )
    assert read(knobs, {}) == {
        "A_SECONDS": 5,
        "A_SHARE": 0.8,
        "A_PRICE": Decimal("10"),
        "A_SWITCH": False,
        "A_MODE": "auto",
        "A_PACE": 2,
    }
    values = read(knobs, {"A_SECONDS": "7", "A_SHARE": "0.5", "A_PRICE": "1.25", "A_SWITCH": "yes", "A_MODE": "fixed"})
    assert values == {
        "A_SECONDS": 7,
        "A_SHARE": 0.5,
        "A_PRICE": Decimal("1.25"),
        "A_SWITCH": True,
        "A_MODE": "fixed",
        "A_PACE": 10,
    }
    assert read(knobs, {"A_PACE": "4"})["A_PACE"] == 4


@pytest.mark.parametrize(
    "environ",
    [{"A_SECONDS": "five"}, {"A_PRICE": "ten"}, {"A_SWITCH": "maybe"}, {"A_MODE": "fast"}],
)
def test_a_value_of_the_wrong_type_stops_the_start(environ):
    knobs = (
        tunable("A_SECONDS", 5, unit="s", meaning="an int"),
        tunable("A_PRICE", Decimal("10"), unit="money", meaning="a decimal"),
        tunable("A_SWITCH", False, unit="", meaning="a bool"),
        tunable("A_MODE", "auto", choices=("auto", "fixed"), unit="", meaning="a choice"),
    )
    with pytest.raises(ImproperlyConfigured):
        read(knobs, environ)


def test_a_knob_declared_twice_is_refused():
    with pytest.raises(ImproperlyConfigured):
        read([tunable("A", 1, unit="", meaning=""), tunable("A", 2, unit="", meaning="")], {})
