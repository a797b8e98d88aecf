"""Fake OpenAI-compatible providers: one profile each, served by `FakeOpenAI` subclasses.

Each `Profile` says what one provider looks like from the pipe's side: where its API lives
(host and path prefix), what `GET /models` lists and in which shape (or that it has no
`/models`), how a key is sent (`Authorization: Bearer`, Azure's `api-key`, Anthropic's
`x-api-key` for listing) or that none is needed, which top-level arguments it accepts and
how it refuses the others, where reasoning text goes, what extra fields its chunks carry
(`timings`, `x_groq`, `citations`...), and the bodies of its usual errors. `ProviderServer`
serves a profile on 127.0.0.1; cloud hosts are reached through `HTTP_PROXY` so the pipe
sees the provider's real host name in its URL (see `tests/conftest.py:openai_host`).

The shapes come from the providers' documentation and from error bodies quoted in public
bug reports (searched while writing this file), for example:
- Mistral 422: `{"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":
  ["body","stream_options","include_usage"],"msg":"Extra inputs are not permitted",...}]},
  "type":"invalid_request_error","param":null,"code":null}` (avante.nvim#2347), and the
  newer `{"object":"Error","detail":[...],"message":[...],"type":"invalid_request_error",
  "code":3001}` (php-mistral#76); Mistral's 401 `{"message":"Unauthorized","request_id":..}`.
- Gemini (`/v1beta/openai`): errors are a JSON *list*, a bad key is 400 `API_KEY_INVALID`,
  unknown arguments are `Invalid JSON payload received. Unknown name "top_k": Cannot find
  field.` (continuedev/continue#10748, free-claude-code#542, SkyrimNet#77).
- Groq: `property 'store' is unsupported, did you mean 'stop'?` (one argument at a time).
- DeepSeek 401 echoes the key's last 4 characters: `Authentication Fails, Your api key:
  ****d569 is invalid`; 402 `Insufficient Balance`.
- Anthropic: `/v1/models` wants `x-api-key` + `anthropic-version` (401 `x-api-key header
  is required`, qwen-code#3799; Open WebUI 0.12.4 `utils/anthropic.py` lists it that way);
  chat on the OpenAI layer takes a Bearer key and ignores most unknown fields.
- Azure OpenAI: `{"error":{"code":"401","message":"Access denied due to invalid
  subscription key or wrong API endpoint..."}}`, `DeploymentNotFound`, content filter 400s,
  a first stream chunk with `choices: []` and `prompt_filter_results`.
- OpenRouter: `{"error":{"code":401,"message":"User not found."}}`, `: OPENROUTER
  PROCESSING` SSE comments, mid-stream errors as a chunk with `error` *and* `choices`
  (`finish_reason: "error"`), `delta.reasoning`.
- Perplexity: 401 is an openresty HTML page; no `/models`. MiniMax: `{"type":"error",
  "error":{"type":"authorized_error","message":"login fail: ... (1004)","http_code":
  "401"}}`; no `/models`.
- llama.cpp: `timings` on the last chunks; `{"error":{"code":503,"message":"Loading
  model","type":"unavailable_error"}}`; a prompt over its context size is a 400
  `exceed_context_size_error`, or, streamed by 2025 builds, a non-standard SSE line
  `error: {...}` then `data: [DONE]` (coddy-project/coddy-agent#106). vLLM: `{"object":"error","message":"The model `x`
  does not exist.","type":"NotFoundError","param":null,"code":404}`; `{"error":
  "Unauthorized"}` with `--api-key`. Ollama: `model "x" not found, try pulling it first`.
  LM Studio: answers 200 `{"error":"Unexpected endpoint or method. (GET /models)"}` off
  its `/v1` paths.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.upstream import (
    CHAT_COMPLETION_PARAMS,
    OPENAI_MODELS,
    Answer,
    ApiError,
    Envelope,
    FakeOpenAI,
    Fault,
    Recorded,
    StreamChunk,
    answer_text,
    completion_json,
    count_prompt_tokens,
    mask_key,
    plan_answer,
    stream_chunks,
)

# --------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """What one provider looks like to the pipe."""

    name: str  # test id
    title: str  # as a README would name it
    dialect: str  # error and answer shapes: "openai", "azure", "anthropic", ...
    host: str | None  # the real host (reached through HTTP_PROXY); None: a local server
    prefix: str  # the base URL's path
    models: tuple[str, ...]  # everything the server knows (and lists, if it lists)
    chat_model: str  # a plain chat model
    key: str | None  # a valid key (the user's); None: the server checks no key
    global_key: str | None = None  # another valid key (the admin's)
    list_models: bool = True  # False: no GET /models (404)
    openai_rules: bool = (
        False  # OpenAI's whitelist and GPT filter apply (OpenAI, Azure)
    )
    accepted: frozenset[str] | None = None  # top-level arguments accepted; None: any
    refusal_style: str | None = None  # how unknown arguments are refused (see render)
    reasoning: tuple[tuple[str, str], ...] = ()  # (model, field or "think")
    reasoning_model: str | None = None  # the model the reasoning test uses
    offered: frozenset[str] = frozenset()  # ids the admin must see
    hidden: frozenset[str] = frozenset()  # ids never offered
    allowlist: str = ""  # the MODEL_ALLOWLIST an admin sets for this provider
    chunk_extra: str | None = None  # a top-level chunk field the provider adds
    error_kinds: tuple[str, ...] = ("rate_limit", "bad_request", "not_found")
    second_model: str | None = None  # another chat model on the same endpoint
    context_size: int | None = None  # llama-server's n_ctx: longer prompts fail its way
    responses: bool = False  # serves POST {prefix}/responses (OpenAI's Responses API)

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


def _key(prefix: str, tag: str, length: int = 40) -> str:
    """A realistic-looking random key (no words in it: a redactor may hide any part of
    a key, so a word inside one would be hidden wherever it appears)."""
    digest = hashlib.sha256(tag.encode()).hexdigest()
    return prefix + digest[: length - 4] + "Zq" + digest[-2:].upper()


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
    }
)
OPENAI_HIDDEN = frozenset(
    {
        "gpt-3.5-turbo-instruct",
        "o1-pro",
        "o3-pro",
        "gpt-5-pro",
        "gpt-5-codex",
        "o3-deep-research",
        "text-embedding-3-small",
        "tts-1",
        "whisper-1",
        "dall-e-3",
        "gpt-image-1",
        "gpt-4o-transcribe",
        "gpt-realtime",
        "gpt-4o-audio-preview",
        "omni-moderation-latest",
        "davinci-002",
        "babbage-002",
        "computer-use-preview",
        "codex-mini-latest",
        "sora-2",
    }
)

OPENAI = Profile(
    name="openai",
    title="OpenAI",
    dialect="openai",
    host="api.openai.com",
    prefix="/v1",
    models=tuple(OPENAI_MODELS),
    chat_model="gpt-4o-mini",
    second_model="gpt-4.1",
    key=_key("sk-proj-", "openai"),
    global_key=_key("sk-proj-", "openai-global"),
    openai_rules=True,
    responses=True,
    reasoning_model="o4-mini",  # hidden reasoning: reasoning_tokens in usage only
    offered=OPENAI_OFFERED,
    hidden=OPENAI_HIDDEN,
)

AZURE_MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-35-turbo",
    "gpt-35-turbo-instruct",
    "o3-mini",
    "o4-mini",
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
    models=AZURE_MODELS,
    chat_model="gpt-4o-mini",
    second_model="gpt-4.1",
    key=_key("", "azure", 32),
    global_key=_key("", "azure-global", 32),
    openai_rules=True,
    responses=True,  # {prefix}/responses: /openai/v1/responses
    offered=frozenset(
        {"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-35-turbo", "o3-mini", "o4-mini"}
    ),
    hidden=frozenset(
        {
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
        }
    ),
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
    models=(AZURE_DEPLOYMENT_NAME,),
    chat_model=AZURE_DEPLOYMENT_NAME,
    key=AZURE_V1.key,
    global_key=AZURE_V1.global_key,
    list_models=False,
    openai_rules=True,
    offered=frozenset({AZURE_DEPLOYMENT_NAME}),
    chunk_extra="prompt_filter_results",
    error_kinds=("rate_limit", "content_filter"),
)

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
    dialect="anthropic",
    host="api.anthropic.com",
    prefix="/v1",
    models=tuple(ANTHROPIC_MODELS),
    chat_model="claude-sonnet-4-5-20250929",
    second_model="claude-haiku-4-5-20251001",
    key=_key("sk-ant-api03-", "anthropic"),
    global_key=_key("sk-ant-api03-", "antglobal"),
    offered=frozenset(ANTHROPIC_MODELS),
)

GEMINI_MODELS = (
    "models/gemini-2.5-pro",
    "models/gemini-2.5-flash",
    "models/gemini-2.5-flash-lite",
    "models/gemini-2.0-flash",
    "models/gemini-2.0-flash-lite",
    "models/gemma-3-27b-it",
    "models/learnlm-2.0-flash-experimental",
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
    dialect="gemini",
    host="generativelanguage.googleapis.com",
    prefix="/v1beta/openai",
    models=GEMINI_MODELS,
    chat_model="models/gemini-2.5-flash",
    second_model="models/gemini-2.5-pro",
    key=_key("AIzaSy", "gemini", 33),
    global_key=_key("AIzaSy", "gemini-global", 33),
    accepted=CHAT_COMPLETION_PARAMS
    - {"logit_bias", "store", "metadata", "service_tier", "prediction"},
    refusal_style="gemini",
    offered=frozenset(GEMINI_MODELS[:7]),
    hidden=frozenset(GEMINI_MODELS[7:]),
)

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
    dialect="openrouter",
    host="openrouter.ai",
    prefix="/api/v1",
    models=OPENROUTER_CURATED_OFFERED
    + OPENROUTER_CURATED_HIDDEN
    + OPENROUTER_GENERATED,
    chat_model="openai/gpt-4o",
    second_model="anthropic/claude-sonnet-4.5",
    key=_key("sk-or-v1-", "openrouter"),
    global_key=_key("sk-or-v1-", "orglobal"),
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
    dialect="groq",
    host="api.groq.com",
    prefix="/openai/v1",
    models=GROQ_OFFERED
    + GROQ_HIDDEN
    + ("meta-llama/llama-guard-4-12b", "meta-llama/llama-prompt-guard-2-86m"),
    chat_model="llama-3.3-70b-versatile",
    second_model="llama-3.1-8b-instant",
    key=_key("gsk_", "groq"),
    global_key=_key("gsk_", "grglobal"),
    accepted=frozenset(GROQ_PARAMS),
    refusal_style="groq",
    reasoning=(("openai/gpt-oss-120b", "reasoning"),),
    reasoning_model="openai/gpt-oss-120b",
    offered=frozenset(GROQ_OFFERED),
    hidden=frozenset(GROQ_HIDDEN),
    chunk_extra="x_groq",
)

DEEPSEEK = Profile(
    name="deepseek",
    title="DeepSeek",
    dialect="deepseek",
    host="api.deepseek.com",
    prefix="/v1",
    models=("deepseek-chat", "deepseek-reasoner"),
    chat_model="deepseek-chat",
    key=_key("sk-", "deepseek"),
    global_key=_key("sk-", "dsglobal"),
    reasoning=(("deepseek-reasoner", "reasoning_content"),),
    reasoning_model="deepseek-reasoner",
    offered=frozenset({"deepseek-chat", "deepseek-reasoner"}),
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
    dialect="mistral",
    host="api.mistral.ai",
    prefix="/v1",
    models=tuple(MISTRAL_CHAT) + tuple(MISTRAL_OTHER),
    chat_model="mistral-small-latest",
    second_model="mistral-large-latest",
    key=_key("", "mistral", 32),
    global_key=_key("", "mistral-global", 32),
    accepted=MISTRAL_PARAMS,
    refusal_style="2025",
    offered=frozenset(MISTRAL_CHAT),
    hidden=frozenset(MISTRAL_OTHER),
)

PERPLEXITY = Profile(
    name="perplexity",
    title="Perplexity",
    dialect="perplexity",
    host="api.perplexity.ai",
    prefix="",
    models=(
        "sonar",
        "sonar-pro",
        "sonar-reasoning",
        "sonar-reasoning-pro",
        "sonar-deep-research",
    ),
    chat_model="sonar-pro",
    second_model="sonar",
    key=_key("pplx-", "perplexity"),
    global_key=_key("pplx-", "ppglobal"),
    list_models=False,
    reasoning=(("sonar-reasoning-pro", "think"), ("sonar-reasoning", "think")),
    reasoning_model="sonar-reasoning-pro",
    allowlist="sonar, sonar-pro, sonar-reasoning-pro",
    offered=frozenset({"sonar", "sonar-pro", "sonar-reasoning-pro"}),
    chunk_extra="citations",
)

MINIMAX = Profile(
    name="minimax",
    title="MiniMax",
    dialect="minimax",
    host="api.minimax.io",
    prefix="/v1",
    models=("MiniMax-M2", "MiniMax-M1", "MiniMax-Text-01"),
    chat_model="MiniMax-Text-01",
    second_model="MiniMax-M1",
    key=_key("eyJhbGciOiJSUzI1NiJ9.", "minimax", 60),
    global_key=_key("eyJhbGciOiJSUzI1NiJ9.", "minimax-global", 60),
    list_models=False,
    reasoning=(("MiniMax-M2", "think"), ("MiniMax-M1", "think")),
    reasoning_model="MiniMax-M2",
    allowlist="MiniMax-M2, MiniMax-Text-01",
    offered=frozenset({"MiniMax-M2", "MiniMax-Text-01"}),
)

OLLAMA_OFFERED = (
    "llama3.2:latest",
    "qwen3:8b",
    "deepseek-r1:8b",
    "gpt-oss:20b",
    "mistral:7b",
    "gemma3:12b",
    "llava:7b",
)
OLLAMA_HIDDEN = (
    "nomic-embed-text:latest",
    "mxbai-embed-large:latest",
    "snowflake-arctic-embed:latest",
    "bge-m3:latest",
    "all-minilm:latest",
)
OLLAMA = Profile(
    name="ollama",
    title="Ollama",
    dialect="ollama",
    host="ollama:11434",  # a Docker service beside Open WebUI, on Ollama's own port
    prefix="/v1",
    models=OLLAMA_OFFERED + OLLAMA_HIDDEN,
    chat_model="llama3.2:latest",
    second_model="mistral:7b",
    key=None,
    reasoning=(("qwen3:8b", "reasoning"), ("gpt-oss:20b", "reasoning")),
    reasoning_model="qwen3:8b",
    offered=frozenset(OLLAMA_OFFERED),
    hidden=frozenset(OLLAMA_HIDDEN),
    error_kinds=("busy", "bad_request", "not_found"),
)

LLAMACPP = Profile(
    name="llamacpp",
    title="llama.cpp (llama-server)",
    dialect="llamacpp",
    host=None,
    prefix="/v1",
    models=("Qwen3-8B-Q4_K_M.gguf",),
    chat_model="Qwen3-8B-Q4_K_M.gguf",
    key=None,
    reasoning=(("Qwen3-8B-Q4_K_M.gguf", "reasoning_content"),),
    reasoning_model="Qwen3-8B-Q4_K_M.gguf",
    offered=frozenset({"Qwen3-8B-Q4_K_M.gguf"}),
    chunk_extra="timings",
    error_kinds=("busy", "bad_request"),
    context_size=4096,
)

VLLM = Profile(
    name="vllm",
    title="vLLM",
    dialect="vllm",
    host=None,
    prefix="/v1",
    models=("Qwen/Qwen3-8B", "sql-lora"),
    chat_model="Qwen/Qwen3-8B",
    second_model="sql-lora",
    key=None,
    reasoning=(("Qwen/Qwen3-8B", "reasoning_content"),),
    reasoning_model="Qwen/Qwen3-8B",
    offered=frozenset({"Qwen/Qwen3-8B", "sql-lora"}),
    error_kinds=("bad_request", "not_found"),
)

LMSTUDIO = Profile(
    name="lmstudio",
    title="LM Studio",
    dialect="lmstudio",
    host=None,
    prefix="/v1",
    models=(
        "qwen/qwen3-8b",
        "google/gemma-3-12b",
        "mistralai/devstral-small-2507",
        "text-embedding-nomic-embed-text-v1.5",
    ),
    chat_model="google/gemma-3-12b",
    second_model="mistralai/devstral-small-2507",
    key=None,
    reasoning=(("qwen/qwen3-8b", "reasoning_content"),),
    reasoning_model="qwen/qwen3-8b",
    offered=frozenset(
        {"qwen/qwen3-8b", "google/gemma-3-12b", "mistralai/devstral-small-2507"}
    ),
    hidden=frozenset({"text-embedding-nomic-embed-text-v1.5"}),
    error_kinds=("bad_request", "not_found"),
)

# An OpenAI-compatible gateway (LiteLLM-style proxy) that refuses unknown arguments the
# way api.openai.com does, but is not OpenAI: the pipe may not whitelist for it.
GATEWAY = Profile(
    name="gateway",
    title="OpenAI-compatible gateway",
    dialect="openai",
    host="llm-gateway.example.com",
    prefix="/v1",
    models=("gpt-4o-mini", "claude-sonnet-4-5", "llama-3.3-70b"),
    chat_model="llama-3.3-70b",
    second_model="claude-sonnet-4-5",
    key=_key("sk-", "gateway"),
    global_key=_key("sk-", "gwglobal"),
    accepted=CHAT_COMPLETION_PARAMS,
    refusal_style="list",
    offered=frozenset({"gpt-4o-mini", "claude-sonnet-4-5", "llama-3.3-70b"}),
)

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


# --------------------------------------------------------------------------------------
# Error bodies
# --------------------------------------------------------------------------------------


@dataclass
class ErrorSpec:
    """One error a provider sends: status, message and the fields of its shape."""

    status: int
    message: str
    extra: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None  # a proxy page instead of JSON


PERPLEXITY_401_HTML = (
    "<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n"
    "<center><h1>401 Authorization Required</h1></center>\r\n"
    "<hr><center>openresty/1.27.4</center>\r\n</body>\r\n</html>\r\n"
)
OPENAI_KEYS_URL = "https://platform.openai.com/account/api-keys"

# dialect -> kind -> spec; `{model}` and `{tail}` (the received key's last 4) are filled in.
ERRORS: dict[str, dict[str, ErrorSpec]] = {
    "openai": {
        "auth": ErrorSpec(
            401,
            "Incorrect API key provided: {masked}. You can find your API key at "
            + OPENAI_KEYS_URL
            + ".",
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
            {
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            },
        ),
        "not_found": ErrorSpec(
            404,
            "The model `{model}` does not exist or you do not have access to it.",
            {"type": "invalid_request_error", "code": "model_not_found"},
        ),
    },
    "azure": {
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
                    "content_filter_result": {
                        "hate": {"filtered": True, "severity": "high"},
                        "self_harm": {"filtered": False, "severity": "safe"},
                        "sexual": {"filtered": False, "severity": "safe"},
                        "violence": {"filtered": False, "severity": "safe"},
                    },
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
    },
    "anthropic": {
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
    },
    "gemini": {
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
    },
    "openrouter": {
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
    },
    "groq": {
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
            {
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            },
        ),
        "not_found": ErrorSpec(
            404,
            "The model `{model}` does not exist or you do not have access to it.",
            {"type": "invalid_request_error", "code": "model_not_found"},
        ),
    },
    "deepseek": {
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
    },
    "mistral": {
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
    },
    "perplexity": {
        "auth": ErrorSpec(401, "", html=PERPLEXITY_401_HTML),
        "rate_limit": ErrorSpec(
            429,
            "Rate limit exceeded. Please try again later.",
            {"type": "rate_limit_exceeded"},
        ),
        "bad_request": ErrorSpec(
            400,
            "Invalid model '{model}'. Permitted models can be found in the documentation "
            "at https://docs.perplexity.ai/getting-started/models.",
            {"type": "invalid_model"},
        ),
        "not_found": ErrorSpec(
            400,
            "Invalid model '{model}'. Permitted models can be found in the documentation "
            "at https://docs.perplexity.ai/getting-started/models.",
            {"type": "invalid_model"},
        ),
        "no_models": ErrorSpec(404, "Not Found"),
    },
    "minimax": {
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
    },
    "ollama": {
        "busy": ErrorSpec(
            503,
            "server busy, please try again.  maximum pending requests exceeded",
            {"type": "api_error"},
        ),
        "bad_request": ErrorSpec(
            400, '"{model}" does not support chat', {"type": "invalid_request_error"}
        ),
        "not_found": ErrorSpec(
            404,
            'model "{model}" not found, try pulling it first',
            {"type": "api_error"},
        ),
    },
    "llamacpp": {
        "auth": ErrorSpec(401, "Invalid API Key", {"type": "authentication_error"}),
        "busy": ErrorSpec(503, "Loading model", {"type": "unavailable_error"}),
        "bad_request": ErrorSpec(
            400,
            "the request exceeds the available context size, try increasing it",
            {
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 5210,
                "n_ctx": 4096,
            },
        ),
    },
    "vllm": {
        "auth": ErrorSpec(401, "Unauthorized"),
        "bad_request": ErrorSpec(
            400,
            "This model's maximum context length is 40960 tokens. However, you requested "
            "50210 tokens in the messages, Please reduce the length of the messages.",
            {"type": "BadRequestError"},
        ),
        "not_found": ErrorSpec(
            404, "The model `{model}` does not exist.", {"type": "NotFoundError"}
        ),
    },
    "lmstudio": {
        "bad_request": ErrorSpec(
            400, "'response_format.type' must be 'json_schema' or 'text'"
        ),
        "not_found": ErrorSpec(
            404,
            "model '{model}' not found",
            {"type": "not_found_error", "param": "model"},
        ),
    },
}


def error_fragment(dialect: str, kind: str, *, model: str = "") -> str | None:
    """The start of a kind's message, which the user should see (HTML pages: None)."""
    spec = ERRORS[dialect].get(kind)
    if spec is None or spec.html is not None:
        return None
    text = " ".join(spec.message.format(model=model, tail="", masked="").split())
    return text[:40] or None


