"""The Responses half of the fake OpenAI server: `POST {prefix}/responses`.

Why a module of its own: on the wire /v1/responses shares nothing with chat
completions (typed SSE events, output items, a Response object), but everything else
does: keys, early faults, recording, markers and `plan_answer`'s deterministic answers.
`FakeOpenAI._route` calls `serve()`, which reads the input as chat messages, lets the
chat fake decide the answer, and renders it the way api.openai.com does.

Validation in strict mode (first problem wins; 400 unless said; see `validate`):
OpenAI's published schema (`tests/openapi_check.py`: unknown_parameter, invalid_type,
invalid_value, missing_required_parameter, integer_below_min_value for
max_output_tokens < 16); model and input required; unknown model 404; any
previous_response_id 404 (nothing is stored); the reasoning family's efforts and
summaries, sampling only at effort "none", no `reasoning`/encrypted content on models
that do not reason (`check_reasoning`); calls, outputs and reasoning items consistent
(`check_input`), encrypted content only as this server issued it
(`server.issued_reasoning`).

Answers are the chat fake's ("Echo: ...", `[[tool:NAME]]` -> a function_call item,
"Tool said: ..." after a function_call_output, task prompts, `[[chunks:N]]`,
`[[delay:S]]`). Reasoning models, unless the effort is "none", put a reasoning item
first: summary "Thinking about: <text>" when `reasoning.summary` is auto/detailed,
`encrypted_content` ("gAAAAA" + a hash of the conversation) when `include` asks.
Usage: output_tokens = answer pieces + the effort's hidden reasoning tokens.

Stream (`event: <type>` + `data: <json>`, `sequence_number` from 0, no `[DONE]`):
    response.created, response.in_progress, then per output item:
    response.output_item.added
      reasoning: reasoning_summary_part.added, reasoning_summary_text.delta xN,
                 reasoning_summary_text.done, reasoning_summary_part.done (if summary)
      message:   content_part.added, output_text.delta xN, output_text.done,
                 content_part.done
      function:  function_call_arguments.delta xN, function_call_arguments.done
    response.output_item.done; finally response.completed (or response.incomplete).

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

import asyncio
import base64
import hashlib
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.openapi_check import check_responses_request
from tests.upstream import BAD_JSON_MESSAGE, BODY_FAULTS, EFFORT_TOKENS, ApiError, Fault
from tests.upstream import RESPONSES_ONLY_FAULTS, FakeOpenAI, Recorded, plan_answer
from tests.upstream import base_id, format_value, quote_list, reasoning_family
from tests.upstream import last_user_text, split_words, strip_markers
from tests.upstream import unsupported_parameter, unsupported_value

# Faults a valid request can meet while it is answered (llama's error line is not one).
RESPONSES_BODY_FAULTS = (BODY_FAULTS - {"error_field"}) | RESPONSES_ONLY_FAULTS
SUMMARIES = ("auto", "detailed")
ENCRYPTED = "reasoning.encrypted_content"
SERVER_ERROR = (
    "The server had an error while processing your request. Sorry about that!"
)
FAILED_MESSAGE = (
    "An error occurred while processing your request. You can retry your request, or "
    "contact us through our help center at help.openai.com if the error persists."
)
TRUNCATED_EVENT = (
    b"event: response.output_text.delta\n"
    b'data: {"type":"response.output_text.delta","delta":"x\n\n'
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

# --------------------------------------------------------------------------------------
# Model families
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """What a reasoning model accepts in `reasoning` on /v1/responses."""

    efforts: tuple[str, ...]  # (): no `reasoning.effort` at all (o1-mini, o1-preview)
    default: str  # the effort it runs with when none is given


def family(model: str) -> Family | None:
    """The reasoning family of an id; None for models that do not reason (gpt-4o...).

    Responses-only ids come first: the chat fake's `reasoning_family` would read
    gpt-5.1-codex as gpt-5.1 (default "none") and gpt-5-pro as gpt-5."""
    name = base_id(model)
    if "codex" in name:
        return Family(("low", "medium", "high"), "medium")
    if re.match(r"gpt-\d+(?:\.\d+)?-pro(?:-|$)", name):
        return Family(("high",), "high")
    chat = reasoning_family(model)
    if chat is None:
        return None
    return Family(chat.efforts or (), chat.default_effort or "medium")


def effort_of(body: dict) -> str | None:
    """The effort a request runs with (None: the model does not reason)."""
    fam = family(body["model"])
    if fam is None:
        return None
    return (body.get("reasoning") or {}).get("effort") or fam.default


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def validate(body: dict, server: FakeOpenAI) -> None:
    """Refuse a request the way api.openai.com would (raise ApiError)."""
    if server.strict:
        check_schema(body)
    for name in ("model", "input"):
        if body.get(name) is None:
            message = f"Missing required parameter: '{name}'."
            raise ApiError(400, message, param=name, code="missing_required_parameter")
    if body["model"] not in server.models:
        model = body["model"]
        message = f"The model `{model}` does not exist or you do not have access to it."
        raise ApiError(404, message, code="model_not_found")
    if not server.strict:
        return
    if (previous := body.get("previous_response_id")) is not None:
        message = f"Previous response with id '{previous}' not found."
        code = "previous_response_not_found"
        raise ApiError(404, message, param="previous_response_id", code=code)
    check_reasoning(body, family(body["model"]))
    if isinstance(body["input"], list):
        check_input(body["input"], body.get("store") is False, server.issued_reasoning)


PROBLEM_RE = re.compile(
    r"\$\.?([^:]*): (.*?)(?: \(closest: \$\.?([^:]*): (.*)\))?$", re.S
)
UNKNOWN_RE = re.compile(r"unknown top-level argument (['\"])(.*)\1")
MINIMUM_RE = re.compile(r"^(-?\d+) is less than the minimum of (\d+)$")


def check_schema(body: dict) -> None:
    """The first problem OpenAI's published schema finds, as OpenAI's 400.

    The checker reads "$.path: message (closest: $.deeper: message)"; the closest
    branch of a failed union is the one that names the real field."""
    problems = check_responses_request(body)
    if not problems:
        return
    if unknown := UNKNOWN_RE.search(problems[0]):
        name = unknown.group(2)
        message = f"Unknown parameter: '{name}'."
        raise ApiError(400, message, param=name, code="unknown_parameter")
    match = PROBLEM_RE.match(problems[0])
    param, problem = (
        match.group(3, 4) if match.group(3) is not None else match.group(1, 2)
    )
    if found := re.match(r"'([^']+)' is a required property", problem):
        name = f"{param}.{found.group(1)}".lstrip(".")
        message = f"Missing required parameter: '{name}'."
        raise ApiError(400, message, param=name, code="missing_required_parameter")
    if found := MINIMUM_RE.match(problem):  # max_output_tokens: 16 at least
        message = (
            f"Invalid '{param}': integer below minimum value. Expected a value >= "
            f"{found.group(2)}, but got {found.group(1)} instead."
        )
        raise ApiError(400, message, param=param, code="integer_below_min_value")
    code = "invalid_type" if "is not of type" in problem else "invalid_value"
    raise ApiError(400, f"Invalid '{param}': {problem}.", param=param, code=code)


def check_reasoning(body: dict, fam: Family | None) -> None:
    """`reasoning`, sampling and `include` against the model's family."""
    reasoning = body.get("reasoning") or {}
    effort, summary = reasoning.get("effort"), reasoning.get("summary")
    if fam is None:
        if effort is not None or summary is not None:
            name = "effort" if effort is not None else "summary"
            raise unsupported_parameter(f"reasoning.{name}")
        if ENCRYPTED in (body.get("include") or []):
            message = "Encrypted content is not supported with this model."
            raise ApiError(400, message, param="include")
        return
    if effort is not None and not fam.efforts:
        raise unsupported_parameter("reasoning.effort")
    if effort is not None and effort not in fam.efforts:
        raise unsupported("reasoning.effort", effort, fam.efforts)
    if summary is not None and summary not in SUMMARIES:
        raise unsupported("reasoning.summary", summary, SUMMARIES)
    if effort_of(body) != "none":
        for name in ("temperature", "top_p"):
            if body.get(name) is not None:
                raise unsupported_parameter(name)


