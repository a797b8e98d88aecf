"""Benchmark: the pipe against Open WebUI's own OpenAI connection (issue #6).

    python3 scripts/bench.py            full run (about 7 minutes on 2 cores)
    python3 scripts/bench.py --quick    under two minutes: fewer repetitions, smaller counts
    python3 scripts/bench.py --json out.json --phases api,web,minimal
    python3 scripts/bench.py --quick --phases floor,minimal,responses   Responses API only
    python3 scripts/bench.py --phases api,web,minimal --variant fix=/tmp/pipe-fix.py
    python3 scripts/bench.py --quick --profile      py-spy + cProfile (needs py-spy)

What runs: a real Open WebUI 0.12.4 (`scripts/openwebui.py`), and a fake OpenAI
upstream (`tests/upstream.py`) in a separate process on 127.0.0.1 whose speed the
benchmark controls (chunk counts from `[[chunks:N]]` in the prompt, header delays
from `[[fault:delay_headers ...]]`, slow `/models` through a small control route).
Open WebUI's built-in OpenAI connection (`POST /openai/config/update`) and the pipe
(`openai_manifold_pipe.py`, installed and activated like an admin does) both point at
that one upstream, and every figure is taken for both, in rotating order so that
drift on a shared machine hits both alike:

- time to first token and total time of short (20 chunks) and long (2,000 chunks)
  streams, on the API path (`POST /api/chat/completions`, SSE answer) and on the web
  path (socket.io session, the answer arrives as `events` like in the browser);
- 1, 10 and 50 concurrent streams: chunks per second overall, from the first
  request to the last chunk delivered;
- the same on OpenAI's Responses API (phase `responses`, rows "Responses ..."): the
  built-in connection switched to `api_type: "responses"` (Admin > Settings >
  Connections > API Type: Responses; it converts the chat and hands the upstream's
  events on, raw `response.output_text.delta` lines on the API path), the pipe with
  `RESPONSES_API=always` (it translates the events into chat chunks), the minimal
  pipe posting to /responses and relaying its lines raw, the floor reading /responses;
  gpt-4o, a chat model, since a reasoning model would add summary events that only
  the pipe asks for. Time to first token of short answers and chunks per second of
  10 concurrent streams, API and web paths, judged like the chat path's; TTFT also
  against the minimal pipe, since Open WebUI reads the user's valves from its
  database for any pipe with per-user keys (~1 ms of TTFT that is the host's, not
  the pipe's). The connection and the valves are put back afterwards;
- the longest `/health` answer time while streams run, while the upstream is slow to
  send headers, and while a model listing waits on a slow or a dead `/models` (a
  separate prober process asks `/health` every 10 ms);
- `pipes()` in-process (the built file loaded like Open WebUI loads it, as
  tests/owhost.py does): warm cache, cold cache, dead endpoint; and `/api/models`
  end to end;
- the pipe in-process against a plain aiohttp line reader: CPU per chunk, time to
  the first chunk, and the longest event-loop step under 50 concurrent streams;
- Open WebUI's memory (RSS of the server and its children) before and after chats
  through the pipe (and, as a reference, through the built-in connection);
- the upstream read directly, with no Open WebUI in between: the floor.

Two diagnostic columns: `minimal`, a reference pipe (MINIMAL_PIPE below) that only
takes the user's key and relays the upstream's lines, shows what Open WebUI charges
any pipe with per-user keys (reading the user's valves is one more database query
per chat than the built-in makes); `--variant
NAME=PATH` runs other builds of the pipe as extra sides in the same server, to weigh
a change by its ratio. `--profile` adds py-spy samples of Open WebUI's event loop
while each side relays long streams (per-chunk CPU, split by frames) and a cProfile
of the pipe in-process (files in bench-results/bench-<timestamp>-logs/).

Ratios, not absolute times, are the result: every ratio reads "how much worse is the
pipe", > 1 meaning the pipe is slower (times: pipe/built-in; throughput: built-in
chunks per second / pipe chunks per second). One table goes to stdout with PASS/FAIL
lines for the targets of issue #6 under it; the raw figures go to
`bench-results/bench-<timestamp>.json` (and `--json PATH`), the server log and the
/health samples to `bench-results/bench-<timestamp>-logs/`.

The exit status is 0 when everything could be measured, whatever the figures (use
`--strict` to fail on a missed target), 2 when a measurement failed.

Internal modes (used by the benchmark itself): `--serve-upstream PORT` runs the fake
upstream; `--probe-health URL --out FILE` runs the `/health` prober.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import http.client
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
if str(REPO_ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))

PIPE_FILE = REPO_ROOT / "openai_manifold_pipe.py"
PIPE_ID = "openai_manifold_pipe"
RESULTS_DIR = REPO_ROOT / "bench-results"
UPSTREAM_KEY = "sk-test-bench-000000000000000000001"
MODEL = "gpt-4o"  # a plain chat model: no reasoning status line, no rewrites
SIDES = ("builtin", "pipe")  # the comparison of issue #6
MINIMAL_ID = "bench_minimal"
# A reference pipe doing the least a streaming pipe with per-user keys can do: take
# the user's key (else the admin's), post the body, yield the upstream's `data:`
# lines. Through it, what Open WebUI's function machinery costs (DB reads of the
# function, its valves and the user's valves per chat, Valves(), UserValves(),
# process_line) shows apart from what openai_manifold_pipe.py itself costs.
# With its valve RESPONSES on (the `responses` phase), it posts the chat to
# /responses as `input` and relays that stream's `data:` lines as they are, the
# least a pipe can do there and exactly what the built-in connection with
# `api_type: "responses"` hands on.
MINIMAL_PIPE = '''"""
title: Bench Minimal Pipe
description: benchmark reference - the least a streaming pipe does
"""

import aiohttp
from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        BASE_URL: str = ""
        KEY: str = ""
        RESPONSES: bool = False

    class UserValves(BaseModel):
        KEY: str = ""

    def __init__(self):
        self.valves = self.Valves()
        self.session = None

    def pipes(self):
        return [{"id": "gpt-4o", "name": "minimal/gpt-4o"}]

    async def pipe(self, body: dict, __user__: dict):
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        payload = {**body, "model": body["model"].split(".", 1)[1]}
        url = self.valves.BASE_URL + "/chat/completions"
        if self.valves.RESPONSES:
            url = self.valves.BASE_URL + "/responses"
            payload = {
                "model": payload["model"],
                "input": [
                    {"role": m["role"], "content": m["content"]}
                    for m in body["messages"]
                ],
                "stream": bool(body.get("stream")),
            }
        key = __user__["valves"].KEY or self.valves.KEY
        headers = {"Authorization": "Bearer " + key}
        response = await self.session.post(url, json=payload, headers=headers)
        if not payload.get("stream"):
            async with response:
                return await response.json()

        async def lines():
            async with response:
                async for line in response.content:
                    if line.startswith(b"data:"):
                        yield line.decode().rstrip()

        return lines()
'''
# Loaded into Open WebUI's process (PYTHONPATH) to log its garbage-collection
# pauses: a full collection of its large heap holds the event loop for about half a
# second, which /health shows whichever side happens to be running (see `gc_pauses`).
GC_PROBE = """import gc, sys, time

_started = [0.0]


def _pause(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started[0]) * 1000
    if ms >= 20:
        sys.stderr.write(f"bench-gc-pause gen{info['generation']} {ms:.0f} ms\\n")


gc.callbacks.append(_pause)
"""
GC_PAUSE = re.compile(r"bench-gc-pause gen(\d) (\d+) ms")
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "pw-bench-admin-12345"


# --------------------------------------------------------------------------------------
# Parameters of a run
# --------------------------------------------------------------------------------------


@dataclass
class Plan:
    """How much of everything a run does; `--quick` scales it down (and says so)."""

    quick: bool
    short_chunks: int = 20
    long_chunks: int = 2000
    # A short chat takes ~25 ms (API) or ~75 ms (web): many repetitions are cheap,
    # and a ratio needs them to be judged at 5 % on a shared, noisy machine.
    reps_short: int = 100
    reps_long: int = 20
    web_reps_short: int = 40
    web_reps_long: int = 8
    concurrency: tuple[int, ...] = (1, 10, 50)
    conc_reps: tuple[int, ...] = (10, 3, 2)  # for each level of `concurrency`
    conc_chunks: int = 2000
    # Open WebUI's web path handles ~1,500 chunks/s in all on 2 cores: 50 x 2,000
    # chunks would take over a minute per run, so web streams are shorter.
    web_conc_chunks: int = 400
    memory_chats: int = 1000
    memory_concurrency: int = 8
    memory_reference: bool = True  # also run the same chats through the built-in
    health_reps: int = 2
    paced_api_streams: int = 50
    paced_web_streams: int = 10
    paced_chunks: int = 200
    slow_listing_reps: int = 2
    slow_seconds: float = 2.0
    header_delay_streams: int = 5
    listing_reps: int = 5
    pipes_warm_calls: int = 2000
    pipes_cold_calls: int = 20
    builtin_dead: bool = True
    builtin_dead_twice: bool = True
    minimal_in_concurrency: bool = True
    inproc_streams: int = 50
    # The Responses API (phase `responses`): short answers one at a time, and
    # `responses_concurrency` streams at once (conc_chunks long on the API path,
    # web_conc_chunks on the web path).
    responses_reps_short: int = 100
    responses_web_reps_short: int = 40
    responses_concurrency: int = 10
    responses_conc_reps: int = 3
    responses_web_conc_reps: int = 3

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            reps_short=40,
            reps_long=8,
            web_reps_short=20,
            web_reps_long=3,
            web_conc_chunks=200,
            conc_reps=(6, 3, 1),
            memory_chats=200,
            memory_concurrency=8,
            memory_reference=False,
            health_reps=2,
            paced_chunks=100,
            slow_listing_reps=2,
            slow_seconds=1.0,
            header_delay_streams=3,
            listing_reps=3,
            pipes_warm_calls=1000,
            pipes_cold_calls=8,
            builtin_dead=False,
            builtin_dead_twice=False,
            minimal_in_concurrency=False,
            inproc_streams=20,
            responses_reps_short=40,
            responses_web_reps_short=20,
            responses_conc_reps=3,
            responses_web_conc_reps=3,
        )


ALL_PHASES = (
    "floor",
    "minimal",
    "inproc",
    "api",
    "web",
    "concurrency",
    "responses",
    "health",
    "listing",
    "pipes",
    "memory",
)


# --------------------------------------------------------------------------------------
# Small statistics
# --------------------------------------------------------------------------------------


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


def p95(values: list[float]) -> float | None:
    return percentile(values, 95)


# --------------------------------------------------------------------------------------
# Internal mode 1: the upstream, in its own process
# --------------------------------------------------------------------------------------


def serve_upstream(port: int) -> None:
    """FakeOpenAI plus a control route, until SIGTERM. Prints READY <port>."""
    from aiohttp import web

    from tests.upstream import FakeOpenAI, Recorded

    class BenchUpstream(FakeOpenAI):
        """FakeOpenAI that forgets requests (no growth) and takes faults over HTTP;
        it counts requests per path (`/_bench/stats`: which wire a side took)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.paths: dict[str, int] = {}

        async def _record(self, request: web.Request) -> Recorded:
            record = await super()._record(request)
            with self._lock:
                self.paths[record.path] = self.paths.get(record.path, 0) + 1
                if len(self.requests) > 64:
                    del self.requests[:-32]
            return record

        async def _answer(self, request: web.Request, record: Recorded):
            if record.path == "/_bench/fault" and record.body:
                body = dict(record.body)
                self.add_fault(
                    body.pop("kind"),
                    times=int(body.pop("times", 1)),
                    path=body.pop("path", None),
                    **body,
                )
                return web.json_response({"ok": True})
            if record.path == "/_bench/clear":
                self.clear()
                return web.json_response({"ok": True})
            if record.path == "/_bench/stats":
                with self._lock:
                    paths = dict(self.paths)
                return web.json_response(
                    {"pending": len(self.pending_faults()), "paths": paths}
                )
            return await super()._answer(request, record)

    server = BenchUpstream(keys=(UPSTREAM_KEY,), strict=False, port=port).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"READY {server.port}", flush=True)
    stop.wait()
    server.stop()


