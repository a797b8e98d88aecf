"""Phase `inproc`: the pipe without Open WebUI around it, against a plain aiohttp
line reader (what the built-in connection does per chunk): CPU per chunk, time to
the first chunk, and the longest event-loop step under concurrent streams."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..client import CONTENT, prompt
from ..figures import Figure
from ..settings import MODEL, UPSTREAM_KEY
from ..stats import median
from .pipes import load_host

if TYPE_CHECKING:
    from ..core import Bench

Run = Callable[[], Awaitable[int]]


class longest_callback:
    """Context: the longest CPU time (thread time) any event-loop callback took.

    Wraps asyncio.Handle._run, through which the loop runs every ready callback
    (each task step is one), so a step that holds the loop shows up exactly."""

    def __enter__(self) -> list[float]:
        import asyncio.events

        self.original = asyncio.events.Handle._run
        longest = self.longest = [0.0]
        original = self.original

        def timed(handle) -> None:
            started = time.thread_time()
            original(handle)
            spent = time.thread_time() - started
            if spent > longest[0]:
                longest[0] = spent

        asyncio.events.Handle._run = timed
        return longest

    def __exit__(self, *exc_info: object) -> None:
        import asyncio.events

        asyncio.events.Handle._run = self.original


async def raw_lines(
    bench: Bench, session, chunks: int, first: list | None = None
) -> int:
    """What the built-in connection does per chunk: aiohttp's line iterator.

    `first` gets the seconds to the first content line appended."""
    started = time.perf_counter()
    body = {
        "model": MODEL,
        "stream": True,
        "messages": [{"role": "user", "content": prompt(chunks)}],
    }
    headers = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
    count = 0
    async with session.post(
        f"{bench.upstream.base_url}/chat/completions", json=body, headers=headers
    ) as response:
        async for line in response.content:
            if line.startswith(b"data:"):
                count += 1
                if first is not None and not first and CONTENT.search(line):
                    first.append(time.perf_counter() - started)
    return count


async def pipe_lines(host, chunks: int, first: list | None = None) -> int:
    """The pipe's async generator, consumed as Open WebUI's stream_content does.

    The emitter does nothing here; in Open WebUI each status event is a socket.io
    emit (and on the web path a database write as well)."""
    from tests.owhost import api_body, process_line

    async def emitter(_event: dict) -> None:
        return None

    started = time.perf_counter()
    stream = await host.call(
        api_body(MODEL, prompt(chunks), stream=True), emitter=emitter
    )
    count = 0
    async for item in stream:
        line = process_line(item)  # Open WebUI's own per-item work (API path)
        count += 1
        if first is not None and not first and CONTENT.search(line.encode()):
            first.append(time.perf_counter() - started)
    return count


def alternating(rep: int) -> tuple[str, str]:
    """Which runs first in this repetition: each in turn, so drift hits both."""
    return ("raw", "pipe") if rep % 2 == 0 else ("pipe", "raw")


async def run(bench: Bench) -> None:
    import aiohttp

    plan = bench.plan
    chunks = plan.long_chunks
    host = load_host(bench, bench.upstream.base_url)
    raw: dict[str, Any] = {"chunks": chunks}
    bench.raw["inproc"] = raw
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0)
    ) as session:
        runs: dict[str, Run] = {
            "raw": lambda: raw_lines(bench, session, chunks),
            "pipe": lambda: pipe_lines(host, chunks),
        }
        try:
            for run_one in runs.values():  # warm-up
                await run_one()
            cpu = await cpu_per_chunk(runs, max(6, plan.reps_long), chunks)
            raw["cpu_us_per_chunk"] = cpu
            ttft: dict[str, list[float]] = {"raw": [], "pipe": []}
            for rep in range(20):  # time to the first content chunk, short stream
                for name in alternating(rep):
                    first: list[float] = []
                    if name == "raw":
                        await raw_lines(bench, session, plan.short_chunks, first)
                    else:
                        await pipe_lines(host, plan.short_chunks, first)
                    ttft[name] += [v * 1000 for v in first]
            raw["ttft_ms"] = ttft
            stall, lag = await stalls(runs, plan.inproc_streams, raw)
            raw["longest_callback_cpu_ms"] = stall
            raw["ticker_late_max_ms"] = lag
            if bench.profile:
                raw["cprofile"] = await cprofile_pipe(bench, host, chunks)
        finally:
            await host.pipe.close()
    add_figures(bench, raw, plan.inproc_streams)


async def cpu_per_chunk(
    runs: dict[str, Run], reps: int, chunks: int
) -> dict[str, list[float]]:
    """CPU time of this process per chunk, in µs (the upstream is another process)."""
    cpu: dict[str, list[float]] = {"raw": [], "pipe": []}
    for rep in range(reps):
        for name in alternating(rep):
            c0 = time.process_time()
            await runs[name]()
            cpu[name].append((time.process_time() - c0) / chunks * 1e6)
    return cpu


async def stalls(
    runs: dict[str, Run], n: int, raw: dict[str, Any]
) -> tuple[dict[str, float], dict[str, float]]:
    """Event-loop stalls under `n` concurrent long streams, in ms.

    The longest single callback (task step) in CPU time of the loop's thread,
    which the OS descheduling us cannot inflate; and a 1 ms ticker's worst
    lateness in wall time, which it can. The benchmark's own heap (every figure
    so far) is frozen first: a full collection walking it would land in whichever
    step allocated last and be blamed on that code."""
    stall: dict[str, float] = {}
    lag: dict[str, float] = {}
    gc.collect()
    gc.freeze()
    for name, run_one in runs.items():
        with longest_callback() as longest:
            stop = asyncio.Event()
            late: list[float] = []

            async def ticker() -> None:
                while not stop.is_set():
                    t0 = time.perf_counter()
                    await asyncio.sleep(0.001)
                    late.append(time.perf_counter() - t0 - 0.001)

            task = asyncio.ensure_future(ticker())
            t0 = time.perf_counter()
            await asyncio.gather(*[run_one() for _ in range(n)])
            raw.setdefault("concurrent_s", {})[name] = time.perf_counter() - t0
            stop.set()
            await task
        stall[name] = longest[0] * 1000
        lag[name] = max(late) * 1000 if late else 0.0
    gc.unfreeze()
    return stall, lag


async def cprofile_pipe(bench: Bench, host, chunks: int) -> dict:
    """cProfile of the pipe's path for a few long streams: top functions by own time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    streams = 5
    profiler.enable()
    for _ in range(streams):
        await pipe_lines(host, chunks)
    profiler.disable()
    path = bench.log_dir / "pipe-cprofile.pstats"
    profiler.dump_stats(str(path))
    stats = pstats.Stats(profiler)
    total = stats.total_tt

    def per_chunk(seconds: float) -> float:
        return seconds / (streams * chunks) * 1e6

    rows = [
        {
            "function": f"{name} ({Path(filename).name}:{line})",
            "calls": nc,
            "own_us_per_chunk": per_chunk(tt),
            "cum_us_per_chunk": per_chunk(ct),
            "own_share": tt / total if total else 0,
        }
        for (filename, line, name), (_cc, nc, tt, ct, _) in stats.stats.items()
    ]
    rows.sort(key=lambda r: r["own_us_per_chunk"], reverse=True)
    return {
        "file": str(path),
        "total_us_per_chunk": per_chunk(total),
        "top": rows[:30],
    }