def _request_id() -> str:
    return "req_011CT" + uuid.uuid4().hex[:16]


def shape_error(dialect: str, spec: ErrorSpec, message: str) -> tuple[str, str]:
    """(body text, content type) of an error in the dialect's shape."""
    if spec.html is not None:
        return spec.html, "text/html"
    extra = dict(spec.extra)
    status = spec.status
    if dialect in ("openai", "groq", "ollama"):
        error = {
            "message": message,
            "type": extra.pop("type", "invalid_request_error"),
            "param": extra.pop("param", None),
            "code": extra.pop("code", None),
        }
        body: Any = {"error": error | extra}
    elif dialect == "azure":
        if "innererror" in extra or "param" in extra:  # content filter: OpenAI-like
            body = {"error": {"message": message} | extra}
        else:
            body = {
                "error": {"code": extra.get("code", str(status)), "message": message}
            }
    elif dialect == "anthropic":
        body = {
            "type": "error",
            "error": {"type": extra.get("type", "api_error"), "message": message},
            "request_id": _request_id(),
        }
    elif dialect == "gemini":
        error = {"code": status, "message": message, "status": extra.get("status")}
        if "details" in extra:
            error["details"] = extra["details"]
        body = [{"error": error}]
    elif dialect == "openrouter":
        body = {"error": {"message": message, "code": status} | extra}
    elif dialect == "deepseek":
        body = {
            "error": {
                "message": message,
                "type": extra.get("type", "invalid_request_error"),
                "param": None,
                "code": "invalid_request_error",
            }
        }
    elif dialect == "mistral":
        if status == 401:
            body = {"message": message, "request_id": uuid.uuid4().hex}
        else:
            body = {
                "object": "error",
                "message": message,
                "type": extra.get("type", "invalid_request_error"),
                "param": None,
                "code": extra.get("code"),
            }
    elif dialect == "perplexity":
        if status == 404:
            body = {"detail": message}
        else:
            body = {
                "error": {
                    "message": message,
                    "type": extra.get("type", "bad_request"),
                    "code": status,
                }
            }
    elif dialect == "minimax":
        if status == 404:
            return message, "text/plain"
        body = {
            "type": "error",
            "error": {
                "type": extra.get("type", "api_error"),
                "message": message,
                "http_code": str(status),
            },
            "request_id": uuid.uuid4().hex,
        }
    elif dialect == "llamacpp":
        body = {"error": {"code": status, "message": message} | extra}
    elif dialect == "vllm":
        if status == 401:
            body = {"error": message}
        else:
            body = {
                "object": "error",
                "message": message,
                "type": extra.get("type", "BadRequestError"),
                "param": None,
                "code": status,
            }
    elif dialect == "lmstudio":
        if extra:
            body = {
                "error": {
                    "message": message,
                    "type": extra.get("type"),
                    "param": extra.get("param"),
                    "code": None,
                }
            }
        else:
            body = {"error": message}
    else:
        raise ValueError(f"unknown dialect {dialect!r}")
    return json.dumps(body, indent=2), "application/json"


