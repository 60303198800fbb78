"""`make run`'s process manager (scripts/supervise.py): a process that dies is restarted and the others
keep running; stopping stops them all. Real processes, real signals."""

import io
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
try:
    from supervise import Supervisor, read_procfile
finally:
    sys.path.remove(str(ROOT / "scripts"))

SLEEPER = f'{sys.executable} -c "import time; print(\\"up\\", flush=True); time.sleep(600)"'


def wait_for(condition, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def procfile_names() -> list[str]:
    names = list(read_procfile(ROOT / "Procfile"))
    assert {"web", "booking", "worker", "beat"} <= set(names)
    return names


def start(commands: dict[str, str], **options) -> tuple[Supervisor, threading.Event, threading.Thread, io.StringIO]:
    out = io.StringIO()
    supervisor = Supervisor(commands, out=out, min_pause=0.2, grace=5, **options)
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop,), kwargs={"poll": 0.05})
    thread.start()
    wait_for(lambda: all(process.running() for process in supervisor.processes.values()))
    return supervisor, stop, thread, out


def test_a_dead_worker_is_restarted_and_web_and_beat_stay_up():
    names = procfile_names()
    # The Procfile's own process names, each running a stand-in that stays up like the real ones.
    supervisor, stop, thread, out = start(dict.fromkeys(names, SLEEPER))
    try:
        pids = {name: process.pid for name, process in supervisor.processes.items()}
        os.killpg(pids["worker"], signal.SIGKILL)  # the worker crashes (OOM killer, a segfault …)
        worker = supervisor.processes["worker"]
        wait_for(lambda: worker.running() and worker.pid != pids["worker"])
        assert worker.restarts == 1
        for name in names:
            if name != "worker":
                assert supervisor.processes[name].pid == pids[name] and alive(pids[name]), name
                assert supervisor.processes[name].restarts == 0
        log = out.getvalue()
        assert "worker" in log and "exited with code -9" in log and "the other processes keep running" in log
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    for process in supervisor.processes.values():
        assert not process.running()
        assert not alive(process.pid)


def test_a_process_that_keeps_dying_is_restarted_with_growing_pauses():
    supervisor, stop, thread, out = start({"web": SLEEPER, "flaky": SLEEPER}, max_pause=0.8)
    try:
        flaky = supervisor.processes["flaky"]
        for attempt in range(1, 4):
            previous = flaky.pid
            os.killpg(previous, signal.SIGTERM)
            wait_for(lambda previous=previous: flaky.running() and flaky.pid != previous)
            assert flaky.restarts == attempt
        assert "restarting in 0.2 s" in out.getvalue()
        assert "restarting in 0.4 s" in out.getvalue()
        assert "restarting in 0.8 s" in out.getvalue()  # capped from here on
        assert supervisor.processes["web"].restarts == 0
    finally:
        stop.set()
        thread.join(timeout=30)


def test_stopping_kills_a_process_that_ignores_sigterm():
    stubborn = f"{sys.executable} -c \"import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(600)\""
    supervisor, stop, thread, out = start({"stubborn": stubborn})
    wait_for(lambda: "up" in out.getvalue())
    supervisor.grace = 0.5
    stop.set()
    thread.join(timeout=30)
    assert not supervisor.processes["stubborn"].running()
    assert "did not stop within 0.5 s; killing it" in out.getvalue()


def test_output_is_prefixed_with_the_process_name():
    _supervisor, stop, thread, out = start({"web": SLEEPER})
    wait_for(lambda: "web | up" in out.getvalue())
    stop.set()
    thread.join(timeout=30)
