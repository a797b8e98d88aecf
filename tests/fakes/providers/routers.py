"""OpenRouter and Groq: one key, many labs' models, reasoning in `delta.reasoning`.

From their documentation and public bug reports:
- OpenRouter: `{"error":{"code":401,"message":"User not found."}}`, `: OPENROUTER
  PROCESSING` SSE comments, mid-stream errors as a chunk with `error` *and* `choices`
  (`finish_reason: "error"`); it lists its models for anyone, thousands of them.
- Groq: `property 'store' is unsupported, did you mean 'stop'?` (one argument at a
  time), `x_groq` on the first and the last chunk.
"""

from __future__ import annotations

import difflib
import uuid

from tests.fakes.chat_rules import CHAT_COMPLETION_PARAMS
from tests.fakes.chat_shapes import Answer, Envelope, StreamChunk
from tests.fakes.providers.openai_azure import CONTEXT_LENGTH_FIELDS, OpenAI
from tests.fakes.providers.profile import Dialect, ErrorSpec, Profile, as_json, created
from tests.fakes.providers.profile import finish_chunk, make_key, usage_chunks
from tests.fakes.recorded import Recorded

OPENROUTER_CURATED_OFFERED = (
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
    "openai/gpt-5",
    "openai/gpt-oss-120b",
    "anthropic/claude-sonnet-4.5",
    "anthropic/claude-3.5-haiku",
    "google/gemini-2.5-pro",
    "google/gemini-2.5-flash",
    "moonshotai/kimi-k2-instruct",
    "meta-llama/llama-3.3-70b-instruct",
    "meta-llama/llama-3.3-70b-instruct:free",
    "mistralai/mistral-small-3.2-24b-instruct",
    "deepseek/deepseek-r1",
    "deepseek/deepseek-r1:free",
    "deepseek/deepseek-chat-v3.1",
    "qwen/qwen3-235b-a22b-thinking-2507",
    "x-ai/grok-4",
    "perplexity/sonar-pro",
    "nousresearch/hermes-4-405b",
    "openrouter/auto",
)
OPENROUTER_CURATED_HIDDEN = (
    "openai/gpt-3.5-turbo-instruct",
    "openai/gpt-4o-audio-preview",
    "openai/codex-mini",
    "openai/o4-mini-deep-research",
    "google/gemini-2.5-flash-image",
)
OPENROUTER_VENDORS = (
    "acme", "nova", "zeta", "orbit", "lumen", "vertex-labs", "kestrel", "atlas",
    "quill", "ember", "helix", "pioneer", "ridge", "sable", "tundra", "umbra",
    "vivid", "willow", "xenon", "yarrow", "zephyr", "aurora", "basalt", "cedar",
    "delta-ai", "echo-labs", "fjord", "granite", "harbor", "iris",
)  # fmt: skip


def openrouter_generated(count: int = 3000) -> tuple[str, ...]:
    """`vendor/model` chat ids, as many as OpenRouter lists beyond the famous ones."""
    variants = ("instruct", "chat", "thinking", "preview", "turbo")
    ids = []
    for index in range(count):
        vendor = OPENROUTER_VENDORS[index % len(OPENROUTER_VENDORS)]
        size = (7, 8, 14, 32, 70, 120, 405)[index % 7]
        variant = variants[index % len(variants)]
        ids.append(
            f"{vendor}/{vendor}-m{index // len(OPENROUTER_VENDORS)}-{size}b-{variant}"
        )
    return tuple(ids)


OPENROUTER_GENERATED = openrouter_generated()
OPENROUTER = Profile(
    name="openrouter",
    title="OpenRouter",
    host="openrouter.ai",
    prefix="/api/v1",
    models=OPENROUTER_CURATED_OFFERED
    + OPENROUTER_CURATED_HIDDEN
    + OPENROUTER_GENERATED,
    chat_model="openai/gpt-4o",
    second_model="anthropic/claude-sonnet-4.5",
    key=make_key("sk-or-v1-", "openrouter"),
    global_key=make_key("sk-or-v1-", "orglobal"),
    reasoning=(("deepseek/deepseek-r1", "reasoning"),),
    reasoning_model="deepseek/deepseek-r1",
    offered=frozenset(OPENROUTER_CURATED_OFFERED),
    hidden=frozenset(OPENROUTER_CURATED_HIDDEN),
    chunk_extra="provider",
    error_kinds=("rate_limit", "bad_request", "not_found", "credits"),
)

