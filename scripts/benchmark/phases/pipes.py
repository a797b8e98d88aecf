"""Phase `pipes`: the pipe's `pipes()` in-process, loaded from the built file like
Open WebUI loads it (tests/owhost.py): warm cache, expired cache, a new instance,
a dead endpoint."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..figures import Figure
from ..settings import UPSTREAM_KEY
from ..stats import median, p95

if TYPE_CHECKING:
    from ..core import Bench


def load_host(bench: Bench, base_url: str, ttl: int = 300):
    """The built file loaded like Open WebUI loads it (tests/owhost.py)."""
    from tests.owhost import Host, load_pipe

    host = Host(
        load_pipe(bench.pipe_source),
        {
            "OPENAI_API_BASE_URL": base_url,
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "ALLOW_GLOBAL_KEY_FALLBACK": True,
            "MODEL_CACHE_TTL": ttl,
        },
    )
    host._refresh_valves()
    return host


async def timed(
    call: Callable[[], Awaitable[Any]], times: int, scale: float
) -> list[float]:
    """`call` awaited `times` times; each call's seconds times `scale`."""
    found = []
    for _ in range(times):
        t0 = time.perf_counter()
        await call()
        found.append((time.perf_counter() - t0) * scale)
    return found


async def pipes_dead(bench: Bench) -> dict:
    """pipes() against a dead endpoint: the first call waits, the next is cached."""
    host = load_host(bench, bench.blackhole.base_url)
    try:
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            listed = await host.pipe.pipes()
            times.append((time.perf_counter() - t0) * 1000)
        return {"first_ms": times[0], "second_ms": times[1], "listed": listed}
    finally:
        await host.pipe.close()


async def run(bench: Bench) -> None:
    plan = bench.plan
    host = load_host(bench, bench.upstream.base_url)
    try:
        await host.pipe.pipes()  # fills the cache
        warm = await timed(host.pipe.pipes, plan.pipes_warm_calls, 1e6)
        # What Open WebUI does around it on each listing: new Valves, then pipes().
        with_valves = await timed(host.models, min(500, plan.pipes_warm_calls), 1e6)
    finally:
        await host.pipe.close()
    cold_host = load_host(bench, bench.upstream.base_url, ttl=0)
    try:
        cold = await timed(cold_host.pipe.pipes, plan.pipes_cold_calls, 1000)
    finally:
        await cold_host.pipe.close()
    first = []  # a new instance: first listing after a restart or a code update
    for _ in range(min(5, plan.pipes_cold_calls)):
        fresh = load_host(bench, bench.upstream.base_url)
        try:
            first += await timed(fresh.pipe.pipes, 1, 1000)
        finally:
            await fresh.pipe.close()
    dead = bench.raw.get("pipes.dead") or await pipes_dead(bench)
    bench.raw["pipes.dead"] = dead
    bench.raw["pipes"] = {
        "warm_us": warm,
        "warm_with_valves_us": with_valves,
        "cold_ttl0_ms": cold,
        "fresh_instance_ms": first,
        "dead": {k: v for k, v in dead.items() if k != "listed"},
        "dead_listed": dead.get("listed"),
    }
    for key, label, unit, value, note in (
        (
            "pipes.warm.median",
            "pipes() warm cache (in-process) median",
            "us",
            median(warm),
            f"n={len(warm)}",
        ),
        ("pipes.warm.p95", "pipes() warm cache (in-process) p95", "us", p95(warm), ""),
        (
            "pipes.warm_valves.median",
            "Valves(**saved) + pipes(), warm (median)",
            "us",
            median(with_valves),
            "what a listing costs",
        ),
        (
            "pipes.cold.median",
            "pipes() expired cache (TTL 0) median",
            "ms",
            median(cold),
            f"n={len(cold)}, last list served while /models refreshes",
        ),
        (
            "pipes.fresh.median",
            "pipes() cold cache: first call of a new instance",
            "ms",
            median(first),
            "",
        ),
        (
            "pipes.dead.first",
            "pipes() dead endpoint: first call",
            "ms",
            dead["first_ms"],
            "",
        ),
        (
            "pipes.dead.second",
            "pipes() dead endpoint: next call (same TTL)",
            "ms",
            dead["second_ms"],
            "",
        ),
    ):
        bench.add(Figure.shown(key, label, unit, None, value, note=note))
