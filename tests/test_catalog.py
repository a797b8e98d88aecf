"""The GPT/chat filter, allowlist/blocklist globs and the model cache."""

import asyncio

import pytest

from openai_manifold_pipe.catalog import (
    ModelCache,
    is_chat_model,
    parse_model_list,
    select_models,
    split_list,
)
from openai_manifold_pipe.errors import PipeError

OPENAI_CHAT = [
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-3.5-turbo", "chatgpt-4o-latest",
    "gpt-4o-search-preview", "o1", "o1-mini", "o3", "o3-mini", "o4-mini",
    "gpt-5", "gpt-5-mini", "gpt-5-chat-latest", "gpt-5.1", "gpt-5.2", "gpt-5.4",
]
OPENAI_NOT_CHAT = [
    "gpt-3.5-turbo-instruct", "davinci-002", "babbage-002", "o1-pro", "o3-pro",
    "gpt-5-pro", "gpt-5-codex", "codex-mini-latest", "computer-use-preview",
    "o3-deep-research", "text-embedding-3-small", "text-embedding-ada-002", "tts-1",
    "tts-1-hd", "whisper-1", "dall-e-3", "gpt-image-1", "gpt-4o-transcribe",
    "gpt-4o-mini-tts", "gpt-realtime", "gpt-4o-realtime-preview",
    "gpt-4o-audio-preview", "omni-moderation-latest", "sora-2",
]


@pytest.mark.parametrize("model", OPENAI_CHAT)
def test_openai_chat_models_pass_the_gpt_filter(model):
    assert is_chat_model(model, openai_api=True)


@pytest.mark.parametrize("model", OPENAI_NOT_CHAT)
def test_openai_non_chat_models_are_never_offered(model):
    assert not is_chat_model(model, openai_api=True)
    assert not is_chat_model(model, openai_api=False)


@pytest.mark.parametrize(
    "model",
    ["llama3", "mistral", "moonshotai/kimi-k2-instruct", "gemini-2.5-pro", "sonar-pro",
     "qwen2.5:7b", "deepseek-reasoner", "models/gemini-2.5-flash", "claude-sonnet-4-5"],
)
def test_other_endpoints_keep_their_chat_models(model):
    assert is_chat_model(model, openai_api=False)


def test_gpt_filter_only_on_openai_api():
    assert not is_chat_model("llama3", openai_api=True)
    assert is_chat_model("llama3", openai_api=False)


@pytest.mark.parametrize(
    "model", ["nomic-embed-text", "bge-reranker", "text-embedding-3-large", "whisper-large-v3"]
)
def test_non_chat_kinds_are_hidden_everywhere(model):
    assert not is_chat_model(model, openai_api=False)


def listed(*ids):
    return [{"id": model_id} for model_id in ids]


def ids(models):
    return [model["id"] for model in models]


def test_select_filters_and_sorts():
    models = select_models(
        listed("gpt-4o", "whisper-1", "gpt-3.5-turbo", "dall-e-3"),
        allowlist=[], blocklist=[], chat_only=True, openai_api=True,
    )
    assert ids(models) == ["gpt-3.5-turbo", "gpt-4o"]


def test_chat_only_off_offers_everything():
    models = select_models(
        listed("gpt-4o", "whisper-1"), allowlist=[], blocklist=[], chat_only=False, openai_api=True
    )
    assert ids(models) == ["gpt-4o", "whisper-1"]


def test_exact_allowlist_ids_are_offered_even_unlisted_and_unfiltered():
    models = select_models(
        listed("gpt-4o", "gpt-4o-mini", "whisper-1"),
        allowlist=["whisper-1", "my-finetune"],
        blocklist=[], chat_only=True, openai_api=True,
    )
    assert ids(models) == ["my-finetune", "whisper-1"]


def test_glob_allowlist_only_admits_filtered_listed_models():
    models = select_models(
        listed("gpt-4o", "gpt-4o-mini", "gpt-4o-transcribe", "gpt-4.1"),
        allowlist=["gpt-4o*"], blocklist=[], chat_only=True, openai_api=True,
    )
    assert ids(models) == ["gpt-4o", "gpt-4o-mini"]


def test_blocklist_wins_over_allowlist_and_globs_work():
    models = select_models(
        listed("gpt-4o", "gpt-4o-mini", "o3"),
        allowlist=["gpt-4o", "o*"], blocklist=["GPT-4O", "o3*"], chat_only=True, openai_api=True,
    )
    assert ids(models) == []


def test_split_list_ignores_blanks():
    assert split_list(" gpt-4o, ,o3 ,") == ["gpt-4o", "o3"]
    assert split_list("") == []


def test_parse_model_list_shapes():
    assert parse_model_list({"data": [{"id": "a", "name": "A"}, {"id": "b"}, {"x": 1}]}) == [
        {"id": "a", "name": "A"}, {"id": "b"}
    ]
    assert parse_model_list(["a"]) == [{"id": "a"}]
    with pytest.raises(ValueError):
        parse_model_list({"object": "list"})


async def test_cache_reuses_within_ttl_and_serves_last_good():
    cache = ModelCache()
    calls = []

    async def good():
        calls.append("good")
        return listed("gpt-4o")

    async def bad():
        calls.append("bad")
        raise PipeError("down")

    first = await cache.get("http://x/v1", "k", 300, good)
    again = await cache.get("http://x/v1", "k", 300, bad)
    assert first.models == again.models == listed("gpt-4o") and calls == ["good"]
    # Expired: the last good list is served at once while a refresh runs.
    stale = await cache.get("http://x/v1", "k", 0, bad)
    assert stale is first and calls == ["good"]
    await asyncio.sleep(0)
    assert calls == ["good", "bad"]
    kept = await cache.get("http://x/v1", "k", 300, good)
    assert kept.models == listed("gpt-4o") and kept.problem == "down"
    # With no good list yet, a listing waits for the fetch.
    other_key = await cache.get("http://x/v1", "k2", 300, bad)
    assert other_key.models is None and other_key.problem == "down"
    # A failure is remembered for the TTL too: a dead endpoint costs once per TTL.
    assert (await cache.get("http://x/v1", "k2", 300, good)).problem == "down"
    assert calls == ["good", "bad", "bad"]


async def test_cache_shares_one_fetch_between_concurrent_listings():
    cache = ModelCache()
    calls = 0

    async def slow():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return listed("gpt-4o")

    results = await asyncio.gather(*(cache.get("u", "k", 300, slow) for _ in range(5)))
    assert calls == 1 and all(r.models == listed("gpt-4o") for r in results)


def test_cache_never_holds_the_key_in_clear():
    cache = ModelCache()

    async def fetch():
        return []

    asyncio.run(cache.get("u", "sk-secret-key-123456", 300, fetch))
    assert "sk-secret-key-123456" not in repr(cache._listings)
