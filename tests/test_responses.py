"""OpenAI's Responses API through the pipe, against the fake's /v1/responses.

Which models take it (RESPONSES_API), what the user receives (chat chunks carrying
the reasoning summary, text, tool calls and usage), how a tool-calling turn carries
its reasoning into the next request, and the way back to /chat/completions for an
endpoint without /responses. The fake refuses any request that OpenAI's published
description of POST /responses would refuse (tests/fake_responses.py).
"""

from __future__ import annotations

import pytest

from tests.conftest import ALICE
from tests.owhost import api_body, errors_of, task_body, text_of, web_body
from tests.upstream import answer_text

USER = {"OPENAI_API_KEY": ALICE}
QUESTION = "why is the sky blue"
# Every field of Chat Controls' advanced parameters (see tests/test_providers.py).
ADVANCED = {"top_k": 40, "min_p": 0.0, "repeat_penalty": 1.1, "num_ctx": 2048,
            "keep_alive": "5m", "think": True, "format": "json", "seed": 0,
            "stop": ["###"], "frequency_penalty": 1.1, "logit_bias": "5678:-100",
            "mirostat": 0, "use_mmap": True, "num_gpu": 0}


def deltas(chunks: list, name: str) -> list:
    return [
        choice["delta"][name]
        for chunk in chunks
        if isinstance(chunk, dict)
        for choice in chunk.get("choices") or ()
        if name in (choice.get("delta") or {})
    ]


def usages(chunks: list) -> list[dict]:
    return [c["usage"] for c in chunks if isinstance(c, dict) and c.get("usage")]


