"""Identity on a real Open WebUI 0.12.4, the pipe side by side with Open WebUI's own
OpenAI connection (issue 18, point 5).

This module starts its own Open WebUI (`identity`), because two things must be set
when the process starts:

- `ENABLE_FORWARD_USER_INFO_HEADERS=true`, so Open WebUI's built-in connection sends
  the X-OpenWebUI-* user-info headers, and the pipe must send exactly the same ones;
- the built-in connection (`OPENAI_API_BASE_URLS`/`OPENAI_API_KEYS`, config.py
  l.325-353) pointed at the same fake upstream as the pipe, with a key of its own so
  the recorded requests tell the two apart.

The pipe's OPENAI_API_BASE_URL is `http://api.openai.com/v1`, reached through
`HTTP_PROXY` = the fake (which answers proxied absolute-URL requests), so by its URL
the endpoint is OpenAI's own API and `safety_identifier` applies. `NO_PROXY` keeps
the built-in connection (127.0.0.1) direct.

The last test runs on the session's server (tests/e2e/conftest.py), which starts
without the setting: there the pipe forwards no headers at all.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import string
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from scripts.owui.client import OpenWebUI
from scripts.owui.process import OpenWebUIProcess, start_openwebui
from tests.fakes.recorded import Recorded
from tests.upstream import FakeOpenAI, answer_text

if TYPE_CHECKING:  # the session fixtures' types, from this directory's conftest.py
    from tests.e2e.conftest import InstalledPipe

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
PIPE_FILE = REPO_ROOT / "openai_manifold_pipe.py"
ARTIFACTS = REPO_ROOT / "test-artifacts"
PIPE_ID = "openai_manifold_pipe"
OPENAI_URL = "http://api.openai.com/v1"  # reached through HTTP_PROXY = the fake
HEADER_PREFIX = "x-openwebui-"
USER_NAME = "Zoë Test"  # non-ASCII and a space: the name header is URL-quoted


def _key(label: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return f"sk-id{label}-" + "".join(secrets.choice(alphabet) for _ in range(32))


GLOBAL_KEY = _key("G")  # the pipe's global valve (shared with fallback users)
BUILTIN_KEY = _key("B")  # Open WebUI's own connection
OWN_KEY = _key("U")  # a user's own key in the pipe's UserValves


def identifier(user_id: str) -> str:
    """What SPEC says goes out as `safety_identifier` for an Open WebUI user id."""
    return hashlib.sha256(f"openai-manifold-pipe:{user_id}".encode()).hexdigest()


def forwarded(record: Recorded) -> dict[str, str]:
    """The X-OpenWebUI-* headers of a recorded request (names lower-cased)."""
    return {
        name.lower(): value
        for name, value in record.headers.items()
        if name.lower().startswith(HEADER_PREFIX)
    }


def expected_headers(
    user: dict, chat_id: str | None = None, auth_type: str = "jwt"
) -> dict[str, str]:
    """The user-info headers Open WebUI 0.12.4 builds for a signed-in user."""
    headers = {
        "x-openwebui-user-name": quote(user["name"].strip(), safe=" "),
        "x-openwebui-user-id": user["id"],
        "x-openwebui-user-email": user["email"],
        "x-openwebui-user-role": user["role"],
        "x-openwebui-auth-type": auth_type,
    }
    if chat_id:
        headers["x-openwebui-chat-id"] = chat_id
    return headers


# --------------------------------------------------------------------------------------
# The dedicated server
# --------------------------------------------------------------------------------------


@dataclass
class Identity:
    """This module's Open WebUI, its fake upstream and its two normal users."""

    server: OpenWebUIProcess
    upstream: FakeOpenAI
    admin: OpenWebUI
    zoe: OpenWebUI  # no key of her own: chats on the global key
    owen: OpenWebUI  # his own key in the pipe's UserValves

    def one_request(self, key: str, path: str = "/v1/chat/completions") -> Recorded:
        """The only request recorded on `path` with `key` since the last clear."""
        records = [
            r
            for r in list(self.upstream.requests)
            if r.path == path and r.method == "POST" and r.key == key
        ]
        assert len(records) == 1, [(r.path, r.key == key) for r in records]
        return records[0]


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Identity]:
    root = tmp_path_factory.mktemp("openwebui-identity")
    with FakeOpenAI(keys=(GLOBAL_KEY, BUILTIN_KEY, OWN_KEY)) as upstream:
        no_proxy = "127.0.0.1,localhost"
        env = {
            "ENABLE_FORWARD_USER_INFO_HEADERS": "true",
            "ENABLE_OPENAI_API": "true",
            # Open WebUI API keys (sk-...), for the `api_key` auth type
            "ENABLE_API_KEYS": "true",
            "USER_PERMISSIONS_FEATURES_API_KEYS": "true",
            "OPENAI_API_BASE_URLS": upstream.base_url,
            "OPENAI_API_KEYS": BUILTIN_KEY,
            "HTTP_PROXY": upstream.origin,
            "http_proxy": upstream.origin,
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
        }
        server = start_openwebui(
            data_dir=root / "data", log_path=root / "server.log", env=env
        )
        admin = OpenWebUI(server.base_url)
        clients = [admin]
        try:
            admin.signup("Admin", "admin@example.com", "pw-admin-12345")
            function = admin.install_function(PIPE_FILE.read_text(encoding="utf-8"))
            assert function["id"] == PIPE_ID and function["is_active"]
            admin.update_valves(
                PIPE_ID,
                {
                    "OPENAI_API_BASE_URL": OPENAI_URL,
                    "OPENAI_API_KEY": GLOBAL_KEY,
                    "ALLOW_GLOBAL_KEY_FALLBACK": True,
                },
            )
            listed = admin.model_ids(refresh=True)
            for model in ("gpt-4o", f"{PIPE_ID}.gpt-4o", f"{PIPE_ID}.o4-mini"):
                assert model in listed, listed
                admin.make_model_public(model)  # built-in and pipe models alike
            zoe = admin.create_user(USER_NAME)
            owen = admin.create_user("Owen Ownkey")
            clients += [zoe, owen]
            owen.update_user_valves(PIPE_ID, {"OPENAI_API_KEY": OWN_KEY})
            yield Identity(server, upstream, admin, zoe, owen)
        finally:
            for client in clients:
                client.close()
            server.stop()
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copyfile(
                server.log_path, ARTIFACTS / "openwebui-identity-server.log"
            )


