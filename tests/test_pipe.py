"""The built pipe, called as Open WebUI calls it, against a real OpenAI-like server."""

import asyncio
import json
import time

import pytest

from tests.conftest import ALICE, BOB, GLOBAL
from tests.owhost import WEB_TOOLS, api_body, errors_of, task_body, text_of, web_body
from tests.upstream import answer_chunks, answer_text


def closed_port_url() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# ---- pipes(): model discovery ------------------------------------------------


async def test_models_are_filtered_prefixed_and_namespaced(host):
    models = await host.models()
    names = {m["name"] for m in models}
    assert "OPENAI/gpt-4o" in names and "OPENAI/o3" in names
    assert not {"OPENAI/whisper-1", "OPENAI/dall-e-3", "OPENAI/o1-pro"} & names
    assert all(m["id"] == "openai_manifold_pipe." + m["name"][7:] for m in models)


async def test_valve_changes_show_at_next_listing_without_refetch(host, upstream):
    await host.models()
    host.saved_valves |= {"NAME_PREFIX": "GPT/", "MODEL_ALLOWLIST": "gpt-4o*, my-tune",
                          "MODEL_BLOCKLIST": "gpt-4o-mini"}
    names = [m["name"] for m in await host.models()]
    assert names == ["GPT/gpt-4o", "GPT/gpt-4o-search-preview", "GPT/my-tune"]
    assert len([r for r in upstream.requests if r.path == "/v1/models"]) == 1
    assert upstream.requests[0].key == GLOBAL


async def test_no_global_key_gives_one_explaining_entry(host, upstream):
    host.saved_valves["OPENAI_API_KEY"] = ""
    [entry] = await host.models()
    assert "OPENAI_API_KEY" in entry["name"] and entry["name"].startswith("OPENAI/")
    assert not upstream.requests
    answer = await host.call(api_body(entry["id"].split(".", 1)[1], "hi", stream=False))
    assert "OPENAI_API_KEY" in answer["error"]["detail"] and not upstream.requests


async def test_exact_allowlist_ids_without_key_or_listing(host):
    host.saved_valves |= {"OPENAI_API_KEY": "", "MODEL_ALLOWLIST": "gpt-4o, o*"}
    assert [m["name"] for m in await host.models()] == ["OPENAI/gpt-4o"]
    host.saved_valves |= {"OPENAI_API_KEY": GLOBAL, "OPENAI_API_BASE_URL": closed_port_url()}
    assert [m["name"] for m in await host.models()] == ["OPENAI/gpt-4o"]


async def test_rejected_global_key_never_shows_the_key(host):
    host.saved_valves["OPENAI_API_KEY"] = "sk-wrong-key-abcdefghijklmnop"
    [entry] = await host.models()
    assert "rejected" in entry["name"] and "OPENAI_API_KEY" in entry["name"]
    assert "sk-wrong" not in entry["name"] and "mnop" not in entry["name"]


async def test_dead_endpoint_is_bounded_and_cached(host):
    host.saved_valves["OPENAI_API_BASE_URL"] = closed_port_url()
    [entry] = await host.models()
    assert "OPENAI_API_BASE_URL" in entry["name"]
    started = time.monotonic()
    await host.models()
    assert time.monotonic() - started < 0.05


async def test_slow_models_endpoint_costs_one_short_timeout_then_last_good(host, upstream):
    good = await host.models()
    host.saved_valves["MODEL_CACHE_TTL"] = 0
    upstream.add_fault("delay_headers", seconds=8, path="/v1/models")
    started = time.monotonic()
    assert await host.models() == good
    assert time.monotonic() - started < 6


# ---- pipe(): streaming -----------------------------------------------------------


async def test_stream_forwards_chunks_in_order_with_usage_once(host, upstream):
    chunks = await host.stream(api_body("gpt-4o", "hello there world", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE})
    assert text_of(chunks) == answer_text("hello there world")
    assert chunks.count("[DONE]") == 1 and chunks[-1] == "[DONE]"
    assert sum(1 for c in chunks if isinstance(c, dict) and c.get("usage")) == 1
    stops = [c for c in chunks if isinstance(c, dict) and c.get("choices")
             and c["choices"][0].get("finish_reason") == "stop"]
    assert len(stops) == 2  # the upstream's and Open WebUI's own
    request = upstream.last_chat()
    assert request.key == ALICE and request.body["stream_options"] == {"include_usage": True}
    assert request.body["model"] == "gpt-4o"


