"""A Response on the wire: output items, the Response object, and its typed events.

Stream (`event: <type>` + `data: <json>`, `sequence_number` from 0, no `[DONE]`):
    response.created, response.in_progress, then per output item:
    response.output_item.added
      reasoning: reasoning_summary_part.added, reasoning_summary_text.delta xN,
                 reasoning_summary_text.done, reasoning_summary_part.done (if summary)
      message:   content_part.added, output_text.delta xN, output_text.done,
                 content_part.done
      function:  function_call_arguments.delta xN, function_call_arguments.done
    response.output_item.done; finally response.completed (or response.incomplete).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.responses_rules import effort_of

FAILED_MESSAGE = (
    "An error occurred while processing your request. You can retry your request, or "
    "contact us through our help center at help.openai.com if the error persists."
)
# Response fields that echo the request, with OpenAI's defaults for absent ones.
ECHOED: dict[str, Any] = dict(
    instructions=None,
    max_output_tokens=None,
    max_tool_calls=None,
    metadata={},
    prompt_cache_key=None,
    safety_identifier=None,
    parallel_tool_calls=True,
    text={"format": {"type": "text"}, "verbosity": "medium"},
    tool_choice="auto",
    tools=[],
    top_logprobs=0,
    truncation="disabled",
    background=False,
    service_tier="default",
    temperature=1.0,
    top_p=1.0,
)

Event = tuple[dict, bool]  # an event, and whether it is an answer delta (`after=N`)


@dataclass
class Item:
    """One output item; `pieces` are its deltas (summary words, text or arguments)."""

    type: str  # "reasoning", "message" or "function_call"
    id: str
    pieces: list[str]
    status: str = "completed"
    name: str = ""  # function_call
    call_id: str = ""  # function_call
    encrypted: str | None = None  # reasoning, when `include` asks for it

    @property
    def text(self) -> str:
        return "".join(self.pieces)


@dataclass
class Plan:
    """The whole answer, before it is shaped as JSON or events."""

    items: list[Item]
    input_tokens: int
    reasoning_tokens: int = 0
    delay: float = 0.0
    incomplete: str | None = None  # incomplete_details.reason

    def usage(self) -> dict:
        """Responses usage: output tokens include the hidden reasoning tokens."""
        visible = sum(len(i.pieces) for i in self.items if i.type != "reasoning")
        output = visible + self.reasoning_tokens
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.input_tokens + output,
        }

    def truncate(self, after: int, reason: str) -> None:
        """Keep the first `after` deltas: the item cut there is incomplete, later go."""
        kept = []
        for item in self.items:
            if after <= 0 and item.pieces:
                break
            if len(item.pieces) > after:
                item.pieces, item.status = item.pieces[:after], "incomplete"
            after -= len(item.pieces)
            kept.append(item)
            if item.status == "incomplete":
                break
        self.items, self.incomplete = kept, reason


def new_id(prefix: str) -> str:
    """An OpenAI-looking id: prefix + 48 hex digits."""
    return prefix + uuid.uuid4().hex + uuid.uuid4().hex[:16]


def item_json(item: Item, done: bool) -> dict:
    """An output item as `output_item.added` (done=False) or `.done` shows it."""
    status = item.status if done else "in_progress"
    if item.type == "reasoning":
        summary = [{"type": "summary_text", "text": item.text}] if done else []
        data: dict[str, Any] = {"id": item.id, "type": "reasoning"}
        data["summary"] = summary if item.pieces else []
        if done and item.encrypted:
            data["encrypted_content"] = item.encrypted
        if done and item.status != "completed":
            data["status"] = item.status
        return data
    data = {"id": item.id, "type": item.type, "status": status}
    if item.type == "function_call":
        data["arguments"] = item.text if done else ""
        return {**data, "call_id": item.call_id, "name": item.name}
    content = [output_text(item.text)] if done else []
    return {**data, "content": content, "role": "assistant"}


def output_text(text: str) -> dict:
    """An output_text content part (OpenAI sends `logprobs: []` unless asked)."""
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


@dataclass
class Turn:
    """One request being answered: its body, plan, and Response id."""

    body: dict
    plan: Plan
    id: str = field(default_factory=lambda: new_id("resp_"))
    created_at: int = field(default_factory=lambda: int(time.time()))

    @property
    def final_status(self) -> str:
        return "incomplete" if self.plan.incomplete else "completed"

    def response(
        self, status: str, items: list[Item] = (), error: dict | None = None
    ) -> dict:
        """The Response object; `usage` only once finished (the schema has no null)."""
        body, effort = self.body, effort_of(self.body)
        summary = (body.get("reasoning") or {}).get("summary") if effort else None
        echoed = {k: v if body.get(k) is None else body[k] for k, v in ECHOED.items()}
        data: dict[str, Any] = {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "completed_at": int(time.time()) if status == "completed" else None,
            "error": error,
            "incomplete_details": None,
            "model": body["model"],
            "output": [item_json(item, True) for item in items],
            "previous_response_id": None,
            "reasoning": {"effort": effort, "summary": summary},
            **echoed,
        }
        if status == "incomplete":
            data["incomplete_details"] = {"reason": self.plan.incomplete}
        if isinstance(body.get("user"), str):
            data["user"] = body["user"]
        if status in ("completed", "incomplete"):
            data["usage"] = self.plan.usage()
        return data

    def final(self) -> dict:
        """The finished Response (a non-streaming request gets just this)."""
        return self.response(self.final_status, self.plan.items)

    def failed(self, opts: dict) -> dict:
        """The Response of a `response_failed` fault (message=... in its options)."""
        message = str(opts.get("message", FAILED_MESSAGE))
        return self.response(
            "failed", error={"code": "server_error", "message": message}
        )

    def events(self) -> list[Event]:
        """Every event of the stream, in order, without sequence numbers."""
        start = self.response("in_progress")
        events = [
            event("created", response=start),
            event("in_progress", response=start),
        ]
        for index, item in enumerate(self.plan.items):
            events += item_events(item, index)
        return events + [event(self.final_status, response=self.final())]


def event(kind: str, counts: bool = False, **fields: Any) -> Event:
    """The event `response.<kind>`."""
    return {"type": f"response.{kind}", **fields}, counts


def item_events(item: Item, index: int) -> list[Event]:
    """output_item.added, the item's own events, output_item.done."""
    at = {"item_id": item.id, "output_index": index}
    events = [
        event("output_item.added", output_index=index, item=item_json(item, False))
    ]
    if item.type == "reasoning" and item.pieces:
        events += summary_events(item, {**at, "summary_index": 0})
    elif item.type == "message":
        events += text_events(item, {**at, "content_index": 0})
    elif item.type == "function_call":
        events += [
            event("function_call_arguments.delta", True, **at, delta=piece)
            for piece in item.pieces
        ]
        done = {"name": item.name, "arguments": item.text}
        events.append(event("function_call_arguments.done", **at, **done))
    done_item = item_json(item, True)
    return events + [event("output_item.done", output_index=index, item=done_item)]


