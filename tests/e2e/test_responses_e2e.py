"""OpenAI's Responses API on a real Open WebUI 0.12.4, each user on their own key.

The pipe is set to `RESPONSES_API=always` against the local fake, which answers
/v1/responses the way api.openai.com does (tests/fake_responses.py): `auto` would
only take api.openai.com there, and which wire `auto` picks is proven in
tests/test_responses.py. What these tests add is the host: the reasoning summary as
the page's thought block, Open WebUI running a tool call and sending the chat back
with the reasoning that preceded it, usage saved once, and the `openai` SDK reading
the API path.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.upstream import FakeOpenAI, answer_text

if TYPE_CHECKING:
    from scripts.owui.client import OpenWebUI
    from tests.e2e.conftest import Host, InstalledPipe

pytestmark = pytest.mark.e2e

PIPE_ID = "openai_manifold_pipe"
ADMIN_KEY = "sk-resp-admin-" + secrets.token_hex(16)
ALICE_KEY = "sk-resp-alice-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def responses_up() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(keys=(ADMIN_KEY, ALICE_KEY)) as server:
        yield server


@pytest.fixture(scope="module")
def alice(openwebui: Host, _pipe_function: dict) -> OpenWebUI:
    user = openwebui.new_user("Alice Responses")
    user.update_user_valves(PIPE_ID, {"OPENAI_API_KEY": ALICE_KEY})
    return user


@pytest.fixture
def pipe(pipe_installed: InstalledPipe, responses_up: FakeOpenAI) -> InstalledPipe:
    pipe_installed.admin.update_valves(PIPE_ID, {
        "OPENAI_API_BASE_URL": responses_up.base_url,
        "OPENAI_API_KEY": ADMIN_KEY,
        "RESPONSES_API": "always",
    })
    pipe_installed.grant_models()
    responses_up.clear()
    return pipe_installed


def test_reasoning_summary_shows_as_the_thought_block(
    pipe: InstalledPipe, responses_up: FakeOpenAI, alice: OpenWebUI
):
    prompt = f"tag{secrets.token_hex(3)} why is the sky blue"
    alice.models()
    turn = alice.chat_web(pipe.model("o4-mini"), prompt, background_tasks={})
    assert turn.error is None, turn.error_text
    assert turn.content == answer_text(prompt)
    assert turn.reasoning.startswith("Thinking about:") and "Thinking" not in turn.content
    [record] = responses_up.responses_requests()
    assert record.key == ALICE_KEY and record.body["reasoning"]["summary"] == "auto"
    usage = turn.usage or {}
    assert usage.get("completion_tokens_details", {}).get("reasoning_tokens")
    assert responses_up.chat_requests() == []


def test_tools_with_reasoning_round_trip_through_open_webui(
    pipe: InstalledPipe, responses_up: FakeOpenAI, alice: OpenWebUI
):
    """gpt-5.2, Open WebUI's own tools, reasoning_effort high: both kept, call run."""
    prompt = "what time is it? [[tool:get_current_timestamp]]"
    alice.models()
    turn = alice.chat_web(pipe.model("gpt-5.2"), prompt, background_tasks={},
                          params={"reasoning_effort": "high"})
    assert turn.error is None, turn.error_text
    assert turn.content.startswith("Tool said:"), turn.content
    first, second = responses_up.responses_requests()
    assert first.body["reasoning"]["effort"] == "high" and first.body["tools"]
    assert second.body["reasoning"]["effort"] == "high" and second.body["tools"]
    items = second.body["input"]
    kinds = [item.get("type", "message") for item in items]
    assert kinds[-3:] == ["reasoning", "function_call", "function_call_output"], kinds
    reasoning, call, output = items[-3:]
    assert reasoning["encrypted_content"] in responses_up.issued_reasoning
    assert call["name"] == "get_current_timestamp" and output["call_id"] == call["call_id"]
    assert all(r.key == ALICE_KEY for r in (first, second))
    # Each round's usage counted once: Open WebUI adds the rounds up in input_tokens /
    # output_tokens and keeps the last round's own prompt_tokens / completion_tokens.
    usage, first_round = turn.usage or {}, round_usages(turn)[0]
    assert usage["input_tokens"] == first_round["prompt_tokens"] + usage["prompt_tokens"]
    assert usage["output_tokens"] == (
        first_round["completion_tokens"] + usage["completion_tokens"])


def round_usages(turn) -> list[dict]:
    """The usage each round reported to the page (chat:completion events)."""
    return [
        event["data"]["data"]["usage"]
        for event in turn.events
        if event["data"].get("type") == "chat:completion"
        and isinstance(event["data"].get("data"), dict)
        and "usage" in event["data"]["data"]
    ]


def test_the_openai_sdk_reads_every_chunk(
    pipe: InstalledPipe, responses_up: FakeOpenAI, alice: OpenWebUI, openwebui: Host
):
    from openai import OpenAI

    client = OpenAI(base_url=f"{openwebui.base_url}/api", api_key=alice.token)
    model, prompt = pipe.model("o3"), "tell me something"
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], stream=True)
    chunks = list(stream)  # each parsed as a ChatCompletionChunk, or this raises
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    thought = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
        for c in chunks if c.choices
    )
    assert text == answer_text(prompt) and thought.startswith("Thinking about:")
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert sum(1 for c in chunks if c.usage) == 1

    whole = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}])
    assert whole.choices[0].message.content == answer_text(prompt)
    assert whole.usage.completion_tokens_details.reasoning_tokens > 0
    assert len(responses_up.responses_requests()) == 2