async def test_long_stream_arrives_whole(host):
    chunks = await host.stream(api_body("gpt-4o", "x [[chunks:2000]]", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE})
    assert text_of(chunks) == "".join(answer_chunks("x [[chunks:2000]]"))
    assert len([c for c in chunks if isinstance(c, dict) and c.get("choices")]) >= 2000


async def test_web_body_with_22_tools_reaches_openai_first_time(openai_host, upstream):
    chunks = await openai_host.stream(web_body("gpt-4o", "hi", top_k=40, num_ctx=4096),
                               user_valves={"OPENAI_API_KEY": BOB})
    assert text_of(chunks) == answer_text("hi") and not errors_of(chunks)
    sent = upstream.last_chat().body
    assert len(sent["tools"]) == len(WEB_TOOLS) == 22
    assert "top_k" not in sent and "num_ctx" not in sent
    assert len(upstream.chat_requests()) == 1


async def test_other_endpoints_get_provider_parameters_until_refused(host, upstream):
    chunks = await host.stream(web_body("gpt-4o", "hi", top_k=40, num_ctx=4096),
                               user_valves={"OPENAI_API_KEY": BOB})
    assert text_of(chunks) == answer_text("hi") and not errors_of(chunks)
    first, second = upstream.chat_requests()
    assert first.body["top_k"] == 40 and "top_k" not in second.body and "num_ctx" not in second.body


async def test_refused_parameter_retried_once_and_remembered(host, upstream):
    body = api_body("gpt-4o", "hi", stream=True, top_k=40)
    chunks = await host.stream(body, user_valves={"OPENAI_API_KEY": ALICE})
    assert text_of(chunks) == answer_text("hi")
    assert [("top_k" in r.body) for r in upstream.chat_requests()] == [True, False]
    await host.stream(body, user_valves={"OPENAI_API_KEY": BOB})
    assert len(upstream.chat_requests()) == 3 and "top_k" not in upstream.last_chat().body


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5.1", "gpt-5.2", "gpt-5.4", "o3", "o4-mini",
                                   "o1", "o1-mini", "gpt-5-chat-latest"])
async def test_reasoning_models_accept_the_web_body_first_time(host, upstream, model):
    host.saved_valves["REASONING_EFFORT"] = "minimal"
    body = web_body(model, "think", stop=["\n\n"], top_p=0.9, frequency_penalty=0.1)
    chunks = await host.stream(body, user_valves={"OPENAI_API_KEY": ALICE})
    assert not errors_of(chunks) and text_of(chunks) == answer_text("think")
    assert len(upstream.chat_requests()) == 1


async def test_reasoning_effort_from_chat_is_coerced(host, upstream):
    body = api_body("o3", "x", stream=False, reasoning_effort="minimal", max_tokens=9)
    answer = await host.call(body, user_valves={"OPENAI_API_KEY": ALICE})
    assert answer["choices"][0]["message"]["content"] == answer_text("x")
    sent = upstream.last_chat().body
    assert sent["reasoning_effort"] == "low" and sent["max_completion_tokens"] == 9


@pytest.mark.parametrize("task", ["title_generation", "tags_generation", "follow_up_generation"])
async def test_background_tasks_on_reasoning_models(host, upstream, task):
    events = []

    async def emitter(event):
        events.append(event)

    answer = await host.call(task_body("gpt-5", task), user_valves={"OPENAI_API_KEY": ALICE},
                             emitter=emitter, task=task)
    assert isinstance(answer, dict) and answer["choices"][0]["message"]["content"]
    assert upstream.last_chat().body["max_completion_tokens"] == 1000
    assert events == []


async def test_non_streaming_returns_the_completion_dict(host):
    answer = await host.call(api_body("gpt-4.1", "plain", stream=False),
                             user_valves={"OPENAI_API_KEY": ALICE})
    assert answer["object"] == "chat.completion" and answer["usage"]["total_tokens"] > 0


