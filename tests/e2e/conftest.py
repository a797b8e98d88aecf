"""Fixtures for end-to-end tests against a real Open WebUI 0.12.4.

One Open WebUI serves the whole test session (starting one takes 10-25 s on two
cores): `openwebui` starts it with an empty data directory, signs up the first
account (the admin) and hands out the clients. Its log is kept in
`test-artifacts/openwebui-server.log` for post-mortems.

`pipe_installed` installs the built `openai_manifold_pipe.py` the way an admin
pastes it, and points its valves at a `FakeOpenAI` upstream (tests/upstream.py).

Every test in this directory is marked `e2e` (`pytest -m "not e2e"` skips them).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from scripts.owui.client import OpenWebUI, OpenWebUIError  # noqa: E402
from scripts.owui.process import OpenWebUIProcess, start_openwebui  # noqa: E402

if TYPE_CHECKING:
    from tests.upstream import FakeOpenAI

PIPE_FILE = REPO_ROOT / "openai_manifold_pipe.py"
PIPE_ID = "openai_manifold_pipe"  # what the editor derives from the frontmatter title
ARTIFACTS = REPO_ROOT / "test-artifacts"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "pw-admin-12345"

# Keys the session's fake upstream accepts besides its DEFAULT_KEY (the admin's).
USER_KEYS = (
    "sk-test-bravo-0000000000000002",
    "sk-test-charlie-0000000000000003",
    "sk-test-delta-0000000000000004",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under tests/e2e as `e2e`."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


# --------------------------------------------------------------------------------------
# The host
# --------------------------------------------------------------------------------------


@dataclass
class Host:
    """The session's Open WebUI: its process, its admin, its log."""

    server: OpenWebUIProcess
    admin: OpenWebUI
    _clients: list[OpenWebUI] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def log_path(self) -> Path:
        return self.server.log_path

    @property
    def startup_seconds(self) -> float:
        return self.server.startup_seconds

    def log_text(self) -> str:
        return self.server.log_text()

    def log_mark(self) -> int:
        """Current end of the log; pass it to `log_since` to see what a test caused."""
        return len(self.log_text())

    def log_since(self, mark: int) -> str:
        return self.log_text()[mark:]

    def new_user(self, name: str | None = None, role: str = "user") -> OpenWebUI:
        """A fresh account (added by the admin) and a client signed in as it."""
        client = self.admin.create_user(name, role=role)
        self._clients.append(client)
        return client

    def close(self) -> None:
        for client in [*self._clients, self.admin]:
            client.close()


def _report(config: pytest.Config, line: str) -> None:
    """Write a line to the terminal even under -q and output capturing."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line, file=sys.stderr)
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(line)


@pytest.fixture(scope="session")
def openwebui(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Host]:
    """One Open WebUI for the session, with its first account signed up as admin."""
    root = tmp_path_factory.mktemp("openwebui")
    server = start_openwebui(data_dir=root / "data", log_path=root / "server.log")
    _report(
        request.config,
        f"Open WebUI 0.12.4 started in {server.startup_seconds:.1f} s "
        f"at {server.base_url} (log: {ARTIFACTS / 'openwebui-server.log'})",
    )
    admin = OpenWebUI(server.base_url)
    host = Host(server, admin)
    try:
        admin.signup("Admin", ADMIN_EMAIL, ADMIN_PASSWORD)
        yield host
    finally:
        host.close()
        server.stop()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copyfile(server.log_path, ARTIFACTS / "openwebui-server.log")


# --------------------------------------------------------------------------------------
# The pipe under test, wired to a fake upstream
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _session_upstream() -> Iterator[FakeOpenAI]:
    from tests.upstream import DEFAULT_KEY, FakeOpenAI

    fake = FakeOpenAI(keys=(DEFAULT_KEY, *USER_KEYS)).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def upstream(_session_upstream: FakeOpenAI) -> FakeOpenAI:
    """The fake OpenAI the installed pipe talks to: one server for the session
    (Open WebUI's pipe keeps pointing at it), cleared for each test. Accepts
    DEFAULT_KEY (the admin's global key) and USER_KEYS. Overrides tests/conftest.py's
    per-test `upstream` inside tests/e2e."""
    _session_upstream.clear()
    return _session_upstream


@dataclass
class InstalledPipe:
    """The pipe as installed in the session's Open WebUI, and its upstream."""

    host: Host
    upstream: FakeOpenAI
    function_id: str = PIPE_ID

    @property
    def admin(self) -> OpenWebUI:
        return self.host.admin

    def model(self, upstream_id: str) -> str:
        """Open WebUI's id for an upstream model: `openai_manifold_pipe.gpt-4o`."""
        return f"{self.function_id}.{upstream_id}"

    def baseline_valves(self) -> dict:
        from tests.upstream import DEFAULT_KEY

        return {
            "OPENAI_API_BASE_URL": self.upstream.base_url,
            "OPENAI_API_KEY": DEFAULT_KEY,
        }

    def set_valves(self, **overrides: object) -> dict:
        """Save the global valves: the baseline (fake URL + admin key) plus overrides.

        Open WebUI replaces the whole stored dict, so earlier overrides are gone.
        """
        return self.admin.update_valves(
            self.function_id, {**self.baseline_valves(), **overrides}
        )

    def grant_models(self) -> list[str]:
        """Make every model the pipe lists now visible to normal users.

        Open WebUI stores a model entry per grant, and that entry's name then
        replaces the pipe's name in every listing (admin's too). Tests about model
        names call `revoke_models()` first.
        """
        return self.admin.make_models_public(f"{self.function_id}.")

    def revoke_models(self) -> None:
        """Delete the grant entries: names come from the pipe again, users see nothing."""
        for model in self.admin.models():
            if model["id"].startswith(f"{self.function_id}."):
                try:
                    self.admin.delete_model(model["id"])
                except OpenWebUIError:
                    pass  # never granted

    def new_user(
        self, key: str | None = USER_KEYS[0], **user_valves: object
    ) -> OpenWebUI:
        """A normal user whose UserValves hold `key` (None: saves no valves)."""
        user = self.host.new_user()
        valves = {**({"OPENAI_API_KEY": key} if key else {}), **user_valves}
        if valves:
            user.update_user_valves(self.function_id, valves)
        return user


@pytest.fixture(scope="session")
def _pipe_function(openwebui: Host) -> dict:
    """Install the built file once, as pasted: the id comes from its frontmatter."""
    if not PIPE_FILE.exists():
        pytest.fail(f"{PIPE_FILE.name} is missing: run `python scripts/build.py`")
    function = openwebui.admin.install_function(PIPE_FILE.read_text(encoding="utf-8"))
    assert function["id"] == PIPE_ID, f"pasted file got the id {function['id']!r}"
    assert function["is_active"]
    return function


@pytest.fixture
def pipe_installed(
    openwebui: Host, upstream: FakeOpenAI, _pipe_function: dict
) -> InstalledPipe:
    """The pipe, active, valves reset to the fake upstream, its models granted to users.

    The upstream's recorded requests and faults are cleared last, so a test sees
    only its own traffic. Granted models carry the name they had when granted (see
    `InstalledPipe.grant_models`). The pipe instance itself (and its model cache)
    lives as long as the session's Open WebUI.
    """
    pipe = InstalledPipe(openwebui, upstream)
    openwebui.admin.set_function_active(PIPE_ID, True)
    pipe.set_valves()
    pipe.grant_models()
    upstream.clear()
    return pipe