class UpstreamProcess:
    """The fake upstream in a child process: `base_url`, `add_fault`, `stop`."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-upstream", "0"],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(f"upstream did not start: {line!r}")
        self.port = int(line.split()[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def control(self, path: str, body: dict | None = None) -> dict:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(
                "POST",
                path,
                body=json.dumps(body or {}),
                headers={"Content-Type": "application/json"},
            )
            return json.loads(connection.getresponse().read() or b"{}")
        finally:
            connection.close()

    def add_fault(self, kind: str, *, path: str | None, times: int = 1, **opts) -> None:
        self.control(
            "/_bench/fault", {"kind": kind, "path": path, "times": times, **opts}
        )

    def clear(self) -> None:
        self.control("/_bench/clear")

    def paths(self) -> dict[str, int]:
        """Requests received so far, per path."""
        return self.control("/_bench/stats").get("paths", {})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class Blackhole:
    """A port that accepts TCP connections and never answers: a dead endpoint."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)  # never accept(): the kernel completes handshakes
        self.port = self.sock.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.sock.close()


# --------------------------------------------------------------------------------------
# Internal mode 2: the /health prober, in its own process
# --------------------------------------------------------------------------------------


def probe_health(base_url: str, out: Path, interval: float) -> None:
    """GET /health in a loop on one keep-alive connection; one line per probe:
    `<monotonic start> <seconds>`. CLOCK_MONOTONIC is system-wide, so the main
    process can cut the samples into windows with its own time.monotonic()."""
    host_port = base_url.split("//", 1)[1].rstrip("/")
    host, _, port = host_port.partition(":")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    connection = None
    with open(out, "w", buffering=1) as file:
        print("READY", flush=True)
        while not stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection(host, int(port), timeout=60)
            started = time.monotonic()
            try:
                connection.request("GET", "/health")
                connection.getresponse().read()
                file.write(f"{started:.6f} {time.monotonic() - started:.6f}\n")
            except (OSError, http.client.HTTPException):
                file.write(f"{started:.6f} {time.monotonic() - started:.6f} error\n")
                connection.close()
                connection = None
            time.sleep(interval)


class HealthProber:
    """The prober process and the samples it wrote."""

    def __init__(self, base_url: str, out: Path, interval: float = 0.01) -> None:
        self.out = out
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--probe-health",
                base_url,
                "--out",
                str(out),
                "--interval",
                str(interval),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "READY":
            raise RuntimeError("health prober did not start")

    def samples(self, start: float, end: float) -> list[tuple[float, float]]:
        """(sent, answer time) in seconds of the probes sent in [start, end]."""
        found = []
        for line in self.out.read_text().splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            sent = float(parts[0])
            if start <= sent <= end:
                found.append((sent, float(parts[1])))
        return found

    def window(self, start: float, end: float) -> dict:
        samples = self.samples(start, end)
        values = [latency for _, latency in samples]
        worst = max(samples, key=lambda sample: sample[1]) if samples else None
        return {
            "max_ms": worst[1] * 1000 if worst else None,
            "max_at_s": worst[0] - start if worst else None,  # when, in the window
            "p99_ms": (percentile(values, 99) or 0) * 1000 if values else None,
            "median_ms": (median(values) or 0) * 1000 if values else None,
            "count": len(values),
        }

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


# --------------------------------------------------------------------------------------
# Memory of a process tree
# --------------------------------------------------------------------------------------


def rss_tree_mb(pid: int) -> float:
    """VmRSS of `pid` and all its descendants, in MB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total_kb = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            with open(f"/proc/{current}/status") as file:
                for line in file:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
        except OSError:
            pass
    return total_kb / 1024


# --------------------------------------------------------------------------------------
# Clients: the API path (SSE), the web path (socket.io), the upstream itself
# --------------------------------------------------------------------------------------


@dataclass
class StreamResult:
    ttft: float | None  # seconds to the first non-empty content delta
    total: float  # seconds to the end of the answer
    chunks: int  # content deltas received
    ok: bool
    error: str = ""
    last_at: float | None = None  # time.monotonic() of the last content delta


_CONTENT = re.compile(rb'"content":\s?"(?!")')
# A Responses stream's answer text: Open WebUI's built-in connection with
# `api_type: "responses"` hands the upstream's lines to an API client unconverted.
_TEXT_DELTA_TYPE = b'"response.output_text.delta"'
_DELTA = re.compile(rb'"delta":\s?"(?!")')


def responses_delta(line: bytes) -> bool:
    """A `data:` line of a non-empty `response.output_text.delta` event."""
    return _TEXT_DELTA_TYPE in line and _DELTA.search(line) is not None


def prompt(chunks: int, extra: str = "") -> str:
    return f"bench {uuid.uuid4().hex[:6]} [[chunks:{chunks}]]{extra}"


async def sse_stream(
    session, url: str, headers: dict, body: dict, expected: int
) -> StreamResult:
    """POST an SSE request; count content deltas line by line, note the first."""
    started = time.monotonic()
    ttft = last_at = None
    count = 0
    tail = b""
    try:
        async with session.post(url, json=body, headers=headers) as response:
            if response.status != 200:
                text = (await response.read())[:300]
                return StreamResult(
                    None,
                    time.monotonic() - started,
                    0,
                    False,
                    f"{response.status} {text!r}",
                )
            async for data in response.content.iter_any():
                lines = (tail + data).split(b"\n")
                tail = lines.pop()
                for line in lines:
                    # A chat chunk's content, or (Responses wire) a text delta.
                    if line.startswith(b"data:") and (
                        _CONTENT.search(line) or responses_delta(line)
                    ):
                        count += 1
                        last_at = time.monotonic()
                        if ttft is None:
                            ttft = last_at - started
            if tail.startswith(b"data:") and (
                _CONTENT.search(tail) or responses_delta(tail)
            ):
                count += 1
                last_at = time.monotonic()
    except Exception as exc:  # noqa: BLE001 - reported as a failed sample
        return StreamResult(ttft, time.monotonic() - started, count, False, repr(exc))
    total = time.monotonic() - started
    ok = count == expected
    error = "" if ok else f"{count} of {expected} chunks"
    return StreamResult(ttft, total, count, ok, error, last_at)


class Target:
    """Where a stream is read from: the upstream itself, or Open WebUI (API path).

    `responses`: the upstream's /responses read directly (the Responses floor)."""

    def __init__(
        self, session, url: str, headers: dict, model: str, responses: bool = False
    ) -> None:
        self.session, self.url, self.headers, self.model = session, url, headers, model
        self.responses = responses

    async def stream(self, chunks: int, extra: str = "") -> StreamResult:
        message = {"role": "user", "content": prompt(chunks, extra)}
        body = {
            "model": self.model,
            ("input" if self.responses else "messages"): [message],
            "stream": True,
        }
        return await sse_stream(self.session, self.url, self.headers, body, chunks)


@dataclass
class WebTurn:
    started: float
    expected: int
    first_delta: float | None = None
    last_delta: float | None = None
    text_parts: list[str] = field(default_factory=list)
    deltas: int = 0
    error: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)


class WebClient:
    """The page's socket.io session (async), collecting each turn's events."""

    def __init__(self, base_url: str, token: str, user: dict) -> None:
        import socketio

        self.base_url, self.token, self.user = base_url, token, user
        self.sio = socketio.AsyncClient(reconnection=False)
        self.sio.on("events", self._on_event)
        self.turns: dict[str, WebTurn] = {}
        self.retries = 0  # chat creations retried after "database is locked"

    async def connect(self) -> None:
        await self.sio.connect(
            self.base_url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            auth={"token": self.token},
            wait_timeout=20,
        )
        await self.sio.call("user-join", {"auth": {"token": self.token}}, timeout=20)

    async def close(self) -> None:
        await self.sio.disconnect()

    async def _on_event(self, payload: dict) -> None:
        now = time.monotonic()
        turn = self.turns.get(payload.get("message_id"))
        if turn is None:
            return
        data = payload.get("data") or {}
        kind = data.get("type")
        inner = data.get("data") or {}
        if kind == "response:completion":
            if inner.get("type") == "response.output_text.delta":
                delta = inner.get("delta") or ""
                if delta:
                    turn.deltas += 1
                    turn.text_parts.append(delta)
                    turn.last_delta = now
                    if turn.first_delta is None:
                        turn.first_delta = now
        elif (
            kind == "chat:completion" and isinstance(inner, dict) and inner.get("error")
        ):
            turn.error = json.dumps(inner["error"])[:300]
        elif kind == "chat:message:error":
            turn.error = json.dumps(inner)[:300]
        elif kind == "chat:active" and inner.get("active") is False:
            turn.done.set()

    async def chat(
        self, session, model: str, chunks: int, extra: str = "", timeout: float = 300
    ) -> StreamResult:
        from openwebui import web_chat_body

        body = web_chat_body(
            model,
            prompt(chunks, extra),
            session_id=self.sio.get_sid(),
            user=self.user,
            background_tasks={},
        )
        turn = WebTurn(started=time.monotonic(), expected=chunks)
        self.turns[body["id"]] = turn
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            for attempt in range(6):
                async with session.post(
                    f"{self.base_url}/api/chat/completions", json=body, headers=headers
                ) as response:
                    reply = await response.read()
                if response.status == 200:
                    break
                # Open WebUI's SQLite refuses some of 50 chats created at once
                # ("database is locked"): the page would show an error; the
                # benchmark retries so that the load stays what it claims to be.
                if b"database is locked" in reply and attempt < 5:
                    self.retries += 1
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                return StreamResult(
                    None,
                    time.monotonic() - turn.started,
                    0,
                    False,
                    f"{response.status} {reply[:300]!r}",
                )
            await asyncio.wait_for(turn.done.wait(), timeout)
        except Exception as exc:  # noqa: BLE001
            return StreamResult(
                None, time.monotonic() - turn.started, turn.deltas, False, repr(exc)
            )
        finally:
            self.turns.pop(body["id"], None)
        total = time.monotonic() - turn.started
        text = "".join(turn.text_parts)
        ok = not turn.error and text.endswith(f" w{chunks - 1}")
        ttft = None if turn.first_delta is None else turn.first_delta - turn.started
        error = turn.error or (
            "" if ok else f"text ends {text[-30:]!r}, {turn.deltas} deltas"
        )
        return StreamResult(ttft, total, turn.deltas, ok, error, turn.last_delta)


