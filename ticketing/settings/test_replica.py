"""The test settings plus a `replica` alias: a test mirror of the primary (the same test database on a
second connection), so the suite can see which alias each query used."""

from .test import *  # noqa: F403
from .test import DATABASES

DATABASES["replica"] = {**DATABASES["default"], "TEST": {**DATABASES["default"].get("TEST", {}), "MIRROR": "default"}}
