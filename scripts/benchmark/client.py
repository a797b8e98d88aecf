"""Clients of a stream, timed: the API path (SSE), the web path (socket.io events,
as the browser gets them), and the upstream read directly (the floor)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field

from scripts.owui.chat import web_chat_body

# A chat chunk with non-empty content.
CONTENT = re.compile(rb'"content":\s?"(?!")')
# A Responses stream's answer text: Open WebUI's built-in connection with
# `api_type: "responses"` hands the upstream's lines to an API client unconverted.
_TEXT_DELTA_TYPE = b'"response.output_text.delta"'
_DELTA = re.compile(rb'"delta":\s?"(?!")')


@dataclass
class StreamResult:
    ttft: float | None  # seconds to the first non-empty content delta
    total: float  # seconds to the end of the answer
    chunks: int  # content deltas received
    ok: bool
    error: str = ""
    last_at: float | None = None  # time.monotonic() of the last content delta


def values_of(results: list[StreamResult], attr: str) -> list[float]:
    """`attr` ("ttft", "total") of each result that has one, in milliseconds."""
    return [getattr(r, attr) * 1000 for r in results if getattr(r, attr) is not None]


def responses_delta(line: bytes) -> bool:
    """A `data:` line of a non-empty `response.output_text.delta` event."""
    return _TEXT_DELTA_TYPE in line and _DELTA.search(line) is not None


def answer_line(line: bytes) -> bool:
    """A line of answer text: a chat chunk's content, or (Responses wire) a delta."""
    return line.startswith(b"data:") and bool(
        CONTENT.search(line) or responses_delta(line)
    )


def prompt(chunks: int, extra: str = "") -> str:
    """A prompt the fake upstream answers in `chunks` chunks; unique, so that no
    cache anywhere answers it."""
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
                    if answer_line(line):
                        count += 1
                        last_at = time.monotonic()
                        if ttft is None:
                            ttft = last_at - started
            if answer_line(tail):
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
    """One chat on the web path, as its socket.io events arrive."""

    started: float
    expected: int
    first_delta: float | None = None
    last_delta: float | None = None
    text_parts: list[str] = field(default_factory=list)
    deltas: int = 0
    error: str = ""
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def delta(self, text: str, now: float) -> None:
        """A piece of answer text arrived at `now`."""
        self.deltas += 1
        self.text_parts.append(text)
        self.last_delta = now
        if self.first_delta is None:
            self.first_delta = now

    def result(self, chunks: int) -> StreamResult:
        """The turn, once Open WebUI said it is over: whole when the text ends with
        the fake upstream's last word."""
        total = time.monotonic() - self.started
        text = "".join(self.text_parts)
        ok = not self.error and text.endswith(f" w{chunks - 1}")
        ttft = None if self.first_delta is None else self.first_delta - self.started
        error = self.error or (
            "" if ok else f"text ends {text[-30:]!r}, {self.deltas} deltas"
        )
        return StreamResult(ttft, total, self.deltas, ok, error, self.last_delta)

    def failed(self, error: str) -> StreamResult:
        return StreamResult(
            None, time.monotonic() - self.started, self.deltas, False, error
        )


class WebClient:
    """The page's socket.io session (async), collecting each turn's events."""

    def __init__(self, base_url: str, token: str, user: dict) -> None:
        import socketio  # the test extra, like aiohttp: loaded when a run starts

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
                    turn.delta(delta, now)
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
        """One chat as the page sends it; its answer arrives as socket.io events."""
        body = web_chat_body(
            model,
            prompt(chunks, extra),
            session_id=self.sio.get_sid(),
            user=self.user,
            background_tasks={},
        )
        turn = WebTurn(started=time.monotonic(), expected=chunks)
        self.turns[body["id"]] = turn
        try:
            refused = await self._send(session, body)
            if refused:
                return turn.failed(refused)
            await asyncio.wait_for(turn.done.wait(), timeout)
        except Exception as exc:  # noqa: BLE001
            return turn.failed(repr(exc))
        finally:
            self.turns.pop(body["id"], None)
        return turn.result(chunks)

    async def _send(self, session, body: dict) -> str:
        """POST the chat; the error when Open WebUI refuses it, "" when it took it.

        Open WebUI's SQLite refuses some of 50 chats created at once ("database is
        locked"): the page would show an error; the benchmark retries so that the
        load stays what it claims to be."""
        headers = {"Authorization": f"Bearer {self.token}"}
        for attempt in range(6):
            async with session.post(
                f"{self.base_url}/api/chat/completions", json=body, headers=headers
            ) as response:
                reply = await response.read()
            if response.status == 200:
                return ""
            if b"database is locked" in reply and attempt < 5:
                self.retries += 1
                await asyncio.sleep(0.05 * (attempt + 1))
                continue
            return f"{response.status} {reply[:300]!r}"
        return ""
