"""Chat: relaying the upstream's answer to Open WebUI, streamed or whole.

A stream is forwarded chunk for chunk as the upstream sends it, as the original
`data: ...` text so Open WebUI does not pay for a second JSON encoding. Nothing
may escape the generator: Open WebUI would drop the text already shown. Every
failure ends the stream with one error chunk that Open WebUI shows below it, and
so does an answer with nothing in it: Open WebUI would show an empty message as
if all were well.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp

from .errors import ErrorDetail, PipeError, describe_exception, host_of
from .redact import log
from .sse import SSEReader

DONE = "[DONE]"
# Delta fields that mean the model has started answering.
_OUTPUT_FIELDS = ("content", "reasoning_content", "reasoning", "thinking", "tool_calls")


@dataclass
class Progress:
    """What a chat has shown so far, for its status line and usage summary."""

    started: float = field(default_factory=time.monotonic)
    responded: bool = False
    first_output: float | None = None
    usage: dict | None = None
    finish_reason: str | None = None
    failed: bool = False

    def note(self, chunk: dict) -> None:
        """Record usage, finish reason and the first answer delta of one chunk."""
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        if self.first_output is None and _has_output(chunk):
            self.first_output = time.monotonic()

    @property
    def answering_seconds(self) -> float:
        """Time spent producing the answer: from its first token when known."""
        return time.monotonic() - (self.first_output or self.started)


def _has_output(chunk: dict, part: str = "delta") -> bool:
    """Whether a chunk's deltas (or a completion's messages) hold any answer."""
    for choice in chunk.get("choices") or ():
        delta = choice.get(part) if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(delta.get(name) for name in _OUTPUT_FIELDS):
            return True
    return False


def empty_answer(url: str, finish_reason: str | None) -> str:
    """What to tell a user whose answer came back with nothing in it."""
    if finish_reason == "length":
        advice = (
            "It reached its output limit before writing anything: raise Max Tokens "
            "in Chat Controls, or lower the reasoning effort."
        )
    elif finish_reason == "content_filter":
        advice = "The provider's content filter held it back: rephrase the message."
    else:
        advice = (
            "Try again; if it keeps happening, check that this model can chat and "
            "that the conversation fits its context window (a new chat helps)."
        )
    return (
        f"{host_of(url)} returned an empty answer: no text, reasoning or tool "
        f"call. {advice}"
    )


def error_chunk(message: str) -> dict:
    """A stream chunk Open WebUI shows as an error under the text already streamed."""
    return {"error": {"message": message, "type": "pipe_error"}}


def error_completion(message: str) -> dict:
    """A non-streaming error: Open WebUI reads `detail` first, clients read `message`."""
    return {"error": {"message": message, "detail": message, "type": "pipe_error"}}


# Reads one wire's stream as chat chunks (dicts, or their `data: ...` lines).
StreamReader = Callable[
    [aiohttp.ClientResponse, str, Progress], AsyncIterator[str | dict]
]
# Turns one wire's whole answer into a chat completion, or raises PipeError.
Converter = Callable[[dict, str], dict]


async def relay_stream(
    response: aiohttp.ClientResponse,
    *,
    url: str,
    timeout: float,
    redact: Callable[[object], str],
    progress: Progress,
    read: StreamReader | None = None,
) -> AsyncIterator[str | dict]:
    """Forward an upstream stream; the connection is closed at once if the user stops.

    `read` understands the wire: /chat/completions unless told otherwise.
    """
    message = None
    try:
        async for item in (read or read_chat_stream)(response, url, progress):
            yield item
    except PipeError as error:
        message = error.message
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        message = describe_exception(exc, url=url, timeout=timeout)
    except Exception as exc:  # nothing may escape into Open WebUI's stream handler
        log.warning("stream failed: %s", redact(repr(exc)))
        message = (
            f"The answer from {host_of(url)} could not be read ({type(exc).__name__})."
        )
    finally:
        # A body read to its end has already gone back to the pool; anything
        # else (a stop, a failure) drops the connection instead of draining it.
        response.close()
    if message is not None:
        progress.failed = True
        message = redact(message)
        log.warning("answer from %s broke off: %s", host_of(url), message)
        yield error_chunk(message)


async def read_chat_stream(
    response: aiohttp.ClientResponse, url: str, progress: Progress
) -> AsyncIterator[str | dict]:
    """/chat/completions: chunks forwarded as they came, checked on the way."""
    if response.content_type == "application/json":
        chunk = completion_as_chunk(await read_whole(response, url))
        progress.note(chunk)
        if progress.first_output is None:
            raise PipeError(empty_answer(url, progress.finish_reason))
        yield chunk
        return
    done = False
    async for events in sse_batches(response, url):
        for event in events:
            if done or event == DONE:
                done = True
                continue
            if progress.first_output and _plain_delta(event):
                yield "data: " + event
                continue
            for chunk, text in _parse_event(event, url):
                if chunk.get("error"):  # OpenRouter sends it with `choices` too
                    raise PipeError(stream_error(chunk["error"], url))
                progress.note(chunk)
                yield text
    if not (done or progress.finish_reason):
        raise PipeError(cut_short(url))
    if progress.first_output is None:
        raise PipeError(empty_answer(url, progress.finish_reason))


async def sse_batches(
    response: aiohttp.ClientResponse, url: str
) -> AsyncIterator[list[str]]:
    """The data of the SSE events each network read completes; a web page is refused.

    A batch per read rather than an event at a time: one generator step less
    for every event of a long answer.
    """
    reader = SSEReader()
    seen_events = False
    first = True
    # _chunks ends with b"" so the reader's last events go through the same checks.
    async for data in _chunks(response):
        if first and (
            response.content_type == "text/html" or data.lstrip()[:1] == b"<"
        ):
            raise PipeError(_not_a_stream(url))
        first = False
        if events := reader.feed(data) if data else reader.close():
            seen_events = True
            yield events
    if not seen_events and not first:
        raise PipeError(_not_a_stream(url))


def cut_short(url: str) -> str:
    """A stream that ended before its answer did."""
    return (
        f"The connection to {host_of(url)} ended before the answer was complete. "
        "Try again."
    )


async def _chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The body as it arrives, then one empty chunk marking its end.

    When the connection drops, aiohttp raises before handing over the bytes it
    had already received. Those are the last words the user was reading, so
    they are passed on first, then the error.
    """
    content = response.content
    try:
        async for data in content.iter_any():
            yield data
    except aiohttp.ClientPayloadError:
        if received := _received_before_the_cut(content):
            yield received
        raise
    yield b""


