"""The fake server's /v1/responses (tests/fake_responses.py), probed over raw HTTP.

The pipe's Responses support is tested against this fake, so the fake must refuse what
api.openai.com refuses and send only what OpenAI's published schema allows: every event
and every Response object seen here is checked with `tests/openapi_check.py`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import post_json
from tests.openapi_check import check, check_stream_event
from tests.providers import BY_NAME, Profile, ProviderServer
from tests.upstream import DEFAULT_KEY, EFFORT_TOKENS, OPENAI_MODELS, FakeOpenAI

ROOT = Path(__file__).resolve().parent.parent
AUTH = {"Authorization": f"Bearer {DEFAULT_KEY}"}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    },
    "strict": False,
}
REASONING_STREAM = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.reasoning_summary_part.added",
    *["response.reasoning_summary_text.delta"] * 5,
    "response.reasoning_summary_text.done",
    "response.reasoning_summary_part.done",
    "response.output_item.done",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 3,
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]
TOOL_STREAM = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    *["response.function_call_arguments.delta"] * 3,
    "response.function_call_arguments.done",
    "response.output_item.done",
    "response.completed",
]


# ---- fixtures and helpers ------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(models=OPENAI_MODELS + ["gpt-5.1-codex"]) as server:
        yield server






def body_for(text: str = "hello world", model: str = "gpt-4o", **extra) -> dict:
    """A minimal Responses body with one user message item."""
    message = {"role": "user", "content": [{"type": "input_text", "text": text}]}
    return {"model": model, "input": [message], **extra}


async def post(
    http: aiohttp.ClientSession, server: FakeOpenAI, body: dict, headers=AUTH
) -> tuple[int, dict | str]:
    """POST a non-streaming request: (status, JSON or raw text)."""
    return await post_json(http, server.base_url + "/responses", body, headers)


async def post_chat(
    http: aiohttp.ClientSession, server: FakeOpenAI, model: str, text: str
) -> tuple[int, dict]:
    """POST a non-streaming chat completion (the other path the faults must respect)."""
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    url = server.base_url + "/chat/completions"
    async with http.post(url, json=body, headers=AUTH) as response:
        return response.status, await response.json()


async def stream(
    http: aiohttp.ClientSession, server: FakeOpenAI, body: dict
) -> tuple[aiohttp.ClientResponse, str, list[dict]]:
    """POST a streaming request and read until the end (or the cut): raw and events."""
    url = server.base_url + "/responses"
    raw = b""
    async with http.post(url, json={**body, "stream": True}, headers=AUTH) as response:
        try:
            async for chunk in response.content.iter_any():
                raw += chunk
        except aiohttp.ClientPayloadError:
            pass  # a `cut` fault
    sse = response.content_type == "text/event-stream"
    return response, raw.decode(), parse_events(raw.decode()) if sse else []


def parse_events(raw: str) -> list[dict]:
    """The events of a typed SSE body; the `event:` line must name the data's type."""
    events = []
    for block in raw.split("\n\n"):
        if not block.strip():
            continue
        kind, _, data = block.partition("\n")
        assert kind.startswith("event: ") and data.startswith("data: "), block
        try:
            event = json.loads(data.removeprefix("data: "))
        except ValueError:
            continue  # the `malformed` fault's line
        assert kind == f"event: {event['type']}"
        events.append(event)
    return events


