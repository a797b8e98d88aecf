"""The fake OpenAI server itself, probed with raw aiohttp requests.

Every other test trusts `tests.upstream.FakeOpenAI` to behave like api.openai.com (or
like a permissive vLLM-style server) and to inject its faults faithfully; these tests
are what that trust rests on. They talk plain HTTP to it, exactly as the pipe does.
"""

from __future__ import annotations

import asyncio
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
from tests.upstream import (
    DEFAULT_KEY,
    OPENAI_MODELS,
    FakeOpenAI,
    answer_chunks,
    answer_text,
)

ROOT = Path(__file__).resolve().parent.parent
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


# ---- fixtures and helpers ------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_server() -> Iterator[FakeOpenAI]:
    """One strict server for the module: it runs in its own thread, so any loop works."""
    models = OPENAI_MODELS + ["deepseek-reasoner", "qwen3-thinking"]
    with FakeOpenAI(models=models) as server:
        yield server






def chat_body(text: str = "hello world", model: str = "gpt-4o", **extra) -> dict:
    """A minimal chat completions body."""
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


async def post_chat(
    http: aiohttp.ClientSession,
    server: FakeOpenAI,
    body: dict,
    key: str | None = DEFAULT_KEY,
) -> tuple[int, dict | str]:
    """POST a chat and return (status, parsed JSON or raw text)."""
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return await post_json(http, f"{server.base_url}/chat/completions", body, headers)


def parse_sse(raw: str) -> list[dict | str]:
    """The `data:` payloads of an SSE body: dicts, or "[DONE]"."""
    events: list[dict | str] = []
    for block in raw.split("\n\n"):
        if not block.startswith("data: "):
            continue
        payload = block[len("data: ") :]
        events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


async def stream_chat(
    http: aiohttp.ClientSession, server: FakeOpenAI, body: dict
) -> tuple[aiohttp.ClientResponse, list[dict | str]]:
    """POST a streaming chat and parse the whole SSE body."""
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    url = f"{server.base_url}/chat/completions"
    async with http.post(
        url, json={**body, "stream": True}, headers=headers
    ) as response:
        raw = await response.text()
    return response, parse_sse(raw)


# ---- auth and argument rules -----------------------------------------------------------


async def test_auth_is_checked_like_openai(server: FakeOpenAI, http) -> None:
    status, body = await post_chat(http, server, chat_body(), key=None)
    assert status == 401
    assert body["error"]["message"].startswith("You didn't provide an API key.")
    assert body["error"]["code"] is None
    assert body["error"]["type"] == "invalid_request_error"

    wrong = "sk-abc12345678901234567890wxyz"
    status, body = await post_chat(http, server, chat_body(), key=wrong)
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"
    assert "Incorrect API key provided: sk-abc12******************wxyz." in (
        body["error"]["message"]
    )
    assert wrong not in body["error"]["message"]

    status, _ = await post_chat(http, server, chat_body())
    assert status == 200
    assert [r.key for r in server.requests] == [None, wrong, DEFAULT_KEY]
    assert server.last_chat().headers["authorization"] == f"Bearer {DEFAULT_KEY}"


async def test_models_listing_and_no_auth_server(http) -> None:
    with FakeOpenAI(keys=None, models=["llama3", "mistral"]) as local:
        async with http.get(f"{local.base_url}/models") as response:
            listing = await response.json()
        assert response.status == 200
        assert [m["id"] for m in listing["data"]] == ["llama3", "mistral"]
        assert set(listing["data"][0]) == {"id", "object", "created", "owned_by"}
        status, _ = await post_chat(http, local, chat_body(model="llama3"), key=None)
        assert status == 200
    with FakeOpenAI(list_models=False) as bare:
        headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
        async with http.get(f"{bare.base_url}/models", headers=headers) as response:
            assert response.status == 404


async def test_prefix_moves_the_api_and_faults_and_records_follow(http) -> None:
    with FakeOpenAI(prefix="/openai/v1", models=["gpt-4o"]) as server:
        assert server.base_url.endswith("/openai/v1")
        assert server.chat_path == "/openai/v1/chat/completions"
        headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
        async with http.get(f"{server.base_url}/models", headers=headers) as response:
            assert response.status == 200
        async with http.get(f"{server.origin}/v1/models", headers=headers) as response:
            assert response.status == 404  # OpenAI's "Invalid URL" off the prefix
        server.add_fault("status", code=503)  # default path: this server's chat path
        url = f"{server.base_url}/chat/completions?api-version=2024-10-21"
        async with http.post(url, json=chat_body(), headers=headers) as response:
            assert response.status == 503
        status, _ = await post_chat(http, server, chat_body())
        assert status == 200
        chats = server.chat_requests()
        assert [r.status for r in chats] == [503, 200]
        assert chats[0].query == {"api-version": "2024-10-21"} and chats[1].query == {}
        assert [r.path for r in server.model_requests()] == ["/openai/v1/models"]
    with pytest.raises(ValueError):
        FakeOpenAI(prefix="v1/")


