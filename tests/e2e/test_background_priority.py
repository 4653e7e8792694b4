"""Background priority (`local-runtime up`'s default, priority.py): what event sources start runs niced, the
API path does not, and a background worker's calls are its function's role session, checked as before."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from local_runtime import priority
from tests.e2e.conftest import LOCAL_ONLY, REMOTE, sign_up, start_runtime
from tests.helpers import eventually

NICE = 10


def _nice(pid: int, thread_id: int | None = None) -> int:
    stat = Path(f"/proc/{pid}/task/{thread_id}/stat" if thread_id else f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[16])  # field 19 of proc(5): nice


def _thread_nices(pid: int, names: dict[int, str] | None = None) -> dict[str, int]:
    """Nice value by thread (name if known, else id), skipping threads that end meanwhile."""
    nices = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            nices[(names or {}).get(int(task.name), task.name)] = _nice(pid, int(task.name))
        except FileNotFoundError:
            continue
    return nices


def _access_key_of(pid: int) -> str:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return next(e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"AWS_ACCESS_KEY_ID="))


@pytest.mark.skipif(REMOTE is not None, reason=LOCAL_ONLY)
def test_event_driven_work_runs_niced_and_the_api_path_does_not(dev_assembly: Path, tmp_path: Path) -> None:
    switch_interval = sys.getswitchinterval()  # the runtime shortens it for the process (priority.py)
    runtime = start_runtime(dev_assembly, tmp_path / "state", background_nice=NICE)
    try:
        api = runtime.api_servers[0].base_url
        ada = sign_up(runtime, name="ada")
        created = requests.post(f"{api}users", json={"name": "Ada", "email": ada.email}, headers=ada.headers)
        assert created.status_code == 201, created.text
        me = f"{api}users/{created.json()['userId']}"
        for _ in range(3):
            order = {"items": [{"sku": "SKU-1", "quantity": 1, "unitPriceCents": 100}]}
            assert requests.post(f"{api}orders", json=order, headers=ada.headers).status_code == 202
        # Through the queue (SQS poller → OrderProcessor) and the bus (rule → OrderProjection).
        eventually(
            lambda: requests.get(me, headers=ada.headers).json()["orderCount"] == 3,
            timeout_s=60,
            what="the three orders projected",
        )

        workers = {
            name: [worker.proc.pid for worker in runtime.pools[runtime.find_function(name).arn]._all]
            for name in ("UsersApi", "OrdersApi", "OrderProcessor", "OrderProjection")
        }
        assert all(workers.values()), workers
        for name in ("UsersApi", "OrdersApi"):  # the API's functions: as before
            spec = runtime.find_function(name)
            assert {(_nice(pid), _access_key_of(pid)) for pid in workers[name]} == {(0, spec.access_key)}
        for name in ("OrderProcessor", "OrderProjection"):  # started by the poller and the rule
            key = priority.background_key(runtime.find_function(name).access_key)
            assert {(_nice(pid), _access_key_of(pid)) for pid in workers[name]} == {(NICE, key)}

        threads = _thread_nices(os.getpid(), {t.native_id or 0: t.name for t in threading.enumerate()})
        pollers = [nice for name, nice in threads.items() if name.startswith("sqs-")]
        assert pollers and set(pollers) == {NICE}, threads
        assert threads[threading.current_thread().name] == 0
        # moto: the threads serving background connections lowered themselves, the others did not.
        assert {0, NICE} <= set(_thread_nices(runtime._moto.pid).values())
        # The gateway threads serving the background workers' connections (this process) too.
        assert NICE in [nice for name, nice in threads.items() if "process_request_thread" in name]

        # A background key is the function's role session: same secret, same grants, same name in the
        # recording; a call its role does not allow is refused as with the function's own key.
        processor = runtime.find_function("OrderProcessor")
        identity = runtime.gateway.identities[processor.access_key]
        for key in (processor.access_key, priority.background_key(processor.access_key)):
            tables = boto3.client(
                "dynamodb",
                endpoint_url=runtime.gateway.url,
                region_name=runtime.options.region,
                aws_access_key_id=key,
                aws_secret_access_key=identity.secret_key,
                aws_session_token=identity.session_token,
            )
            with pytest.raises(ClientError) as refused:
                tables.list_tables()
            assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    finally:
        runtime.stop()
        sys.setswitchinterval(switch_interval)  # for the tests after this one in this process
    entries = [json.loads(line) for line in (tmp_path / "state" / "recording.jsonl").read_text().splitlines()]
    assert [e["function"] for e in entries if e["action"] == "dynamodb:ListTables"] == ["OrderProcessor"] * 2
    processor_calls = {e["action"] for e in entries if e["function"] == "OrderProcessor" and e["allowed"]}
    assert {"dynamodb:PutItem", "events:PutEvents"} <= processor_calls
