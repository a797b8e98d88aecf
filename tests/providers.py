"""Fake OpenAI-compatible providers: one `Profile` each, served by `ProviderServer`.

Each `Profile` says what one provider looks like from the pipe's side: where its API
lives (host and path prefix), what `GET /models` lists (or that it has no `/models`),
which key it wants (or none), which top-level arguments it accepts, where reasoning
text goes, what extra fields its chunks carry (`timings`, `x_groq`, `citations`...),
and which of its errors the tests inject. Its `Dialect` is the code behind the
differences: how a key is sent (`Authorization: Bearer`, Azure's `api-key`,
Anthropic's `x-api-key` for listing), how unknown arguments are refused, and the
shapes of its model list, chunks and error bodies.

`ProviderServer` serves a profile on 127.0.0.1, as a `FakeOpenAI` whose hooks ask the
dialect; cloud hosts are reached through `HTTP_PROXY` so the pipe sees the provider's
real host name in its URL (see `tests/conftest.py:openai_host`). The profiles and
dialects live by group in `tests/fakes/providers/`, each module with its sources.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from tests.fakes.chat_shapes import Answer, Envelope, StreamChunk, stream_chunks
from tests.fakes.chat_shapes import completion_json
from tests.fakes.faults import Fault
from tests.fakes.openai_errors import ApiError
from tests.fakes.providers.anthropic_gemini import ANTHROPIC, GEMINI, Anthropic
from tests.fakes.providers.anthropic_gemini import Gemini
from tests.fakes.providers.clouds import DEEPSEEK, MINIMAX, MISTRAL, PERPLEXITY
from tests.fakes.providers.clouds import DeepSeek, MiniMax, Mistral, Perplexity
from tests.fakes.providers.local_servers import LLAMACPP, LMSTUDIO, OLLAMA, VLLM
from tests.fakes.providers.local_servers import LlamaCpp, LmStudio, Ollama, Vllm
from tests.fakes.providers.openai_azure import AZURE_DEPLOYMENT, AZURE_V1, GATEWAY
from tests.fakes.providers.openai_azure import OPENAI, Azure, OpenAI
from tests.fakes.providers.profile import Dialect, Profile, ProviderError, Refused
from tests.fakes.providers.routers import GROQ, OPENROUTER, Groq, OpenRouter
from tests.fakes.recorded import Recorded
from tests.fakes.sending import with_headers
from tests.upstream import FakeOpenAI, count_prompt_tokens, plan_answer

PROFILES: tuple[Profile, ...] = (
    OPENAI,
    AZURE_V1,
    AZURE_DEPLOYMENT,
    ANTHROPIC,
    GEMINI,
    OPENROUTER,
    GROQ,
    DEEPSEEK,
    MISTRAL,
    PERPLEXITY,
    MINIMAX,
    OLLAMA,
    LLAMACPP,
    VLLM,
    LMSTUDIO,
)
BY_NAME = {profile.name: profile for profile in PROFILES + (GATEWAY,)}
DIALECTS: dict[str, Dialect] = {
    dialect.name: dialect
    for dialect in (
        OpenAI(),
        Azure(),
        Anthropic(),
        Gemini(),
        OpenRouter(),
        Groq(),
        DeepSeek(),
        Mistral(),
        Perplexity(),
        MiniMax(),
        Ollama(),
        LlamaCpp(),
        Vllm(),
        LmStudio(),
    )
}
# dialect -> kind -> spec: every error a provider fake can send.
ERRORS = {name: dialect.errors for name, dialect in DIALECTS.items()}


def render_error(
    dialect: str, kind: str, *, model: str = "", key: str | None = None
) -> tuple[int, str, str, dict[str, str]]:
    """(status, body text, content type, headers) of one of a provider's errors."""
    return DIALECTS[dialect].error(kind, model=model, key=key)


def error_fragment(dialect: str, kind: str, *, model: str = "") -> str | None:
    """The start of a kind's message, which the user should see (HTML pages: None)."""
    spec = ERRORS[dialect].get(kind)
    if spec is None or spec.html is not None:
        return None
    text = " ".join(spec.message.format(model=model, tail="", masked="").split())
    return text[:40] or None


_DEFAULT: Any = object()


