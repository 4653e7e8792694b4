"""A stopped pool starts no worker for the invocations that were waiting for a slot (reserved concurrency);
the pool counts its busy workers."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from local_runtime.workers import Pool
from tests.helpers import function_spec

HANDLER = """
import time

def handler(event, context):
    time.sleep(event["sleep"])
    return {"ok": True}
"""


def test_invocations_waiting_for_a_slot_fail_at_stop_without_a_cold_start(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text(HANDLER)
    spec = function_spec(code, reserved_concurrency=1)
    pool = Pool(spec, {"PATH": os.environ["PATH"]}, tmp_path)
    spawned: list[object] = []
    spawn = pool._spawn
    pool._spawn = lambda: spawned.append(1) or spawn()  # type: ignore[method-assign]
    outcomes: list[object] = []

    def invoke() -> None:
        try:
            outcomes.append(pool.invoke({"sleep": 20}))
        except RuntimeError as error:
            outcomes.append(error)

    threads = [threading.Thread(target=invoke) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while not spawned and time.monotonic() < deadline:  # the first holds the one slot
        time.sleep(0.05)
    time.sleep(0.5)  # the other two wait for it
    pool.stop()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads)
    assert len(spawned) == 1, "a worker was started after the stop"
    stopping = [o for o in outcomes if isinstance(o, RuntimeError)]
    assert len(stopping) == 2 and all("runtime is stopping" in str(o) for o in stopping)
    first = [o for o in outcomes if not isinstance(o, RuntimeError)]
    assert len(first) == 1 and not first[0].ok  # type: ignore[attr-defined]


def test_busy_count_is_the_workers_running_an_invocation(tmp_path: Path) -> None:
    """What `make bench` waits on between rounds (benchmarks/warm_path.py until_quiet)."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text(HANDLER)
    pool = Pool(function_spec(code), {"PATH": os.environ["PATH"]}, tmp_path)
    try:
        assert pool.invoke({"sleep": 0}).ok and pool.busy_count() == 0  # one warm, idle worker
        running = threading.Thread(target=pool.invoke, args=({"sleep": 1.5},))
        running.start()
        deadline = time.monotonic() + 10
        while pool.busy_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pool.busy_count() == 1
        running.join(10)
        assert pool.busy_count() == 0 and pool.warm_count() == 1
    finally:
        pool.stop()
