"""100 users chat at once through one Pipe: each on their own key, each with their own answer.

On both wires: /chat/completions and OpenAI's /responses.

One Pipe instance serves every user (HOST.md section 1), so the hazards are shared
state: a key, header, cookie or status line of one request showing up in another.
Every user streams at the same time against a real server with random delays, and
some meet failures (a retried 503, a retried 429 that sets a cookie, a stream cut
off, a 401 that echoes the key back). Afterwards every upstream request and every
user's output is checked against who sent it.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import time
from dataclasses import dataclass, field

import pytest

from tests.owhost import Host, api_body, errors_of, load_pipe, text_of
from tests.upstream import FakeOpenAI, answer_chunks

USERS = 100
GLOBAL_KEY = "sk-G1obalIso7Xq2Wv9Ut4Sr6Pq"
KEY_PIECE = 8
TOKEN = re.compile(r"tok[0-9a-f]{12}")


@dataclass
class User:
    index: int
    key: str
    token: str  # appears only in this user's message, and so in their answer
    organization: str
    trouble: str  # "", "retry-503", "retry-429-cookie", "cut", "echo-401"
    text: str = ""
    delays: float = 0.0  # what the upstream sleeps while answering this user
    chunks: list = field(default_factory=list)
    events: list = field(default_factory=list)

    async def emitter(self, event: dict) -> None:
        self.events.append(event)


def make_users(rng: random.Random) -> list[User]:
    users = []
    for i in range(USERS):
        # Half the keys look like OpenAI's, half like nothing a pattern would catch.
        key = f"sk-u{i:03d}-{secrets.token_hex(12)}" if i % 2 else f"u{i:03d}{secrets.token_hex(12)}"
        trouble = {3: "retry-503", 5: "cut", 7: "echo-401", 9: "retry-429-cookie"}.get(i % 10, "")
        users.append(User(i, key, f"tok{secrets.token_hex(6)}",
                          f"org-{i:03d}" if i % 4 == 0 else "", trouble))
    return users


def message_for(user: User, rng: random.Random, round_: int) -> str:
    chunks, delay = rng.randint(3, 12), round(rng.uniform(0, 0.03), 3)
    user.delays = (chunks - 1) * delay
    markers = f"[[chunks:{chunks}]] [[delay:{delay}]]"
    if user.trouble == "retry-503":
        markers += f" [[fault:status code=503 retry_after_ms=20 times=1 id=r{round_}u{user.index}]]"
    if user.trouble == "cut":
        markers += " [[fault:cut after=2]]"
    return f"user {user.index} says {user.token} {markers}"


def pieces(key: str) -> set[str]:
    return {key[i : i + KEY_PIECE] for i in range(len(key) - KEY_PIECE + 1)}


@pytest.fixture
def users():
    return make_users(random.Random(5))


@pytest.fixture
def upstream(users):
    with FakeOpenAI(keys=[u.key for u in users] + [GLOBAL_KEY]) as server:
        yield server


@pytest.fixture(params=["chat", "responses"])
def wire(request) -> str:
    """Both wires: /chat/completions, and /responses (RESPONSES_API always)."""
    return request.param


@pytest.fixture
async def host(upstream, wire):
    # By name, not IP: a cookie jar would keep cookies for "localhost" (never for an IP).
    base_url = upstream.base_url.replace("127.0.0.1", "localhost")
    host = Host(load_pipe(), {"OPENAI_API_BASE_URL": base_url,
                              "OPENAI_API_KEY": GLOBAL_KEY, "MAX_RETRIES": 2,
                              "REQUEST_TIMEOUT": 10,
                              "RESPONSES_API": "always" if wire == "responses" else "never"})
    yield host
    await host.pipe.close()


def sent(upstream: FakeOpenAI, wire: str) -> list:
    """What went to the wire's path, each with its one user message's text."""
    if wire == "responses":
        return [(r, r.body["input"][0]["content"]) for r in upstream.responses_requests()]
    return [(r, r.body["messages"][0]["content"]) for r in upstream.chat_requests()]


async def chat_all(host: Host, upstream: FakeOpenAI, users: list[User], round_: int,
                   wire: str) -> float:
    rng = random.Random(round_)
    path = upstream.responses_path if wire == "responses" else upstream.chat_path
    for user in users:
        user.text = message_for(user, rng, round_)
        user.chunks, user.events = [], []
        if user.trouble == "echo-401":
            upstream.add_fault("echo_key_401", key=user.key, path=path)
        if user.trouble == "retry-429-cookie":
            upstream.add_fault("status", code=429, key=user.key, path=path, headers={
                "Set-Cookie": f"session={user.token}; Path=/", "retry-after-ms": "20"})

    async def chat(user: User) -> None:
        await asyncio.sleep(rng.uniform(0, 0.05))
        valves = {"OPENAI_API_KEY": user.key, "ORGANIZATION_ID": user.organization}
        user.chunks = await host.stream(api_body("gpt-4o", user.text, stream=True),
                                        user_valves=valves, emitter=user.emitter)

    started = time.monotonic()
    await asyncio.gather(*(chat(user) for user in users))
    return time.monotonic() - started


def check_answers(users: list[User]) -> None:
    every_piece = {piece: user.index for user in users for piece in pieces(user.key)}
    every_piece |= dict.fromkeys(pieces(GLOBAL_KEY), -1)
    for user in users:
        output = repr(user.chunks) + repr(user.events)
        assert set(TOKEN.findall(output)) <= {user.token}, f"user {user.index} saw another's text"
        found = {every_piece[p] for p in every_piece if p in output}
        assert not found, f"user {user.index} saw pieces of the keys of users {found}"
        text, errors = text_of(user.chunks), errors_of(user.chunks)
        expected = "".join(answer_chunks(user.text))
        if user.trouble == "cut":
            assert len(errors) == 1 and text and expected.startswith(text) and text != expected
        elif user.trouble == "echo-401":
            assert len(errors) == 1 and "401" in errors[0] and text == ""
        else:
            assert text == expected and not errors, (user.index, user.trouble, errors)
        retry_lines = [e for e in user.events if "Retrying" in e["data"]["description"]]
        assert len(retry_lines) == (1 if user.trouble.startswith("retry") else 0), user.index


def check_requests(upstream: FakeOpenAI, users: list[User], keys: dict[int, str],
                   wire: str) -> None:
    by_token = {user.token: user for user in users}
    seen: dict[int, int] = {}
    for request, content in sent(upstream, wire):
        [token] = TOKEN.findall(content)
        user = by_token[token]
        seen[user.index] = seen.get(user.index, 0) + 1
        assert request.key == keys[user.index], f"user {user.index} sent with another key"
        assert request.headers.get("openai-organization") == (user.organization or None)
        assert "cookie" not in request.headers, "a cookie from one answer went out again"
        assert content == user.text
    for user in users:
        assert seen[user.index] == (2 if user.trouble.startswith("retry") else 1), user.index


async def test_100_users_stream_at_once_each_on_their_own_key(host, upstream, users, wire):
    elapsed = await chat_all(host, upstream, users, 1, wire)
    check_answers(users)
    check_requests(upstream, users, {user.index: user.key for user in users}, wire)
    # Really concurrent: the answers' own delays alone add up to far more than this.
    assert elapsed < sum(user.delays for user in users) / 3, elapsed
    assert not upstream.pending_faults()


async def test_a_second_round_with_keys_swapped_carries_nothing_over(host, upstream, users,
                                                                      wire):
    await chat_all(host, upstream, users, 1, wire)
    upstream.clear()
    keys = [user.key for user in users]
    for user in users:  # everyone now holds the next user's key
        user.key = keys[(user.index + 1) % USERS]
    await chat_all(host, upstream, users, 2, wire)
    check_answers(users)
    check_requests(upstream, users, {user.index: user.key for user in users}, wire)
