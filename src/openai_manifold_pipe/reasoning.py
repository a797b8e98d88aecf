"""Reasoning: what OpenAI's reasoning models accept.

The o-series (o1, o3, o4-mini, any later oN, o3-pro), gpt-N for N >= 5 and the
codex models refuse `max_tokens`, most sampling parameters and, depending on the
generation, some `reasoning_effort` values, `stop`, system messages, tools with
reasoning on /chat/completions, or some reasoning summaries on /responses.
Open WebUI sends all of these freely, so the pipe reshapes the request before
the first attempt instead of letting the user see a 400.
"""

import re
from dataclasses import dataclass

from .valves import EFFORT_LEVELS

# Parameters every reasoning model refuses, unless noted by its family.
SAMPLING_PARAMS = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
)
TOOL_PARAMS = ("tools", "tool_choice", "parallel_tool_calls")

_O_SERIES = re.compile(r"o(\d+)(?:-|$)")
_GPT = re.compile(r"gpt-(\d+)(?:\.(\d+))?(?:-|$)")
_PRO = re.compile(r"-pro(?:-|$)")


@dataclass(frozen=True)
class ReasoningFamily:
    """The rules one generation of reasoning models imposes."""

    efforts: tuple[str, ...]
    default_effort: str | None = None
    system_role: str = "developer"
    rejects_stop: bool = False
    samples_without_reasoning: bool = False
    tools_need_no_reasoning: bool = False
    # Reasoning summaries it gives on /responses (OpenAI refuses `concise` so far).
    summaries: tuple[str, ...] = ("auto", "detailed")


def reasoning_family(model: str) -> ReasoningFamily | None:
    """The family of an OpenAI reasoning model id, or None for any other model.

    Matches the last path segment, so `openai/o3` on a router and a gpt-5
    deployment behind a proxy get the same treatment. `*-chat*` ids are the
    non-reasoning chat variants.
    """
    name = model.rsplit("/", 1)[-1].lower()
    if "-chat" in name:
        return None
    if "codex" in name and (name.startswith("codex") or _GPT.match(name)):
        return ReasoningFamily(
            efforts=("low", "medium", "high"), default_effort="medium"
        )
    if match := _O_SERIES.match(name):
        if name.startswith(("o1-mini", "o1-preview")):
            return ReasoningFamily(efforts=(), system_role="user")
        generation = int(match.group(1))
        return ReasoningFamily(
            efforts=("low", "medium", "high"),
            default_effort="medium",
            rejects_stop=generation >= 3 and not name.startswith("o3-mini"),
        )
    if (match := _GPT.match(name)) and int(match.group(1)) >= 5:
        if _PRO.search(name):  # gpt-5-pro thinks hard or not at all
            return ReasoningFamily(efforts=("high",), default_effort="high")
        version = (int(match.group(1)), int(match.group(2) or 0))
        if version < (5, 1):
            return ReasoningFamily(
                efforts=("minimal", "low", "medium", "high"), default_effort="medium"
            )
        if version < (5, 2):
            return ReasoningFamily(
                efforts=("none", "low", "medium", "high"),
                default_effort="none",
                samples_without_reasoning=True,
            )
        return ReasoningFamily(
            efforts=EFFORT_LEVELS[:1] + EFFORT_LEVELS[2:],
            default_effort="none",
            samples_without_reasoning=True,
            tools_need_no_reasoning=True,
        )
    return None


def coerce_effort(effort: str, accepted: tuple[str, ...]) -> str:
    """The accepted effort nearest to the one asked for; ties go to more reasoning.

    `minimal` on o3 becomes `low`, `xhigh` on gpt-5 becomes `high`.
    """
    if effort in accepted:
        return effort
    wanted = EFFORT_LEVELS.index(effort)
    return min(
        accepted,
        key=lambda level: (
            abs(EFFORT_LEVELS.index(level) - wanted),
            -EFFORT_LEVELS.index(level),
        ),
    )


def summary_kind(asked: str, family: ReasoningFamily | None) -> str | None:
    """`reasoning.summary` for a request: the kind asked for, or the nearest accepted.

    `off` asks for none; a model outside the known families gets what was asked.
    """
    kind = asked.strip().lower()
    if kind == "off":
        return None
    if family is not None and kind not in family.summaries:
        return "detailed" if "detailed" in family.summaries else family.summaries[0]
    return kind


def normal_effort(value: object) -> str | None:
    """A valid effort level from a chat param or valve, else None."""
    if isinstance(value, str) and value.strip().lower() in EFFORT_LEVELS:
        return value.strip().lower()
    return None


def apply_reasoning_rules(
    payload: dict, family: ReasoningFamily, default_effort: str | None
) -> None:
    """Reshape a chat request in place so this family accepts it on the first try."""
    if "max_tokens" in payload:
        max_tokens = payload.pop("max_tokens")
        payload.setdefault("max_completion_tokens", max_tokens)
    _rename_leading_system(payload, family.system_role)

    asked = normal_effort(payload.pop("reasoning_effort", None)) or default_effort
    effort = coerce_effort(asked, family.efforts) if asked and family.efforts else None
    if family.tools_need_no_reasoning and payload.get("tools"):
        if effort in (None, "none"):
            effort = "none"
        else:
            # The user asked for reasoning: keep it, and answer without tools.
            for name in TOOL_PARAMS:
                payload.pop(name, None)
    if effort:
        payload["reasoning_effort"] = effort

    reasoning = (effort or family.default_effort) != "none"
    if reasoning or not family.samples_without_reasoning:
        for name in SAMPLING_PARAMS:
            payload.pop(name, None)
    if family.rejects_stop:
        payload.pop("stop", None)


def _rename_leading_system(payload: dict, role: str) -> None:
    messages = payload.get("messages")
    if (
        messages
        and isinstance(messages[0], dict)
        and messages[0].get("role") == "system"
    ):
        payload["messages"] = [{**messages[0], "role": role}, *messages[1:]]
