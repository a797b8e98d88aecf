"""Issue #7: every OpenAI-compatible provider, the compatibility matrix.

Each provider of `tests/providers.py` is served by a fake that lists, answers, refuses and
fails like it (cloud hosts reached through HTTP_PROXY, so the pipe sees their real host
names); the built pipe is loaded and called as Open WebUI does (`tests/owhost.py`). For
every provider: the model list the admin sees, a streamed and a non-streamed chat,
reasoning and usage where the provider sends them, its keys and headers, the parameter
policy, and its usual errors.
"""

from __future__ import annotations

import dataclasses
import json
import time

import aiohttp
import pytest

from tests.owhost import (
    Host,
    api_body,
    errors_of,
    load_pipe,
    responses_mode,
    text_of,
    web_body,
)
from tests.fakes.providers.openai_azure import AZURE_DEPLOYMENT_NAME
from tests.fakes.providers.routers import OPENROUTER_GENERATED
from tests.providers import (
    ANTHROPIC,
    AZURE_DEPLOYMENT,
    AZURE_V1,
    BY_NAME,
    ERRORS,
    GEMINI,
    LLAMACPP,
    LMSTUDIO,
    MISTRAL,
    OLLAMA,
    OPENAI,
    OPENROUTER,
    PROFILES,
    VLLM,
    Profile,
    ProviderServer,
    error_fragment,
    render_error,
)
from tests.upstream import CHAT_COMPLETION_PARAMS, answer_text

PROMPT = "Hello there"

