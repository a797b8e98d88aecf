"""Drive a real Open WebUI 0.12.4 from Python, the way an admin and a browser do.

Shared by the end-to-end tests, the demo and the benchmark. Two parts:

- `start_openwebui()` runs `open-webui serve` from this virtualenv, offline, with a
  fresh data directory, and waits until `/health` answers.
- `OpenWebUI` is a small synchronous REST + socket.io client covering what the
  project needs (HOST.md section 7): accounts, functions and their valves, model
  listing and access grants, and chats on both paths:
  * API path (`chat_api`, `chat_api_stream`): `POST /api/chat/completions` without a
    socket session; the HTTP response carries the answer (SSE or JSON).
  * Web path (`chat_web`): exactly what the page sends (Chat.svelte,
    `sendMessageSocket`): a socket.io session, the answer runs as a background task
    and arrives as socket.io `events`; the saved message is then read back from the
    chat, which is what a user sees after a reload.

Everything here is blocking on purpose: tests and scripts call it from plain
functions. socket.io uses python-socketio's threaded `Client` (websocket-client
transport).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
HEALTH_TIMEOUT = 180.0

# Environment for a quiet, offline, reproducible server. Why each one:
OFFLINE_ENV: dict[str, str] = {
    # no network: no HF downloads, no pip installs of frontmatter requirements
    "OFFLINE_MODE": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    # no built-in connections: only our pipe provides models
    "ENABLE_OLLAMA_API": "false",
    "ENABLE_OPENAI_API": "false",
    # RAG: an empty model name skips importing sentence-transformers and trying to
    # load all-MiniLM-L6-v2 at startup (-3 s, and no offline-lookup traceback)
    "RAG_EMBEDDING_MODEL": "",
    "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "false",
    "RAG_RERANKING_MODEL_AUTO_UPDATE": "false",
    "ENABLE_VERSION_UPDATE_CHECK": "false",
    # telemetry off (no outgoing traffic attempts)
    "SCARF_NO_ANALYTICS": "true",
    "DO_NOT_TRACK": "true",
    "ANONYMIZED_TELEMETRY": "false",
    # the page's socket.io transport is needed for the web path
    "ENABLE_WEBSOCKET_SUPPORT": "true",
}


# --------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------


class OpenWebUIStartError(RuntimeError):
    """The server exited or never became healthy; the message holds its log tail."""


@dataclass
class OpenWebUIProcess:
    """A running `open-webui serve`; stop it with `.stop()` (or use `with`)."""

    process: subprocess.Popen
    port: int
    data_dir: Path
    log_path: Path
    startup_seconds: float = 0.0
    _log_file: Any = None
    _owned_dirs: list[Path] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        """Everything the server printed so far (stdout and stderr)."""
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, wait, then SIGKILL; close the log; remove temp dirs we created."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.close()
        for directory in self._owned_dirs:
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> OpenWebUIProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def free_port() -> int:
    """A TCP port nobody listens on right now (bind to 0 and ask the kernel)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def open_webui_executable() -> Path:
    """`open-webui` next to the running interpreter (the venv's console script)."""
    candidate = Path(sys.executable).parent / "open-webui"
    if not candidate.exists():
        raise FileNotFoundError(
            f"{candidate} not found: run with the project's venv "
            "(python3 scripts/test.py installs it)"
        )
    return candidate