def _received_before_the_cut(content: aiohttp.StreamReader) -> bytes:
    """Bytes left in aiohttp's buffer; no public API returns them after an error.

    Read defensively: if a later aiohttp keeps them elsewhere, this is empty and
    the user sees the error one chunk earlier.
    """
    buffered = b"".join(getattr(content, "_buffer", None) or ())
    return buffered[getattr(content, "_buffer_offset", 0) :]


def _plain_delta(event: str) -> bool:
    """A mid-answer chunk holding nothing the pipe acts on, forwarded unparsed.

    Most of a stream is such chunks, and decoding each only to forward its text
    unchanged was the pipe's main cost per chunk. Errors, usage, finish reasons,
    multi-line data and anything not shaped like one JSON object are parsed.
    (A quote inside a JSON string is escaped, so `"usage"` cannot occur there.)
    """
    return (
        event[:1] == "{"
        and event[-1:] == "}"
        and "\n" not in event
        and '"error"' not in event
        and _only_nulls(event, '"finish_reason"')
        and _only_nulls(event, '"usage"')
    )


def _only_nulls(event: str, name: str) -> bool:
    count = event.count(name)
    return not count or count == (
        event.count(name + ":null") + event.count(name + ": null")
    )


def _parse_event(event: str, url: str) -> list[tuple[dict, str]]:
    """The chunk(s) in one event's data, each with the line to forward for it."""
    try:
        chunk = json.loads(event)
        if isinstance(chunk, dict):
            return [(chunk, "data: " + event if "\n" not in event else _line(chunk))]
    except ValueError:
        if "\n" in event:
            # A server that separates events with single newlines.
            return [
                pair for line in event.split("\n") for pair in _parse_event(line, url)
            ]
    raise PipeError(
        f"{host_of(url)} sent data that is not valid JSON in the middle of the answer, "
        "so the answer stopped there. Try again."
    )


