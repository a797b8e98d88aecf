"""Servers people run themselves: Ollama, llama.cpp's llama-server, vLLM, LM Studio.

No keys, any argument accepted, reasoning in `reasoning_content` (or `reasoning`), and
each with its own model list and errors, from their documentation and bug reports:
- llama.cpp: `timings` on the last chunks; `{"error":{"code":503,"message":"Loading
  model","type":"unavailable_error"}}`; a prompt over its context size is a 400
  `exceed_context_size_error`, or, streamed by 2025 builds, a non-standard SSE line
  `error: {...}` then `data: [DONE]` (coddy-project/coddy-agent#106).
- vLLM: `{"object":"error","message":"The model `x` does not exist.","type":
  "NotFoundError","param":null,"code":404}`; `{"error": "Unauthorized"}` with
  `--api-key`.
- Ollama: `model "x" not found, try pulling it first`.
- LM Studio: answers 200 `{"error":"Unexpected endpoint or method. (GET /models)"}`
  off its `/v1` paths.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from tests.fakes.chat_shapes import Answer, StreamChunk
from tests.fakes.providers.profile import Dialect, ErrorSpec, Profile, as_json, created
from tests.fakes.providers.profile import finish_chunk, usage_chunks
from tests.fakes.recorded import Recorded
from tests.fakes.sending import with_headers
from tests.upstream import LLAMA_CONTEXT_ERROR

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
    host="ollama:11434",  # a Docker service beside Open WebUI, on Ollama's own port
    models=OLLAMA_OFFERED + OLLAMA_HIDDEN,
    chat_model="llama3.2:latest",
    second_model="mistral:7b",
    reasoning=(("qwen3:8b", "reasoning"), ("gpt-oss:20b", "reasoning")),
    reasoning_model="qwen3:8b",
    offered=frozenset(OLLAMA_OFFERED),
    hidden=frozenset(OLLAMA_HIDDEN),
    error_kinds=("busy", "bad_request", "not_found"),
)

LLAMACPP_MODEL = "Qwen3-8B-Q4_K_M.gguf"
LLAMACPP = Profile(
    name="llamacpp",
    title="llama.cpp (llama-server)",
    models=(LLAMACPP_MODEL,),
    chat_model=LLAMACPP_MODEL,
    reasoning=((LLAMACPP_MODEL, "reasoning_content"),),
    reasoning_model=LLAMACPP_MODEL,
    offered=frozenset({LLAMACPP_MODEL}),
    chunk_extra="timings",
    error_kinds=("busy", "bad_request"),
    context_size=4096,
)

VLLM = Profile(
    name="vllm",
    title="vLLM",
    models=("Qwen/Qwen3-8B", "sql-lora"),
    chat_model="Qwen/Qwen3-8B",
    second_model="sql-lora",
    reasoning=(("Qwen/Qwen3-8B", "reasoning_content"),),
    reasoning_model="Qwen/Qwen3-8B",
    offered=frozenset({"Qwen/Qwen3-8B", "sql-lora"}),
    error_kinds=("bad_request", "not_found"),
)

LMSTUDIO_OFFERED = (
    "qwen/qwen3-8b",
    "google/gemma-3-12b",
    "mistralai/devstral-small-2507",
)
LMSTUDIO = Profile(
    name="lmstudio",
    title="LM Studio",
    models=LMSTUDIO_OFFERED + ("text-embedding-nomic-embed-text-v1.5",),
    chat_model="google/gemma-3-12b",
    second_model="mistralai/devstral-small-2507",
    reasoning=(("qwen/qwen3-8b", "reasoning_content"),),
    reasoning_model="qwen/qwen3-8b",
    offered=frozenset(LMSTUDIO_OFFERED),
    hidden=frozenset({"text-embedding-nomic-embed-text-v1.5"}),
    error_kinds=("bad_request", "not_found"),
)


class Ollama(Dialect):
    """Ollama's OpenAI layer: OpenAI's error shape with its own messages."""

    name = "ollama"
    errors = {
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
    }

    def models_list(self, models: list[str]) -> dict:
        return {"object": "list", "data": [owned(m, "library") for m in models]}


class LlamaCpp(Dialect):
    """llama-server: `timings` on the last chunks, its loading and context errors."""

    name = "llamacpp"
    errors = {
        "auth": ErrorSpec(401, "Invalid API Key", {"type": "authentication_error"}),
        "busy": ErrorSpec(503, "Loading model", {"type": "unavailable_error"}),
        "bad_request": ErrorSpec(
            400,
            LLAMA_CONTEXT_ERROR["message"],
            {
                "type": LLAMA_CONTEXT_ERROR["type"],
                "n_prompt_tokens": 5210,
                "n_ctx": 4096,
            },
        ),
    }

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        return as_json(
            {"error": {"code": spec.status, "message": message} | spec.extra}
        )

    def stream_chunks(
        self, chunks: list[StreamChunk], answer: Answer
    ) -> list[StreamChunk]:
        for chunk in [finish_chunk(chunks), *usage_chunks(chunks)]:
            chunk.data["timings"] = timings(answer)
        return chunks

    def completion(self, payload: dict, answer: Answer) -> dict:
        payload["timings"] = timings(answer)
        return payload

    def models_list(self, models: list[str]) -> dict:
        meta = {"meta": {"n_ctx_train": 40960, "n_params": 8190735360}}
        return {
            "models": [
                {"name": m, "model": m, "type": "model", "capabilities": ["completion"]}
                for m in models
            ],
            "object": "list",
            "data": [owned(m, "llamacpp") | meta for m in models],
        }


def timings(answer: Answer) -> dict:
    """llama-server's speed report for an answer."""
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


