"""`--profile`: py-spy samples Open WebUI while it relays long streams, one side at
a time, and tells its event loop's CPU per chunk apart by frames.

Ten streams at a time run back to back; py-spy records the middle of that load.
Open WebUI's event-loop CPU per chunk = its samples / rate / chunks relayed
meanwhile (estimated from the load's steady rate).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..figures import Figure
from .concurrency import burst

if TYPE_CHECKING:
    from ..core import Bench

PROFILE_RATE = 250  # py-spy samples per second

# Frames that matter, by what their py-spy name contains (--full-filenames). The pipe
# runs from exec()'d source, so its frames are in "<string>". Inclusive: a sample
# counts for a group when any frame of its stack matches.
PROFILE_GROUPS: dict[str, tuple[str, ...]] = {
    "pipe: any frame of the pipe": ("(<string>:",),
    "pipe: _Chat.stream": ("_Chat.stream (<string>",),
    "pipe: relay_stream": ("relay_stream (<string>",),
    "pipe: _relay_events": ("_relay_events (<string>",),
    "pipe: SSEReader.feed": ("SSEReader.feed (<string>",),
    "pipe: _parse_event": ("_parse_event (<string>",),
    "pipe: Progress.note": ("Progress.note (<string>",),
    "pipe: StatusLine.show": ("StatusLine.show (<string>",),
    "pipe: Pipe.pipe (setup)": ("Pipe.pipe (<string>",),
    "ow: functions.py (pipe host: stream_content, process_line)": (
        "open_webui/functions.py",
    ),
    "ow: functions.process_line": ("process_line (",),
    "ow: middleware.py (any)": ("open_webui/utils/middleware.py",),
    "ow: stream_body_handler (web path)": ("stream_body_handler (",),
    "ow: event emitter (socket/main.py)": ("open_webui/socket/main.py",),
}
# Own time: the package of the innermost frame of each sample.
PROFILE_PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pipe code", ("(<string>:",)),
    ("json / orjson", ("/json/", "json_codec.py")),
    ("aiohttp", ("/aiohttp/",)),
    (
        "uvicorn / starlette (ASGI send, routing)",
        ("/uvicorn/", "/starlette/", "asgi_middleware"),
    ),
    ("socket.io / websockets", ("/socketio/", "/engineio/", "/websockets/")),
    ("database (sqlalchemy, aiosqlite)", ("/sqlalchemy/", "/aiosqlite/")),
    ("asyncio loop itself", ("/asyncio/",)),
    ("open_webui", ("/open_webui/",)),
)
IN_PIPE = "pipe: any frame of the pipe"


async def run(bench: Bench) -> None:
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        bench.errors.append(
            "profile: py-spy not installed (.venv/bin/pip install py-spy)"
        )
        return
    summary: dict[str, Any] = {}
    sides = ["builtin", "pipe", *(["minimal"] if "minimal" in bench.phases else [])]
    sides += [f"v:{name}" for name in bench.variants]
    for kind in ("api", "web"):
        for side in sides:
            stats = await record(bench, spy, kind, side)
            if stats is not None:
                summary[f"{kind}.{side}"] = stats
                per_chunk = stats["loop_us_per_chunk"]
                bench.say(
                    f"profile {kind} {side}: {per_chunk or 0:.1f} us of event loop "
                    "per chunk"
                )
    bench.raw["profile"] = summary
    add_figures(bench, summary)


async def record(bench: Bench, spy: Path, kind: str, side: str) -> dict | None:
    """py-spy on Open WebUI while `side` relays bursts of 10 long streams."""
    seconds = 8 if bench.plan.quick else 15
    chunks = bench.plan.long_chunks if kind == "api" else 500
    out = bench.log_dir / f"pyspy-{kind}-{side.replace(':', '_')}.txt"
    stop = asyncio.Event()
    delivered = 0

    async def load() -> None:
        nonlocal delivered
        while not stop.is_set():
            _, results = await burst(bench, side, kind, 10, chunks)
            delivered += sum(r.chunks for r in results)

    t0 = time.monotonic()
    task = asyncio.ensure_future(load())
    await asyncio.sleep(1.0)
    process = await asyncio.create_subprocess_exec(
        str(spy),
        "record",
        *("--pid", str(bench.server.pid), "--format", "raw"),
        *("--rate", str(PROFILE_RATE), "--duration", str(seconds)),
        *("--nonblocking", "--threads", "--full-filenames", "--output", str(out)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    stop.set()
    await task
    elapsed = time.monotonic() - t0
    if not out.exists():
        bench.errors.append(
            f"profile {kind} {side}: py-spy wrote nothing: {stderr[-300:]!r}"
        )
        return None
    stats = summarize_stacks(out.read_text())
    window_chunks = delivered / elapsed * seconds
    per_chunk = stats["loop_cpu_s"] / window_chunks * 1e6 if window_chunks else None

    def spread(shares: dict[str, float]) -> dict[str, float]:
        """Shares of the loop's samples as µs per chunk."""
        return {name: share * per_chunk for name, share in shares.items()}

    stats.update(
        chunks_per_s=delivered / elapsed,
        window_chunks=window_chunks,
        loop_us_per_chunk=per_chunk,
        us_per_chunk=spread(stats["inclusive_share"]) if per_chunk else {},
        own_us_per_chunk=spread(stats["own_share_by_package"]) if per_chunk else {},
        file=str(out),
    )
    return stats


