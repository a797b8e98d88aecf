"""OpenAI's models as the fakes know them: the ids they list, and which ones reason.

These lists and families are the fakes' own reading of OpenAI's documentation, and
deliberately do not come from the pipe (`src/openai_manifold_pipe/reasoning.py`,
`catalog.py`): a fake that trusted the pipe's rules could only ever agree with them.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

# What GET /v1/models answers by default: a realistic mix of OpenAI's current ids,
# chat models and the many kinds the pipe's GPT filter must hide.
OPENAI_MODELS: list[str] = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-3.5-turbo",
    "gpt-3.5-turbo-instruct",
    "chatgpt-4o-latest",
    "gpt-4o-search-preview",
    "o1",
    "o1-mini",
    "o1-preview",
    "o1-pro",
    "o3",
    "o3-mini",
    "o3-pro",
    "o4-mini",
    "o3-deep-research",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-5-chat-latest",
    "gpt-5-pro",
    "gpt-5-codex",
    "gpt-5.1",
    "gpt-5.2",
    "gpt-5.4",
    "text-embedding-3-small",
    "text-embedding-ada-002",
    "tts-1",
    "tts-1-hd",
    "whisper-1",
    "dall-e-3",
    "gpt-image-1",
    "gpt-4o-transcribe",
    "gpt-4o-mini-tts",
    "gpt-realtime",
    "gpt-4o-realtime-preview",
    "gpt-4o-audio-preview",
    "omni-moderation-latest",
    "davinci-002",
    "babbage-002",
    "computer-use-preview",
    "codex-mini-latest",
    "sora-2",
]
# Hidden reasoning tokens a reasoning model reports per effort, in usage.
EFFORT_TOKENS = {"none": 0, "minimal": 8, "low": 16, "medium": 32, "high": 64}


@dataclass(frozen=True)
class ReasoningFamily:
    """What an OpenAI reasoning model accepts on /v1/chat/completions."""

    efforts: tuple[str, ...] | None  # None: `reasoning_effort` is not supported at all
    default_effort: str | None
    sampling_when_none: bool = False  # gpt-5.1+: sampling allowed with effort "none"
    rejects_stop: bool = False
    system_role_ok: bool = True
    tools_need_effort_none: bool = False


def base_id(model: str) -> str:
    """The id without a provider prefix (`openai/gpt-5` -> `gpt-5`), lower-cased."""
    return model.rsplit("/", 1)[-1].lower()


def gpt_version(model: str) -> tuple[int, int] | None:
    """(major, minor) of a `gpt-N[.M]` id, e.g. gpt-5.1 -> (5, 1); None otherwise."""
    match = re.match(r"gpt-(\d+)(?:\.(\d+))?(?:-|$)", base_id(model))
    if not match:
        return None
    return int(match.group(1)), int(match.group(2) or 0)


def reasoning_family(model: str) -> ReasoningFamily | None:
    """The reasoning family of an id (o-series, gpt-5 and later), None for chat models."""
    name = base_id(model)
    if "-chat" in name:
        return None
    if re.match(r"o\d+(?:-|$)", name):
        return o_series_family(name)
    version = gpt_version(name)
    if version is None or version < (5, 0):
        return None
    if version < (5, 1):
        return ReasoningFamily(("minimal", "low", "medium", "high"), "medium")
    if version == (5, 1):
        return ReasoningFamily(
            ("none", "low", "medium", "high"), "none", sampling_when_none=True
        )
    return ReasoningFamily(
        ("none", "low", "medium", "high", "xhigh"),
        "none",
        sampling_when_none=True,
        tools_need_effort_none=True,
    )


def o_series_family(name: str) -> ReasoningFamily:
    """o1, o3, o4-mini...: the first minis take no effort and no system message."""
    if name.startswith(("o1-mini", "o1-preview")):
        return ReasoningFamily(efforts=None, default_effort=None, system_role_ok=False)
    stop = bool(re.match(r"o3(?:-\d{4}-\d{2}-\d{2})?$|o4-mini", name))
    return ReasoningFamily(("low", "medium", "high"), "medium", rejects_stop=stop)


def model_object(model: str) -> dict:
    """One /v1/models entry; `created` is stable per id so listings compare equal."""
    created = 1_680_000_000 + zlib.crc32(model.encode()) % 60_000_000
    owner = "openai" if model.startswith(("gpt-5", "o3", "o4")) else "system"
    return {"id": model, "object": "model", "created": created, "owned_by": owner}


def model_list(models: list[str]) -> dict:
    """GET /v1/models, shaped like OpenAI's."""
    return {"object": "list", "data": [model_object(model) for model in models]}