def render_error(
    dialect: str, kind: str, *, model: str = "", key: str | None = None
) -> tuple[int, str, str, dict[str, str]]:
    """(status, body text, content type, headers) of one of a provider's errors."""
    spec = ERRORS[dialect][kind]
    message = spec.message.format(
        model=model,
        tail=(key or "")[-4:],
        masked=mask_key(key or "sk-"),
    )
    text, content_type = shape_error(dialect, spec, message)
    return spec.status, text, content_type, dict(spec.headers)


def render_refusal(
    dialect: str, style: str | None, names: list[tuple[str, ...]], body: dict
) -> tuple[int, str, str]:
    """How a provider refuses arguments it does not know (`names`: body locations)."""
    tops = [loc[0] for loc in names]
    if dialect == "openai" and style == "param":  # one at a time, named in `param`
        name = tops[0]
        error = {
            "message": f"Unsupported parameter: '{name}' is not supported with this model.",
            "type": "invalid_request_error",
            "param": name,
            "code": "unsupported_parameter",
        }
        return 400, json.dumps({"error": error}, indent=2), "application/json"
    if dialect in ("openai", "azure"):
        plural = "s" if len(tops) > 1 else ""
        message = f"Unrecognized request argument{plural} supplied: {', '.join(tops)}"
        error = {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
        return 400, json.dumps({"error": error}, indent=2), "application/json"
    if dialect == "groq":  # the first unknown property only, with a suggestion
        name = tops[0]
        close = difflib.get_close_matches(name, sorted(GROQ_PARAMS), n=1, cutoff=0.6)
        hint = f", did you mean '{close[0]}'?" if close else ""
        error = {
            "message": f"property '{name}' is unsupported{hint}",
            "type": "invalid_request_error",
        }
        return 400, json.dumps({"error": error}), "application/json"
    if dialect == "gemini":
        lines = [
            f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.'
            for name in tops
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
        return 400, json.dumps([{"error": error}], indent=2), "application/json"
    if dialect == "mistral":
        detail = []
        for loc in names:
            value: Any = body
            for part in loc:
                value = value.get(part) if isinstance(value, dict) else None
            detail.append(
                {
                    "type": "extra_forbidden",
                    "loc": ["body", *loc],
                    "msg": "Extra inputs are not permitted",
                    "input": value,
                    "url": "https://errors.pydantic.dev/2.10/v/extra_forbidden",
                }
            )
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
        return 422, json.dumps(payload), "application/json"
    raise ValueError(f"{dialect} refuses nothing")


class ProviderError(ApiError):
    """A provider-specific error, rendered from `ERRORS[dialect][kind]`."""

    def __init__(self, kind: str, status: int = 400) -> None:
        super().__init__(status, kind)
        self.kind = kind


class Refused(ApiError):
    """Unknown arguments (body locations such as ("top_k",) or ("stream_options", "x"))."""

    def __init__(self, names: list[tuple[str, ...]]) -> None:
        super().__init__(400, "refused: " + ", ".join(".".join(n) for n in names))
        self.names = names


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------

_DEFAULT: Any = object()
_CREATED = 1_735_000_000


def _created(model: str) -> int:
    return _CREATED - zlib.crc32(model.encode()) % 40_000_000


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
        if keys is _DEFAULT:
            keys = None if profile.key is None else (profile.key, profile.global_key)
        self.profile = profile
        self.dialect = profile.dialect
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
        if self.dialect == "azure":
            return request.headers.get("api-key") or None
        if self.dialect == "anthropic" and request.headers.get("x-api-key"):
            return request.headers["x-api-key"]
        return super()._request_key(request)

    def _check_auth(self, record: Recorded) -> None:
        if self.keys is None:
            return
        if self.dialect == "openrouter" and record.path == self.models_path:
            return  # OpenRouter lists its models for anyone
        if self.dialect == "anthropic" and record.path == self.models_path:
            key = record.headers.get("x-api-key")  # the native endpoint: no Bearer
            if not key:
                raise ProviderError("models_key_required", 401)
            if "anthropic-version" not in record.headers:
                raise ProviderError("version_required")
            if key not in self.keys:
                raise ProviderError("auth", 401)
            return
        if record.key is None:
            raise ProviderError(
                "missing_key" if "missing_key" in ERRORS[self.dialect] else "auth", 401
            )
        if record.key not in self.keys:
            raise ProviderError("auth", 401)

    # ---- routes -----------------------------------------------------------------

    async def _route(
        self, request: web.Request, record: Recorded
    ) -> web.StreamResponse:
        profile = self.profile
        if self.dialect == "lmstudio" and not record.path.startswith(self.prefix + "/"):
            # LM Studio answers 200 off its API paths (a base URL without /v1).
            message = f"Unexpected endpoint or method. ({record.method} {record.path})"
            return self._respond(web.json_response({"error": message}))
        if (record.path == self.models_path and not profile.list_models) or (
            record.path == self.responses_path and not profile.responses
        ):
            kind = "resource_not_found" if self.dialect == "azure" else "no_models"
            if kind in ERRORS[self.dialect]:
                raise ProviderError(kind, 404)
            return web.Response(status=404, text="404: Not Found")
        if (
            profile.name == "azure-deployment"
            and record.path == self.chat_path
            and not record.query.get("api-version")
        ):
            raise ProviderError("resource_not_found", 404)
        return await super()._route(request, record)

    def _error_response(self, record: Recorded, error: ApiError) -> web.StreamResponse:
        headers: dict[str, str] = {}
        if isinstance(error, Refused):
            status, text, content_type = render_refusal(
                self.dialect, self.refusal_style, error.names, record.body or {}
            )
        elif isinstance(error, ProviderError) or (
            error.status == 404
            and record.path == self.chat_path
            and record.model not in self.models
            and "not_found" in ERRORS[self.dialect]
        ):
            kind = getattr(error, "kind", "not_found")
            status, text, content_type, headers = render_error(
                self.dialect, kind, model=record.model or "", key=record.key
            )
        elif self.dialect in ("openai", "azure"):
            return super()._error_response(record, error)
        else:
            message = str(error.payload["error"]["message"])
            spec = ERRORS[self.dialect].get("bad_request") or ErrorSpec(
                error.status, ""
            )
            spec = ErrorSpec(error.status, message, dict(spec.extra))
            status = error.status
            text, content_type = shape_error(self.dialect, spec, message)
        response = web.Response(status=status, text=text, headers=headers)
        response.content_type = content_type
        return self._respond(response)

    # ---- requests ---------------------------------------------------------------

    def _validate(self, body: dict) -> None:
        accepted = self.profile.accepted
        if accepted is not None and not self.strict:
            unknown = [(name,) for name in body if name not in accepted]
            options = body.get("stream_options")
            if self.dialect == "mistral" and isinstance(options, dict):
                unknown += [("stream_options", name) for name in options]
            if unknown:
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
        field_name = self.profile.reasoning_field(body["model"])
        if field_name == "think":
            answer = plan_answer(body, "reasoning_content")
            thought = "".join(answer.reasoning)
            answer.content = [f"<think>{thought}</think>\n\n", *answer.content]
            answer.reasoning, answer.reasoning_field = [], None
            return answer
        return plan_answer(body, field_name)

    # ---- answers ----------------------------------------------------------------

    def _stream_preamble(self, body: dict) -> bytes:
        if self.dialect == "openrouter":
            return b": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n"
        if self.dialect == "deepseek":
            return b": keep-alive\n\n"
        return b""

    def _stream_chunks(
        self, answer: Answer, envelope: Envelope, body: dict
    ) -> list[StreamChunk]:
        chunks = stream_chunks(answer, envelope)
        finish = next(
            c
            for c in chunks
            if c.data["choices"] and c.data["choices"][0]["finish_reason"]
        )
        usage_chunks = [c for c in chunks if c.data.get("usage")]
        dialect = self.dialect
        if dialect == "azure":
            for chunk in chunks:
                for choice in chunk.data["choices"]:
                    choice["content_filter_results"] = (
                        {} if choice["finish_reason"] else _SAFE
                    )
            first = {
                "choices": [],
                "created": 0,
                "id": "",
                "model": "",
                "object": "",
                "prompt_filter_results": [
                    {"prompt_index": 0, "content_filter_results": _SAFE}
                ],
            }
            chunks.insert(0, StreamChunk(first, counts=False))
        elif dialect == "openrouter":
            for chunk in chunks:
                chunk.data["provider"] = "OpenAI"
                chunk.data.pop("service_tier", None)
            for chunk in usage_chunks:
                chunk.data["usage"]["cost"] = 0.000042
            if self.midstream_error:
                chunks = self._openrouter_failure(chunks, envelope)
        elif dialect == "groq":
            chunks[0].data["x_groq"] = {"id": "req_" + uuid.uuid4().hex[:26]}
            finish.data["x_groq"] = {
                "id": chunks[0].data["x_groq"]["id"],
                "usage": answer.usage() | {"queue_time": 0.02, "total_time": 0.1},
            }
        elif dialect == "mistral":
            # Mistral has no include_usage: usage always rides on the finish chunk.
            chunks = [c for c in chunks if all(c is not u for u in usage_chunks)]
            finish.data["usage"] = _plain_usage(answer)
        elif dialect == "llamacpp":
            finish.data["timings"] = _timings(answer)
            for chunk in usage_chunks:
                chunk.data["timings"] = _timings(answer)
        elif dialect == "perplexity":
            for chunk in chunks:
                chunk.data["citations"] = list(_CITATIONS)
                chunk.data["search_results"] = [
                    {"title": "Example", "url": url, "date": None} for url in _CITATIONS
                ]
            if not usage_chunks:
                finish.data["usage"] = _plain_usage(answer)
        elif dialect == "deepseek":
            for chunk in usage_chunks:
                chunk.data["usage"] |= {
                    "prompt_cache_hit_tokens": 0,
                    "prompt_cache_miss_tokens": answer.prompt_tokens,
                }
        return chunks

    def _openrouter_failure(
        self, chunks: list[StreamChunk], envelope: Envelope
    ) -> list[StreamChunk]:
        """Two answer chunks, then OpenRouter's error chunk (it has `choices`), then end."""
        kept, sent = [], 0
        for chunk in chunks:
            if chunk.counts:
                if sent == 2:
                    break
                sent += 1
            kept.append(chunk)
        error = envelope.chunk({"content": ""}, "error")
        error["error"] = {"code": "server_error", "message": self.midstream_error}
        error["provider"] = "OpenAI"
        self.midstream_error = None
        return kept + [StreamChunk(error, counts=False)]

    def _completion(self, answer: Answer, envelope: Envelope, body: dict) -> dict:
        payload = completion_json(answer, envelope)
        dialect = self.dialect
        if dialect == "azure":
            payload["prompt_filter_results"] = [
                {"prompt_index": 0, "content_filter_results": _SAFE}
            ]
            for choice in payload["choices"]:
                choice["content_filter_results"] = _SAFE
        elif dialect == "openrouter":
            payload["provider"] = "OpenAI"
            payload["usage"]["cost"] = 0.000042
        elif dialect == "groq":
            payload["x_groq"] = {"id": "req_" + uuid.uuid4().hex[:26]}
        elif dialect == "llamacpp":
            payload["timings"] = _timings(answer)
        elif dialect == "perplexity":
            payload["citations"] = list(_CITATIONS)
        elif dialect in ("mistral", "minimax"):
            payload["usage"] = _plain_usage(answer)
        return payload

    # ---- model lists ------------------------------------------------------------

    def _models_list(self) -> Any:
        dialect, models = self.dialect, self.models
        if dialect == "anthropic":
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
        if dialect == "azure":
            return {
                "data": [
                    {
                        "id": model,
                        "object": "model",
                        "created": _created(model),
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
                    for model in models
                ],
                "object": "list",
            }
        if dialect == "gemini":
            return {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "owned_by": "google"} for m in models
                ],
            }
        if dialect == "openrouter":
            return {"data": [_openrouter_model(m) for m in models]}
        if dialect == "groq":
            return {
                "object": "list",
                "data": [
                    {
                        "id": m,
                        "object": "model",
                        "created": _created(m),
                        "owned_by": m.split("/")[0] if "/" in m else "Meta",
                        "active": True,
                        "context_window": 131072,
                        "public_apps": None,
                        "max_completion_tokens": 32768,
                    }
                    for m in models
                ],
            }
        if dialect == "mistral":
            names = MISTRAL_CHAT | MISTRAL_OTHER
            return {
                "object": "list",
                "data": [_mistral_model(m, names) for m in models],
            }
        if dialect == "ollama":
            return {
                "object": "list",
                "data": [
                    {
                        "id": m,
                        "object": "model",
                        "created": _created(m),
                        "owned_by": "library",
                    }
                    for m in models
                ],
            }
        if dialect == "llamacpp":
            return {
                "models": [
                    {
                        "name": m,
                        "model": m,
                        "type": "model",
                        "capabilities": ["completion"],
                    }
                    for m in models
                ],
                "object": "list",
                "data": [
                    {
                        "id": m,
                        "object": "model",
                        "created": _created(m),
                        "owned_by": "llamacpp",
                        "meta": {"n_ctx_train": 40960, "n_params": 8190735360},
                    }
                    for m in models
                ],
            }
        if dialect == "vllm":
            return {
                "object": "list",
                "data": [
                    {
                        "id": m,
                        "object": "model",
                        "created": _created(m),
                        "owned_by": "vllm",
                        "root": models[0],
                        "parent": None if m == models[0] else models[0],
                        "max_model_len": 40960,
                        "permission": [
                            {
                                "id": "modelperm-" + uuid.uuid4().hex,
                                "object": "model_permission",
                            }
                        ],
                    }
                    for m in models
                ],
            }
        if dialect == "lmstudio":
            return {
                "data": [
                    {"id": m, "object": "model", "owned_by": "organization_owner"}
                    for m in models
                ],
                "object": "list",
            }
        if dialect == "deepseek":
            return {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "owned_by": "deepseek"} for m in models
                ],
            }
        return super()._models_list()


