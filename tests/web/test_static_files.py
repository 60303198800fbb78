"""The page's ES modules under the production static storage: hashed names all the way down."""

import re
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command


@pytest.mark.django_db  # the suite's autouse fixtures reach the database
def test_collectstatic_rewrites_module_imports_to_hashed_files(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path
    # Only the page's own files: compressing every app's static files would take a minute.
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATICFILES_DIRS = [Path(apps.get_app_config("web").path) / "static"]
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "apps.web.storage.StaticFilesStorage"}}
    call_command("collectstatic", interactive=False, verbosity=0)

    web = tmp_path / "web"
    modules = [path for path in web.rglob("*.js") if re.search(r"\.[0-9a-f]{12}\.js$", path.name)]
    entry = next(path for path in modules if path.parent == web and path.name.startswith("app."))
    assert len(modules) > 5, "the page is split into modules"
    for module in modules:
        for target in re.findall(r'(?:import|from) "([^"]+)";', module.read_text()):
            assert re.search(r"\.[0-9a-f]{12}\.js$", target), f"{module.name} imports {target}, not the hashed file"
            assert (module.parent / target).resolve().is_file(), (
                f"{module.name} imports {target}, which was not collected"
            )
    assert 'from "./screens/seat-map.' in entry.read_text()
