"""priority.serve: in a process serving both, a background request waits for the foreground ones in flight,
but never longer than MAX_YIELD_S (the pipeline goes on while a client keeps the API busy)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from local_runtime import priority


def _in_background_thread(work: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        priority.enter_background(priority.UP_BACKGROUND_NICE)  # this thread only; it ends after
        priority.serve(work)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_background_request_is_served_after_the_foreground_one_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(priority, "MAX_YIELD_S", 30.0)
    served: list[str] = []
    in_flight, background_waits = threading.Event(), threading.Event()

    def foreground() -> None:
        in_flight.set()
        assert background_waits.wait(10)
        served.append("foreground")

    client = threading.Thread(target=priority.serve, args=(foreground,))
    client.start()
    assert in_flight.wait(10)
    background = _in_background_thread(lambda: served.append("background"))
    background.join(0.2)  # it waits for the foreground request (up to 30 s here)
    assert background.is_alive() and served == []
    background_waits.set()
    client.join(10)
    background.join(10)
    assert served == ["foreground", "background"]


def test_a_background_request_waits_at_most_max_yield_for_a_slow_foreground_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(priority, "MAX_YIELD_S", 0.05)
    served: list[str] = []
    in_flight = threading.Event()

    def slow_foreground() -> None:
        in_flight.set()
        # Still in flight until the background request is served: without the bound it never would be.
        background = _in_background_thread(lambda: served.append("background"))
        background.join(10)
        served.append("foreground")

    priority.serve(slow_foreground)
    assert served == ["background", "foreground"]


def test_foreground_requests_do_not_wait_for_each_other() -> None:
    both_in_flight = threading.Barrier(2, timeout=10)
    clients = [threading.Thread(target=priority.serve, args=(both_in_flight.wait,)) for _ in range(2)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(10)
    assert not both_in_flight.broken
