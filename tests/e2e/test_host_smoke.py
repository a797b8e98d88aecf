"""Smoke tests of the e2e harness itself, with a tiny probe pipe instead of ours.

They prove that scripts/owui/ drives Open WebUI the way an admin and the
web page do: sign-up, installing a function through the REST API, model access
grants, both chat paths, valves, and the saved message of a web chat. If these
fail, the pipe's own e2e failures mean nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.owui.client import OpenWebUI, OpenWebUIError
from scripts.owui.functions import parse_frontmatter

pytestmark = pytest.mark.e2e

PROBE_ID = "harness_probe"  # the editor's id for the title "Harness Probe"

# Echoes the last user message with the number of messages it was given; valves
# and user valves change the text so tests can see them applied. "think" models
# stream a reasoning delta first; "RAISE" in the message makes pipe() raise.
PROBE_SOURCE = '''"""
title: Harness Probe
author: tests
version: 0.0.1
description: Echo pipe used by the harness smoke tests.
"""

import json

from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        GREETING: str = "echo"

    class UserValves(BaseModel):
        SUFFIX: str = ""

    def __init__(self):
        self.valves = self.Valves()

    async def pipes(self):
        return [{"id": "echo", "name": "Echo"}, {"id": "think", "name": "Think"}]

    async def pipe(self, body: dict, __user__: dict, __task__=None):
        if __task__:
            return json.dumps({"title": "Probe title", "tags": ["probe"], "follow_ups": []})
        last = body["messages"][-1]["content"]
        if "RAISE" in last:
            raise RuntimeError("probe refused: RAISE")
        count = len(body["messages"])
        text = f"{self.valves.GREETING}({count}): {last}{__user__['valves'].SUFFIX}"
        usage = {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        if not body.get("stream"):
            return {
                "id": "probe-1",
                "object": "chat.completion",
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }

        async def stream():
            if body["model"].endswith(".think"):
                yield {"choices": [{"index": 0, "delta": {"reasoning_content": "pondering"}}]}
            for word in text.split(" "):
                yield {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
            yield {"choices": [], "usage": usage}

        return stream()
'''


@pytest.fixture(scope="module")
def probe(openwebui) -> Iterator[str]:
    """Install the probe through the REST API like a paste; remove it afterwards.

    Removing it (and its grants) keeps the session's model list clean for the
    pipe's own tests.
    """
    admin = openwebui.admin
    created = admin.create_function(PROBE_SOURCE)
    assert created["id"] == PROBE_ID
    assert created["is_active"] is False  # created inactive, like in the UI
    assert admin.toggle_function(PROBE_ID)["is_active"] is True
    try:
        yield PROBE_ID
    finally:
        for model_id in (f"{PROBE_ID}.echo", f"{PROBE_ID}.think"):
            try:
                admin.delete_model(model_id)
            except OpenWebUIError:
                pass
        admin.delete_function(PROBE_ID)


@pytest.fixture(scope="module")
def probe_user(openwebui, probe) -> OpenWebUI:
    """A normal user who can see the probe's models (granted by the admin)."""
    user = openwebui.new_user("Probe User")
    openwebui.admin.make_models_public(f"{PROBE_ID}.")
    return user


def test_admin_signed_up_and_server_logs(openwebui):
    assert openwebui.admin.user["role"] == "admin"
    assert openwebui.startup_seconds > 0
    assert "Started server process" in openwebui.log_text()


def test_function_created_like_a_paste(openwebui, probe):
    function = openwebui.admin.get_function(probe)
    assert function["name"] == "Harness Probe"
    assert (
        function["meta"]["description"]
        == parse_frontmatter(PROBE_SOURCE)["description"]
    )
    assert function["is_active"] is True
    spec = openwebui.admin.get_valves_spec(probe)
    assert spec["properties"]["GREETING"]["default"] == "echo"


def test_models_need_a_grant_for_normal_users(openwebui, probe):
    admin = openwebui.admin
    assert {f"{probe}.echo", f"{probe}.think"} <= set(admin.model_ids())
    user = openwebui.new_user("No Grant Yet")
    for model_id in (f"{probe}.echo", f"{probe}.think"):
        try:
            admin.delete_model(model_id)
        except OpenWebUIError:
            pass  # never granted yet
    assert [m for m in user.model_ids() if m.startswith(f"{probe}.")] == []
    with pytest.raises(OpenWebUIError) as refused:
        user.chat_api(f"{probe}.echo", "hi")
    assert "Model not found" in str(refused.value)

    assert set(admin.make_models_public(f"{probe}.")) == {
        f"{probe}.echo",
        f"{probe}.think",
    }
    assert {f"{probe}.echo", f"{probe}.think"} <= set(user.model_ids())
    assert (
        user.chat_api(f"{probe}.echo", "hi")["choices"][0]["message"]["content"]
        == "echo(1): hi"
    )


def test_api_path_stream_and_json(probe_user, probe):
    streamed = probe_user.chat_api_stream(f"{probe}.think", "hello there")
    assert streamed.status == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.content == "echo(1): hello there "
    assert streamed.reasoning == "pondering"
    assert streamed.usage == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
    }
    assert streamed.finish_reasons == ["stop"]  # Open WebUI's own finish chunk
    assert streamed.chunks[-1] == "[DONE]" and streamed.done_count == 1

    answer = probe_user.chat_api(f"{probe}.echo", "plain", temperature=0.2)
    assert answer["choices"][0]["message"]["content"] == "echo(1): plain"


def test_valves_reach_the_pipe(openwebui, probe, probe_user):
    openwebui.admin.update_valves(probe, {"GREETING": "hey"})
    probe_user.update_user_valves(probe, {"SUFFIX": "!"})
    try:
        assert probe_user.get_user_valves(probe) == {"SUFFIX": "!"}
        answer = probe_user.chat_api(f"{probe}.echo", "valves")
        assert answer["choices"][0]["message"]["content"] == "hey(1): valves!"
    finally:
        openwebui.admin.update_valves(probe, {})
        probe_user.update_user_valves(probe, {})


def test_web_path_saves_the_message(probe_user, probe):
    turn = probe_user.chat_web(f"{probe}.think", "from the page")
    assert turn.content == "echo(1): from the page"
    assert turn.reasoning == "pondering"
    assert turn.error is None
    assert turn.usage["input_tokens"] == 3 and turn.usage["output_tokens"] == 4
    assert turn.streamed_text == "echo(1): from the page "
    types = turn.event_types()
    assert "response:completion" in types
    assert {"done": True}.items() <= turn.event_data("chat:completion")[-1].items()
    assert types[-1] == "chat:active"
    assert turn.title == "Probe title"  # the title task went through the same pipe

    follow = probe_user.chat_web(f"{probe}.echo", "second turn", follow=turn)
    assert follow.chat_id == turn.chat_id
    assert (
        follow.content == "echo(3): second turn"
    )  # history rebuilt from the saved chat


def test_web_path_error_is_saved_on_the_message(probe_user, probe):
    turn = probe_user.chat_web(f"{probe}.echo", "RAISE please", background_tasks={})
    assert turn.content == ""
    assert turn.error_text == "probe refused: RAISE"
    assert any(
        "error" in (data or {}) for data in turn.event_data("chat:completion")
    ), turn.event_types()
