"""Timestamps as the service stores them: UTC ISO 8601 with milliseconds."""

from datetime import UTC, datetime


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
