"""The built pipe in a real Open WebUI 0.12.4, driven like an admin and two users would.

Everything goes through Open WebUI's own REST API and socket.io (HOST.md section 7):
the file is installed the way pasting it does, valves are saved through the valve
forms' endpoints, and chats run on both paths:

- API path: `POST /api/chat/completions` answered over HTTP (SSE or JSON);
- web path: what the page does, a socket.io session with Open WebUI's 22 builtin
  tools and its title/tags/follow-up background tasks, the answer read back from
  the saved chat.

Upstreams are local fake OpenAI servers (tests/upstream.py) that only this module
uses, so every request they record was sent by the pipe for one of the users here:
`chat_up` streams plain answers (gpt-4o), `think_up` streams `reasoning_content`
before every answer (the gpt-5 family here). Keys are random per run and made of
letters and digits, so finding any 8 characters of one in Open WebUI's log means a
leak, not a coincidence with some hex id.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from scripts.hosts import HOSTS
from scripts.owui.client import OpenWebUI, OpenWebUIError
from scripts.owui.process import free_port
from tests.closing_server import ClosingServer
from tests.fakes.providers.openai_azure import OPENAI_HIDDEN, OPENAI_OFFERED
from tests.upstream import (
    FakeOpenAI,
    answer_chunks,
    message_text,
    split_words,
    strip_markers,
)

if TYPE_CHECKING:  # the fixtures' types, from this directory's conftest.py
    from tests.e2e.conftest import Host, InstalledPipe

pytestmark = pytest.mark.e2e

PIPE_ID = "openai_manifold_pipe"  # what pasting the file gives it
PIPE_FILE = Path(__file__).resolve().parents[2] / "openai_manifold_pipe.py"


def _key(label: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return f"sk-e2e{label}-" + "".join(secrets.choice(alphabet) for _ in range(32))


ADMIN_KEY = _key("A")  # the global valve: lists models
ALICE_KEY = _key("B")
BOB_KEY = _key("C")
WRONG_KEY = _key("D")  # saved by a user, refused by the upstream
ALL_KEYS = (ADMIN_KEY, ALICE_KEY, BOB_KEY, WRONG_KEY)

CHAT_MODEL = "gpt-4o"
REASONING_MODELS = ("gpt-5", "gpt-5.2")

# What /api/models offers and hides from an OpenAI-style model list: the fake's own
# expectations (on this local endpoint too, the Responses-only ids stay hidden).
ALWAYS_OFFERED = OPENAI_OFFERED
NEVER_OFFERED = OPENAI_HIDDEN


# --------------------------------------------------------------------------------------
# Fixtures: two upstreams, two users with their own keys
# --------------------------------------------------------------------------------------


@dataclass
class World:
    """This module's cast: the host, the upstreams and the accounts."""

    host: Host
    chat_up: FakeOpenAI
    think_up: FakeOpenAI
    alice: OpenWebUI
    bob: OpenWebUI

    @property
    def admin(self) -> OpenWebUI:
        return self.host.admin

    def upstream_for(self, model: str) -> FakeOpenAI:
        return self.think_up if model in REASONING_MODELS else self.chat_up


@pytest.fixture(scope="module")
def world(openwebui: Host, _pipe_function: dict) -> Iterator[World]:
    keys = (ADMIN_KEY, ALICE_KEY, BOB_KEY)
    with (
        FakeOpenAI(keys=keys) as chat_up,
        FakeOpenAI(keys=keys, reasoning_field="reasoning_content") as think_up,
    ):
        openwebui.admin.set_function_active(PIPE_ID, True)
        alice = openwebui.new_user("Alice")
        bob = openwebui.new_user("Bob")
        # Each user saves their own key in their valves of the pipe.
        assert alice.update_user_valves(PIPE_ID, {"OPENAI_API_KEY": ALICE_KEY}) == {
            "OPENAI_API_KEY": ALICE_KEY
        }
        assert bob.update_user_valves(PIPE_ID, {"OPENAI_API_KEY": BOB_KEY}) == {
            "OPENAI_API_KEY": BOB_KEY
        }
        yield World(openwebui, chat_up, think_up, alice, bob)


