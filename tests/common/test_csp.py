"""Content-Security-Policy: strict on every HTML page (the buyer's page, the admin, the API docs),
and those pages still work under it in a real browser (no violation, no script error)."""

import pytest

from tests.factories import DEFAULT_PASSWORD, UserFactory

STRICT = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
}


def directives(response) -> set[str]:
    return {part.strip() for part in response["Content-Security-Policy"].split(";")}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/admin/login/"])
def test_html_pages_send_the_strict_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert directives(response) == STRICT


@pytest.mark.django_db
def test_the_api_docs_add_inline_styles_only(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert directives(response) == STRICT - {"style-src 'self'"} | {"style-src 'self' 'unsafe-inline'"}
    assert b"<script>" not in response.content  # Swagger UI's start-up script comes from a URL
    script = client.get("/api/docs?script")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")


@pytest.mark.django_db
def test_json_responses_do_without_it(api_client):
    response = api_client.get("/api/concerts")
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response


# --- In a browser -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_admin_and_api_docs_work_under_the_policy(page_errors, live_server):
    staff = UserFactory(role="STAFF", is_superuser=True)
    page, errors = page_errors()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", staff.email)
    page.fill("#id_password", DEFAULT_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/accounts/user/{staff.pk}/change/")
    page.wait_for_selector("#user_form")
    page.goto(f"{live_server.url}/api/docs")
    page.wait_for_selector(".opblock", timeout=15000)  # the operations rendered by Swagger UI's script
    page.wait_for_load_state("networkidle")
    assert errors == []
