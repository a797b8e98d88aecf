"""Phase `listing`: `/api/models` end to end, one provider of models at a time,
with the upstream's `/models` fine, slow to send its headers, and dead."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..figures import Figure
from ..settings import PIPE_ID
from ..stats import longest_delays, median
from .pipes import pipes_dead

if TYPE_CHECKING:
    from ..core import Bench


async def run(bench: Bench) -> None:
    raw: dict[str, Any] = {}
    bench.raw["listing"] = raw
    try:
        raw["normal_ms"] = await normal(bench)
        raw["slow_ms"], raw["slow_health"] = await slow(bench)
        await dead(bench, raw)
    finally:
        bench.upstream.clear()
        bench.restore()
    add_figures(bench, raw)


async def list_models(
    bench: Bench, refresh: bool = False, watch: float = 0.0
) -> tuple[float, list[str], dict]:
    """GET /api/models as the admin: seconds, ids, /health window meanwhile.

    `watch` keeps the /health window open that long at least: a listing the
    pipe answers from its cache returns at once while its refresh of the slow
    /models still runs in the background, and that must not stall the loop.
    """
    url = f"{bench.server.base_url}/api/models" + ("?refresh=true" if refresh else "")
    headers = {"Authorization": f"Bearer {bench.token}"}
    t0 = time.monotonic()
    async with bench.session.get(url, headers=headers) as response:
        data = await response.json()
    t1 = time.monotonic()
    await asyncio.sleep(max(0.0, t0 + watch - t1))
    ids = [m["id"] for m in data.get("data", [])]
    return t1 - t0, ids, bench.prober.window(t0, max(t1, t0 + watch))


async def normal(bench: Bench) -> dict[str, list[float]]:
    """Normal listings. ?refresh=true empties Open WebUI's own caches: the built-in
    fetches /models every time, the pipe answers from its MODEL_CACHE_TTL cache."""
    found: dict[str, list[float]] = {"builtin": [], "pipe": []}
    for rep in range(bench.plan.listing_reps):
        for side in bench.sides(rep, minimal=False):
            bench.only(side)
            seconds, ids, _ = await list_models(bench, refresh=True)
            if bench.model_for(side) not in ids:
                bench.errors.append(f"listing {side}: {bench.model_for(side)} missing")
            found[side].append(seconds * 1000)
    return found


async def slow(bench: Bench) -> tuple[dict[str, list[float]], dict[str, list[dict]]]:
    """Slow /models (headers late): the built-in waits every time; the pipe waits
    when its cache has expired (MODEL_CACHE_TTL=0 here), else not ("pipe_warm")."""
    times: dict[str, list[float]] = {"builtin": [], "pipe": [], "pipe_warm": []}
    health: dict[str, list[dict]] = {"builtin": [], "pipe": [], "pipe_warm": []}

    async def late_listing(name: str) -> None:
        delay = bench.plan.slow_seconds
        bench.upstream.add_fault(
            "delay_headers", path="/v1/models", times=1, seconds=delay
        )
        seconds, _, window = await list_models(bench, refresh=True, watch=delay + 0.2)
        times[name].append(seconds * 1000)
        health[name].append(window)

    for rep in range(bench.plan.slow_listing_reps):
        for side in bench.sides(rep, minimal=False):
            bench.only(side)
            if side == "pipe":
                bench.set_pipe_valves(MODEL_CACHE_TTL=0)
            await late_listing(side)
            if side == "pipe":
                bench.set_pipe_valves()  # TTL back to 300 s
                await list_models(bench)  # refills the cache
                await late_listing("pipe_warm")
                bench.upstream.clear()  # the fault nobody consumed
    return times, health


async def dead(bench: Bench, raw: dict[str, Any]) -> None:
    """A dead endpoint (accepts TCP, never answers): a first listing, then another;
    the pipe's, then (full run) the built-in's."""
    found: dict[str, list[float]] = {}
    health: dict[str, list[dict]] = {}

    async def listing(name: str) -> list[str]:
        seconds, ids, window = await list_models(bench)
        found[name] = [seconds * 1000]
        health[name] = [window]
        return ids

    bench.only("pipe")
    bench.set_pipe_valves(OPENAI_API_BASE_URL=bench.blackhole.base_url)
    # pipes() in-process against the same dead endpoint, meanwhile (it only waits).
    inproc = (
        asyncio.ensure_future(pipes_dead(bench)) if "pipes" in bench.phases else None
    )
    for name in ("pipe_first", "pipe_second"):
        raw.setdefault("dead_ids", {})[name] = await listing(name)
    bench.set_pipe_valves()
    if bench.plan.builtin_dead:
        bench.admin.set_function_active(PIPE_ID, False)
        bench.set_builtin(bench.blackhole.base_url, enabled=True)
        names = ["builtin_first"]
        if bench.plan.builtin_dead_twice:
            names.append("builtin_second")
        for name in names:
            await asyncio.sleep(1.1)  # past the built-in's 1 s list cache
            await listing(name)
    if inproc is not None:
        bench.raw["pipes.dead"] = await inproc
    raw["dead_ms"] = found
    raw["dead_health"] = health


def first(values: list[float] | None) -> float | None:
    return values[0] if values else None


def add_figures(bench: Bench, raw: dict[str, Any]) -> None:
    plan = bench.plan
    delay = plan.slow_seconds
    normal, slow, dead = raw["normal_ms"], raw["slow_ms"], raw["dead_ms"]
    dead_health = raw["dead_health"]
    skipped = "built-in skipped in --quick"
    quick_note = "" if plan.builtin_dead else skipped
    slow_delays = {
        side: longest_delays(raw["slow_health"][side]) for side in ("builtin", "pipe")
    }
    dead_builtin = longest_delays(
        dead_health.get("builtin_first", []) + dead_health.get("builtin_second", [])
    )
    dead_pipe = longest_delays(dead_health["pipe_first"] + dead_health["pipe_second"])
    late = f"/api/models, /models {delay:g} s late, pipe cache"
    fine, late_n = plan.listing_reps, plan.slow_listing_reps
    for name, label, times, pipe, reps in (
        ("normal", "/api/models, upstream fine (median)", normal, "pipe", fine),
        ("slow", f"{late} expired", slow, "pipe", late_n),
        ("slow_warm", f"{late} warm", slow, "pipe_warm", late_n),
    ):
        bench.add(
            Figure(
                f"listing.{name}.median",
                label,
                "ms",
                median(times["builtin"]),
                median(times[pipe]),
                note=f"n={reps}",
            )
        )
    for which, listing, measured in (
        ("first", "first listing", plan.builtin_dead),
        ("second", "next listing", plan.builtin_dead_twice),
    ):
        bench.add(
            Figure.shown(
                f"listing.dead.{which}",
                f"/api/models, dead /models: {listing}",
                "ms",
                first(dead.get(f"builtin_{which}")),
                first(dead.get(f"pipe_{which}")),
                note="" if measured else skipped,
            )
        )
    for figure in (
        Figure.shown(
            "health.slow_models.max",
            f"/health longest, /models {delay:g} s late",
            "ms",
            slow_delays["builtin"][0],
            slow_delays["pipe"][0],
            note=f"{plan.slow_listing_reps} x each",
            typical={side: delays[1] for side, delays in slow_delays.items()},
        ),
        Figure.shown(
            "health.dead_models.max",
            "/health longest, dead /models",
            "ms",
            dead_builtin[0],
            dead_pipe[0],
            note=quick_note,
            # Two different listings, not repeats: judged by the longest.
            typical={"builtin": dead_builtin[0], "pipe": dead_pipe[0]},
        ),
    ):
        bench.add(figure)
