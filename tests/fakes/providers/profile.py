"""What describes a provider: its `Profile` (the data) and its `Dialect` (the ways its
API differs from api.openai.com's), plus the error specs both are written with.

Why two halves: several profiles speak one dialect (Azure's v1 API and its deployment
URLs; OpenAI and a gateway in front of it), and a profile is what tests parametrize
over, while a dialect is code the server calls.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.chat_shapes import Answer, Envelope, StreamChunk
from tests.fakes.openai_errors import ApiError, mask_key, unrecognized_arguments
from tests.fakes.openai_errors import unsupported_parameter
from tests.fakes.openai_models import model_list
from tests.fakes.recorded import Recorded
from tests.upstream import FakeOpenAI, answer_text


@dataclass(frozen=True, kw_only=True)
class Profile:
    """What one provider looks like to the pipe; the defaults are a local server's."""

    name: str  # test id
    title: str  # as a README would name it
    dialect: str = ""  # its `Dialect`'s name: "openai", "azure"... (default: `name`)
    host: str | None = None  # the real host (reached through HTTP_PROXY); None: local
    prefix: str = "/v1"  # the base URL's path
    # Everything the server knows (and lists, if it lists); by default the offered ids,
    # then the hidden ones, in the order given.
    models: tuple[str, ...] = ()
    offered: frozenset[str] = frozenset()  # ids the admin must see (any collection)
    hidden: frozenset[str] = frozenset()  # ids never offered (any collection)
    chat_model: str  # a plain chat model
    key: str | None = None  # a valid key (the user's); None: the server checks no key
    global_key: str | None = None  # another valid key (the admin's)
    list_models: bool = True  # False: no GET /models (404)
    openai_rules: bool = False  # OpenAI's whitelist and GPT filter apply (Azure too)
    accepted: frozenset[str] | None = None  # top-level arguments accepted; None: any
    refusal_style: str | None = None  # how unknown arguments are refused (`refusal`)
    reasoning: tuple[tuple[str, str], ...] = ()  # (model, field or "think")
    reasoning_model: str | None = None  # the model the reasoning test uses
    allowlist: str = ""  # the MODEL_ALLOWLIST an admin sets for this provider
    chunk_extra: str | None = None  # a top-level chunk field the provider adds
    error_kinds: tuple[str, ...] = ("rate_limit", "bad_request", "not_found")
    second_model: str | None = None  # another chat model on the same endpoint
    context_size: int | None = None  # llama-server's n_ctx: longer prompts fail its way
    responses: bool = False  # serves POST {prefix}/responses (OpenAI's Responses API)

    def __post_init__(self) -> None:
        if not self.dialect:  # most providers speak a dialect of their own
            object.__setattr__(self, "dialect", self.name)
        if not self.models:  # listed in the order given: no sets here
            for ids in (self.offered, self.hidden):
                assert not ids or not isinstance(ids, (set, frozenset)), self.name
            object.__setattr__(self, "models", (*self.offered, *self.hidden))
        object.__setattr__(self, "offered", frozenset(self.offered))
        object.__setattr__(self, "hidden", frozenset(self.hidden))

    @property
    def local(self) -> bool:
        return self.host is None

    def base_url(self, server: FakeOpenAI) -> str:
        """What the admin pastes into OPENAI_API_BASE_URL."""
        if self.host is None:
            return server.base_url
        return f"http://{self.host}{self.prefix}"

    def reasoning_field(self, model: str) -> str | None:
        return dict(self.reasoning).get(model)

    def expected_text(self, model: str, prompt: str) -> str:
        """The answer text the user sees (think-tag providers put reasoning there)."""
        if self.reasoning_field(model) == "think":
            return f"<think>Thinking about: {prompt}</think>\n\n" + answer_text(prompt)
        return answer_text(prompt)


def make_key(prefix: str, tag: str, length: int = 40) -> str:
    """A realistic-looking random key (no words in it: a redactor may hide any part of
    a key, so a word inside one would be hidden wherever it appears)."""
    digest = hashlib.sha256(tag.encode()).hexdigest()
    return prefix + digest[: length - 4] + "Zq" + digest[-2:].upper()


def created(model: str) -> int:
    """A `created` date that is stable per id, so model listings compare equal."""
    return 1_735_000_000 - zlib.crc32(model.encode()) % 40_000_000


