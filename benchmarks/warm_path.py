"""Warm path: latency percentiles and requests/s through the local runtime's API, closed-loop load from
a second process (benchmarks/load_client.py), GET /users/{id} and POST /orders rounds interleaved.

Each round starts once the runtime is quiet: a POST round's orders go on through the processor and the
projection after its last request, and a round measured meanwhile would count that backlog against its
own route. A POST round still runs beside the pipeline work its own orders start.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from benchmarks.stats import median, percentile, run_interleaved
from local_runtime.runtime import Runtime

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def load(url: str, method: str, body: str | None, token: str, concurrency: int, count: int) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.load_client", "--url", url, "--method", method]
    command += ["--concurrency", str(concurrency), "--requests", str(count), "--authorization", token]
    if body:
        command += ["--body", body]
    result = subprocess.run(  # noqa: S603 (our interpreter)
        command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def round_figures(raw: dict[str, Any]) -> dict[str, Any]:
    latencies = raw["latencies_ms"]
    return {
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "rps": len(latencies) / raw["seconds"] if raw["seconds"] else 0.0,
        "statuses": raw["statuses"],
    }


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of each figure over the rounds; statuses summed."""
    statuses: dict[str, int] = {}
    for figures in rounds:
        for status, count in figures["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    combined = {
        key: round(median(f[key] for f in rounds), 1) for key in ("p50_ms", "p90_ms", "p99_ms", "rps")
    }
    return {**combined, "rounds": len(rounds), "statuses": statuses}


def run(
    runtime: Runtime,
    api_url: str,
    repetitions: int,
    requests_per_round: int,
    concurrencies: tuple[int, ...] = (1, 4),
) -> dict[str, Any]:
    """Each request carries a real ID token: the local authorizer's check is part of the measured path.

    One client shows the latency of a request alone; four show what the runtime sustains under load."""
    bench = runtime.create_user("bench@example.com")
    token = bench["idToken"]
    user = requests.post(
        f"{api_url}users",
        json={"name": "Bench", "email": "bench@example.com"},
        headers={"Authorization": token},
        timeout=30,
    )
    user.raise_for_status()
    user_id = user.json()["userId"]
    order = json.dumps({"items": [{"sku": "SKU-1", "quantity": 1, "unitPriceCents": 100}]})
    targets = {
        "GET /users/{id}": (f"{api_url}users/{user_id}", "GET", None, token),
        "POST /orders": (f"{api_url}orders", "POST", order, token),
    }
    # Warm-up: as many warm workers per function as the most clients before measuring.
    for url, method, body, auth in targets.values():
        load(url, method, body, auth, max(concurrencies), max(concurrencies) * 5)

    def measured(target: tuple[str, str, str | None, str], clients: int) -> dict[str, Any]:
        until_quiet(runtime)
        return round_figures(load(*target, clients, requests_per_round))

    rounds = run_interleaved(
        {
            route_name(name, clients): (lambda t=target, c=clients: measured(t, c))
            for clients in concurrencies
            for name, target in targets.items()
        },
        repetitions,
    )
    return {
        "repetitions": repetitions,
        "requests_per_round": requests_per_round,
        "concurrency": list(concurrencies),
        "order": "rounds of every route and client count interleaved, after a warm-up round each; "
        "each round starts once no function runs and the SQS event sources are empty",
        "routes": {name: combine(r) for name, r in rounds.items()},
    }


def until_quiet(runtime: Runtime, hold_s: float = 1.0, timeout_s: float = 300.0) -> None:
    """Until, for `hold_s` in a row, no function runs and no SQS event source holds a message."""
    sqs = runtime.client("sqs")
    urls = [poller.queue_url for poller in runtime.pollers if getattr(poller, "queue_url", "")]
    counts = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
    deadline, quiet_since = time.monotonic() + timeout_s, None

    def busy() -> bool:
        if any(pool.busy_count() for pool in runtime.pools.values()):
            return True
        for url in urls:
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(counts))["Attributes"]
            if any(attributes[name] != "0" for name in counts):
                return True
        return False

    while time.monotonic() < deadline:
        if busy():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= hold_s:
            return
        time.sleep(0.1)
    raise TimeoutError(f"the runtime was not quiet within {timeout_s} s")


def route_name(route: str, clients: int) -> str:
    return f"{route}, {clients} client{'s' if clients > 1 else ''}"
