"""`LoopThread`: a server's own asyncio event loop, in a background thread.

Why a thread with its own loop: a local server must keep answering while its caller
blocks (the demo waiting for Open WebUI, a test's loop awaiting the pipe), so it gets
a private loop nobody else runs. The demo's upstream (`scripts/demo_upstream.py`)
and the test fakes (`tests/fakes/server.py`) both run on one; it lives here, with
the standard library only, so that the demo never imports from `tests/`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable


class LoopThread:
    """Runs `serve()` on a new event loop in a daemon thread, then the loop until
    `stop()`; `cleanup()`, if given, runs on the loop once it has stopped."""

    def __init__(
        self,
        name: str,
        serve: Callable[[], Awaitable[None]],
        cleanup: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name  # the thread's, and the errors'
        self.loop: asyncio.AbstractEventLoop | None = None
        self._serve = serve
        self._cleanup = cleanup
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 15) -> None:
        """Returns once `serve()` has returned; RuntimeError if it failed, or took
        longer than `timeout` seconds (then the loop is stopped)."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"{self.name} did not start within {timeout:g} s")
        if self._error is not None:
            self._thread.join(5)
            raise RuntimeError(
                f"{self.name} failed to start: {self._error}"
            ) from self._error

    def stop(self, timeout: float = 10) -> None:
        """Stop the loop (after `cleanup()` and the tasks still running on it end)."""
        loop, thread = self.loop, self._thread
        if loop is not None and thread is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    def _run(self) -> None:
        """Thread body: serve, say so, run until stopped, then end what still runs."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # noqa: BLE001 - reported by start()
            self._error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            if self._cleanup is not None:
                loop.run_until_complete(self._cleanup())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(
                    asyncio.gather(*pending, return_exceptions=True)
                )
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