def assert_valid(events: list[dict]) -> None:
    """Every event and Response valid per OpenAI's schema, numbered from 0."""
    for event in events:
        assert check_stream_event(event) == [], event["type"]
        if "response" in event:
            assert check("responses_object", event["response"]) == [], event["type"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def assert_response(data: dict, status: str = "completed") -> None:
    assert check("responses_object", data) == []
    assert data["object"] == "response" and data["id"].startswith("resp_")
    assert data["status"] == status


def types(events: list[dict]) -> list[str]:
    return [event["type"] for event in events]


def message_text(response: dict) -> str:
    return "".join(
        part["text"]
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


# ---- validation ----------------------------------------------------------------------


def call(call_id: str = "call_1") -> dict:
    return {"type": "function_call", "call_id": call_id, "name": "f", "arguments": "{}"}


def output(call_id: str = "call_1") -> dict:
    return {"type": "function_call_output", "call_id": call_id, "output": "ok"}


def thinking(model: str, **reasoning: str) -> dict:
    """A change asking `model` for `reasoning` (effort=..., summary=...)."""
    return {"model": model, "reasoning": reasoning}


USER = {"role": "user", "content": "hi"}
REASONING = {"type": "reasoning", "id": "rs_1", "summary": []}
FORGED = {**REASONING, "encrypted_content": "gAAAAAforged"}
EFFORT, SUMMARY, TOKENS = "reasoning.effort", "reasoning.summary", "max_output_tokens"
BAD_VALUE, BAD_PARAM = "unsupported_value", "unsupported_parameter"
# id: (change to a valid gpt-4o body, status, error param, error code)
# fmt: off
REFUSALS: dict[str, tuple[dict, int, str | None, str | None]] = {
    "unknown-parameter": ({"top_k": 40}, 400, "top_k", "unknown_parameter"),
    "min-tokens": ({"max_output_tokens": 8}, 400, TOKENS, "integer_below_min_value"),
    "wrong-type": ({"max_output_tokens": "x"}, 400, TOKENS, "invalid_type"),
    "enum": ({"text": {"verbosity": "loud"}}, 400, "text.verbosity", "invalid_value"),
    "missing-field": (
        {"tools": [{"type": "function", "name": "f", "parameters": {}}]},
        400, "tools[0].strict", "missing_required_parameter",
    ),
    "no-input": ({"input": None}, 400, "input", "missing_required_parameter"),
    "unknown-model": ({"model": "gpt-9"}, 404, None, "model_not_found"),
    "previous-response": (
        {"previous_response_id": "resp_1"}, 404, "previous_response_id",
        "previous_response_not_found",
    ),
    "o-series-effort": (thinking("o3", effort="minimal"), 400, EFFORT, BAD_VALUE),
    "gpt-5-effort": (thinking("gpt-5", effort="none"), 400, EFFORT, BAD_VALUE),
    "gpt-5.1-effort": (thinking("gpt-5.1", effort="xhigh"), 400, EFFORT, BAD_VALUE),
    "gpt-5.2-effort": (thinking("gpt-5.2", effort="minimal"), 400, EFFORT, BAD_VALUE),
    "pro-effort": (thinking("gpt-5-pro", effort="medium"), 400, EFFORT, BAD_VALUE),
    "codex-effort": (thinking("gpt-5.1-codex", effort="none"), 400, EFFORT, BAD_VALUE),
    "summary-concise": (thinking("o3", summary="concise"), 400, SUMMARY, BAD_VALUE),
    "effort-on-chat-model": (thinking("gpt-4o", effort="low"), 400, EFFORT, BAD_PARAM),
    "encrypted-on-chat-model": (
        {"model": "gpt-4.1", "include": ["reasoning.encrypted_content"]},
        400, "include", None,
    ),
    "temperature-on-o3": (
        {"model": "o3", "temperature": 0.5}, 400, "temperature", BAD_PARAM,
    ),
    "top-p-on-gpt-5": ({"model": "gpt-5", "top_p": 0.9}, 400, "top_p", BAD_PARAM),
    "temperature-while-reasoning": (
        {"model": "gpt-5.1", "reasoning": {"effort": "low"}, "temperature": 0.2},
        400, "temperature", BAD_PARAM,
    ),
    "call-without-output": ({"input": [USER, call()]}, 400, "input", None),
    "output-without-call": ({"input": [USER, output("call_9")]}, 400, "input", None),
    "reasoning-not-stored": (
        {"model": "o3", "store": False, "input": [USER, REASONING, call(), output()]},
        400, "input", None,
    ),
    "reasoning-forged": (
        {"model": "o3", "input": [USER, FORGED, call(), output()]},
        400, None, "invalid_encrypted_content",
    ),
    "reasoning-leads-nowhere": (
        {"model": "o3", "input": [USER, REASONING, USER]}, 400, "input", None,
    ),
}
# fmt: on
# The exact texts (api.openai.com's, or the fake's own where OpenAI's is unknown).
MESSAGES = {
    "unknown-parameter": "Unknown parameter: 'top_k'.",
    "min-tokens": "Invalid 'max_output_tokens': integer below minimum value. Expected "
    "a value >= 16, but got 8 instead.",
    "missing-field": "Missing required parameter: 'tools[0].strict'.",
    "no-input": "Missing required parameter: 'input'.",
    "unknown-model": "The model `gpt-9` does not exist or you do not have access to "
    "it.",
    "previous-response": "Previous response with id 'resp_1' not found.",
    "o-series-effort": "Unsupported value: 'reasoning.effort' does not support "
    "'minimal' with this model. Supported values are: 'low', 'medium', and 'high'.",
    "gpt-5-effort": "Unsupported value: 'reasoning.effort' does not support 'none' "
    "with this model. Supported values are: 'minimal', 'low', 'medium', and 'high'.",
    "gpt-5.1-effort": "Unsupported value: 'reasoning.effort' does not support 'xhigh' "
    "with this model. Supported values are: 'none', 'low', 'medium', and 'high'.",
    "gpt-5.2-effort": "Unsupported value: 'reasoning.effort' does not support "
    "'minimal' with this model. Supported values are: 'none', 'low', 'medium', "
    "'high', and 'xhigh'.",
    "pro-effort": "Unsupported value: 'reasoning.effort' does not support 'medium' "
    "with this model. Supported values are: 'high'.",
    "codex-effort": "Unsupported value: 'reasoning.effort' does not support 'none' "
    "with this model. Supported values are: 'low', 'medium', and 'high'.",
    "summary-concise": "Unsupported value: 'reasoning.summary' does not support "
    "'concise' with this model. Supported values are: 'auto' and 'detailed'.",
    "effort-on-chat-model": "Unsupported parameter: 'reasoning.effort' is not "
    "supported with this model.",
    "encrypted-on-chat-model": "Encrypted content is not supported with this model.",
    "temperature-on-o3": "Unsupported parameter: 'temperature' is not supported with "
    "this model.",
    "top-p-on-gpt-5": "Unsupported parameter: 'top_p' is not supported with this "
    "model.",
    "temperature-while-reasoning": "Unsupported parameter: 'temperature' is not "
    "supported with this model.",
    "call-without-output": "No tool output found for function call call_1.",
    "output-without-call": "No tool call found for function call output with call_id "
    "call_9.",
    "reasoning-not-stored": "Item with id 'rs_1' not found. Items are not persisted "
    "when `store` is set to false. Try again with `store` set to true, or remove this "
    "item from your input.",
    "reasoning-forged": "The encrypted content for item rs_1 could not be verified.",
    "reasoning-leads-nowhere": "Item 'rs_1' of type 'reasoning' was provided without "
    "its required following item.",
}


@pytest.mark.parametrize("case", REFUSALS)
async def test_refusals(server, http, case: str) -> None:
    change, status, param, code = REFUSALS[case]
    body = {k: v for k, v in {**body_for(), **change}.items() if v is not None}
    got, data = await post(http, server, body)
    assert got == status, data
    error = data["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        param,
        code,
    )
    if case in MESSAGES:
        assert error["message"] == MESSAGES[case]
    else:  # the schema's own wording, naming the field
        assert error["message"].startswith(f"Invalid '{param}': ")
    assert server.responses_requests()[-1].status == status


VALID = [
    ("gpt-4o", {"temperature": 0.2, "top_p": 0.5, "max_output_tokens": 100}),
    ("gpt-4.1-mini", {"instructions": "Be brief.", "store": False}),
    ("gpt-5-chat-latest", {}),
    ("o1-pro", {"reasoning": {"effort": "low"}}),
    ("o3", {"reasoning": {"effort": "high", "summary": "detailed"}}),
    ("o3-pro", {}),
    ("o4-mini", {"include": ["reasoning.encrypted_content"], "store": False}),
    ("gpt-5", {"reasoning": {"effort": "minimal"}}),
    ("gpt-5-mini", {"reasoning": {"effort": "low", "summary": "auto"}}),
    ("gpt-5.1", {"temperature": 0.3}),
    ("gpt-5.1", {"reasoning": {"effort": "none"}, "top_p": 0.9}),
    ("gpt-5.2", {"reasoning": {"effort": "xhigh"}}),
    ("gpt-5.4", {"reasoning": {"effort": "none", "summary": "auto"}}),
    ("gpt-5-pro", {"reasoning": {"effort": "high"}}),
    ("gpt-5-codex", {"reasoning": {"effort": "low"}}),
    ("gpt-5.1-codex", {"tools": [WEATHER]}),
    ("codex-mini-latest", {"reasoning": {"summary": "auto"}}),
]


@pytest.mark.parametrize(
    "model, extra", VALID, ids=[f"{m}-{i}" for i, (m, _) in enumerate(VALID)]
)
async def test_valid_request_per_family(server, http, model, extra) -> None:
    status, data = await post(http, server, body_for(model=model, **extra))
    assert status == 200, data
    assert_response(data)
    assert data["model"] == model and message_text(data) == "Echo: hello world"
    reasoning = [item for item in data["output"] if item["type"] == "reasoning"]
    effort = data["reasoning"]["effort"]
    assert len(reasoning) == (effort not in (None, "none"))
    tokens = {**EFFORT_TOKENS, None: 0, "xhigh": 128}[effort]
    assert data["usage"]["output_tokens_details"]["reasoning_tokens"] == tokens


RESPONSES_ONLY = ["o1-pro", "o3-pro", "gpt-5-pro", "gpt-5-codex", "gpt-5.1-codex"]


@pytest.mark.parametrize("model", RESPONSES_ONLY + ["codex-mini-latest"])
async def test_responses_only_models_refuse_chat(server, http, model) -> None:
    status, data = await post_chat(http, server, model, "hi")
    assert status == 404
    assert "only supported in v1/responses" in data["error"]["message"]


async def test_permissive_server_accepts_anything(http) -> None:
    body = body_for(top_k=40, reasoning={"effort": "x"})
    with FakeOpenAI(strict=False) as loose:
        status, data = await post(http, loose, body)
    assert status == 200
    assert message_text(data) == "Echo: hello world"


# ---- answers -------------------------------------------------------------------------


async def test_reasoning_stream_with_summary_and_encrypted_content(
    server, http
) -> None:
    body = body_for(
        "how are you [[chunks:3]]",
        "o3",
        store=False,
        include=["reasoning.encrypted_content"],
        reasoning={"summary": "auto"},
    )
    response, raw, events = await stream(http, server, body)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert "[DONE]" not in raw
    assert types(events) == REASONING_STREAM
    assert_valid(events)

    summary = [e["delta"] for e in events if e["type"].endswith("summary_text.delta")]
    assert "".join(summary) == "Thinking about: how are you"
    text = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert text == ["Echo:", " how", " are you"]
    text_events = [e for e in events if e["type"].startswith("response.output_text")]
    assert all(e["logprobs"] == [] for e in text_events)
    added, done = events[2]["item"], events[11]["item"]
    assert added["type"] == "reasoning" and "encrypted_content" not in added
    encrypted = done["encrypted_content"]
    assert encrypted.startswith("gAAAAA") and encrypted in server.issued_reasoning
    thought = {"type": "summary_text", "text": "Thinking about: how are you"}
    assert done["summary"] == [thought]

    final = events[-1]["response"]
    assert final["output"][0] == done
    assert final["output"][1]["id"] == events[12]["item"]["id"]
    assert final["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert final["usage"] == {
        "input_tokens": final["usage"]["input_tokens"],
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": 3 + 32,
        "output_tokens_details": {"reasoning_tokens": 32},
        "total_tokens": final["usage"]["input_tokens"] + 35,
    }
    assert server.responses_requests()[-1].stream


async def test_tool_call_stream(server, http) -> None:
    body = body_for("in Paris? [[tool:get_weather]]", "gpt-4.1", tools=[WEATHER])
    _, _, events = await stream(http, server, body)
    assert types(events) == TOOL_STREAM
    assert_valid(events)
    added, done = events[2]["item"], events[-2]["item"]
    assert added["arguments"] == "" and added["status"] == "in_progress"
    assert done["id"].startswith("fc_") and done["call_id"].startswith("call_")
    assert (done["name"], done["status"]) == ("get_weather", "completed")
    deltas = [e["delta"] for e in events if e["type"].endswith("arguments.delta")]
    assert "".join(deltas) == done["arguments"] == events[-3]["arguments"]
    assert json.loads(done["arguments"]) == {"city": "in Paris?", "days": 1}
    assert events[-1]["response"]["output"] == [done]


async def test_non_streaming_answer(server, http) -> None:
    body = body_for("hello world", instructions="Be brief.", metadata={"chat": "c1"})
    status, data = await post(http, server, body)
    assert status == 200
    assert_response(data)
    assert data["instructions"] == "Be brief." and data["metadata"] == {"chat": "c1"}
    [message] = data["output"]
    assert message["id"].startswith("msg_") and message["role"] == "assistant"
    [part] = message["content"]
    assert part == {**part, "type": "output_text", "text": "Echo: hello world"}
    usage = data["usage"]
    assert usage["output_tokens"] == 3
    assert usage["total_tokens"] == usage["input_tokens"] + 3


async def test_follow_up_with_reasoning_call_and_output(server, http) -> None:
    """Turn 2 carries turn 1's reasoning item and call back: "Tool said: ..."."""
    first = body_for(
        "weather? [[tool:get_weather]]",
        "o4-mini",
        tools=[WEATHER],
        store=False,
        include=["reasoning.encrypted_content"],
        reasoning={"effort": "low"},
    )
    _, _, events = await stream(http, server, first)
    assert_valid(events)
    reasoning, function_call = events[-1]["response"]["output"]
    assert reasoning["type"] == "reasoning" and reasoning["summary"] == []
    server.clear()  # issued encrypted content survives, like OpenAI's keys

    result = {**output(function_call["call_id"]), "output": "sunny, 21 C"}
    second = {**first, "input": [*first["input"], reasoning, function_call, result]}
    _, _, events = await stream(http, server, second)
    assert_valid(events)
    final = events[-1]["response"]
    assert message_text(final) == "Tool said: sunny, 21 C"
    assert final["output"][0]["type"] == "reasoning"
    sent = server.responses_requests()[0].body["input"][1]
    assert sent["encrypted_content"] in server.issued_reasoning


async def test_task_prompt_gets_the_task_answer(server, http) -> None:
    """Task prompts quote the chat, markers included: those are ignored."""
    prompt = "### Task:\nGenerate a title for the chat [[fault:status code=500]]"
    status, data = await post(http, server, body_for(prompt))
    assert status == 200
    assert json.loads(message_text(data)) == {"title": "Echo chat"}


async def test_max_output_tokens_stops_the_answer(server, http) -> None:
    body = body_for("[[chunks:40]]", max_output_tokens=16)
    _, data = await post(http, server, body)
    assert_response(data, "incomplete")
    assert data["incomplete_details"] == {"reason": "max_output_tokens"}
    assert data["output"][0]["status"] == "incomplete"
    assert data["usage"]["output_tokens"] == 16


async def test_delay_marker_paces_the_deltas(server, http) -> None:
    started = time.monotonic()
    _, _, events = await stream(http, server, body_for("[[chunks:4]] [[delay:0.1]]"))
    assert time.monotonic() - started >= 0.3
    assert events[-1]["type"] == "response.completed"


# ---- faults --------------------------------------------------------------------------


async def test_early_faults_hit_responses(server, http) -> None:
    server.add_fault("status", path=server.responses_path, code=503)
    status, data = await post(http, server, body_for())
    assert status == 503 and data["error"]["type"] == "server_error"
    status, data = await post(http, server, body_for("[[fault:status code=429]]"))
    assert status == 429 and data["error"]["code"] == "rate_limit_exceeded"
    server.add_fault("not_sse", path=server.responses_path)
    status, data = await post(http, server, body_for())
    assert status == 200 and "Captive portal" in data
    server.add_fault("echo_key_401", path=server.responses_path)
    status, data = await post(http, server, body_for())
    assert status == 401 and DEFAULT_KEY in data["error"]["message"]
    server.add_fault("refuse", path=server.responses_path)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(http, server, body_for())
    server.add_fault("delay_headers", path=server.responses_path, seconds=0.2)
    started = time.monotonic()
    status, _ = await post(http, server, body_for())
    assert status == 200 and time.monotonic() - started >= 0.2
    status, _ = await post(http, server, body_for(), headers={})
    assert status == 401
    faults = [r.faults for r in server.responses_requests()]
    assert faults == [["status"], ["status"], ["not_sse"], ["echo_key_401"]] + [
        ["refuse"],
        ["delay_headers"],
        [],
    ]


async def test_faults_stay_on_their_path(server, http) -> None:
    """add_fault's default path is chat; Responses-only kinds never touch a chat."""
    server.add_fault("status", code=500)
    status, _ = await post(http, server, body_for())
    assert status == 200
    assert len(server.pending_faults()) == 1
    server.clear()
    status, data = await post_chat(http, server, "gpt-4o", "[[fault:response_failed]]")
    assert status == 200
    assert data["choices"][0]["message"]["content"] == "Echo:"
    assert server.last_chat().faults == []


async def test_stall(server, http) -> None:
    server.add_fault("stall", path=server.responses_path, after=2, seconds=0.2)
    started = time.monotonic()
    _, _, events = await stream(http, server, body_for())
    assert time.monotonic() - started >= 0.2
    assert_valid(events)
    assert events[-1]["type"] == "response.completed"
    server.add_fault("stall", path=server.responses_path, seconds=0.2)
    started = time.monotonic()
    _, data = await post(http, server, body_for())  # stalls mid-body
    assert time.monotonic() - started >= 0.2
    assert_response(data)


async def test_cut(server, http) -> None:
    server.add_fault("cut", path=server.responses_path, after=1)
    _, raw, events = await stream(http, server, body_for())
    assert_valid(events)
    assert types(events)[-1] == "response.output_text.delta"
    assert len(events) == 5
    assert server.responses_requests()[-1].faults == ["cut"]
    server.add_fault("cut", path=server.responses_path)
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(http, server, body_for())  # a JSON body cut in the middle


async def test_malformed(server, http) -> None:
    server.add_fault("malformed", path=server.responses_path, after=1)
    _, raw, events = await stream(http, server, body_for())
    assert '"delta":"x\n\n' in raw
    assert_valid(events)
    assert types(events) == types((await stream(http, server, body_for()))[2])


async def test_stream_error(server, http) -> None:
    """after=N counts summary deltas too."""
    marker = "[[fault:stream_error after=2]]"
    body = body_for(f"think {marker}", "o3", reasoning={"summary": "auto"})
    _, _, events = await stream(http, server, body)
    assert_valid(events)
    assert types(events)[-3:-1] == ["response.reasoning_summary_text.delta"] * 2
    message = "The server had an error while processing your request. Sorry about that!"
    assert events[-1] == {
        "type": "error",
        "code": "server_error",
        "message": message,
        "param": None,
        "sequence_number": len(events) - 1,
    }


async def test_json_instead_of_sse(server, http) -> None:
    server.add_fault("json_instead_of_sse", path=server.responses_path)
    response, raw, _ = await stream(http, server, body_for())
    assert response.content_type == "application/json"
    assert_response(json.loads(raw))


async def test_empty(server, http) -> None:
    server.add_fault("empty", path=server.responses_path, times=2)
    _, _, events = await stream(http, server, body_for(model="o3"))
    assert_valid(events)
    assert types(events) == REASONING_STREAM[:2] + ["response.completed"]
    _, data = await post(http, server, body_for(model="o3"))
    assert_response(data)
    assert data["output"] == []
    assert data["usage"]["output_tokens"] == 32  # it thought, and said nothing


async def test_response_failed(server, http) -> None:
    path = server.responses_path
    server.add_fault("response_failed", path=path, after=2, message="boom")
    _, _, events = await stream(http, server, body_for("a b c d"))
    assert_valid(events)
    assert types(events)[-3:-1] == ["response.output_text.delta"] * 2
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "boom"}
    server.add_fault("response_failed", path=path)
    status, data = await post(http, server, body_for())
    assert status == 200
    assert_response(data, "failed")
    assert data["error"]["code"] == "server_error"
    assert data["output"] == []


async def test_response_incomplete(server, http) -> None:
    marker = "[[fault:response_incomplete reason=content_filter after=2]]"
    _, _, events = await stream(http, server, body_for(f"a b c d {marker}"))
    assert_valid(events)
    assert types(events)[-2:] == ["response.output_item.done", "response.incomplete"]
    assert len([e for e in events if e["type"] == "response.output_text.delta"]) == 2
    final = events[-1]["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "content_filter"}
    assert final["output"][0]["status"] == "incomplete"
    assert final["usage"]["output_tokens"] == 2
    server.add_fault("response_incomplete", path=server.responses_path, after=1)
    body = body_for(model="o3", reasoning={"summary": "auto"})
    _, data = await post(http, server, body)
    assert_response(data, "incomplete")
    assert data["incomplete_details"] == {"reason": "max_output_tokens"}
    [reasoning] = data["output"]  # the budget ran out while thinking
    assert reasoning["status"] == "incomplete"
    assert reasoning["summary"][0]["text"] == "Thinking"


# ---- providers and standalone --------------------------------------------------------


@pytest.mark.parametrize("profile", BY_NAME.values(), ids=BY_NAME)
async def test_providers(http, profile: Profile) -> None:
    """OpenAI and Azure v1 serve /responses under their prefix; others 404 their way."""
    if profile.dialect == "azure":
        headers = {"api-key": profile.key}
    else:
        headers = {"Authorization": f"Bearer {profile.key}"} if profile.key else {}
    with ProviderServer(profile) as provider:
        assert provider.responses_path == profile.prefix + "/responses"
        body = body_for(model=profile.chat_model)
        status, data = await post(http, provider, body, headers)
    if profile.responses:
        assert status == 200 and message_text(data) == "Echo: hello world"
    else:
        assert status == 404 and "resp_" not in json.dumps(data)


def test_runs_standalone() -> None:
    """`python -m tests.upstream` serves /v1/responses too."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tests.upstream", "--port", str(port), "--no-auth"]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as run:
        try:
            run.stdout.readline()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/responses",
                data=json.dumps({"model": "gpt-4o", "input": "hi"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                assert message_text(json.load(response)) == "Echo: hi"
        finally:
            run.terminate()
            run.wait(timeout=10)
