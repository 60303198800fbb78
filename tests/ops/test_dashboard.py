"""The Grafana dashboard reads only metrics the service exposes."""

import json
import re
from pathlib import Path

import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from apps.common import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "ticketing.json"


def exposed_sample_names() -> set[str]:
    # Touch every labelled metric once so that each appears in the exposition.
    metrics.observe_request(route="/api/queue/status", method="GET", status=200, seconds=0.001, cpu_seconds=0.0005)
    metrics.api_error(code="THROTTLED", status=429)
    metrics.shed("/api/queue")
    metrics.hold_made()
    metrics.hold_paid()
    metrics.seat_conflict()
    metrics.queue_entered()
    metrics.admission_run(concert_date_id=1, admitted=1, active=1, waiting=1, target_active=1)
    metrics.task_ran(task="t", seconds=0.1, cpu_seconds=0.05)
    metrics.task_waited(task="t", seconds=0.1)
    metrics.task_finished(task="t", state="FAILURE")
    text = metrics.exposition()[0].decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def test_every_panel_queries_an_exposed_metric():
    dashboard = json.loads(DASHBOARD.read_text())
    exposed = exposed_sample_names()
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(queries) >= 15
    used = {name for query in queries for name in re.findall(r"\bticketing_[a-z_]+", query)}
    assert used, queries
    assert used <= exposed, used - exposed
    # The domain signals the on-sale needs are all on the board.
    for needed in ("queue_waiting", "queue_active", "queue_target_active", "queue_admissions_total", "holds_total",
                   "seat_conflicts_total", "payments_total", "sheds_total", "api_errors_total",
                   "celery_task_duration_seconds_bucket", "celery_tasks_total",
                   "http_request_cpu_seconds_total"):  # fmt: skip
        assert f"ticketing_{needed}" in used, needed


def test_the_dashboard_imports_with_a_chosen_prometheus():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    assert {panel["datasource"]["uid"] for panel in dashboard["panels"] if "datasource" in panel} == {
        "${DS_PROMETHEUS}"
    }
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


@pytest.mark.django_db
def test_metrics_endpoint_serves_what_the_dashboard_reads(client):
    with override_settings(METRICS_OPEN=True, METRICS_TOKEN=""):
        client.get("/api/health/live")
        body = client.get("/metrics").content.decode()
    assert 'ticketing_http_responses_total{method="GET",route="/api/health/live",status="200"}' in body