_SAFE = {
    "hate": {"filtered": False, "severity": "safe"},
    "self_harm": {"filtered": False, "severity": "safe"},
    "sexual": {"filtered": False, "severity": "safe"},
    "violence": {"filtered": False, "severity": "safe"},
}
_CITATIONS = ("https://example.com/a", "https://example.org/b")


def _plain_usage(answer: Answer) -> dict:
    usage = answer.usage()
    return {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def _timings(answer: Answer) -> dict:
    predicted = len(answer.content) + len(answer.reasoning)
    return {
        "cache_n": 0,
        "prompt_n": answer.prompt_tokens,
        "prompt_ms": 30.9,
        "prompt_per_token_ms": 2.1,
        "prompt_per_second": 480.2,
        "predicted_n": predicted,
        "predicted_ms": 18.8 * predicted,
        "predicted_per_token_ms": 18.8,
        "predicted_per_second": 53.2,
    }


def _openrouter_model(model: str) -> dict:
    vendor, _, rest = model.partition("/")
    output = ["image", "text"] if "image" in rest else ["text"]
    return {
        "id": model,
        "canonical_slug": model.split(":")[0],
        "name": f"{vendor.title()}: {rest}",
        "created": _created(model),
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


def _mistral_model(model: str, names: dict[str, str]) -> dict:
    chat = model in MISTRAL_CHAT
    name = names[model]
    return {
        "id": model,
        "object": "model",
        "created": _created(model),
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
        "aliases": sorted(m for m, n in names.items() if n == name and m != model),
        "deprecation": None,
        "default_model_temperature": 0.3 if chat else None,
        "type": "base",
    }
