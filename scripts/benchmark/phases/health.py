"""Phase `health`: /health while streams run at a model's pace, and while the
upstream's headers are late.

The concurrency phase streams as fast as the upstream can send, which keeps Open
WebUI's event loop busy all the time, so /health there measures queueing in a
saturated loop. Here streams arrive at 100 chunks/s each (a fast model) and leave
the loop mostly idle: a /health delay is then a step that held it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from ..client import StreamResult, values_of
from ..figures import Figure
from ..stats import longest_delays, median

if TYPE_CHECKING:
    from ..core import Bench


async def run(bench: Bench) -> None:
    idle_t0 = time.monotonic()
    await asyncio.sleep(1.0)
    idle = bench.prober.window(idle_t0, time.monotonic())
    bench.raw["health.idle"] = idle
    await paced(bench)
    windows, totals = await slow_headers(bench)
    delay = bench.plan.slow_seconds
    n = bench.plan.header_delay_streams
    delays = {side: longest_delays(ws) for side, ws in windows.items()}
    bench.add(
        Figure.shown(
            "health.idle.max",
            "/health longest, idle (reference)",
            "ms",
            idle["max_ms"],
            idle["max_ms"],
        )
    )
    bench.add(
        Figure.shown(
            "health.slow_headers.max",
            f"/health longest, upstream headers {delay:g} s late",
            "ms",
            delays.get("builtin", (None,))[0],
            delays.get("pipe", (None,))[0],
            note=f"{bench.plan.health_reps} x ({n} API + {n} web chats)",
            typical={side: d[1] for side, d in delays.items()},
        )
    )
    bench.add(
        Figure(
            "health.slow_headers.total.median",
            f"chat total, headers {delay:g} s late (median)",
            "ms",
            median(totals.get("builtin", [])),
            median(totals.get("pipe", [])),
        )
    )


async def later(delay: float, coro: Awaitable[StreamResult]) -> StreamResult:
    await asyncio.sleep(delay)
    return await coro


async def paced(bench: Bench) -> None:
    """50 API streams, then 10 web streams, at 100 chunks/s each."""
    plan = bench.plan
    marker = " [[delay:0.01]]"
    streams = {"api": plan.paced_api_streams, "web": plan.paced_web_streams}
    found: dict[str, dict[str, list[dict]]] = {"api": {}, "web": {}}
    for kind, count in streams.items():
        for rep in range(plan.health_reps):
            for side in bench.sides(rep, minimal=False):
                t0 = time.monotonic()
                # Users do not all press Enter in the same millisecond: the
                # streams start 10 ms apart (0.5 s for 50).
                results = await asyncio.gather(
                    *[
                        later(
                            i * 0.01, bench.one(side, kind, plan.paced_chunks, marker)
                        )
                        for i in range(count)
                    ]
                )
                window = bench.prober.window(t0, time.monotonic())
                window["seconds"] = time.monotonic() - t0
                found[kind].setdefault(side, []).append(window)
                bench.note_failures(f"health.paced.{kind}.{side}", list(results))
    bench.raw["health.paced"] = found
    for kind, count in streams.items():
        typical = {side: longest_delays(ws)[1] for side, ws in found[kind].items()}
        for stat in ("max", "p99"):
            values = {
                side: max((w[f"{stat}_ms"] or 0) for w in ws)
                for side, ws in found[kind].items()
            }
            bench.add(
                Figure.shown(
                    f"health.paced.{kind}.{stat}",
                    f"/health {'longest' if stat == 'max' else 'p99'}, {count} "
                    f"{'API' if kind == 'api' else 'web'} streams at 100 chunks/s",
                    "ms",
                    values.get("builtin"),
                    values.get("pipe"),
                    note=f"{plan.paced_chunks} chunks each, starts 10 ms apart"
                    + (", worst window" if stat == "p99" else ""),
                    typical=typical if stat == "max" else {},
                )
            )


async def slow_headers(
    bench: Bench,
) -> tuple[dict[str, list[dict]], dict[str, list[float]]]:
    """API and web chats at once whose upstream sends its headers late: the /health
    windows and the chats' total times, per side."""
    plan = bench.plan
    delay = plan.slow_seconds
    marker = f" [[fault:delay_headers seconds={delay}]]"
    windows: dict[str, list[dict]] = {}
    totals: dict[str, list[float]] = {}
    n = plan.header_delay_streams
    for rep in range(plan.health_reps):
        for side in bench.sides(rep, minimal=False):
            t0 = time.monotonic()
            results = await asyncio.gather(
                *[
                    bench.one(side, kind, plan.short_chunks, marker)
                    for kind in ("api", "web")
                    for _ in range(n)
                ]
            )
            windows.setdefault(side, []).append(
                bench.prober.window(t0, time.monotonic())
            )
            good = bench.note_failures(f"health.slow_headers.{side}", list(results))
            totals.setdefault(side, []).extend(values_of(good, "total"))
    bench.raw["health.slow_headers"] = {
        "windows": windows,
        "total_ms": totals,
        "delay_s": delay,
    }
    return windows, totals