def unsupported(param: str, value: Any, supported: tuple[str, ...]) -> ApiError:
    """`Unsupported value: '<param>' does not support <value> with this model...`."""
    message = (
        f"Unsupported value: '{param}' does not support {format_value(value)} with "
        f"this model. Supported values are: {quote_list(supported)}."
    )
    return unsupported_value(param, message)


def check_input(items: list, store_false: bool, issued: set[str]) -> None:
    """Calls and outputs pair up; reasoning items are ours and lead somewhere."""
    calls: list[str] = []
    answered: set[str] = set()
    for index, item in enumerate(items):
        kind = item_type(item)
        call_id = item.get("call_id") if kind else None
        if kind == "function_call":
            calls.append(call_id)
        elif kind == "function_call_output" and call_id not in calls:
            message = (
                f"No tool call found for function call output with call_id {call_id}."
            )
            raise ApiError(400, message, param="input")
        elif kind == "function_call_output":
            answered.add(call_id)
        elif kind == "reasoning":
            following = items[index + 1] if index + 1 < len(items) else None
            check_reasoning_item(item, following, store_false, issued)
    for call_id in calls:
        if call_id not in answered:
            message = f"No tool output found for function call {call_id}."
            raise ApiError(400, message, param="input")


def check_reasoning_item(
    item: dict, following: Any, store_false: bool, issued: set[str]
) -> None:
    """A reasoning item given back: verifiable, and followed by what it led to."""
    item_id, encrypted = item.get("id"), item.get("encrypted_content")
    if encrypted is not None and encrypted not in issued:
        message = f"The encrypted content for item {item_id} could not be verified."
        raise ApiError(400, message, code="invalid_encrypted_content")
    if encrypted is None and store_false:
        message = (
            f"Item with id '{item_id}' not found. Items are not persisted when `store` "
            "is set to false. Try again with `store` set to true, or remove this item "
            "from your input."
        )
        raise ApiError(400, message, param="input")
    kind = item_type(following)
    if kind == "message" and following.get("role") != "assistant":
        kind = None  # a user turn: the reasoning led nowhere
    if kind not in ("function_call", "message"):
        message = (
            f"Item '{item_id}' of type 'reasoning' was provided without its required "
            "following item."
        )
        raise ApiError(400, message, param="input")