GROQ_OFFERED = (
    "llama-3.3-70b-versatile",
    "llama-3.1-8b-instant",
    "openai/gpt-oss-120b",
    "openai/gpt-oss-20b",
    "qwen/qwen3-32b",
    "moonshotai/kimi-k2-instruct",
    "moonshotai/kimi-k2-instruct-0905",
    "meta-llama/llama-4-scout-17b-16e-instruct",
    "meta-llama/llama-4-maverick-17b-128e-instruct",
    "groq/compound",
    "groq/compound-mini",
    "gemma2-9b-it",
    "deepseek-r1-distill-llama-70b",
    "allam-2-7b",
)
GROQ_HIDDEN = (
    "whisper-large-v3",
    "whisper-large-v3-turbo",
    "distil-whisper-large-v3-en",
    "playai-tts",
    "playai-tts-arabic",
)
GROQ_PARAMS = (
    CHAT_COMPLETION_PARAMS
    - {
        "logit_bias",
        "logprobs",
        "top_logprobs",
        "audio",
        "modalities",
        "prediction",
        "store",
        "web_search_options",
        "prompt_cache_key",
        "safety_identifier",
        "verbosity",
        "functions",
        "function_call",
    }
) | {
    "reasoning_format",
    "include_reasoning",
    "search_settings",
    "compound_custom",
    "documents",
    "citation_options",
    "disable_tool_validation",
}
GROQ = Profile(
    name="groq",
    title="Groq",
    host="api.groq.com",
    prefix="/openai/v1",
    models=GROQ_OFFERED
    + GROQ_HIDDEN
    + ("meta-llama/llama-guard-4-12b", "meta-llama/llama-prompt-guard-2-86m"),
    chat_model="llama-3.3-70b-versatile",
    second_model="llama-3.1-8b-instant",
    key=make_key("gsk_", "groq"),
    global_key=make_key("gsk_", "grglobal"),
    accepted=frozenset(GROQ_PARAMS),
    refusal_style="groq",
    reasoning=(("openai/gpt-oss-120b", "reasoning"),),
    reasoning_model="openai/gpt-oss-120b",
    offered=frozenset(GROQ_OFFERED),
    hidden=frozenset(GROQ_HIDDEN),
    chunk_extra="x_groq",
)
OPENROUTER_COST = 0.000042  # dollars, in every usage


class OpenRouter(Dialect):
    """OpenRouter: the upstream provider named in every chunk, costs in usage, and
    mid-stream failures as a chunk with `error`."""

    name = "openrouter"
    preamble = b": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n"
    errors = {
        "auth": ErrorSpec(401, "User not found."),
        "missing_key": ErrorSpec(401, "No auth credentials found"),
        "rate_limit": ErrorSpec(
            429,
            "Rate limit exceeded: free-models-per-min. ",
            {
                "metadata": {
                    "headers": {
                        "X-RateLimit-Limit": "20",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": "1741305600000",
                    }
                }
            },
        ),
        "bad_request": ErrorSpec(
            400,
            "This endpoint's maximum context length is 131072 tokens. However, you "
            "requested about 140210 tokens (139210 of text input, 1000 in the output). "
            'Please reduce the length of either one, or use the "middle-out" transform '
            "to compress your prompt automatically.",
            {"metadata": {"provider_name": None}},
        ),
        "not_found": ErrorSpec(400, "{model} is not a valid model ID"),
        "credits": ErrorSpec(
            402,
            "This request requires more credits, or fewer max_tokens. You requested up "
            "to 64000 tokens, but can only afford 61586. To increase, visit "
            "https://openrouter.ai/settings/credits and add more credits",
            {"metadata": {"limit_source": "openrouter_credits"}},
        ),
    }

    def check_auth(self, record: Recorded, keys: frozenset[str], models: bool) -> None:
        if not models:  # it lists its models for anyone
            super().check_auth(record, keys, models)

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        return as_json(
            {"error": {"message": message, "code": spec.status} | spec.extra}
        )

    def stream_chunks(
        self, chunks: list[StreamChunk], answer: Answer
    ) -> list[StreamChunk]:
        for chunk in chunks:
            chunk.data["provider"] = "OpenAI"
            chunk.data.pop("service_tier", None)
        for chunk in usage_chunks(chunks):
            chunk.data["usage"]["cost"] = OPENROUTER_COST
        return chunks

    def fail_midstream(
        self, chunks: list[StreamChunk], envelope: Envelope, message: str
    ) -> list[StreamChunk]:
        """Two answer chunks, then its error chunk (it has `choices`), then the end."""
        kept, sent = [], 0
        for chunk in chunks:
            if chunk.counts:
                if sent == 2:
                    break
                sent += 1
            kept.append(chunk)
        error = envelope.chunk({"content": ""}, "error")
        error["error"] = {"code": "server_error", "message": message}
        error["provider"] = "OpenAI"
        return kept + [StreamChunk(error, counts=False)]

    def completion(self, payload: dict, answer: Answer) -> dict:
        payload["provider"] = "OpenAI"
        payload["usage"]["cost"] = OPENROUTER_COST
        return payload

    def models_list(self, models: list[str]) -> dict:
        return {"data": [openrouter_model(model) for model in models]}