# --------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------


@dataclass
class Figure:
    """One row of the table. `minimal` is the reference pipe (diagnostic column)."""

    key: str
    label: str
    unit: str
    builtin: float | None
    pipe: float | None
    floor: float | None = None
    minimal: float | None = None
    ratio_kind: str = "time"  # "time": pipe/builtin; "rate": builtin/pipe; "none"
    note: str = ""
    variants: dict[str, float | None] = field(default_factory=dict)  # --variant builds
    # Medians of the ratios of runs made back to back (same direction as `ratio`):
    # the pipe against the built-in, and against the minimal pipe.
    paired: float | None = None
    paired_minimal: float | None = None
    # /health figures: the lower median of the windows' longest delays, per side.
    typical: dict[str, float | None] = field(default_factory=dict)

    def _ratio(self, reference: float | None) -> float | None:
        if self.ratio_kind == "none" or reference is None or self.pipe is None:
            return None
        if self.ratio_kind == "rate":
            return reference / self.pipe if self.pipe else None
        return self.pipe / reference if reference else None

    @property
    def ratio(self) -> float | None:
        """How much worse the pipe is than the built-in connection (> 1: worse)."""
        return self._ratio(self.builtin)

    @property
    def ratio_minimal(self) -> float | None:
        """How much worse the pipe is than the minimal reference pipe."""
        return self._ratio(self.minimal)

    @property
    def judged(self) -> float | None:
        """The ratio a target judges: paired when there is one, drift shifts it less."""
        return self.paired if self.paired is not None else self.ratio

    def verdict(self, limit: float) -> tuple[bool, str]:
        """Within `limit`? And the figures behind the answer, for the PASS/FAIL line."""
        kind = "paired ratio" if self.paired is not None else "ratio"
        unit = "chunks/s" if self.ratio_kind == "rate" else "ms"
        sides = (
            (self.builtin, self.pipe)
            if self.ratio_kind == "rate"
            else (self.pipe, self.builtin)
        )
        values = " vs ".join(fmt(value, unit) for value in sides)
        return (
            self.judged <= limit,
            f"{kind} {self.judged:.3f} (medians {values} {unit})",
        )


def paired_ratios(
    results: dict[str, list[float | None]],
    kind: str = "time",
    side: str = "pipe",
    reference: str = "builtin",
) -> list[float]:
    """side/reference (times) or reference/side (rates) for each repetition."""
    pairs = []
    for value, base in zip(results.get(side, []), results.get(reference, [])):
        if value and base:
            pairs.append(value / base if kind == "time" else base / value)
    return pairs


def values_of(results: list[StreamResult], attr: str) -> list[float]:
    return [getattr(r, attr) * 1000 for r in results if getattr(r, attr) is not None]


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