@pytest.fixture
def pipe(pipe_installed: InstalledPipe, world: World) -> InstalledPipe:
    """The pipe pointed at this module's chat upstream with the admin's key."""
    use(pipe_installed, world.chat_up)
    world.chat_up.clear()
    world.think_up.clear()
    return pipe_installed


def use(pipe: InstalledPipe, upstream: FakeOpenAI | str, **valves: Any) -> dict:
    """Save the global valves: this upstream (or URL), the admin's key, overrides."""
    url = upstream if isinstance(upstream, str) else upstream.base_url
    return pipe.admin.update_valves(
        PIPE_ID, {"OPENAI_API_BASE_URL": url, "OPENAI_API_KEY": ADMIN_KEY, **valves}
    )


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def key_pieces(text: str, keys: tuple[str, ...] = ALL_KEYS) -> set[str]:
    """Every 8-character piece of a key that occurs in `text`."""
    return {
        key[i : i + 8]
        for key in keys
        for i in range(len(key) - 7)
        if key[i : i + 8] in text
    }


def expected(prompt: str) -> str:
    """The whole answer the upstreams give a prompt (`[[chunks:N]]` pads with " wN")."""
    return "".join(answer_chunks(prompt))


def thought(prompt: str) -> str:
    """The reasoning text `think_up` streams for a prompt."""
    clean = strip_markers(prompt)
    return "".join(split_words(f"Thinking about: {clean}" if clean else "Thinking."))


def chat_texts(record: Any) -> str:
    return " ".join(message_text(m) for m in (record.body or {}).get("messages", []))


def chat_records(upstream: FakeOpenAI) -> list[Any]:
    return [r for r in list(upstream.requests) if r.path == "/v1/chat/completions"]


def assert_keys_follow_senders(upstream: FakeOpenAI, senders: dict[str, str]) -> int:
    """Every chat request went out with exactly the key of the user whose text it holds.

    `senders` maps a tag each user put in their messages to that user's key; Open
    WebUI's background tasks quote the chat, so they carry the tag too. Returns the
    number of chat requests checked.
    """
    records = chat_records(upstream)
    assert records, "no chat request reached the upstream"
    for record in records:
        text = chat_texts(record)
        owners = [tag for tag in senders if tag in text]
        assert len(owners) == 1, f"request holds tags {owners}: {text[:200]!r}"
        key = senders[owners[0]]
        assert record.key == key, (
            f"request for {owners[0]} carried another key "
            f"({'none' if record.key is None else 'a different one'})"
        )
        assert record.raw_authorization == f"Bearer {key}"
    for record in upstream.requests:
        if record.path == "/v1/models":
            assert record.key == ADMIN_KEY  # listing uses the global key only
    return len(records)


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Run blocking calls at the same time; results in order, first error re-raised."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def tag() -> str:
    """A word that marks one user's messages in this test."""
    return "tag" + secrets.token_hex(4)