def add_figures(bench: Bench, raw: dict[str, Any], n: int) -> None:
    """The line reader goes in the built-in column, the pipe in the pipe column."""
    reader = "built-in column: aiohttp"
    for key, label, unit, values, note in (
        (
            "inproc.ttft",
            "in-process TTFT, short: plain request vs pipe",
            "ms",
            raw["ttft_ms"],
            f"{reader} POST + line iterator",
        ),
        (
            "inproc.cpu_per_chunk",
            "in-process CPU per chunk: line reader vs pipe",
            "us",
            raw["cpu_us_per_chunk"],
            f"{reader} line iterator (what the built-in does)",
        ),
    ):
        builtin, pipe = median(values["raw"]), median(values["pipe"])
        bench.add(Figure(key, label, unit, builtin, pipe, note=note))
    # Not judged by a ratio: a target judges the pipe's own longest step.
    size = f"{n} x {raw['chunks']} chunks"
    stall, lag = raw["longest_callback_cpu_ms"], raw["ticker_late_max_ms"]
    for figure in (
        Figure.shown(
            "inproc.loop_stall",
            f"in-process longest loop step, {size}",
            "ms",
            stall["raw"],
            stall["pipe"],
            note="CPU time of the longest callback",
        ),
        Figure.shown(
            "inproc.ticker_late",
            f"in-process 1 ms timer lateness, {size}",
            "ms",
            lag["raw"],
            lag["pipe"],
            note="wall time: includes the OS's own delays",
        ),
    ):
        bench.add(figure)
