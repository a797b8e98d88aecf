"""Several shared keys: turns, rests after 429 and insufficient_quota, and the all-resting message."""

import time
from collections import Counter

import pytest

from tests.owhost import Host, api_body, errors_of, load_pipe, text_of
from tests.upstream import FakeOpenAI, answer_text

KEYS = (
    "sk-test-rota-aaaaaaaaaaaaaaaaaaaa1",
    "sk-test-rota-bbbbbbbbbbbbbbbbbbbb2",
    "sk-test-rota-cccccccccccccccccccc3",
)


@pytest.fixture
def upstream():
    with FakeOpenAI(keys=KEYS) as server:
        yield server


@pytest.fixture
async def shared(upstream):
    """The pipe on three shared keys, written as an admin might: spaces after commas."""
    host = Host(
        load_pipe(),
        {
            "OPENAI_API_BASE_URL": upstream.base_url,
            "OPENAI_API_KEY": ", ".join(KEYS),
            "ALLOW_GLOBAL_KEY_FALLBACK": True,
            "MAX_RETRIES": 2,
        },
    )
    yield host
    await host.pipe.close()


async def chat(host: Host, text: str = "hello", **kwargs) -> list:
    return await host.stream(api_body("gpt-4o", text, stream=True), **kwargs)


def keys_used(upstream: FakeOpenAI) -> Counter:
    return Counter(record.key for record in upstream.chat_requests())


async def test_thirty_chats_take_turns_on_three_keys(shared, upstream):
    for n in range(30):
        assert text_of(await chat(shared, f"chat {n}")) == answer_text(f"chat {n}")
    assert keys_used(upstream) == {key: 10 for key in KEYS}


async def test_a_rate_limited_key_rests_while_the_others_serve(shared, upstream):
    upstream.add_fault("status", key=KEYS[1], code=429, retry_after=30, times=1)
    started = time.monotonic()
    answers = [text_of(await chat(shared, f"chat {n}")) for n in range(9)]
    assert answers == [answer_text(f"chat {n}") for n in range(9)]
    # The 429 was not waited out: the same chat went on with the next key at once.
    assert time.monotonic() - started < 5
    used = [record.key for record in upstream.chat_requests()]
    assert used.count(KEYS[1]) == 1  # its one 429, then rest for Retry-After
    assert len(used) == 10 and Counter(used)[KEYS[0]] + Counter(used)[KEYS[2]] == 9


async def test_a_key_out_of_quota_rests_for_an_hour(shared, upstream):
    upstream.add_fault("status", key=KEYS[0], code=429, quota=True, times=1)
    for n in range(6):
        assert not errors_of(await chat(shared, f"chat {n}"))
    rotation = shared.pipe._rotation
    resting = rotation._resting[KEYS[0]] - time.monotonic()
    assert 3500 < resting <= 3600
    assert [r.key for r in upstream.chat_requests()].count(KEYS[0]) == 1


async def test_with_every_key_resting_long_the_user_is_told_when_to_try_again(
    shared, upstream
):
    for key in KEYS:
        upstream.add_fault("status", key=key, code=429, retry_after=90, times=1)
    [message] = errors_of(await chat(shared))
    assert "All 3 shared keys are rate-limited" in message
    assert "Try again in 90 s" in message and "UTC" in message
    assert len(upstream.chat_requests()) == 3
    # The next chat is told at once, without asking the upstream again.
    [again] = errors_of(await chat(shared))
    assert "All 3 shared keys" in again and len(upstream.chat_requests()) == 3


async def test_with_every_key_resting_briefly_the_chat_waits_once(shared, upstream):
    """As one key's 429 would be waited out: more keys must not make a burst worse."""
    for key in KEYS:
        upstream.add_fault("status", key=key, code=429, retry_after=1, times=1)
    events = []

    async def emitter(event):
        events.append(event["data"]["description"])

    started = time.monotonic()
    assert text_of(await chat(shared, emitter=emitter)) == answer_text("hello")
    assert 1 <= time.monotonic() - started < 5
    assert len(upstream.chat_requests()) == 4
    assert "All shared keys are rate-limited. Retrying in 1 s..." in events


async def test_without_retries_a_chat_does_not_wait_for_a_key(shared, upstream):
    shared.saved_valves["MAX_RETRIES"] = 0
    for key in KEYS:
        upstream.add_fault("status", key=key, code=429, retry_after=1, times=1)
    [message] = errors_of(await chat(shared))
    assert "Try again in 1 s" in message and len(upstream.chat_requests()) == 3


async def test_one_key_keeps_waiting_out_a_429(upstream):
    host = Host(
        load_pipe(),
        {
            "OPENAI_API_BASE_URL": upstream.base_url,
            "OPENAI_API_KEY": KEYS[0],
            "ALLOW_GLOBAL_KEY_FALLBACK": True,
        },
    )
    upstream.add_fault("status", code=429, retry_after=1, times=1)
    try:
        assert text_of(await chat(host)) == answer_text("hello")
    finally:
        await host.pipe.close()
    assert [r.key for r in upstream.chat_requests()] == [KEYS[0], KEYS[0]]


async def test_no_key_of_the_list_ever_shows(shared, upstream):
    for key in KEYS:
        upstream.add_fault("echo_key_401", key=key, times=1)
    messages = [m for _ in KEYS for m in errors_of(await chat(shared))]
    assert len(messages) == 3
    for message in messages:
        for key in KEYS:
            assert key[:12] not in message and key[-8:] not in message
    names = " ".join(m["name"] for m in await shared.models())
    assert not any(key[-8:] in names for key in KEYS)


async def test_models_are_listed_with_the_first_key(shared, upstream):
    assert await shared.models()
    assert [r.key for r in upstream.model_requests()] == [KEYS[0]]


async def test_a_key_that_cannot_travel_in_a_header_is_refused_wherever_it_stands(
    shared, upstream
):
    shared.saved_valves["OPENAI_API_KEY"] = f"{KEYS[0]}, sk-bad key, {KEYS[2]}"
    [message] = errors_of(await chat(shared))
    assert "cannot be sent in a request header" in message
    assert "sk-bad" not in message and upstream.chat_requests() == []
