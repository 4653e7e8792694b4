"""One local runtime on the hand-written sample assembly, shared by this package's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from local_runtime.runtime import Options, Runtime
from tests.helpers import aws_client
from tests.local_runtime.sample_app import write_assembly


@pytest.fixture(scope="session")
def sample_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_assembly(tmp_path_factory.mktemp("sample-cdk-out"))


@pytest.fixture(scope="session")
def sample_runtime(sample_assembly: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    lines: list[str] = []
    runtime = Runtime(
        Options(
            assembly_dir=sample_assembly,
            state_dir=tmp_path_factory.mktemp("sample-state"),
            async_retry_delays=(0.2,),
            poll_wait_s=1,
            clock=False,
            echo=lines.append,
        )
    )
    runtime.output = lines  # type: ignore[attr-defined]
    runtime.start()
    yield runtime
    runtime.stop()


@pytest.fixture(scope="session")
def user_client(sample_runtime: Runtime):
    """A boto3 client of a local-runtime user (not a function): talks to the gateway, unrestricted."""

    return lambda service: aws_client(sample_runtime, service)