def item_type(item: Any) -> str | None:
    """An input item's type; a bare {"role", "content"} is a message."""
    if not isinstance(item, dict):
        return None
    return item.get("type") or ("message" if "role" in item else None)


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


def new_id(prefix: str) -> str:
    """An OpenAI-looking id: prefix + 48 hex digits."""
    return prefix + uuid.uuid4().hex + uuid.uuid4().hex[:16]


def plan(body: dict) -> Plan:
    """The chat fake's answer as output items, after a reasoning item if any."""
    chat = chat_body(body)
    if not chat["messages"]:
        message = (
            "Invalid 'input': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead."
        )
        raise ApiError(400, message, param="input", code="empty_array")
    answer = plan_answer(chat)
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
        clean = strip_markers(last_user_text(messages))
        item.pieces = split_words(f"Thinking about: {clean}" if clean else "Thinking.")
    if ENCRYPTED in (body.get("include") or []):
        conversation = [body["model"], body.get("instructions"), body["input"]]
        digest = hashlib.sha256(json.dumps(conversation).encode()).digest()
        item.encrypted = "gAAAAA" + base64.urlsafe_b64encode(digest).decode()
    return item


def truncate(result: Plan, after: int, reason: str) -> None:
    """Keep the first `after` deltas: the item cut there is incomplete, later go."""
    kept = []
    for item in result.items:
        if after <= 0 and item.pieces:
            break
        if len(item.pieces) > after:
            item.pieces, item.status = item.pieces[:after], "incomplete"
        after -= len(item.pieces)
        kept.append(item)
        if item.status == "incomplete":
            break
    result.items, result.incomplete = kept, reason


