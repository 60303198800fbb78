"""Metrics across processes as deployed: gunicorn with several workers (gunicorn.conf.py, multiprocess
mode) adds every worker's counts up in one scrape, and a Celery worker serves its own on a port."""

import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from scripts.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": "127.0.0.1", **(headers or {})})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


def test_one_scrape_adds_up_every_gunicorn_worker(gunicorn_server, metrics_token, tmp_path):
    for _ in range(30):  # spread over the workers by the kernel's accept queue
        assert get(f"{gunicorn_server}/api/health/live")[0] == 200
    status, body = get(f"{gunicorn_server}/metrics", {"Authorization": f"Bearer {metrics_token}"})
    assert status == 200
    values = samples(body.decode())
    # Whichever workers served them, the one scrape counts all 30 (each worker writes its own files).
    assert list((tmp_path / "prometheus").glob("counter_*.db"))
    route = (("method", "GET"), ("route", "/api/health/live"), ("status", "200"))
    assert values[("ticketing_http_responses_total", route)] == 30
    assert values[("ticketing_http_request_duration_seconds_count", route[:2])] == 30
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(f"{gunicorn_server}/metrics")
    assert refused.value.code == 401


def test_a_celery_worker_serves_its_metrics_on_its_port(monkeypatch):
    from apps.common import metrics, task_signals

    port = free_port()
    monkeypatch.setenv("CELERY_METRICS_PORT", str(port))
    metrics.task_finished(task="ops.tests.served", state="SUCCESS")
    task_signals.serve_worker_metrics()
    deadline = time.monotonic() + 10
    while True:
        try:
            status, body = get(f"http://127.0.0.1:{port}/metrics")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    assert status == 200
    assert (
        samples(body.decode())[("ticketing_celery_tasks_total", (("state", "SUCCESS"), ("task", "ops.tests.served")))]
        >= 1
    )
