"""Background work yields the CPU to the requests a client is waiting for (`Options.background_nice`).

In AWS every execution environment has CPU of its own: an API answers as fast while a queue's consumer is
busy. Locally the API and the event-driven functions share a few cores, and an order pipeline running
beside a client starved its API calls (POST /orders p50 24 ms, 5 ms with the pipeline idle). With a
background nice, what an event source starts runs at that Linux nice value:

- the threads that invoke functions for event sources: SQS and stream pollers, asynchronous invocations
  (EventBridge rules, S3 and SNS notifications, schedules, `Invoke` with InvocationType Event);
- the workers those threads start, which sign their AWS calls with a background access key of the
  function's role session (same secret, same permissions), so that
- the gateway thread serving such a worker's connection lowers itself, and marks its calls to moto
  (BACKGROUND_HEADER), whose thread serving that connection lowers itself too.

Work started from a background thread is background: it is decided per thread and per process, once,
because an unprivileged process may raise its nice value but never lower it again (CAP_SYS_NICE).
The processes that serve both kinds (the runtime, moto) also switch threads more often (SWITCH_INTERVAL_S):
a background thread holding the GIL delayed a request's thread by up to Python's 5 ms default each time.
And in them a background thread waits before it serves a request while a foreground request is in flight
(`serve`, at most MAX_YIELD_S): a nice value orders processes, not the threads sharing one interpreter.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

# `local-runtime up`'s default: a background thread still gets about a tenth of a core a request thread
# competes for (Linux CFS weights 110 vs 1024), and all of it when no request waits.
UP_BACKGROUND_NICE = 10
BACKGROUND_HEADER = "x-local-runtime-background"  # its value: the nice value to run the call at
SWITCH_INTERVAL_S = 0.001
# The longest a background request waits for the foreground ones, so a pipeline still moves (a call per
# thread and 0.2 s) while clients keep an API busy; a slow foreground request (seconds) delays each
# background call this much. Measured beside a pipeline: 0.02 s left POST /orders at p50 15 ms, 0.2 s at
# 5.4 ms, and 1,000 orders were still all readable in 37 s (the warm-path and pipeline benches, README).
MAX_YIELD_S = 0.2

_thread = threading.local()
_foreground_in_flight = 0
_quiet = threading.Condition()


def enter_background(nice: int) -> None:
    """The calling thread runs at `nice` from now on (no-op for 0); what it starts inherits it. Once per
    thread: the gateway and moto call it for each request of a background connection."""
    if nice > 0 and background_nice() != nice:
        lower(threading.get_native_id(), nice)
        _thread.nice = nice


def background_nice() -> int:
    """The calling thread's background nice value; 0 for a thread serving requests."""
    return getattr(_thread, "nice", 0)


def serve(request: Callable[[], None]) -> None:
    """Serve one request of a server shared by foreground and background work: counted as in flight if
    this thread serves foreground work, else after the in-flight foreground requests (or MAX_YIELD_S)."""
    global _foreground_in_flight
    if background_nice():
        with _quiet:
            _quiet.wait_for(lambda: not _foreground_in_flight, timeout=MAX_YIELD_S)
        request()
        return
    with _quiet:
        _foreground_in_flight += 1
    try:
        request()
    finally:
        with _quiet:
            _foreground_in_flight -= 1
            if not _foreground_in_flight:
                _quiet.notify_all()


def mark_background(client: Any, nice: int) -> None:
    """A boto3 client's calls carry BACKGROUND_HEADER: the server serving them treats them as background."""

    def mark(request: Any, **_: Any) -> None:
        request.headers[BACKGROUND_HEADER] = str(nice)

    client.meta.events.register("before-send", mark)


def lower(pid_or_thread_id: int, nice: int) -> None:
    """Raise a process's or (Linux) a thread's nice value to `nice`, never lower it (not permitted)."""
    try:
        if os.getpriority(os.PRIO_PROCESS, pid_or_thread_id) < nice:
            os.setpriority(os.PRIO_PROCESS, pid_or_thread_id, nice)
    except (ProcessLookupError, PermissionError):
        pass  # gone already, or a system that refuses: only the order of work is lost


def share_the_interpreter() -> None:
    """For a process whose threads serve requests and background work alike."""
    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)


def background_key(access_key: str) -> str:
    """The access key id a function's background workers sign with: same length and prefix; a Z where
    the function's own key (ASIA + 16 hex digits) cannot have one."""
    return access_key[:4] + "Z" + access_key[5:]


def is_background_key(access_key: str) -> bool:
    return access_key[4:5] == "Z"