# Chat Controls' advanced parameters, copied by Open WebUI 0.12.4 to the top of the body:
# sampling parameters many servers know, and Ollama's own options.
SAMPLING_EXTRAS = {"top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1}
OLLAMA_OPTIONS = {
    "num_ctx": 8192,
    "keep_alive": "5m",
    "think": True,
    "format": "json",
    "mirostat": 0,
    "repeat_last_n": 64,
}
ADVANCED = SAMPLING_EXTRAS | OLLAMA_OPTIONS
# Every field of Chat Controls > Advanced Params (0.12.4 AdvancedParams.svelte), as the
# page sends it once switched on (each field's first value): `stop` split into a list,
# `logit_bias` left as the field's text (apply_params_to_form_data copies it unconverted).
# Groq refuses six of them one per answer, more than the pipe once allowed for.
CHAT_CONTROLS = {
    "seed": 0,
    "stop": ["###"],
    "temperature": 0.8,
    "reasoning_effort": "medium",
    "logit_bias": "5678:-100",
    "max_tokens": 128,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "frequency_penalty": 1.1,
    "presence_penalty": 0.0,
    "mirostat": 0,
    "mirostat_eta": 0.1,
    "mirostat_tau": 5.0,
    "repeat_last_n": 64,
    "tfs_z": 1,
    "repeat_penalty": 1.1,
    "use_mmap": True,
    "use_mlock": True,
    "think": True,
    "format": "json",
    "keep_alive": "5m",
    "num_keep": 24,
    "num_ctx": 2048,
    "num_batch": 512,
    "num_thread": 2,
    "num_gpu": 0,
    # A custom parameter (Chat Controls' last section, deep-merged into the body): vLLM's.
    "chat_template_kwargs": {"enable_thinking": False},
}
# The fields above that only Ollama understands.
CHAT_CONTROLS_OLLAMA = {
    "mirostat", "mirostat_eta", "mirostat_tau", "repeat_last_n", "tfs_z", "use_mmap",
    "use_mlock", "think", "format", "keep_alive", "num_keep", "num_ctx", "num_batch",
    "num_thread", "num_gpu",
}
# Other providers' own parameters (a custom param, or a body from another client).
FOREIGN = {
    "repetition_penalty": 1.05,
    "top_a": 0.1,
    "typical_p": 0.9,
    "reasoning_format": "parsed",
    "safe_prompt": False,
    "random_seed": 7,
    "search_domain_filter": ["example.com"],
    "transforms": ["middle-out"],
    "provider": {"order": ["DeepInfra"]},
}
# Keys Open WebUI keeps for itself (HOST.md section 4); no upstream may see them.
INTERNAL = {
    "metadata": {"chat_id": "c-1", "message_id": "m-1", "user_id": "u-1"},
    "chat_id": "c-1",
    "id": "m-1",
    "session_id": "s-1",
    "parent_id": None,
    "features": {"web_search": False},
    "variables": {"{{USER_NAME}}": "U"},
    "params": {"temperature": 0.5},
    "tool_ids": [],
    "files": [],
    "background_tasks": {"title_generation": True},
    "function_calling": "native",
    "reasoning_tags": False,
    "stream_delta_chunk_size": 1,
    "system": "You are a helpful assistant.",
}
STANDARD = {"top_p": 0.9, "seed": 42, "stop": ["###"], "presence_penalty": 0.1}
# OpenAI's chat models that answer on /responses only (the fake's own list).
RESPONSES_ONLY = frozenset(
    {"o1-pro", "o3-pro", "gpt-5-pro", "gpt-5-codex", "codex-mini-latest"}
)

LISTED = [p for p in PROFILES if p.list_models]
UNLISTED = [p for p in PROFILES if not p.list_models and p.allowlist]
LOCAL = [p for p in PROFILES if not p.key]
KEYED = [p for p in PROFILES if p.key]
REASONING = [p for p in PROFILES if p.reasoning_model]
OPENAI_RULES = [OPENAI, AZURE_V1, AZURE_DEPLOYMENT]
PERMISSIVE = [p for p in PROFILES if p.accepted is None and not p.openai_rules]


def ids(profiles):
    return [p.name for p in profiles]


def upstream_ids(models: list[dict]) -> list[str]:
    return [m["id"].split(".", 1)[1] for m in models]


def user_valves(profile: Profile) -> dict | None:
    """Cloud users bring their own key; local servers run on the (empty) global one."""
    return {"OPENAI_API_KEY": profile.key} if profile.key else None


@pytest.fixture
async def connect(monkeypatch):
    """connect(profile, **valves) -> (host, server): the pipe pointed at a fake provider."""
    opened: list[tuple[Host, ProviderServer]] = []

    async def _connect(
        profile: Profile, *, server: ProviderServer | None = None, **valves
    ) -> tuple[Host, ProviderServer]:
        server = (server or ProviderServer(profile)).start()
        for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        if profile.host:
            monkeypatch.setenv("HTTP_PROXY", server.origin)
        saved = {"OPENAI_API_BASE_URL": profile.base_url(server)}
        if profile.key:
            saved["OPENAI_API_KEY"] = profile.global_key
        else:
            saved |= {"OPENAI_API_KEY": "", "ALLOW_GLOBAL_KEY_FALLBACK": True}
        if profile.allowlist:
            saved["MODEL_ALLOWLIST"] = profile.allowlist
        saved |= valves
        host = Host(load_pipe(), saved)
        opened.append((host, server))
        return host, server

    yield _connect
    for host, server in opened:
        await host.pipe.close()
        server.stop()


def usages(chunks: list) -> list[dict]:
    return [c["usage"] for c in chunks if isinstance(c, dict) and c.get("usage")]


def deltas(chunks: list, name: str) -> str:
    return "".join(
        (choice.get("delta") or {}).get(name) or ""
        for chunk in chunks
        if isinstance(chunk, dict)
        for choice in chunk.get("choices") or ()
    )


def body_keys(record) -> set[str]:
    return set(record.body or {})


# ======================================================================================
# The fakes themselves: each answers like its provider (raw HTTP, no pipe)
# ======================================================================================


async def test_fake_prefixes_and_paths():
    with ProviderServer(GEMINI) as server:
        assert server.base_url.endswith("/v1beta/openai")
        headers = {"Authorization": f"Bearer {GEMINI.key}"}
        async with aiohttp.ClientSession() as http:
            async with http.get(
                server.base_url + "/models", headers=headers
            ) as response:
                data = await response.json()
                assert response.status == 200
            async with http.get(
                server.origin + "/v1/models", headers=headers
            ) as response:
                assert response.status == 404
        assert data["data"][0]["id"].startswith("models/")
        assert [r.path for r in server.model_requests()] == ["/v1beta/openai/models"]


async def test_fake_azure_takes_api_key_header_and_needs_api_version():
    with ProviderServer(AZURE_DEPLOYMENT) as server:
        url = server.base_url + "/chat/completions"
        body = {
            "model": AZURE_DEPLOYMENT_NAME,
            "messages": [{"role": "user", "content": "x"}],
        }
        async with aiohttp.ClientSession() as http:
            bearer = {"Authorization": f"Bearer {AZURE_DEPLOYMENT.key}"}
            async with http.post(
                url + "?api-version=2024-10-21", json=body, headers=bearer
            ) as r:
                assert r.status == 401
                assert "Access denied" in (await r.json())["error"]["message"]
            key = {"api-key": AZURE_DEPLOYMENT.key}
            async with http.post(url, json=body, headers=key) as r:
                assert r.status == 404  # no api-version: "Resource not found"
            async with http.post(
                url + "?api-version=2024-10-21", json=body, headers=key
            ) as r:
                assert r.status == 200
        assert server.chat_requests()[-1].query == {"api-version": "2024-10-21"}


@pytest.mark.parametrize(
    "style, check",
    [
        ("2025", lambda d: d["detail"][0]["loc"] == ["body", "top_k"]),
        ("2024", lambda d: d["message"]["detail"][0]["type"] == "extra_forbidden"),
        (
            "fastapi",
            lambda d: d["detail"][0]["msg"] == "Extra inputs are not permitted",
        ),
    ],
)
async def test_fake_mistral_refuses_unknown_fields_with_422(style, check):
    with ProviderServer(MISTRAL, refusal_style=style) as server:
        body = {
            "model": "mistral-small-latest",
            "messages": [{"role": "user", "content": "x"}],
            "top_k": 40,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        headers = {"Authorization": f"Bearer {MISTRAL.key}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(
                server.base_url + "/chat/completions", json=body, headers=headers
            ) as response:
                data = await response.json()
                assert response.status == 422
        assert check(data)
        text = json.dumps(data)
        assert '"stream_options", "include_usage"' in text


async def test_fake_error_shapes_are_the_providers():
    status, text, ctype, _ = render_error("gemini", "auth", key=GEMINI.key)
    assert (
        status == 400 and json.loads(text)[0]["error"]["status"] == "INVALID_ARGUMENT"
    )
    status, text, _, _ = render_error("deepseek", "auth", key="sk-abcdWXYZ")
    assert status == 401 and "****WXYZ" in json.loads(text)["error"]["message"]
    status, text, ctype, _ = render_error("perplexity", "auth")
    assert status == 401 and ctype == "text/html" and "openresty" in text
    status, text, _, _ = render_error("mistral", "auth")
    assert json.loads(text)["message"] == "Unauthorized"
    status, text, _, _ = render_error("anthropic", "rate_limit")
    assert json.loads(text)["error"]["type"] == "rate_limit_error"


async def test_fake_anthropic_models_need_x_api_key():
    with ProviderServer(ANTHROPIC) as server:
        url = server.base_url + "/models"
        async with aiohttp.ClientSession() as http:
            bearer = {"Authorization": f"Bearer {ANTHROPIC.key}"}
            async with http.get(url, headers=bearer) as response:
                assert response.status == 401
                assert (await response.json())["error"]["message"] == (
                    "x-api-key header is required"
                )
            native = {"x-api-key": ANTHROPIC.key, "anthropic-version": "2023-06-01"}
            async with http.get(url, headers=native) as response:
                assert response.status == 200
                assert (await response.json())["data"][0]["type"] == "model"


# ======================================================================================
# The model list the admin sees
# ======================================================================================


@pytest.mark.parametrize("profile", LISTED, ids=ids(LISTED))
async def test_admin_sees_what_the_provider_can_chat_with(connect, profile):
    host, server = await connect(profile)
    models = await host.models()
    listed = set(upstream_ids(models))
    offered, hidden = profile.offered, profile.hidden
    if profile.openai_rules and responses_mode() != "never":
        # o1-pro, o3-pro, gpt-5-pro, the codex models: they chat on /responses.
        offered, hidden = offered | RESPONSES_ONLY, hidden - RESPONSES_ONLY
    assert offered & set(profile.models) <= listed, sorted(offered - listed)
    assert not hidden & listed, sorted(hidden & listed)
    assert all(m["name"].startswith("OPENAI/") for m in models)
    assert not any("setup" in m["id"] for m in models)


@pytest.mark.parametrize("profile", UNLISTED, ids=ids(UNLISTED))
async def test_providers_without_models_need_the_allowlist(connect, profile):
    host, _ = await connect(profile, MODEL_ALLOWLIST="")
    [entry] = await host.models()
    assert "MODEL_ALLOWLIST" in entry["name"]
    assert profile.global_key not in entry["name"]
    host.saved_valves["MODEL_ALLOWLIST"] = profile.allowlist
    assert set(upstream_ids(await host.models())) == profile.offered


async def test_azure_deployment_url_lists_its_deployment_without_models_call(connect):
    host, server = await connect(AZURE_DEPLOYMENT)
    models = await host.models()
    assert upstream_ids(models) == [AZURE_DEPLOYMENT_NAME]
    assert models[0]["name"] == f"OPENAI/{AZURE_DEPLOYMENT_NAME}"
    assert not [r for r in server.requests if r.method == "GET"]


async def test_anthropic_models_are_listed_with_its_native_headers(connect):
    host, server = await connect(ANTHROPIC)
    assert set(upstream_ids(await host.models())) == ANTHROPIC.offered
    [listing] = server.model_requests()
    assert listing.headers.get("x-api-key") == ANTHROPIC.global_key
    assert listing.headers.get("anthropic-version")


async def test_anthropic_allowlist_works_whatever_the_listing(connect):
    host, server = await connect(
        ANTHROPIC,
        MODEL_ALLOWLIST="claude-sonnet-4-5-20250929, claude-haiku-4-5-20251001",
    )
    assert {"claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"} <= set(
        upstream_ids(await host.models())
    )
    chunks = await host.stream(
        api_body("claude-sonnet-4-5-20250929", PROMPT, stream=True),
        user_valves=user_valves(ANTHROPIC),
    )
    assert text_of(chunks) == ANTHROPIC.expected_text(ANTHROPIC.chat_model, PROMPT)


async def test_openrouter_thousands_of_models_list_fast_and_once(connect):
    host, server = await connect(OPENROUTER)
    started = time.monotonic()
    models = await host.models()
    first = time.monotonic() - started
    assert len(models) >= len(OPENROUTER_GENERATED) + len(OPENROUTER.offered)
    assert set(OPENROUTER_GENERATED) <= set(upstream_ids(models))
    assert first < 3.0, f"first listing of {len(models)} models took {first:.2f} s"
    started = time.monotonic()
    for _ in range(5):
        assert len(await host.models()) == len(models)
    again = (time.monotonic() - started) / 5
    assert again < 0.25, f"a cached listing took {again:.3f} s"
    assert len(server.model_requests()) == 1


async def test_openrouter_glob_allowlist_narrows_the_list(connect):
    host, _ = await connect(
        OPENROUTER,
        MODEL_ALLOWLIST="anthropic/*, openai/gpt-4o*, openai/gpt-3.5-turbo-instruct*",
    )
    assert upstream_ids(await host.models()) == [
        "anthropic/claude-3.5-haiku",
        "anthropic/claude-sonnet-4.5",
        "openai/gpt-4o",
        "openai/gpt-4o-mini",
    ]


async def test_mistral_aliases_get_names_the_admin_can_tell_apart(connect):
    host, _ = await connect(MISTRAL)
    names = [m["name"] for m in await host.models()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


async def test_lmstudio_base_url_without_v1_says_what_to_fix(connect):
    host, server = await connect(LMSTUDIO)
    host.saved_valves["OPENAI_API_BASE_URL"] = server.origin  # forgot the /v1
    [entry] = await host.models()
    assert "OPENAI_API_BASE_URL" in entry["name"]


# ======================================================================================
# Chats: streamed and not, reasoning, usage, provider extras
# ======================================================================================


def assert_chat_request(profile: Profile, server: ProviderServer, record) -> None:
    """The chat went to the provider's path with its auth style and nothing else."""
    assert record.path == server.chat_path
    if profile.dialect == "azure":
        assert record.headers.get("api-key") == profile.key
        assert "authorization" not in record.headers
    elif profile.key:
        assert record.raw_authorization == f"Bearer {profile.key}"
        assert "api-key" not in record.headers
    else:
        assert "authorization" not in record.headers
    if profile is AZURE_DEPLOYMENT:
        assert record.query == {"api-version": "2024-10-21"}
    else:
        assert record.query == {}


@pytest.mark.parametrize("profile", PROFILES, ids=ids(PROFILES))
async def test_streamed_chat(connect, profile):
    host, server = await connect(profile)
    chunks = await host.stream(
        api_body(profile.chat_model, PROMPT, stream=True),
        user_valves=user_valves(profile),
    )
    assert not errors_of(chunks), errors_of(chunks)
    assert text_of(chunks) == profile.expected_text(profile.chat_model, PROMPT)
    assert chunks[-1] == "[DONE]" and chunks.count("[DONE]") == 1
    [usage] = usages(chunks)  # once, however the provider sends it
    assert usage["total_tokens"] > 0
    if profile.chunk_extra:
        assert any(isinstance(c, dict) and profile.chunk_extra in c for c in chunks)
    records = server.chat_requests()
    assert records and records[-1].stream
    if profile is not MISTRAL:  # Mistral refuses include_usage and always sends usage
        assert records[-1].body["stream_options"] == {"include_usage": True}
    assert_chat_request(profile, server, records[-1])


@pytest.mark.parametrize("profile", PROFILES, ids=ids(PROFILES))
async def test_non_streamed_chat(connect, profile):
    host, server = await connect(profile)
    result = await host.call(
        api_body(profile.chat_model, PROMPT, stream=False),
        user_valves=user_valves(profile),
    )
    assert "error" not in result, result
    message = result["choices"][0]["message"]
    assert message["content"] == profile.expected_text(profile.chat_model, PROMPT)
    assert result["usage"]["total_tokens"] > 0
    [record] = server.chat_requests()
    assert not record.stream and "stream_options" not in record.body
    assert_chat_request(profile, server, record)


@pytest.mark.parametrize("profile", REASONING, ids=ids(REASONING))
async def test_reasoning_reaches_the_user(connect, profile):
    model = profile.reasoning_model
    host, _ = await connect(profile)
    chunks = await host.stream(
        api_body(model, PROMPT, stream=True), user_valves=user_valves(profile)
    )
    assert not errors_of(chunks), errors_of(chunks)
    field = profile.reasoning_field(model)
    thought = f"Thinking about: {PROMPT}"
    if field in ("reasoning", "reasoning_content"):
        assert deltas(chunks, field) == thought
        assert text_of(chunks) == profile.expected_text(model, PROMPT)
    elif field == "think":
        assert text_of(chunks).startswith(f"<think>{thought}</think>")
    else:  # OpenAI: hidden reasoning, counted in usage
        assert usages(chunks)[-1]["completion_tokens_details"]["reasoning_tokens"] > 0
    result = await host.call(
        api_body(model, PROMPT, stream=False), user_valves=user_valves(profile)
    )
    message = result["choices"][0]["message"]
    if field in ("reasoning", "reasoning_content"):
        assert message[field] == thought
    elif field == "think":
        assert message["content"].startswith(f"<think>{thought}</think>")
    else:
        assert result["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


async def test_openrouter_processing_comments_are_not_forwarded(connect):
    host, _ = await connect(OPENROUTER)
    chunks = await host.stream(
        api_body(OPENROUTER.chat_model, PROMPT, stream=True),
        user_valves=user_valves(OPENROUTER),
    )
    assert all(isinstance(c, dict) or c == "[DONE]" for c in chunks)
    assert not any("OPENROUTER" in json.dumps(c) for c in chunks)


async def test_openrouter_error_in_the_middle_of_a_stream_is_shown(connect):
    host, server = await connect(OPENROUTER)
    server.midstream_error = "Provider disconnected unexpectedly"
    chunks = await host.stream(
        api_body(OPENROUTER.chat_model, "one two three four five", stream=True),
        user_valves=user_valves(OPENROUTER),
    )
    assert text_of(chunks) == "Echo: one"  # what was streamed stays
    [error] = [c for c in chunks if isinstance(c, dict) and "error" in c]
    assert "Provider disconnected unexpectedly" in error["error"]["message"]
    # Open WebUI shows an error only from a chunk without `choices` (HOST.md section 5);
    # OpenRouter's own error chunk carries `choices`, so as is it would be dropped.
    assert not error.get("choices"), error


async def test_llamacpp_prompt_over_its_context_is_explained(connect):
    host, server = await connect(LLAMACPP)
    prompt = "word " * 5000  # over the profile's 4,096-token context
    chunks = await host.stream(api_body(LLAMACPP.chat_model, prompt, stream=True))
    [message] = errors_of(chunks)  # read from llama-server's own `error:` SSE line
    assert "exceeds the available context size" in message and "new chat" in message
    assert text_of(chunks) == ""
    result = await host.call(api_body(LLAMACPP.chat_model, prompt, stream=False))
    assert "too long" in result["error"]["detail"], result
    assert [r.status for r in server.chat_requests()] == [200, 400]  # not retried


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_llamacpp_empty_answer_is_not_shown_as_success(connect, stream):
    host, _ = await connect(LLAMACPP)
    body = api_body(LLAMACPP.chat_model, "hi [[fault:empty]]", stream=stream)
    if stream:
        [message] = errors_of(await host.stream(body))
    else:
        message = (await host.call(body))["error"]["detail"]
    assert "returned an empty answer" in message and "Try again" in message


async def test_azure_content_filter_chunks_pass_through(connect):
    host, _ = await connect(AZURE_V1)
    chunks = await host.stream(
        web_body(AZURE_V1.chat_model, PROMPT), user_valves=user_valves(AZURE_V1)
    )
    assert isinstance(chunks[0], dict) and chunks[0]["choices"] == []
    assert "prompt_filter_results" in chunks[0]
    assert text_of(chunks) == AZURE_V1.expected_text(AZURE_V1.chat_model, PROMPT)


# ======================================================================================
# Keys and headers
# ======================================================================================


@pytest.mark.parametrize("profile", LOCAL, ids=ids(LOCAL))
async def test_local_servers_need_no_key_and_get_no_authorization(connect, profile):
    host, server = await connect(
        profile
    )  # OPENAI_API_KEY "", ALLOW_GLOBAL_KEY_FALLBACK
    assert profile.offered <= set(upstream_ids(await host.models()))
    chunks = await host.stream(api_body(profile.chat_model, PROMPT, stream=True))
    assert text_of(chunks) == profile.expected_text(profile.chat_model, PROMPT)
    result = await host.call(api_body(profile.chat_model, PROMPT, stream=False))
    assert "error" not in result, result
    assert len(server.requests) == 3
    for record in server.requests:
        assert "authorization" not in record.headers, record.headers["authorization"]
        assert "api-key" not in record.headers


@pytest.mark.parametrize(
    "host_name", ["myres.openai.azure.com", "myres.cognitiveservices.azure.com"]
)
async def test_azure_hosts_get_api_key_header_and_openai_rules(connect, host_name):
    profile = dataclasses.replace(AZURE_V1, host=host_name)
    host, server = await connect(profile)
    assert AZURE_V1.offered <= set(upstream_ids(await host.models()))
    [listing] = server.model_requests()
    assert listing.headers.get("api-key") == AZURE_V1.global_key
    assert "authorization" not in listing.headers and listing.query == {}
    body = web_body(profile.chat_model, PROMPT, **ADVANCED, **FOREIGN)
    chunks = await host.stream(body, user_valves=user_valves(profile))
    assert text_of(chunks) == profile.expected_text(profile.chat_model, PROMPT)
    [record] = server.chat_requests()
    assert body_keys(record) <= CHAT_COMPLETION_PARAMS
    assert_chat_request(profile, server, record)


async def test_azure_ai_foundry_gets_api_key_but_keeps_other_vendors_models(connect):
    """AI Foundry serves DeepSeek, Llama, Phi...: no GPT-only filter there."""
    foundry = dataclasses.replace(
        AZURE_V1,
        host="my-project.services.ai.azure.com",
        models=(*AZURE_V1.models, "DeepSeek-R1", "Phi-4"),
    )
    host, server = await connect(foundry)
    offered = set(upstream_ids(await host.models()))
    assert {"DeepSeek-R1", "Phi-4"} <= offered
    [listing] = server.model_requests()
    assert listing.headers.get("api-key") == AZURE_V1.global_key
    assert "authorization" not in listing.headers


async def test_azure_deployment_chat_uses_the_api_version_valve(connect):
    host, server = await connect(
        AZURE_DEPLOYMENT, AZURE_API_VERSION="2025-04-01-preview"
    )
    chunks = await host.stream(
        api_body(AZURE_DEPLOYMENT_NAME, PROMPT, stream=True),
        user_valves=user_valves(AZURE_DEPLOYMENT),
    )
    assert text_of(chunks) == answer_text(PROMPT)
    [record] = server.chat_requests()
    assert (
        record.path == f"/openai/deployments/{AZURE_DEPLOYMENT_NAME}/chat/completions"
    )
    assert record.query == {"api-version": "2025-04-01-preview"}
    assert record.headers["api-key"] == AZURE_DEPLOYMENT.key


async def test_azure_lookalike_host_is_not_azure(connect):
    profile = dataclasses.replace(
        VLLM,
        name="lookalike",
        host="myres.openai.azure.com.example.net",
        key="sk-3c1e9a7f0b2d4c6e8a1b3d5f7a9c1e3bZqL1",
        global_key="sk-8d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0cZqG2",
    )
    host, server = await connect(profile)
    await host.stream(
        web_body(profile.chat_model, PROMPT, **ADVANCED),
        user_valves=user_valves(profile),
    )
    [record] = server.chat_requests()
    assert record.raw_authorization == f"Bearer {profile.key}"
    assert "api-key" not in record.headers
    assert set(SAMPLING_EXTRAS) <= body_keys(record)  # not whitelisted like Azure
    assert not body_keys(record) & set(OLLAMA_OPTIONS)


# ======================================================================================
# The parameter policy
# ======================================================================================


@pytest.mark.parametrize("profile", OPENAI_RULES, ids=ids(OPENAI_RULES))
async def test_openai_and_azure_receive_only_openai_parameters(connect, profile):
    host, server = await connect(profile)
    body = web_body(
        profile.chat_model, PROMPT, **ADVANCED, **FOREIGN, **INTERNAL, **STANDARD
    )
    chunks = await host.stream(body, user_valves=user_valves(profile))
    assert not errors_of(chunks), errors_of(chunks)
    [record] = server.chat_requests()  # accepted at the first attempt
    sent = body_keys(record)
    assert sent <= CHAT_COMPLETION_PARAMS, sorted(sent - CHAT_COMPLETION_PARAMS)
    assert not sent & (set(ADVANCED) | set(FOREIGN) | set(INTERNAL)), sorted(
        sent & (set(ADVANCED) | set(FOREIGN) | set(INTERNAL))
    )
    assert set(STANDARD) | {"temperature", "max_tokens", "tools"} <= sent
    assert record.body["top_p"] == 0.9 and record.body["seed"] == 42


@pytest.mark.parametrize("profile", PERMISSIVE, ids=ids(PERMISSIVE))
async def test_other_endpoints_receive_provider_sampling_parameters(connect, profile):
    host, server = await connect(profile)
    extra = {"repetition_penalty": 1.05, "typical_p": 0.9}
    body = web_body(
        profile.chat_model, PROMPT, **ADVANCED, **extra, **INTERNAL, **STANDARD
    )
    chunks = await host.stream(body, user_valves=user_valves(profile))
    assert not errors_of(chunks), errors_of(chunks)
    [record] = server.chat_requests()
    sent = body_keys(record)
    wanted = set(SAMPLING_EXTRAS) | set(extra) | set(STANDARD)
    assert wanted <= sent, sorted(wanted - sent)
    assert record.body["top_k"] == 40 and record.body["min_p"] == 0.05
    assert record.body["repetition_penalty"] == 1.05
    assert not sent & set(INTERNAL), sorted(sent & set(INTERNAL))
    if profile is OLLAMA:  # recognised by its port 11434
        assert set(OLLAMA_OPTIONS) <= sent, sorted(set(OLLAMA_OPTIONS) - sent)
    else:
        assert not sent & set(OLLAMA_OPTIONS), sorted(sent & set(OLLAMA_OPTIONS))


# Endpoints that refuse unknown arguments, in each of the ways they say so.
REFUSERS = [
    ("mistral", "2025"),
    ("mistral", "2024"),
    ("mistral", "fastapi"),
    ("gemini", None),
    ("groq", None),  # one argument per answer
    ("gateway", "list"),
    ("gateway", "param"),  # one argument per answer
]
EVERY_ENDPOINT = list(dict.fromkeys([(p.name, None) for p in PROFILES] + REFUSERS))


def style_ids(pairs: list[tuple[str, str | None]]) -> list[str]:
    return [f"{name}-{style}" if style else name for name, style in pairs]


async def connect_refusing(connect, name: str, style: str | None):
    """(profile, host, server): a provider refusing arguments in the given style."""
    profile = BY_NAME[name]
    server = ProviderServer(profile, refusal_style=style)
    return (profile, *await connect(profile, server=server))


@pytest.mark.parametrize("name, style", EVERY_ENDPOINT, ids=style_ids(EVERY_ENDPOINT))
async def test_every_chat_controls_parameter_works_at_the_first_message(
    connect, name, style
):
    profile, host, server = await connect_refusing(connect, name, style)
    body = web_body(profile.chat_model, PROMPT, **CHAT_CONTROLS)
    chunks = await host.stream(body, user_valves=user_valves(profile))
    assert not errors_of(chunks), errors_of(chunks)
    assert text_of(chunks) == profile.expected_text(profile.chat_model, PROMPT)
    first = server.chat_requests()
    for record in first:
        leaked = body_keys(record) & CHAT_CONTROLS_OLLAMA
        assert leaked == (CHAT_CONTROLS_OLLAMA if profile is OLLAMA else set()), leaked
        if "logit_bias" in body_keys(record):
            assert record.body["logit_bias"] == {"5678": -100}
    if profile.openai_rules or profile.accepted is None:
        assert len(first) == 1  # nothing to refuse

    server.clear()
    chunks = await host.stream(body, user_valves=user_valves(profile))
    assert text_of(chunks) == profile.expected_text(profile.chat_model, PROMPT)
    assert len(server.chat_requests()) == 1  # what was shed is remembered


@pytest.mark.parametrize("name, style", REFUSERS, ids=style_ids(REFUSERS))
async def test_refused_parameters_are_dropped_retried_and_remembered(
    connect, name, style
):
    profile, host, server = await connect_refusing(connect, name, style)
    user = user_valves(profile)
    refused_here = {"top_k", "min_p"} | ({"seed"} if name == "mistral" else set())
    body = web_body(profile.chat_model, PROMPT, top_k=40, min_p=0.05, seed=7)

    chunks = await host.stream(body, user_valves=user)
    assert not errors_of(chunks), errors_of(chunks)
    assert text_of(chunks) == profile.expected_text(profile.chat_model, PROMPT)
    first = server.chat_requests()
    assert {"top_k", "min_p"} <= body_keys(first[0])
    assert not body_keys(first[-1]) & refused_here
    assert {"temperature", "max_tokens", "tools", "messages"} <= body_keys(first[-1])
    if style in ("2025", "2024", "fastapi", "list") or name == "gemini":
        # The refusal names every argument: one retry is enough.
        assert len(first) == 2, [sorted(body_keys(r)) for r in first]
    if name == "mistral":
        assert usages(chunks), "Mistral sends usage on its last chunk"

    server.clear()
    chunks = await host.stream(body, user_valves=user)
    assert text_of(chunks) == profile.expected_text(profile.chat_model, PROMPT)
    [again] = server.chat_requests()  # remembered for this endpoint and model
    assert not body_keys(again) & refused_here

    server.clear()
    other = web_body(profile.second_model, PROMPT, top_k=40, min_p=0.05, seed=7)
    chunks = await host.stream(other, user_valves=user)
    assert not errors_of(chunks), errors_of(chunks)
    assert "top_k" in body_keys(
        server.chat_requests()[0]
    )  # per model, not per endpoint


async def test_mistral_background_task_without_stream_needs_no_retry(connect):
    host, server = await connect(MISTRAL)
    result = await host.call(
        api_body(MISTRAL.chat_model, PROMPT, stream=False, max_tokens=1000),
        user_valves=user_valves(MISTRAL),
        task="title_generation",
    )
    assert result["choices"][0]["message"]["content"] == answer_text(PROMPT)
    [record] = server.chat_requests()
    assert "stream_options" not in record.body


# ======================================================================================
# Errors, in each provider's own shape
# ======================================================================================


def secret_parts(key: str) -> list[str]:
    """The key, its masked forms and its tail: none may reach the user."""
    return [key, key[:8], key[-4:], f"****{key[-4:]}", key[:8] + "*"]


def assert_no_key(text: str, *keys: str | None) -> None:
    for key in keys:
        if key:
            for part in secret_parts(key):
                assert part not in text, f"{part!r} leaked in {text!r}"


@pytest.mark.parametrize("profile", KEYED, ids=ids(KEYED))
async def test_rejected_user_key_is_explained_without_the_key(connect, profile):
    host, _ = await connect(profile)
    wrong = profile.key[:-6] + "WRONG1"
    chunks = await host.stream(
        api_body(profile.chat_model, PROMPT, stream=True),
        user_valves={"OPENAI_API_KEY": wrong},
    )
    [error] = errors_of(chunks)
    assert "OPENAI_API_KEY" in error and "Traceback" not in error
    assert_no_key(error, wrong, profile.global_key)
    result = await host.call(
        api_body(profile.chat_model, PROMPT, stream=False),
        user_valves={"OPENAI_API_KEY": wrong},
    )
    assert "OPENAI_API_KEY" in result["error"]["detail"]
    assert_no_key(json.dumps(result), wrong, profile.global_key)


# OpenRouter's /models is public: a wrong key only shows at chat time.
LISTED_WITH_KEY = [p for p in LISTED if p.key and p is not OPENROUTER]


@pytest.mark.parametrize("profile", LISTED_WITH_KEY, ids=ids(LISTED_WITH_KEY))
async def test_rejected_global_key_gives_one_entry_naming_the_valve(connect, profile):
    wrong = profile.global_key[:-6] + "WRONG2"
    host, _ = await connect(profile, OPENAI_API_KEY=wrong)
    [entry] = await host.models()
    assert "OPENAI_API_KEY" in entry["name"], entry["name"]
    assert_no_key(entry["name"], wrong)


@pytest.mark.parametrize(
    "profile",
    [p for p in PROFILES if "rate_limit" in p.error_kinds],
    ids=ids([p for p in PROFILES if "rate_limit" in p.error_kinds]),
)
async def test_rate_limit_is_retried_then_answered(connect, profile):
    host, server = await connect(profile)
    status, text, ctype, headers = render_error(
        profile.dialect, "rate_limit", model=profile.chat_model
    )
    headers = {k: v for k, v in headers.items() if k.lower() != "retry-after"}
    server.add_fault(
        "status", code=status, body=text, content_type=ctype,
        headers=headers | {"Retry-After": "0"},
    )  # fmt: skip
    result = await host.call(
        api_body(profile.chat_model, PROMPT, stream=False),
        user_valves=user_valves(profile),
    )
    assert "error" not in result, result
    assert result["choices"][0]["message"]["content"] == profile.expected_text(
        profile.chat_model, PROMPT
    )
    first, second = server.chat_requests()
    assert (
        first.faults == ["status"] and first.status == status and second.status == 200
    )


ERROR_CASES = [
    (profile, kind)
    for profile in PROFILES
    for kind in profile.error_kinds
    if kind in ERRORS[profile.dialect]
]


@pytest.mark.parametrize(
    "profile, kind", ERROR_CASES, ids=[f"{p.name}-{k}" for p, k in ERROR_CASES]
)
async def test_provider_errors_reach_the_user_readably(connect, profile, kind):
    host, server = await connect(profile, MAX_RETRIES=0)
    # not_found: the server's own answer to an unknown model; the others: injected.
    model = "no-such-model-x" if kind == "not_found" else profile.chat_model
    status, text, ctype, headers = render_error(profile.dialect, kind, model=model)
    fragment = error_fragment(profile.dialect, kind, model=model)
    for stream in (True, False):
        if kind != "not_found":
            server.add_fault(
                "status", code=status, body=text, content_type=ctype, headers=headers
            )
        result = await host.stream(
            api_body(model, PROMPT, stream=stream), user_valves=user_valves(profile)
        )
        [error] = errors_of(result) if stream else [result[0]["error"]["detail"]]
        assert f"({status}" in error, error
        if fragment:
            assert fragment.lower() in " ".join(error.split()).lower(), (
                fragment,
                error,
            )
        assert "Traceback" not in error and not error.startswith(("{", "["))
        assert_no_key(error, profile.key, profile.global_key)
        assert not server.pending_faults()
    assert server.chat_requests()[-1].status == status


async def test_deepseek_key_tail_in_its_401_never_reaches_the_user(connect):
    profile = BY_NAME["deepseek"]
    host, server = await connect(profile)
    wrong = "sk-3a9f0c55e1d24b7f8a6cQ7ZK"
    result = await host.call(
        api_body(profile.chat_model, PROMPT, stream=False),
        user_valves={"OPENAI_API_KEY": wrong},
    )
    record = server.chat_requests()[-1]
    assert record.status == 401
    assert "Q7ZK" not in json.dumps(result) and "****" not in json.dumps(result)
