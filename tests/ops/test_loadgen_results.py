"""The load generator's results from several processes merge into one, as one process would have written
it (scripts/loadgen_results.py)."""

from scripts import loadgen_results


def part(*, started_at, journeys, supports, lag, statuses, timeline, latencies, errors=(), pauses=(), full=(0, 0.0)):
    return {
        "started_at": started_at,
        "server_supports": supports,
        "journeys": journeys,
        "latencies": latencies,
        "timeline": timeline,
        "statuses": statuses,
        "missing_retry_after": {"POST /api/queue": 1},
        "server_errors": list(errors),
        "loop_lag": lag,
        "gc_pause": list(pauses),
        "gc_full": {"automatic": False, "collections": full[0], "ms": full[1], "max_rss_mb": 100},
    }


FIRST = part(
    started_at=100.0,
    journeys=[{"user_id": 1, "outcome": "paid"}],
    supports={"sold_out": True, "best_available": True, "sold_out_stream": None},
    lag=[[0, 30.0], [5, 900.0]],
    statuses={"POST /api/reservations": {"201": 3, "409": 1}},
    timeline=[["POST /api/reservations", 0, [10.0, 20.0]], ["POST /api/payments", 5, [40.0]]],
    latencies={"POST /api/reservations": [10.0, 20.0], "POST /api/payments": [40.0]},
    errors=["GET /x 500"] * 40,
    pauses=[[0, 2.0], [5, 40.0]],
    full=(1, 35.5),
)
SECOND = part(
    started_at=99.5,
    journeys=[{"user_id": 2, "outcome": "sold out"}],
    supports={"sold_out": False, "best_available": False, "sold_out_stream": True},
    lag=[[5, 1200.0], [10, 5.0]],
    statuses={"POST /api/reservations": {"201": 2}, "GET /api/queue/status": {"200": 7}},
    timeline=[["POST /api/reservations", 0, [30.0]]],
    latencies={"POST /api/reservations": [30.0], "GET /api/queue/status": [2.0]},
    errors=["GET /y 500"] * 40,
    pauses=[[5, 900.0], [15, 1.0]],
    full=(2, 1400.0),
)


def test_one_process_is_its_own_result():
    assert loadgen_results.merge([FIRST]) == FIRST


def test_the_processes_results_add_up():
    merged = loadgen_results.merge([FIRST, SECOND])
    assert merged["started_at"] == 99.5
    assert [j["user_id"] for j in merged["journeys"]] == [1, 2]
    assert merged["latencies"] == {
        "POST /api/reservations": [10.0, 20.0, 30.0],
        "POST /api/payments": [40.0],
        "GET /api/queue/status": [2.0],
    }
    # Each window's latencies from every process, in the windows' order.
    assert merged["timeline"] == [
        ["POST /api/payments", 5, [40.0]],
        ["POST /api/reservations", 0, [10.0, 20.0, 30.0]],
    ]
    assert merged["statuses"] == {
        "POST /api/reservations": {"201": 5, "409": 1},
        "GET /api/queue/status": {"200": 7},
    }
    assert merged["missing_retry_after"] == {"POST /api/queue": 2}
    assert len(merged["server_errors"]) == loadgen_results.MAX_SERVER_ERRORS
    # A window's lag is the worst any process had in it.
    assert merged["loop_lag"] == [[0, 30.0], [5, 1200.0], [10, 5.0]]
    # So is its collector's longest pause; the full collections and their time add up.
    assert merged["gc_pause"] == [[0, 2.0], [5, 900.0], [15, 1.0]]
    assert merged["gc_full"] == {"automatic": False, "collections": 3, "ms": 1435.5, "max_rss_mb": 200}
    assert merged["processes"] == 2


def test_what_the_server_supports_is_what_any_process_learnt():
    supports = loadgen_results.merge([FIRST, SECOND])["server_supports"]
    # SOLD_OUT and the stream were seen by one process each; best available was refused to one.
    assert supports == {"sold_out": True, "best_available": False, "sold_out_stream": True}
    neither = dict(SECOND, server_supports={"sold_out": False, "best_available": True, "sold_out_stream": False})
    assert loadgen_results.merge([FIRST, neither])["server_supports"]["sold_out_stream"] is False
