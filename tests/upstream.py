"""A fake OpenAI API on 127.0.0.1, for tests that must talk real HTTP.

Why a real server: the pipe's hard parts (timeouts, cut-off streams, retries, keys in
headers, connection reuse under load) only show up on a real socket, so tests talk to
this server through aiohttp exactly as the pipe talks to api.openai.com. Nothing here
mocks aiohttp.

`FakeOpenAI` runs an `aiohttp.web` server in a background thread with its own event
loop, so it keeps answering while the test's loop (or an Open WebUI subprocess) is busy.
It records every request (`requests`), answers deterministically (`answer_text()` tells a
test what to expect), follows OpenAI's argument rules in `strict` mode (reasoning
families included), and injects faults either from the test (`add_fault`) or from the
last user message (`[[fault:status code=503]]`), for end-to-end tests that only reach
the server through Open WebUI.

Markers understood in the last user message:
    [[chunks:N]]          answer in exactly N content chunks
    [[delay:SECONDS]]     sleep between chunks
    [[tool:NAME]]         answer with a call of tool NAME (must be in the request's tools)
    [[fault:KIND k=v ..]] a fault (see `FAULT_KINDS`); `times=N` limits it to the first
                          N requests carrying that exact marker text (default: every
                          request); unknown options are ignored, so `id=t1` makes a
                          marker unique to one test
Open WebUI's background task prompts ("### Task: ...") quote the chat, markers
included; markers are ignored there so a title request never trips a fault.

Faults (`add_fault(kind, times=1, key=None, model=None, path=..., stream=None, **opts)`,
or the same options in a marker):
    status        code=int (or "insufficient_quota"), body=dict|str, content_type,
                  headers=dict, retry_after, retry_after_ms, message, quota=true,
                  html=true (proxy page), empty=true (no body)
    delay_headers seconds (default 1): wait before the status line, then answer normally
    stall         after=N answer chunks (default 1), seconds (default 10); on a JSON
                  answer: in the middle of the body
    cut           after=N: close the socket with no final chunk (rst=true: RST)
    malformed     after=N: one truncated `data: {...` line, then the normal rest
    stream_error  after=N: a `data: {"error": ...}` event, then the end (no [DONE])
    error_field   after=N: llama-server's non-standard `error: {...}` line (a prompt
                  over its context size, by default; message=...), then `data: [DONE]`
    empty         a valid answer with nothing in it (finish_reason=stop by default)
    not_sse       200 text/html page, whatever was asked
    json_instead_of_sse  stream=true answered with a plain chat.completion JSON
    refuse        close the connection without a response
    echo_key_401  401 whose message holds the full key received
    response_failed      /responses only: after=N, a `response.failed` event (not
                         streaming: a Response with status failed)
    response_incomplete  /responses only: reason=max_output_tokens|content_filter,
                         after=N: the answer cut there, then `response.incomplete`
Early faults (status, delay_headers, not_sse, refuse, echo_key_401) come before the key
check; the others only hit valid requests, and the SSE-only ones only streaming ones.

Responses API: `POST {prefix}/responses` (`responses_path`) is served by
`tests/fake_responses.py`, whose docstring has its rules, events and faults. Keys,
early faults, recording and markers (in the last user input item) work as for chat;
aim a queued fault at it with `path=server.responses_path`. There `stream_error` is an
`error` event and `empty` a Response without output items. `responses_requests()`
lists its requests; `issued_reasoning` holds every encrypted_content it sent (only
those are accepted back, and `clear()` keeps them, as OpenAI keeps its keys).

Other providers (`tests/providers.py`) subclass `FakeOpenAI`: `prefix` moves the API
off `/v1` (Azure's `/openai/deployments/<name>`, Gemini's `/v1beta/openai`), and the
hooks `_request_key`, `_check_auth`, `_validate`, `_plan`, `_stream_chunks`,
`_stream_preamble`, `_completion`, `_models_list` and `_error_response` let a subclass
read keys from other headers, refuse arguments its own way, and shape answers and errors
like that provider; `serves_responses = False` makes /responses an unknown URL. With
none of them overridden the server is api.openai.com as before.

Standalone: `python -m tests.upstream --port 8099 [--no-auth] [--permissive]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import socket
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEFAULT_KEY = "sk-test-alpha-0000000000000001"
log = logging.getLogger(__name__)

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

# Top-level arguments api.openai.com accepts on /v1/chat/completions (strict mode).
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

# Faults answered before the request is validated (they replace the whole answer) and
# faults that happen while a valid answer is being sent.
EARLY_FAULTS = frozenset(
    {"status", "delay_headers", "not_sse", "refuse", "echo_key_401"}
)
BODY_FAULTS = frozenset(
    {
        "stall",
        "cut",
        "malformed",
        "stream_error",
        "error_field",
        "json_instead_of_sse",
        "empty",
    }
)
# Body faults that only make sense on an SSE stream: a non-streaming request (such as
# Open WebUI's title task) never consumes them.
STREAM_ONLY_FAULTS = frozenset(
    {"malformed", "stream_error", "error_field", "json_instead_of_sse"}
)
# Faults only /responses answers (a Response that fails or stops short).
RESPONSES_ONLY_FAULTS = frozenset({"response_failed", "response_incomplete"})
FAULT_KINDS = EARLY_FAULTS | BODY_FAULTS | RESPONSES_ONLY_FAULTS

SYSTEM_FINGERPRINT = "fp_f33640a400"
# What llama-server says of a prompt longer than its context (2025 builds stream it
# as an `error:` line, answer it with a 400 when not streaming).
LLAMA_CONTEXT_ERROR = {
    "code": 400,
    "message": "the request exceeds the available context size, try increasing it",
    "type": "exceed_context_size_error",
}
KEYS_URL = "https://platform.openai.com/account/api-keys"
NO_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an "
    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or "
    "as the password field (with blank username) if you're accessing the API from your "
    "browser and are prompted for a username and password. You can obtain an API key "
    f"from {KEYS_URL}."
)
BAD_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you "
    "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
    "but what was sent was not valid JSON. If you have trouble figuring out how to fix "
    "this, please contact us through our help center at help.openai.com.)"
)
PROXY_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n"
)
NOT_SSE_HTML = (
    "<html><head><title>Sign in</title></head><body><h1>Captive portal</h1>"
    "<p>Please sign in to continue.</p></body></html>"
)

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
ERROR_CODE_STATUS = {
    "insufficient_quota": 429,
    "rate_limit_exceeded": 429,
    "invalid_api_key": 401,
    "model_not_found": 404,
}
EFFORT_TOKENS = {"none": 0, "minimal": 8, "low": 16, "medium": 32, "high": 64}


# add_fault's default path: the chat completions path of the server it is added to.
CHAT_PATH: Any = object()

# --------------------------------------------------------------------------------------
# Records and errors
# --------------------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request as the server saw it, for assertions (headers are lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict | None
    key: str | None
    raw_authorization: str | None
    received_at: float
    raw_body: bytes = b""
    disconnected: bool = False  # the client went away before the answer was complete
    completed: bool = False  # the handler finished its answer
    status: int | None = None  # status sent (None: no response, e.g. refuse)
    faults: list[str] = field(default_factory=list)  # fault kinds applied, in order
    query: dict[str, str] = field(default_factory=dict)  # the URL's query parameters

    @property
    def model(self) -> str | None:
        """The `model` of the JSON body, if any."""
        return self.body.get("model") if isinstance(self.body, dict) else None

    @property
    def stream(self) -> bool:
        """Whether the request asked for an SSE stream."""
        return bool(isinstance(self.body, dict) and self.body.get("stream") is True)


@dataclass
class Fault:
    """A fault waiting to happen `times` more times on matching requests."""

    kind: str
    times: int = 1
    key: str | None = None
    model: str | None = None
    path: str | None = "/v1/chat/completions"
    stream: bool | None = None  # only streaming (True) / non-streaming (False) requests
    opts: dict[str, Any] = field(default_factory=dict)

    def matches(self, record: Recorded, kinds: frozenset[str]) -> bool:
        """Whether this fault applies to `record` in a phase that handles `kinds`."""
        if self.kind not in kinds or self.times <= 0:
            return False
        if self.kind in STREAM_ONLY_FAULTS and not record.stream:
            return False
        if self.path is not None and self.path != record.path:
            return False
        if self.key is not None and self.key != record.key:
            return False
        if self.model is not None and self.model != record.model:
            return False
        return self.stream is None or self.stream == record.stream


class ApiError(Exception):
    """An OpenAI-shaped error answer; raised by validation, turned into JSON once."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.payload = {
            "error": {"message": message, "type": type, "param": param, "code": code}
        }