class Vllm(Dialect):
    """vLLM: errors as `{"object": "error", ...}`, LoRA adapters listed under their base."""

    name = "vllm"
    errors = {
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
    }

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        if spec.status == 401:
            return as_json({"error": message})
        kind = spec.extra.get("type", "BadRequestError")
        error = {"message": message, "type": kind, "param": None, "code": spec.status}
        return as_json({"object": "error", **error})

    def models_list(self, models: list[str]) -> dict:
        base = models[0]
        return {
            "object": "list",
            "data": [
                owned(m, "vllm")
                | {
                    "root": base,
                    "parent": None if m == base else base,
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


class LmStudio(Dialect):
    """LM Studio: a 200 with an error off its API paths, plain-string errors."""

    name = "lmstudio"
    errors = {
        "bad_request": ErrorSpec(
            400, "'response_format.type' must be 'json_schema' or 'text'"
        ),
        "not_found": ErrorSpec(
            404,
            "model '{model}' not found",
            {"type": "not_found_error", "param": "model"},
        ),
    }

    def route(self, record: Recorded, prefix: str) -> web.StreamResponse | None:
        """Off its API paths (a base URL without /v1) it answers 200, with an error."""
        if record.path.startswith(prefix + "/"):
            return None
        message = f"Unexpected endpoint or method. ({record.method} {record.path})"
        return with_headers(web.json_response({"error": message}))

    def error_body(self, spec: ErrorSpec, message: str) -> tuple[str, str]:
        if not spec.extra:
            return as_json({"error": message})
        error = {
            "message": message,
            "type": spec.extra.get("type"),
            "param": spec.extra.get("param"),
            "code": None,
        }
        return as_json({"error": error})

    def models_list(self, models: list[str]) -> dict:
        data = [
            {"id": m, "object": "model", "owned_by": "organization_owner"}
            for m in models
        ]
        return {"data": data, "object": "list"}


def owned(model: str, owner: str) -> dict:
    """A model entry as OpenAI-compatible servers list it: id, date, owner."""
    return {
        "id": model,
        "object": "model",
        "created": created(model),
        "owned_by": owner,
    }
