"""What api.openai.com accepts on /v1/responses, and how it refuses the rest.

Strict mode, first problem wins (400 unless said): OpenAI's published schema
(`tests/openapi_check.py`: unknown_parameter, invalid_type, invalid_value,
missing_required_parameter, integer_below_min_value for max_output_tokens < 16); model
and input required; unknown model 404; any previous_response_id 404 (nothing is
stored); the reasoning family's efforts and summaries, sampling only at effort "none",
no `reasoning`/encrypted content on models that do not reason (`check_reasoning`);
calls, outputs and reasoning items consistent (`check_input`), encrypted content only
as this server issued it. Like the chat rules, the families are the fake's own reading
of OpenAI's documentation, never the pipe's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.fakes.openai_errors import ApiError, missing_parameter, model_not_found
from tests.fakes.openai_errors import unsupported_choice, unsupported_parameter
from tests.fakes.openai_models import base_id, reasoning_family

SUMMARIES = ("auto", "detailed")
ENCRYPTED = "reasoning.encrypted_content"
PROBLEM_RE = re.compile(
    r"\$\.?([^:]*): (.*?)(?: \(closest: \$\.?([^:]*): (.*)\))?$", re.S
)
UNKNOWN_RE = re.compile(r"unknown top-level argument (['\"])(.*)\1")
MINIMUM_RE = re.compile(r"^(-?\d+) is less than the minimum of (\d+)$")


@dataclass(frozen=True)
class Family:
    """What a reasoning model accepts in `reasoning` on /v1/responses."""

    efforts: tuple[str, ...]  # (): no `reasoning.effort` at all (o1-mini, o1-preview)
    default: str  # the effort it runs with when none is given


def family(model: str) -> Family | None:
    """The reasoning family of an id; None for models that do not reason (gpt-4o...).

    Responses-only ids come first: the chat fake's `reasoning_family` would read
    gpt-5.1-codex as gpt-5.1 (default "none") and gpt-5-pro as gpt-5."""
    name = base_id(model)
    if "codex" in name:
        return Family(("low", "medium", "high"), "medium")
    if re.match(r"gpt-\d+(?:\.\d+)?-pro(?:-|$)", name):
        return Family(("high",), "high")
    chat = reasoning_family(model)
    if chat is None:
        return None
    return Family(chat.efforts or (), chat.default_effort or "medium")


def effort_of(body: dict) -> str | None:
    """The effort a request runs with (None: the model does not reason)."""
    fam = family(body["model"])
    if fam is None:
        return None
    return (body.get("reasoning") or {}).get("effort") or fam.default


def validate(body: dict, models: Iterable[str], strict: bool, issued: set[str]) -> None:
    """Refuse a request the way api.openai.com would (raise ApiError); `issued`: the
    encrypted reasoning this server sent, the only kind it takes back."""
    if strict:
        check_schema(body)
    for name in ("model", "input"):
        if body.get(name) is None:
            raise missing_parameter(name)
    if body["model"] not in models:
        raise model_not_found(body["model"])
    if not strict:
        return
    if (previous := body.get("previous_response_id")) is not None:
        message = f"Previous response with id '{previous}' not found."
        code = "previous_response_not_found"
        raise ApiError(404, message, param="previous_response_id", code=code)
    check_reasoning(body, family(body["model"]))
    if isinstance(body["input"], list):
        check_input(body["input"], body.get("store") is False, issued)


def check_schema(body: dict) -> None:
    """The first problem OpenAI's published schema finds, as OpenAI's 400.

    The checker reads "$.path: message (closest: $.deeper: message)"; the closest
    branch of a failed union is the one that names the real field."""
    from tests.openapi_check import check_responses_request  # jsonschema: strict only

    problems = check_responses_request(body)
    if not problems:
        return
    if unknown := UNKNOWN_RE.search(problems[0]):
        name = unknown.group(2)
        message = f"Unknown parameter: '{name}'."
        raise ApiError(400, message, param=name, code="unknown_parameter")
    match = PROBLEM_RE.match(problems[0])
    param, problem = (
        match.group(3, 4) if match.group(3) is not None else match.group(1, 2)
    )
    if found := re.match(r"'([^']+)' is a required property", problem):
        raise missing_parameter(f"{param}.{found.group(1)}".lstrip("."))
    if found := MINIMUM_RE.match(problem):  # max_output_tokens: 16 at least
        message = (
            f"Invalid '{param}': integer below minimum value. Expected a value >= "
            f"{found.group(2)}, but got {found.group(1)} instead."
        )
        raise ApiError(400, message, param=param, code="integer_below_min_value")
    code = "invalid_type" if "is not of type" in problem else "invalid_value"
    raise ApiError(400, f"Invalid '{param}': {problem}.", param=param, code=code)


def check_reasoning(body: dict, fam: Family | None) -> None:
    """`reasoning`, sampling and `include` against the model's family."""
    reasoning = body.get("reasoning") or {}
    effort, summary = reasoning.get("effort"), reasoning.get("summary")
    if fam is None:
        if effort is not None or summary is not None:
            name = "effort" if effort is not None else "summary"
            raise unsupported_parameter(f"reasoning.{name}")
        if ENCRYPTED in (body.get("include") or []):
            message = "Encrypted content is not supported with this model."
            raise ApiError(400, message, param="include")
        return
    if effort is not None and not fam.efforts:
        raise unsupported_parameter("reasoning.effort")
    if effort is not None and effort not in fam.efforts:
        raise unsupported_choice("reasoning.effort", effort, fam.efforts)
    if summary is not None and summary not in SUMMARIES:
        raise unsupported_choice("reasoning.summary", summary, SUMMARIES)
    if effort_of(body) != "none":
        for name in ("temperature", "top_p"):
            if body.get(name) is not None:
                raise unsupported_parameter(name)


