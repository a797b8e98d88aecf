"""The REST client `OpenWebUI`: accounts, functions and valves, models, chats."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import requests

from .chat import ApiStream, ChatSocket, WebChat, parse_sse, web_chat_body
from .functions import function_form, name_to_id

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


def _as_messages(messages: list[dict] | str) -> list[dict]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    return messages


def _json_or_text(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text
