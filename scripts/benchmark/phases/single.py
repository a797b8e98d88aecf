"""Phases `api` and `web`: one stream at a time, time to first token and total
time of short and long answers, every side in turn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..client import StreamResult, values_of
from ..figures import Figure
from ..stats import median, p95, paired_ratios

if TYPE_CHECKING:
    from ..core import Bench


async def run_api(bench: Bench) -> None:
    plan = bench.plan
    await sequential(bench, "api.short", "api", plan.short_chunks, plan.reps_short)
    await sequential(bench, "api.long", "api", plan.long_chunks, plan.reps_long)


async def run_web(bench: Bench) -> None:
    plan = bench.plan
    await sequential(bench, "web.short", "web", plan.short_chunks, plan.web_reps_short)
    await sequential(bench, "web.long", "web", plan.long_chunks, plan.web_reps_long)


async def sequential(
    bench: Bench, key: str, kind: str, chunks: int, reps: int, label: str = ""
) -> None:
    """`reps` single streams per side, in rotating order; TTFT and total.

    `label` goes before each figure's label (the `responses` phase's rows)."""
    results: dict[str, list[StreamResult]] = {}
    for rep in range(reps):
        for side in bench.sides(rep, floor=kind == "api"):
            results.setdefault(side, []).append(await bench.one(side, kind, chunks))
    good = {
        side: bench.note_failures(f"{key}.{side}", rs) for side, rs in results.items()
    }
    raw = bench.raw[key] = {
        side: {
            "ttft_ms": [None if r.ttft is None else r.ttft * 1000 for r in rs],
            "total_ms": [r.total * 1000 for r in rs],
            "ok": [r.ok for r in rs],
        }
        for side, rs in results.items()
    }
    paired, paired_minimal = pair(results, raw)
    path = "API" if kind == "api" else "web"
    size = "short" if chunks == bench.plan.short_chunks else "long"
    for metric, attr in (("TTFT", "ttft"), ("total", "total")):
        for stat_name, stat in (("median", median), ("p95", p95)):
            note = f"n={reps}"
            if stat_name == "median" and paired[attr] is not None:
                note += f", paired ratio {paired[attr]:.3f}"
            bench.add(
                Figure.of(
                    f"{key}.{attr}.{stat_name}",
                    f"{label}{path} {size} ({chunks} chunks) {metric} {stat_name}",
                    "ms",
                    {side: stat(values_of(good[side], attr)) for side in good},
                    note=note,
                    paired=paired[attr] if stat_name == "median" else None,
                    paired_minimal=(
                        paired_minimal[attr] if stat_name == "median" else None
                    ),
                )
            )


def pair(
    results: dict[str, list[StreamResult]], raw: dict
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Median paired ratios of TTFT and total, against the built-in and against the
    minimal pipe; each repetition's ratios go into `raw`.

    Pipe over built-in within the same repetition (run back to back): their median
    shrugs off drift better than a ratio of medians."""
    paired: dict[str, float | None] = {}
    paired_minimal: dict[str, float | None] = {}
    for attr in ("ttft", "total"):
        values = {
            side: [getattr(r, attr) if r.ok else None for r in rs]
            for side, rs in results.items()
        }
        pairs = paired_ratios(values)
        paired[attr] = median(pairs)
        raw[f"paired_ratio_{attr}"] = pairs
        pairs = paired_ratios(values, reference="minimal")
        paired_minimal[attr] = median(pairs)
        raw[f"paired_ratio_minimal_{attr}"] = pairs
    return paired, paired_minimal
