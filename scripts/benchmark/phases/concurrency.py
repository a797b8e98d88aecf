"""Phase `concurrency`: 1, 10 and 50 streams at once, chunks per second overall,
and the longest /health answer while they run at full speed."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ..client import StreamResult, values_of
from ..figures import Figure
from ..stats import longest, median, paired_ratios

if TYPE_CHECKING:
    from ..core import Bench


async def run(bench: Bench) -> None:
    plan = bench.plan
    bench.raw["health.streams"] = {}
    for kind in ("api", "web"):
        chunks = plan.conc_chunks if kind == "api" else plan.web_conc_chunks
        for n, reps in zip(plan.concurrency, plan.conc_reps):
            await concurrent(bench, f"{kind}.c{n}", kind, n, reps, chunks)
    # The longest /health answer while streams ran, over every level, per path.
    for kind in ("api", "web"):
        for stat in ("max", "p99"):
            values = {
                side: [
                    w[f"{stat}_ms"]
                    for w in windows
                    if w["kind"] == kind and w[f"{stat}_ms"] is not None
                ]
                for side, windows in bench.raw["health.streams"].items()
            }
            bench.add(
                Figure.shown(
                    f"health.streams.{kind}.{stat}",
                    f"/health {'longest' if stat == 'max' else 'p99'}, "
                    f"{'API' if kind == 'api' else 'web'} streams at full speed",
                    "ms",
                    longest(values.get("builtin") or []),
                    longest(values.get("pipe") or []),
                    minimal=longest(values.get("minimal") or []),
                    note="worst window" if stat == "p99" else "",
                )
            )


async def burst(
    bench: Bench, side: str, kind: str, n: int, chunks: int
) -> tuple[float, list[StreamResult]]:
    """`n` streams at once: seconds from the start to the last chunk delivered.

    Throughput is the rate chunks reach the reader. What follows the last chunk
    (on the web path Open WebUI saving the answer, and the pipe's usage line) is
    each answer's end, timed by the sequential "total" figures."""
    started = time.monotonic()
    results = await asyncio.gather(*[bench.one(side, kind, chunks) for _ in range(n)])
    ends = [r.last_at for r in results if r.last_at is not None]
    finished = max(ends) if ends else time.monotonic()
    return finished - started, list(results)


async def concurrent(
    bench: Bench,
    key: str,
    kind: str,
    n: int,
    reps: int,
    chunks: int,
    label: str = "",
    health: bool = True,
) -> None:
    """`reps` bursts of `n` streams per side: chunks/s and TTFT figures.

    `health`: keep each burst's /health window (`health.streams`) for the
    figures of the concurrency phase. `label` goes before the figures' labels."""
    rates: dict[str, list[float]] = {}
    ttfts: dict[str, list[float]] = {}
    received: dict[str, list[int]] = {}  # per burst: equal across sides, or
    # the rates would compare different work (Open WebUI may coalesce deltas)
    for rep in range(reps):
        minimal = bench.plan.minimal_in_concurrency
        for side in bench.sides(rep, minimal=minimal, floor=kind == "api"):
            t0 = time.monotonic()
            seconds, results = await burst(bench, side, kind, n, chunks)
            t1 = time.monotonic()
            good = bench.note_failures(f"{key}.{side}", results)
            delivered = sum(r.chunks for r in results)
            rates.setdefault(side, []).append(delivered / seconds)
            ttfts.setdefault(side, []).extend(values_of(good, "ttft"))
            received.setdefault(side, []).append(delivered)
            if side != "floor" and health:
                window = bench.prober.window(t0, t1)
                window.update(kind=kind, concurrency=n, seconds=seconds, rep=rep)
                bench.raw["health.streams"].setdefault(side, []).append(window)
            await asyncio.sleep(0.2 if n > 1 else 0.05)  # let it settle
    pairs = paired_ratios(rates, "rate")
    bench.raw[key] = {
        "chunks_per_stream": chunks,
        "rate_chunks_per_s": rates,
        "ttft_ms": ttfts,
        "chunks_received": received,
        "paired_ratio_rate": pairs,
    }
    path = "API" if kind == "api" else "web"
    bench.add(
        Figure.of(
            f"{key}.rate",
            f"{label}{path} {n} concurrent x {chunks} chunks: chunks/s",
            "chunks/s",
            {side: median(values) for side, values in rates.items()},
            ratio_kind="rate",
            note=f"n={reps}" + (f", paired ratio {median(pairs):.3f}" if pairs else ""),
            paired=median(pairs),
        )
    )
    bench.add(
        Figure.of(
            f"{key}.ttft.median",
            f"{label}{path} {n} concurrent: TTFT median",
            "ms",
            {side: median(values) for side, values in ttfts.items()},
        )
    )
