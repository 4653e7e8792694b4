"""What the runtime's queue-polling threads hold, so that stopping them waits only for work in progress.

The threads long-poll (up to a second) and then act on what they received: invoke a function, deliver
an event. Stopping used to wait for every thread, so every stop waited out the long polls in progress.
Now a stop waits only for the threads holding messages; a poll that returns after the stop hands its
messages straight back to the queue (visible again at once, as if never received: no visibility timeout
to wait out after a redeploy) and its thread ends.
"""

from __future__ import annotations

import threading
from typing import Any


class Holds:
    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._changed = threading.Condition()
        self._holders = 0

    def hold(self, sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> bool:
        """After a receive: True to go on with the messages (then `let_go()`), False when stopping (they
        were handed back)."""
        with self._changed:
            if not self._stopping.is_set():
                self._holders += 1
                return True
        entries = [
            {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
            for index, message in enumerate(messages)
        ]
        for start in range(0, len(entries), 10):
            sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries[start : start + 10])
        return False

    def let_go(self) -> None:
        with self._changed:
            self._holders -= 1
            self._changed.notify_all()

    def wait(self, timeout_s: float) -> None:
        """After setting the stop event: until no thread holds messages (or the timeout)."""
        with self._changed:
            self._changed.wait_for(lambda: self._holders == 0, timeout_s)
