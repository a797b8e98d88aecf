"""The same file on every Open WebUI it claims: the oldest and each minor line's last.

For each release in `scripts/hosts.py` (HOSTS), in a virtualenv of its own built with
uv: the built file installed the way an admin pastes it (over the REST API, its id
from the frontmatter), two users chatting at once on their own keys, streamed and
whole on the API path, a user without a key told what to do, a reasoning model's
reasoning reaching the client, USER_QUOTA counted in the host's own database, and no
key anywhere in the server's log.

Marked `hosts` (and `e2e`): `python3 scripts/test.py -m hosts` runs only these,
`-m "not hosts"` leaves them out. A release's first build takes 20-40 s (uv, shared
cache in `.hosts/`), its start 15-25 s.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from scripts.hosts import HOSTS, HostBuildError, executable
from scripts.owui.client import OpenWebUI
from scripts.owui.process import start_openwebui
from tests.upstream import OPENAI_MODELS, FakeOpenAI, answer_text

pytestmark = [pytest.mark.e2e, pytest.mark.hosts]

ROOT = Path(__file__).resolve().parents[2]
PIPE_FILE = ROOT / "openai_manifold_pipe.py"
ARTIFACTS = ROOT / "test-artifacts" / "hosts"
PIPE_ID = "openai_manifold_pipe"
ADMIN_KEY = "sk-host-admin-" + secrets.token_hex(12)
USER_KEYS = ("sk-host-alice-" + secrets.token_hex(12), "hostbob" + secrets.token_hex(14))
KEYS = (ADMIN_KEY, *USER_KEYS)
PROMPT = "hello from an older host"


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class Server:
    """One release of Open WebUI, running, with an admin and the pipe installed."""

    def __init__(self, version: str, chat_up: FakeOpenAI, tmp: Path) -> None:
        self.version = version
        try:
            command = executable(version)
        except HostBuildError as error:
            pytest.fail(str(error))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTIFACTS / f"open-webui-{version}.log"
        # Every account may use every model: visibility grants changed shape over
        # the releases, and are Open WebUI's business, not the pipe's. An external
        # embedding engine: offline, 0.9 refuses to start without a local model.
        self.process = start_openwebui(
            data_dir=tmp / "data", log_path=self.log_path, executable=command,
            env={"BYPASS_MODEL_ACCESS_CONTROL": "true", "RAG_EMBEDDING_ENGINE": "openai"},
        )
        self.admin = OpenWebUI(self.process.base_url)
        self.admin.signup("Admin", "admin@example.com", "pw-admin-12345")
        self.function = self.admin.install_function(PIPE_FILE.read_text(encoding="utf-8"))
        self.valves = {"OPENAI_API_BASE_URL": chat_up.base_url, "OPENAI_API_KEY": ADMIN_KEY}
        self.admin.update_valves(PIPE_ID, self.valves)

    def stop(self) -> None:
        self.admin.close()
        self.process.stop()


@pytest.fixture(scope="module")
def chat_up() -> Iterator[FakeOpenAI]:
    # A local server (not OpenAI's rules), which also serves a DeepSeek-style reasoner.
    with FakeOpenAI(keys=KEYS, models=[*OPENAI_MODELS, "deepseek-reasoner"],
                    strict=False) as server:
        yield server


@pytest.fixture(scope="module", params=HOSTS)
def host(request, chat_up: FakeOpenAI, tmp_path_factory) -> Iterator[Server]:
    server = Server(request.param, chat_up, tmp_path_factory.mktemp(request.param))
    try:
        yield server
    finally:
        server.stop()


def test_installed_like_a_paste(host: Server):
    assert host.function["id"] == PIPE_ID and host.function["is_active"]
    offered = [m["id"] for m in host.admin.models() if m["id"].startswith(PIPE_ID + ".")]
    assert f"{PIPE_ID}.gpt-4o" in offered and f"{PIPE_ID}.whisper-1" not in offered


def test_key_fields_are_masked_where_the_host_can_type_in_them(host: Server):
    """0.6 and 0.7 draw no box for a password input: there the key is plain text."""
    for spec in (host.admin.get_valves_spec(PIPE_ID),
                 host.admin.get_user_valves_spec(PIPE_ID)):
        field = spec["properties"]["OPENAI_API_KEY"]
        assert ("input" in field) is (version_tuple(host.version) >= (0, 8, 0)), field


def test_two_users_on_their_own_keys_streamed_and_whole(host: Server, chat_up: FakeOpenAI):
    users = [host.admin.create_user(f"User {i}") for i in range(len(USER_KEYS))]
    for user, key in zip(users, USER_KEYS):
        saved = user.update_user_valves(PIPE_ID, {"OPENAI_API_KEY": key})
        assert saved["OPENAI_API_KEY"] == key  # 0.6 also stores the defaults
    chat_up.clear()

    def chat(pair: tuple[OpenWebUI, str]) -> None:
        user, tag = pair
        streamed = user.chat_api_stream(f"{PIPE_ID}.gpt-4o", f"{tag} {PROMPT}")
        assert streamed.content == answer_text(f"{tag} {PROMPT}"), streamed.chunks
        assert not streamed.errors
        whole = user.chat_api(f"{PIPE_ID}.gpt-4o", f"{tag} {PROMPT}")
        assert whole["choices"][0]["message"]["content"] == answer_text(f"{tag} {PROMPT}")

    tags = [f"tag{secrets.token_hex(3)}" for _ in users]
    with ThreadPoolExecutor(len(users)) as pool:
        list(pool.map(chat, zip(users, tags)))
    records = chat_up.chat_requests()
    assert len(records) == 2 * len(users)
    for record in records:
        text = record.body["messages"][-1]["content"]
        [owner] = [i for i, tag in enumerate(tags) if tag in text]
        assert record.key == USER_KEYS[owner], "a chat went out with another user's key"


def test_a_user_without_a_key_is_told_what_to_do(host: Server, chat_up: FakeOpenAI):
    user = host.admin.create_user("No Key")
    chat_up.clear()
    streamed = user.chat_api_stream(f"{PIPE_ID}.gpt-4o", PROMPT)
    [error] = streamed.errors
    assert error["message"].startswith("OPENAI_API_KEY not provided by the user.")
    whole = user.chat_api(f"{PIPE_ID}.gpt-4o", PROMPT)
    assert "OPENAI_API_KEY not provided" in str(whole.get("error") or whole)
    assert chat_up.chat_requests() == []


def test_reasoning_reaches_the_client(host: Server, chat_up: FakeOpenAI):
    user = host.admin.create_user("Thinker")
    user.update_user_valves(PIPE_ID, {"OPENAI_API_KEY": USER_KEYS[0]})
    streamed = user.chat_api_stream(f"{PIPE_ID}.deepseek-reasoner", PROMPT)
    thought = "".join(
        (choice.get("delta") or {}).get("reasoning_content") or ""
        for chunk in streamed.chunks if isinstance(chunk, dict)
        for choice in chunk.get("choices") or ()
    )
    assert thought.startswith("Thinking about:") and streamed.content == answer_text(PROMPT)


def test_the_shared_key_quota_counts_in_the_hosts_database(host: Server, chat_up: FakeOpenAI):
    """The ledger through the host's own engine: sync before 0.9, async after."""
    user = host.admin.create_user("Counted")
    quota = {"ALLOW_GLOBAL_KEY_FALLBACK": True, "USER_QUOTA": "requests/day=2"}
    host.admin.update_valves(PIPE_ID, {**host.valves, **quota})
    chat_up.clear()
    try:
        for n in range(2):
            answer = user.chat_api(f"{PIPE_ID}.gpt-4o", f"{n} {PROMPT}")
            assert answer["choices"][0]["message"]["content"] == answer_text(f"{n} {PROMPT}")
        refused = user.chat_api_stream(f"{PIPE_ID}.gpt-4o", PROMPT)
        [error] = refused.errors
        assert "2 requests of 2 requests today" in error["message"], error
    finally:
        host.admin.update_valves(PIPE_ID, host.valves)
    assert [r.key for r in chat_up.chat_requests()] == [ADMIN_KEY, ADMIN_KEY]
    with sqlite3.connect(host.process.data_dir / "webui.db") as db:
        rows = db.execute("SELECT kind, model, input_tokens FROM openai_manifold_pipe_ledger "
                          "WHERE user_id = ?", (user.user["id"],)).fetchall()
    assert [(kind, model) for kind, model, _ in rows] == [("chat", "gpt-4o")] * 2
    assert all(tokens > 0 for _, _, tokens in rows)
    assert "USER_QUOTA not applied" not in host.log_path.read_text(encoding="utf-8")


def test_no_key_in_the_log(host: Server):
    log = host.log_path.read_text(encoding="utf-8", errors="replace")
    for key in KEYS:
        pieces = {key[i : i + 8] for i in range(len(key) - 7)}
        assert not [piece for piece in pieces if piece in log], f"a piece of a key in {log}"
