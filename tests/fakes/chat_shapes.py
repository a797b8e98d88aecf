"""A chat completion on the wire: what an answer carries (`Answer`), and its two shapes,
the `chat.completion` JSON and the `chat.completion.chunk` SSE events.

Why apart from the planning: every provider fake plans the same answers but dresses
them its own way (`tests/fakes/providers/`), starting from OpenAI's shapes here.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

SYSTEM_FINGERPRINT = "fp_f33640a400"


@dataclass
class Answer:
    """Everything a completion carries, before it is shaped as JSON or SSE."""

    content: list[str]
    reasoning: list[str] = field(default_factory=list)
    reasoning_field: str | None = None
    tool_call: dict | None = None  # {"id", "name", "arguments"}
    finish_reason: str = "stop"
    reasoning_tokens: int = 0
    prompt_tokens: int = 0
    delay: float = 0.0

    @property
    def text(self) -> str:
        return "".join(self.content)

    @property
    def tool_pieces(self) -> list[str]:
        """The tool call's arguments in a few fragments, as OpenAI streams them."""
        if not self.tool_call:
            return []
        args = self.tool_call["arguments"]
        size = max(1, -(-len(args) // 3))
        return [args[i : i + size] for i in range(0, len(args), size)] or [""]

    def usage(self) -> dict:
        """OpenAI's usage object, with reasoning tokens counted in completion tokens."""
        completion = len(self.content) + len(self.tool_pieces) + self.reasoning_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def emptied(self, finish_reason: str) -> Answer:
        """The same answer with nothing in it: no text, reasoning or tool call."""
        return Answer(
            content=[],
            finish_reason=finish_reason,
            prompt_tokens=self.prompt_tokens,
            reasoning_tokens=self.reasoning_tokens,
        )


@dataclass
class Envelope:
    """The fields every completion (chunk) repeats."""

    id: str
    created: int
    model: str
    include_usage: bool = False

    @classmethod
    def for_request(cls, body: dict) -> Envelope:
        """A new completion's envelope; usage is streamed when the request asks."""
        options = body.get("stream_options") or {}
        return cls(
            id="chatcmpl-" + uuid.uuid4().hex[:29],
            created=int(time.time()),
            model=body["model"],
            include_usage=bool(
                isinstance(options, dict) and options.get("include_usage")
            ),
        )

    def chunk(self, delta: dict, finish_reason: str | None = None) -> dict:
        """One `chat.completion.chunk`, shaped like OpenAI's."""
        data = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "delta": delta,
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
        }
        if self.include_usage:
            data["usage"] = None
        return data


@dataclass
class StreamChunk:
    """A chunk to send; `counts` marks answer chunks (the ones `after=N` counts)."""

    data: dict
    counts: bool


def stream_chunks(answer: Answer, envelope: Envelope) -> list[StreamChunk]:
    """The SSE chunks of an answer, in OpenAI's order (role, reasoning, content, finish, usage)."""
    chunks = [StreamChunk(envelope.chunk(role_delta(answer)), counts=False)]
    for piece in answer.reasoning:
        empty = None if answer.reasoning_field == "reasoning_content" else ""
        delta = {"content": empty, answer.reasoning_field: piece}
        chunks.append(StreamChunk(envelope.chunk(delta), counts=True))
    for piece in answer.tool_pieces:
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
        chunks.append(StreamChunk(envelope.chunk(delta), counts=True))
    for piece in answer.content:
        chunks.append(StreamChunk(envelope.chunk({"content": piece}), counts=True))
    chunks.append(StreamChunk(envelope.chunk({}, answer.finish_reason), counts=False))
    if envelope.include_usage:
        usage = envelope.chunk({})
        usage["choices"] = []
        usage["usage"] = answer.usage()
        chunks.append(StreamChunk(usage, counts=False))
    return chunks


def role_delta(answer: Answer) -> dict[str, Any]:
    """The first chunk's delta: the role, and the tool call's id and name if any."""
    role: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
    if answer.tool_call:
        role["content"] = None
        role["tool_calls"] = [
            {
                "index": 0,
                "id": answer.tool_call["id"],
                "type": "function",
                "function": {"name": answer.tool_call["name"], "arguments": ""},
            }
        ]
    return role


def completion_json(answer: Answer, envelope: Envelope) -> dict:
    """The non-streaming `chat.completion` object of an answer."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if answer.tool_call else answer.text,
        "refusal": None,
        "annotations": [],
    }
    if answer.reasoning_field:
        message[answer.reasoning_field] = "".join(answer.reasoning)
    if answer.tool_call:
        message["tool_calls"] = [
            {
                "id": answer.tool_call["id"],
                "type": "function",
                "function": {
                    "name": answer.tool_call["name"],
                    "arguments": answer.tool_call["arguments"],
                },
            }
        ]
    return {
        "id": envelope.id,
        "object": "chat.completion",
        "created": envelope.created,
        "model": envelope.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": answer.usage(),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }
