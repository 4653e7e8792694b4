"""moto's server (`python -m moto.server`) with three hot spots made cheap, behaviour unchanged.

Profiling the 1,000-order run (py-spy on the moto process) showed moto spending most of its time not on
AWS semantics but on bookkeeping that grows with the queue:

- every received SQS message re-reads the queue's retention period through `get_queue_attributes`,
  which builds *all* attributes, three approximate message counts included: each a walk over every
  message in the queue, so receiving is quadratic in the queue's length;
- "now" is computed as `datetime.now(UTC) - datetime.fromtimestamp(0)` for every message checked
  (visibility, delay, retention), a few microseconds each, millions of times;
- every request lists moto's package directory (`os.listdir` + `isdir` on ~150 entries) to map a
  host to a backend, under a lock.

The replacements return exactly what the originals return (`time.time()` is the same epoch seconds;
the retention period is the same attribute the full attribute dict reads; the module list cannot
change while the server runs). moto is pinned (requirements-dev.txt): `apply()` checks that each
function it replaces is the one it expects, so an upgrade that moves them fails loudly here.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
import time
from typing import Any


def _now_or(original: Any) -> Any:
    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else original(dt)

    return unix_time


def apply() -> None:
    from moto import backends
    from moto.core import utils
    from moto.sqs import models as sqs_models

    expected = {
        "moto.core.utils.unix_time": (utils.unix_time, "dt = dt or utcnow()"),
        "moto.core.utils.unix_time_millis": (utils.unix_time_millis, "unix_time(dt) * 1000.0"),
        "moto.backends.list_of_moto_modules": (backends.list_of_moto_modules, "os.listdir(path)"),
        "SQSBackend.is_message_valid_based_on_retention_period": (
            sqs_models.SQSBackend.is_message_valid_based_on_retention_period,
            '["MessageRetentionPeriod"]',
        ),
    }
    for name, (function, marker) in expected.items():
        if marker not in inspect.getsource(function):
            raise RuntimeError(f"moto changed {name}: review local_runtime/moto_server.py for it")

    unix_time = _now_or(utils.unix_time)
    utils.unix_time = unix_time
    utils.unix_time_millis = lambda dt=None: unix_time(dt) * 1000.0
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = functools.cache(lambda: modules)

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period
        return bool(retention_period + message.sent_timestamp / 1000 > time.time())

    backend = sqs_models.SQSBackend
    backend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period  # type: ignore[method-assign]
    # Modules that imported the clock by name before this ran (backends load lazily, after it).
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("moto.") and module is not utils:
            for attribute in ("unix_time", "unix_time_millis"):
                if getattr(module, attribute, None) is expected[f"moto.core.utils.{attribute}"][0]:
                    setattr(module, attribute, getattr(utils, attribute))


if __name__ == "__main__":
    apply()
    # werkzeug logs every request to moto.log: a write under a lock per call; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from moto.server import main

    main()