def _line(chunk: dict) -> str:
    return "data: " + json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        error = error.get("message") or error.get("detail") or json.dumps(error)
    return str(error)


def stream_error(error: object, url: str) -> str:
    """An error the upstream sent in the middle of its stream, readable."""
    detail = ErrorDetail.from_data({"error": error})
    message = f"{host_of(url)} reported an error during the answer: "
    message += detail.summary or _error_text(error)
    if detail.is_context_too_long:
        message += (
            " The conversation is longer than the model's context window: start a "
            "new chat, remove large files, or ask your admin to raise the context size."
        )
    return message


def _not_a_stream(url: str, what: str = "stream") -> str:
    return (
        f"{host_of(url)} answered with something that is not an OpenAI-compatible "
        f"{what} (a web page?). Ask your admin to check OPENAI_API_BASE_URL: it "
        "usually ends in /v1."
    )


async def read_completion(
    response: aiohttp.ClientResponse,
    *,
    url: str,
    timeout: float | None = None,
    convert: Converter | None = None,
) -> dict:
    """The upstream's completion JSON as a dict; any failure is a PipeError.

    `timeout` is REQUEST_TIMEOUT, quoted when the body stops arriving; `convert`
    turns another wire's answer into a chat completion.
    """
    try:
        completion = await read_whole(response, url, convert)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise PipeError(describe_exception(exc, url=url, timeout=timeout)) from None
    finally:
        response.close()  # as in relay_stream: a whole body is already released
    if not _has_output(completion, "message"):
        choices = completion.get("choices") or [{}]
        reason = (
            choices[0].get("finish_reason") if isinstance(choices[0], dict) else None
        )
        raise PipeError(empty_answer(url, reason))
    return completion


async def read_whole(
    response: aiohttp.ClientResponse, url: str, convert: Converter | None = None
) -> dict:
    """A whole JSON answer as a chat completion, unless it is an error."""
    data = await _read_json(response, url)
    return _without_error(convert(data, url) if convert else data, url)


def _without_error(completion: dict, url: str) -> dict:
    """The completion, unless it is an error object sent with status 200."""
    if "error" in completion and not completion.get("choices"):
        raise PipeError(
            f"{host_of(url)} reported an error: {_error_text(completion['error'])}"
        )
    return completion


async def _read_json(response: aiohttp.ClientResponse, url: str) -> dict:
    body = await response.read()
    try:
        data = json.loads(body)
    except ValueError:
        if response.content_type == "application/json" and body.lstrip()[:1] in (
            b"{",
            b"[",
        ):
            raise PipeError(
                f"{host_of(url)} sent an answer that is not valid JSON (cut short?), "
                "so it cannot be shown. Try again."
            ) from None
        data = None
    if not isinstance(data, dict):
        raise PipeError(_not_a_stream(url, "answer"))
    return data


def completion_as_chunk(completion: dict) -> dict:
    """A whole completion as one stream chunk, for upstreams that ignore `stream`."""
    choices = []
    for choice in completion.get("choices") or ():
        delta = dict(choice.get("message") or {})
        if delta.get("tool_calls"):
            delta["tool_calls"] = [
                {"index": index, **call}
                for index, call in enumerate(delta["tool_calls"])
            ]
        choices.append(
            {
                "index": choice.get("index", 0),
                "delta": delta,
                "finish_reason": choice.get("finish_reason") or "stop",
            }
        )
    return {**completion, "object": "chat.completion.chunk", "choices": choices}