def summary_events(item: Item, at: dict) -> list[Event]:
    """One summary part, streamed word by word (a cut part says `incomplete`)."""
    part = {"type": "summary_text", "text": item.text}
    cut = {"status": "incomplete"} if item.status == "incomplete" else {}
    deltas = [
        event("reasoning_summary_text.delta", True, **at, delta=p) for p in item.pieces
    ]
    return [
        event("reasoning_summary_part.added", **at, part={**part, "text": ""}),
        *deltas,
        event("reasoning_summary_text.done", **at, text=item.text),
        event("reasoning_summary_part.done", **at, part=part, **cut),
    ]


def text_events(item: Item, at: dict) -> list[Event]:
    """One output_text part, streamed word by word."""
    deltas = [
        event("output_text.delta", True, **at, delta=p, logprobs=[])
        for p in item.pieces
    ]
    return [
        event("content_part.added", **at, part=output_text("")),
        *deltas,
        event("output_text.done", **at, text=item.text, logprobs=[]),
        event("content_part.done", **at, part=output_text(item.text)),
    ]


def sse_event(data: dict, number: int) -> bytes:
    """One typed SSE event: `event: <type>`, then the compact JSON, numbered."""
    text = json.dumps({**data, "sequence_number": number}, separators=(",", ":"))
    return f"event: {data['type']}\ndata: {text}\n\n".encode()