def server_environment(
    port: int, data_dir: Path, extra: dict[str, str] | None
) -> dict[str, str]:
    """os.environ + the offline settings + a fresh secret, then the caller's overrides."""
    env = dict(os.environ)
    env.update(OFFLINE_ENV)
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "WEBUI_SECRET_KEY": secrets.token_hex(24),
            # what a real deployment sets; also silences the "CORS is '*'" warning
            "CORS_ALLOW_ORIGIN": f"http://127.0.0.1:{port};http://localhost:{port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def start_openwebui(
    port: int | None = None,
    data_dir: Path | str | None = None,
    env: dict[str, str] | None = None,
    log_path: Path | str | None = None,
    timeout: float = HEALTH_TIMEOUT,
    progress: Callable[[float], None] | None = None,
    executable: Path | None = None,
) -> OpenWebUIProcess:
    """Start `open-webui serve` on 127.0.0.1 and wait until `/health` answers 200.

    `data_dir` defaults to a new temporary directory (removed by `.stop()`), so every
    start is a first start: empty database, no users, no functions. `env` entries
    override the defaults (`OFFLINE_ENV`...). The server's output goes to `log_path`
    (default: `server.log` beside the data dir). Raises `OpenWebUIStartError` with
    the last 40 log lines if the process dies or is not healthy within `timeout`.
    `progress(seconds_waited)` is called between health checks (the demo's
    progress line); an exception from it (Ctrl-C) stops the server and propagates.
    `executable` is another installation's `open-webui` (an older release for the
    host matrix); by default the one beside the running interpreter.
    """
    port = port or free_port()
    owned: list[Path] = []
    if data_dir is None:
        root = Path(tempfile.mkdtemp(prefix="openwebui-"))
        owned.append(root)
        data_dir = root / "data"
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path else data_dir.parent / "server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)

    log_file = open(log_path, "w", encoding="utf-8")
    started = time.monotonic()
    process = subprocess.Popen(
        [
            str(executable or open_webui_executable()),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=server_environment(port, data_dir, env),
        cwd=data_dir,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C in the terminal does not hit it twice
    )
    server = OpenWebUIProcess(process, port, data_dir, log_path, 0.0, log_file, owned)
    try:
        wait_for_health(server, timeout, progress)
    except BaseException:
        server.stop()
        raise
    server.startup_seconds = time.monotonic() - started
    return server


def wait_for_health(
    server: OpenWebUIProcess,
    timeout: float,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Poll `/health` until 200; fail early if the process exits."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if progress is not None:
            progress(time.monotonic() - started)
        if not server.running():
            raise OpenWebUIStartError(
                f"open-webui exited with code {server.process.returncode} during startup; "
                f"last log lines ({server.log_path}):\n{server.log_tail()}"
            )
        try:
            if requests.get(f"{server.base_url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise OpenWebUIStartError(
        f"open-webui not healthy after {timeout:.0f} s; last log lines "
        f"({server.log_path}):\n{server.log_tail()}"
    )


# --------------------------------------------------------------------------------------
# Function files: what the editor does with a pasted file
# --------------------------------------------------------------------------------------


def parse_frontmatter(content: str) -> dict[str, str]:
    """The editor's `extractFrontmatter`: `key: value` lines of the opening docstring.

    Only if the very first line is `\"\"\"`; stops at the next line containing `\"\"\"`.
    """
    lines = content.split("\n")
    if not lines or lines[0].strip() != '"""':
        return {}
    found: dict[str, str] = {}
    for line in lines[1:]:
        if '"""' in line:
            break
        match = re.match(r"^\s*([a-z_]+):\s*(.*)\s*$", line, re.IGNORECASE)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def name_to_id(name: str) -> str:
    """The editor's `nameToId`: "OpenAI Manifold Pipe" -> "openai_manifold_pipe"."""
    ascii_name = "".join(
        char
        for char in unicodedata.normalize("NFD", name)
        if not unicodedata.combining(char)
    )
    return re.sub(r"[^\w]+", "_", ascii_name, flags=re.ASCII).strip("_").lower()


def format_title(title: str) -> str:
    """The editor's `formatSkillName`: `-`/`_` become spaces, words capitalised."""
    spaced = re.sub(r"[-_]", " ", title)
    return re.sub(r"\b\w", lambda match: match.group(0).upper(), spaced)


# --------------------------------------------------------------------------------------
# Chat results
# --------------------------------------------------------------------------------------


@dataclass
class ApiStream:
    """A streamed API-path answer, parsed from its SSE body.

    `chunks` holds every `data:` payload in order: JSON-decoded when possible, the
    literal string "[DONE]" for the end marker, other text as is.
    """

    status: int
    headers: dict[str, str]
    raw: str
    chunks: list[Any]
    seconds: float

    @property
    def json_chunks(self) -> list[dict]:
        return [chunk for chunk in self.chunks if isinstance(chunk, dict)]

    @property
    def content(self) -> str:
        """All `choices[].delta.content` joined: the text a client shows."""
        return "".join(_delta_texts(self.json_chunks, ("content",)))

    @property
    def reasoning(self) -> str:
        return "".join(
            _delta_texts(
                self.json_chunks, ("reasoning_content", "reasoning", "thinking")
            )
        )

    @property
    def errors(self) -> list[Any]:
        """`error` objects of chunks without `choices` (how errors travel in a stream)."""
        return [
            chunk["error"]
            for chunk in self.json_chunks
            if "error" in chunk and not chunk.get("choices")
        ]

    @property
    def usage(self) -> dict | None:
        usages = [chunk["usage"] for chunk in self.json_chunks if chunk.get("usage")]
        return usages[-1] if usages else None

    @property
    def done_count(self) -> int:
        return sum(1 for chunk in self.chunks if chunk == "[DONE]")

    @property
    def finish_reasons(self) -> list[str]:
        return [
            choice["finish_reason"]
            for chunk in self.json_chunks
            for choice in chunk.get("choices") or []
            if isinstance(choice, dict) and choice.get("finish_reason")
        ]

    @property
    def tool_calls(self) -> list[dict]:
        return [
            call
            for chunk in self.json_chunks
            for choice in chunk.get("choices") or []
            if isinstance(choice, dict)
            for call in (choice.get("delta") or {}).get("tool_calls") or []
        ]


def _delta_texts(chunks: Iterable[dict], keys: tuple[str, ...]) -> Iterator[str]:
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            delta = (choice or {}).get("delta") or {}
            for key in keys:
                if isinstance(delta.get(key), str):
                    yield delta[key]


def parse_sse(text: str) -> list[Any]:
    """Split an SSE body into its `data` payloads (multi-line data joined by \\n)."""
    payloads: list[Any] = []
    data_lines: list[str] = []

    def flush() -> None:
        if data_lines:
            payloads.append(_decode_payload("\n".join(data_lines)))
            data_lines.clear()

    for line in text.splitlines():
        if not line.strip():
            flush()
        elif line.startswith("data:"):
            data_lines.append(line[5:].removeprefix(" "))
    flush()
    return payloads


def _decode_payload(payload: str) -> Any:
    if payload.strip() == "[DONE]":
        return "[DONE]"
    try:
        return json.loads(payload)
    except ValueError:
        return payload


@dataclass
class WebChat:
    """One web-path turn: what the page saw live and what was saved.

    `message` is the assistant message as saved in the chat (what a reload shows);
    `events` are the socket.io `events` payloads of this chat, in arrival order.
    """

    chat_id: str
    message_id: str
    user_message_id: str
    reply: dict
    message: dict
    chat: dict
    events: list[dict]
    seconds: float

    @property
    def content(self) -> str:
        """The saved answer text (reasoning is kept apart, in `reasoning`)."""
        content = self.message.get("content") or ""
        return (
            _REASONING_DETAILS.sub("", content).strip()
            if self.legacy_reasoning
            else content
        )

    @property
    def output(self) -> list[dict]:
        return self.message.get("output") or []

    @property
    def reasoning(self) -> str:
        """Text of the saved `reasoning` output items (the collapsible "Thought")."""
        parts = [
            "".join(part.get("text", "") for part in item.get("content") or [])
            for item in self.output
            if item.get("type") == "reasoning"
        ]
        return "\n".join(part for part in parts if part) or self.legacy_reasoning

    @property
    def legacy_reasoning(self) -> str:
        """Reasoning kept inside the content as `<details type="reasoning">` (older hosts)."""
        return "\n".join(
            match.group(1).strip()
            for match in _REASONING_DETAILS.finditer(self.message.get("content") or "")
        )

    @property
    def error(self) -> Any:
        """The saved `message.error` (e.g. `{"content": {"detail": ...}}`) or None."""
        return self.message.get("error")

    @property
    def error_text(self) -> str | None:
        """The text the page's red error box shows (Messages/Error.svelte)."""
        if not self.error:
            return None
        error = self.error
        content = error.get("content") if isinstance(error, dict) else None
        return displayed_error(
            content if content is not None else self.message.get("content")
        )

    @property
    def usage(self) -> dict | None:
        return self.message.get("usage")

    @property
    def streamed_text(self) -> str:
        """The `response.output_text.delta` text pushed live over socket.io."""
        return "".join(
            data.get("delta", "")
            for data in self.event_data("response:completion")
            if data.get("type") == "response.output_text.delta"
        )

    @property
    def title(self) -> str | None:
        return self.chat.get("title")

    def event_types(self) -> list[str]:
        return [event["data"].get("type") for event in self.events]

    def event_data(self, event_type: str) -> list[Any]:
        """`data` of every event of one type, e.g. `event_data("chat:completion")`."""
        return [
            event["data"].get("data")
            for event in self.events
            if event["data"].get("type") == event_type
        ]


_REASONING_DETAILS = re.compile(
    r'<details type="reasoning"[^>]*>(.*?)</details>', re.DOTALL
)


def displayed_error(content: Any) -> str:
    """Mirror of the page's `Error.svelte` `getErrorMessage` for `message.error.content`."""
    if isinstance(content, str):
        return content or "Error submitting message"
    if isinstance(content, dict):
        inner = content.get("error")
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
        for key in ("detail", "message"):
            if isinstance(content.get(key), str):
                return content[key]
    return json.dumps(content)


# --------------------------------------------------------------------------------------
# socket.io session (the page's `$socket`)
# --------------------------------------------------------------------------------------


class ChatSocket:
    """A socket.io connection authenticated as one user, collecting `events`.

    Like the page: connects to `/ws/socket.io` over websocket with `auth={"token"}`,
    then emits `user-join`. Open WebUI sends every chat event to the room
    `user:<id>`, so one socket sees all chats of its user; `chat_web` picks its own
    by chat and message id. Thread-safe: several threads may share one socket.
    """

    def __init__(self, base_url: str, token: str, timeout: float = 10.0) -> None:
        import socketio  # the test extra: python-socketio[client]

        self._events: list[dict] = []
        self._changed = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        self.client.on("events", self._on_event)
        self.client.connect(
            base_url,
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            auth={"token": token},
            wait_timeout=timeout,
        )
        self.client.call("user-join", {"auth": {"token": token}}, timeout=timeout)

    @property
    def session_id(self) -> str:
        """The page's `$socket.id`: the namespace sid, sent as `session_id`."""
        return self.client.get_sid()

    def _on_event(self, payload: dict) -> None:
        with self._changed:
            self._events.append(payload)
            self._changed.notify_all()

    def events_for(self, chat_id: str) -> list[dict]:
        with self._changed:
            return [event for event in self._events if event.get("chat_id") == chat_id]

    def forget(self, chat_id: str) -> None:
        """Drop a finished chat's events so a long-lived socket does not grow."""
        with self._changed:
            self._events = [
                event for event in self._events if event.get("chat_id") != chat_id
            ]

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float) -> dict:
        """Block until an event matching `predicate` has arrived (past ones count)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self._events:
                    if predicate(event):
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no matching socket.io event within {timeout:.0f} s"
                    )
                self._changed.wait(remaining)

    def close(self) -> None:
        self.client.disconnect()

    def __enter__(self) -> ChatSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------
# REST client
# --------------------------------------------------------------------------------------


class OpenWebUIError(RuntimeError):
    """An HTTP error answer from Open WebUI; `.status` and `.body` (JSON or text)."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        detail = body.get("detail", body) if isinstance(body, dict) else body
        super().__init__(f"{method} {path} -> {status}: {detail}")


PUBLIC_READ = [{"principal_type": "user", "principal_id": "*", "permission": "read"}]


class OpenWebUI:
    """Synchronous client for one Open WebUI, acting as one signed-in account.

    `token` is the account's JWT (set by `signup`/`signin`). `as_token()` gives a
    client for another account on the same server.
    """

    def __init__(
        self, base_url: str, token: str | None = None, timeout: float = 60.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.user: dict = {}
        self.http = requests.Session()
        self._socket: ChatSocket | None = None
        self._socket_lock = threading.Lock()

    # -- plumbing ----------------------------------------------------------------------

    def as_token(self, token: str, user: dict | None = None) -> OpenWebUI:
        other = OpenWebUI(self.base_url, token, self.timeout)
        other.user = user or {}
        return other

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def request(
        self, method: str, path: str, json_body: Any = None, **kwargs: Any
    ) -> Any:
        """One JSON call; raises `OpenWebUIError` on an HTTP error status."""
        response = self.http.request(
            method,
            self.base_url + path,
            json=json_body,
            headers=self.headers(),
            timeout=kwargs.pop("timeout", self.timeout),
            **kwargs,
        )
        body = _json_or_text(response)
        if response.status_code >= 400:
            raise OpenWebUIError(method, path, response.status_code, body)
        return body

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json_body, **kwargs)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self.http.close()

    # -- accounts (HOST.md 7.1-7.2) -----------------------------------------------------

    def signup(self, name: str, email: str, password: str) -> dict:
        """Create an account (the first one becomes admin) and act as it."""
        self.user = self.post(
            "/api/v1/auths/signup", {"name": name, "email": email, "password": password}
        )
        self.token = self.user["token"]
        return self.user

    def signin(self, email: str, password: str) -> dict:
        self.user = self.post(
            "/api/v1/auths/signin", {"email": email, "password": password}
        )
        self.token = self.user["token"]
        return self.user

    def add_user(
        self, name: str, email: str, password: str, role: str = "user"
    ) -> dict:
        """Admin: Admin Panel > Users > Add. The answer includes the new user's token."""
        return self.post(
            "/api/v1/auths/add",
            {"name": name, "email": email, "password": password, "role": role},
        )

    def create_user(
        self,
        name: str | None = None,
        role: str = "user",
        password: str = "pw-user-12345",
    ) -> OpenWebUI:
        """Admin: add an account and return a client signed in as it."""
        name = name or f"user-{uuid.uuid4().hex[:8]}"
        email = f"{name_to_id(name) or 'user'}-{uuid.uuid4().hex[:6]}@example.com"
        created = self.add_user(name, email, password, role)
        return self.as_token(created["token"], created)

    # -- functions (HOST.md 7.3-7.6) ----------------------------------------------------

    def create_function(
        self,
        content: str,
        function_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> dict:
        """Admin: paste a file into Functions > "+" and save.

        Like the editor, id, name and description come from the frontmatter `title`
        and `description` unless given. The function starts inactive.
        """
        form = function_form(content, function_id, name, description)
        return self.post("/api/v1/functions/create", form)

    def update_function(
        self,
        content: str,
        function_id: str,
        name: str | None = None,
        description: str | None = None,
    ) -> dict:
        """Admin: paste new code over an existing function (valves are kept)."""
        form = function_form(content, function_id, name, description)
        return self.post(f"/api/v1/functions/id/{function_id}/update", form)

    def get_function(self, function_id: str) -> dict:
        return self.get(f"/api/v1/functions/id/{function_id}")

    def delete_function(self, function_id: str) -> bool:
        return self.request("DELETE", f"/api/v1/functions/id/{function_id}/delete")

    def toggle_function(self, function_id: str) -> dict:
        """Flip `is_active` (the switch in the functions list)."""
        return self.post(f"/api/v1/functions/id/{function_id}/toggle")

    def set_function_active(self, function_id: str, active: bool = True) -> dict:
        function = self.get_function(function_id)
        if function.get("is_active") != active:
            function = self.toggle_function(function_id)
        return function

    def install_function(self, content: str, function_id: str | None = None) -> dict:
        """Create or update a function from its file, and make sure it is active."""
        function_id = function_form(content, function_id)["id"]
        try:
            self.get_function(function_id)
        except OpenWebUIError as error:
            if error.status not in (401, 404):
                raise
            self.create_function(content, function_id)
        else:
            self.update_function(content, function_id)
        return self.set_function_active(function_id, True)

    def get_valves(self, function_id: str) -> dict:
        return self.get(f"/api/v1/functions/id/{function_id}/valves") or {}

    def get_valves_spec(self, function_id: str) -> dict:
        return self.get(f"/api/v1/functions/id/{function_id}/valves/spec") or {}

    def update_valves(self, function_id: str, valves: dict) -> dict:
        """Admin: save global valves. Only the keys sent (non-null) are stored."""
        return self.post(f"/api/v1/functions/id/{function_id}/valves/update", valves)

    def get_user_valves(self, function_id: str) -> dict:
        return self.get(f"/api/v1/functions/id/{function_id}/valves/user") or {}

    def get_user_valves_spec(self, function_id: str) -> dict:
        return self.get(f"/api/v1/functions/id/{function_id}/valves/user/spec") or {}

    def update_user_valves(self, function_id: str, valves: dict) -> dict:
        """As this user: Settings > Functions > valves of one function."""
        return self.post(
            f"/api/v1/functions/id/{function_id}/valves/user/update", valves
        )

    # -- models (HOST.md 2, 7.7) --------------------------------------------------------

    def models(self, refresh: bool = False) -> list[dict]:
        """`GET /api/models` as this account (calls every active pipe's `pipes()`)."""
        path = "/api/models?refresh=true" if refresh else "/api/models"
        return self.get(path)["data"]

    def model_ids(self, refresh: bool = False) -> list[str]:
        return [model["id"] for model in self.models(refresh)]

    def make_model_public(self, model_id: str, name: str | None = None) -> dict:
        """Admin: give every user read access to a model (Admin > Models > Public).

        Models of a pipe have no DB entry and are admin-only until one exists.
        """
        form = {
            "id": model_id,
            "base_model_id": None,
            "name": name or model_id,
            "meta": {},
            "params": {},
            "access_grants": PUBLIC_READ,
        }
        try:
            return self.post("/api/v1/models/create", form)
        except OpenWebUIError as error:
            if "already registered" not in str(error.body):
                raise
            return self.post("/api/v1/models/model/update", form)

    def delete_model(self, model_id: str) -> bool:
        """Admin: remove a model's DB entry (its grants); the pipe still offers it."""
        return self.post("/api/v1/models/model/delete", {"id": model_id})

    def make_models_public(self, prefix: str = "") -> list[str]:
        """Admin: grant every currently listed model whose id starts with `prefix`."""
        granted = []
        for model in self.models():
            if model["id"].startswith(prefix):
                self.make_model_public(model["id"], model.get("name"))
                granted.append(model["id"])
        return granted

    # -- chat, API path (HOST.md 7.8) ---------------------------------------------------

    def chat_api(self, model: str, messages: list[dict] | str, **body: Any) -> dict:
        """Non-streaming API-path chat; returns the JSON answer (HTTP errors raise)."""
        form = {
            "model": model,
            "messages": _as_messages(messages),
            "stream": False,
            **body,
        }
        return self.post("/api/chat/completions", form)

    def chat_api_stream(
        self, model: str, messages: list[dict] | str, **body: Any
    ) -> ApiStream:
        """Streaming API-path chat; the whole SSE body, parsed (HTTP errors raise)."""
        form = {
            "model": model,
            "messages": _as_messages(messages),
            "stream": True,
            **body,
        }
        started = time.monotonic()
        response = self.http.post(
            f"{self.base_url}/api/chat/completions",
            json=form,
            headers=self.headers(),
            timeout=self.timeout,
            stream=True,
        )
        with response:
            if response.status_code >= 400:
                raise OpenWebUIError(
                    "POST",
                    "/api/chat/completions",
                    response.status_code,
                    _json_or_text(response),
                )
            raw = b"".join(response.iter_content(chunk_size=None)).decode(
                "utf-8", "replace"
            )
        return ApiStream(
            status=response.status_code,
            headers=dict(response.headers),
            raw=raw,
            chunks=parse_sse(raw),
            seconds=time.monotonic() - started,
        )

    # -- chat, web path (HOST.md 7.8) ---------------------------------------------------

    def socket(self) -> ChatSocket:
        """This account's shared socket.io session (opened on first use)."""
        with self._socket_lock:
            if self._socket is None or not self._socket.client.connected:
                self._socket = ChatSocket(self.base_url, self.token)
            return self._socket

    def chat_web(
        self,
        model: str,
        prompt: str,
        *,
        follow: WebChat | None = None,
        system: str | None = None,
        params: dict | None = None,
        background_tasks: dict | None = None,
        stream: bool = True,
        timeout: float = 90.0,
        chat_socket: ChatSocket | None = None,
    ) -> WebChat:
        """Send one message the way the page does and wait until the turn is over.

        A new chat unless `follow` (a previous turn) is given, in which case the
        message continues that chat after its answer. Returns once the server says
        the chat is no longer active (answer and background tasks done, message
        saved), with the saved message and the events seen.

        `background_tasks` defaults to the page's: title and tags on a new chat,
        follow-ups always - each is one more (non-streaming) call of the same pipe.
        """
        chat_socket = chat_socket or self.socket()
        body = web_chat_body(
            model,
            prompt,
            session_id=chat_socket.session_id,
            user=self.user,
            follow=follow,
            system=system,
            params=params,
            background_tasks=background_tasks,
            stream=stream,
        )
        started = time.monotonic()
        reply = self.post("/api/chat/completions", body)
        chat_id = reply["chat_id"]
        assistant_id = body["id"]
        try:
            chat_socket.wait_for(
                lambda event: _is_turn_end(event, chat_id, assistant_id), timeout
            )
        except TimeoutError as error:
            seen = [
                event["data"].get("type") for event in chat_socket.events_for(chat_id)
            ]
            raise TimeoutError(
                f"web chat {chat_id} not finished; events so far: {seen}"
            ) from error
        seconds = time.monotonic() - started
        chat, message = self._saved_message(chat_id, assistant_id)
        events = chat_socket.events_for(chat_id)
        chat_socket.forget(chat_id)
        return WebChat(
            chat_id=chat_id,
            message_id=assistant_id,
            user_message_id=body["user_message"]["id"],
            reply=reply,
            message=message,
            chat=chat,
            events=events,
            seconds=seconds,
        )

    def get_chat(self, chat_id: str) -> dict:
        return self.get(f"/api/v1/chats/{chat_id}")

    def _saved_message(
        self, chat_id: str, message_id: str, wait: float = 10.0
    ) -> tuple[dict, dict]:
        """The chat and its assistant message once saved as `done` (polls briefly)."""
        deadline = time.monotonic() + wait
        while True:
            chat = self.get_chat(chat_id)
            message = chat["chat"]["history"]["messages"].get(message_id) or {}
            if message.get("done") or time.monotonic() > deadline:
                return chat, message
            time.sleep(0.1)


def _is_turn_end(event: dict, chat_id: str, message_id: str) -> bool:
    """`chat:active` false for our message: the task (and its background tasks) ended."""
    data = event.get("data") or {}
    return (
        event.get("chat_id") == chat_id
        and event.get("message_id") == message_id
        and data.get("type") == "chat:active"
        and (data.get("data") or {}).get("active") is False
    )


def function_form(
    content: str,
    function_id: str | None = None,
    name: str | None = None,
    description: str | None = None,
) -> dict:
    """The body the function editor saves for a pasted file."""
    frontmatter = parse_frontmatter(content)
    title = frontmatter.get("title", "")
    function_id = function_id or name_to_id(title)
    if not function_id:
        raise ValueError(
            "no function id: pass one, or give the file a frontmatter title"
        )
    return {
        "id": function_id,
        "name": name or (format_title(title) if title else function_id),
        "content": content,
        "meta": {"description": description or frontmatter.get("description", "")},
    }


def web_chat_body(
    model: str,
    prompt: str,
    *,
    session_id: str,
    user: dict | None = None,
    follow: WebChat | None = None,
    system: str | None = None,
    params: dict | None = None,
    background_tasks: dict | None = None,
    stream: bool = True,
) -> dict:
    """The JSON the page POSTs to /api/chat/completions (Chat.svelte, 0.12.4).

    For a saved chat the page sends no conversation `messages` (only a system
    prompt, if set): the server rebuilds them from the chat in its database. A new
    chat is signalled by `parent_id: null` and no `chat_id`; the server creates it
    and answers with its id.
    """
    user = user or {}
    user_message_id = str(uuid.uuid4())
    assistant_id = str(uuid.uuid4())
    parent_id = follow.message_id if follow else None
    user_message = {
        "id": user_message_id,
        "parentId": parent_id,
        "childrenIds": [],
        "role": "user",
        "user": {"id": user.get("id"), "name": user.get("name")},
        "user_id": user.get("id"),
        "content": prompt,
        "timestamp": int(time.time()),
        "models": [model],
    }
    if background_tasks is None:
        background_tasks = {"follow_up_generation": True}
        if follow is None:
            background_tasks = {
                "title_generation": True,
                "tags_generation": True,
                **background_tasks,
            }
    body: dict[str, Any] = {
        "stream": stream,
        "model": model,
        "params": {"model_controls": {}, **(params or {})},
        "tool_ids": [],
        "tool_servers": [],
        "features": {
            "voice": False,
            "image_generation": False,
            "code_interpreter": False,
            "web_search": False,
        },
        "variables": prompt_variables(user),
        "session_id": session_id,
        "id": assistant_id,
        "message_ids": [{"model_id": model, "message_id": assistant_id, "modelIdx": 0}],
        "parent_id": parent_id,
        "user_message": user_message,
        "background_tasks": background_tasks,
    }
    if system:
        body["messages"] = [{"role": "system", "content": system}]
    if follow is not None:
        body["chat_id"] = follow.chat_id
    else:
        body["chat_variables"] = {}
    return body


def prompt_variables(user: dict) -> dict[str, str]:
    """The page's `getPromptVariables` (template variables sent with every chat)."""
    now = datetime.now().astimezone()
    return {
        "{{USER_NAME}}": user.get("name") or "",
        "{{USER_EMAIL}}": user.get("email") or "Unknown",
        "{{USER_LOCATION}}": "Unknown",
        "{{CURRENT_DATETIME}}": now.strftime("%Y-%m-%d %H:%M:%S"),
        "{{CURRENT_DATE}}": now.strftime("%Y-%m-%d"),
        "{{CURRENT_TIME}}": now.strftime("%H:%M:%S"),
        "{{CURRENT_WEEKDAY}}": now.strftime("%A"),
        "{{CURRENT_TIMEZONE}}": str(now.tzinfo),
        "{{USER_LANGUAGE}}": "en-US",
    }


def _as_messages(messages: list[dict] | str) -> list[dict]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return messages


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