def check_input(items: list, store_false: bool, issued: set[str]) -> None:
    """Calls and outputs pair up; reasoning items are ours and lead somewhere."""
    calls: list[str] = []
    answered: set[str] = set()
    for index, item in enumerate(items):
        kind = item_type(item)
        call_id = item.get("call_id") if kind else None
        if kind == "function_call":
            calls.append(call_id)
        elif kind == "function_call_output" and call_id not in calls:
            message = (
                f"No tool call found for function call output with call_id {call_id}."
            )
            raise ApiError(400, message, param="input")
        elif kind == "function_call_output":
            answered.add(call_id)
        elif kind == "reasoning":
            following = items[index + 1] if index + 1 < len(items) else None
            check_reasoning_item(item, following, store_false, issued)
    for call_id in calls:
        if call_id not in answered:
            message = f"No tool output found for function call {call_id}."
            raise ApiError(400, message, param="input")


def check_reasoning_item(
    item: dict, following: Any, store_false: bool, issued: set[str]
) -> None:
    """A reasoning item given back: verifiable, and followed by what it led to."""
    item_id, encrypted = item.get("id"), item.get("encrypted_content")
    if encrypted is not None and encrypted not in issued:
        message = f"The encrypted content for item {item_id} could not be verified."
        raise ApiError(400, message, code="invalid_encrypted_content")
    if encrypted is None and store_false:
        message = (
            f"Item with id '{item_id}' not found. Items are not persisted when `store` "
            "is set to false. Try again with `store` set to true, or remove this item "
            "from your input."
        )
        raise ApiError(400, message, param="input")
    kind = item_type(following)
    if kind == "message" and following.get("role") != "assistant":
        kind = None  # a user turn: the reasoning led nowhere
    if kind not in ("function_call", "message"):
        message = (
            f"Item '{item_id}' of type 'reasoning' was provided without its required "
            "following item."
        )
        raise ApiError(400, message, param="input")


def item_type(item: Any) -> str | None:
    """An input item's type; a bare {"role", "content"} is a message."""
    if not isinstance(item, dict):
        return None
    return item.get("type") or ("message" if "role" in item else None)
