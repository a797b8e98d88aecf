"""The text of a chat request as the fakes read it, and the words they answer in.

Why markers: end-to-end tests reach the fake only through Open WebUI, so what a test
wants from one answer is written in the last user message:

    [[chunks:N]]          answer in exactly N content chunks
    [[delay:SECONDS]]     sleep between chunks
    [[tool:NAME]]         answer with a call of tool NAME (must be in the request's tools)
    [[fault:KIND k=v ..]] a fault (see `tests/fakes/faults.py`)

Open WebUI's background task prompts ("### Task: ...") quote the chat, markers
included; markers are ignored there so a title request never trips a fault.
"""

from __future__ import annotations

import re

# Shared with the demo's upstream, which may not import from tests/.
from scripts.chat_text import last_user_text, message_text

# What the fakes import from here, the two shared helpers included.
__all__ = [
    "MARKER_RE",
    "is_task_prompt",
    "last_user_text",
    "marker_number",
    "message_text",
    "parse_markers",
    "split_words",
    "strip_markers",
    "thought_words",
]

MARKER_RE = re.compile(r"\[\[(\w+)(?::(.*?))?\]\]", re.DOTALL)


def is_task_prompt(text: str) -> bool:
    """Open WebUI's background task templates (title, tags, follow-ups...)."""
    return text.lstrip().startswith("### Task:")


def strip_markers(text: str) -> str:
    """The text without `[[...]]` markers, whitespace collapsed."""
    return " ".join(MARKER_RE.sub(" ", text).split())


def parse_markers(text: str) -> dict[str, list[str]]:
    """All markers of a text: {"chunks": ["5"], "fault": ["status code=503"], ...}."""
    found: dict[str, list[str]] = {}
    if is_task_prompt(text):
        return found
    for match in MARKER_RE.finditer(text):
        found.setdefault(match.group(1).lower(), []).append(
            (match.group(2) or "").strip()
        )
    return found


def marker_number(markers: dict[str, list[str]], name: str) -> float | None:
    """The number of the first `[[name:N]]` marker, None when absent or not a number."""
    for raw in markers.get(name, []):
        try:
            return float(raw)
        except ValueError:
            continue
    return None


def split_words(text: str) -> list[str]:
    """Word chunks that join back to exactly `text` ("Echo:", " hi", " there")."""
    return re.findall(r"\s*\S+", text.strip())


def thought_words(clean: str) -> list[str]:
    """What a model that shows its reasoning thinks, word by word."""
    return split_words(f"Thinking about: {clean}" if clean else "Thinking.")
