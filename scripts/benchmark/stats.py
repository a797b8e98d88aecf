"""The few statistics the figures and targets are made of.

Pure functions of lists of numbers (tests/test_bench.py tests them): every ratio
reads "how much worse is the pipe", above 1 when it is slower.
"""

from __future__ import annotations

import math


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    data = sorted(v for v in values if v is not None and not math.isnan(v))
    if not data:
        return None
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def median(values: list[float]) -> float | None:
    return percentile(values, 50)


def p95(values: list[float]) -> float | None:
    return percentile(values, 95)


def longest(values: list[float]) -> float | None:
    """The largest value, None for none (max() would raise)."""
    return max(values) if values else None


def longest_delays(windows: list[dict]) -> tuple[float | None, float | None]:
    """The longest /health delay of all windows, and the typical window's longest.

    A step the pipe makes that holds the event loop comes back in every window; a
    pause of the machine or a garbage collection lands in one. The target judges
    the lower median of the windows' longest delays (with two windows, the
    smaller), the table shows the longest of all."""
    values = sorted(w["max_ms"] for w in windows if w.get("max_ms") is not None)
    if not values:
        return None, None
    return values[-1], values[(len(values) - 1) // 2]


def paired_ratios(
    results: dict[str, list[float | None]],
    kind: str = "time",
    side: str = "pipe",
    reference: str = "builtin",
) -> list[float]:
    """side/reference (times) or reference/side (rates) for each repetition.

    Runs made back to back share the machine's state of the moment, so the median
    of their ratios shrugs off drift better than a ratio of medians; a failed run
    (None) drops its pair."""
    pairs = []
    for value, base in zip(results.get(side, []), results.get(reference, [])):
        if value and base:
            pairs.append(value / base if kind == "time" else base / value)
    return pairs