# --------------------------------------------------------------------------------------
# Rendering: output items, Response objects, events
# --------------------------------------------------------------------------------------


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


Event = tuple[dict, bool]  # an event, and whether it is an answer delta (`after=N`)


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


def sse_event(data: dict) -> bytes:
    """One typed SSE event: `event: <type>`, then the compact JSON."""
    text = json.dumps(data, separators=(",", ":"))
    return f"event: {data['type']}\ndata: {text}\n\n".encode()


def failure(opts: dict) -> dict:
    """The `error` of a failed Response."""
    return {"code": "server_error", "message": str(opts.get("message", FAILED_MESSAGE))}


# --------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------


async def serve(
    server: FakeOpenAI, request: web.Request, record: Recorded
) -> web.StreamResponse:
    """POST /v1/responses: validate, plan, apply a body fault, answer (SSE or JSON)."""
    body = record.body
    if body is None:
        raise ApiError(400, BAD_JSON_MESSAGE)
    validate(body, server)
    turn = Turn(body, plan(body))
    issued = {item.encrypted for item in turn.plan.items if item.encrypted}
    with server._lock:
        server.issued_reasoning |= issued
    fault = server._take_fault(record, RESPONSES_BODY_FAULTS)
    if fault is not None:
        record.faults.append(fault.kind)
        if fault.kind == "empty":
            turn.plan.items, fault = [], None
        elif fault.kind == "response_incomplete":
            reason = str(fault.opts.get("reason", "max_output_tokens"))
            truncate(turn.plan, int(fault.opts.get("after", 1)), reason)
            fault = None
    kind = fault.kind if fault else None
    if body.get("stream") is True and kind != "json_instead_of_sse":
        return await stream(server, request, record, turn, fault)
    if kind == "response_failed":
        failed = turn.response("failed", error=failure(fault.opts))
        return await server._send_json(request, record, failed)
    return await server._send_json(request, record, turn.final(), fault=fault)


async def stream(
    server: FakeOpenAI,
    request: web.Request,
    record: Recorded,
    turn: Turn,
    fault: Fault | None,
) -> web.StreamResponse:
    """Send every event, flushed; a fault fires after `after` deltas or at the end."""
    response = await server._open_sse(request, record)
    numbers = itertools.count()
    after = int(fault.opts.get("after", 1)) if fault else 0
    sent = 0
    events = turn.events()
    for index, (data, counts) in enumerate(events):
        # created and in_progress always go first, like the chat fake's role chunk.
        if fault and index >= 2 and (sent >= after or index == len(events) - 1):
            if await stream_fault(server, request, response, turn, fault, numbers):
                return response
            fault = None
        if counts:
            if turn.plan.delay and sent > 0:
                await asyncio.sleep(turn.plan.delay)
            sent += 1
        await response.write(sse_event({**data, "sequence_number": next(numbers)}))
    await response.write_eof()
    return response


async def stream_fault(
    server: FakeOpenAI,
    request: web.Request,
    response: web.StreamResponse,
    turn: Turn,
    fault: Fault,
    numbers: itertools.count,
) -> bool:
    """Inject a mid-stream fault; True when the stream ends here."""
    opts = fault.opts
    if fault.kind == "stall":
        await asyncio.sleep(float(opts.get("seconds", 10.0)))
        return False
    if fault.kind == "malformed":
        await response.write(TRUNCATED_EVENT)
        return False
    if fault.kind == "cut":
        await server._cut(request, rst=bool(opts.get("rst")))
    if fault.kind == "stream_error":
        message = str(opts.get("message", SERVER_ERROR))
        data = dict(type="error", code="server_error", message=message, param=None)
    elif fault.kind == "response_failed":
        data, _ = event("failed", response=turn.response("failed", error=failure(opts)))
    else:
        return False
    await response.write(sse_event({**data, "sequence_number": next(numbers)}))
    await response.write_eof()
    return True
