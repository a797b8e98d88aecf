"""Chat results (API path and web path), the page's socket.io session, and the
body the page POSTs for a web-path chat."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