@pytest.fixture
def world(identity: Identity) -> Identity:
    identity.upstream.clear()
    return identity


# --------------------------------------------------------------------------------------
# The forwarded headers, built-in connection vs pipe
# --------------------------------------------------------------------------------------


def test_api_path_headers_equal_the_builtin_connections(world: Identity):
    zoe, prompt = world.zoe, f"tag{secrets.token_hex(3)} hello there"
    for model in ("gpt-4o", f"{PIPE_ID}.gpt-4o"):
        answer = zoe.chat_api(model, prompt)
        assert answer["choices"][0]["message"]["content"] == answer_text(prompt)
    builtin = world.one_request(BUILTIN_KEY)
    piped = world.one_request(GLOBAL_KEY)
    assert piped.headers.get("host") == "api.openai.com"  # came through the proxy
    assert forwarded(piped) == forwarded(builtin)
    assert forwarded(piped) == expected_headers(zoe.user)
    assert forwarded(piped)["x-openwebui-user-name"] == "Zo%C3%AB Test"


def test_web_path_headers_equal_the_builtin_connections(world: Identity):
    zoe, prompt = world.zoe, f"tag{secrets.token_hex(3)} hello from the page"
    turns = {}
    for model in ("gpt-4o", f"{PIPE_ID}.gpt-4o"):
        turn = zoe.chat_web(model, prompt, background_tasks={})
        assert turn.error is None, turn.error_text
        assert turn.content == answer_text(prompt)
        turns[model] = turn
    builtin = world.one_request(BUILTIN_KEY)
    piped = world.one_request(GLOBAL_KEY)
    builtin_chat = turns["gpt-4o"].chat_id
    pipe_chat = turns[f"{PIPE_ID}.gpt-4o"].chat_id
    assert builtin_chat != pipe_chat
    assert forwarded(builtin) == expected_headers(zoe.user, builtin_chat)
    assert forwarded(piped) == expected_headers(zoe.user, pipe_chat)
    # Equal but for the chat, which is another one.
    assert {**forwarded(piped), "x-openwebui-chat-id": builtin_chat} == forwarded(
        builtin
    )


