"""moto servers forked from one pre-imported process (`moto_server --fork-server`) instead of started anew.

For a process that starts many runtimes, such as a test suite, which calls `enable()`: each runtime still
gets a moto of its own (own process, own state) without paying moto's imports again. Off by default: for
one runtime (`local-runtime up`) the fork server's imports cost more than they save. Not inherited by
child processes.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

_enabled = False


def enable() -> None:
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled


class ForkedServer:
    """A forked moto server, with the part of Popen's interface the runtime uses. It is the fork server's
    child, not this process's: watched and signalled through a pidfd (no pid reuse race), and its exit
    status is not known here (returncode -1 once it has exited)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._pidfd = os.pidfd_open(pid)
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self._exited(0)

    def wait(self, timeout: float | None = None) -> int:
        returncode = self._exited(timeout)
        if returncode is None:
            raise subprocess.TimeoutExpired(f"moto server {self.pid}", timeout or 0)
        return returncode

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, number: int) -> None:
        if self.returncode is None:
            signal.pidfd_send_signal(self._pidfd, number)

    def _exited(self, timeout: float | None) -> int | None:
        if self.returncode is None and select.select([self._pidfd], [], [], timeout)[0]:
            self.returncode = -1
            os.close(self._pidfd)
        return self.returncode


class _ForkServer:
    """This process's fork server, started on first use (from any thread: it does not die with one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def fork(self, port: int, log_path: Path) -> ForkedServer:
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                # It ends when its stdin closes, i.e. with this process; its servers die with it.
                self._process = subprocess.Popen(
                    [sys.executable, "-m", "local_runtime.moto_server", "--fork-server"],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    start_new_session=True,
                )
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(f"{port} {log_path}\n".encode())
            self._process.stdin.flush()
            answer = self._process.stdout.readline()
        if not answer.strip():
            raise RuntimeError(f"the moto fork server exited ({self._process.poll()}) before forking")
        return ForkedServer(int(answer))


FORK_SERVER = _ForkServer()
