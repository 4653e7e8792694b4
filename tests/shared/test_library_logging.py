"""The shared layer keeps library chatter out of the functions' logs at the dev stage's DEBUG level."""

from __future__ import annotations

import logging

import service_common  # noqa: F401 (importing it sets the levels)


def test_library_loggers_report_warnings_only_whatever_the_root_level() -> None:
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)  # as Lambda sets it for AWS_LAMBDA_LOG_LEVEL=DEBUG
    try:
        for name in ("botocore.hooks", "botocore.credentials", "urllib3.connectionpool", "aws_xray_sdk.core"):
            logger = logging.getLogger(name)
            assert not logger.isEnabledFor(logging.INFO), name
            assert logger.isEnabledFor(logging.WARNING), name
        assert logging.getLogger("service").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(previous)
