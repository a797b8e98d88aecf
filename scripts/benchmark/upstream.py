"""The fake upstream's process (`bench.py --serve-upstream PORT`): tests/upstream.py's
FakeOpenAI, with control routes the benchmark drives over HTTP from its own process.

Imported only in that process, where aiohttp and the test fakes are loaded anyway.
"""

from __future__ import annotations

import signal
from typing import Any

from aiohttp import web

from tests.upstream import FakeOpenAI, Recorded

from .processes import until_signal
from .settings import UPSTREAM_KEY


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


def serve(port: int) -> None:
    """BenchUpstream until SIGTERM (or SIGINT). Prints READY <port>."""
    server = BenchUpstream(keys=(UPSTREAM_KEY,), strict=False, port=port).start()
    stop = until_signal()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"READY {server.port}", flush=True)
    stop.wait()
    server.stop()
