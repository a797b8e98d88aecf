"""What api.openai.com accepts on /v1/chat/completions, and how it refuses the rest.

`FakeOpenAI` in strict mode applies all of it, in the order OpenAI reports problems;
`strict=False` (vLLM, llama.cpp) keeps only `check_basic_shape`.

The parameter lists, non-chat ids and reasoning rules are the fake's own reading of
OpenAI's documentation, deliberately not imported from the pipe (`src/`): tests of the
pipe against its own lists could not catch the lists being wrong.
`check_chat_schema` adds OpenAI's published description (`tests/openapi_check.py`).
"""

from __future__ import annotations

from collections.abc import Iterable

from tests.fakes.openai_errors import ApiError, empty_array, format_value, json_type
from tests.fakes.openai_errors import missing_parameter, model_not_found
from tests.fakes.openai_errors import unrecognized_arguments, unsupported_choice
from tests.fakes.openai_errors import unsupported_parameter, unsupported_value
from tests.fakes.openai_models import ReasoningFamily, base_id, reasoning_family

# Top-level arguments api.openai.com accepts on /v1/chat/completions (strict mode).
# The fake's own list, never imported from the pipe's OPENAI_CHAT_PARAMS (src/.../
# payload.py): the pipe's list is under test, and a fake that trusted it would agree.
CHAT_COMPLETION_PARAMS: frozenset[str] = frozenset(
    {
        "model",
        "messages",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
# Refused by reasoning models. Again the fake's own list, never imported from the
# pipe's SAMPLING_PARAMS (src/.../reasoning.py): the pipe's list is under test, and a
# fake that trusted it would approve whatever the pipe leaves in.
SAMPLING_PARAMS = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
)
# Accepted by gpt-5.1 and later when the effective reasoning_effort is "none".
SAMPLING_OK_WITHOUT_REASONING = frozenset(
    {"temperature", "top_p", "logprobs", "top_logprobs"}
)
# Parts of ids that only answer on /v1/responses, and of ids that are not chat models.
RESPONSES_ONLY_PARTS = ("-pro", "deep-research", "computer-use", "codex")
NON_CHAT_PARTS = (
    "embedding",
    "tts",
    "whisper",
    "dall-e",
    "gpt-image",
    "transcribe",
    "realtime",
    "moderation",
    "davinci",
    "babbage",
    "-instruct",
    "sora",
)


def non_chat_error(model: str) -> ApiError | None:
    """OpenAI's 404 for ids that do not answer on /v1/chat/completions at all."""
    name = base_id(model)
    if any(part in name for part in RESPONSES_ONLY_PARTS) and (
        name.startswith(("o", "gpt-", "computer-use", "codex"))
    ):
        message = "This model is only supported in v1/responses and not in v1/chat/completions."
        return ApiError(404, message, param="model")
    if any(part in name for part in NON_CHAT_PARTS):
        message = (
            "This is not a chat model and thus not supported in the "
            "v1/chat/completions endpoint. Did you mean to use v1/completions?"
        )
        return ApiError(404, message, param="model")
    return None


def refuse_unknown(body: dict, accepted: frozenset[str]) -> None:
    """OpenAI's 400 naming every top-level argument not in `accepted`."""
    if unknown := [name for name in body if name not in accepted]:
        raise unrecognized_arguments(unknown)


def check_basic_shape(body: dict, models: Iterable[str]) -> None:
    """Checks every OpenAI-compatible server makes: model, messages, known model."""
    model = body.get("model")
    if not model:
        raise ApiError(400, "you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        raise missing_parameter("messages")
    if not isinstance(messages, list) or not messages:
        raise empty_array("messages")
    if not isinstance(model, str) or model not in models:
        raise model_not_found(model)


def check_openai_rules(body: dict) -> None:
    """api.openai.com's extra rules: stream_options, empty tools, model families."""
    model = body["model"]
    if body.get("stream_options") is not None and body.get("stream") is not True:
        message = (
            "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        )
        raise ApiError(400, message, param="stream_options")
    if body.get("tools") == []:
        raise empty_array("tools")
    error = non_chat_error(model)
    if error:
        raise error
    bias = body.get("logit_bias")
    if bias is not None and not isinstance(bias, dict):
        message = (
            f"Invalid type for 'logit_bias': expected an object, but got "
            f"{json_type(bias)} instead."
        )
        raise ApiError(400, message, param="logit_bias", code="invalid_type")
    family = reasoning_family(model)
    if family is None:
        if body.get("reasoning_effort") is not None:
            raise unsupported_parameter("reasoning_effort")
        return
    check_reasoning_rules(body, family)


def check_chat_schema(body: dict) -> None:
    """Whatever else OpenAI's published description of the request refuses."""
    from tests.openapi_check import check_chat_request  # jsonschema: strict mode only

    if problems := check_chat_request(body):
        raise ApiError(400, f"Invalid request: {problems[0]}", code="invalid_value")


def check_reasoning_rules(body: dict, family: ReasoningFamily) -> None:
    """The o-series / gpt-5+ rules, in the order OpenAI reports them."""
    if not family.system_role_ok:
        check_no_system_role(body["messages"])
    if body.get("max_tokens") is not None:
        raise unsupported_parameter(
            "max_tokens", " Use 'max_completion_tokens' instead."
        )
    effort = body.get("reasoning_effort")
    if effort is not None:
        check_effort(effort, family)
    check_sampling(body, family, family.default_effort if effort is None else effort)
    if family.rejects_stop and body.get("stop") is not None:
        raise unsupported_parameter("stop")
    if family.tools_need_effort_none and body.get("tools") and effort != "none":
        text = (
            f"Function tools with reasoning_effort are not supported for {body['model']} "
            "in /v1/chat/completions. To use function tools, use /v1/responses or set "
            "reasoning_effort to 'none'."
        )
        raise ApiError(400, text, param="reasoning_effort")


def check_no_system_role(messages: list) -> None:
    """o1-mini and o1-preview take no system (or developer) message."""
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            param = f"messages[{index}].role"
            text = f"Unsupported value: '{param}' does not support '{role}' with this model."
            raise unsupported_value(param, text)


def check_effort(effort: object, family: ReasoningFamily) -> None:
    """`reasoning_effort` must be one of the family's efforts."""
    if family.efforts is None:
        raise unsupported_parameter("reasoning_effort")
    if effort not in family.efforts:
        raise unsupported_choice("reasoning_effort", effort, family.efforts)


def check_sampling(body: dict, family: ReasoningFamily, effective: str | None) -> None:
    """Sampling arguments: refused while reasoning (temperature only at its default 1)."""
    for param in SAMPLING_PARAMS:
        value = body.get(param)
        if value is None:
            continue
        if (
            family.sampling_when_none
            and effective == "none"
            and param in SAMPLING_OK_WITHOUT_REASONING
        ):
            continue
        if param == "temperature":
            if value == 1:
                continue
            text = (
                f"Unsupported value: 'temperature' does not support {format_value(value)} "
                "with this model. Only the default (1) value is supported."
            )
            raise unsupported_value("temperature", text)
        raise unsupported_parameter(param)