async def test_reasoning_and_tool_call_chunks_are_forwarded(upstream):
    from tests.owhost import Host, load_pipe
    from tests.upstream import FakeOpenAI

    with FakeOpenAI(keys=(ALICE,), models=["deepseek-reasoner"], strict=False) as server:
        host = Host(load_pipe(), {"OPENAI_API_BASE_URL": server.base_url})
        chunks = await host.stream(web_body("deepseek-reasoner", "use [[tool:get_current_timestamp]]"),
                                   user_valves={"OPENAI_API_KEY": ALICE})
        await host.pipe.close()
    deltas = [c["choices"][0]["delta"] for c in chunks if isinstance(c, dict) and c.get("choices")]
    assert any(d.get("reasoning_content") for d in deltas)
    calls = [d["tool_calls"] for d in deltas if d.get("tool_calls")]
    assert calls and calls[0][0]["function"]["name"] == "get_current_timestamp"


# ---- keys ------------------------------------------------------------------------------


async def test_each_user_chats_on_their_own_key(host, upstream):
    async def chat(key, text):
        return await host.stream(api_body("gpt-4o", text, stream=True),
                                 user_valves={"OPENAI_API_KEY": key})

    results = await asyncio.gather(*(chat(ALICE if i % 2 else BOB, f"m{i}") for i in range(20)))
    for i, chunks in enumerate(results):
        assert text_of(chunks) == answer_text(f"m{i}")
    for request in upstream.chat_requests():
        index = int(request.body["messages"][-1]["content"][1:])
        assert request.key == (ALICE if index % 2 else BOB)


async def test_no_user_key_is_explained_without_calling_upstream(host, upstream):
    chunks = await host.stream(api_body("gpt-4o", "hi", stream=True))
    assert errors_of(chunks)[0].startswith("OPENAI_API_KEY not provided by the user.")
    answer = await host.call(api_body("gpt-4o", "hi", stream=False))
    assert answer["error"]["detail"].startswith("OPENAI_API_KEY not provided by the user.")
    assert not upstream.chat_requests()


async def test_global_fallback_and_no_key_at_all(host, upstream):
    host.saved_valves["ALLOW_GLOBAL_KEY_FALLBACK"] = True
    await host.call(api_body("gpt-4o", "hi", stream=False))
    assert upstream.last_chat().key == GLOBAL
    host.saved_valves["OPENAI_API_KEY"] = ""
    await host.call(api_body("gpt-4o", "hi", stream=False))
    assert upstream.last_chat().raw_authorization is None


async def test_organization_and_project_headers(host, upstream):
    await host.call(api_body("gpt-4o", "hi", stream=False),
                    user_valves={"OPENAI_API_KEY": ALICE, "ORGANIZATION_ID": "org-1",
                                 "PROJECT_ID": "proj_2"})
    headers = upstream.last_chat().headers
    assert headers["openai-organization"] == "org-1" and headers["openai-project"] == "proj_2"


# ---- failures -----------------------------------------------------------------------------


async def test_wrong_key_message_holds_no_part_of_it(host):
    wrong = "sk-proj-WRONGwrongWRONG1234567890zz"
    chunks = await host.stream(api_body("gpt-4o", "hi", stream=True),
                               user_valves={"OPENAI_API_KEY": wrong})
    [message] = errors_of(chunks)
    assert "401" in message and "OPENAI_API_KEY" in message
    assert all(wrong[i : i + 8] not in message for i in range(len(wrong) - 7))


async def test_echoed_full_key_is_redacted(host, upstream):
    upstream.add_fault("echo_key_401")
    answer = await host.call(api_body("gpt-4o", "hi", stream=False),
                             user_valves={"OPENAI_API_KEY": ALICE})
    assert ALICE[:8] not in str(answer) and ALICE[-8:] not in str(answer)


async def test_unknown_model_404(host):
    answer = await host.call(api_body("gpt-9-imaginary", "hi", stream=False),
                             user_valves={"OPENAI_API_KEY": ALICE})
    assert "404" in answer["error"]["message"] and "gpt-9-imaginary" in answer["error"]["message"]


async def test_rate_limit_is_retried_with_status_line(host, upstream):
    upstream.add_fault("status", code=429, headers={"retry-after-ms": "50"}, times=2)
    events = []

    async def emitter(event):
        events.append(event)

    chunks = await host.stream(api_body("gpt-4o", "hi", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE}, emitter=emitter)
    assert text_of(chunks) == answer_text("hi") and len(upstream.chat_requests()) == 3
    descriptions = [e["data"]["description"] for e in events]
    assert sum("Retrying" in d and "429" in d for d in descriptions) == 2
    assert events[-1]["data"]["done"] is True and " out" in descriptions[-1]


