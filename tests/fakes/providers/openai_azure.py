"""OpenAI itself, Azure OpenAI (its v1 API and its deployment URLs), and a gateway
that refuses arguments the way OpenAI does without being OpenAI.

Azure, from its documentation and public bug reports: the key goes in `api-key`;
errors are `{"error":{"code":"401","message":"Access denied due to invalid
subscription key or wrong API endpoint..."}}`, `DeploymentNotFound`, content filter
400s; the first stream chunk has `choices: []` and `prompt_filter_results`.
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.chat_rules import CHAT_COMPLETION_PARAMS
from tests.fakes.chat_shapes import Answer, StreamChunk
from tests.fakes.openai_errors import MODEL_NOT_FOUND, ApiError, invalid_key_message
from tests.fakes.openai_models import OPENAI_MODELS
from tests.fakes.providers.profile import Dialect, ErrorSpec, Profile, ProviderError
from tests.fakes.providers.profile import as_json, created, make_key
from tests.fakes.recorded import Recorded

OPENAI_OFFERED = frozenset(
    {
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4.1",
        "gpt-3.5-turbo",
        "chatgpt-4o-latest",
        "o1",
        "o3",
        "o3-mini",
        "o4-mini",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-chat-latest",
        "gpt-5.1",
        "gpt-5.2",
    }
)
OPENAI_HIDDEN = frozenset(
    {
        # Responses only
        "o1-pro",
        "o3-pro",
        "gpt-5-pro",
        "gpt-5-codex",
        "codex-mini-latest",
        "o3-deep-research",
        "computer-use-preview",
        # not chat: legacy completions, embeddings, moderation
        "gpt-3.5-turbo-instruct",
        "davinci-002",
        "babbage-002",
        "text-embedding-3-small",
        "text-embedding-ada-002",
        "omni-moderation-latest",
        # audio, images and video
        "tts-1",
        "tts-1-hd",
        "gpt-4o-mini-tts",
        "whisper-1",
        "gpt-4o-transcribe",
        "gpt-realtime",
        "gpt-4o-realtime-preview",
        "gpt-4o-audio-preview",
        "dall-e-3",
        "gpt-image-1",
        "sora-2",
    }
)
OPENAI = Profile(
    name="openai",
    title="OpenAI",
    host="api.openai.com",
    models=tuple(OPENAI_MODELS),
    offered=OPENAI_OFFERED,
    hidden=OPENAI_HIDDEN,
    chat_model="gpt-4o-mini",
    second_model="gpt-4.1",
    key=make_key("sk-proj-", "openai"),
    global_key=make_key("sk-proj-", "openai-global"),
    openai_rules=True,
    responses=True,
    reasoning_model="o4-mini",  # hidden reasoning: reasoning_tokens in usage only
)

AZURE_OFFERED = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-35-turbo",
    "o3-mini",
    "o4-mini",
)
AZURE_HIDDEN = (
    "gpt-35-turbo-instruct",
    "text-embedding-3-large",
    "text-embedding-ada-002",
    "dall-e-3",
    "whisper",
    "tts",
    "tts-hd",
    "gpt-4o-realtime-preview",
    "gpt-4o-transcribe",
    "babbage-002",
    "davinci-002",
)
AZURE_V1 = Profile(
    name="azure-v1",
    title="Azure OpenAI (v1 API)",
    dialect="azure",
    host="myres.openai.azure.com",
    prefix="/openai/v1",
    offered=AZURE_OFFERED,
    hidden=AZURE_HIDDEN,
    chat_model="gpt-4o-mini",
    second_model="gpt-4.1",
    key=make_key("", "azure", 32),
    global_key=make_key("", "azure-global", 32),
    openai_rules=True,
    responses=True,  # {prefix}/responses: /openai/v1/responses
    chunk_extra="prompt_filter_results",
    error_kinds=("rate_limit", "content_filter", "not_found"),
)
AZURE_DEPLOYMENT_NAME = "contoso-chat"  # deployments are named freely, not like models
AZURE_DEPLOYMENT = Profile(
    name="azure-deployment",
    title="Azure OpenAI (deployment URL)",
    dialect="azure",
    host="myres.openai.azure.com",
    prefix=f"/openai/deployments/{AZURE_DEPLOYMENT_NAME}",
    offered=(AZURE_DEPLOYMENT_NAME,),
    chat_model=AZURE_DEPLOYMENT_NAME,
    key=AZURE_V1.key,
    global_key=AZURE_V1.global_key,
    list_models=False,
    openai_rules=True,
    chunk_extra="prompt_filter_results",
    error_kinds=("rate_limit", "content_filter"),
)

# An OpenAI-compatible gateway (LiteLLM-style proxy) that refuses unknown arguments the
# way api.openai.com does, but is not OpenAI: the pipe may not whitelist for it.
GATEWAY = Profile(
    name="gateway",
    title="OpenAI-compatible gateway",
    dialect="openai",
    host="llm-gateway.example.com",
    offered=("gpt-4o-mini", "claude-sonnet-4-5", "llama-3.3-70b"),
    chat_model="llama-3.3-70b",
    second_model="claude-sonnet-4-5",
    key=make_key("sk-", "gateway"),
    global_key=make_key("sk-", "gwglobal"),
    accepted=CHAT_COMPLETION_PARAMS,
    refusal_style="list",
)

# What Azure's content filter says of a harmless prompt or answer.
SAFE = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
CONTEXT_LENGTH_FIELDS = {
    "type": "invalid_request_error",
    "param": "messages",
    "code": "context_length_exceeded",
}


class OpenAI(Dialect):
    """api.openai.com: its own refusals keep OpenAI's JSON as they are."""

    name = "openai"
    errors = {
        "auth": ErrorSpec(
            401,
            invalid_key_message("{masked}"),
            {"type": "invalid_request_error", "code": "invalid_api_key"},
        ),
        "missing_key": ErrorSpec(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            {"type": "invalid_request_error"},
        ),
        "rate_limit": ErrorSpec(
            429,
            "Rate limit reached for {model} in organization org-abc on requests per min "
            "(RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
            {"type": "requests", "code": "rate_limit_exceeded"},
        ),
        "bad_request": ErrorSpec(
            400,
            "This model's maximum context length is 128000 tokens. However, your "
            "messages resulted in 130512 tokens. Please reduce the length of the messages.",
            CONTEXT_LENGTH_FIELDS,
        ),
        "not_found": ErrorSpec(
            404,
            MODEL_NOT_FOUND,
            {"type": "invalid_request_error", "code": "model_not_found"},
        ),
    }

    def api_error(self, error: ApiError) -> tuple[int, str, str]:
        return (error.status, *as_json(error.payload))