def plain_usage(answer: Answer) -> dict:
    """Usage without OpenAI's token details, as most other providers send it."""
    usage = answer.usage()
    return {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


@dataclass
class ErrorSpec:
    """One error a provider sends: status, message and the fields of its shape.

    `{model}`, `{tail}` (the received key's last 4) and `{masked}` (the key as OpenAI
    masks it) in the message are filled in when it is sent."""

    status: int
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None  # a proxy page instead of JSON


class ProviderError(ApiError):
    """A provider-specific error, rendered from its dialect's `errors[kind]`."""

    def __init__(self, kind: str, status: int = 400) -> None:
        super().__init__(status, kind)
        self.kind = kind


class Refused(ApiError):
    """Unknown arguments (body locations such as ("top_k",) or ("stream_options", "x"))."""

    def __init__(self, names: list[tuple[str, ...]]) -> None:
        super().__init__(400, "refused: " + ", ".join(".".join(n) for n in names))
        self.names = names


def as_json(body: Any, indent: int | None = 2) -> tuple[str, str]:
    """(body text, content type) of a JSON error body."""
    return json.dumps(body, indent=indent), "application/json"


class Dialect:
    """How one provider's API differs from api.openai.com's: every hook's default is
    OpenAI's way, and a subclass overrides what its provider does otherwise."""

    name: str
    errors: dict[str, ErrorSpec] = {}  # kind -> the error it sends
    missing_route = "no_models"  # the error kind a path it does not serve answers
    preamble = b""  # bytes (SSE comments) sent before the first chunk

    def request_key(self, request: web.Request, bearer: str | None) -> str | None:
        """The key a request carries (`bearer`: its `Authorization: Bearer` key)."""
        return bearer

    def check_auth(self, record: Recorded, keys: frozenset[str], models: bool) -> None:
        """Raise ProviderError for a missing or wrong key (`models`: GET .../models)."""
        if record.key is None:
            kind = "missing_key" if "missing_key" in self.errors else "auth"
            raise ProviderError(kind, 401)
        if record.key not in keys:
            raise ProviderError("auth", 401)

    def route(self, record: Recorded, prefix: str) -> web.StreamResponse | None:
        """An answer before the usual routes, for an API under `prefix` (None: route
        as OpenAI does)."""
        return None

    def unknown_arguments(
        self, body: dict, accepted: frozenset[str]
    ) -> list[tuple[str, ...]]:
        """Where the body holds arguments outside `accepted` (top level only)."""
        return [(name,) for name in body if name not in accepted]

    def error(
        self, kind: str, *, model: str = "", key: str | None = None
    ) -> tuple[int, str, str, dict[str, str]]:
        """(status, body text, content type, headers) of one of its errors."""
        spec = self.errors[kind]
        message = spec.message.format(
            model=model, tail=(key or "")[-4:], masked=mask_key(key or "sk-")
        )
        return (spec.status, *self.render(spec, message), dict(spec.headers))

    def api_error(self, error: ApiError) -> tuple[int, str, str]:
        """A refusal by the fake's own checks (bad JSON, no messages...), in this
        provider's shape: its `bad_request` fields around the fake's message."""
        message = str(error.payload["error"]["message"])
        fields = self.errors.get("bad_request") or ErrorSpec(error.status, "")
        spec = ErrorSpec(error.status, message, dict(fields.extra))
        return (error.status, *self.render(spec, message))

    def render(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        """(body text, content type) of an error: its proxy page, or `error_body`."""
        if spec.html is not None:
            return spec.html, "text/html"
        return self.error_body(spec, message)

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        """An error in this provider's JSON shape; OpenAI's `{"error": {...}}` here."""
        extra = dict(spec.extra)
        error = {
            "message": message,
            "type": extra.pop("type", "invalid_request_error"),
            "param": extra.pop("param", None),
            "code": extra.pop("code", None),
        }
        return as_json({"error": error | extra})

    def refusal(
        self, style: str | None, names: list[tuple[str, ...]], body: dict
    ) -> tuple[int, str, str]:
        """(status, body text, content type) refusing unknown arguments: OpenAI's 400
        listing them all, or (style "param") naming the first in `param`."""
        tops = [loc[0] for loc in names]
        if style == "param":
            error = unsupported_parameter(tops[0])
        else:
            error = unrecognized_arguments(tops)
        return (400, *as_json(error.payload))

    def models_list(self, models: list[str]) -> Any:
        """GET .../models in this provider's shape."""
        return model_list(models)

    def stream_chunks(
        self, chunks: list[StreamChunk], answer: Answer
    ) -> list[StreamChunk]:
        """OpenAI's chunks of an answer, dressed the provider's way."""
        return chunks

    def fail_midstream(
        self, chunks: list[StreamChunk], envelope: Envelope, message: str
    ) -> list[StreamChunk]:
        """The chunks of a stream the provider fails part-way with `message`."""
        raise ValueError(f"{self.name} has no mid-stream errors")

    def completion(self, payload: dict, answer: Answer) -> dict:
        """OpenAI's `chat.completion` of an answer, dressed the provider's way."""
        return payload


def finish_chunk(chunks: list[StreamChunk]) -> StreamChunk:
    """The chunk that carries the finish_reason."""
    return next(
        c for c in chunks if c.data["choices"] and c.data["choices"][0]["finish_reason"]
    )


def usage_chunks(chunks: list[StreamChunk]) -> list[StreamChunk]:
    """The chunks that carry usage (the last one, when the request asked for it)."""
    return [c for c in chunks if c.data.get("usage")]
