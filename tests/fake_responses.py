"""The Responses half of the fake OpenAI server: `POST {prefix}/responses`.

Why a half of its own: on the wire /v1/responses shares nothing with chat
completions (typed SSE events, output items, a Response object), but everything else
does: keys, early faults, recording, markers and the deterministic answers.
`FakeOpenAI._route` calls `serve_responses()`, which reads the input as chat messages,
lets the chat fake decide the answer (`server._plan`), and renders it the way
api.openai.com does. What it accepts is in `tests/fakes/responses_rules.py`, what it
sends in `tests/fakes/responses_shapes.py`.

Answers are the chat fake's ("Echo: ...", `[[tool:NAME]]` -> a function_call item,
"Tool said: ..." after a function_call_output, task prompts, `[[chunks:N]]`,
`[[delay:S]]`). Reasoning models, unless the effort is "none", put a reasoning item
first: summary "Thinking about: <text>" when `reasoning.summary` is auto/detailed,
`encrypted_content` ("gAAAAA" + a hash of the conversation) when `include` asks.
Usage: output_tokens = answer pieces + the effort's hidden reasoning tokens.

Faults (`add_fault(kind, path=server.responses_path, ...)` or `[[fault:...]]`); after=N
counts answer deltas (summary, text or argument deltas), default 1:
    status, delay_headers, not_sse, refuse, echo_key_401   as for chat, before auth
    stall, cut           after=N; a JSON answer stalls or is cut mid-body
    malformed            after=N: one truncated `data:` line, then the normal rest
    stream_error         after=N: an `error` event (code server_error, message=...)
    json_instead_of_sse  a stream answered with the Response JSON
    empty                a completed Response without output items
    response_failed      after=N: `response.failed` (status failed, error code
                         server_error, message=...); not streaming: that Response
    response_incomplete  reason=max_output_tokens (default) or content_filter,
                         after=N: the answer cut there (that item `incomplete`), then
                         `response.incomplete`; not streaming: that Response
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.faults import BODY_FAULTS, RESPONSES_ONLY_FAULTS, Fault
from tests.fakes.openai_errors import BAD_JSON_MESSAGE, SERVER_ERROR, ApiError
from tests.fakes.openai_errors import empty_array
from tests.fakes.openai_models import EFFORT_TOKENS
from tests.fakes.recorded import Recorded
from tests.fakes.responses_rules import ENCRYPTED, SUMMARIES, effort_of, item_type
from tests.fakes.responses_rules import validate
from tests.fakes.responses_shapes import Item, Plan, Turn, event, new_id, sse_event
from tests.fakes.sending import Event, SseAnswer, send_json, send_stream
from tests.fakes.text import last_user_text, strip_markers, thought_words

if TYPE_CHECKING:  # the server this half answers for; it imports this module
    from tests.upstream import FakeOpenAI

# Faults a valid request can meet while it is answered (llama's error line is not one).
RESPONSES_BODY_FAULTS = (BODY_FAULTS - {"error_field"}) | RESPONSES_ONLY_FAULTS
TRUNCATED_EVENT = (
    b"event: response.output_text.delta\n"
    b'data: {"type":"response.output_text.delta","delta":"x\n\n'
)

# --------------------------------------------------------------------------------------
# The input as chat messages (what the chat fake plans from)
# --------------------------------------------------------------------------------------


def chat_messages(body: dict) -> list[dict]:
    """`instructions` and input items as chat messages (reasoning items drop out)."""
    messages = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items if isinstance(items, list) else []:
        if message := chat_message(item):
            messages.append(message)
    return messages


def chat_message(item: Any) -> dict | None:
    """One input item as a chat message, None for other items."""
    kind = item_type(item)
    if kind == "message":
        return {"role": item.get("role"), "content": item.get("content")}
    if kind == "function_call":
        function = {"name": item.get("name"), "arguments": item.get("arguments")}
        call = {"id": item.get("call_id"), "type": "function", "function": function}
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    if kind == "function_call_output":
        call_id, output = item.get("call_id"), item.get("output")
        return {"role": "tool", "tool_call_id": call_id, "content": output}
    return None


def chat_body(body: dict) -> dict:
    """The chat completions body with the same conversation, tools and token limit."""
    functions = [t for t in body.get("tools") or [] if item_type(t) == "function"]
    tools = [{"type": "function", "function": tool} for tool in functions]
    chat = {"model": body["model"], "messages": chat_messages(body), "tools": tools}
    if isinstance(body.get("max_output_tokens"), int):
        chat["max_completion_tokens"] = body["max_output_tokens"]
    return chat


# --------------------------------------------------------------------------------------
# The answer
# --------------------------------------------------------------------------------------


def plan_response(body: dict, server: FakeOpenAI) -> Plan:
    """The chat fake's answer as output items, after a reasoning item if any."""
    chat = chat_body(body)
    if not chat["messages"]:
        raise empty_array("input")
    answer = server._plan(chat)
    result = Plan([], input_tokens=answer.prompt_tokens, delay=answer.delay)
    effort = effort_of(body)
    if effort not in (None, "none"):
        result.reasoning_tokens = EFFORT_TOKENS.get(effort, 128)
        result.items.append(reasoning_item(body, chat["messages"]))
    if call := answer.tool_call:
        item = Item("function_call", new_id("fc_"), answer.tool_pieces)
        item.name, item.call_id = call["name"], call["id"]
        result.items.append(item)
    else:
        status = "incomplete" if answer.finish_reason == "length" else "completed"
        result.items.append(Item("message", new_id("msg_"), answer.content, status))
        result.incomplete = "max_output_tokens" if status == "incomplete" else None
    return result


