"""Phase `memory`: Open WebUI's RSS (server and children) before and after many
chats through the pipe (and, full run, through the built-in connection); and,
after every run, Open WebUI's own garbage-collection pauses."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ..client import StreamResult
from ..figures import Figure
from ..hostcode import GC_PAUSE
from ..processes import rss_tree_mb

if TYPE_CHECKING:
    from ..core import Bench

BLOCKS = 5  # the chats run in blocks, the sides taking turns


async def chats(bench: Bench, side: str, count: int) -> list[StreamResult]:
    """`count` short chats, half on the API path, half on the web path."""
    semaphore = asyncio.Semaphore(bench.plan.memory_concurrency)

    async def one(index: int) -> StreamResult:
        async with semaphore:
            kind = "web" if index % 2 else "api"
            return await bench.one(side, kind, bench.plan.short_chunks)

    return list(await asyncio.gather(*[one(i) for i in range(count)]))


async def run(bench: Bench) -> None:
    plan = bench.plan
    # Warm-up: Open WebUI's memory grows over the first few dozen chats, then
    # holds (seen: +1.7 to +3.7 MB over the 40 chats after a 20-chat warm-up,
    # flat after). Counted as growth, that would fail a short run's scaled
    # limit without any leak.
    warm = 60 if plan.quick else 100
    await chats(bench, "pipe", warm)
    if plan.memory_reference:
        await chats(bench, "builtin", warm)
    await asyncio.sleep(1)
    per_block = plan.memory_chats // BLOCKS
    growth = {"builtin": 0.0, "pipe": 0.0}
    samples: list[dict] = []
    before = rss_tree_mb(bench.server.pid)
    samples.append({"after": "warm-up", "rss_mb": before})
    t0 = time.monotonic()
    for block in range(BLOCKS):
        sides = bench.sides(block, minimal=False) if plan.memory_reference else ["pipe"]
        for side in sides:
            start = rss_tree_mb(bench.server.pid)
            results = await chats(bench, side, per_block)
            bench.note_failures(f"memory.{side}", results)
            await asyncio.sleep(0.3)
            end = rss_tree_mb(bench.server.pid)
            growth[side] += end - start
            samples.append({"after": f"{per_block} {side} chats", "rss_mb": end})
    after = rss_tree_mb(bench.server.pid)
    n = per_block * BLOCKS
    bench.raw["memory"] = {
        "rss_start_of_run_mb": bench.rss_start,
        "rss_before_mb": before,
        "rss_after_mb": after,
        "chats_per_side": n,
        "seconds": time.monotonic() - t0,
        "growth_mb": growth,
        "samples": samples,
    }
    bench.add(
        Figure.shown(
            "memory.before",
            "Open WebUI RSS before the chats (after warm-up)",
            "MB",
            None,
            before,
        )
    )
    bench.add(
        Figure.shown(
            "memory.after", "Open WebUI RSS after the chats", "MB", None, after
        )
    )
    bench.add(
        Figure.shown(
            "memory.growth",
            f"RSS growth over {n} chats (half API, half web)",
            "MB",
            growth["builtin"] if plan.memory_reference else None,
            growth["pipe"],
            note="" if n >= 1000 else f"scaled: {n} chats, not 1000",
        )
    )


def gc_pauses(bench: Bench) -> None:
    """Open WebUI's own collection pauses over the run, from the GC_PROBE lines.

    Not a side's figure: a pause lands on whichever side happens to be running,
    and explains a lone half-second /health delay in a table."""
    with open(bench.log_dir / "openwebui-server.log", "rb") as file:
        file.seek(bench.log_measured_from)  # not the start-up's collections
        log = file.read().decode(errors="replace")
    pauses = [(int(gen), int(ms)) for gen, ms in GC_PAUSE.findall(log)]
    bench.raw["gc_pauses_ms"] = pauses
    full = [ms for gen, ms in pauses if gen == 2]
    longest = float(max(full)) if full else None
    bench.add(
        Figure.shown(
            "host.gc_pauses.longest",
            "Open WebUI full garbage collection, longest pause",
            "ms",
            longest,
            longest,
            note=f"whole run, either side: {len(full)} full collections >= 20 ms",
        )
    )