class Azure(OpenAI):
    """Azure OpenAI: `api-key`, content filter results, its own error and model shapes."""

    name = "azure"
    missing_route = "resource_not_found"
    errors = {
        "auth": ErrorSpec(
            401,
            "Access denied due to invalid subscription key or wrong API endpoint. Make "
            "sure to provide a valid key for an active subscription and use a correct "
            "regional API endpoint for your resource.",
            {"code": "401"},
        ),
        "rate_limit": ErrorSpec(
            429,
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
            "version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 "
            "pricing tier. Please retry after 1 second. Please go here: "
            "https://aka.ms/oai/quotaincrease if you would like to further increase the "
            "default rate limit.",
            {"code": "429"},
            {"Retry-After": "1"},
        ),
        "content_filter": ErrorSpec(
            400,
            "The response was filtered due to the prompt triggering Azure OpenAI's content "
            "management policy. Please modify your prompt and retry.",
            {
                "type": None,
                "param": "prompt",
                "code": "content_filter",
                "status": 400,
                "innererror": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": SAFE
                    | {"hate": {"filtered": True, "severity": "high"}},
                },
            },
        ),
        "not_found": ErrorSpec(
            404,
            "The API deployment for this resource does not exist. If you created the "
            "deployment within the last 5 minutes, please wait a moment and try again.",
            {"code": "DeploymentNotFound"},
        ),
        "resource_not_found": ErrorSpec(404, "Resource not found", {"code": "404"}),
    }

    def request_key(self, request: web.Request, bearer: str | None) -> str | None:
        return request.headers.get("api-key") or None

    def route(self, record: Recorded, prefix: str) -> web.StreamResponse | None:
        """A deployment URL wants `?api-version=`: without it, 404 Resource not found."""
        chat = record.path == f"{prefix}/chat/completions"
        if chat and "/deployments/" in prefix and not record.query.get("api-version"):
            raise ProviderError("resource_not_found", 404)
        return None

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        extra = spec.extra
        if "innererror" in extra or "param" in extra:  # content filter: OpenAI-like
            return as_json({"error": {"message": message} | extra})
        code = extra.get("code", str(spec.status))
        return as_json({"error": {"code": code, "message": message}})

    def stream_chunks(
        self, chunks: list[StreamChunk], answer: Answer
    ) -> list[StreamChunk]:
        """Content filter results on every choice, after a chunk for the prompt's."""
        for chunk in chunks:
            for choice in chunk.data["choices"]:
                choice["content_filter_results"] = (
                    {} if choice["finish_reason"] else SAFE
                )
        first = {
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": prompt_filter_results(),
        }
        return [StreamChunk(first, counts=False), *chunks]

    def completion(self, payload: dict, answer: Answer) -> dict:
        payload["prompt_filter_results"] = prompt_filter_results()
        for choice in payload["choices"]:
            choice["content_filter_results"] = SAFE
        return payload

    def models_list(self, models: list[str]) -> dict:
        return {"data": [azure_model(model) for model in models], "object": "list"}


def prompt_filter_results() -> list[dict]:
    """Azure's verdict on the prompt: harmless."""
    return [{"prompt_index": 0, "content_filter_results": SAFE}]


def azure_model(model: str) -> dict:
    """One entry of Azure's model list, with its capabilities."""
    return {
        "id": model,
        "object": "model",
        "created": created(model),
        "status": "succeeded",
        "capabilities": {
            "chat_completion": model.startswith(("gpt-", "o")),
            "completion": "instruct" in model or "002" in model,
            "embeddings": "embedding" in model,
            "fine_tune": False,
            "inference": True,
        },
        "lifecycle_status": "generally-available",
    }
