"""Sending an answer: JSON or SSE, flushed as written, and broken on purpose mid-way.

Why one sender for both APIs: chat completions and Responses differ in their events,
not in how a stream stalls, gets cut or turns malformed, which is what the pipe's
timeouts and retries are tested against.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from tests.fakes.faults import Fault
from tests.fakes.recorded import Recorded


class Closed(Exception):
    """The connection is gone (cut by a fault, or the client left): stop answering."""


@dataclass
class Event:
    """One SSE event to send.

    `counts`: an answer delta, what `after=N` and `[[delay:S]]` count; `closing`: the
    answer is ending, so a pending fault fires before this event at the latest."""

    data: bytes
    counts: bool = False
    closing: bool = False


@dataclass
class SseAnswer:
    """An answer as SSE events, and how its protocol breaks mid-answer."""

    events: list[Event]
    lead: int  # events always sent before a fault (chat's role chunk, `created`...)
    delay: float  # seconds between answer deltas
    truncated: bytes  # the half event a `malformed` fault writes
    ending: Callable[[Fault, int], bytes | None]  # a failing stream's last bytes, given
    # the fault and the index of the event it replaces; None: not an ending fault


def sse(data: dict | str) -> bytes:
    """One SSE `data:` event, compact JSON like OpenAI's."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


def with_headers(response: web.StreamResponse) -> web.StreamResponse:
    """Add the headers every OpenAI answer carries."""
    response.headers["x-request-id"] = "req_" + uuid.uuid4().hex
    response.headers["openai-version"] = "2020-10-01"
    response.headers["openai-processing-ms"] = "12"
    return response


def json_answer(payload: object, status: int = 200) -> web.StreamResponse:
    """A JSON response with OpenAI's headers (errors are pretty-printed like OpenAI's)."""
    indent = 2 if status >= 400 else None
    response = web.Response(
        status=status,
        text=json.dumps(payload, indent=indent),
        content_type="application/json",
    )
    return with_headers(response)


async def send_json(
    request: web.Request, record: Recorded, payload: object, fault: Fault | None
) -> web.StreamResponse:
    """A JSON answer; `stall`/`cut` faults split it in the middle of the body."""
    if fault is None or fault.kind not in ("stall", "cut"):
        return json_answer(payload)
    data = json.dumps(payload, indent=2).encode()
    response = with_headers(web.StreamResponse(status=200))
    response.content_type = "application/json"
    response.content_length = len(data)
    record.status = 200
    await response.prepare(request)
    await response.write(data[: len(data) // 2])
    if fault.kind == "cut":
        await cut(request, rst=fault.rst)
    await asyncio.sleep(fault.seconds)
    await response.write(data[len(data) // 2 :])
    await response.write_eof()
    return response


async def send_stream(
    request: web.Request, record: Recorded, answer: SseAnswer, fault: Fault | None
) -> web.StreamResponse:
    """Send every event, flushed; a fault fires after `after` deltas or at the end."""
    response = await open_sse(request, record)
    sent = 0
    for index, event in enumerate(answer.events):
        if fault and index >= answer.lead and (sent >= fault.after or event.closing):
            if await break_stream(request, response, answer, fault, index):
                return response
            fault = None
        if event.counts:
            if answer.delay and sent > 0:
                await asyncio.sleep(answer.delay)
            sent += 1
        await response.write(event.data)
    await response.write_eof()
    return response


async def open_sse(request: web.Request, record: Recorded) -> web.StreamResponse:
    """A 200 `text/event-stream` answer with its headers sent, ready for events."""
    response = with_headers(web.StreamResponse(status=200))
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    response.headers["Cache-Control"] = "no-cache"
    response.enable_chunked_encoding()
    record.status = 200
    await response.prepare(request)
    return response


async def break_stream(
    request: web.Request,
    response: web.StreamResponse,
    answer: SseAnswer,
    fault: Fault,
    index: int,
) -> bool:
    """Inject a mid-stream fault; True when the stream ends here."""
    if fault.kind == "stall":
        await asyncio.sleep(fault.seconds)
    elif fault.kind == "malformed":
        await response.write(answer.truncated)
    elif fault.kind == "cut":
        await cut(request, rst=fault.rst)
    elif (ending := answer.ending(fault, index)) is not None:
        await response.write(ending)
        await response.write_eof()
        return True
    return False


async def cut(request: web.Request, rst: bool = False) -> None:
    """Close the socket mid-answer, without the final chunk: a cut-off stream.

    What was written is flushed first (an abort would drop it from the buffer), so
    the client really sees N chunks and then a truncated body."""
    transport = request.transport
    if transport is None:
        raise Closed()
    for _ in range(200):
        if transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.005)
    if rst:
        transport.abort()
    else:
        transport.close()
    raise Closed()
