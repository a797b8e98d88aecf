"""USER_QUOTA on two Open WebUI 0.12.4 processes sharing one database (issue 18, point 2).

For each database - one SQLite file, and a private PostgreSQL server
(`tests/e2e/databases.py`) reached with `postgresql+psycopg://` - two `open-webui
serve` processes, A and B, get the same `DATABASE_URL` and `WEBUI_SECRET_KEY` and
data directories of their own: two replicas behind one load balancer. The admin
signs up, installs the pipe and saves its valves on A only; users, functions,
valves and model grants live in the database, so B serves them too.

With `USER_QUOTA requests/hour=3`, a user without a key of their own (chatting on
the admin's key through ALLOW_GLOBAL_KEY_FALLBACK) chats once on A (API path),
once on B (web path, whose title/tags tasks must not count) and once on B (API
path); the fourth chat, on A, is refused without reaching the upstream, and so is
a fifth after A restarts. The ledger table is read behind Open WebUI's back. A
user with their own key is never counted.

The upstream is the session's `FakeOpenAI` (tests/e2e/conftest.py). Server logs are
kept as `test-artifacts/quota-<database>-<replica>-<start>.log` (A-2: A restarted).
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from scripts.owui.chat import WebChat
from scripts.owui.client import OpenWebUI
from scripts.owui.process import OpenWebUIProcess, start_openwebui
from tests.e2e.conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ARTIFACTS,
    PIPE_FILE,
    PIPE_ID,
    USER_KEYS,
)
from tests.e2e.databases import PostgreSQL, SQLite, postgres_bin
from tests.upstream import DEFAULT_KEY, FakeOpenAI, answer_text

QUOTA = "requests/hour=3"
MODEL = f"{PIPE_ID}.gpt-4o"
LEDGER = "openai_manifold_pipe_ledger"
# The scenario (five chats and a restart of A) takes 15-60 s; it must not straddle
# the top of a UTC hour, where the requests/hour window starts afresh.
HOUR_MARGIN = 90.0


# --------------------------------------------------------------------------------------
# Fixtures: a database, two replicas on it
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SQLite | PostgreSQL]:
    if request.param == "sqlite":
        yield SQLite(tmp_path_factory.mktemp("quota-sqlite") / "webui.db")
        return
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
            "`python3 scripts/test.py` run as root installs Debian's postgresql"
        )
    server = PostgreSQL(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Replicas:
    """Open WebUI processes A and B on one database, and the admin's client on A."""

    database: SQLite | PostgreSQL
    upstream: FakeOpenAI
    root: Path
    env: dict[str, str]
    servers: dict[str, OpenWebUIProcess] = field(default_factory=dict)
    logs: list[Path] = field(default_factory=list)
    admin: OpenWebUI | None = None

    def start(self, name: str, port: int | None = None) -> OpenWebUIProcess:
        log_path = self.root / f"{name}-{len(self.logs)}.log"
        self.logs.append(log_path)
        server = start_openwebui(
            port=port, data_dir=self.root / name, env=self.env, log_path=log_path
        )
        self.servers[name] = server
        return server

    def restart(self, name: str) -> OpenWebUIProcess:
        """Stop and start again: same port, data dir, database and secret."""
        old = self.servers.pop(name)
        old.stop()
        return self.start(name, port=old.port)

    def on(self, name: str, account: OpenWebUI) -> OpenWebUI:
        """`account`'s token on replica `name` (one secret: the JWT is valid on both)."""
        client = OpenWebUI(self.servers[name].base_url, account.token)
        client.user = account.user
        return client

    def ledger(self, user_id: str) -> list[tuple]:
        """(kind, input_tokens, output_tokens, chat_id) of the user's ledger rows."""
        return self.database.query(
            f"SELECT kind, input_tokens, output_tokens, chat_id FROM {LEDGER} "
            "WHERE user_id = ? ORDER BY id",
            (user_id,),
        )

    def sent_upstream(self) -> int:
        """Chat requests the fake upstream received so far, on either wire."""
        return len(self.upstream.chat_requests()) + len(
            self.upstream.responses_requests()
        )

    def log_text(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.logs)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        ARTIFACTS.mkdir(exist_ok=True)
        for path in self.logs:
            target = ARTIFACTS / f"quota-{self.database.name}-{path.name}"
            shutil.copyfile(path, target)


@pytest.fixture(scope="module")
def replicas(
    database: SQLite | PostgreSQL,
    _session_upstream: FakeOpenAI,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Replicas]:
    env = {
        "DATABASE_URL": database.url,
        "WEBUI_SECRET_KEY": secrets.token_hex(24),  # one secret for both
    }
    root = tmp_path_factory.mktemp(f"quota-{database.name}")
    cluster = Replicas(database, _session_upstream, root, env)
    try:
        cluster.start("A")  # first: creates the tables (migrations)
        cluster.start("B")
        admin = cluster.admin = OpenWebUI(cluster.servers["A"].base_url)
        admin.signup("Admin", ADMIN_EMAIL, ADMIN_PASSWORD)
        admin.install_function(PIPE_FILE.read_text(encoding="utf-8"))
        admin.update_valves(
            PIPE_ID,
            {
                "OPENAI_API_BASE_URL": _session_upstream.base_url,
                "OPENAI_API_KEY": DEFAULT_KEY,
                "ALLOW_GLOBAL_KEY_FALLBACK": True,
                "USER_QUOTA": QUOTA,
            },
        )
        assert MODEL in admin.make_models_public(f"{PIPE_ID}.")
        yield cluster
    finally:
        cluster.stop()


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def leave_the_hour_edge(margin: float = HOUR_MARGIN) -> None:
    """Sleep past the top of the UTC hour if fewer than `margin` seconds are left.

    requests/hour counts calendar hours in UTC: chats on both sides of the hour
    fall in two windows, and the fourth would not be refused.
    """
    left = 3600 - time.time() % 3600
    if left < margin:
        time.sleep(left + 3)


