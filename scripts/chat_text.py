"""The text of chat messages, as this repository's stand-ins for OpenAI read it.

The demo's upstream (`scripts/demo_upstream.py`) and the test fakes
(`tests/fakes/text.py`) answer what the user wrote; this is where both read it, so
that the demo never imports from `tests/`. Standard library only.
"""

from __future__ import annotations

from typing import Any


def message_text(message: Any) -> str:
    """The text of a message, whether `content` is a string or a list of parts."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return " ".join(part for part in parts if isinstance(part, str))
    return ""


def last_user_text(messages: list) -> str:
    """The text of the last `user` message ("" if there is none)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return message_text(message)
    return ""
