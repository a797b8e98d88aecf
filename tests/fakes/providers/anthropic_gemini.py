"""Anthropic's and Google's OpenAI compatibility layers.

From their documentation and public bug reports:
- Anthropic: `/v1/models` wants `x-api-key` + `anthropic-version` (401 `x-api-key
  header is required`, qwen-code#3799; Open WebUI 0.12.4 `utils/anthropic.py` lists it
  that way); chat on the OpenAI layer takes a Bearer key and ignores most unknown fields.
- Gemini (`/v1beta/openai`): errors are a JSON *list*, a bad key is 400
  `API_KEY_INVALID`, unknown arguments are `Invalid JSON payload received. Unknown name
  "top_k": Cannot find field.` (continuedev/continue#10748, free-claude-code#542,
  SkyrimNet#77).
"""

from __future__ import annotations

import uuid

from aiohttp import web

from tests.fakes.chat_rules import CHAT_COMPLETION_PARAMS
from tests.fakes.providers.profile import Dialect, ErrorSpec, Profile, ProviderError
from tests.fakes.providers.profile import as_json, make_key
from tests.fakes.recorded import Recorded

ANTHROPIC_MODELS = {
    "claude-opus-4-1-20250805": "Claude Opus 4.1",
    "claude-opus-4-20250514": "Claude Opus 4",
    "claude-sonnet-4-5-20250929": "Claude Sonnet 4.5",
    "claude-sonnet-4-20250514": "Claude Sonnet 4",
    "claude-3-7-sonnet-20250219": "Claude Sonnet 3.7",
    "claude-haiku-4-5-20251001": "Claude Haiku 4.5",
    "claude-3-5-haiku-20241022": "Claude Haiku 3.5",
    "claude-3-haiku-20240307": "Claude Haiku 3",
}
ANTHROPIC = Profile(
    name="anthropic",
    title="Anthropic (OpenAI SDK compatibility)",
    host="api.anthropic.com",
    offered=tuple(ANTHROPIC_MODELS),
    chat_model="claude-sonnet-4-5-20250929",
    second_model="claude-haiku-4-5-20251001",
    key=make_key("sk-ant-api03-", "anthropic"),
    global_key=make_key("sk-ant-api03-", "antglobal"),
)

GEMINI_OFFERED = (
    "models/gemini-2.5-pro",
    "models/gemini-2.5-flash",
    "models/gemini-2.5-flash-lite",
    "models/gemini-2.0-flash",
    "models/gemini-2.0-flash-lite",
    "models/gemma-3-27b-it",
    "models/learnlm-2.0-flash-experimental",
)
GEMINI_HIDDEN = (
    "models/text-embedding-004",
    "models/gemini-embedding-001",
    "models/embedding-001",
    "models/imagen-3.0-generate-002",
    "models/imagen-4.0-generate-001",
    "models/veo-2.0-generate-001",
    "models/veo-3.0-generate-preview",
    "models/gemini-2.5-flash-preview-tts",
    "models/gemini-2.5-pro-preview-tts",
    "models/gemini-2.5-flash-image-preview",
    "models/gemini-2.0-flash-live-001",  # Live (bidi websocket) API only
)
GEMINI = Profile(
    name="gemini",
    title="Google Gemini (OpenAI compatibility)",
    host="generativelanguage.googleapis.com",
    prefix="/v1beta/openai",
    offered=GEMINI_OFFERED,
    hidden=GEMINI_HIDDEN,
    chat_model="models/gemini-2.5-flash",
    second_model="models/gemini-2.5-pro",
    key=make_key("AIzaSy", "gemini", 33),
    global_key=make_key("AIzaSy", "gemini-global", 33),
    accepted=CHAT_COMPLETION_PARAMS
    - {"logit_bias", "store", "metadata", "service_tier", "prediction"},
    refusal_style="gemini",
)


