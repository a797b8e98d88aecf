"""`FakeServer`: a real HTTP server on 127.0.0.1 that records requests and injects faults.

Why a real server: the pipe's hard parts (timeouts, cut-off streams, retries, keys in
headers, connection reuse under load) only show up on a real socket, so tests talk to
the fakes through aiohttp exactly as the pipe talks to api.openai.com. Nothing here
mocks aiohttp.

The server runs in a background thread with its own event loop
(`scripts/loopthread.py`), so it keeps answering while the test's loop (or an Open
WebUI subprocess) is busy. Every request is recorded (`requests`) before anything can
fail; then come the early faults, the key check (`_check_auth`) and the route
(`_route`), which a subclass fills in: `FakeOpenAI` (`tests/upstream.py`) and, through
it, every provider fake.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Self

from aiohttp import web

from scripts.loopthread import LoopThread
from tests.fakes.faults import EARLY_FAULTS, FAULT_KINDS, Fault, parse_fault_marker
from tests.fakes.faults import status_answer
from tests.fakes.openai_errors import ApiError, error_body, invalid_key_message
from tests.fakes.recorded import Recorded
from tests.fakes.sending import Closed, json_answer, with_headers
from tests.fakes.text import last_user_text, parse_markers

log = logging.getLogger(__name__)

# add_fault's default path: the server's `fault_path`.
DEFAULT_PATH: Any = object()
NOT_SSE_HTML = (
    "<html><head><title>Sign in</title></head><body><h1>Captive portal</h1>"
    "<p>Please sign in to continue.</p></body></html>"
)


class FakeServer:
    """An HTTP server on 127.0.0.1 in a background thread with its own event loop."""

    def __init__(self, *, port: int = 0) -> None:
        """port=0 picks a free port; a restart keeps the one it got."""
        self.requests: list[Recorded] = []
        self.fault_path: str | None = None  # add_fault's default path (None: any)
        self._wanted_port = port
        self._port: int | None = None
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._marker_uses: dict[str, int] = {}
        self._thread: LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = False

    # ---- lifecycle ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port actually bound (known after start())."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started; call start()")
        return self._port

    @property
    def origin(self) -> str:
        """scheme://host:port of the server, e.g. for HTTP_PROXY."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Bind and serve; returns once the server accepts connections."""
        if self._thread is not None:
            return self
        self._stopping = False
        # A private event loop, so the test's own loop can block freely.
        thread = LoopThread(type(self).__name__, self._serve)
        thread.start()
        self._thread = thread
        return self

    def stop(self) -> None:
        """Stop serving: open streams are cut after a short grace period."""
        thread = self._thread
        if thread is None or thread.loop is None:
            return
        loop = thread.loop
        self._stopping = True
        if self._runner is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            try:
                future.result(timeout=10)
            except Exception:  # noqa: BLE001 - stopping must not fail a test
                pass
        thread.stop(10)
        self._thread = None
        self._runner = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        """Bind the socket ourselves (port 0 works) and start aiohttp on it."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.25
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            # A restart keeps its port, so base_url stays valid across stop()/start()
            # (and a stopped server is a "connection refused" endpoint meanwhile).
            sock.bind(("127.0.0.1", self._port or self._wanted_port))
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        site = web.SockSite(runner, sock, backlog=1024)
        await site.start()
        self._port = sock.getsockname()[1]
        self._runner = runner

    # ---- test helpers ---------------------------------------------------------------

    def clear(self) -> None:
        """Forget recorded requests, pending faults and marker counts."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._marker_uses.clear()

    def add_fault(
        self,
        kind: str,
        *,
        times: int = 1,
        key: str | None = None,
        model: str | None = None,
        path: str | None = DEFAULT_PATH,
        **opts: Any,
    ) -> None:
        """Queue a fault for the next `times` matching requests (path: `fault_path`
        unless given; path=None: any path; stream=True/False in opts: only streaming /
        non-streaming requests)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {sorted(FAULT_KINDS)}")
        if path is DEFAULT_PATH:
            path = self.fault_path
        stream = opts.pop("stream", None)
        fault = Fault(kind, times, key, model, path, stream, dict(opts))
        with self._lock:
            self._faults.append(fault)

    def pending_faults(self) -> list[Fault]:
        """Faults not consumed yet (copies)."""
        with self._lock:
            return [Fault(**vars(fault)) for fault in self._faults]

    def _requests_to(self, path: str) -> list[Recorded]:
        """Recorded requests to one path, in order."""
        with self._lock:
            return [record for record in self.requests if record.path == path]

    async def wait_for(
        self, predicate: Callable[[Recorded], bool], timeout: float = 5.0
    ) -> Recorded:
        """Wait (without blocking the caller's loop) for a recorded request to match."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                items = list(self.requests)
            for record in items:
                if predicate(record):
                    return record
            if time.monotonic() > deadline:
                raise TimeoutError("no recorded request matched")
            await asyncio.sleep(0.02)

    # ---- request handling -----------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Every request: record, apply faults, route; never lets an exception escape."""
        record = await self._record(request)
        if record.disconnected:
            return web.Response(status=499)
        try:
            response = await self._answer(request, record)
        except Closed:
            return web.Response(status=499)  # the socket is closed: never sent
        except ConnectionError:
            record.disconnected = True
            return web.Response(status=499)
        except asyncio.CancelledError:
            # handler_cancellation: aiohttp cancels us when the client goes away.
            if not self._stopping:
                record.disconnected = True
            raise
        except Exception as error:  # noqa: BLE001 - the server must never crash
            log.exception(
                "%s failed on %s %s", type(self).__name__, record.method, record.path
            )
            if record.status is not None:  # headers already sent: all we can do
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=499)
            body = error_body(f"fake server error: {error!r}", "server_error", None)
            response = json_answer(body, 500)
        if record.status is None:
            record.status = response.status
        record.completed = True
        return response

    async def _record(self, request: web.Request) -> Recorded:
        """Read the body and append the Recorded before anything can fail."""
        lost = False
        try:
            raw = await request.read()
        except web.HTTPException:
            raise  # 413 and such: aiohttp answers them itself
        except Exception:  # noqa: BLE001 - the client left mid-body
            raw, lost = b"", True
        record = Recorded(
            method=request.method,
            path=request.path,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=json_object(raw),
            key=self._request_key(request),
            raw_authorization=request.headers.get("Authorization"),
            received_at=time.time(),
            raw_body=raw,
            disconnected=lost,
            query=dict(request.query),
        )
        with self._lock:
            self.requests.append(record)
        return record

    def _request_key(self, request: web.Request) -> str | None:
        """The key a request carries: OpenAI's `Authorization: Bearer <key>`."""
        authorization = request.headers.get("Authorization")
        if authorization and authorization[:7].lower() == "bearer ":
            return authorization[7:].strip() or None
        return None

    async def _answer(
        self, request: web.Request, record: Recorded
    ) -> web.StreamResponse:
        """Early faults, then auth, then the route."""
        fault = self._fault_for(record, EARLY_FAULTS)
        if fault is not None and fault.kind == "delay_headers":
            await asyncio.sleep(float(fault.opts.get("seconds", 1.0)))
            fault = self._fault_for(record, EARLY_FAULTS - {"delay_headers"})
        if fault is not None:
            return self._early_fault(request, record, fault)
        try:
            self._check_auth(record)
            return await self._route(request, record)
        except ApiError as error:
            return self._error_response(record, error)

    def _check_auth(self, record: Recorded) -> None:
        """Raise ApiError for a request whose key is missing or wrong (here: none)."""

    async def _route(
        self, request: web.Request, record: Recorded
    ) -> web.StreamResponse:
        """Dispatch on method and path; here every URL is unknown."""
        raise ApiError(404, f"Invalid URL ({record.method} {record.path})")

    def _error_response(self, record: Recorded, error: ApiError) -> web.StreamResponse:
        """An ApiError as the answer: OpenAI's JSON unless a subclass shapes it."""
        return json_answer(error.payload, error.status)

    # ---- faults -------------------------------------------------------------------------

    def _fault_for(self, record: Recorded, kinds: frozenset[str]) -> Fault | None:
        """Take the fault that applies now, noted in the record's `faults`."""
        fault = self._take_fault(record, kinds)
        if fault is not None:
            record.faults.append(fault.kind)
        return fault

    def _take_fault(self, record: Recorded, kinds: frozenset[str]) -> Fault | None:
        """The first queued fault, else marker fault, that applies now (consumed)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(record, kinds):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
            for spec, fault in self._marker_faults(record):
                used = self._marker_uses.get(spec, 0)
                if not fault.fits(record, kinds) or 0 <= fault.times <= used:
                    continue
                self._marker_uses[spec] = used + 1
                return fault
        return None

    def _marker_faults(self, record: Recorded) -> list[tuple[str, Fault]]:
        """Faults written in the last user message, with the marker text of each."""
        messages = self._marker_messages(record)
        if not messages:
            return []
        markers = parse_markers(last_user_text(messages))
        faults = [(spec, parse_fault_marker(spec)) for spec in markers.get("fault", [])]
        return [(spec, fault) for spec, fault in faults if fault is not None]

    def _marker_messages(self, record: Recorded) -> list | None:
        """The chat messages whose last user text may hold markers (here: none)."""
        return None

    def _early_fault(
        self, request: web.Request, record: Recorded, fault: Fault
    ) -> web.StreamResponse:
        """Answer a fault that replaces the whole response."""
        if fault.kind == "refuse":
            if request.transport is not None:
                request.transport.close()
            raise Closed()
        if fault.kind == "not_sse":
            return with_headers(
                web.Response(text=NOT_SSE_HTML, content_type="text/html")
            )
        if fault.kind == "echo_key_401":
            message = invalid_key_message(record.key or "")
            body = error_body(message, "invalid_request_error", "invalid_api_key")
            return json_answer(body, 401)
        return with_headers(status_answer(fault.opts, record.model or "gpt-4o"))


def json_object(raw: bytes) -> dict | None:
    """The body as a JSON object; None when it is empty, not JSON or not an object."""
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
