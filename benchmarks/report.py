"""results.json: its schema check, the readable table, the README section, and a dry run's results."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from benchmarks.stats import ratio, run_interleaved, summary

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"

# Keys each section must have when it ran (a skipped section is {"skipped": reason}).
REQUIRED: dict[str, tuple[str, ...]] = {
    "meta": ("date", "machine", "quick", "repetitions"),
    "synth": (
        "repetitions",
        "full_app_s",
        "reference_app_s",
        "ratio_full_to_reference",
        "unchanged_requirements",
    ),
    "cold_start": ("repetitions", "functions"),
    "warm_path": ("repetitions", "requests_per_round", "concurrency", "routes"),
    "pipeline": ("repetitions", "orders", "all_readable_s", "lost"),
    "data_plane": ("calls", "calls_per_order", "orders", "order_ms", "orders_per_s"),
    "size": ("assets",),
    "suite": ("seconds", "exit_code", "repetitions"),
}
COLD_KEYS = ("function", "bare", "ratio", "imports")
ROUTE_KEYS = ("p50_ms", "p90_ms", "p99_ms", "rps", "rounds", "statuses")
# The data-plane call each API route's work rests on (its floor in the warm path table).
ROUTE_FLOOR = {"GET /users/{id}": "GetItem", "POST /orders": "SendMessage"}
SIZE_KEYS = ("kind", "unzipped_bytes", "zipped_bytes")


def validate(results: dict[str, Any]) -> list[str]:
    """What is missing or malformed; [] when results.json has the documented shape."""
    problems: list[str] = []
    for section, keys in REQUIRED.items():
        value = results.get(section)
        if not isinstance(value, dict):
            problems.append(f"{section}: missing")
            continue
        if section != "meta" and "skipped" in value:
            continue
        problems += [f"{section}.{key}: missing" for key in keys if key not in value]
    meta = results.get("meta", {})
    if isinstance(meta, dict) and not isinstance(meta.get("machine", {}).get("cores"), int):
        problems.append("meta.machine.cores: not an integer")
    cold = results.get("cold_start", {})
    for name, figures in (cold.get("functions") or {}).items():
        problems += [f"cold_start.functions.{name}.{key}: missing" for key in COLD_KEYS if key not in figures]
    warm = results.get("warm_path", {})
    for name, figures in (warm.get("routes") or {}).items():
        problems += [f"warm_path.routes.{name}.{key}: missing" for key in ROUTE_KEYS if key not in figures]
    sizes = results.get("size", {})
    for name, figures in (sizes.get("assets") or {}).items():
        problems += [f"size.assets.{name}.{key}: missing" for key in SIZE_KEYS if key not in figures]
    return problems


def _kib(size: int) -> str:
    return f"{size / 1024:,.1f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:,.2f} MiB"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def _cold(side: dict[str, Any]) -> str:
    return (
        f"{side['wall_ms']['median']:.0f} ms (init {side['init_ms']:.0f}, "
        f"invoke {side['first_invoke_ms']:.0f})"
    )


def _skipped(section: dict[str, Any]) -> str | None:
    return section.get("skipped") if isinstance(section, dict) else "missing"


def render_table(results: dict[str, Any]) -> str:
    """Markdown tables (readable in a terminal too)."""
    meta = results.get("meta", {})
    machine = meta.get("machine", {})
    plane = results.get("data_plane", {})
    floor = {} if _skipped(plane) else plane
    out = [
        f"Measured {meta.get('date')} on {machine.get('cores')} cores ({machine.get('machine')}, "
        f"{machine.get('platform')}, Python {machine.get('python')}); "
        f"{'--quick' if meta.get('quick') else 'default'} run, repetitions {meta.get('repetitions')}; "
        f"medians over the repetitions; A/B comparisons interleaved in one run; "
        f"whole run {meta.get('duration_s')} s.",
        "",
    ]

    synth = results.get("synth", {})
    out.append("**Synth** (`cdk synth`, dev stage)")
    if reason := _skipped(synth):
        out.append(f"skipped: {reason}")
    else:
        unchanged = synth["unchanged_requirements"]
        out += _table(
            ["figure", "median", "runs"],
            [
                [
                    "full app (3 stacks, 7 functions)",
                    f"{synth['full_app_s']['median']:.1f} s",
                    synth["full_app_s"]["runs"],
                ],
                [
                    "reference app (1 function, same constructs)",
                    f"{synth['reference_app_s']['median']:.1f} s",
                    synth["reference_app_s"]["runs"],
                ],
                ["ratio full / reference", f"{synth['ratio_full_to_reference']:.2f}x", ""],
                [
                    "synth with unchanged requirements",
                    f"{unchanged['synth_s']['median']:.1f} s — layer rebuilt: "
                    f"{'yes' if unchanged['layer_rebuilt'] else 'no'}, "
                    f"`{unchanged['marker']}` ({unchanged['cache_hits']} runs)",
                    unchanged["synth_s"]["runs"],
                ],
                [
                    "first synth of the run",
                    f"{synth['first_synth']['seconds']:.1f} s, "
                    + ", ".join(f"`{m}`" for m in synth["first_synth"]["markers"]),
                    1,
                ],
            ],
        )
    out.append("")

    cold = results.get("cold_start", {})
    out.append("**Cold start** (fresh worker: process start → first reply, through the local runtime)")
    if reason := _skipped(cold):
        out.append(f"skipped: {reason}")
    else:
        rows = []
        for name, f in cold["functions"].items():
            fn, bare = f["function"], f["bare"]
            failed = fn["failed"] + bare["failed"]  # a 5xx or an error: the timing is not comparable
            top = ", ".join(f"{t['module']} {t['cumulative_ms']:.0f}" for t in f["imports"]["top"])
            compiled = f["imports"]["compiled_in_lambda"]
            rows.append(
                [
                    name,
                    _cold(fn),
                    _cold(bare),
                    f"{f['ratio']:.2f}x" + (f" (⚠ {failed} invocations failed)" if failed else ""),
                    f"{f['imports']['total_ms']:.0f} ms: {top}",
                    f"{compiled['modules']} modules, {compiled['cpu_ms']:.0f} ms",
                ]
            )
        out += _table(
            [
                "function",
                "function",
                "bare boto3 handler",
                "ratio",
                "import time (top 5 direct imports, ms)",
                "compiled at each Lambda cold start (CPU here)",
            ],
            rows,
        )
        out.append(
            f"{cold['repetitions']} cold starts each side, interleaved; import times: median of "
            f"{next(iter(cold['functions'].values()))['imports']['runs']} `python -X importtime` runs. "
            "Last column: the function's and its layers' modules imported at init, which Lambda compiles "
            "at every cold start (read-only `/var/task` and `/opt`, assets without bytecode) and the local "
            "workers do not (they keep bytecode): CPU to compile them with this Python."
        )
    out.append("")

    warm = results.get("warm_path", {})
    out.append("**Warm path** (API through the local runtime, closed loop from a second process)")
    if reason := _skipped(warm):
        out.append(f"skipped: {reason}")
    else:
        out += _table(
            [
                "route, clients",
                "p50",
                "p90",
                "p99",
                "requests/s",
                "p50 ÷ its data-plane call's p50",
                "statuses",
            ],
            [
                [
                    name,
                    f"{r['p50_ms']:.1f} ms",
                    f"{r['p90_ms']:.1f} ms",
                    f"{r['p99_ms']:.1f} ms",
                    f"{r['rps']:.1f}",
                    _to_floor(r["p50_ms"], _route_floor(name, floor)),
                    ", ".join(f"{k}x{v}" for k, v in sorted(r["statuses"].items())),
                ]
                for name, r in warm["routes"].items()
            ],
        )
        out.append(
            f"clients: {warm['concurrency']} (closed loop), {warm['requests_per_round']} requests per round, "
            f"{warm['repetitions']} rounds per route interleaved; median of the rounds' figures."
        )
    out.append("")

    out.append("**Data-plane floor** (moto alone, boto3 from one client, no runtime: the limit of the above)")
    if reason := _skipped(plane):
        out.append(f"skipped: {reason}")
    else:
        out += _table(
            ["call", "p50", "p90", "calls"],
            [
                [kind, f"{c['p50_ms']:.1f} ms", f"{c['p90_ms']:.1f} ms", c["calls"]]
                for kind, c in plane["calls"].items()
            ],
        )
        out.append(
            f"One order's {plane['calls_per_order']} data-plane calls in sequence: {plane['order_ms']} ms, "
            f"i.e. {plane['orders_per_s']} orders/s for one process doing only those "
            f"({plane['orders']} orders)."
        )
        if released := plane.get("released_moto"):
            out.append(
                "Measured on the runtime's moto (`local-runtime/local_runtime/moto_server.py`); "
                f"moto as released, same run: {released['orders_per_s']} orders/s, "
                + ", ".join(f"{k} {c['p50_ms']:.1f} ms" for k, c in released["calls"].items())
                + " (p50)."
            )
    out.append("")

    pipe = results.get("pipeline", {})
    out.append("**Pipeline** (API → queue → processor → bus → projection, until all readable)")
    if reason := _skipped(pipe):
        out.append(f"skipped: {reason}")
    else:
        out += _table(
            [
                "orders",
                "accepted by the API",
                "all stored",
                "all projected",
                "all readable (GET 200, counts right)",
                "orders/s",
                "÷ data-plane floor",
                "lost",
                "runs",
            ],
            [
                [
                    pipe["orders"],
                    f"{pipe['api_accept_s']} s",
                    f"{pipe['all_stored_s']} s",
                    f"{pipe['all_projected_s']} s",
                    f"{pipe['all_readable_s']} s",
                    pipe["orders_per_s"],
                    _to_floor(pipe["orders_per_s"], floor.get("orders_per_s")),
                    pipe["lost"],
                    pipe["repetitions"],
                ]
            ],
        )
    out.append("")

    sizes = results.get("size", {})
    out.append("**Size** (cdk.out assets; zipped = deflate zip of the asset directory)")
    if reason := _skipped(sizes):
        out.append(f"skipped: {reason}")
    else:
        out += _table(
            ["asset", "kind", "files", "unzipped", "zipped"],
            [
                [name, a["kind"], a.get("files", ""), _kib(a["unzipped_bytes"]), _kib(a["zipped_bytes"])]
                for name, a in sorted(sizes["assets"].items(), key=lambda item: (item[1]["kind"], item[0]))
            ],
        )
    out.append("")

    suite = results.get("suite", {})
    out.append("**Test suite** (`make test`)")
    if reason := _skipped(suite):
        out.append(f"skipped: {reason}")
    else:
        out.append(
            f"{suite['seconds']:.0f} s wall, exit {suite['exit_code']} ({suite.get('outcome', '')}); "
            f"{suite.get('note', '')}."
        )
        if suite.get("failed_tests"):
            out.append("Failed in that run: " + ", ".join(f"`{t}`" for t in suite["failed_tests"]))
    return "\n".join(out) + "\n"


def _route_floor(route: str, floor: dict[str, Any]) -> float | None:
    kind = ROUTE_FLOOR.get(route.split(",")[0])
    return floor.get("calls", {}).get(kind, {}).get("p50_ms") if kind else None


def _to_floor(value: float, floor_value: float | None) -> str:
    share = ratio(value, floor_value) if floor_value else None
    return "" if share is None else f"{share:.2f}x"


def update_readme(readme: Path, table: str) -> None:
    """Replace the table between the bench markers of README.md's Performance section."""
    text = readme.read_text()
    block = f"{README_START}\n{table}{README_END}"
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {README_START} … {README_END} block")
    readme.write_text(pattern.sub(lambda _: block, text))


