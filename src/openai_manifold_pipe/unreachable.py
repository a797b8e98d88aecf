"""Unreachable: the background tasks of a chat whose endpoint just gave no answer.

When a chat fails because the endpoint could not be reached at all (connection
refused, host not found, TLS, nothing within REQUEST_TIMEOUT), Open WebUI still
runs that chat's background tasks (follow-ups, title, tags) through the pipe, one
after the other, and each would wait out the same retries and timeouts again
before the page settles. For a short while those tasks fail at once with the
chat's own message. What the user sends always tries the endpoint again.
"""

import time

from .identity import chat_id_of, user_id_of

# Long enough for the tasks that follow a failed answer, short enough that a
# later turn's tasks never inherit a failure the endpoint has recovered from.
REMEMBER_SECONDS = 60.0
# Failures kept at most: a dead endpoint with many users must not grow memory.
MAX_CHATS = 1000

# (user id, chat id, base URL): tasks of one user's chat on one endpoint.
ChatKey = tuple[str, str, str]


def chat_key(user: dict | None, metadata: dict | None, base: str) -> ChatKey | None:
    """Who, which chat and where; None on the API path, which has no chat."""
    chat_id = chat_id_of(metadata)
    if chat_id is None:
        return None
    return (user_id_of(user) or "", chat_id, base)


class UnreachableChats:
    """Chats whose endpoint could not be reached a moment ago, with the message."""

    def __init__(self) -> None:
        self._failed: dict[ChatKey, tuple[float, str]] = {}

    def note(self, chat: ChatKey | None, message: str) -> None:
        if chat is None:
            return
        now = time.monotonic()
        if len(self._failed) >= MAX_CHATS:
            self._prune(now)
        self._failed.pop(chat, None)  # re-inserted last: the oldest go first
        self._failed[chat] = (now + REMEMBER_SECONDS, message)

    def recall(self, chat: ChatKey | None) -> str | None:
        """The failure's message while it is fresh, else None."""
        entry = self._failed.get(chat) if chat is not None else None
        if entry is None:
            return None
        expires, message = entry
        if time.monotonic() >= expires:
            del self._failed[chat]
            return None
        return message

    def forget(self, chat: ChatKey | None) -> None:
        if chat is not None:
            self._failed.pop(chat, None)

    def _prune(self, now: float) -> None:
        """Drop expired failures, then the oldest, to make room for one more."""
        for chat, (expires, _) in list(self._failed.items()):
            if expires <= now:
                del self._failed[chat]
        while len(self._failed) >= MAX_CHATS:
            del self._failed[next(iter(self._failed))]
