"""`make bench`: run every benchmark, write benchmarks/results.json, print the table.

    python -m benchmarks.run [--quick] [--skip-suite] [--only synth,cold,...] [--readme] [--dry-run]

Every figure is a median over repeated runs (the repetitions are in the output); comparisons are
measured side by side, interleaved A B A B in one run, and reported as ratios. Nothing here fails on
timing: a failing request or a lost order is a figure in the table, not an exception.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from benchmarks.report import render_table, update_readme, validate  # noqa: E402

RESULTS = PROJECT_ROOT / "benchmarks" / "results.json"
SECTIONS = ("synth", "data_plane", "cold_start", "warm_path", "pipeline", "size", "suite")


def plan(quick: bool) -> dict[str, int]:
    """Repetitions per benchmark (kept in results.json)."""
    if quick:
        return {
            "synth": 2,
            "cold_start": 3,
            "warm_rounds": 2,
            "warm_requests": 200,
            "pipeline": 1,
            "plane_calls": 100,
            "plane_orders": 50,
        }
    return {
        "synth": 3,
        "cold_start": 5,
        "warm_rounds": 3,
        "warm_requests": 300,
        "pipeline": 1,
        "plane_calls": 300,
        "plane_orders": 100,
    }


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    from benchmarks import cold_start, data_plane, pipeline, size, suite, synth, warm_path
    from local_runtime import priority
    from local_runtime.runtime import Options, Runtime

    reps = plan(args.quick)
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    work = Path(
        tempfile.mkdtemp(
            prefix="bench-", dir=PROJECT_ROOT / ".cache" if (PROJECT_ROOT / ".cache").is_dir() else None
        )
    )
    results: dict[str, Any] = {}
    started = time.perf_counter()

    def section(name: str, body: Callable[[], dict[str, Any]]) -> None:
        if name not in only:
            results[name] = {"skipped": "not in --only"}
            return
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        begun = time.perf_counter()
        results[name] = body()
        results[name]["elapsed_s"] = round(time.perf_counter() - begun, 1)
        print(f"[bench] {name} done in {results[name]['elapsed_s']} s", file=sys.stderr, flush=True)

    try:
        assembly: Path | None = None
        if "synth" in only:
            print("[bench] synth ...", file=sys.stderr, flush=True)
            begun = time.perf_counter()
            figures, assembly = synth.run(work, reps["synth"])
            results["synth"] = {**figures, "elapsed_s": round(time.perf_counter() - begun, 1)}
        else:
            results["synth"] = {"skipped": "not in --only"}
            assembly = work / "full.out"
            synth.synth_once(synth.PROJECT_ROOT, assembly, ["--context", "stage=dev"])
        section("size", lambda: size.run(assembly))
        section("data_plane", lambda: data_plane.run(reps["plane_calls"], reps["plane_orders"]))
        if only & {"cold_start", "warm_path", "pipeline"}:
            lines: list[str] = []
            runtime = Runtime(
                # Without the dev stage's method throttling (50 requests/s per method, as in AWS): the
                # figures are the runtime's own, not the stage's limit.
                Options(
                    assembly_dir=assembly,
                    state_dir=work / "runtime",
                    clock=False,
                    echo=lines.append,
                    stage_throttling=False,
                    background_nice=priority.UP_BACKGROUND_NICE,  # as `make up` runs it
                )
            ).start()
            try:
                api_url = runtime.api_servers[0].base_url
                section("cold_start", lambda: cold_start.run(runtime, reps["cold_start"]))
                # Before the warm path: its POST /orders rounds would leave a backlog on the same queue.
                section("pipeline", lambda: pipeline.run(runtime, api_url, reps["pipeline"]))
                section(
                    "warm_path",
                    lambda: warm_path.run(runtime, api_url, reps["warm_rounds"], reps["warm_requests"]),
                )
            finally:
                runtime.stop()
        else:
            for name in ("cold_start", "warm_path", "pipeline"):
                results[name] = {"skipped": "not in --only"}
        if args.skip_suite:
            results["suite"] = {"skipped": "--skip-suite"}
        else:
            section("suite", suite.run)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    results["meta"] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "quick": args.quick,
        "repetitions": reps,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--skip-suite", action="store_true", help="do not time `make test`")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--readme", action="store_true", help="put the table in README.md's Performance section"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (assemblies, runtime state)"
    )
    parser.add_argument("--dry-run", action="store_true", help="no measurements: exercise the harness only")
    args = parser.parse_args(argv)
    if args.dry_run:
        from benchmarks.report import dry_run_results

        results = dry_run_results()
    else:
        results = run_all(args)
    problems = validate(results)
    if problems:  # a harness bug, not a timing: say so, still write what we have
        print("results.json schema problems: " + "; ".join(problems), file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    table = render_table(results)
    print(table)
    if args.readme:
        update_readme(PROJECT_ROOT / "README.md", table)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