def reasoning_item(body: dict, messages: list[dict]) -> Item:
    """The reasoning item: a summary if asked for, encrypted content if included."""
    item = Item("reasoning", new_id("rs_"), [])
    if (body.get("reasoning") or {}).get("summary") in SUMMARIES:
        item.pieces = thought_words(strip_markers(last_user_text(messages)))
    if ENCRYPTED in (body.get("include") or []):
        conversation = [body["model"], body.get("instructions"), body["input"]]
        digest = hashlib.sha256(json.dumps(conversation).encode()).digest()
        item.encrypted = "gAAAAA" + base64.urlsafe_b64encode(digest).decode()
    return item


# --------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------


async def serve_responses(
    server: FakeOpenAI, request: web.Request, record: Recorded
) -> web.StreamResponse:
    """POST /v1/responses: validate, plan, apply a body fault, answer (SSE or JSON)."""
    body = record.body
    if body is None:
        raise ApiError(400, BAD_JSON_MESSAGE)
    validate(body, server.models, server.strict, server.issued_reasoning)
    turn = Turn(body, plan_response(body, server))
    issued = {item.encrypted for item in turn.plan.items if item.encrypted}
    with server._lock:
        server.issued_reasoning |= issued
    fault = server._fault_for(record, RESPONSES_BODY_FAULTS)
    if fault is not None and fault.kind == "empty":
        turn.plan.items, fault = [], None
    elif fault is not None and fault.kind == "response_incomplete":
        reason = str(fault.opts.get("reason", "max_output_tokens"))
        turn.plan.truncate(fault.after, reason)
        fault = None
    kind = fault.kind if fault else None
    if body.get("stream") is True and kind != "json_instead_of_sse":
        return await send_stream(request, record, responses_stream(turn), fault)
    if kind == "response_failed":
        return await send_json(request, record, turn.failed(fault.opts), None)
    return await send_json(request, record, turn.final(), fault)


def responses_stream(turn: Turn) -> SseAnswer:
    """The turn's events, numbered; `created` and `in_progress` always go first."""
    events = turn.events()
    last = len(events) - 1
    numbered = [
        Event(sse_event(data, index), counts, closing=index == last)
        for index, (data, counts) in enumerate(events)
    ]

    def ending(fault: Fault, index: int) -> bytes | None:
        """The failing stream's last event, numbered as the one it replaces."""
        if fault.kind == "stream_error":
            message = str(fault.opts.get("message", SERVER_ERROR))
            error = dict(type="error", code="server_error", message=message, param=None)
            return sse_event(error, index)
        if fault.kind == "response_failed":
            data, _ = event("failed", response=turn.failed(fault.opts))
            return sse_event(data, index)
        return None

    return SseAnswer(numbered, 2, turn.plan.delay, TRUNCATED_EVENT, ending)