def openrouter_model(model: str) -> dict:
    """One entry of OpenRouter's model list: pricing, modalities, limits."""
    vendor, _, rest = model.partition("/")
    output = ["image", "text"] if "image" in rest else ["text"]
    return {
        "id": model,
        "canonical_slug": model.split(":")[0],
        "name": f"{vendor.title()}: {rest}",
        "created": created(model),
        "description": f"{rest} served through OpenRouter.",
        "context_length": 131072,
        "architecture": {
            "modality": "text->" + "+".join(output),
            "input_modalities": ["text"],
            "output_modalities": output,
            "tokenizer": "Other",
            "instruct_type": None,
        },
        "pricing": {
            "prompt": "0.0000025",
            "completion": "0.00001",
            "request": "0",
            "image": "0",
        },
        "top_provider": {
            "context_length": 131072,
            "max_completion_tokens": 16384,
            "is_moderated": False,
        },
        "per_request_limits": None,
        "supported_parameters": [
            "max_tokens",
            "temperature",
            "top_p",
            "top_k",
            "min_p",
            "tools",
        ],
    }


class Groq(Dialect):
    """Groq: OpenAI's error shape, `x_groq` on chunks, one refused argument at a time."""

    name = "groq"
    errors = {
        "auth": ErrorSpec(
            401,
            "Invalid API Key",
            {"type": "invalid_request_error", "code": "invalid_api_key"},
        ),
        "rate_limit": ErrorSpec(
            429,
            "Rate limit reached for model `{model}` in organization `org_01abcdef` "
            "service tier `on_demand` on tokens per minute (TPM): Limit 12000, Used "
            "11800, Requested 900. Please try again in 3.5s. Need more tokens? Upgrade "
            "to Dev Tier today at https://console.groq.com/settings/billing",
            {"type": "tokens", "code": "rate_limit_exceeded"},
            {"retry-after": "1"},
        ),
        "bad_request": ErrorSpec(
            400,
            "Please reduce the length of the messages or completion.",
            CONTEXT_LENGTH_FIELDS,
        ),
        "not_found": OpenAI.errors["not_found"],  # word for word OpenAI's
    }

    def refusal(
        self, style: str | None, names: list[tuple[str, ...]], body: dict
    ) -> tuple[int, str, str]:
        """The first unknown property only, with a suggestion."""
        name = names[0][0]
        close = difflib.get_close_matches(name, sorted(GROQ_PARAMS), n=1, cutoff=0.6)
        hint = f", did you mean '{close[0]}'?" if close else ""
        error = {
            "message": f"property '{name}' is unsupported{hint}",
            "type": "invalid_request_error",
        }
        return (400, *as_json({"error": error}, indent=None))

    def stream_chunks(
        self, chunks: list[StreamChunk], answer: Answer
    ) -> list[StreamChunk]:
        """The request id on the first chunk, again with timed usage on the finish."""
        x_groq = {"id": "req_" + uuid.uuid4().hex[:26]}
        chunks[0].data["x_groq"] = x_groq
        timed = answer.usage() | {"queue_time": 0.02, "total_time": 0.1}
        finish_chunk(chunks).data["x_groq"] = x_groq | {"usage": timed}
        return chunks

    def completion(self, payload: dict, answer: Answer) -> dict:
        payload["x_groq"] = {"id": "req_" + uuid.uuid4().hex[:26]}
        return payload

    def models_list(self, models: list[str]) -> dict:
        return {"object": "list", "data": [groq_model(model) for model in models]}


def groq_model(model: str) -> dict:
    """One entry of Groq's model list: its owner and limits."""
    return {
        "id": model,
        "object": "model",
        "created": created(model),
        "owned_by": model.split("/")[0] if "/" in model else "Meta",
        "active": True,
        "context_window": 131072,
        "public_apps": None,
        "max_completion_tokens": 32768,
    }
