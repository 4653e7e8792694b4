"""Firehose delivery streams with an S3 destination, as EventBridge rule targets: records are buffered
and written to the bucket as one object when the buffer reaches SizeInMBs or IntervalInSeconds passes,
whichever comes first (https://docs.aws.amazon.com/firehose/latest/dev/buffering-hints.html).

Object keys follow Firehose's default naming: the prefix, then `YYYY/MM/DD/HH/` in UTC unless the prefix
has its own `!{timestamp:…}` expressions, then `<stream>-1-<YYYY-MM-DD-HH-MM-SS>-<uuid>` (`.gz` with GZIP).
Records are concatenated as they came, as Firehose does (no separator).
"""

from __future__ import annotations

import gzip
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from local_runtime.templates import App

log = logging.getLogger("local_runtime.firehose")
_TIMESTAMP = re.compile(r"!\{timestamp:([^}]+)\}")
_JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


@dataclass
class DeliveryStream:
    name: str
    arn: str
    bucket: str
    prefix: str = ""
    interval_s: float = 300.0
    size_bytes: int = 5 * 1024 * 1024
    gzip: bool = False
    _records: list[bytes] = field(default_factory=list)
    _since: float = 0.0  # when the oldest buffered record arrived


def delivery_streams(app: App) -> list[DeliveryStream]:
    streams = []
    for stack, logical_id, resource in app.all_resources("AWS::KinesisFirehose::DeliveryStream"):
        props = app.resolve(stack, resource.get("Properties", {}))
        destination = props.get("ExtendedS3DestinationConfiguration") or props.get(
            "S3DestinationConfiguration"
        )
        if not destination:
            continue
        hints = destination.get("BufferingHints", {})
        streams.append(
            DeliveryStream(
                name=app.physical_name(stack, logical_id),
                arn=str(app.get_att(stack, logical_id, "Arn")),
                bucket=str(destination["BucketARN"]).removeprefix("arn:aws:s3:::"),
                prefix=str(destination.get("Prefix", "")),
                interval_s=float(hints.get("IntervalInSeconds", 300)),
                size_bytes=int(float(hints.get("SizeInMBs", 5)) * 1024 * 1024),
                gzip=str(destination.get("CompressionFormat", "UNCOMPRESSED")).upper() == "GZIP",
            )
        )
    return streams


class Firehose:
    def __init__(
        self, streams: list[DeliveryStream], s3_client: Callable[[], Any], tick_s: float = 0.2
    ) -> None:
        self.streams = {stream.arn: stream for stream in streams}
        self._s3 = s3_client
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._tick_s = tick_s
        self._thread = threading.Thread(target=self._run, name="firehose", daemon=True)

    def start(self) -> None:
        if self.streams:
            self._thread.start()

    def put(self, stream_arn: str, data: bytes) -> None:
        stream = self.streams.get(stream_arn)
        if stream is None:
            raise LookupError(f"Firehose {stream_arn} not found")
        with self._lock:
            if not stream._records:
                stream._since = time.monotonic()
            stream._records.append(data)
            full = sum(len(r) for r in stream._records) >= stream.size_bytes
        if full:
            self._flush(stream)

    def _run(self) -> None:
        while not self._stop.wait(self._tick_s):
            for stream in self.streams.values():
                if stream._records and time.monotonic() - stream._since >= stream.interval_s:
                    self._flush(stream)

    def _flush(self, stream: DeliveryStream) -> None:
        with self._lock:
            records, stream._records = stream._records, []
        if not records:
            return
        now = datetime.now(UTC)
        body = b"".join(records)
        key = f"{_prefix(stream.prefix, now)}{stream.name}-1-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}"
        if stream.gzip:
            body, key = gzip.compress(body), key + ".gz"
        try:
            self._s3().put_object(Bucket=stream.bucket, Key=key, Body=body)
        except Exception:
            log.exception(
                "%s: delivering %d record(s) to s3://%s failed", stream.name, len(records), stream.bucket
            )

    def stop(self) -> None:
        """Deliver what is buffered (stopping the runtime loses nothing), then stop the clock."""
        self._stop.set()
        for stream in self.streams.values():
            self._flush(stream)


def _prefix(prefix: str, now: datetime) -> str:
    if "!{" in prefix:

        def timestamp(match: re.Match[str]) -> str:
            pattern = match.group(1)
            for java, python in _JAVA_TO_STRFTIME.items():
                pattern = pattern.replace(java, python)
            return now.strftime(pattern)

        return _TIMESTAMP.sub(timestamp, prefix).replace("!{firehose:random-string}", uuid.uuid4().hex[:11])
    return f"{prefix}{now:%Y/%m/%d/%H}/"
