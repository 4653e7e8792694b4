"""Synth: full app vs the one-function reference app (interleaved), and the dependency layer's cache."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.stats import ratio, run_interleaved, summary

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_APP = Path(__file__).resolve().parent / "reference_app"
MARKER = re.compile(r"\[dependency-layer\] (cache hit \w+|built \w+ in [\d.]+s)")


def cdk_env() -> dict[str, str]:
    """PATH with this venv's python (cdk.json runs `python app.py`) and the pinned CDK CLI first."""
    path = os.pathsep.join(
        [str(Path(sys.executable).parent), str(PROJECT_ROOT / "node_modules" / ".bin"), os.environ["PATH"]]
    )
    return {**os.environ, "PATH": path}


def synth_once(app_dir: Path, outdir: Path, extra: list[str]) -> dict[str, Any]:
    """One `cdk synth --quiet` into a fresh outdir; its wall time and the dependency layer's marker."""
    shutil.rmtree(outdir, ignore_errors=True)
    command = ["cdk", "synth", "--quiet", "--output", str(outdir), *extra]
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 (fixed argv)
        command, cwd=app_dir, env=cdk_env(), capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"cdk synth in {app_dir} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    markers = MARKER.findall(result.stderr)
    return {"seconds": seconds, "markers": markers}


def run(work_dir: Path, repetitions: int) -> tuple[dict[str, Any], Path]:
    """Figures, and the full app's last cloud assembly (used by the size and runtime benchmarks)."""
    full_out, ref_out = work_dir / "full.out", work_dir / "reference.out"
    full = [PROJECT_ROOT, full_out, ["--context", "stage=dev"]]
    reference = [REFERENCE_APP, ref_out, []]
    # First synth of this run: builds the layer when its requirements changed since the last build.
    first = synth_once(*full)  # type: ignore[arg-type]
    runs = run_interleaved(
        {"full": lambda: synth_once(*full), "reference": lambda: synth_once(*reference)},  # type: ignore[arg-type]
        repetitions,
    )
    full_s = [r["seconds"] for r in runs["full"]]
    ref_s = [r["seconds"] for r in runs["reference"]]
    unchanged_markers = [m for r in runs["full"] for m in r["markers"]]
    hits = sum(1 for m in unchanged_markers if m.startswith("cache hit"))
    figures = {
        "repetitions": repetitions,
        "order": "first synth, then full/reference interleaved",
        "full_app_s": summary(full_s),
        "reference_app_s": summary(ref_s),
        "ratio_full_to_reference": round(ratio(summary(full_s)["median"], summary(ref_s)["median"]) or 0, 2),
        "first_synth": {"seconds": round(first["seconds"], 2), "markers": first["markers"]},
        "unchanged_requirements": {
            "synth_s": summary(full_s),
            "layer_rebuilt": any(m.startswith("built") for m in unchanged_markers),
            "cache_hits": f"{hits}/{len(runs['full'])}",
            "marker": unchanged_markers[-1] if unchanged_markers else None,
        },
    }
    return figures, full_out