async def test_insufficient_quota_is_not_retried(host, upstream):
    upstream.add_fault("status", code=429, quota=True)
    chunks = await host.stream(api_body("gpt-4o", "hi", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE})
    assert "credit" in errors_of(chunks)[0] and len(upstream.chat_requests()) == 1


async def test_server_errors_exhaust_retries(host, upstream):
    host.saved_valves["MAX_RETRIES"] = 1
    upstream.add_fault("status", code=502, html=True, times=5)
    started = time.monotonic()
    answer = await host.call(api_body("gpt-4o", "hi", stream=False),
                             user_valves={"OPENAI_API_KEY": ALICE})
    assert "502" in answer["error"]["message"] and "<html" not in answer["error"]["message"]
    assert len(upstream.chat_requests()) == 2 and time.monotonic() - started < 5


async def test_long_retry_after_is_handed_to_the_user(host, upstream):
    upstream.add_fault("status", code=429, headers={"Retry-After": "120"})
    answer = await host.call(api_body("gpt-4o", "hi", stream=False),
                             user_valves={"OPENAI_API_KEY": ALICE})
    assert "120 seconds" in answer["error"]["message"] and len(upstream.chat_requests()) == 1


async def test_timeout_before_first_byte_is_not_retried(host, upstream):
    host.saved_valves["REQUEST_TIMEOUT"] = 1
    upstream.add_fault("delay_headers", seconds=3)
    chunks = await host.stream(api_body("gpt-4o", "hi", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE})
    assert "REQUEST_TIMEOUT" in errors_of(chunks)[0] and len(upstream.chat_requests()) == 1


async def test_connection_refused(host):
    host.saved_valves["OPENAI_API_BASE_URL"] = closed_port_url()
    host.saved_valves["MAX_RETRIES"] = 0
    chunks = await host.stream(api_body("gpt-4o", "hi", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE})
    assert "OPENAI_API_BASE_URL" in errors_of(chunks)[0]


@pytest.mark.parametrize("kind", ["cut", "malformed", "stream_error", "stall"])
async def test_mid_stream_failure_keeps_the_text_then_explains(host, upstream, kind):
    host.saved_valves["REQUEST_TIMEOUT"] = 1
    upstream.add_fault(kind, after=2, seconds=3)
    chunks = await host.stream(api_body("gpt-4o", "one two three four five six", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE})
    [message] = errors_of(chunks)
    assert text_of(chunks) and answer_text("one two three four five six").startswith(text_of(chunks))
    assert chunks[-1] == "[DONE]" and "Traceback" not in message


@pytest.mark.parametrize("kind", ["not_sse", "json_instead_of_sse"])
async def test_odd_200_bodies(host, upstream, kind):
    upstream.add_fault(kind)
    chunks = await host.stream(api_body("gpt-4o", "hi", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE})
    if kind == "not_sse":
        assert "OPENAI_API_BASE_URL" in errors_of(chunks)[0]
    else:
        assert text_of(chunks) == answer_text("hi") and not errors_of(chunks)


async def test_stopping_a_stream_closes_the_upstream_connection(host, upstream):
    result = await host.call(api_body("gpt-4o", "x [[chunks:500]] [[delay:0.01]]", stream=True),
                             user_valves={"OPENAI_API_KEY": ALICE})
    async for _ in result:
        break
    await result.aclose()
    record = await upstream.wait_for(lambda r: r.disconnected, timeout=3)
    assert record.key == ALICE


async def test_text_received_before_a_cut_reaches_a_slow_reader(host):
    """Open WebUI may be busy when the cut arrives: buffered text must still come first."""
    text = "tell me a long story [[chunks:8]] [[delay:0.02]] [[fault:cut after=4]]"
    result = await host.call(api_body("gpt-4o", text, stream=True),
                             user_valves={"OPENAI_API_KEY": ALICE})
    items = [await result.__anext__()]
    await asyncio.sleep(0.5)  # the rest and the cut land while the reader is paused
    items += [item async for item in result]
    chunks = [json.loads(i[5:]) if isinstance(i, str) else i for i in items]
    assert text_of(chunks) == "".join(answer_chunks(text)[:4])
    assert "cut off" in errors_of(chunks)[0]
