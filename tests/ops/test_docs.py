"""The documents a person who clones the repository gets: complete on error codes, and nothing points
outside the repository."""

import re
import subprocess
from pathlib import Path

from apps.common.error_codes import STATUS_OF, ErrorCode

ROOT = Path(__file__).resolve().parents[2]
API = (ROOT / "docs" / "API.md").read_text()


def test_every_error_code_is_documented_with_its_status():
    rows = {code: int(status) for status, code in re.findall(r"^\| (\d{3}) \| `([A-Z_]+)` \|", API, re.M)}
    assert set(rows) == {code.value for code in ErrorCode}
    assert rows == {code.value: status for code, status in STATUS_OF.items()}


def test_the_readme_links_the_documents():
    readme = (ROOT / "README.md").read_text()
    for document in ("docs/API.md", "docs/DESIGN.md"):
        assert f"]({document})" in readme
        assert (ROOT / document).is_file()
    assert "## Prerequisites" in readme
    for needed in ("TEST_DATABASE_URL", "TEST_REDIS_URL", "Chromium"):
        assert needed in readme


def test_no_tracked_file_refers_to_documents_outside_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile(r"\.\./shared|/work/(?:shared|main|wt)\b")
    offenders = []
    for name in files:
        path = ROOT / name
        if path.suffix in {".png", ".jpg", ".ico", ".woff2"} or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        if outside.search(text) and name != "tests/ops/test_docs.py":
            offenders.append(name)
    assert offenders == []
