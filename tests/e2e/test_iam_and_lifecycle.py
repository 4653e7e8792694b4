"""IAM on variants of the real app (one grant removed) and clean shutdown, each on a runtime of its own."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from local_runtime.iam import Policy
from tests.e2e.conftest import sign_up, start_runtime
from tests.events import s3_event, s3_record

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _without(action: str):
    def edit(_role_arn: str, policy: Policy) -> Policy:
        statements = []
        for statement in policy.statements:
            actions = statement.get("Action")
            actions = actions if isinstance(actions, list) else [actions]
            kept = [a for a in actions if a != action]
            if kept:
                statements.append({**statement, "Action": kept})
        return Policy(statements)

    return edit


def test_removed_grant_is_denied_on_exactly_that_call(dev_assembly: Path, tmp_path: Path) -> None:
    runtime = start_runtime(dev_assembly, tmp_path / "state", policy_override=_without("dynamodb:DeleteItem"))
    try:
        api = runtime.api_servers[0].base_url
        eve = sign_up(runtime, name="eve")
        auth = eve.headers
        created = requests.post(
            f"{api}users", json={"name": "Eve", "email": eve.email}, headers=auth, timeout=30
        )
        mine = f"{api}users/{created.json()['userId']}"
        assert requests.get(mine, headers=auth, timeout=10).status_code == 200
        denied = requests.delete(mine, headers=auth, timeout=10)
        assert denied.status_code == 500
        assert requests.get(mine, headers=auth, timeout=10).status_code == 200  # still there
    finally:
        runtime.stop()
    entries = [json.loads(line) for line in (tmp_path / "state" / "recording.jsonl").read_text().splitlines()]
    refused = [(e["function"], e["action"]) for e in entries if not e["allowed"]]
    assert refused == [("UsersApi", "dynamodb:DeleteItem")]
    users_api_calls = {e["action"] for e in entries if e["allowed"] and e["function"] == "UsersApi"}
    assert users_api_calls == {"dynamodb:PutItem", "dynamodb:GetItem"}
    log = (tmp_path / "state" / "logs" / "UsersApi.log").read_text()
    assert "AccessDeniedException" in log and "dynamodb:DeleteItem" in log


def test_without_list_bucket_the_indexer_gets_403_for_a_deleted_upload_and_fails(
    dev_assembly: Path, tmp_path: Path
) -> None:
    """S3's rule, reproduced locally: HEAD of a missing key without s3:ListBucket is 403, not 404."""
    runtime = start_runtime(dev_assembly, tmp_path / "state", policy_override=_without("s3:ListBucket"))
    try:
        bucket = runtime.find_function("UploadsApi").environment["UPLOADS_BUCKET_NAME"]
        event = s3_event(
            s3_record("ObjectCreated:Put", "uploads/u-1/deleted.txt", bucket=bucket, sequencer="0A")
        )
        result = runtime.invoke(runtime.find_function("UploadIndexer").arn, event)
    finally:
        runtime.stop()
    assert not result.ok  # not "gone": a 403 is not proof that the object is missing
    assert "HeadObject" in json.dumps(result.error) and "403" in json.dumps(result.error)
    entries = [json.loads(line) for line in (tmp_path / "state" / "recording.jsonl").read_text().splitlines()]
    refused = {(e["function"], e["action"], e["via"]) for e in entries if not e["allowed"]}
    assert refused == {("UploadIndexer", "s3:ListBucket", "missing-key")}


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("stop", ["SIGTERM", "Ctrl-C"])
def test_stopping_ends_workers_frees_ports_and_prints_no_traceback(
    dev_assembly: Path, tmp_path: Path, stop: str
) -> None:
    """Ctrl-C in a terminal sends SIGINT to the whole process group, moto included, while rules, pollers
    and functions are busy: the runtime still stops everything in order, quietly."""
    state_dir = tmp_path / "state"
    command = [
        sys.executable,
        "-m",
        "local_runtime",
        "--state-dir",
        str(state_dir),
        "up",
        "--cdk-out",
        str(dev_assembly),
        "--port",
        "0",
        "--aws-port",
        "0",
    ]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    try:
        deadline = time.monotonic() + 30
        while not (state_dir / "state.json").exists():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline
            time.sleep(0.1)
        state = json.loads((state_dir / "state.json").read_text())
        api = next(iter(state["api"].values()))
        # The README's way to get a token: the CLI prints only the ID token on stdout.
        cli = [sys.executable, "-m", "local_runtime", "--state-dir", str(state_dir)]
        token = subprocess.run(
            [*cli, "token", "ops@example.com", "--admin"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        assert requests.get(f"{api}users", timeout=30).status_code == 401
        listed = requests.get(f"{api}users", headers={"Authorization": token}, timeout=30)
        status, text = listed.status_code, listed.text
        # The kept-alive socket lives as long as the response: it would hold the API port after exit.
        del listed
        assert status == 200, text  # starts a worker
        workers = subprocess.run(
            ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
        )
        worker_pids = [int(pid) for pid in workers.stdout.split()]
        assert worker_pids
        if stop == "SIGTERM":
            process.send_signal(signal.SIGTERM)
        else:
            # Work in flight on every path: API, queue poller, bus rule, projection.
            auth = {"Authorization": token}
            profile = {"name": "Ops", "email": "ops@example.com"}
            requests.post(f"{api}users", json=profile, headers=auth, timeout=30)
            order = {"items": [{"sku": "SKU-1", "quantity": 1, "unitPriceCents": 100}]}
            for _ in range(5):
                requests.post(f"{api}orders", json=order, headers=auth, timeout=30)
            time.sleep(1.5)
            os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "Stopped." in output and "api GET /users" in output
    assert "Traceback" not in output and "Exception occurred" not in output, output
    for pid in worker_pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    ports = [int(api.split(":")[2].split("/")[0]), int(state["aws_endpoint"].rsplit(":", 1)[1])]
    assert all(_port_free(port) for port in ports)
    assert not (state_dir / "state.json").exists()
    assert os.path.exists(state_dir / "logs" / "UsersApi.log")
