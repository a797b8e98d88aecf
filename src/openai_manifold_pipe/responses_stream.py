"""Responses stream: OpenAI's `/responses` events, as the chat chunks Open WebUI reads.

Open WebUI 0.12.4 would render Responses events on its web page, but on its API
path it hands them to clients untouched, and the `openai` SDK's chat stream
cannot read them. Chat chunks work on both paths and lose nothing the page
shows: the reasoning summary becomes `reasoning_content` (the thought block),
output text `content`, function calls `tool_calls` (run by Open WebUI's native
function calling), `url_citation` annotations `annotations` (its sources), and
usage one chunk at the end. The encrypted reasoning item becomes a
`reasoning_details` entry, which Open WebUI stores with the answer and sends
back on the next request (see `responses_payload`).

A failed, incomplete or interrupted response ends with a message saying why;
what was shown before it stays.
"""

import json
from collections.abc import AsyncIterator

import aiohttp

from .chat import (
    Progress,
    completion_as_chunk,
    cut_short,
    empty_answer,
    read_whole,
    sse_batches,
    stream_error,
)
from .errors import PipeError, host_of
from .responses_payload import ENCRYPTED_REASONING, REASONING_FORMAT

# Why an answer stopped early, in words a user can act on.
_INCOMPLETE = {
    "max_output_tokens": (
        "it reached its output limit: raise Max Tokens in Chat Controls, or lower "
        "the reasoning effort"
    ),
    "content_filter": "the provider's content filter stopped it: rephrase the message",
}