class ProviderServer(FakeOpenAI):
    """A `FakeOpenAI` that answers, refuses and fails like `profile`'s provider."""

    def __init__(
        self,
        profile: Profile,
        *,
        keys: Iterable[str] | None = _DEFAULT,
        refusal_style: str | None = None,
        port: int = 0,
    ) -> None:
        """keys: the profile's two keys unless given (None: no key checked);
        refusal_style: another way of refusing arguments than the profile's."""
        if keys is _DEFAULT:
            keys = None if profile.key is None else (profile.key, profile.global_key)
        self.profile = profile
        self.dialect = DIALECTS[profile.dialect]
        self.refusal_style = refusal_style or profile.refusal_style
        self.midstream_error: str | None = None  # OpenRouter: fail the next stream
        super().__init__(
            keys=keys,
            models=profile.models,
            strict=profile.openai_rules,
            list_models=profile.list_models,
            port=port,
            prefix=profile.prefix,
        )
        self.serves_responses = profile.responses  # elsewhere an unknown URL (404)

    # ---- keys -------------------------------------------------------------------

    def _request_key(self, request: web.Request) -> str | None:
        return self.dialect.request_key(request, super()._request_key(request))

    def _check_auth(self, record: Recorded) -> None:
        if self.keys is not None:
            models = record.path == self.models_path
            self.dialect.check_auth(record, self.keys, models)

    # ---- routes and errors ------------------------------------------------------

    async def _route(
        self, request: web.Request, record: Recorded
    ) -> web.StreamResponse:
        if (answer := self.dialect.route(record, self.prefix)) is not None:
            return answer
        if (record.path == self.models_path and not self.profile.list_models) or (
            record.path == self.responses_path and not self.profile.responses
        ):
            if self.dialect.missing_route in self.dialect.errors:
                raise ProviderError(self.dialect.missing_route, 404)
            return web.Response(status=404, text="404: Not Found")
        return await super()._route(request, record)

    def _error_response(self, record: Recorded, error: ApiError) -> web.StreamResponse:
        headers: dict[str, str] = {}
        if isinstance(error, Refused):
            status, text, content_type = self.dialect.refusal(
                self.refusal_style, error.names, record.body or {}
            )
        elif isinstance(error, ProviderError) or self._unknown_model(record, error):
            kind = getattr(error, "kind", "not_found")
            status, text, content_type, headers = self.dialect.error(
                kind, model=record.model or "", key=record.key
            )
        else:
            status, text, content_type = self.dialect.api_error(error)
        response = web.Response(status=status, text=text, headers=headers)
        response.content_type = content_type
        return with_headers(response)

    def _unknown_model(self, record: Recorded, error: ApiError) -> bool:
        """A chat request for a model the server lacks: the provider's own not_found."""
        return (
            error.status == 404
            and record.path == self.chat_path
            and record.model not in self.models
            and "not_found" in self.dialect.errors
        )

    # ---- requests ---------------------------------------------------------------

    def _validate(self, body: dict) -> None:
        accepted = self.profile.accepted
        if accepted is not None and not self.strict:
            if unknown := self.dialect.unknown_arguments(body, accepted):
                raise Refused(unknown)
        super()._validate(body)
        if self._over_context(body) and body.get("stream") is not True:
            raise ProviderError("bad_request")  # llama-server's context-size 400

    def _take_fault(self, record: Recorded, kinds: frozenset[str]) -> Fault | None:
        """llama-server (2025 builds) streams a context overflow as its `error:` line."""
        fault = super()._take_fault(record, kinds)
        if fault is None and "error_field" in kinds and record.stream:
            if tokens := self._over_context(record.body or {}):
                error = {"n_prompt_tokens": tokens, "n_ctx": self.profile.context_size}
                fault = Fault("error_field", opts={"after": 0, **error})
        return fault

    def _over_context(self, body: dict) -> int:
        """The prompt's token count when it exceeds the profile's context, else 0."""
        size = self.profile.context_size
        messages = body.get("messages")
        if size is None or not isinstance(messages, list):
            return 0
        tokens = count_prompt_tokens(messages)
        return tokens if tokens > size else 0

    def _plan(self, body: dict) -> Answer:
        """The chat fake's answer, its reasoning where the provider puts it: a field,
        or `<think>` tags leading the content."""
        field_name = self.profile.reasoning_field(body["model"])
        if field_name != "think":
            return plan_answer(body, field_name)
        answer = plan_answer(body, "reasoning_content")
        thought = "".join(answer.reasoning)
        answer.content = [f"<think>{thought}</think>\n\n", *answer.content]
        answer.reasoning, answer.reasoning_field = [], None
        return answer

    # ---- answers ----------------------------------------------------------------

    def _stream_preamble(self, body: dict) -> bytes:
        return self.dialect.preamble

    def _stream_chunks(
        self, answer: Answer, envelope: Envelope, body: dict
    ) -> list[StreamChunk]:
        chunks = self.dialect.stream_chunks(stream_chunks(answer, envelope), answer)
        if message := self.midstream_error:  # set by a test: fail this stream once
            self.midstream_error = None
            chunks = self.dialect.fail_midstream(chunks, envelope, message)
        return chunks

    def _completion(self, answer: Answer, envelope: Envelope, body: dict) -> dict:
        return self.dialect.completion(completion_json(answer, envelope), answer)

    def _models_list(self) -> Any:
        return self.dialect.models_list(self.models)
