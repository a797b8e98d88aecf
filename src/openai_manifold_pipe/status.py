"""Status: short lines in the chat telling the user what the pipe is doing.

Open WebUI passes `__event_emitter__` on chats (not on background tasks, and it
may be absent in older hosts); a failing emitter must never fail the chat.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from .chat import Progress
from .redact import log

Emitter = Callable[[dict], Awaitable[None]]


class StatusLine:
    """The chat's status line, or nothing when the host gave no emitter."""

    def __init__(
        self, emitter: Emitter | None, redact: Callable[[object], str]
    ) -> None:
        self._emitter = emitter if callable(emitter) else None
        self._redact = redact
        self._shown = False

    @property
    def visible(self) -> bool:
        return self._emitter is not None

    async def show(self, description: str, *, done: bool = False) -> None:
        if self._emitter is None:
            return
        data = {"description": self._redact(description), "done": done}
        if not description:
            data["hidden"] = True  # else Open WebUI draws an empty, clickable row
        event = {"type": "status", "data": data}
        try:
            await self._emitter(event)
            self._shown = not done
        except Exception as exc:  # the status line is a courtesy, never a failure
            log.debug("status line not shown: %s", type(exc).__name__)

    async def clear(self) -> None:
        """Close a status line left open, so no stale 'Retrying...' stays on screen."""
        if self._shown:
            await self.show("", done=True)

    async def while_silent(
        self, progress: Progress, model: str, reasoning: bool
    ) -> None:
        """Once a second until the answer starts: what the wait is, and how long.

        Nothing is shown in the first second, so a quick answer costs no status
        event (each is a socket.io emit and a database write in Open WebUI).
        """
        while True:
            await asyncio.sleep(1)
            if progress.first_output:
                return
            seconds = f"{time.monotonic() - progress.started:.0f} s"
            if not progress.responded:
                await self.show(f"Waiting for {model}... {seconds}")
            elif reasoning:
                await self.show(f"Thinking... {seconds}")

    async def retrying(self, seconds: float, reason: str) -> None:
        """One line per retry, so the user sees why the answer is late."""
        when = f"in {seconds:.0f} s" if seconds >= 0.5 else "now"
        await self.show(f"{reason} Retrying {when}...")
