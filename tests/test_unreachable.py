"""Background tasks of a chat whose endpoint just could not be reached fail at once."""

import pytest

from openai_manifold_pipe import unreachable
from openai_manifold_pipe.unreachable import UnreachableChats, chat_key
from tests.closing_server import ClosingServer
from tests.conftest import GLOBAL
from tests.owhost import Host, api_body, errors_of, load_pipe, task_body

BASE = "http://127.0.0.1:9/v1"


def test_a_chat_key_needs_a_chat():
    assert chat_key({"id": "u1"}, {"chat_id": "c1"}, BASE) == ("u1", "c1", BASE)
    for metadata in (None, {}, {"chat_id": ""}, {"chat_id": None}):  # the API path
        assert chat_key({"id": "u1"}, metadata, BASE) is None


def test_remembered_per_user_chat_and_endpoint_then_forgotten():
    chats = UnreachableChats()
    key = chat_key({"id": "u1"}, {"chat_id": "c1"}, BASE)
    chats.note(key, "Could not connect")
    assert chats.recall(key) == "Could not connect"
    assert chats.recall(("u2", "c1", BASE)) is None  # another user's chat
    assert chats.recall(("u1", "c1", "http://other/v1")) is None  # another endpoint
    chats.forget(key)
    assert chats.recall(key) is None
    chats.note(None, "no chat, nothing kept")
    assert chats.recall(None) is None


def test_a_failure_expires(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(unreachable.time, "monotonic", lambda: now[0])
    chats = UnreachableChats()
    chats.note(("u", "c", BASE), "down")
    now[0] += unreachable.REMEMBER_SECONDS - 0.1
    assert chats.recall(("u", "c", BASE)) == "down"
    now[0] += 0.2
    assert chats.recall(("u", "c", BASE)) is None


@pytest.mark.parametrize("expired", [True, False])
def test_memory_is_bounded(monkeypatch, expired):
    now = [0.0]
    monkeypatch.setattr(unreachable.time, "monotonic", lambda: now[0])
    chats = UnreachableChats()
    for index in range(unreachable.MAX_CHATS):
        chats.note(("u", f"c{index}", BASE), "down")
    if expired:
        now[0] += unreachable.REMEMBER_SECONDS + 1
    chats.note(("u", "newest", BASE), "down")
    assert len(chats._failed) == (1 if expired else unreachable.MAX_CHATS)
    assert chats.recall(("u", "newest", BASE)) == "down"
    assert chats.recall(("u", "c0", BASE)) is None  # the oldest made room


# ---- through the pipe, on a real socket ------------------------------------------------

TASKS = ("follow_up_generation", "title_generation", "tags_generation")


def web(chat_id: str) -> dict:
    return {"chat_id": chat_id, "message_id": "m-" + chat_id, "session_id": "s1"}


async def test_tasks_of_a_chat_that_found_no_endpoint_fail_at_once():
    with ClosingServer() as dead:
        host = Host(load_pipe(), {"OPENAI_API_BASE_URL": dead.base_url, "MAX_RETRIES": 1,
                                  "ALLOW_GLOBAL_KEY_FALLBACK": True})
        try:
            [message] = errors_of(await host.stream(api_body("m", "hi", stream=True),
                                                    metadata=web("c1")))
            assert "MAX_RETRIES is 1" in message and dead.connections == 2
            for task in TASKS:  # as Open WebUI runs them after the failed answer
                result = await host.call(task_body("m", task), task=task,
                                         metadata={"chat_id": "c1"})
                assert result["error"]["detail"] == message
            assert dead.connections == 2  # none of them tried the endpoint again

            # Another chat's tasks, and the user's next message in this one, do try.
            await host.call(task_body("m", "title"), task="title_generation",
                            metadata={"chat_id": "c2"})
            assert dead.connections == 4
            await host.stream(api_body("m", "again?", stream=True), metadata=web("c1"))
            assert dead.connections == 6
        finally:
            await host.pipe.close()


async def test_other_failures_leave_the_tasks_alone(upstream):
    """An endpoint that answers (even with an error) is not unreachable."""
    host = Host(load_pipe(), {"OPENAI_API_BASE_URL": upstream.base_url, "MAX_RETRIES": 0,
                              "OPENAI_API_KEY": GLOBAL, "ALLOW_GLOBAL_KEY_FALLBACK": True})
    try:
        upstream.add_fault("status", code=500)
        assert errors_of(await host.stream(api_body("gpt-4o", "hi", stream=True),
                                           metadata=web("c1")))
        result = await host.call(task_body("gpt-4o", "title"), task="title_generation",
                                 metadata={"chat_id": "c1"})
        assert result["choices"] and len(upstream.chat_requests()) == 2
    finally:
        await host.pipe.close()