class Anthropic(Dialect):
    """Anthropic: its native model list and error shape behind an OpenAI chat layer."""

    name = "anthropic"
    errors = {
        "auth": ErrorSpec(401, "invalid x-api-key", {"type": "authentication_error"}),
        "models_key_required": ErrorSpec(
            401, "x-api-key header is required", {"type": "authentication_error"}
        ),
        "version_required": ErrorSpec(
            400,
            "anthropic-version: header is required",
            {"type": "invalid_request_error"},
        ),
        "rate_limit": ErrorSpec(
            429,
            "This request would exceed the rate limit for your organization of 30,000 "
            "input tokens per minute. For details, refer to: "
            "https://docs.claude.com/en/api/rate-limits.",
            {"type": "rate_limit_error"},
            {"retry-after": "1"},
        ),
        "bad_request": ErrorSpec(
            400,
            "prompt is too long: 210473 tokens > 200000 maximum",
            {"type": "invalid_request_error"},
        ),
        "not_found": ErrorSpec(404, "model: {model}", {"type": "not_found_error"}),
    }

    def request_key(self, request: web.Request, bearer: str | None) -> str | None:
        return request.headers.get("x-api-key") or bearer

    def check_auth(self, record: Recorded, keys: frozenset[str], models: bool) -> None:
        """The model list is the native endpoint: `x-api-key` and a version, no Bearer."""
        if not models:
            return super().check_auth(record, keys, models)
        key = record.headers.get("x-api-key")
        if not key:
            raise ProviderError("models_key_required", 401)
        if "anthropic-version" not in record.headers:
            raise ProviderError("version_required")
        if key not in keys:
            raise ProviderError("auth", 401)

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        error = {"type": spec.extra.get("type", "api_error"), "message": message}
        request_id = "req_011CT" + uuid.uuid4().hex[:16]
        return as_json({"type": "error", "error": error, "request_id": request_id})

    def models_list(self, models: list[str]) -> dict:
        data = [
            {
                "type": "model",
                "id": model,
                "display_name": ANTHROPIC_MODELS.get(model, model),
                "created_at": "2025-09-29T00:00:00Z",
            }
            for model in models
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": models[0],
            "last_id": models[-1],
        }


class Gemini(Dialect):
    """Google's layer: errors in a list, Google RPC statuses, unknown names refused."""

    name = "gemini"
    errors = {
        "auth": ErrorSpec(
            400,
            "API key not valid. Please pass a valid API key.",
            {
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            },
        ),
        "missing_key": ErrorSpec(
            403,
            "Method doesn't allow unregistered callers (callers without established "
            "identity). Please use API Key or other form of API consumer identity to "
            "call this API.",
            {"status": "PERMISSION_DENIED"},
        ),
        "rate_limit": ErrorSpec(
            429,
            "You exceeded your current quota, please check your plan and billing details. "
            "For more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits.",
            {"status": "RESOURCE_EXHAUSTED"},
        ),
        "bad_request": ErrorSpec(
            400,
            "The input token count (1203456) exceeds the maximum number of tokens "
            "allowed (1048576).",
            {"status": "INVALID_ARGUMENT"},
        ),
        "not_found": ErrorSpec(
            404,
            "{model} is not found for API version v1main, or is not supported for "
            "generateContent. Call ListModels to see the list of available models and "
            "their supported methods.",
            {"status": "NOT_FOUND"},
        ),
    }

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        error = {"code": spec.status, "message": message}
        error["status"] = spec.extra.get("status")
        if "details" in spec.extra:
            error["details"] = spec.extra["details"]
        return as_json([{"error": error}])

    def refusal(
        self, style: str | None, names: list[tuple[str, ...]], body: dict
    ) -> tuple[int, str, str]:
        """Every unknown name, one line each, with a BadRequest field violation."""
        lines = [
            f'Invalid JSON payload received. Unknown name "{loc[0]}": Cannot find field.'
            for loc in names
        ]
        error = {
            "code": 400,
            "message": "\n".join(lines),
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"description": line} for line in lines],
                }
            ],
        }
        return (400, *as_json([{"error": error}]))

    def models_list(self, models: list[str]) -> dict:
        data = [{"id": m, "object": "model", "owned_by": "google"} for m in models]
        return {"object": "list", "data": data}