def tool_calls(chunks: list) -> list[dict]:
    """Tool call deltas merged by index, as Open WebUI and the SDK merge them."""
    calls: dict[int, dict] = {}
    for delta in deltas(chunks, "tool_calls"):
        for part in delta:
            call = calls.setdefault(part["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] = part.get("id") or call["id"]
            function = part.get("function") or {}
            call["name"] = function.get("name") or call["name"]
            call["arguments"] += function.get("arguments") or ""
    return [calls[index] for index in sorted(calls)]


@pytest.fixture
def openai(openai_host):
    """The pipe on api.openai.com (through the fake), RESPONSES_API at its default."""
    openai_host.saved_valves["RESPONSES_API"] = "auto"
    return openai_host


# ---- which wire ----------------------------------------------------------------------


async def test_auto_takes_reasoning_models_to_responses_and_chat_models_to_chat(
    openai, upstream
):
    chunks = await openai.stream(api_body("o3", QUESTION, stream=True), user_valves=USER)
    assert not errors_of(chunks), errors_of(chunks)
    assert text_of(chunks) == answer_text(QUESTION)
    assert "".join(deltas(chunks, "reasoning_content")) == f"Thinking about: {QUESTION}"
    [usage] = usages(chunks)  # once
    assert usage["completion_tokens_details"]["reasoning_tokens"] > 0
    [record] = upstream.responses_requests()
    assert record.key == ALICE and record.body["reasoning"]["summary"] == "auto"
    assert record.body["store"] is False
    assert upstream.chat_requests() == []

    chunks = await openai.stream(api_body("gpt-4o", QUESTION, stream=True), user_valves=USER)
    assert text_of(chunks) == answer_text(QUESTION)
    assert len(upstream.chat_requests()) == 1 and len(upstream.responses_requests()) == 1


async def test_never_keeps_reasoning_models_on_chat(openai, upstream):
    openai.saved_valves["RESPONSES_API"] = "never"
    chunks = await openai.stream(api_body("o3", QUESTION, stream=True), user_valves=USER)
    assert text_of(chunks) == answer_text(QUESTION)
    assert upstream.responses_requests() == [] and len(upstream.chat_requests()) == 1
    names = {m["id"].split(".", 1)[1] for m in await openai.models()}
    assert not names & {"o1-pro", "o3-pro", "gpt-5-pro", "gpt-5-codex"}


async def test_responses_only_models_are_offered_and_answer(openai, upstream):
    names = {m["id"].split(".", 1)[1] for m in await openai.models()}
    assert {"o1-pro", "o3-pro", "gpt-5-pro", "gpt-5-codex", "codex-mini-latest"} <= names
    assert not names & {"o3-deep-research", "computer-use-preview", "gpt-realtime"}
    for model in ("o3-pro", "gpt-5-pro", "gpt-5-codex"):
        body = api_body(model, QUESTION, stream=True, reasoning_effort="minimal")
        chunks = await openai.stream(body, user_valves=USER)
        assert text_of(chunks) == answer_text(QUESTION), errors_of(chunks)
    efforts = [r.body["reasoning"]["effort"] for r in upstream.responses_requests()]
    assert efforts == ["low", "high", "low"]  # coerced per family at the first attempt
    assert upstream.chat_requests() == []


async def test_always_uses_responses_anywhere_with_nothing_it_refuses(host, upstream):
    host.saved_valves["RESPONSES_API"] = "always"
    body = web_body("gpt-4o", QUESTION, **ADVANCED)
    chunks = await host.stream(body, user_valves=USER)
    assert text_of(chunks) == answer_text(QUESTION), errors_of(chunks)
    [record] = upstream.responses_requests()  # accepted at the first attempt
    assert not set(record.body) & set(ADVANCED)
    assert record.body["tools"] and record.body["instructions"]


async def test_a_background_task_gets_a_chat_completion(openai, upstream):
    result = await openai.call(task_body("o4-mini", "title"), task="title_generation",
                               user_valves=USER)
    assert result["object"] == "chat.completion"
    assert result["choices"][0]["message"]["content"]
    assert result["usage"]["prompt_tokens"] > 0
    [record] = upstream.responses_requests()
    assert record.body["stream"] is False and record.body["max_output_tokens"] == 1000


# ---- an endpoint without /responses --------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_no_responses_route_falls_back_to_chat_once_and_is_remembered(
    openai, upstream, stream
):
    upstream.serves_responses = False
    for _ in range(2):
        result = await (openai.stream if stream else openai.call)(
            api_body("o3", QUESTION, stream=stream), user_valves=USER)
        text = text_of(result) if stream else result["choices"][0]["message"]["content"]
        assert text == answer_text(QUESTION)
    assert len(upstream.responses_requests()) == 1  # tried once, then remembered
    assert len(upstream.chat_requests()) == 2


async def test_always_does_not_fall_back(host, upstream):
    host.saved_valves["RESPONSES_API"] = "always"
    upstream.serves_responses = False
    [message] = errors_of(await host.stream(api_body("gpt-4o", QUESTION, stream=True),
                                            user_valves=USER))
    assert "404" in message and upstream.chat_requests() == []


async def test_an_unknown_model_is_not_taken_for_a_missing_route(openai, upstream):
    [message] = errors_of(await openai.stream(api_body("o9-imaginary", "hi", stream=True),
                                              user_valves=USER))
    assert "o9-imaginary" in message and "404" in message
    assert upstream.chat_requests() == []


# ---- a tool-calling turn, as Open WebUI runs it ---------------------------------------


async def test_tools_keep_their_reasoning_and_the_reasoning_goes_back(openai, upstream):
    """gpt-5.2, tools and reasoning_effort high: the call, then the answer after it.

    Open WebUI runs the call and sends the chat again with the assistant's tool call
    (and the `reasoning_details` the pipe gave it) and the tool's result.
    """
    body = web_body("gpt-5.2", "what time is it? [[tool:get_current_timestamp]]",
                    reasoning_effort="high")
    first = await openai.stream(body, user_valves=USER)
    assert not errors_of(first), errors_of(first)
    [call] = tool_calls(first)
    assert call["name"] == "get_current_timestamp" and call["id"].startswith("call_")
    [details] = deltas(first, "reasoning_details")
    assert details[0]["type"] == "reasoning.encrypted"
    assert details[0]["data"] in upstream.issued_reasoning
    [request] = upstream.responses_requests()
    assert request.body["reasoning"]["effort"] == "high" and request.body["tools"]

    assistant = {"role": "assistant", "content": "", "reasoning_details": details,
                 "tool_calls": [{"id": call["id"], "type": "function", "function": {
                     "name": call["name"], "arguments": call["arguments"]}}]}
    tool = {"role": "tool", "tool_call_id": call["id"], "content": "12:00"}
    follow_up = {**body, "messages": [*body["messages"], assistant, tool]}
    second = await openai.stream(follow_up, user_valves=USER)
    assert text_of(second) == "Tool said: 12:00", errors_of(second)
    items = upstream.responses_requests()[1].body["input"]
    kinds = [item.get("type", "message") for item in items]
    assert kinds == ["message", "reasoning", "function_call", "function_call_output"]
    assert items[1]["encrypted_content"] == details[0]["data"]
    assert len(usages(first)) == len(usages(second)) == 1


async def test_status_line_counts_the_reasoning_tokens(openai):
    events = []

    async def emit(event):
        events.append(event)

    await openai.stream(api_body("o3", QUESTION, stream=True), user_valves=USER,
                        emitter=emit)
    [line] = [e["data"]["description"] for e in events if e["data"]["done"]]
    assert "reasoning)" in line and "$" in line  # OpenAI's list price for o3