async def test_strict_rejects_unknown_arguments_permissive_accepts(
    server: FakeOpenAI, http
) -> None:
    status, body = await post_chat(http, server, chat_body(top_k=40))
    assert status == 400
    assert body == {
        "error": {
            "message": "Unrecognized request argument supplied: top_k",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    with FakeOpenAI(strict=False) as permissive:
        body = chat_body(top_k=40, min_p=0.05, max_tokens=20, model="o3")
        status, _ = await post_chat(http, permissive, body)
        assert status == 200


REASONING_CASES = [
    # (model, extra arguments, expected status, expected error param, code)
    ("o3", {"max_tokens": 10}, 400, "max_tokens", "unsupported_parameter"),
    ("o3", {"max_completion_tokens": 10}, 200, None, None),
    ("o3", {"temperature": 0.3}, 400, "temperature", "unsupported_value"),
    ("o3", {"temperature": 1}, 200, None, None),
    ("o3", {"top_p": 0.9}, 400, "top_p", "unsupported_parameter"),
    (
        "o3",
        {"reasoning_effort": "minimal"},
        400,
        "reasoning_effort",
        "unsupported_value",
    ),
    ("o3", {"stop": ["\n"]}, 400, "stop", "unsupported_parameter"),
    ("o4-mini", {"stop": ["\n"]}, 400, "stop", "unsupported_parameter"),
    ("o3-mini", {"stop": ["\n"]}, 200, None, None),
    (
        "o1-mini",
        {"reasoning_effort": "low"},
        400,
        "reasoning_effort",
        "unsupported_parameter",
    ),
    ("gpt-5", {"reasoning_effort": "minimal"}, 200, None, None),
    ("gpt-5", {"temperature": 0.5}, 400, "temperature", "unsupported_value"),
    ("gpt-5", {"logprobs": True}, 400, "logprobs", "unsupported_parameter"),
    ("gpt-5.1", {"temperature": 0.5}, 200, None, None),
    (
        "gpt-5.1",
        {"temperature": 0.5, "reasoning_effort": "low"},
        400,
        "temperature",
        "unsupported_value",
    ),
    (
        "gpt-5.1",
        {"presence_penalty": 0.5},
        400,
        "presence_penalty",
        "unsupported_parameter",
    ),
    (
        "gpt-5.1",
        {"reasoning_effort": "xhigh"},
        400,
        "reasoning_effort",
        "unsupported_value",
    ),
    ("gpt-5.2", {"reasoning_effort": "xhigh"}, 200, None, None),
    ("gpt-5.2", {"tools": [WEATHER_TOOL]}, 400, "reasoning_effort", None),
    ("gpt-5.2", {"tools": [WEATHER_TOOL], "reasoning_effort": "none"}, 200, None, None),
    ("gpt-5-chat-latest", {"max_tokens": 10, "temperature": 0.2}, 200, None, None),
    (
        "gpt-4o",
        {"reasoning_effort": "low"},
        400,
        "reasoning_effort",
        "unsupported_parameter",
    ),
    (
        "gpt-4o",
        {"stream_options": {"include_usage": True}},
        400,
        "stream_options",
        None,
    ),
    ("gpt-4o", {"presence_penalty": 0.5, "max_tokens": 50}, 200, None, None),
    ("gpt-9000", {}, 404, None, "model_not_found"),
    ("text-embedding-3-small", {}, 404, "model", None),
    ("o3-pro", {}, 404, "model", None),
]


@pytest.mark.parametrize("model,extra,status,param,code", REASONING_CASES)
async def test_reasoning_family_rules(
    server: FakeOpenAI, http, model, extra, status, param, code
) -> None:
    got_status, body = await post_chat(http, server, chat_body(model=model, **extra))
    assert got_status == status, body
    if status != 200:
        assert body["error"]["param"] == param
        assert body["error"]["code"] == code


async def test_reasoning_error_messages_are_openais(server: FakeOpenAI, http) -> None:
    _, body = await post_chat(http, server, chat_body(model="o3", temperature=0.3))
    assert body["error"]["message"] == (
        "Unsupported value: 'temperature' does not support 0.3 with this model. "
        "Only the default (1) value is supported."
    )
    _, body = await post_chat(
        http, server, chat_body(model="o3", reasoning_effort="minimal")
    )
    assert body["error"]["message"] == (
        "Unsupported value: 'reasoning_effort' does not support 'minimal' with this "
        "model. Supported values are: 'low', 'medium', and 'high'."
    )
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    body = {"model": "o1-preview", "messages": messages}
    _, answer = await post_chat(http, server, body)
    assert answer["error"]["param"] == "messages[0].role"
    assert answer["error"]["message"] == (
        "Unsupported value: 'messages[0].role' does not support 'system' with this model."
    )


# ---- answers -------------------------------------------------------------------------


async def test_stream_is_shaped_like_openais(server: FakeOpenAI, http) -> None:
    text = "stream me please"
    body = chat_body(text, stream_options={"include_usage": True})
    response, events = await stream_chat(http, server, body)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    chunks = events[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    content = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )
    assert content == answer_text(text) == "Echo: stream me please"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] == []
    usage = usage_chunk["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert all(c["usage"] is None for c in chunks[:-1])


async def test_stream_without_include_usage_has_no_usage(
    server: FakeOpenAI, http
) -> None:
    _, events = await stream_chat(http, server, chat_body("count [[chunks:25]]"))
    chunks = [e for e in events if isinstance(e, dict)]
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert len(contents) == 25 == len(answer_chunks("count [[chunks:25]]"))
    assert all("usage" not in c for c in chunks)
    assert events[-1] == "[DONE]"


async def test_reasoning_models_report_or_stream_reasoning(
    server: FakeOpenAI, http
) -> None:
    body = chat_body("think", model="o3", stream_options={"include_usage": True})
    _, events = await stream_chat(http, server, body)
    assert events[-2]["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0

    _, events = await stream_chat(
        http, server, chat_body("why", model="deepseek-reasoner")
    )
    deltas = [e["choices"][0]["delta"] for e in events if isinstance(e, dict)]
    reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
    assert reasoning == "Thinking about: why"
    # All reasoning comes before the first content chunk, as DeepSeek streams it.
    last_thought = max(i for i, d in enumerate(deltas) if d.get("reasoning_content"))
    first_text = min(i for i, d in enumerate(deltas) if d.get("content"))
    assert last_thought < first_text

    status, completion = await post_chat(
        http, server, chat_body("why", model="qwen3-thinking")
    )
    assert status == 200
    message = completion["choices"][0]["message"]
    assert message["reasoning"] == "Thinking about: why"
    assert message["content"] == "Echo: why"


async def test_non_streaming_completion(server: FakeOpenAI, http) -> None:
    status, completion = await post_chat(http, server, chat_body("plain answer"))
    assert status == 200
    assert completion["object"] == "chat.completion"
    choice = completion["choices"][0]
    assert choice["message"]["content"] == "Echo: plain answer"
    assert choice["finish_reason"] == "stop"
    assert completion["usage"]["completion_tokens"] == 3


async def test_tool_call_then_tool_result(server: FakeOpenAI, http) -> None:
    body = chat_body("weather in Paris? [[tool:get_weather]]", tools=[WEATHER_TOOL])
    _, events = await stream_chat(http, server, body)
    chunks = [e for e in events if isinstance(e, dict)]
    first = chunks[0]["choices"][0]["delta"]["tool_calls"][0]
    assert first["index"] == 0 and first["type"] == "function"
    assert first["function"] == {"name": "get_weather", "arguments": ""}
    fragments = [
        c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for c in chunks[1:-1]
    ]
    assert len(fragments) > 1 and json.loads("".join(fragments))["city"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"

    messages = [
        {"role": "user", "content": "weather? [[tool:get_weather]]"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": first["id"],
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": first["id"], "content": "sunny, 21 C"},
    ]
    body = {"model": "gpt-4o", "messages": messages, "tools": [WEATHER_TOOL]}
    _, completion = await post_chat(http, server, body)
    assert completion["choices"][0]["message"]["content"] == "Tool said: sunny, 21 C"


# ---- faults --------------------------------------------------------------------------


async def test_cut_fault_gives_the_client_a_payload_error(
    server: FakeOpenAI, http
) -> None:
    server.add_fault("cut", after=2)
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    url = f"{server.base_url}/chat/completions"
    seen: list[bytes] = []
    with pytest.raises(aiohttp.ClientPayloadError):
        body = chat_body("one two three four five", stream=True)
        async with http.post(url, json=body, headers=headers) as response:
            assert response.status == 200
            async for line in response.content:
                seen.append(line)
    data = [line for line in seen if line.startswith(b"data: ")]
    assert len(data) == 3  # the role chunk, then exactly two answer chunks
    assert server.last_chat().faults == ["cut"]
    status, _ = await post_chat(http, server, chat_body())  # consumed: normal again
    assert status == 200


async def test_in_message_fault_trigger(server: FakeOpenAI, http) -> None:
    text = "hi [[fault:status code=503 times=1 retry_after=2 id=t1]]"
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    url = f"{server.base_url}/chat/completions"
    async with http.post(url, json=chat_body(text), headers=headers) as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == "2"
        error = (await response.json())["error"]
        assert error["type"] == "server_error"
    status, completion = await post_chat(http, server, chat_body(text))
    assert status == 200  # times=1: the retry goes through
    assert completion["choices"][0]["message"]["content"] == "Echo: hi"

    quota = "hi [[fault:status code=insufficient_quota]]"
    for _ in range(2):  # no times: every request carrying the marker
        status, body = await post_chat(http, server, chat_body(quota))
        assert status == 429 and body["error"]["code"] == "insufficient_quota"

    task = "### Task:\nGenerate a concise title.\n<chat_history>\nUSER: " + quota
    status, completion = await post_chat(http, server, chat_body(task))
    assert status == 200  # Open WebUI's task prompts quote markers: ignored
    assert json.loads(completion["choices"][0]["message"]["content"])["title"]


async def test_stall_and_client_disconnect_is_recorded(
    server: FakeOpenAI, http
) -> None:
    server.add_fault("stall", after=1, seconds=30)
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    url = f"{server.base_url}/chat/completions"
    timeout = aiohttp.ClientTimeout(sock_read=0.3)
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        body = chat_body("a b c", stream=True)
        async with http.post(
            url, json=body, headers=headers, timeout=timeout
        ) as response:
            async for _ in response.content:
                pass
    assert time.monotonic() - started < 5
    record = await server.wait_for(lambda r: r.disconnected, timeout=3)
    assert record.faults == ["stall"] and not record.completed


@pytest.mark.parametrize(
    "kind,opts,check",
    [
        ("refuse", {}, "disconnected"),
        ("not_sse", {}, "html"),
        ("json_instead_of_sse", {}, "json"),
        ("malformed", {"after": 1}, "malformed"),
        ("stream_error", {"after": 1}, "stream_error"),
        ("echo_key_401", {}, "echo"),
        ("status", {"code": 502, "html": True}, "html502"),
        ("status", {"code": 500, "empty": True}, "empty"),
        ("delay_headers", {"seconds": 0.2}, "slow"),
    ],
)
async def test_other_faults(server: FakeOpenAI, http, kind, opts, check) -> None:
    server.add_fault(kind, **opts)
    headers = {"Authorization": f"Bearer {DEFAULT_KEY}"}
    url = f"{server.base_url}/chat/completions"
    body = chat_body("x y z", stream=True)
    started = time.monotonic()
    if check == "disconnected":
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with http.post(url, json=body, headers=headers) as response:
                await response.read()
        return
    async with http.post(url, json=body, headers=headers) as response:
        raw = await response.text()
        content_type = response.headers.get("Content-Type", "")
    if check == "html":
        assert response.status == 200 and content_type.startswith("text/html")
    elif check == "json":
        assert content_type.startswith("application/json")
        assert json.loads(raw)["object"] == "chat.completion"
    elif check == "malformed":
        assert 'data: {"choices": [{"delta": {"content": "x\n\n' in raw
        assert raw.endswith("data: [DONE]\n\n")
    elif check == "stream_error":
        last = parse_sse(raw)[-1]
        assert last["error"]["type"] == "server_error" and "[DONE]" not in raw
    elif check == "echo":
        assert response.status == 401 and DEFAULT_KEY in raw
    elif check == "html502":
        assert response.status == 502 and "<html>" in raw
    elif check == "empty":
        assert response.status == 500 and raw == ""
    elif check == "slow":
        assert response.status == 200 and time.monotonic() - started >= 0.2
    assert server.last_chat().faults == [kind]


# ---- standalone use -------------------------------------------------------------------


def test_runs_standalone() -> None:
    """`python -m tests.upstream` serves until interrupted (manual testing)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tests.upstream", "--port", str(port), "--no-auth"]
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as process:
        try:
            banner = process.stdout.readline()
            assert f"http://127.0.0.1:{port}/v1" in banner
            url = f"http://127.0.0.1:{port}/v1/models"
            with urllib.request.urlopen(url, timeout=5) as response:
                assert json.load(response)["data"][0]["id"] == "gpt-4o"
        finally:
            process.terminate()
            process.wait(timeout=10)