class ResponsesTranslator:
    """One response's events in, chat chunks out; remembers what a chunk needs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.id = ""
        self.created = 0
        self.model = ""
        self.finished = False
        self.failure: str | None = None
        self._calls: dict[int, int] = {}  # output_index -> tool call index
        self._streamed_arguments: set[int] = set()
        self._summary: tuple[int, int] | None = None  # (output_index, part) last shown

    def feed(self, event: dict) -> list[dict]:
        """The chunks one event becomes; `failure` is set by events that end it."""
        kind = event.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        return handler(self, event) if handler else []

    # ---- the response as a whole -------------------------------------------------

    def _started(self, event: dict) -> list[dict]:
        response = event.get("response") or {}
        self.id = str(response.get("id") or self.id)
        self.created = int(response.get("created_at") or self.created or 0)
        self.model = str(response.get("model") or self.model)
        return []

    def _completed(self, event: dict) -> list[dict]:
        self._started(event)
        self.finished = True
        reason = "tool_calls" if self._calls else "stop"
        return [self._chunk({}, reason), *self._usage(event)]

    def _incomplete(self, event: dict) -> list[dict]:
        self._started(event)
        self.failure = _incomplete(event.get("response") or {}, self.url)
        return self._usage(event)

    def _failed(self, event: dict) -> list[dict]:
        error = (event.get("response") or {}).get("error") or {}
        self.failure = stream_error(error or "the response failed", self.url)
        return self._usage(event)

    def _error(self, event: dict) -> list[dict]:
        self.failure = stream_error(
            {k: event.get(k) for k in ("code", "message", "param")}, self.url
        )
        return []

    def _usage(self, event: dict) -> list[dict]:
        usage = chat_usage((event.get("response") or {}).get("usage"))
        if not usage:
            return []
        chunk = self._chunk({})
        chunk["choices"] = []
        chunk["usage"] = usage
        return [chunk]

    # ---- output items ------------------------------------------------------------

    def _item_added(self, event: dict) -> list[dict]:
        item = event.get("item") or {}
        if item.get("type") != "function_call":
            return []
        index = self._calls.setdefault(_index(event), len(self._calls))
        call = {
            "index": index,
            "id": item.get("call_id") or item.get("id") or "",
            "type": "function",
            "function": {"name": item.get("name") or "", "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _item_done(self, event: dict) -> list[dict]:
        item = event.get("item") or {}
        kind = item.get("type")
        if kind == "reasoning" and (entry := _reasoning_entry(item)):
            return [self._chunk({"reasoning_details": [entry]})]
        if kind == "function_call":
            output_index = _index(event)
            chunks = [] if output_index in self._calls else self._item_added(event)
            if output_index not in self._streamed_arguments and item.get("arguments"):
                chunks += self._arguments(output_index, item["arguments"])
            return chunks
        if kind == "message":
            citations = [
                {"type": "url_citation", "url_citation": _citation(annotation)}
                for part in item.get("content") or ()
                if isinstance(part, dict)
                for annotation in part.get("annotations") or ()
                if isinstance(annotation, dict)
                and annotation.get("type") == "url_citation"
            ]
            return [self._chunk({"annotations": citations})] if citations else []
        return []

    # ---- deltas ------------------------------------------------------------------

    def _text(self, event: dict) -> list[dict]:
        delta = event.get("delta")
        return [self._chunk({"content": delta})] if delta else []

    def _summary_text(self, event: dict) -> list[dict]:
        delta = event.get("delta")
        if not delta:
            return []
        part = (_index(event), int(event.get("summary_index") or 0))
        if self._summary is not None and self._summary != part:
            delta = "\n\n" + delta  # Open WebUI joins summary parts with nothing
        self._summary = part
        return [self._chunk({"reasoning_content": delta})]

    def _arguments_delta(self, event: dict) -> list[dict]:
        delta = event.get("delta")
        if not delta:
            return []
        output_index = _index(event)
        chunks = [] if output_index in self._calls else self._item_added(event)
        self._streamed_arguments.add(output_index)
        return chunks + self._arguments(output_index, delta)

    def _arguments(self, output_index: int, text: str) -> list[dict]:
        index = self._calls.setdefault(output_index, len(self._calls))
        call = {"index": index, "function": {"arguments": text}}
        return [self._chunk({"tool_calls": [call]})]

    def _chunk(self, delta: dict, finish_reason: str | None = None) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }


_HANDLERS = {
    "response.created": ResponsesTranslator._started,
    "response.in_progress": ResponsesTranslator._started,
    "response.completed": ResponsesTranslator._completed,
    "response.incomplete": ResponsesTranslator._incomplete,
    "response.failed": ResponsesTranslator._failed,
    "error": ResponsesTranslator._error,
    "response.output_item.added": ResponsesTranslator._item_added,
    "response.output_item.done": ResponsesTranslator._item_done,
    "response.output_text.delta": ResponsesTranslator._text,
    "response.refusal.delta": ResponsesTranslator._text,  # Open WebUI shows no refusal
    "response.reasoning_summary_text.delta": ResponsesTranslator._summary_text,
    "response.reasoning_text.delta": ResponsesTranslator._summary_text,
    "response.function_call_arguments.delta": ResponsesTranslator._arguments_delta,
}


async def read_responses_stream(
    response: aiohttp.ClientResponse, url: str, progress: Progress
) -> AsyncIterator[dict]:
    """/responses: each event as it arrives, translated; the end checked."""
    if response.content_type == "application/json":
        chunk = completion_as_chunk(
            await read_whole(response, url, completion_from_response)
        )
        progress.note(chunk)
        if progress.first_output is None:
            raise PipeError(empty_answer(url, progress.finish_reason))
        yield chunk
        return
    translator = ResponsesTranslator(url)
    async for events in sse_batches(response, url):
        for event in events:
            if event == "[DONE]":  # not OpenAI's, but some servers add it
                continue
            for chunk in translator.feed(_event(event, url)):
                progress.note(chunk)
                yield chunk
            if translator.failure:
                raise PipeError(translator.failure)
            if translator.finished:
                break
        if translator.finished:
            break
    if not translator.finished:
        raise PipeError(cut_short(url))
    if progress.first_output is None:
        raise PipeError(empty_answer(url, progress.finish_reason))


def _event(data: str, url: str) -> dict:
    try:
        event = json.loads(data)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise PipeError(
            f"{host_of(url)} sent data that is not valid JSON in the middle of the "
            "answer, so the answer stopped there. Try again."
        )
    return event


def completion_from_response(data: dict, url: str) -> dict:
    """A whole Response object as a chat completion (background tasks, SDK calls)."""
    if data.get("error") and not data.get("output"):
        raise PipeError(stream_error(data["error"], url))
    status = data.get("status")
    if status == "incomplete":
        raise PipeError(_incomplete(data, url))
    if status == "failed":
        raise PipeError(stream_error(data.get("error") or "the response failed", url))
    message: dict = {"role": "assistant", "content": ""}
    texts, summaries, calls, details = [], [], [], []
    for item in data.get("output") or ():
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "message":
            texts += [
                part.get("text") or part.get("refusal") or ""
                for part in item.get("content") or ()
                if isinstance(part, dict)
            ]
        elif kind == "reasoning":
            summaries += [
                part.get("text") or ""
                for part in item.get("summary") or ()
                if isinstance(part, dict)
            ]
            if entry := _reasoning_entry(item):
                details.append(entry)
        elif kind == "function_call":
            calls.append(
                {
                    "id": item.get("call_id") or item.get("id") or "",
                    "type": "function",
                    "function": {
                        "name": item.get("name") or "",
                        "arguments": item.get("arguments") or "",
                    },
                }
            )
    message["content"] = "".join(texts)
    if summaries:
        message["reasoning_content"] = "\n\n".join(summaries)
    if details:
        message["reasoning_details"] = details
    if calls:
        message["tool_calls"] = calls
    completion = {
        "id": data.get("id") or "",
        "object": "chat.completion",
        "created": int(data.get("created_at") or 0),
        "model": data.get("model") or "",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
    }
    if usage := chat_usage(data.get("usage")):
        completion["usage"] = usage
    return completion


def chat_usage(usage: object) -> dict | None:
    """Responses usage under the names chat clients and Open WebUI read."""
    if not isinstance(usage, dict):
        return None
    tokens_in = usage.get("input_tokens") or 0
    tokens_out = usage.get("output_tokens") or 0
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": usage.get("total_tokens") or tokens_in + tokens_out,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _incomplete(response: dict, url: str) -> str:
    """Why an incomplete response stopped, in words a user can act on."""
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    why = _INCOMPLETE.get(reason, f"it stopped early ({reason or 'no reason given'})")
    return f"The answer from {host_of(url)} is incomplete: {why}."


def _reasoning_entry(item: dict) -> dict | None:
    """An encrypted reasoning item as the `reasoning_details` entry Open WebUI keeps."""
    if not (item.get("encrypted_content") and item.get("id")):
        return None
    return {
        "type": ENCRYPTED_REASONING,
        "id": item["id"],
        "data": item["encrypted_content"],
        "format": REASONING_FORMAT,
    }


def _index(event: dict) -> int:
    value = event.get("output_index")
    return value if isinstance(value, int) else -1


def _citation(annotation: dict) -> dict:
    return {
        key: annotation[key]
        for key in ("url", "title", "start_index", "end_index")
        if key in annotation
    }