def dry_run_results() -> dict[str, Any]:
    """Schema-complete results from fixed numbers, through the same aggregation code (no measurement)."""
    from benchmarks.cold_start import _side
    from benchmarks.warm_path import combine, round_figures

    fake = iter(range(1, 1000))
    synth_runs = run_interleaved(
        {"full": lambda: float(next(fake)), "reference": lambda: float(next(fake))}, 2
    )
    cold_run = {"wall_ms": 100.0, "init_ms": 60.0, "invoke_ms": 30.0, "ok": True, "error": None}
    side = _side([cold_run, cold_run])
    route = combine(
        [round_figures({"latencies_ms": [1.0, 2.0, 3.0], "statuses": {"200": 3}, "seconds": 1.0})]
    )
    return {
        "meta": {
            "date": "dry run",
            "machine": {"cores": 1, "platform": "dry", "machine": "dry", "python": "3"},
            "quick": True,
            "repetitions": {"synth": 2},
        },
        "synth": {
            "repetitions": 2,
            "full_app_s": summary(synth_runs["full"]),
            "reference_app_s": summary(synth_runs["reference"]),
            "ratio_full_to_reference": 1.0,
            "first_synth": {"seconds": 1.0, "markers": ["cache hit dry"]},
            "unchanged_requirements": {
                "synth_s": summary(synth_runs["full"]),
                "layer_rebuilt": False,
                "cache_hits": "2/2",
                "marker": "cache hit dry",
            },
        },
        "cold_start": {
            "repetitions": 2,
            "functions": {
                "Dry": {
                    "function": side,
                    "bare": side,
                    "ratio": 1.0,
                    "imports": {
                        "total_ms": 1.0,
                        "top": [{"module": "json", "cumulative_ms": 1.0}],
                        "runs": 1,
                        "compiled_in_lambda": {"modules": 1, "cpu_ms": 1.0},
                    },
                }
            },
        },
        "warm_path": {
            "repetitions": 1,
            "requests_per_round": 3,
            "concurrency": [1],
            "routes": {"GET /users/{id}, 1 client": route},
        },
        "data_plane": {
            "calls": {"GetItem": {"p50_ms": 1.0, "p90_ms": 2.0, "calls": 3}},
            "calls_per_order": 11,
            "orders": 1,
            "order_ms": 11.0,
            "orders_per_s": 90.9,
        },
        "pipeline": {
            "repetitions": 1,
            "orders": 1,
            "api_accept_s": 0.1,
            "all_stored_s": 0.2,
            "all_projected_s": 0.3,
            "all_readable_s": 0.4,
            "orders_per_s": 2.5,
            "lost": 0,
            "runs": [],
        },
        "size": {
            "assets": {"Dry": {"kind": "function", "files": 1, "unzipped_bytes": 10, "zipped_bytes": 5}}
        },
        "suite": {"skipped": "dry run"},
    }