class Bench:
    def __init__(
        self,
        plan: Plan,
        phases: list[str],
        log_dir: Path,
        profile: bool,
        pipe_file: Path,
        variants: dict[str, Path] | None = None,
    ) -> None:
        self.plan = plan
        # Read once: the same code goes into Open WebUI and into the in-process tests.
        self.pipe_file = pipe_file
        self.pipe_source = pipe_file.read_text()
        # Other builds of the pipe, installed as functions `bench_<name>` and run as
        # extra sides (same server, same interleaving): to weigh a change by ratio.
        self.variants = {
            name: path.read_text() for name, path in (variants or {}).items()
        }
        self.phases = phases
        self.log_dir = log_dir
        self.profile = profile
        self.figures: list[Figure] = []
        self.raw: dict[str, Any] = {}
        self.errors: list[str] = []
        self.timings: dict[str, float] = {}
        self.sample_failures: dict[str, int] = {}
        self.server = None
        self.log_measured_from = 0
        self.upstream: UpstreamProcess | None = None
        self.prober: HealthProber | None = None
        self.blackhole: Blackhole | None = None
        self.admin = None
        self.token = ""
        self.user: dict = {}

    # ---- helpers ---------------------------------------------------------------------

    def say(self, message: str) -> None:
        print(
            f"[bench {time.strftime('%H:%M:%S')}] {message}",
            file=sys.stderr,
            flush=True,
        )

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)

    def note_failures(
        self, key: str, results: list[StreamResult]
    ) -> list[StreamResult]:
        bad = [r for r in results if not r.ok]
        if bad:
            self.sample_failures[key] = self.sample_failures.get(key, 0) + len(bad)
            self.errors.append(
                f"{key}: {len(bad)} failed sample(s), e.g. {bad[0].error}"
            )
        return [r for r in results if r.ok]

    @staticmethod
    def model_for(side: str) -> str:
        if side.startswith("v:"):
            return f"bench_{side[2:]}.{MODEL}"
        return {
            "builtin": MODEL,
            "pipe": f"{PIPE_ID}.{MODEL}",
            "minimal": f"{MINIMAL_ID}.{MODEL}",
        }[side]

    def sides(self, rep: int, minimal: bool = True) -> list[str]:
        """This repetition's order: rotated every time, so drift hits all sides alike.

        `minimal` False: only the two sides of the comparison (slow phases)."""
        sides = list(SIDES)
        if minimal and "minimal" in self.phases:
            sides.append("minimal")
        if minimal:
            sides += [f"v:{name}" for name in self.variants]
        shift = rep % len(sides)
        return sides[shift:] + sides[:shift]

    # ---- setup -----------------------------------------------------------------------

    def start(self) -> None:
        from openwebui import OpenWebUI, start_openwebui

        t0 = time.monotonic()
        self.upstream = UpstreamProcess()
        self.blackhole = Blackhole()
        self.say(
            f"upstream at {self.upstream.base_url} (pid {self.upstream.process.pid})"
        )
        probe = self.log_dir / "gc-probe"
        probe.mkdir(parents=True, exist_ok=True)
        (probe / "sitecustomize.py").write_text(GC_PROBE)
        self.server = start_openwebui(
            log_path=self.log_dir / "openwebui-server.log",
            env={"PYTHONPATH": str(probe)},
        )
        self.timings["openwebui_startup_s"] = self.server.startup_seconds
        self.say(
            f"Open WebUI at {self.server.base_url} (pid {self.server.pid}), "
            f"healthy after {self.server.startup_seconds:.1f} s"
        )
        admin = OpenWebUI(self.server.base_url, timeout=120)
        admin.signup("Bench Admin", ADMIN_EMAIL, ADMIN_PASSWORD)
        admin.install_function(self.pipe_source, PIPE_ID)
        self.admin = admin
        self.set_pipe_valves()
        if "minimal" in self.phases:
            admin.install_function(MINIMAL_PIPE, MINIMAL_ID)
            admin.update_valves(
                MINIMAL_ID, {"BASE_URL": self.upstream.base_url, "KEY": UPSTREAM_KEY}
            )
        for name, source in self.variants.items():
            admin.install_function(source, f"bench_{name}")
            self.set_pipe_valves(f"bench_{name}")
        self.token = admin.token
        self.user = admin.user
        self.set_builtin(self.upstream.base_url, enabled=True)
        self.check_listed()
        self.prober = HealthProber(self.server.base_url, self.log_dir / "health.txt")
        self.log_measured_from = (self.log_dir / "openwebui-server.log").stat().st_size
        self.timings["setup_s"] = time.monotonic() - t0

    def check_listed(self) -> None:
        ids = self.admin.model_ids(refresh=True)
        wanted = [*SIDES, *(["minimal"] if "minimal" in self.phases else [])]
        wanted += [f"v:{name}" for name in self.variants]
        missing = [self.model_for(s) for s in wanted if self.model_for(s) not in ids]
        if missing:
            raise RuntimeError(f"not listed by Open WebUI: {missing}; got {ids[:12]}")

    def set_builtin(self, url: str, enabled: bool = True, api_type: str = "") -> None:
        """Open WebUI's OpenAI connection, as Admin > Settings > Connections saves it.

        `api_type="responses"` is that dialog's "API Type: Responses": Open WebUI then
        converts every chat to a /responses request (`convert_to_responses_payload`)
        and hands the upstream's stream on (raw lines on the API path)."""
        config: dict[str, Any] = {"enable": True}
        if api_type:
            config["api_type"] = api_type
        self.admin.post(
            "/openai/config/update",
            {
                "ENABLE_OPENAI_API": enabled,
                "OPENAI_API_BASE_URLS": [url],
                "OPENAI_API_KEYS": [UPSTREAM_KEY],
                "OPENAI_API_CONFIGS": {"0": config},
            },
        )

    def set_pipe_valves(self, function_id: str = PIPE_ID, **changes: Any) -> None:
        valves = {
            "OPENAI_API_BASE_URL": self.upstream.base_url,
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "ALLOW_GLOBAL_KEY_FALLBACK": True,
        }
        valves.update(changes)
        self.admin.update_valves(function_id, valves)

    def only(self, side: str | None) -> None:
        """Leave one provider of models for a listing, or all of them (None)."""
        self.set_builtin(self.upstream.base_url, enabled=side in (None, "builtin"))
        self.admin.set_function_active(PIPE_ID, side in (None, "pipe"))
        if "minimal" in self.phases:
            self.admin.set_function_active(MINIMAL_ID, side is None)
        for name in self.variants:
            self.admin.set_function_active(f"bench_{name}", side is None)

    def restore(self) -> None:
        self.set_pipe_valves()
        self.only(None)
        self.check_listed()

    def stop(self) -> None:
        for part in (self.prober, self.upstream):
            if part is not None:
                part.stop()
        if self.blackhole is not None:
            self.blackhole.close()
        if self.admin is not None:
            self.admin.close()
        if self.server is not None:
            self.server.stop()

    # ---- the run -------------------------------------------------------------------

    async def run(self) -> None:
        import aiohttp

        # uvicorn closes idle keep-alive connections after 5 s; reusing one just as it
        # does so ends in "connection reset". Retire them before that.
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=3)
        timeout = aiohttp.ClientTimeout(total=900, sock_read=300)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout
        ) as session:
            self.session = session
            owui = self.server.base_url
            auth = {"Authorization": f"Bearer {self.token}"}
            self.targets = {
                "floor": Target(
                    session,
                    f"{self.upstream.base_url}/chat/completions",
                    {"Authorization": f"Bearer {UPSTREAM_KEY}"},
                    MODEL,
                ),
                **{
                    side: Target(
                        session,
                        f"{owui}/api/chat/completions",
                        auth,
                        self.model_for(side),
                    )
                    for side in (
                        "builtin",
                        "pipe",
                        "minimal",
                        *[f"v:{n}" for n in self.variants],
                    )
                },
            }
            self.web = WebClient(owui, self.token, self.user)
            await self.web.connect()
            try:
                self.rss_start = rss_tree_mb(self.server.pid)
                await self.warm_up()
                steps: list[tuple[str, Callable[[], Awaitable[None]]]] = [
                    ("api", self.phase_api),
                    ("web", self.phase_web),
                    ("concurrency", self.phase_concurrency),
                    ("responses", self.phase_responses),
                    ("health", self.phase_health),
                    ("listing", self.phase_listing),
                    ("pipes", self.phase_pipes),
                    ("inproc", self.phase_inproc),
                    ("memory", self.phase_memory),
                ]
                if self.profile:
                    steps.append(("profile", self.phase_profile))
                for name, step in steps:
                    if name not in self.phases and not (
                        name == "profile" and self.profile
                    ):
                        continue
                    t0 = time.monotonic()
                    self.say(f"phase {name}...")
                    try:
                        await step()
                    except Exception as exc:  # noqa: BLE001 - reported, run goes on
                        self.errors.append(f"phase {name} failed: {exc!r}")
                        self.say(f"phase {name} FAILED: {exc!r}")
                        traceback.print_exc()
                    self.timings[f"phase_{name}_s"] = time.monotonic() - t0
                    self.say(f"phase {name}: {self.timings[f'phase_{name}_s']:.1f} s")
                self.gc_pauses()
            finally:
                self.raw["web_chat_creation_retries"] = self.web.retries
                await self.web.close()

    async def warm_up(self) -> None:
        """First chats load code paths and connection pools; not measured."""
        for side in self.sides(0):
            for _ in range(3):
                await self.targets[side].stream(self.plan.short_chunks)
            await self.web.chat(
                self.session, self.model_for(side), self.plan.short_chunks
            )
        await self.targets["floor"].stream(self.plan.short_chunks)

    # ---- streams: API path, web path ---------------------------------------------------

    async def one(
        self, side: str, kind: str, chunks: int, extra: str = ""
    ) -> StreamResult:
        if kind == "api" or side == "floor":
            return await self.targets[side].stream(chunks, extra)
        return await self.web.chat(self.session, self.model_for(side), chunks, extra)

    async def sequential(
        self, key: str, kind: str, chunks: int, reps: int, label: str = ""
    ) -> None:
        """`reps` single streams per side, in rotating order; TTFT and total.

        `label` goes before each figure's label (the `responses` phase's rows)."""
        results: dict[str, list[StreamResult]] = {}
        for rep in range(reps):
            sides = self.sides(rep)
            if kind == "api" and "floor" in self.phases:
                sides.append("floor")
            for side in sides:
                results.setdefault(side, []).append(await self.one(side, kind, chunks))
        good = {
            side: self.note_failures(f"{key}.{side}", r) for side, r in results.items()
        }
        self.raw[key] = {
            side: {
                "ttft_ms": [None if r.ttft is None else r.ttft * 1000 for r in rs],
                "total_ms": [r.total * 1000 for r in rs],
                "ok": [r.ok for r in rs],
            }
            for side, rs in results.items()
        }
        # Paired ratios: pipe over built-in within the same repetition (run back to
        # back), whose median shrugs off drift better than a ratio of medians.
        paired: dict[str, float | None] = {}
        paired_minimal: dict[str, float | None] = {}
        for attr in ("ttft", "total"):
            values = {
                side: [getattr(r, attr) if r.ok else None for r in rs]
                for side, rs in results.items()
            }
            pairs = paired_ratios(values)
            paired[attr] = median(pairs)
            self.raw[key][f"paired_ratio_{attr}"] = pairs
            pairs = paired_ratios(values, reference="minimal")
            paired_minimal[attr] = median(pairs)
            self.raw[key][f"paired_ratio_minimal_{attr}"] = pairs
        path = "API" if kind == "api" else "web"
        size = "short" if chunks == self.plan.short_chunks else "long"
        for metric, attr in (("TTFT", "ttft"), ("total", "total")):
            for stat_name, stat in (("median", median), ("p95", p95)):
                values = {side: stat(values_of(good[side], attr)) for side in good}
                note = f"n={reps}"
                if stat_name == "median" and paired[attr] is not None:
                    note += f", paired ratio {paired[attr]:.3f}"
                self.add(
                    Figure(
                        key=f"{key}.{attr}.{stat_name}",
                        label=f"{label}{path} {size} ({chunks} chunks) {metric} "
                        f"{stat_name}",
                        unit="ms",
                        builtin=values.get("builtin"),
                        pipe=values.get("pipe"),
                        floor=values.get("floor"),
                        minimal=values.get("minimal"),
                        note=note,
                        variants={
                            k[2:]: v for k, v in values.items() if k.startswith("v:")
                        },
                        paired=paired[attr] if stat_name == "median" else None,
                        paired_minimal=(
                            paired_minimal[attr] if stat_name == "median" else None
                        ),
                    )
                )

    async def phase_api(self) -> None:
        plan = self.plan
        await self.sequential("api.short", "api", plan.short_chunks, plan.reps_short)
        await self.sequential("api.long", "api", plan.long_chunks, plan.reps_long)

    async def phase_web(self) -> None:
        plan = self.plan
        await self.sequential(
            "web.short", "web", plan.short_chunks, plan.web_reps_short
        )
        await self.sequential("web.long", "web", plan.long_chunks, plan.web_reps_long)

    # ---- concurrency -----------------------------------------------------------------

    @staticmethod
    async def later(delay: float, coro: Awaitable[StreamResult]) -> StreamResult:
        await asyncio.sleep(delay)
        return await coro

    async def burst(
        self, side: str, kind: str, n: int, chunks: int
    ) -> tuple[float, list[StreamResult]]:
        """`n` streams at once: seconds from the start to the last chunk delivered.

        Throughput is the rate chunks reach the reader. What follows the last chunk
        (on the web path Open WebUI saving the answer, and the pipe's usage line) is
        each answer's end, timed by the sequential "total" figures."""
        started = time.monotonic()
        results = await asyncio.gather(
            *[self.one(side, kind, chunks) for _ in range(n)]
        )
        ends = [r.last_at for r in results if r.last_at is not None]
        finished = max(ends) if ends else time.monotonic()
        return finished - started, list(results)

    async def concurrent(
        self,
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
        plan = self.plan
        rates: dict[str, list[float]] = {}
        ttfts: dict[str, list[float]] = {}
        received: dict[str, list[int]] = {}  # per burst: equal across sides, or
        # the rates would compare different work (Open WebUI may coalesce deltas)
        for rep in range(reps):
            sides = self.sides(rep, minimal=plan.minimal_in_concurrency)
            if kind == "api" and "floor" in self.phases:
                sides.append("floor")
            for side in sides:
                t0 = time.monotonic()
                seconds, results = await self.burst(side, kind, n, chunks)
                t1 = time.monotonic()
                good = self.note_failures(f"{key}.{side}", results)
                rates.setdefault(side, []).append(
                    sum(r.chunks for r in results) / seconds
                )
                ttfts.setdefault(side, []).extend(values_of(good, "ttft"))
                received.setdefault(side, []).append(sum(r.chunks for r in results))
                if side != "floor" and health:
                    window = self.prober.window(t0, t1)
                    window.update(kind=kind, concurrency=n, seconds=seconds, rep=rep)
                    self.raw["health.streams"].setdefault(side, []).append(window)
                await asyncio.sleep(0.2 if n > 1 else 0.05)  # let it settle
        pairs = paired_ratios(rates, "rate")
        self.raw[key] = {
            "chunks_per_stream": chunks,
            "rate_chunks_per_s": rates,
            "ttft_ms": ttfts,
            "chunks_received": received,
            "paired_ratio_rate": pairs,
        }
        path = "API" if kind == "api" else "web"
        self.add(
            Figure(
                key=f"{key}.rate",
                label=f"{label}{path} {n} concurrent x {chunks} chunks: chunks/s",
                unit="chunks/s",
                builtin=median(rates.get("builtin", [])),
                pipe=median(rates.get("pipe", [])),
                floor=median(rates.get("floor", [])),
                minimal=median(rates.get("minimal", [])),
                ratio_kind="rate",
                note=f"n={reps}"
                + (f", paired ratio {median(pairs):.3f}" if pairs else ""),
                paired=median(pairs),
                variants={
                    k[2:]: median(v) for k, v in rates.items() if k.startswith("v:")
                },
            )
        )
        self.add(
            Figure(
                key=f"{key}.ttft.median",
                label=f"{label}{path} {n} concurrent: TTFT median",
                unit="ms",
                builtin=median(ttfts.get("builtin", [])),
                pipe=median(ttfts.get("pipe", [])),
                floor=median(ttfts.get("floor", [])),
                minimal=median(ttfts.get("minimal", [])),
                variants={
                    k[2:]: median(v) for k, v in ttfts.items() if k.startswith("v:")
                },
            )
        )

    async def phase_concurrency(self) -> None:
        plan = self.plan
        self.raw["health.streams"] = {}
        for kind in ("api", "web"):
            chunks = plan.conc_chunks if kind == "api" else plan.web_conc_chunks
            for n, reps in zip(plan.concurrency, plan.conc_reps):
                await self.concurrent(f"{kind}.c{n}", kind, n, reps, chunks)
        # The longest /health answer while streams ran, over every level, per path.
        for kind in ("api", "web"):
            for stat in ("max", "p99"):
                values = {
                    side: [
                        w[f"{stat}_ms"]
                        for w in windows
                        if w["kind"] == kind and w[f"{stat}_ms"] is not None
                    ]
                    for side, windows in self.raw["health.streams"].items()
                }
                self.add(
                    Figure(
                        key=f"health.streams.{kind}.{stat}",
                        label=f"/health {'longest' if stat == 'max' else 'p99'}, "
                        f"{'API' if kind == 'api' else 'web'} streams at full speed",
                        unit="ms",
                        builtin=max(
                            values.get("builtin") or [None], key=lambda v: v or 0
                        ),
                        pipe=max(values.get("pipe") or [None], key=lambda v: v or 0),
                        minimal=max(
                            values.get("minimal") or [None], key=lambda v: v or 0
                        ),
                        ratio_kind="none",
                        note="worst window" if stat == "p99" else "",
                    )
                )

    # ---- the Responses API ---------------------------------------------------------------

    RESPONSES_LABEL = "Responses "  # before the labels of the `responses` phase's rows

    async def phase_responses(self) -> None:
        """Both sides on OpenAI's Responses API, against the same upstream.

        The built-in connection with `api_type: "responses"` (Open WebUI converts the
        chat into a /responses request and hands the upstream's events on: raw lines
        on the API path, socket.io `response:completion` events on the web path); the
        pipe with RESPONSES_API=always (it translates the events into chat chunks);
        the minimal pipe posting to /responses and relaying its lines raw, for what
        Open WebUI charges any pipe with per-user keys; the floor reads /responses
        directly. The model is gpt-4o, a chat model: a reasoning model would add
        summary events that only the pipe asks for. The connection, the valves and
        the floor are put back afterwards for the phases that follow."""
        plan = self.plan
        upstream = self.upstream
        chat_floor = self.targets["floor"]
        label = self.RESPONSES_LABEL
        try:
            self.set_builtin(upstream.base_url, api_type="responses")
            self.set_pipe_valves(RESPONSES_API="always")
            for name in self.variants:
                self.set_pipe_valves(f"bench_{name}", RESPONSES_API="always")
            if "minimal" in self.phases:
                self.admin.update_valves(
                    MINIMAL_ID,
                    {
                        "BASE_URL": upstream.base_url,
                        "KEY": UPSTREAM_KEY,
                        "RESPONSES": True,
                    },
                )
            self.targets["floor"] = Target(
                self.session,
                f"{upstream.base_url}/responses",
                {"Authorization": f"Bearer {UPSTREAM_KEY}"},
                MODEL,
                responses=True,
            )
            self.check_listed()
            await self.check_wire("/v1/responses")
            await self.warm_up()
            await self.sequential(
                "responses.api.short",
                "api",
                plan.short_chunks,
                plan.responses_reps_short,
                label=label,
            )
            await self.sequential(
                "responses.web.short",
                "web",
                plan.short_chunks,
                plan.responses_web_reps_short,
                label=label,
            )
            n = plan.responses_concurrency
            await self.concurrent(
                f"responses.api.c{n}",
                "api",
                n,
                plan.responses_conc_reps,
                plan.conc_chunks,
                label=label,
                health=False,
            )
            await self.concurrent(
                f"responses.web.c{n}",
                "web",
                n,
                plan.responses_web_conc_reps,
                plan.web_conc_chunks,
                label=label,
                health=False,
            )
            # The host's share, in the table too: pipe/minimal, paired.
            for path in ("api", "web"):
                f = self.figure(f"responses.{path}.short.ttft.median")
                if f is not None and f.paired_minimal is not None:
                    f.note += f", pipe/minimal paired {f.paired_minimal:.3f}"
        finally:
            self.targets["floor"] = chat_floor
            if "minimal" in self.phases:
                self.admin.update_valves(
                    MINIMAL_ID, {"BASE_URL": upstream.base_url, "KEY": UPSTREAM_KEY}
                )
            for name in self.variants:
                self.set_pipe_valves(f"bench_{name}")
            self.restore()  # the pipe's valves, the chat connection, every model listed

    async def check_wire(self, path: str) -> None:
        """One API chat per side, each of which must reach the upstream at `path`
        (and nowhere else): otherwise the phase would measure another wire."""
        wrong = []
        for side in [*self.sides(0), "floor"]:
            before = self.upstream.paths()
            result = await self.targets[side].stream(self.plan.short_chunks)
            after = self.upstream.paths()
            grown = {
                key: after[key] - before.get(key, 0)
                for key in after
                if after[key] != before.get(key, 0) and not key.startswith("/_bench")
            }
            if not result.ok or grown != {path: 1}:
                wrong.append(f"{side}: {grown} {result.error}".strip())
        if wrong:
            raise RuntimeError(f"not one request to {path} per chat: {wrong}")

    # ---- health under slow upstreams ---------------------------------------------------

    async def phase_health(self) -> None:
        """/health while streams run at a model's pace, and while headers are late.

        The concurrency phase streams as fast as the upstream can send, which keeps
        Open WebUI's event loop busy all the time, so /health there measures queueing
        in a saturated loop. Here streams arrive at 100 chunks/s each (a fast model)
        and leave the loop mostly idle: a /health delay is then a step that held it."""
        idle_t0 = time.monotonic()
        await asyncio.sleep(1.0)
        idle = self.prober.window(idle_t0, time.monotonic())
        self.raw["health.idle"] = idle
        plan = self.plan
        paced: dict[str, dict[str, list[dict]]] = {"api": {}, "web": {}}
        marker = " [[delay:0.01]]"
        for kind, streams in (
            ("api", plan.paced_api_streams),
            ("web", plan.paced_web_streams),
        ):
            for rep in range(plan.health_reps):
                for side in self.sides(rep, minimal=False):
                    t0 = time.monotonic()
                    # Users do not all press Enter in the same millisecond: the
                    # streams start 10 ms apart (0.5 s for 50).
                    results = await asyncio.gather(
                        *[
                            self.later(
                                i * 0.01,
                                self.one(side, kind, plan.paced_chunks, marker),
                            )
                            for i in range(streams)
                        ]
                    )
                    window = self.prober.window(t0, time.monotonic())
                    window["seconds"] = time.monotonic() - t0
                    paced[kind].setdefault(side, []).append(window)
                    self.note_failures(f"health.paced.{kind}.{side}", list(results))
        self.raw["health.paced"] = paced
        for kind, streams in (
            ("api", plan.paced_api_streams),
            ("web", plan.paced_web_streams),
        ):
            typical = {side: longest_delays(ws)[1] for side, ws in paced[kind].items()}
            for stat in ("max", "p99"):
                values = {
                    side: max((w[f"{stat}_ms"] or 0) for w in ws)
                    for side, ws in paced[kind].items()
                }
                self.add(
                    Figure(
                        f"health.paced.{kind}.{stat}",
                        f"/health {'longest' if stat == 'max' else 'p99'}, {streams} "
                        f"{'API' if kind == 'api' else 'web'} streams at 100 chunks/s",
                        "ms",
                        values.get("builtin"),
                        values.get("pipe"),
                        ratio_kind="none",
                        note=f"{plan.paced_chunks} chunks each, starts 10 ms apart"
                        + (", worst window" if stat == "p99" else ""),
                        typical=typical if stat == "max" else {},
                    )
                )
        delay = self.plan.slow_seconds
        marker = f" [[fault:delay_headers seconds={delay}]]"
        windows: dict[str, list[dict]] = {}
        totals: dict[str, list[float]] = {}
        n = self.plan.header_delay_streams
        for rep in range(self.plan.health_reps):
            for side in self.sides(rep, minimal=False):
                t0 = time.monotonic()
                results = await asyncio.gather(
                    *[
                        self.one(side, "api", self.plan.short_chunks, marker)
                        for _ in range(n)
                    ],
                    *[
                        self.one(side, "web", self.plan.short_chunks, marker)
                        for _ in range(n)
                    ],
                )
                windows.setdefault(side, []).append(
                    self.prober.window(t0, time.monotonic())
                )
                good = self.note_failures(f"health.slow_headers.{side}", list(results))
                totals.setdefault(side, []).extend(values_of(good, "total"))
        self.raw["health.slow_headers"] = {
            "windows": windows,
            "total_ms": totals,
            "delay_s": delay,
        }
        delays = {side: longest_delays(ws) for side, ws in windows.items()}
        self.add(
            Figure(
                "health.idle.max",
                "/health longest, idle (reference)",
                "ms",
                idle["max_ms"],
                idle["max_ms"],
                ratio_kind="none",
            )
        )
        self.add(
            Figure(
                "health.slow_headers.max",
                f"/health longest, upstream headers {delay:g} s late",
                "ms",
                delays.get("builtin", (None,))[0],
                delays.get("pipe", (None,))[0],
                ratio_kind="none",
                note=f"{self.plan.health_reps} x ({n} API + {n} web chats)",
                typical={side: d[1] for side, d in delays.items()},
            )
        )
        self.add(
            Figure(
                "health.slow_headers.total.median",
                f"chat total, headers {delay:g} s late (median)",
                "ms",
                median(totals.get("builtin", [])),
                median(totals.get("pipe", [])),
            )
        )

    # ---- model listings ------------------------------------------------------------------

    async def list_models(
        self, refresh: bool = False, watch: float = 0.0
    ) -> tuple[float, list[str], dict]:
        """GET /api/models as the admin: seconds, ids, /health window meanwhile.

        `watch` keeps the /health window open that long at least: a listing the
        pipe answers from its cache returns at once while its refresh of the slow
        /models still runs in the background, and that must not stall the loop.
        """
        url = f"{self.server.base_url}/api/models" + (
            "?refresh=true" if refresh else ""
        )
        headers = {"Authorization": f"Bearer {self.token}"}
        t0 = time.monotonic()
        async with self.session.get(url, headers=headers) as response:
            data = await response.json()
        t1 = time.monotonic()
        await asyncio.sleep(max(0.0, t0 + watch - t1))
        ids = [m["id"] for m in data.get("data", [])]
        return t1 - t0, ids, self.prober.window(t0, max(t1, t0 + watch))

    async def phase_listing(self) -> None:
        plan = self.plan
        raw: dict[str, Any] = {}
        self.raw["listing"] = raw
        delay = plan.slow_seconds
        try:
            # Normal listings, one provider at a time. ?refresh=true empties Open
            # WebUI's own caches: the built-in fetches /models every time, the pipe
            # answers from its MODEL_CACHE_TTL cache.
            normal: dict[str, list[float]] = {"builtin": [], "pipe": []}
            for rep in range(plan.listing_reps):
                for side in self.sides(rep, minimal=False):
                    self.only(side)
                    seconds, ids, _ = await self.list_models(refresh=True)
                    if self.model_for(side) not in ids:
                        self.errors.append(
                            f"listing {side}: {self.model_for(side)} missing"
                        )
                    normal[side].append(seconds * 1000)
            raw["normal_ms"] = normal

            # Slow /models (headers late): the built-in waits every time; the pipe
            # waits when its cache has expired (MODEL_CACHE_TTL=0 here), else not.
            slow: dict[str, list[float]] = {"builtin": [], "pipe": [], "pipe_warm": []}
            slow_health: dict[str, list[dict]] = {
                "builtin": [],
                "pipe": [],
                "pipe_warm": [],
            }
            for rep in range(plan.slow_listing_reps):
                for side in self.sides(rep, minimal=False):
                    self.only(side)
                    if side == "pipe":
                        self.set_pipe_valves(MODEL_CACHE_TTL=0)
                    self.upstream.add_fault(
                        "delay_headers", path="/v1/models", times=1, seconds=delay
                    )
                    seconds, _, window = await self.list_models(
                        refresh=True, watch=delay + 0.2
                    )
                    slow[side].append(seconds * 1000)
                    slow_health[side].append(window)
                    if side == "pipe":
                        self.set_pipe_valves()  # TTL back to 300 s
                        await self.list_models()  # refills the cache
                        self.upstream.add_fault(
                            "delay_headers", path="/v1/models", times=1, seconds=delay
                        )
                        seconds, _, window = await self.list_models(
                            refresh=True, watch=delay + 0.2
                        )
                        slow["pipe_warm"].append(seconds * 1000)
                        slow_health["pipe_warm"].append(window)
                        self.upstream.clear()  # the fault nobody consumed
            raw["slow_ms"] = slow
            raw["slow_health"] = slow_health

            # Dead endpoint (accepts TCP, never answers): a first listing, then another.
            dead: dict[str, list[float]] = {}
            dead_health: dict[str, list[dict]] = {}
            self.only("pipe")
            self.set_pipe_valves(OPENAI_API_BASE_URL=self.blackhole.base_url)
            # pipes() in-process against the same dead endpoint, meanwhile (it only waits).
            inproc_dead = (
                asyncio.ensure_future(self.pipes_dead())
                if "pipes" in self.phases
                else None
            )
            for label in ("pipe_first", "pipe_second"):
                seconds, ids, window = await self.list_models()
                dead[label] = [seconds * 1000]
                dead_health[label] = [window]
                raw.setdefault("dead_ids", {})[label] = ids
            self.set_pipe_valves()
            if plan.builtin_dead:
                self.admin.set_function_active(PIPE_ID, False)
                self.set_builtin(self.blackhole.base_url, enabled=True)
                labels = ["builtin_first"] + (
                    ["builtin_second"] if plan.builtin_dead_twice else []
                )
                for label in labels:
                    await asyncio.sleep(1.1)  # past the built-in's 1 s list cache
                    seconds, _, window = await self.list_models()
                    dead[label] = [seconds * 1000]
                    dead_health[label] = [window]
            if inproc_dead is not None:
                self.raw["pipes.dead"] = await inproc_dead
            raw["dead_ms"] = dead
            raw["dead_health"] = dead_health
        finally:
            self.upstream.clear()
            self.restore()

        def first(values: list[float] | None) -> float | None:
            return values[0] if values else None

        quick_note = "" if plan.builtin_dead else "built-in skipped in --quick"
        slow_delays = {
            side: longest_delays(slow_health[side]) for side in ("builtin", "pipe")
        }
        dead_builtin = longest_delays(
            dead_health.get("builtin_first", []) + dead_health.get("builtin_second", [])
        )
        dead_pipe = longest_delays(
            dead_health["pipe_first"] + dead_health["pipe_second"]
        )
        self.add(
            Figure(
                "listing.normal.median",
                "/api/models, upstream fine (median)",
                "ms",
                median(normal["builtin"]),
                median(normal["pipe"]),
                note=f"n={plan.listing_reps}",
            )
        )
        self.add(
            Figure(
                "listing.slow.median",
                f"/api/models, /models {delay:g} s late, pipe cache expired",
                "ms",
                median(slow["builtin"]),
                median(slow["pipe"]),
                note=f"n={plan.slow_listing_reps}",
            )
        )
        self.add(
            Figure(
                "listing.slow_warm.median",
                f"/api/models, /models {delay:g} s late, pipe cache warm",
                "ms",
                median(slow["builtin"]),
                median(slow["pipe_warm"]),
                note=f"n={plan.slow_listing_reps}",
            )
        )
        self.add(
            Figure(
                "listing.dead.first",
                "/api/models, dead /models: first listing",
                "ms",
                first(dead.get("builtin_first")),
                first(dead.get("pipe_first")),
                ratio_kind="none",
                note=quick_note,
            )
        )
        self.add(
            Figure(
                "listing.dead.second",
                "/api/models, dead /models: next listing",
                "ms",
                first(dead.get("builtin_second")),
                first(dead.get("pipe_second")),
                ratio_kind="none",
                note="" if plan.builtin_dead_twice else "built-in skipped in --quick",
            )
        )
        self.add(
            Figure(
                "health.slow_models.max",
                f"/health longest, /models {delay:g} s late",
                "ms",
                slow_delays["builtin"][0],
                slow_delays["pipe"][0],
                ratio_kind="none",
                note=f"{plan.slow_listing_reps} x each",
                typical={side: delays[1] for side, delays in slow_delays.items()},
            )
        )
        self.add(
            Figure(
                "health.dead_models.max",
                "/health longest, dead /models",
                "ms",
                dead_builtin[0],
                dead_pipe[0],
                ratio_kind="none",
                note=quick_note,
                # Two different listings, not repeats: judged by the longest.
                typical={"builtin": dead_builtin[0], "pipe": dead_pipe[0]},
            )
        )

    # ---- pipes() in-process ------------------------------------------------------------

    def load_host(self, base_url: str, ttl: int = 300):
        """The built file loaded like Open WebUI loads it (tests/owhost.py)."""
        from tests.owhost import Host, load_pipe

        host = Host(
            load_pipe(self.pipe_source),
            {
                "OPENAI_API_BASE_URL": base_url,
                "OPENAI_API_KEY": UPSTREAM_KEY,
                "ALLOW_GLOBAL_KEY_FALLBACK": True,
                "MODEL_CACHE_TTL": ttl,
            },
        )
        host._refresh_valves()
        return host

    async def pipes_dead(self) -> dict:
        """pipes() against a dead endpoint: the first call waits, the next is cached."""
        host = self.load_host(self.blackhole.base_url)
        try:
            times = []
            for _ in range(2):
                t0 = time.perf_counter()
                listed = await host.pipe.pipes()
                times.append((time.perf_counter() - t0) * 1000)
            return {"first_ms": times[0], "second_ms": times[1], "listed": listed}
        finally:
            await host.pipe.close()

    async def phase_pipes(self) -> None:
        plan = self.plan
        host = self.load_host(self.upstream.base_url)
        try:
            await host.pipe.pipes()  # fills the cache
            warm = []
            for _ in range(plan.pipes_warm_calls):
                t0 = time.perf_counter()
                await host.pipe.pipes()
                warm.append((time.perf_counter() - t0) * 1e6)
            # What Open WebUI does around it on each listing: new Valves, then pipes().
            with_valves = []
            for _ in range(min(500, plan.pipes_warm_calls)):
                t0 = time.perf_counter()
                await host.models()
                with_valves.append((time.perf_counter() - t0) * 1e6)
        finally:
            await host.pipe.close()
        cold_host = self.load_host(self.upstream.base_url, ttl=0)
        try:
            cold = []
            for _ in range(plan.pipes_cold_calls):
                t0 = time.perf_counter()
                await cold_host.pipe.pipes()
                cold.append((time.perf_counter() - t0) * 1000)
        finally:
            await cold_host.pipe.close()
        first = []  # a new instance: first listing after a restart or a code update
        for _ in range(min(5, plan.pipes_cold_calls)):
            fresh = self.load_host(self.upstream.base_url)
            try:
                t0 = time.perf_counter()
                await fresh.pipe.pipes()
                first.append((time.perf_counter() - t0) * 1000)
            finally:
                await fresh.pipe.close()
        dead = self.raw.get("pipes.dead") or await self.pipes_dead()
        self.raw["pipes.dead"] = dead
        self.raw["pipes"] = {
            "warm_us": warm,
            "warm_with_valves_us": with_valves,
            "cold_ttl0_ms": cold,
            "fresh_instance_ms": first,
            "dead": {k: v for k, v in dead.items() if k != "listed"},
            "dead_listed": dead.get("listed"),
        }
        self.add(
            Figure(
                "pipes.warm.median",
                "pipes() warm cache (in-process) median",
                "us",
                None,
                median(warm),
                ratio_kind="none",
                note=f"n={len(warm)}",
            )
        )
        self.add(
            Figure(
                "pipes.warm.p95",
                "pipes() warm cache (in-process) p95",
                "us",
                None,
                p95(warm),
                ratio_kind="none",
            )
        )
        self.add(
            Figure(
                "pipes.warm_valves.median",
                "Valves(**saved) + pipes(), warm (median)",
                "us",
                None,
                median(with_valves),
                ratio_kind="none",
                note="what a listing costs",
            )
        )
        self.add(
            Figure(
                "pipes.cold.median",
                "pipes() expired cache (TTL 0) median",
                "ms",
                None,
                median(cold),
                ratio_kind="none",
                note=f"n={len(cold)}, last list served while /models refreshes",
            )
        )
        self.add(
            Figure(
                "pipes.fresh.median",
                "pipes() cold cache: first call of a new instance",
                "ms",
                None,
                median(first),
                ratio_kind="none",
            )
        )
        self.add(
            Figure(
                "pipes.dead.first",
                "pipes() dead endpoint: first call",
                "ms",
                None,
                dead["first_ms"],
                ratio_kind="none",
            )
        )
        self.add(
            Figure(
                "pipes.dead.second",
                "pipes() dead endpoint: next call (same TTL)",
                "ms",
                None,
                dead["second_ms"],
                ratio_kind="none",
            )
        )

    # ---- the pipe in-process: per-chunk cost, event-loop stalls -----------------------------

    async def raw_lines(self, session, chunks: int, first: list | None = None) -> int:
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
            f"{self.upstream.base_url}/chat/completions", json=body, headers=headers
        ) as response:
            async for line in response.content:
                if line.startswith(b"data:"):
                    count += 1
                    if first is not None and not first and _CONTENT.search(line):
                        first.append(time.perf_counter() - started)
        return count

    async def pipe_lines(self, host, chunks: int, first: list | None = None) -> int:
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
            if first is not None and not first and _CONTENT.search(line.encode()):
                first.append(time.perf_counter() - started)
        return count

    async def phase_inproc(self) -> None:
        """The pipe without Open WebUI around it, against a plain aiohttp reader."""
        import aiohttp

        plan = self.plan
        chunks = plan.long_chunks
        host = self.load_host(self.upstream.base_url)
        raw: dict[str, Any] = {"chunks": chunks}
        self.raw["inproc"] = raw
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0)
        ) as session:
            runs = {
                "raw": lambda: self.raw_lines(session, chunks),
                "pipe": lambda: self.pipe_lines(host, chunks),
            }
            try:
                for run in runs.values():  # warm-up
                    await run()
                # CPU time of this process per chunk (the upstream is another process).
                cpu: dict[str, list[float]] = {"raw": [], "pipe": []}
                for rep in range(max(6, plan.reps_long)):
                    for name in ("raw", "pipe") if rep % 2 == 0 else ("pipe", "raw"):
                        c0 = time.process_time()
                        await runs[name]()
                        cpu[name].append((time.process_time() - c0) / chunks * 1e6)
                raw["cpu_us_per_chunk"] = cpu
                # Time to the first content chunk of a short stream.
                ttft: dict[str, list[float]] = {"raw": [], "pipe": []}
                for rep in range(20):
                    for name in ("raw", "pipe") if rep % 2 == 0 else ("pipe", "raw"):
                        first: list[float] = []
                        if name == "raw":
                            await self.raw_lines(session, plan.short_chunks, first)
                        else:
                            await self.pipe_lines(host, plan.short_chunks, first)
                        ttft[name] += [v * 1000 for v in first]
                raw["ttft_ms"] = ttft
                # Event-loop stalls under N concurrent long streams: the longest single
                # callback (task step) in CPU time of the loop's thread, which the OS
                # descheduling us cannot inflate; and a 1 ms ticker's worst lateness
                # in wall time, which it can. The benchmark's own heap (every figure
                # so far) is frozen first: a full collection walking it would land
                # in whichever step allocated last and be blamed on that code.
                stall: dict[str, float] = {}
                lag: dict[str, float] = {}
                n = plan.inproc_streams
                gc.collect()
                gc.freeze()
                for name, run in runs.items():
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
                        await asyncio.gather(*[run() for _ in range(n)])
                        raw.setdefault("concurrent_s", {})[name] = (
                            time.perf_counter() - t0
                        )
                        stop.set()
                        await task
                    stall[name] = longest[0] * 1000
                    lag[name] = max(late) * 1000 if late else 0.0
                gc.unfreeze()
                raw["longest_callback_cpu_ms"] = stall
                raw["ticker_late_max_ms"] = lag
                if self.profile:
                    raw["cprofile"] = await self.cprofile_pipe(host, chunks)
            finally:
                await host.pipe.close()
        self.add(
            Figure(
                "inproc.ttft",
                "in-process TTFT, short: plain request vs pipe",
                "ms",
                median(ttft["raw"]),
                median(ttft["pipe"]),
                note="built-in column: aiohttp POST + line iterator",
            )
        )
        self.add(
            Figure(
                "inproc.cpu_per_chunk",
                "in-process CPU per chunk: line reader vs pipe",
                "us",
                median(cpu["raw"]),
                median(cpu["pipe"]),
                note="built-in column: aiohttp line iterator (what the built-in does)",
            )
        )
        self.add(
            Figure(
                "inproc.loop_stall",
                f"in-process longest loop step, {n} x {chunks} chunks",
                "ms",
                stall["raw"],
                stall["pipe"],
                ratio_kind="none",
                note="CPU time of the longest callback",
            )
        )
        self.add(
            Figure(
                "inproc.ticker_late",
                f"in-process 1 ms timer lateness, {n} x {chunks} chunks",
                "ms",
                lag["raw"],
                lag["pipe"],
                ratio_kind="none",
                note="wall time: includes the OS's own delays",
            )
        )

    async def cprofile_pipe(self, host, chunks: int) -> dict:
        """cProfile of the pipe's path for a few long streams: top functions by own time."""
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        streams = 5
        profiler.enable()
        for _ in range(streams):
            await self.pipe_lines(host, chunks)
        profiler.disable()
        path = self.log_dir / "pipe-cprofile.pstats"
        profiler.dump_stats(str(path))
        stats = pstats.Stats(profiler)
        total = stats.total_tt
        rows = []
        for (filename, line, name), (cc, nc, tt, ct, _) in stats.stats.items():
            rows.append(
                {
                    "function": f"{name} ({Path(filename).name}:{line})",
                    "calls": nc,
                    "own_us_per_chunk": tt / (streams * chunks) * 1e6,
                    "cum_us_per_chunk": ct / (streams * chunks) * 1e6,
                    "own_share": tt / total if total else 0,
                }
            )
        rows.sort(key=lambda r: r["own_us_per_chunk"], reverse=True)
        return {
            "file": str(path),
            "total_us_per_chunk": total / (streams * chunks) * 1e6,
            "top": rows[:30],
        }

    # ---- py-spy on the live server ---------------------------------------------------------

    async def phase_profile(self) -> None:
        """py-spy samples Open WebUI while it relays long streams, one side at a time.

        Ten streams at a time run back to back; py-spy records the middle of that
        load. Open WebUI's event-loop CPU per chunk = its samples / rate / chunks
        relayed meanwhile (estimated from the load's steady rate)."""
        spy = Path(sys.executable).parent / "py-spy"
        if not spy.exists():
            self.errors.append(
                "profile: py-spy not installed (.venv/bin/pip install py-spy)"
            )
            return
        seconds = 8 if self.plan.quick else 15
        summary: dict[str, Any] = {}
        sides = ["builtin", "pipe", *(["minimal"] if "minimal" in self.phases else [])]
        sides += [f"v:{name}" for name in self.variants]
        for kind in ("api", "web"):
            chunks = self.plan.long_chunks if kind == "api" else 500
            for side in sides:
                out = self.log_dir / f"pyspy-{kind}-{side.replace(':', '_')}.txt"
                stop = asyncio.Event()
                delivered = 0

                async def load() -> None:
                    nonlocal delivered
                    while not stop.is_set():
                        _, results = await self.burst(side, kind, 10, chunks)
                        delivered += sum(r.chunks for r in results)

                t0 = time.monotonic()
                task = asyncio.ensure_future(load())
                await asyncio.sleep(1.0)
                process = await asyncio.create_subprocess_exec(
                    str(spy),
                    "record",
                    "--pid",
                    str(self.server.pid),
                    "--format",
                    "raw",
                    "--rate",
                    str(PROFILE_RATE),
                    "--duration",
                    str(seconds),
                    "--nonblocking",
                    "--threads",
                    "--full-filenames",
                    "--output",
                    str(out),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                _, stderr = await process.communicate()
                stop.set()
                await task
                elapsed = time.monotonic() - t0
                if not out.exists():
                    self.errors.append(
                        f"profile {kind} {side}: py-spy wrote nothing: {stderr[-300:]!r}"
                    )
                    continue
                stats = summarize_stacks(out.read_text())
                window_chunks = delivered / elapsed * seconds
                per_chunk = (
                    stats["loop_cpu_s"] / window_chunks * 1e6 if window_chunks else None
                )
                stats.update(
                    chunks_per_s=delivered / elapsed,
                    window_chunks=window_chunks,
                    loop_us_per_chunk=per_chunk,
                    us_per_chunk=(
                        {
                            name: share * per_chunk
                            for name, share in stats["inclusive_share"].items()
                        }
                        if per_chunk
                        else {}
                    ),
                    own_us_per_chunk=(
                        {
                            name: share * per_chunk
                            for name, share in stats["own_share_by_package"].items()
                        }
                        if per_chunk
                        else {}
                    ),
                    file=str(out),
                )
                summary[f"{kind}.{side}"] = stats
                self.say(
                    f"profile {kind} {side}: {per_chunk or 0:.1f} us of event loop per chunk"
                )
        self.raw["profile"] = summary
        for kind in ("api", "web"):
            b, p = summary.get(f"{kind}.builtin"), summary.get(f"{kind}.pipe")
            m = summary.get(f"{kind}.minimal")
            if b and p:
                self.add(
                    Figure(
                        f"profile.{kind}.loop_us_per_chunk",
                        f"{'API' if kind == 'api' else 'web'}: Open WebUI loop CPU per chunk (py-spy)",
                        "us",
                        b["loop_us_per_chunk"],
                        p["loop_us_per_chunk"],
                        minimal=m["loop_us_per_chunk"] if m else None,
                    )
                )
                self.add(
                    Figure(
                        f"profile.{kind}.pipe_us_per_chunk",
                        f"{'API' if kind == 'api' else 'web'}: of which in the pipe's own frames",
                        "us",
                        None,
                        p["us_per_chunk"].get("pipe: any frame of the pipe"),
                        minimal=(m or {})
                        .get("us_per_chunk", {})
                        .get("pipe: any frame of the pipe"),
                        ratio_kind="none",
                    )
                )

    # ---- memory --------------------------------------------------------------------------

    async def chats(self, side: str, count: int) -> list[StreamResult]:
        """`count` short chats, half on the API path, half on the web path."""
        semaphore = asyncio.Semaphore(self.plan.memory_concurrency)

        async def one(index: int) -> StreamResult:
            async with semaphore:
                return await self.one(
                    side, "web" if index % 2 else "api", self.plan.short_chunks
                )

        return list(await asyncio.gather(*[one(i) for i in range(count)]))

    def rss(self) -> float:
        return rss_tree_mb(self.server.pid)

    async def phase_memory(self) -> None:
        plan = self.plan
        # Warm-up: Open WebUI's memory grows over the first few dozen chats, then
        # holds (seen: +1.7 to +3.7 MB over the 40 chats after a 20-chat warm-up,
        # flat after). Counted as growth, that would fail a short run's scaled
        # limit without any leak.
        warm = 60 if plan.quick else 100
        await self.chats("pipe", warm)
        if plan.memory_reference:
            await self.chats("builtin", warm)
        await asyncio.sleep(1)
        blocks = 5
        per_block = plan.memory_chats // blocks
        growth = {"builtin": 0.0, "pipe": 0.0}
        samples: list[dict] = []
        before = self.rss()
        samples.append({"after": "warm-up", "rss_mb": before})
        t0 = time.monotonic()
        for block in range(blocks):
            sides = (
                self.sides(block, minimal=False) if plan.memory_reference else ["pipe"]
            )
            for side in sides:
                start = self.rss()
                self.note_failures(f"memory.{side}", await self.chats(side, per_block))
                await asyncio.sleep(0.3)
                end = self.rss()
                growth[side] += end - start
                samples.append({"after": f"{per_block} {side} chats", "rss_mb": end})
        after = self.rss()
        n = per_block * blocks
        self.raw["memory"] = {
            "rss_start_of_run_mb": self.rss_start,
            "rss_before_mb": before,
            "rss_after_mb": after,
            "chats_per_side": n,
            "seconds": time.monotonic() - t0,
            "growth_mb": growth,
            "samples": samples,
        }
        self.add(
            Figure(
                "memory.before",
                "Open WebUI RSS before the chats (after warm-up)",
                "MB",
                None,
                before,
                ratio_kind="none",
            )
        )
        self.add(
            Figure(
                "memory.after",
                "Open WebUI RSS after the chats",
                "MB",
                None,
                after,
                ratio_kind="none",
            )
        )
        self.add(
            Figure(
                "memory.growth",
                f"RSS growth over {n} chats (half API, half web)",
                "MB",
                growth["builtin"] if plan.memory_reference else None,
                growth["pipe"],
                ratio_kind="none",
                note="" if n >= 1000 else f"scaled: {n} chats, not 1000",
            )
        )

    def gc_pauses(self) -> None:
        """Open WebUI's own collection pauses over the run, from the GC_PROBE lines.

        Not a side's figure: a pause lands on whichever side happens to be running,
        and explains a lone half-second /health delay in a table."""
        with open(self.log_dir / "openwebui-server.log", "rb") as file:
            file.seek(self.log_measured_from)  # not the start-up's collections
            log = file.read().decode(errors="replace")
        pauses = [(int(gen), int(ms)) for gen, ms in GC_PAUSE.findall(log)]
        self.raw["gc_pauses_ms"] = pauses
        full = [ms for gen, ms in pauses if gen == 2]
        longest = float(max(full)) if full else None
        self.add(
            Figure(
                "host.gc_pauses.longest",
                "Open WebUI full garbage collection, longest pause",
                "ms",
                longest,
                longest,
                ratio_kind="none",
                note=f"whole run, either side: {len(full)} full collections >= 20 ms",
            )
        )

    # ---- targets ----------------------------------------------------------------------------

    def figure(self, key: str) -> Figure | None:
        return next((f for f in self.figures if f.key == key), None)

    def targets_report(self) -> list[dict]:
        results: list[dict] = []

        def check(name: str, ok: bool, detail: str) -> None:
            results.append({"target": name, "pass": bool(ok), "detail": detail})

        for key in (
            "api.short.ttft.median",
            "api.long.ttft.median",
            "web.short.ttft.median",
            "web.long.ttft.median",
            "responses.api.short.ttft.median",
            "responses.web.short.ttft.median",
        ):
            f = self.figure(key)
            if f and f.judged is not None:
                ok, detail = f.verdict(1.05)
                if f.paired_minimal is not None and f.ratio_minimal is not None:
                    # What any pipe with per-user keys costs here, to tell the
                    # host's share of a miss from the pipe's.
                    detail += (
                        f"; minimal pipe/built-in {f.minimal / f.builtin:.3f}, "
                        f"pipe/minimal paired {f.paired_minimal:.3f}"
                    )
                check(f"TTFT pipe/built-in <= 1.05, {f.label}", ok, detail)
        # The Responses API: Open WebUI reads the user's valves from its database
        # for any pipe with per-user keys (~1 ms the built-in does not spend), so
        # time to first token is judged against the minimal pipe too.
        for key in (
            "responses.api.short.ttft.median",
            "responses.web.short.ttft.median",
        ):
            f = self.figure(key)
            if f and f.paired_minimal is not None:
                check(
                    f"TTFT pipe/minimal pipe <= 1.05 (the host's per-user-key cost "
                    f"set apart), {f.label}",
                    f.paired_minimal <= 1.05,
                    f"paired ratio {f.paired_minimal:.3f} (medians "
                    f"{fmt(f.pipe, 'ms')} vs {fmt(f.minimal, 'ms')} ms)",
                )
        for kind in ("api", "web"):
            for key in [
                *(f"{kind}.c{n}" for n in self.plan.concurrency),
                f"responses.{kind}.c{self.plan.responses_concurrency}",
            ]:
                f = self.figure(f"{key}.rate")
                if f and f.judged is not None:
                    check(
                        f"throughput built-in/pipe <= 1.05, {f.label}", *f.verdict(1.05)
                    )
        # Paced streams, not full-speed ones: at full speed every side saturates the
        # loop and /health measures its queue (shown in the table, not judged).
        for key in (
            "health.paced.api.max",
            "health.paced.web.max",
            "health.slow_headers.max",
            "health.slow_models.max",
            "health.dead_models.max",
        ):
            f = self.figure(key)
            pipe, builtin = f and f.typical.get("pipe"), f and f.typical.get("builtin")
            if pipe is not None and builtin is not None:
                extra = pipe - builtin
                check(
                    f"/health delayed <= 20 ms more than with the built-in, {f.label}",
                    extra <= 20.0,
                    f"typical window's longest: pipe {pipe:.1f} ms vs built-in "
                    f"{builtin:.1f} ms ({extra:+.1f} ms); longest of all "
                    f"{f.pipe:.1f} vs {f.builtin:.1f} ms",
                )
        f = self.figure("inproc.loop_stall")
        if f and f.pipe is not None:
            check(
                "the pipe alone holds the event loop <= 20 ms at a time (in-process)",
                f.pipe <= 20.0,
                f"longest step {f.pipe:.1f} ms (line reader {f.builtin:.1f} ms)",
            )
        f = self.figure("pipes.warm.median")
        if f and f.pipe is not None:
            p = self.figure("pipes.warm.p95")
            check(
                "warm pipes() < 1 ms",
                f.pipe < 1000,
                f"median {f.pipe:.1f} us"
                + (f", p95 {p.pipe:.1f} us" if p and p.pipe else ""),
            )
        # "At most the short timeout": 5 s beyond what the same listing costs when the
        # endpoint is fine (Open WebUI's own work), and only the first time in a TTL.
        first, second = self.figure("listing.dead.first"), self.figure(
            "listing.dead.second"
        )
        normal = self.figure("listing.normal.median")
        pfirst, psecond = self.figure("pipes.dead.first"), self.figure(
            "pipes.dead.second"
        )
        parts, ok = [], True
        if first and second and first.pipe is not None and second.pipe is not None:
            base = normal.pipe if normal and normal.pipe is not None else 0.0
            ok = ok and first.pipe - base <= 5050 and second.pipe - base <= 100
            parts.append(
                f"/api/models {first.pipe:,.0f} ms then {second.pipe:,.0f} ms "
                f"(normal listing {base:.0f} ms)"
            )
        if pfirst and psecond and pfirst.pipe is not None:
            ok = ok and pfirst.pipe <= 5050 and psecond.pipe <= 50
            parts.append(f"pipes() {pfirst.pipe:,.0f} ms then {psecond.pipe:.2f} ms")
        if parts:
            check(
                "a dead endpoint costs a listing <= 5 s, once per TTL",
                ok,
                "; ".join(parts),
            )
        f = self.figure("memory.growth")
        if f and f.pipe is not None:
            n = self.raw["memory"]["chats_per_side"]
            limit = 20.0 * min(n, 1000) / 1000
            check(
                f"RSS growth < {limit:g} MB over {n} chats (20 MB per 1,000)",
                f.pipe < limit,
                f"pipe {f.pipe:+.1f} MB"
                + (f", built-in {f.builtin:+.1f} MB" if f.builtin is not None else ""),
            )
        return results


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


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "chunks/s" or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(figures: list[Figure], targets: list[dict], meta: dict) -> str:
    lines = [
        f"OpenAI Manifold Pipe benchmark, {meta['date']}, {'--quick' if meta['quick'] else 'full run'}, "
        f"{meta['nproc']} cores, {meta['mem_total_gb']:.1f} GB RAM, Open WebUI {meta['open_webui']}, "
        f"load average at start {meta['loadavg_start'][0]:.1f}",
        "ratio = how much worse the pipe is than the built-in connection (> 1: worse): pipe/built-in "
        "for times, built-in/pipe for chunks/s.",
        "floor = the upstream read directly; minimal = a reference pipe that only takes the user's "
        "key and relays lines (Open WebUI's cost of any pipe with per-user keys); vs min = the pipe "
        "against it.",
        "PASS/FAIL judge the paired ratio where there is one: the median of pipe/built-in over "
        "runs made back to back, which drift on a shared machine moves less than a ratio of medians.",
    ]
    if any(f.key.startswith("responses.") for f in figures):
        lines.append(
            "Responses rows: built-in = the connection with api_type responses, pipe = "
            "RESPONSES_API=always, minimal = /responses lines relayed raw, floor = "
            "/responses read directly. Open WebUI reads the user's valves from its "
            "database for any pipe with per-user keys (~1 ms of TTFT, the host's, not "
            "the pipe's): TTFT is judged against the minimal pipe too."
        )
    header = (
        f"{'figure':<56} {'unit':>8} {'floor':>8} {'built-in':>9} {'minimal':>9} "
        f"{'pipe':>9} {'ratio':>6} {'vs min':>6}  note"
    )
    lines += [header, "-" * len(header)]
    for f in figures:
        ratio = f"{f.ratio:.3f}" if f.ratio is not None else "-"
        ratio_min = f"{f.ratio_minimal:.3f}" if f.ratio_minimal is not None else "-"
        lines.append(
            f"{f.label[:56]:<56} {f.unit:>8} {fmt(f.floor, f.unit):>8} {fmt(f.builtin, f.unit):>9} "
            f"{fmt(f.minimal, f.unit):>9} {fmt(f.pipe, f.unit):>9} {ratio:>6} {ratio_min:>6}  {f.note}"
        )
    with_variants = [f for f in figures if f.variants]
    if with_variants:
        names = sorted({name for f in with_variants for name in f.variants})
        lines += [
            "",
            "variants (--variant): value, and ratio against the built-in like the main table",
        ]
        header = f"{'figure':<56} {'built-in':>9} {'pipe':>9} " + " ".join(
            f"{name[:12]:>12} {'ratio':>6}" for name in names
        )
        lines += [header, "-" * len(header)]
        for f in with_variants:
            cells = []
            for name in names:
                value = f.variants.get(name)
                ratio = Figure(
                    f.key, f.label, f.unit, f.builtin, value, ratio_kind=f.ratio_kind
                ).ratio
                cells.append(
                    f"{fmt(value, f.unit):>12} {(f'{ratio:.3f}' if ratio else '-'):>6}"
                )
            lines.append(
                f"{f.label[:56]:<56} {fmt(f.builtin, f.unit):>9} {fmt(f.pipe, f.unit):>9} "
                + " ".join(cells)
            )
    lines.append("")
    for t in targets:
        lines.append(f"{'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['detail']}")
    return "\n".join(lines)


def machine() -> dict:
    mem_kb = 0
    with open("/proc/meminfo") as file:
        for line in file:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    try:
        import importlib.metadata as md

        owui = md.version("open-webui")
    except Exception:  # noqa: BLE001
        owui = "?"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                [
                    "git",
                    "status",
                    "--porcelain",
                    "--",
                    "src",
                    "openai_manifold_pipe.py",
                ],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
    except OSError:
        commit, dirty = "?", False
    return {
        "nproc": os.cpu_count(),
        "mem_total_gb": mem_kb / 1024 / 1024,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "open_webui": owui,
        "commit": commit,
        "pipe_file_modified": dirty,
        "loadavg_start": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="under two minutes, scaled down"
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--phases", help=f"comma-separated subset of {','.join(ALL_PHASES)}"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed"
    )
    parser.add_argument(
        "--pipe-file",
        type=Path,
        default=PIPE_FILE,
        help="benchmark this build of the pipe (default: openai_manifold_pipe.py)",
    )
    parser.add_argument(
        "--reps",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="multiply the single-stream repetitions (for noisy machines)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also run another build of the pipe, side by side (repeatable)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also sample Open WebUI with py-spy and the pipe with cProfile",
    )
    parser.add_argument(
        "--serve-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS
    )
    parser.add_argument("--probe-health", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=0.01, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve_upstream is not None:
        serve_upstream(args.serve_upstream)
        return 0
    if args.probe_health:
        probe_health(args.probe_health, args.out, args.interval)
        return 0

    phases = args.phases.split(",") if args.phases else list(ALL_PHASES)
    unknown = set(phases) - set(ALL_PHASES)
    if unknown:
        parser.error(f"unknown phases: {sorted(unknown)}")
    plan = Plan.make(args.quick)
    if args.reps != 1.0:
        for name in (
            "reps_short",
            "reps_long",
            "web_reps_short",
            "web_reps_long",
            "responses_reps_short",
            "responses_web_reps_short",
        ):
            setattr(plan, name, max(1, round(getattr(plan, name) * args.reps)))
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(exist_ok=True)
    log_dir = RESULTS_DIR / f"bench-{stamp}-logs"
    log_dir.mkdir(exist_ok=True)
    meta = machine()
    meta.update(
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        quick=plan.quick,
        phases=phases,
        plan=asdict(plan),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        pipe_file=str(args.pipe_file),
        variants=args.variant,
    )
    started = time.monotonic()
    variants = {}
    for spec in args.variant:
        name, _, path = spec.partition("=")
        if not name.isidentifier() or not path:
            parser.error(
                f"--variant wants NAME=PATH with NAME an identifier, not {spec!r}"
            )
        variants[name.lower()] = Path(path).resolve()
    bench = Bench(
        plan, phases, log_dir, args.profile, args.pipe_file.resolve(), variants
    )
    fatal = None
    # SIGTERM (a CI timeout) unwinds like Ctrl-C, so the servers started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.start()
        asyncio.run(bench.run())
    except Exception as exc:  # noqa: BLE001
        fatal = repr(exc)
        traceback.print_exc()
        bench.errors.append(f"fatal: {fatal}")
    finally:
        if bench.server is not None:
            meta["openwebui_log_errors"] = sum(
                1
                for line in bench.server.log_text().splitlines()
                if " ERROR " in line or "| ERROR" in line
            )
        bench.stop()
    meta["seconds"] = time.monotonic() - started
    meta["timings"] = bench.timings
    meta["loadavg_end"] = os.getloadavg()
    targets = bench.targets_report()
    report = {
        "meta": meta,
        "figures": [
            {**asdict(f), "ratio": f.ratio, "ratio_minimal": f.ratio_minimal}
            for f in bench.figures
        ],
        "targets": targets,
        "raw": bench.raw,
        "errors": bench.errors,
        "sample_failures": bench.sample_failures,
    }
    out = RESULTS_DIR / f"bench-{stamp}.json"
    text = json.dumps(report, indent=1, default=str)
    out.write_text(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(render(bench.figures, targets, meta))
    print(
        f"\n{meta['seconds']:.0f} s; raw figures: {out.relative_to(REPO_ROOT)}"
        + (f" and {args.json}" if args.json else "")
    )
    if bench.errors:
        print("\nproblems:")
        for error in bench.errors:
            print(f"  {error}")
    measured = fatal is None and not any(e.startswith("phase ") for e in bench.errors)
    if not measured:
        return 2
    if args.strict and not all(t["pass"] for t in targets):
        return 1
    return 0


if __name__ == "__main__":
    if sys.prefix == sys.base_prefix:
        # Not in a virtualenv: use (and if needed create) the project's .venv.
        from bootstrap import ensure_venv

        python = ensure_venv(["test", "host"])
        os.execv(python, [str(python), *sys.argv])
    sys.exit(main())