def unsupported_parameter(param: str, extra: str = "") -> ApiError:
    """OpenAI's answer to a parameter the model does not take at all."""
    message = f"Unsupported parameter: '{param}' is not supported with this model."
    return ApiError(400, message + extra, param=param, code="unsupported_parameter")


def unsupported_value(param: str, message: str) -> ApiError:
    """OpenAI's answer to a parameter whose value the model does not take."""
    return ApiError(400, message, param=param, code="unsupported_value")


def mask_key(key: str) -> str:
    """Mask a key the way OpenAI's 401 does: first 8, asterisks, last 4."""
    if len(key) <= 12:
        return key  # OpenAI echoes very short keys whole: a leak the pipe must hide
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


# --------------------------------------------------------------------------------------
# Model families
# --------------------------------------------------------------------------------------


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
        if name.startswith(("o1-mini", "o1-preview")):
            return ReasoningFamily(
                efforts=None, default_effort=None, system_role_ok=False
            )
        stop = bool(re.match(r"o3(?:-\d{4}-\d{2}-\d{2})?$|o4-mini", name))
        return ReasoningFamily(("low", "medium", "high"), "medium", rejects_stop=stop)
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


def non_chat_error(model: str) -> ApiError | None:
    """OpenAI's 404 for ids that do not answer on /v1/chat/completions at all."""
    name = base_id(model)
    responses_only = ("-pro", "deep-research", "computer-use", "codex")
    if any(part in name for part in responses_only) and (
        name.startswith(("o", "gpt-", "computer-use", "codex"))
    ):
        message = "This model is only supported in v1/responses and not in v1/chat/completions."
        return ApiError(404, message, param="model")
    non_chat = (
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
    if any(part in name for part in non_chat):
        message = (
            "This is not a chat model and thus not supported in the "
            "v1/chat/completions endpoint. Did you mean to use v1/completions?"
        )
        return ApiError(404, message, param="model")
    return None


# --------------------------------------------------------------------------------------
# Request validation (strict mode follows api.openai.com)
# --------------------------------------------------------------------------------------


def quote_list(values: Iterable[str]) -> str:
    """'a', 'b', and 'c' - the way OpenAI lists supported values."""
    quoted = [f"'{value}'" for value in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def format_value(value: Any) -> str:
    """A value as OpenAI prints it in an error (strings quoted, numbers bare)."""
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def check_basic_shape(body: dict, models: Iterable[str], strict: bool) -> None:
    """Checks every OpenAI-compatible server makes: model, messages, known model."""
    if strict:
        unknown = [name for name in body if name not in CHAT_COMPLETION_PARAMS]
        if len(unknown) == 1:
            message = f"Unrecognized request argument supplied: {unknown[0]}"
            raise ApiError(400, message)
        if unknown:
            message = f"Unrecognized request arguments supplied: {', '.join(unknown)}"
            raise ApiError(400, message)
    model = body.get("model")
    if not model:
        raise ApiError(400, "you must provide a model parameter")
    messages = body.get("messages")
    if messages is None:
        message = "Missing required parameter: 'messages'."
        raise ApiError(
            400, message, param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        message = (
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead."
        )
        raise ApiError(400, message, param="messages", code="empty_array")
    if not isinstance(model, str) or model not in models:
        message = f"The model `{model}` does not exist or you do not have access to it."
        raise ApiError(404, message, code="model_not_found")


def check_openai_rules(body: dict) -> None:
    """api.openai.com's extra rules: stream_options, empty tools, model families."""
    model = body["model"]
    if body.get("stream_options") is not None and body.get("stream") is not True:
        message = (
            "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        )
        raise ApiError(400, message, param="stream_options")
    if body.get("tools") == []:
        message = (
            "Invalid 'tools': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead."
        )
        raise ApiError(400, message, param="tools", code="empty_array")
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


def json_type(value: Any) -> str:
    """How OpenAI names a value's JSON type in an error: 'a string', 'an array'..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "null"


def check_chat_schema(body: dict) -> None:
    """Whatever else OpenAI's published description of the request refuses."""
    from tests.openapi_check import check_chat_request  # jsonschema: strict mode only

    if problems := check_chat_request(body):
        raise ApiError(400, f"Invalid request: {problems[0]}", code="invalid_value")


def check_reasoning_rules(body: dict, family: ReasoningFamily) -> None:
    """The o-series / gpt-5+ rules, in the order OpenAI reports them."""
    if not family.system_role_ok:
        for index, message in enumerate(body["messages"]):
            role = message.get("role") if isinstance(message, dict) else None
            if role in ("system", "developer"):
                param = f"messages[{index}].role"
                text = f"Unsupported value: '{param}' does not support '{role}' with this model."
                raise unsupported_value(param, text)
    if body.get("max_tokens") is not None:
        raise unsupported_parameter(
            "max_tokens", " Use 'max_completion_tokens' instead."
        )
    effort = body.get("reasoning_effort")
    if effort is not None:
        if family.efforts is None:
            raise unsupported_parameter("reasoning_effort")
        if effort not in family.efforts:
            text = (
                f"Unsupported value: 'reasoning_effort' does not support "
                f"{format_value(effort)} with this model. Supported values are: "
                f"{quote_list(family.efforts)}."
            )
            raise unsupported_value("reasoning_effort", text)
    effective = effort if effort is not None else family.default_effort
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
    if family.rejects_stop and body.get("stop") is not None:
        raise unsupported_parameter("stop")
    if family.tools_need_effort_none and body.get("tools") and effort != "none":
        text = (
            f"Function tools with reasoning_effort are not supported for {body['model']} "
            "in /v1/chat/completions. To use function tools, use /v1/responses or set "
            "reasoning_effort to 'none'."
        )
        raise ApiError(400, text, param="reasoning_effort")


# --------------------------------------------------------------------------------------
# Markers in the last user message
# --------------------------------------------------------------------------------------

MARKER_RE = re.compile(r"\[\[(\w+)(?::(.*?))?\]\]", re.DOTALL)
OPTION_RE = re.compile(
    r"(\w+)=(\{.*?\}(?=\s|$)|\[.*?\](?=\s|$)|\"[^\"]*\"|'[^']*'|\S+)"
)


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


def is_task_prompt(text: str) -> bool:
    """Open WebUI's background task templates (title, tags, follow-ups...)."""
    return text.lstrip().startswith("### Task:")


def strip_markers(text: str) -> str:
    """The text without `[[...]]` markers, whitespace collapsed."""
    return " ".join(MARKER_RE.sub(" ", text).split())


def parse_option(raw: str) -> Any:
    """A marker option value: JSON when it parses (numbers, true, dicts), else text."""
    if raw[:1] == raw[-1:] == "'" and len(raw) >= 2:
        return raw[1:-1]
    try:
        return json.loads(raw)
    except ValueError:
        lowered = raw.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return raw


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


def parse_fault_marker(spec: str) -> Fault | None:
    """`status code=503 times=1` -> a Fault (None for an unknown kind)."""
    kind, _, rest = spec.partition(" ")
    if kind not in FAULT_KINDS:
        return None
    opts = {name: parse_option(raw) for name, raw in OPTION_RE.findall(rest)}
    times = opts.pop("times", None)
    fault = Fault(kind=kind, path=None, opts=opts)
    fault.times = int(times) if times is not None else -1  # -1: every request
    return fault


def marker_number(markers: dict[str, list[str]], name: str) -> float | None:
    """The number of the first `[[name:N]]` marker, None when absent or not a number."""
    for raw in markers.get(name, []):
        try:
            return float(raw)
        except ValueError:
            continue
    return None


# --------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------


@dataclass
class Answer:
    """Everything a completion carries, before it is shaped as JSON or SSE."""

    content: list[str]
    reasoning: list[str] = field(default_factory=list)
    reasoning_field: str | None = None
    tool_call: dict | None = None  # {"id", "name", "arguments"}
    finish_reason: str = "stop"
    reasoning_tokens: int = 0
    prompt_tokens: int = 0
    delay: float = 0.0

    @property
    def text(self) -> str:
        return "".join(self.content)

    @property
    def tool_pieces(self) -> list[str]:
        """The tool call's arguments in a few fragments, as OpenAI streams them."""
        if not self.tool_call:
            return []
        args = self.tool_call["arguments"]
        size = max(1, -(-len(args) // 3))
        return [args[i : i + size] for i in range(0, len(args), size)] or [""]

    def usage(self) -> dict:
        """OpenAI's usage object, with reasoning tokens counted in completion tokens."""
        completion = len(self.content) + len(self.tool_pieces) + self.reasoning_tokens
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }


def empty_answer(answer: Answer, finish_reason: str) -> Answer:
    """The same answer with nothing in it: no text, reasoning or tool call."""
    return Answer(
        content=[],
        finish_reason=finish_reason,
        prompt_tokens=answer.prompt_tokens,
        reasoning_tokens=answer.reasoning_tokens,
    )


def split_words(text: str) -> list[str]:
    """Word chunks that join back to exactly `text` ("Echo:", " hi", " there")."""
    return re.findall(r"\s*\S+", text.strip())


def answer_text(user_text: str) -> str:
    """The answer to a plain user message: "Echo: " + the text without markers."""
    clean = strip_markers(user_text)
    return f"Echo: {clean}" if clean else "Echo:"


def answer_chunks(user_text: str) -> list[str]:
    """The content chunks streamed for a user message (honours `[[chunks:N]]`)."""
    pieces = split_words(answer_text(user_text))
    wanted = marker_number(parse_markers(user_text), "chunks")
    return fit_chunks(pieces, None if wanted is None else int(wanted))


def fit_chunks(pieces: list[str], wanted: int | None) -> list[str]:
    """Exactly `wanted` chunks: the tail merged into the last, or padded " w<i>"."""
    if wanted is None or wanted == len(pieces):
        return pieces
    if wanted <= 0:
        return []
    if wanted < len(pieces):
        return pieces[: wanted - 1] + ["".join(pieces[wanted - 1 :])]
    return pieces + [f" w{i}" for i in range(len(pieces), wanted)]


def task_answer(text: str) -> str:
    """A JSON answer Open WebUI can parse for its title/tags/follow-up tasks."""
    lines = text.strip().splitlines()
    task = lines[1].lower() if len(lines) > 1 else ""
    if "title" in task:
        return json.dumps({"title": "Echo chat"})
    if "tags" in task:
        return json.dumps({"tags": ["General"]})
    if "follow" in task or "predict" in task:
        return json.dumps({"follow_ups": ["Tell me more."]})
    if "queries" in task or "search" in task:
        return json.dumps({"queries": []})
    return json.dumps({})


def count_prompt_tokens(messages: list) -> int:
    """A deterministic stand-in for tiktoken: words plus OpenAI's per-message overhead."""
    return 3 + sum(4 + len(message_text(message).split()) for message in messages)


def sample_argument(schema: Any, text: str) -> Any:
    """A plausible value for a JSON-schema property, so tool calls validate."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return text or "test"


def tool_call_for(body: dict, markers: dict[str, list[str]], text: str) -> dict | None:
    """The tool call asked for by `[[tool:NAME]]`, if NAME is one of the request's tools."""
    tools = body.get("tools") or []
    wanted = markers.get("tool", [])
    for tool in tools:
        function = tool.get("function", {}) if isinstance(tool, dict) else {}
        if function.get("name") not in wanted:
            continue
        parameters = function.get("parameters") or {}
        properties = parameters.get("properties") or {}
        required = parameters.get("required") or []
        args = {name: sample_argument(properties.get(name), text) for name in required}
        call_id = "call_" + uuid.uuid4().hex[:24]
        return {"id": call_id, "name": function["name"], "arguments": json.dumps(args)}
    return None


def reasoning_field_for(model: str, override: str | None) -> str | None:
    """Where a model streams its reasoning text: DeepSeek or OpenRouter style, or none."""
    if override:
        return override
    name = base_id(model)
    if "reasoner" in name:
        return "reasoning_content"
    if "thinking" in name:
        return "reasoning"
    return None


def openai_reasoning_tokens(body: dict) -> int:
    """Hidden reasoning tokens an OpenAI reasoning model reports (0 with effort none)."""
    family = reasoning_family(body["model"])
    if family is None:
        return 0
    effort = body.get("reasoning_effort") or family.default_effort or "medium"
    return EFFORT_TOKENS.get(effort, 128)


def plan_answer(body: dict, reasoning_override: str | None = None) -> Answer:
    """Decide the whole answer to a valid chat request, deterministically."""
    messages = body["messages"]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    user_text = last_user_text(messages)
    markers = parse_markers(user_text)
    clean = strip_markers(user_text)
    answer = Answer(content=[], prompt_tokens=count_prompt_tokens(messages))
    answer.delay = marker_number(markers, "delay") or 0.0

    if last.get("role") == "tool":
        answer.content = split_words(f"Tool said: {message_text(last)}")
    elif last.get("role") == "user" and (call := tool_call_for(body, markers, clean)):
        answer.tool_call = call
        answer.finish_reason = "tool_calls"
    elif is_task_prompt(user_text):
        answer.content = [task_answer(user_text)]
    else:
        answer.content = answer_chunks(user_text)

    answer.reasoning_field = reasoning_field_for(body["model"], reasoning_override)
    if answer.reasoning_field:
        thought = f"Thinking about: {clean}" if clean else "Thinking."
        answer.reasoning = split_words(thought)
        answer.reasoning_tokens = len(answer.reasoning)
    else:
        answer.reasoning_tokens = openai_reasoning_tokens(body)

    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and 0 < limit < len(answer.content):
        answer.content = answer.content[:limit]
        answer.finish_reason = "length"
    return answer


@dataclass
class Envelope:
    """The fields every completion (chunk) repeats."""

    id: str
    created: int
    model: str
    include_usage: bool = False

    def chunk(self, delta: dict, finish_reason: str | None = None) -> dict:
        """One `chat.completion.chunk`, shaped like OpenAI's."""
        data = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "delta": delta,
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
        }
        if self.include_usage:
            data["usage"] = None
        return data


@dataclass
class StreamChunk:
    """A chunk to send; `counts` marks answer chunks (the ones `after=N` counts)."""

    data: dict
    counts: bool


def stream_chunks(answer: Answer, envelope: Envelope) -> list[StreamChunk]:
    """The SSE chunks of an answer, in OpenAI's order (role, reasoning, content, finish, usage)."""
    chunks: list[StreamChunk] = []
    role: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
    if answer.tool_call:
        role["content"] = None
        role["tool_calls"] = [
            {
                "index": 0,
                "id": answer.tool_call["id"],
                "type": "function",
                "function": {"name": answer.tool_call["name"], "arguments": ""},
            }
        ]
    chunks.append(StreamChunk(envelope.chunk(role), counts=False))
    for piece in answer.reasoning:
        empty = None if answer.reasoning_field == "reasoning_content" else ""
        delta = {"content": empty, answer.reasoning_field: piece}
        chunks.append(StreamChunk(envelope.chunk(delta), counts=True))
    for piece in answer.tool_pieces:
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
        chunks.append(StreamChunk(envelope.chunk(delta), counts=True))
    for piece in answer.content:
        chunks.append(StreamChunk(envelope.chunk({"content": piece}), counts=True))
    chunks.append(StreamChunk(envelope.chunk({}, answer.finish_reason), counts=False))
    if envelope.include_usage:
        usage = envelope.chunk({})
        usage["choices"] = []
        usage["usage"] = answer.usage()
        chunks.append(StreamChunk(usage, counts=False))
    return chunks


def completion_json(answer: Answer, envelope: Envelope) -> dict:
    """The non-streaming `chat.completion` object of an answer."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if answer.tool_call else answer.text,
        "refusal": None,
        "annotations": [],
    }
    if answer.reasoning_field:
        message[answer.reasoning_field] = "".join(answer.reasoning)
    if answer.tool_call:
        message["tool_calls"] = [
            {
                "id": answer.tool_call["id"],
                "type": "function",
                "function": {
                    "name": answer.tool_call["name"],
                    "arguments": answer.tool_call["arguments"],
                },
            }
        ]
    return {
        "id": envelope.id,
        "object": "chat.completion",
        "created": envelope.created,
        "model": envelope.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": answer.finish_reason,
            }
        ],
        "usage": answer.usage(),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def sse(data: dict | str) -> bytes:
    """One SSE event, compact JSON like OpenAI's."""
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {text}\n\n".encode()


# --------------------------------------------------------------------------------------
# Canned error bodies for the `status` fault
# --------------------------------------------------------------------------------------


def default_error_body(code: int, model: str, opts: dict) -> dict:
    """OpenAI's usual error JSON for an HTTP status (429 has a quota variant)."""
    quota = opts.get("quota") or opts.get("error_code") == "insufficient_quota"
    message = opts.get("message")
    if code == 429 and quota:
        text = (
            "You exceeded your current quota, please check your plan and billing "
            "details. For more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors."
        )
        return error_body(message or text, "insufficient_quota", "insufficient_quota")
    if code == 429:
        text = (
            f"Rate limit reached for {model} in organization org-fake on requests per "
            "min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
            "https://platform.openai.com/account/rate-limits to learn more."
        )
        return error_body(message or text, "requests", "rate_limit_exceeded")
    canned: dict[int, tuple[str, str, str | int | None]] = {
        400: ("Bad request.", "invalid_request_error", None),
        401: (
            f"Incorrect API key provided: sk-fake1**********wxyz. You can find your "
            f"API key at {KEYS_URL}.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        403: (
            f"Project `proj_fake` does not have access to model `{model}`",
            "invalid_request_error",
            "model_not_found",
        ),
        404: (
            f"The model `{model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        408: ("Request timed out.", "timeout", None),
        409: (
            "Conflict: the request could not be completed.",
            "invalid_request_error",
            None,
        ),
        500: (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        502: ("Bad gateway.", "cf_bad_gateway", 502),
        503: ("The server is overloaded or not ready yet.", "server_error", None),
        504: ("Gateway timeout.", "cf_gateway_timeout", 504),
    }
    default_type = "server_error" if code >= 500 else "invalid_request_error"
    text, kind, error_code = canned.get(code, (f"HTTP {code}", default_type, None))
    return error_body(message or text, kind, error_code)


def error_body(message: str, kind: str, code: str | int | None) -> dict:
    """{"error": {...}} in OpenAI's field order."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------


class _Closed(Exception):
    """The connection is gone (cut by a fault, or the client left): stop answering."""


class FakeOpenAI:
    """OpenAI-compatible server on 127.0.0.1 in a background thread with its own event loop (aiohttp.web)."""

    def __init__(
        self,
        *,
        keys: Iterable[str] | None = (DEFAULT_KEY,),
        models: Iterable[str] | None = None,
        strict: bool = True,
        list_models: bool = True,
        port: int = 0,
        reasoning_field: str | None = None,
        prefix: str = "/v1",
    ) -> None:
        """keys=None checks no auth (local servers); strict=False accepts any argument
        (vLLM, llama.cpp); list_models=False answers 404 on GET /v1/models;
        reasoning_field ("reasoning" or "reasoning_content") makes every model stream
        reasoning text in that field; prefix is the path the API lives under ("/v1",
        "" for a host root, "/openai/deployments/<name>" for an Azure deployment)."""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"prefix must be empty or /like/this, not {prefix!r}")
        self.prefix = prefix
        if isinstance(keys, str):
            keys = (keys,)  # a single key, not its characters
        self.keys: frozenset[str] | None = None if keys is None else frozenset(keys)
        self.models: list[str] = list(OPENAI_MODELS if models is None else models)
        self.strict = strict
        self.list_models = list_models
        self.reasoning_field = reasoning_field
        self.requests: list[Recorded] = []
        self.serves_responses = True  # False: POST .../responses is an unknown URL
        self.issued_reasoning: set[str] = set()  # encrypted_content sent on /responses
        self._wanted_port = port
        self._port: int | None = None
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._marker_uses: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopping = False

    # ---- lifecycle ----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port actually bound (known after start())."""
        if self._port is None:
            raise RuntimeError("FakeOpenAI is not started; call start() first")
        return self._port

    @property
    def origin(self) -> str:
        """scheme://host:port of the server, e.g. for HTTP_PROXY."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What the pipe's OPENAI_API_BASE_URL valve should hold."""
        return f"{self.origin}{self.prefix}"

    @property
    def models_path(self) -> str:
        """The path of GET .../models (/v1/models by default)."""
        return f"{self.prefix}/models"

    @property
    def chat_path(self) -> str:
        """The path of POST .../chat/completions (/v1/chat/completions by default)."""
        return f"{self.prefix}/chat/completions"

    @property
    def responses_path(self) -> str:
        """The path of POST .../responses (/v1/responses by default)."""
        return f"{self.prefix}/responses"

    def start(self) -> "FakeOpenAI":
        """Bind and serve; returns once the server accepts connections."""
        if self._thread is not None:
            return self
        self._stopping = False
        self._startup_error = None
        self._ready.clear()
        self._thread = threading.Thread(
            target=self._run, name="FakeOpenAI", daemon=True
        )
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("FakeOpenAI did not start within 15 s")
        if self._startup_error is not None:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError("FakeOpenAI failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        """Stop serving: open streams are cut after a short grace period."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._stopping = True
        if self._runner is not None and loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop)
            try:
                future.result(timeout=10)
            except Exception:  # noqa: BLE001 - stopping must not fail a test
                pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None
        self._runner = None

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        """Thread body: a private event loop, so the test's own loop can block freely."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as error:  # noqa: BLE001 - reported by start()
            self._startup_error = error
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(
                    asyncio.gather(*pending, return_exceptions=True)
                )
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        """Bind the socket ourselves (port 0 works) and start aiohttp on it."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.25
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            # A restart keeps its port, so base_url stays valid across stop()/start()
            # (and a stopped server is a "connection refused" endpoint meanwhile).
            sock.bind(("127.0.0.1", self._port or self._wanted_port))
        except OSError:
            sock.close()
            await runner.cleanup()
            raise
        site = web.SockSite(runner, sock, backlog=1024)
        await site.start()
        self._port = sock.getsockname()[1]
        self._runner = runner

    # ---- test helpers ---------------------------------------------------------------

    def clear(self) -> None:
        """Forget recorded requests, pending faults and marker counts."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._marker_uses.clear()

    def add_fault(
        self,
        kind: str,
        *,
        times: int = 1,
        key: str | None = None,
        model: str | None = None,
        path: str | None = CHAT_PATH,
        **opts: Any,
    ) -> None:
        """Queue a fault for the next `times` matching requests (path: this server's
        chat completions path unless given; path=None: any path; stream=True/False in
        opts: only streaming / non-streaming requests)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {sorted(FAULT_KINDS)}")
        if path is CHAT_PATH:
            path = self.chat_path
        stream = opts.pop("stream", None)
        fault = Fault(kind, times, key, model, path, stream, dict(opts))
        with self._lock:
            self._faults.append(fault)

    def pending_faults(self) -> list[Fault]:
        """Faults not consumed yet (copies)."""
        with self._lock:
            return [Fault(**vars(fault)) for fault in self._faults]

    def chat_requests(self) -> list[Recorded]:
        """Recorded POSTs to the chat completions path, in order."""
        with self._lock:
            items = list(self.requests)
        return [r for r in items if r.path == self.chat_path]

    def responses_requests(self) -> list[Recorded]:
        """Recorded POSTs to the Responses path, in order."""
        with self._lock:
            items = list(self.requests)
        return [r for r in items if r.path == self.responses_path]

    def model_requests(self) -> list[Recorded]:
        """Recorded GETs of the models path, in order."""
        with self._lock:
            items = list(self.requests)
        return [r for r in items if r.path == self.models_path]

    def last_chat(self) -> Recorded | None:
        """The last recorded POST to the chat completions path, or None."""
        chats = self.chat_requests()
        return chats[-1] if chats else None

    async def wait_for(
        self, predicate: Callable[[Recorded], bool], timeout: float = 5.0
    ) -> Recorded:
        """Wait (without blocking the caller's loop) for a recorded request to match."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                items = list(self.requests)
            for record in items:
                if predicate(record):
                    return record
            if time.monotonic() > deadline:
                raise TimeoutError("no recorded request matched")
            await asyncio.sleep(0.02)

    # ---- request handling -----------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        """Every request: record, apply faults, route; never lets an exception escape."""
        record = await self._record(request)
        if record.disconnected:
            return web.Response(status=499)
        try:
            response = await self._answer(request, record)
        except _Closed:
            return web.Response(status=499)  # the socket is closed: never sent
        except ConnectionError:
            record.disconnected = True
            return web.Response(status=499)
        except asyncio.CancelledError:
            # handler_cancellation: aiohttp cancels us when the client goes away.
            if not self._stopping:
                record.disconnected = True
            raise
        except Exception as error:  # noqa: BLE001 - the server must never crash
            log.exception("FakeOpenAI failed on %s %s", record.method, record.path)
            if record.status is not None:  # headers already sent: all we can do
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=499)
            body = error_body(f"fake server error: {error!r}", "server_error", None)
            response = web.json_response(body, status=500)
        if record.status is None:
            record.status = response.status
        record.completed = True
        return response

    async def _record(self, request: web.Request) -> Recorded:
        """Read the body and append the Recorded before anything can fail."""
        lost = False
        try:
            raw = await request.read()
        except web.HTTPException:
            raise  # 413 and such: aiohttp answers them itself
        except Exception:  # noqa: BLE001 - the client left mid-body
            raw, lost = b"", True
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        authorization = request.headers.get("Authorization")
        record = Recorded(
            method=request.method,
            path=request.path,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=parsed if isinstance(parsed, dict) else None,
            key=self._request_key(request),
            raw_authorization=authorization,
            received_at=time.time(),
            raw_body=raw,
            disconnected=lost,
            query=dict(request.query),
        )
        with self._lock:
            self.requests.append(record)
        return record

    def _request_key(self, request: web.Request) -> str | None:
        """The key a request carries: OpenAI's `Authorization: Bearer <key>`."""
        authorization = request.headers.get("Authorization")
        if authorization and authorization[:7].lower() == "bearer ":
            return authorization[7:].strip() or None
        return None

    async def _answer(
        self, request: web.Request, record: Recorded
    ) -> web.StreamResponse:
        """Early faults, then auth, then the route."""
        fault = self._take_fault(record, EARLY_FAULTS)
        if fault is not None and fault.kind == "delay_headers":
            record.faults.append(fault.kind)
            await asyncio.sleep(float(fault.opts.get("seconds", 1.0)))
            fault = self._take_fault(record, EARLY_FAULTS - {"delay_headers"})
        if fault is not None:
            record.faults.append(fault.kind)
            return await self._early_fault(request, record, fault)
        try:
            self._check_auth(record)
            return await self._route(request, record)
        except ApiError as error:
            return self._error_response(record, error)

    def _error_response(self, record: Recorded, error: ApiError) -> web.StreamResponse:
        """An ApiError as the answer; OpenAI's JSON unless a provider shapes it."""
        return self._json(error.payload, error.status)

    async def _route(
        self, request: web.Request, record: Recorded
    ) -> web.StreamResponse:
        """Dispatch on method and path; anything else is OpenAI's "Invalid URL"."""
        path, method = record.path, record.method
        models_path = self.models_path
        if method == "GET" and path == models_path:
            if not self.list_models:
                return web.Response(status=404, text="404: Not Found")
            return await self._send_json(request, record, self._models_list(), True)
        if method == "GET" and path.startswith(models_path + "/"):
            model = self._one_model(path[len(models_path) + 1 :])
            return await self._send_json(request, record, model, True)
        if method == "POST" and path == self.chat_path:
            return await self._chat(request, record)
        if method == "POST" and path == self.responses_path and self.serves_responses:
            from tests import fake_responses  # imported late: it builds on this module

            return await fake_responses.serve(self, request, record)
        raise ApiError(404, f"Invalid URL ({method} {path})")

    def _check_auth(self, record: Recorded) -> None:
        """401 exactly like OpenAI's, unless the server takes no keys (keys=None).

        Checked after the early faults: a 503 from a proxy in front of the API comes
        whatever the key."""
        if self.keys is None:
            return
        if record.key is None:
            raise ApiError(401, NO_KEY_MESSAGE)
        if record.key not in self.keys:
            message = (
                f"Incorrect API key provided: {mask_key(record.key)}. You can find your "
                f"API key at {KEYS_URL}."
            )
            raise ApiError(401, message, code="invalid_api_key")

    # ---- faults -------------------------------------------------------------------------

    def _take_fault(self, record: Recorded, kinds: frozenset[str]) -> Fault | None:
        """The first queued fault, else marker fault, that applies now (consumed)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(record, kinds):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
            for spec, fault in self._marker_faults(record):
                if fault.kind not in kinds:
                    continue
                if fault.kind in STREAM_ONLY_FAULTS and not record.stream:
                    continue
                used = self._marker_uses.get(spec, 0)
                if 0 <= fault.times <= used:
                    continue
                self._marker_uses[spec] = used + 1
                return fault
        return None

    def _marker_faults(self, record: Recorded) -> list[tuple[str, Fault]]:
        """Faults written in the last user message of a chat or Responses request."""
        messages = self._marker_messages(record)
        if not messages:
            return []
        markers = parse_markers(last_user_text(messages))
        faults = []
        for spec in markers.get("fault", []):
            fault = parse_fault_marker(spec)
            if fault is not None:
                faults.append((spec, fault))
        return faults

    def _marker_messages(self, record: Recorded) -> list | None:
        """The messages whose last user text may hold markers (Responses input as chat)."""
        if not record.body:
            return None
        if record.path == self.chat_path:
            messages = record.body.get("messages")
            return messages if isinstance(messages, list) else None
        if record.path == self.responses_path and self.serves_responses:
            from tests.fake_responses import chat_messages

            return chat_messages(record.body)
        return None

    async def _early_fault(
        self, request: web.Request, record: Recorded, fault: Fault
    ) -> web.StreamResponse:
        """Answer a fault that replaces the whole response."""
        opts = fault.opts
        if fault.kind == "refuse":
            if request.transport is not None:
                request.transport.close()
            raise _Closed()
        if fault.kind == "not_sse":
            return self._respond(
                web.Response(text=NOT_SSE_HTML, content_type="text/html")
            )
        if fault.kind == "echo_key_401":
            message = (
                f"Incorrect API key provided: {record.key or ''}. You can find your API "
                f"key at {KEYS_URL}."
            )
            body = error_body(message, "invalid_request_error", "invalid_api_key")
            return self._json(body, 401)
        return self._status_fault(record, opts)

    def _status_fault(self, record: Recorded, opts: dict) -> web.StreamResponse:
        """The `status` fault: any code, OpenAI JSON / custom / HTML / empty body."""
        opts = dict(opts)
        code = opts.get("code", 500)
        if isinstance(code, str) and not code.isdigit():
            opts["error_code"] = code  # an OpenAI error code names its usual status
            code = ERROR_CODE_STATUS.get(code, 400)
        code = int(code)
        headers = {str(k): str(v) for k, v in (opts.get("headers") or {}).items()}
        if "retry_after" in opts:
            headers["Retry-After"] = str(opts["retry_after"])
        if "retry_after_ms" in opts:
            headers["retry-after-ms"] = str(opts["retry_after_ms"])
        content_type = opts.get("content_type")
        if opts.get("empty"):
            response = web.Response(status=code, body=b"", headers=headers)
            response.content_type = content_type or "application/json"
        elif opts.get("html"):
            reason = web.Response(status=code).reason
            html = PROXY_HTML.format(code=code, reason=reason)
            response = web.Response(status=code, text=html, headers=headers)
            response.content_type = content_type or "text/html"
        elif isinstance(opts.get("body"), str):
            response = web.Response(status=code, text=opts["body"], headers=headers)
            response.content_type = content_type or "text/plain"
        else:
            body = opts.get("body")
            if not isinstance(body, dict):
                body = default_error_body(code, record.model or "gpt-4o", opts)
            response = web.Response(
                status=code, text=json.dumps(body, indent=2), headers=headers
            )
            response.content_type = content_type or "application/json"
        return self._respond(response)

    # ---- normal answers -------------------------------------------------------------

    def _models_list(self) -> dict:
        """GET /v1/models, shaped like OpenAI's."""
        return {"object": "list", "data": [self._model_object(m) for m in self.models]}

    def _one_model(self, model: str) -> dict:
        """GET /v1/models/{id}."""
        if model not in self.models:
            message = f"The model '{model}' does not exist"
            raise ApiError(404, message, param="model", code="model_not_found")
        return self._model_object(model)

    @staticmethod
    def _model_object(model: str) -> dict:
        """One model entry; `created` is stable per id so listings compare equal."""
        created = 1_680_000_000 + zlib.crc32(model.encode()) % 60_000_000
        owner = "openai" if model.startswith(("gpt-5", "o3", "o4")) else "system"
        return {"id": model, "object": "model", "created": created, "owned_by": owner}

    async def _chat(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        """POST /v1/chat/completions: validate, plan the answer, send it."""
        body = record.body
        if body is None:
            raise ApiError(400, BAD_JSON_MESSAGE)
        self._validate(body)
        answer = self._plan(body)
        options = body.get("stream_options") or {}
        envelope = Envelope(
            id="chatcmpl-" + uuid.uuid4().hex[:29],
            created=int(time.time()),
            model=body["model"],
            include_usage=bool(
                isinstance(options, dict) and options.get("include_usage")
            ),
        )
        fault = self._take_fault(record, BODY_FAULTS)
        if fault is not None:
            record.faults.append(fault.kind)
            if fault.kind == "empty":
                answer = empty_answer(answer, fault.opts.get("finish_reason", "stop"))
                fault = None
        if body.get("stream") is True and not (
            fault and fault.kind == "json_instead_of_sse"
        ):
            return await self._stream(request, record, answer, envelope, fault)
        envelope.include_usage = False
        payload = self._completion(answer, envelope, body)
        return await self._send_json(request, record, payload, fault=fault)

    def _validate(self, body: dict) -> None:
        """Refuse a chat request the way the server would (raise ApiError)."""
        check_basic_shape(body, self.models, self.strict)
        if self.strict:
            check_openai_rules(body)
            check_chat_schema(body)

    def _plan(self, body: dict) -> Answer:
        """The whole answer to a valid chat request."""
        return plan_answer(body, self.reasoning_field)

    def _stream_chunks(
        self, answer: Answer, envelope: Envelope, body: dict
    ) -> list[StreamChunk]:
        """The SSE chunks of an answer, in the order they are sent."""
        return stream_chunks(answer, envelope)

    def _stream_preamble(self, body: dict) -> bytes:
        """Bytes sent before the first chunk (e.g. SSE comments); none for OpenAI."""
        return b""

    def _completion(self, answer: Answer, envelope: Envelope, body: dict) -> dict:
        """The non-streaming answer."""
        return completion_json(answer, envelope)

    async def _stream(
        self,
        request: web.Request,
        record: Recorded,
        answer: Answer,
        envelope: Envelope,
        fault: Fault | None,
    ) -> web.StreamResponse:
        """Send the answer as OpenAI's SSE stream, each chunk flushed as written."""
        response = await self._open_sse(request, record)
        preamble = self._stream_preamble(record.body or {})
        if preamble:
            await response.write(preamble)
        sent = 0
        after = int(fault.opts.get("after", 1)) if fault else 0
        chunks = self._stream_chunks(answer, envelope, record.body or {})
        for index, chunk in enumerate(chunks):
            # The role chunk always goes first; the fault fires after `after` answer
            # chunks, or before the finish chunk when the answer is shorter.
            if fault is not None and index > 0 and (sent >= after or not chunk.counts):
                if await self._stream_fault(request, response, fault):
                    return response
                fault = None
            if chunk.counts:
                if answer.delay and sent > 0:
                    await asyncio.sleep(answer.delay)
                sent += 1
            await response.write(sse(chunk.data))
        await response.write(sse("[DONE]"))
        await response.write_eof()
        return response

    async def _open_sse(
        self, request: web.Request, record: Recorded
    ) -> web.StreamResponse:
        """A 200 `text/event-stream` answer with its headers sent, ready for events."""
        response = self._respond(web.StreamResponse(status=200))
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        response.headers["Cache-Control"] = "no-cache"
        response.enable_chunked_encoding()
        record.status = 200
        await response.prepare(request)
        return response

    async def _stream_fault(
        self, request: web.Request, response: web.StreamResponse, fault: Fault
    ) -> bool:
        """Inject a mid-stream fault; True when the stream must end here."""
        opts = fault.opts
        if fault.kind == "stall":
            await asyncio.sleep(float(opts.get("seconds", 10.0)))
            return False
        if fault.kind == "malformed":
            await response.write(b'data: {"choices": [{"delta": {"content": "x\n\n')
            return False
        if fault.kind == "stream_error":
            message = opts.get(
                "message",
                "The server had an error while processing your request. Sorry about that!",
            )
            error = error_body(message, "server_error", None)
            await response.write(sse(error))
            await response.write_eof()
            return True
        if fault.kind == "error_field":
            error = dict(LLAMA_CONTEXT_ERROR)
            error.update({k: v for k, v in opts.items() if k not in ("after", "times")})
            await response.write(f"error: {json.dumps(error)}\n\n".encode())
            await response.write(sse("[DONE]"))
            await response.write_eof()
            return True
        if fault.kind == "cut":
            await self._cut(request, rst=bool(opts.get("rst")))
        return False

    @staticmethod
    async def _cut(request: web.Request, rst: bool = False) -> None:
        """Close the socket mid-answer, without the final chunk: a cut-off stream.

        What was written is flushed first (an abort would drop it from the buffer), so
        the client really sees N chunks and then a truncated body."""
        transport = request.transport
        if transport is None:
            raise _Closed()
        for _ in range(200):
            if transport.get_write_buffer_size() == 0:
                break
            await asyncio.sleep(0.005)
        if rst:
            transport.abort()
        else:
            transport.close()
        raise _Closed()

    async def _send_json(
        self,
        request: web.Request,
        record: Recorded,
        payload: dict,
        take_fault: bool = False,
        fault: Fault | None = None,
    ) -> web.StreamResponse:
        """A JSON answer; `stall`/`cut` faults split it in the middle of the body.

        take_fault: look for a body fault here (routes other than chat completions,
        which take theirs before choosing between SSE and JSON)."""
        if take_fault:
            fault = self._take_fault(record, BODY_FAULTS - STREAM_ONLY_FAULTS)
            if fault is not None:
                record.faults.append(fault.kind)
        if fault is None or fault.kind not in ("stall", "cut"):
            return self._json(payload, 200)
        data = json.dumps(payload, indent=2).encode()
        response = self._respond(web.StreamResponse(status=200))
        response.content_type = "application/json"
        response.content_length = len(data)
        record.status = 200
        await response.prepare(request)
        await response.write(data[: len(data) // 2])
        if fault.kind == "cut":
            await self._cut(request, rst=bool(fault.opts.get("rst")))
        await asyncio.sleep(float(fault.opts.get("seconds", 10.0)))
        await response.write(data[len(data) // 2 :])
        await response.write_eof()
        return response

    def _json(self, payload: dict, status: int) -> web.Response:
        """A JSON response with OpenAI's headers (errors are pretty-printed like OpenAI's)."""
        indent = 2 if status >= 400 else None
        response = web.Response(
            status=status,
            text=json.dumps(payload, indent=indent),
            content_type="application/json",
        )
        return self._respond(response)

    @staticmethod
    def _respond(response: web.StreamResponse) -> web.StreamResponse:
        """Add the headers every OpenAI answer carries."""
        response.headers["x-request-id"] = "req_" + uuid.uuid4().hex
        response.headers["openai-version"] = "2020-10-01"
        response.headers["openai-processing-ms"] = "12"
        return response


# --------------------------------------------------------------------------------------
# Standalone use
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Serve until Ctrl-C, for trying the pipe by hand against a known upstream."""
    parser = argparse.ArgumentParser(description="Fake OpenAI API for manual tests")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--no-auth", action="store_true", help="accept any or no key")
    parser.add_argument("--key", action="append", help="accepted key (repeatable)")
    parser.add_argument("--permissive", action="store_true", help="accept any argument")
    parser.add_argument("--no-models", action="store_true", help="404 on /v1/models")
    parser.add_argument("--reasoning-field", choices=["reasoning", "reasoning_content"])
    args = parser.parse_args(argv)
    keys = None if args.no_auth else tuple(args.key or [DEFAULT_KEY])
    server = FakeOpenAI(
        keys=keys,
        strict=not args.permissive,
        list_models=not args.no_models,
        port=args.port,
        reasoning_field=args.reasoning_field,
    ).start()
    print(f"Fake OpenAI API at {server.base_url}", flush=True)
    print(f"Keys: {'(none checked)' if keys is None else ', '.join(keys)}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
