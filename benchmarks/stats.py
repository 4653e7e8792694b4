"""Small, dependency-free statistics for the benchmarks: medians, percentiles, interleaving, ratios."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")


def median(values: Iterable[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Iterable[float], p: float) -> float:
    """Linear-interpolated percentile (p in 0..100), the same as numpy's default method."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(a: float, b: float) -> float | None:
    """a / b, or None when b is zero (a figure, never an exception)."""
    return None if b == 0 else a / b


def interleave(labels: Sequence[str], repetitions: int) -> list[tuple[int, str]]:
    """The run order for a side-by-side comparison: A B A B ... (repetition, label) pairs."""
    if repetitions < 1:
        raise ValueError("at least one repetition")
    return [(rep, label) for rep in range(repetitions) for label in labels]


def run_interleaved(measures: dict[str, Callable[[], T]], repetitions: int) -> dict[str, list[T]]:
    """Call each measure once per repetition, alternating between them; the results by label."""
    results: dict[str, list[T]] = {label: [] for label in measures}
    for _, label in interleave(list(measures), repetitions):
        results[label].append(measures[label]())
    return results


def summary(values: Sequence[float]) -> dict[str, float | int]:
    """Median plus spread of repeated measurements (ms or s, as given)."""
    return {
        "median": round(median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "runs": len(values),
    }