def test_api_key_auth_headers_equal_the_builtin_connections(world: Identity):
    """Zoë calls with an Open WebUI API key (sk-...) instead of her session token."""
    zoe = world.zoe
    api_key = zoe.post("/api/v1/auths/api_key")["api_key"]
    with_key = zoe.as_token(api_key, zoe.user)
    prompt = f"tag{secrets.token_hex(3)} by api key"
    try:
        for model in ("gpt-4o", f"{PIPE_ID}.gpt-4o"):
            answer = with_key.chat_api(model, prompt)
            assert answer["choices"][0]["message"]["content"] == answer_text(prompt)
    finally:
        with_key.close()
    builtin = world.one_request(BUILTIN_KEY)
    piped = world.one_request(GLOBAL_KEY)
    assert forwarded(piped) == forwarded(builtin)
    assert forwarded(piped) == expected_headers(zoe.user, auth_type="api_key")


def test_own_key_chats_forward_the_same_headers(world: Identity):
    owen, prompt = world.owen, f"tag{secrets.token_hex(3)} my own key"
    for model in ("gpt-4o", f"{PIPE_ID}.gpt-4o"):
        answer = owen.chat_api(model, prompt)
        assert answer["choices"][0]["message"]["content"] == answer_text(prompt)
    builtin = world.one_request(BUILTIN_KEY)
    piped = world.one_request(OWN_KEY)
    assert forwarded(piped) == forwarded(builtin) == expected_headers(owen.user)


# --------------------------------------------------------------------------------------
# safety_identifier
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "path"),
    [("gpt-4o", "/v1/chat/completions"), ("o4-mini", "/v1/responses")],
    ids=["chat-completions", "responses"],
)
def test_safety_identifier_only_on_the_shared_key(world: Identity, model, path):
    """gpt-4o goes to /chat/completions, o4-mini to /responses (RESPONSES_API=auto)."""
    prompt = f"tag{secrets.token_hex(3)} who am I"
    for user in (world.zoe, world.owen):
        answer = user.chat_api(f"{PIPE_ID}.{model}", prompt)
        assert answer["choices"][0]["message"]["content"] == answer_text(prompt)
    shared = world.one_request(GLOBAL_KEY, path)
    own = world.one_request(OWN_KEY, path)
    zoe_id = world.zoe.user["id"]
    assert shared.body["safety_identifier"] == identifier(zoe_id)
    assert len(shared.body["safety_identifier"]) == 64
    assert zoe_id not in shared.raw_body.decode()  # a hash, never the id itself
    assert "safety_identifier" not in own.body
    assert forwarded(shared) == expected_headers(world.zoe.user)
    assert forwarded(own) == expected_headers(world.owen.user)


def test_safety_identifier_on_the_web_path_too(world: Identity):
    prompt = f"tag{secrets.token_hex(3)} who am I on the page"
    turn = world.zoe.chat_web(f"{PIPE_ID}.o4-mini", prompt, background_tasks={})
    assert turn.error is None, turn.error_text
    shared = world.one_request(GLOBAL_KEY, "/v1/responses")
    assert shared.body["safety_identifier"] == identifier(world.zoe.user["id"])
    assert forwarded(shared) == expected_headers(world.zoe.user, turn.chat_id)


# --------------------------------------------------------------------------------------
# The setting off: the session's server
# --------------------------------------------------------------------------------------


def test_no_headers_and_no_identifier_when_off_and_not_openai(
    pipe_installed: InstalledPipe, upstream: FakeOpenAI
):
    """The session server runs without ENABLE_FORWARD_USER_INFO_HEADERS, and its pipe
    talks to the fake by its 127.0.0.1 URL: no headers, and no safety_identifier
    even on the shared key."""
    pipe_installed.set_valves(ALLOW_GLOBAL_KEY_FALLBACK=True)
    own = pipe_installed.new_user()  # USER_KEYS[0]
    shared = pipe_installed.new_user(key=None)
    prompt = f"tag{secrets.token_hex(3)} nothing forwarded"
    own.chat_api(pipe_installed.model("gpt-4o"), prompt)
    shared.chat_api(pipe_installed.model("gpt-4o"), prompt)
    turn = own.chat_web(pipe_installed.model("gpt-4o"), prompt, background_tasks={})
    assert turn.error is None, turn.error_text
    records = upstream.chat_requests()
    assert len(records) == 3
    for record in records:
        assert forwarded(record) == {}
        assert "safety_identifier" not in record.body