def report(request: pytest.FixtureRequest, line: str) -> None:
    """A line on the terminal even with output captured (timings, latencies)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(line)


# --------------------------------------------------------------------------------------
# Installing and configuring, like an admin
# --------------------------------------------------------------------------------------


def test_installed_like_a_paste(openwebui: Host, pipe: InstalledPipe):
    function = openwebui.admin.get_function(PIPE_ID)
    assert function["id"] == PIPE_ID
    assert function["name"] == "OpenAI Manifold Pipe"
    assert function["type"] == "pipe"
    assert function["is_active"] is True
    manifest = function["meta"]["manifest"]
    assert manifest["title"] == "OpenAI Manifold Pipe"
    assert manifest["required_open_webui_version"] == HOSTS[0]  # the oldest tested
    # Stored as sent: Open WebUI's import rewriting found nothing to change.
    assert function["content"] == PIPE_FILE.read_text(encoding="utf-8")

    spec = openwebui.admin.get_valves_spec(PIPE_ID)["properties"]
    assert spec["OPENAI_API_KEY"]["input"] == {"type": "password"}
    assert spec["NAME_PREFIX"]["default"] == "OPENAI/"
    assert spec["OPENAI_API_BASE_URL"]["default"] == "https://api.openai.com/v1"
    user_spec = openwebui.admin.get_user_valves_spec(PIPE_ID)["properties"]
    assert user_spec["OPENAI_API_KEY"]["input"] == {"type": "password"}
    assert {"ORGANIZATION_ID", "PROJECT_ID"} <= set(user_spec)


def test_global_valves_round_trip(pipe: InstalledPipe, world: World):
    saved = {
        "OPENAI_API_BASE_URL": world.chat_up.base_url + "/",
        "OPENAI_API_KEY": ADMIN_KEY,
        "NAME_PREFIX": "OPENAI/",
        "MODEL_BLOCKLIST": "gpt-4.1-nano",
        "MODEL_CACHE_TTL": 60,
        "REQUEST_TIMEOUT": 120,
        "MAX_RETRIES": 1,
        "REASONING_EFFORT": "low",
        "ALLOW_GLOBAL_KEY_FALLBACK": False,
        "CHAT_MODELS_ONLY": True,
    }
    assert pipe.admin.update_valves(PIPE_ID, saved) == saved
    assert pipe.admin.get_valves(PIPE_ID) == saved
    # Saved values are live: the trailing "/" is tolerated, the blocklist applies.
    ids = pipe.admin.model_ids()
    assert pipe.model("gpt-4o") in ids
    assert pipe.model("gpt-4.1-nano") not in ids


@pytest.mark.parametrize(
    "bad",
    [
        {"MAX_RETRIES": 99},
        {"OPENAI_API_BASE_URL": "not a url"},
        {"MODEL_CACHE_TTL": -1},
        {"REQUEST_TIMEOUT": -5},
        {"REASONING_EFFORT": "maximum"},
        {"USER_QUOTA": "requests/fortnight=3"},
    ],
    ids=lambda bad: next(iter(bad)),
)
def test_bad_valve_value_is_refused(
    pipe: InstalledPipe, world: World, openwebui: Host, bad: dict
):
    before = pipe.admin.get_valves(PIPE_ID)
    mark = openwebui.log_mark()
    with pytest.raises(OpenWebUIError) as refused:
        use(pipe, world.chat_up, **bad)
    assert refused.value.status == 400
    # Open WebUI 0.12.4 answers with a generic text (the form shows it as a toast)...
    assert "Error updating function valves" in str(refused.value)
    # ...and logs the pipe's own message, which names the valve.
    assert f"Value error, {next(iter(bad))} " in openwebui.log_since(mark)
    assert pipe.admin.get_valves(PIPE_ID) == before  # nothing was stored


def test_each_user_keeps_their_own_key(world: World):
    assert world.alice.get_user_valves(PIPE_ID) == {"OPENAI_API_KEY": ALICE_KEY}
    assert world.bob.get_user_valves(PIPE_ID) == {"OPENAI_API_KEY": BOB_KEY}
    # A user's valves form is theirs alone: the admin's own user valves are empty.
    assert world.admin.get_user_valves(PIPE_ID) in ({}, None)


def test_models_visible_to_users_and_filtered(pipe: InstalledPipe, world: World):
    pipe.revoke_models()
    try:
        admin_models = {
            m["id"]: m["name"]
            for m in pipe.admin.models()
            if m["id"].startswith(PIPE_ID + ".")
        }
        # Not granted yet: a normal user sees none of the pipe's models.
        assert not [m for m in world.alice.model_ids() if m.startswith(PIPE_ID + ".")]
    finally:
        granted = pipe.grant_models()  # Admin Panel > Models > each one > Public
    assert set(granted) == set(admin_models)

    seen = {
        m["id"]: m["name"]
        for m in world.alice.models()
        if m["id"].startswith(PIPE_ID + ".")
    }
    assert seen == admin_models
    upstream_ids = {model_id.split(".", 1)[1] for model_id in seen}
    for model_id, name in seen.items():
        assert name == "OPENAI/" + model_id.split(".", 1)[1]
    assert ALWAYS_OFFERED <= upstream_ids
    assert not upstream_ids & NEVER_OFFERED
    assert upstream_ids <= set(world.chat_up.models)


# --------------------------------------------------------------------------------------
# Chatting: both users at once, every path, chat and reasoning models
# --------------------------------------------------------------------------------------


def check_api_stream(streamed: Any, prompt: str, reasoning: bool) -> None:
    assert streamed.status == 200
    assert streamed.errors == []
    content = [
        choice["delta"]["content"]
        for chunk in streamed.json_chunks
        for choice in chunk.get("choices") or []
        if (choice.get("delta") or {}).get("content")
    ]
    assert content == answer_chunks(prompt)  # whole, in order, chunk for chunk
    assert streamed.content == expected(prompt)
    assert streamed.reasoning == (thought(prompt) if reasoning else "")
    usages = [chunk["usage"] for chunk in streamed.json_chunks if chunk.get("usage")]
    assert len(usages) == 1, usages  # asked for once, arrives once
    assert usages[0]["completion_tokens"] > 0
    if reasoning:
        assert usages[0]["completion_tokens_details"]["reasoning_tokens"] > 0
    assert streamed.done_count == 1 and streamed.chunks[-1] == "[DONE]"


def check_api_json(answer: dict, prompt: str, reasoning: bool) -> None:
    assert "error" not in answer, answer
    message = answer["choices"][0]["message"]
    assert message["content"] == expected(prompt)
    if reasoning:
        assert message["reasoning_content"] == thought(prompt)
    assert answer["usage"]["total_tokens"] > 0


def check_web(turn: Any, prompt: str, reasoning: bool, streamed: bool) -> None:
    assert turn.error is None, turn.error_text
    assert turn.content == expected(prompt)
    assert turn.reasoning == (thought(prompt) if reasoning else "")
    if streamed:
        assert turn.streamed_text == expected(prompt)  # what the page showed live
    usage = turn.usage
    assert usage and usage["input_tokens"] == usage["prompt_tokens"] > 0
    assert usage["output_tokens"] == usage["completion_tokens"] > 0
    # The background tasks went through the pipe too: title, tags, follow-ups.
    assert turn.title == "Echo chat"
    types = turn.event_types()
    assert "chat:tags" in types and "chat:message:follow_ups" in types


@pytest.mark.parametrize("model", [CHAT_MODEL, *REASONING_MODELS])
def test_api_path_two_users_at_once(pipe: InstalledPipe, world: World, model: str):
    upstream = world.upstream_for(model)
    use(pipe, upstream)
    reasoning = model in REASONING_MODELS
    tags = {world.alice: tag(), world.bob: tag()}

    def chats(user: OpenWebUI) -> tuple[str, Any, str, dict]:
        stream_prompt = f"{tags[user]} tell me about rivers [[chunks:12]]"
        json_prompt = f"{tags[user]} and about lakes"
        streamed = user.chat_api_stream(pipe.model(model), stream_prompt)
        answer = user.chat_api(pipe.model(model), json_prompt, max_tokens=200)
        return stream_prompt, streamed, json_prompt, answer

    for stream_prompt, streamed, json_prompt, answer in run_together(
        lambda: chats(world.alice), lambda: chats(world.bob)
    ):
        check_api_stream(streamed, stream_prompt, reasoning)
        check_api_json(answer, json_prompt, reasoning)

    count = assert_keys_follow_senders(
        upstream, {tags[world.alice]: ALICE_KEY, tags[world.bob]: BOB_KEY}
    )
    assert count == 4
    # Accepted on the first attempt: nothing had to be retried or shed.
    assert all(record.status == 200 for record in chat_records(upstream))
    if reasoning:
        for record in chat_records(upstream):
            assert "max_tokens" not in record.body


@pytest.mark.parametrize("model", [CHAT_MODEL, *REASONING_MODELS])
def test_web_path_two_users_at_once(pipe: InstalledPipe, world: World, model: str):
    upstream = world.upstream_for(model)
    use(pipe, upstream)
    reasoning = model in REASONING_MODELS
    tags = {world.alice: tag(), world.bob: tag()}

    def chats(user: OpenWebUI) -> list[tuple[str, Any, bool]]:
        turns = []
        for streamed in (True, False):
            prompt = f"{tags[user]} what is a delta? [[chunks:9]] {streamed}"
            turn = user.chat_web(pipe.model(model), prompt, stream=streamed)
            turns.append((prompt, turn, streamed))
        return turns

    for turns in run_together(lambda: chats(world.alice), lambda: chats(world.bob)):
        for prompt, turn, streamed in turns:
            check_web(turn, prompt, reasoning, streamed)

    # Per user: 2 answers + 3 background tasks each.
    count = assert_keys_follow_senders(
        upstream, {tags[world.alice]: ALICE_KEY, tags[world.bob]: BOB_KEY}
    )
    assert count == 2 * 2 * 4
    records = chat_records(upstream)
    assert all(record.status == 200 for record in records)
    answers = [r for r in records if r.body.get("tools")]
    assert len(answers) == 4  # the page's own tools came with every answer request
    assert all(len(r.body["tools"]) == 22 for r in answers)
    if model == "gpt-5.2":
        # gpt-5.2 refuses tools with reasoning on /chat/completions: they went out
        # with reasoning off rather than being refused.
        assert all(r.body.get("reasoning_effort") == "none" for r in answers)


def test_web_path_tool_call_round_trip(pipe: InstalledPipe, world: World):
    """A tool call streamed by the model is run by Open WebUI, which calls back."""
    label = tag()
    prompt = f"{label} what time is it? [[tool:get_current_timestamp]]"
    turn = world.alice.chat_web(pipe.model(CHAT_MODEL), prompt, background_tasks={})
    assert turn.error is None, turn.error_text
    assert "Tool said:" in turn.content
    records = chat_records(world.chat_up)
    assert [r.body["messages"][-1]["role"] for r in records] == ["user", "tool"]
    assert all(r.key == ALICE_KEY for r in records)


# --------------------------------------------------------------------------------------
# Errors users can read
# --------------------------------------------------------------------------------------


@dataclass
class Seen:
    """What one failed chat showed, on each path."""

    api_stream: Any
    api_json: dict
    web: Any

    def texts(self) -> list[str]:
        stream_errors = self.api_stream.errors
        assert len(stream_errors) == 1, self.api_stream.chunks
        assert self.api_stream.content == ""
        json_error = self.api_json.get("error") or {}
        assert self.web.content == ""
        return [
            stream_errors[0]["message"],
            json_error.get("detail") or "",
            self.web.error_text or "",
        ]


def fail_everywhere(user: OpenWebUI, model: str, prompt: str) -> Seen:
    return Seen(
        api_stream=user.chat_api_stream(model, prompt),
        api_json=user.chat_api(model, prompt),
        web=user.chat_web(model, prompt, background_tasks={}),
    )


def test_user_without_a_key(pipe: InstalledPipe, world: World, openwebui: Host):
    carol = openwebui.new_user("Carol")  # saves no valves at all
    seen = fail_everywhere(carol, pipe.model(CHAT_MODEL), "hello?")
    for text in seen.texts():
        assert text.startswith("OPENAI_API_KEY not provided by the user.")
        assert "Valves" in text  # where to put it
    assert chat_records(world.chat_up) == []  # never sent anywhere


def test_user_with_a_wrong_key(pipe: InstalledPipe, world: World, openwebui: Host):
    dave = openwebui.new_user("Dave")
    dave.update_user_valves(PIPE_ID, {"OPENAI_API_KEY": WRONG_KEY})
    seen = fail_everywhere(dave, pipe.model(CHAT_MODEL), "hello?")
    for text in seen.texts():
        assert "API key was rejected" in text and "(401)" in text
        assert (
            "OPENAI_API_KEY in your Valves" in text
        )  # the user's own, not the admin's
        assert not key_pieces(text), text  # not even OpenAI's masked echo
    records = chat_records(world.chat_up)
    assert records and all(r.key == WRONG_KEY for r in records)
    assert all(r.status == 401 for r in records)


def test_upstream_echoing_the_whole_key(pipe: InstalledPipe, world: World):
    seen = fail_everywhere(
        world.alice, pipe.model(CHAT_MODEL), "hi [[fault:echo_key_401]]"
    )
    for text in seen.texts():
        assert "(401)" in text
        assert not key_pieces(text), text


def test_dead_endpoint(pipe: InstalledPipe, world: World):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    # The admin lists the model by id: offered even though /models cannot answer.
    use(pipe, dead, MODEL_ALLOWLIST=CHAT_MODEL, MAX_RETRIES=1)
    assert pipe.model(CHAT_MODEL) in world.alice.model_ids()
    seen = fail_everywhere(world.alice, pipe.model(CHAT_MODEL), "anyone there?")
    for text in seen.texts():
        assert "connection refused" in text
        assert "OPENAI_API_BASE_URL" in text


def test_background_tasks_of_an_unreachable_chat_fail_at_once(
    pipe: InstalledPipe, world: World, openwebui: Host, request: pytest.FixtureRequest
):
    """Open WebUI runs follow-ups and tags after a failed answer; neither tries again.

    (0.12.4 asks for a new chat's title at the start, beside the answer, so the title
    is not among the tasks that wait after it: it is left out here to keep the count
    of connections exact.)
    """
    tasks = {"follow_up_generation": True, "tags_generation": True}
    with ClosingServer() as dead:
        use(pipe, dead.base_url, MODEL_ALLOWLIST=CHAT_MODEL, MAX_RETRIES=1)
        model = pipe.model(CHAT_MODEL)
        mark = openwebui.log_mark()
        turn = world.alice.chat_web(model, "anyone there?", background_tasks=tasks)
        assert "MAX_RETRIES is 1" in (turn.error_text or ""), turn.error_text
        log = openwebui.log_since(mark)
        for task in tasks:
            assert f"{task} not sent" in log, f"{task} was not answered at once"
        assert dead.connections == 2  # the answer's two attempts, no task's
        report(request, f"unreachable endpoint, web chat + 2 tasks: {turn.seconds:.2f} s")

        again = world.alice.chat_web(model, "still there?", follow=turn, background_tasks={})
        assert again.error_text and dead.connections == 4  # the next message tries


@pytest.mark.parametrize(
    "fault, says",
    [
        ("cut after=3", "cut off before the answer was complete"),
        ("stream_error after=3", "The server had an error"),
    ],
    ids=["cut", "stream_error"],
)
def test_mid_stream_failure_keeps_the_text(
    pipe: InstalledPipe, world: World, fault: str, says: str
):
    prompt = f"tell me a long story [[chunks:8]] [[fault:{fault} id={tag()}]]"
    kept = "".join(answer_chunks(prompt)[:3])
    model = pipe.model(CHAT_MODEL)

    streamed = world.alice.chat_api_stream(model, prompt)
    assert len(streamed.errors) == 1 and says in streamed.errors[0]["message"]
    assert (
        streamed.content == kept
    ), "text the upstream sent before the failure never reached the client"

    turn = world.alice.chat_web(model, prompt, background_tasks={})
    assert says in (turn.error_text or "")
    assert turn.content == turn.streamed_text  # what was shown stays after a reload
    assert (
        turn.content == kept
    ), "text the upstream sent before the failure never reached the page"


# --------------------------------------------------------------------------------------
# The host stays responsive
# --------------------------------------------------------------------------------------


class HealthProbe:
    """Polls GET /health from a thread, recording each round trip."""

    def __init__(self, base_url: str, interval: float = 0.02) -> None:
        self.url = base_url + "/health"
        self.interval = interval
        self.latencies: list[float] = []
        self.statuses: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with requests.Session() as session:
            session.get(self.url, timeout=5)  # connect once, outside the measure
            while not self._stop.is_set():
                started = time.perf_counter()
                response = session.get(self.url, timeout=5)
                self.latencies.append(time.perf_counter() - started)
                self.statuses.add(response.status_code)
                self._stop.wait(self.interval)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def summary(self) -> str:
        ordered = sorted(self.latencies)
        p50 = ordered[len(ordered) // 2]
        return (
            f"{len(ordered)} probes, p50 {p50 * 1000:.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms"
        )


def slow_stream_with_probe(pipe: InstalledPipe, world: World, path: str) -> HealthProbe:
    """Alice streams slowly (40 chunks, 50 ms apart) while Bob sends a quick chat and
    /health is polled; checks the chats, returns the probe."""
    world.chat_up.clear()
    slow_tag, quick_tag = tag(), tag()
    slow = f"{slow_tag} a slow answer [[chunks:40]] [[delay:0.05]]"
    quick = f"{quick_tag} a quick one"
    model = pipe.model(CHAT_MODEL)
    finished: dict[str, float] = {}

    def slow_chat() -> Any:
        if path == "api":
            result = world.alice.chat_api_stream(model, slow)
        else:
            result = world.alice.chat_web(model, slow, background_tasks={})
        finished["slow"] = time.monotonic()
        return result

    def quick_chat() -> Any:
        time.sleep(0.5)  # while the slow one streams
        result = world.bob.chat_api(model, quick)
        finished["quick"] = time.monotonic()
        return result

    with HealthProbe(pipe.host.base_url) as probe:
        slow_result, quick_result = run_together(slow_chat, quick_chat)

    assert slow_result.content == expected(slow)
    assert quick_result["choices"][0]["message"]["content"] == expected(quick)
    assert finished["quick"] < finished["slow"]  # not queued behind the slow stream
    assert_keys_follow_senders(world.chat_up, {slow_tag: ALICE_KEY, quick_tag: BOB_KEY})
    assert probe.statuses == {200} and len(probe.latencies) > 20
    return probe


@pytest.mark.parametrize("path", ["api", "web"])
def test_health_answers_during_a_slow_stream(
    pipe: InstalledPipe, world: World, request: pytest.FixtureRequest, path: str
):
    """/health stays under 50 ms while a stream runs: the pipe never blocks the loop.

    A pipe that blocks Open WebUI's event loop delays /health on every run (by the
    length of each block, HOST.md section 6: ~2 s for a sync pipe). On two shared
    cores another busy process can also delay one probe now and then, so a run
    whose slowest probe is over the limit is measured again, up to three runs in
    all; every run is reported.
    """
    runs = []
    for _ in range(3):
        probe = slow_stream_with_probe(pipe, world, path)
        runs.append(probe)
        report(request, f"/health during a 2 s {path}-path stream: {probe.summary()}")
        if max(probe.latencies) < 0.050:
            break
    assert max(runs[-1].latencies) < 0.050, [run.summary() for run in runs]


# --------------------------------------------------------------------------------------
# Last: nothing of any key in Open WebUI's log
# --------------------------------------------------------------------------------------


def test_no_key_in_the_log(openwebui: Host, world: World):
    log = openwebui.log_text()
    assert not key_pieces(log), sorted(key_pieces(log))


# --------------------------------------------------------------------------------------
# Reasoning and tools as the web page shows them
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning", "think"])
def test_reasoning_shows_as_a_thought_block(pipe: InstalledPipe, world: World, field: str):
    """Whichever way the upstream sends reasoning, the page shows it apart from the answer."""
    from tests.providers import MINIMAX, ProviderServer

    model = "MiniMax-M2" if field == "think" else "deepseek-reasoner"
    prompt = f"{tag()} why is the sky blue"
    server = (
        ProviderServer(MINIMAX, keys=(ADMIN_KEY,))
        if field == "think"
        else FakeOpenAI(keys=(ADMIN_KEY,), models=[model], strict=False, reasoning_field=field)
    )
    with server:
        use(pipe, server, MODEL_ALLOWLIST=model, ALLOW_GLOBAL_KEY_FALLBACK=True)
        world.admin.models()  # Open WebUI chats only with models from its last listing
        turn = world.admin.chat_web(pipe.model(model), prompt, background_tasks={})
    assert turn.error is None, turn.error_text
    assert turn.content == expected(prompt)
    assert "Thinking about" in turn.reasoning and "Thinking about" not in turn.content
    assert turn.usage and turn.usage.get("output_tokens")


def test_reasoning_model_tool_call_round_trip(pipe: InstalledPipe, world: World):
    """gpt-5.2 with Open WebUI's tools: the call runs and the model answers after it."""
    use(pipe, world.think_up)
    world.think_up.clear()
    label = tag()
    prompt = f"{label} what time is it? [[tool:get_current_timestamp]]"
    world.alice.models()
    turn = world.alice.chat_web(pipe.model("gpt-5.2"), prompt, background_tasks={})
    assert turn.error is None, turn.error_text
    assert "Tool said:" in turn.content
    records = chat_records(world.think_up)
    assert [r.body["messages"][-1]["role"] for r in records] == ["user", "tool"]
    assert all(r.key == ALICE_KEY and r.body["reasoning_effort"] == "none" for r in records)
