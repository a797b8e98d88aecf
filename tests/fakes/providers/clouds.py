"""Model makers' own clouds: DeepSeek, Mistral, Perplexity and MiniMax.

From their documentation and public bug reports:
- DeepSeek 401 echoes the key's last 4 characters: `Authentication Fails, Your api key:
  ****d569 is invalid`; 402 `Insufficient Balance`; `: keep-alive` SSE comments.
- Mistral 422: `{"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":
  ["body","stream_options","include_usage"],"msg":"Extra inputs are not permitted",...}]},
  "type":"invalid_request_error","param":null,"code":null}` (avante.nvim#2347), and the
  newer `{"object":"Error","detail":[...],"message":[...],"type":"invalid_request_error",
  "code":3001}` (php-mistral#76); Mistral's 401 `{"message":"Unauthorized","request_id":..}`.
- Perplexity: 401 is an openresty HTML page; no `/models`; citations on every chunk.
- MiniMax: `{"type":"error","error":{"type":"authorized_error","message":"login fail:
  ... (1004)","http_code":"401"}}`; no `/models`.
Perplexity and MiniMax reasoning models think in `<think>` tags inside the content.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakes.chat_shapes import Answer, StreamChunk
from tests.fakes.providers.profile import Dialect, ErrorSpec, Profile, as_json, created
from tests.fakes.providers.profile import finish_chunk, make_key, plain_usage
from tests.fakes.providers.profile import usage_chunks

DEEPSEEK = Profile(
    name="deepseek",
    title="DeepSeek",
    host="api.deepseek.com",
    offered=("deepseek-chat", "deepseek-reasoner"),
    chat_model="deepseek-chat",
    key=make_key("sk-", "deepseek"),
    global_key=make_key("sk-", "dsglobal"),
    reasoning=(("deepseek-reasoner", "reasoning_content"),),
    reasoning_model="deepseek-reasoner",
    error_kinds=("rate_limit", "bad_request", "not_found", "credits"),
)

# id -> the canonical name Mistral's /models gives it (aliases share their model's name).
MISTRAL_CHAT = {
    "mistral-large-latest": "mistral-large-2411",
    "mistral-large-2411": "mistral-large-2411",
    "mistral-medium-latest": "mistral-medium-2508",
    "mistral-medium-2508": "mistral-medium-2508",
    "mistral-small-latest": "mistral-small-2506",
    "mistral-small-2506": "mistral-small-2506",
    "magistral-medium-latest": "magistral-medium-2509",
    "codestral-latest": "codestral-2508",
    "devstral-medium-latest": "devstral-medium-2507",
    "ministral-8b-latest": "ministral-8b-2410",
    "pixtral-large-latest": "pixtral-large-2411",
    "open-mistral-nemo": "open-mistral-nemo",
}
MISTRAL_OTHER = {
    "mistral-embed": "mistral-embed",
    "codestral-embed": "codestral-embed-2505",
    "mistral-moderation-latest": "mistral-moderation-2411",
    "mistral-ocr-latest": "mistral-ocr-2505",
    "mistral-ocr-2505": "mistral-ocr-2505",
}
MISTRAL_NAMES = MISTRAL_CHAT | MISTRAL_OTHER
MISTRAL_PARAMS = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "stream_options",  # known, but with no `include_usage` inside
        "stop",
        "random_seed",
        "response_format",
        "tools",
        "tool_choice",
        "presence_penalty",
        "frequency_penalty",
        "n",
        "prediction",
        "parallel_tool_calls",
        "prompt_mode",
        "safe_prompt",
    }
)
MISTRAL = Profile(
    name="mistral",
    title="Mistral AI",
    host="api.mistral.ai",
    offered=tuple(MISTRAL_CHAT),
    hidden=tuple(MISTRAL_OTHER),
    chat_model="mistral-small-latest",
    second_model="mistral-large-latest",
    key=make_key("", "mistral", 32),
    global_key=make_key("", "mistral-global", 32),
    accepted=MISTRAL_PARAMS,
    refusal_style="2025",
)

PERPLEXITY = Profile(
    name="perplexity",
    title="Perplexity",
    host="api.perplexity.ai",
    prefix="",
    models=(
        "sonar",
        "sonar-pro",
        "sonar-reasoning",
        "sonar-reasoning-pro",
        "sonar-deep-research",
    ),
    offered=frozenset({"sonar", "sonar-pro", "sonar-reasoning-pro"}),
    chat_model="sonar-pro",
    second_model="sonar",
    key=make_key("pplx-", "perplexity"),
    global_key=make_key("pplx-", "ppglobal"),
    list_models=False,
    reasoning=(("sonar-reasoning-pro", "think"), ("sonar-reasoning", "think")),
    reasoning_model="sonar-reasoning-pro",
    allowlist="sonar, sonar-pro, sonar-reasoning-pro",
    chunk_extra="citations",
)

MINIMAX = Profile(
    name="minimax",
    title="MiniMax",
    host="api.minimax.io",
    models=("MiniMax-M2", "MiniMax-M1", "MiniMax-Text-01"),
    offered=frozenset({"MiniMax-M2", "MiniMax-Text-01"}),
    chat_model="MiniMax-Text-01",
    second_model="MiniMax-M1",
    key=make_key("eyJhbGciOiJSUzI1NiJ9.", "minimax", 60),
    global_key=make_key("eyJhbGciOiJSUzI1NiJ9.", "minimax-global", 60),
    list_models=False,
    reasoning=(("MiniMax-M2", "think"), ("MiniMax-M1", "think")),
    reasoning_model="MiniMax-M2",
    allowlist="MiniMax-M2, MiniMax-Text-01",
)

PERPLEXITY_401_HTML = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n"
    "<hr><center>openresty/1.27.4</center>\r\n</body>\r\n</html>\r\n"
)
PERPLEXITY_BAD_MODEL = ErrorSpec(
    400,
    "Invalid model '{model}'. Permitted models can be found in the documentation "
    "at https://docs.perplexity.ai/getting-started/models.",
    {"type": "invalid_model"},
)
CITATIONS = ("https://example.com/a", "https://example.org/b")


class DeepSeek(Dialect):
    """DeepSeek: keep-alive comments, prompt cache counts in usage."""

    name = "deepseek"
    preamble = b": keep-alive\n\n"
    errors = {
        "auth": ErrorSpec(
            401,
            "Authentication Fails, Your api key: ****{tail} is invalid",
            {"type": "authentication_error"},
        ),
        "missing_key": ErrorSpec(
            401, "Authentication Fails (no such user)", {"type": "authentication_error"}
        ),
        "rate_limit": ErrorSpec(
            429, "Rate Limit Reached", {"type": "rate_limit_reached_error"}
        ),
        "bad_request": ErrorSpec(
            400,
            "This model's maximum context length is 65536 tokens. However, you requested "
            "70010 tokens (66010 in the messages, 4000 in the completion). Please reduce "
            "the length of the messages or completion.",
            {"type": "invalid_request_error"},
        ),
        "not_found": ErrorSpec(
            400, "Model Not Exist", {"type": "invalid_request_error"}
        ),
        "credits": ErrorSpec(402, "Insufficient Balance", {"type": "unknown_error"}),
    }

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        error = {
            "message": message,
            "type": spec.extra.get("type", "invalid_request_error"),
            "param": None,
            "code": "invalid_request_error",
        }
        return as_json({"error": error})

    def stream_chunks(
        self, chunks: list[StreamChunk], answer: Answer
    ) -> list[StreamChunk]:
        for chunk in usage_chunks(chunks):
            chunk.data["usage"] |= {
                "prompt_cache_hit_tokens": 0,
                "prompt_cache_miss_tokens": answer.prompt_tokens,
            }
        return chunks

    def models_list(self, models: list[str]) -> dict:
        data = [{"id": m, "object": "model", "owned_by": "deepseek"} for m in models]
        return {"object": "list", "data": data}


class Mistral(Dialect):
    """Mistral: unknown fields (nested ones too) refused with a 422, usage always on
    the finish chunk (it has no `include_usage`)."""

    name = "mistral"
    errors = {
        "auth": ErrorSpec(401, "Unauthorized"),
        "rate_limit": ErrorSpec(
            429,
            "Requests rate limit exceeded",
            {"type": "rate_limited", "code": "1300"},
        ),
        "bad_request": ErrorSpec(
            400,
            "Prompt contains 140210 tokens and 0 draft tokens, too large for model with "
            "131072 maximum context length",
            {"type": "invalid_request_message_error", "code": "3051"},
        ),
        "not_found": ErrorSpec(
            400, "Invalid model: {model}", {"type": "invalid_model", "code": "1500"}
        ),
    }

    def unknown_arguments(
        self, body: dict, accepted: frozenset[str]
    ) -> list[tuple[str, ...]]:
        unknown = super().unknown_arguments(body, accepted)
        options = body.get("stream_options")
        if isinstance(options, dict):
            unknown += [("stream_options", name) for name in options]
        return unknown

    def refusal(
        self, style: str | None, names: list[tuple[str, ...]], body: dict
    ) -> tuple[int, str, str]:
        """A 422 with pydantic's `extra_forbidden` details, in the style of one era:
        "2024" (inside `message`), "fastapi" (bare `detail`) or 2025's (both)."""
        detail = [extra_forbidden(loc, body) for loc in names]
        if style == "2024":
            payload: Any = {
                "object": "error",
                "message": {"detail": detail},
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        elif style == "fastapi":
            payload = {"detail": detail}
        else:
            payload = {
                "object": "Error",
                "detail": detail,
                "message": detail,
                "type": "invalid_request_error",
                "code": 3001,
            }
        return (422, *as_json(payload, indent=None))

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        if spec.status == 401:
            return as_json({"message": message, "request_id": uuid.uuid4().hex})
        return as_json(
            {
                "object": "error",
                "message": message,
                "type": spec.extra.get("type", "invalid_request_error"),
                "param": None,
                "code": spec.extra.get("code"),
            }
        )

    def stream_chunks(
        self, chunks: list[StreamChunk], answer: Answer
    ) -> list[StreamChunk]:
        usage = usage_chunks(chunks)
        kept = [c for c in chunks if all(c is not u for u in usage)]
        finish_chunk(kept).data["usage"] = plain_usage(answer)
        return kept

    def completion(self, payload: dict, answer: Answer) -> dict:
        payload["usage"] = plain_usage(answer)
        return payload

    def models_list(self, models: list[str]) -> dict:
        return {"object": "list", "data": [mistral_model(model) for model in models]}


def extra_forbidden(loc: tuple[str, ...], body: dict) -> dict:
    """Pydantic's complaint about one field the body should not have."""
    value: Any = body
    for part in loc:
        value = value.get(part) if isinstance(value, dict) else None
    return {
        "type": "extra_forbidden",
        "loc": ["body", *loc],
        "msg": "Extra inputs are not permitted",
        "input": value,
        "url": "https://errors.pydantic.dev/2.10/v/extra_forbidden",
    }


def mistral_model(model: str) -> dict:
    """One entry of Mistral's model list: capabilities, canonical name, aliases."""
    chat = model in MISTRAL_CHAT
    name = MISTRAL_NAMES[model]
    aliases = [m for m, n in MISTRAL_NAMES.items() if n == name and m != model]
    return {
        "id": model,
        "object": "model",
        "created": created(model),
        "owned_by": "mistralai",
        "capabilities": {
            "completion_chat": chat,
            "completion_fim": model.startswith("codestral") and chat,
            "function_calling": chat,
            "fine_tuning": False,
            "vision": "pixtral" in model or "medium" in model,
            "classification": "moderation" in model,
        },
        "name": name,
        "description": f"{name} by Mistral AI",
        "max_context_length": 131072,
        "aliases": sorted(aliases),
        "deprecation": None,
        "default_model_temperature": 0.3 if chat else None,
        "type": "base",
    }


class Perplexity(Dialect):
    """Perplexity: citations and search results on every chunk, HTML 401s."""

    name = "perplexity"
    errors = {
        "auth": ErrorSpec(401, "", html=PERPLEXITY_401_HTML),
        "rate_limit": ErrorSpec(
            429,
            "Rate limit exceeded. Please try again later.",
            {"type": "rate_limit_exceeded"},
        ),
        "bad_request": PERPLEXITY_BAD_MODEL,
        "not_found": PERPLEXITY_BAD_MODEL,  # an unknown model is a bad request there
        "no_models": ErrorSpec(404, "Not Found"),
    }

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        if spec.status == 404:
            return as_json({"detail": message})
        kind = spec.extra.get("type", "bad_request")
        return as_json(
            {"error": {"message": message, "type": kind, "code": spec.status}}
        )

    def stream_chunks(
        self, chunks: list[StreamChunk], answer: Answer
    ) -> list[StreamChunk]:
        finish, usage = finish_chunk(chunks), usage_chunks(chunks)
        for chunk in chunks:
            chunk.data["citations"] = list(CITATIONS)
            chunk.data["search_results"] = [
                {"title": "Example", "url": url, "date": None} for url in CITATIONS
            ]
        if not usage:
            finish.data["usage"] = plain_usage(answer)
        return chunks

    def completion(self, payload: dict, answer: Answer) -> dict:
        payload["citations"] = list(CITATIONS)
        return payload


class MiniMax(Dialect):
    """MiniMax: numbered error messages in its own envelope, a plain-text 404."""

    name = "minimax"
    errors = {
        "auth": ErrorSpec(
            401,
            "login fail: Please carry the API secret key in the 'Authorization' field of "
            "the request header (1004)",
            {"type": "authorized_error"},
        ),
        "rate_limit": ErrorSpec(
            429, "rate limit exceeded(RPM) (1002)", {"type": "rate_limit_error"}
        ),
        "bad_request": ErrorSpec(
            400,
            "invalid params, context window exceeds limit (2013)",
            {"type": "bad_request_error"},
        ),
        "not_found": ErrorSpec(
            400, "unknown model '{model}' (2013)", {"type": "bad_request_error"}
        ),
        "no_models": ErrorSpec(404, "404 page not found"),
    }

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        if spec.status == 404:
            return message, "text/plain"
        error = {
            "type": spec.extra.get("type", "api_error"),
            "message": message,
            "http_code": str(spec.status),
        }
        request_id = uuid.uuid4().hex
        return as_json({"type": "error", "error": error, "request_id": request_id})

    def completion(self, payload: dict, answer: Answer) -> dict:
        payload["usage"] = plain_usage(answer)
        return payload