def next_hour() -> str:
    """When this UTC hour's window ends, as the quota message writes it."""
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    return (now + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M UTC")


def assert_quota_message(text: str) -> None:
    assert "reached your limit on the shared key" in text, text
    assert "3 requests of 3 requests this hour" in text, text
    assert f"(USER_QUOTA {QUOTA})" in text, text
    assert f"It resets at {next_hour()}." in text, text
    assert "own API key" in text, text


def completion_text(answer: dict) -> str:
    assert "error" not in answer, answer
    return answer["choices"][0]["message"]["content"]


def status_texts(turn: WebChat) -> list[str]:
    """The status lines the page showed under a web-path answer."""
    return [
        str((event["data"].get("data") or {}).get("description") or "")
        for event in turn.events
        if event["data"].get("type") == "status"
    ]


def assert_no_pipe_trouble(cluster: Replicas) -> None:
    """No ledger failure, nor any warning or error of the pipe, in any server log."""
    trouble = [
        line
        for line in cluster.log_text().splitlines()
        if "USER_QUOTA not applied" in line
        or "function_openai_manifold_pipe" in line
        and ("| WARNING" in line or "| ERROR" in line)
    ]
    assert not trouble, "\n".join(trouble)


def answer(client: OpenWebUI, path: str, prompt: str) -> str:
    """The answer to one chat on `path` (api-stream, api or web); errors fail."""
    if path == "web":
        turn = client.chat_web(MODEL, prompt)
        assert turn.error is None, turn.error_text
        return turn.content
    if path == "api-stream":
        stream = client.chat_api_stream(MODEL, prompt)
        assert stream.errors == [], stream.errors
        return stream.content
    return completion_text(client.chat_api(MODEL, prompt))


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


def test_fourth_chat_refused_on_either_replica(replicas: Replicas):
    """requests/hour=3 on the shared key: chats 1-3 (A api, B web, B api) are
    answered, 4 (A) and 5 (A restarted) get the quota message and reach no
    upstream; the ledger holds exactly 3 settled `chat` rows plus the web chat's
    background tasks."""
    admin = replicas.admin
    assert admin is not None
    user_a = admin.create_user("Quota user")  # saves no key: chats on the admin's
    user_id = user_a.user["id"]
    user_b = replicas.on("B", user_a)
    assert user_b.get("/api/v1/auths/")["id"] == user_id  # A's JWT works on B
    admin_b = OpenWebUI(replicas.servers["B"].base_url)
    assert admin_b.signin(ADMIN_EMAIL, ADMIN_PASSWORD)["id"] == admin.user["id"]
    admin_b.close()

    leave_the_hour_edge()
    # 1: API path (streaming) on A.
    assert answer(user_a, "api-stream", "first on A") == answer_text("first on A")
    # 2: web path on B, with the page's title/tags/follow-up tasks (not requests).
    second = user_b.chat_web(MODEL, "second on B")
    assert second.error is None, second.error_text
    assert second.content == answer_text("second on B")
    assert any("1 request left this hour" in s for s in status_texts(second))
    # 3: API path (JSON) on B.
    assert answer(user_b, "api", "third on B") == answer_text("third on B")

    # 4: on A, refused before any request goes out.
    sent = replicas.sent_upstream()
    fourth = user_a.chat_api_stream(MODEL, "fourth on A")
    assert fourth.content == "" and len(fourth.errors) == 1, fourth.chunks
    assert_quota_message(fourth.errors[0]["message"])
    assert replicas.sent_upstream() == sent

    rows = replicas.ledger(user_id)
    chats = [row for row in rows if row[0] == "chat"]
    assert len(chats) == 3, rows
    assert all(
        tokens_in > 0 and tokens_out > 0 for _, tokens_in, tokens_out, _ in chats
    )
    assert chats[1][3] == second.chat_id  # the web chat's row names its chat
    tasks = {row[0] for row in rows} - {"chat"}
    assert tasks and tasks <= {
        "title_generation",
        "tags_generation",
        "follow_up_generation",
    }, rows

    # 5: A restarts (empty memory, same database); still refused.
    replicas.restart("A")
    fifth = user_a.chat_api(MODEL, "fifth on A")
    assert "choices" not in fifth, fifth
    assert_quota_message(fifth["error"]["detail"])
    assert replicas.sent_upstream() == sent
    assert replicas.ledger(user_id) == rows
    user_b.close()
    user_a.close()
    assert_no_pipe_trouble(replicas)


def test_own_key_never_counted(replicas: Replicas):
    """A user with a key of their own chats 5 times on both replicas and both
    paths: all answered on that key, not one ledger row."""
    admin = replicas.admin
    assert admin is not None
    own_a = admin.create_user("Own key user")
    own_a.update_user_valves(PIPE_ID, {"OPENAI_API_KEY": USER_KEYS[0]})
    own_b = replicas.on("B", own_a)
    sent = len(replicas.upstream.chat_requests())

    steps = [
        (own_a, "api-stream"),
        (own_b, "api"),
        (own_a, "api"),
        (own_b, "web"),
        (own_a, "api-stream"),
    ]
    for number, (client, path) in enumerate(steps, 1):
        prompt = f"own key chat {number} ({path})"
        assert answer(client, path, prompt) == answer_text(prompt)

    records = replicas.upstream.chat_requests()[sent:]
    assert len(records) >= 5 and all(r.key == USER_KEYS[0] for r in records)
    assert replicas.ledger(own_a.user["id"]) == []
    own_b.close()
    own_a.close()
    assert_no_pipe_trouble(replicas)
