"""Closed-loop HTTP load from its own process: `concurrency` clients, each sends its next request when
the previous one answered, `requests` in total. Prints one JSON line: latencies (ms), statuses, seconds.

    python -m benchmarks.load_client --url http://127.0.0.1:PORT/dev/users/ID --method GET \
        --concurrency 4 --requests 400 [--body '{"...": ...}'] [--authorization ID_TOKEN]
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body")
    parser.add_argument("--authorization", help="the Authorization header (a Cognito ID token)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()

    remaining = [args.requests]
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    headers = {"Content-Type": "application/json"} if args.body else {}
    if args.authorization:
        headers["Authorization"] = args.authorization

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            started = time.perf_counter()
            try:
                status = str(
                    session.request(
                        args.method, args.url, data=args.body, headers=headers, timeout=60
                    ).status_code
                )
            except requests.RequestException as error:
                status = type(error).__name__
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(args.concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    print(json.dumps({"latencies_ms": latencies, "statuses": statuses, "seconds": seconds}))


if __name__ == "__main__":
    main()