def summarize_stacks(text: str, rate: int = PROFILE_RATE) -> dict:
    """py-spy raw stacks (--threads): event-loop CPU, and shares of the frames above.

    Only the main thread (Open WebUI's event loop) counts for the shares; idle time
    (waiting in epoll) is not sampled, so samples / rate = CPU seconds of the loop."""
    loop_samples = other_samples = 0
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    packages: dict[str, int] = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if ": MainThread" not in frames[0]:
            other_samples += n
            continue
        loop_samples += n
        frames = frames[1:]
        for name, needles in PROFILE_GROUPS.items():
            if any(needle in frame for frame in frames for needle in needles):
                inclusive[name] = inclusive.get(name, 0) + n
        if frames:
            leaf = frames[-1]
            own[leaf] = own.get(leaf, 0) + n
            package = next(
                (
                    name
                    for name, needles in PROFILE_PACKAGES
                    if any(x in leaf for x in needles)
                ),
                "other",
            )
            packages[package] = packages.get(package, 0) + n
    top = sorted(own.items(), key=lambda item: item[1], reverse=True)[:25]
    total = loop_samples or 1
    return {
        "loop_samples": loop_samples,
        "other_thread_samples": other_samples,
        "loop_cpu_s": loop_samples / rate,
        "inclusive_share": {k: v / total for k, v in inclusive.items()},
        "own_share_by_package": {k: v / total for k, v in packages.items()},
        "top_own": [{"frame": k, "share": v / total} for k, v in top],
    }


def add_figures(bench: Bench, summary: dict[str, Any]) -> None:
    for kind in ("api", "web"):
        b, p = summary.get(f"{kind}.builtin"), summary.get(f"{kind}.pipe")
        m = summary.get(f"{kind}.minimal")
        if not (b and p):
            continue
        path = "API" if kind == "api" else "web"
        bench.add(
            Figure(
                f"profile.{kind}.loop_us_per_chunk",
                f"{path}: Open WebUI loop CPU per chunk (py-spy)",
                "us",
                b["loop_us_per_chunk"],
                p["loop_us_per_chunk"],
                minimal=m["loop_us_per_chunk"] if m else None,
            )
        )
        bench.add(
            Figure.shown(
                f"profile.{kind}.pipe_us_per_chunk",
                f"{path}: of which in the pipe's own frames",
                "us",
                None,
                p["us_per_chunk"].get(IN_PIPE),
                minimal=(m or {}).get("us_per_chunk", {}).get(IN_PIPE),
            )
        )
