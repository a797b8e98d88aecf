"""Payload: the request body the upstream receives, and only what it accepts.

Open WebUI hands a pipe its own bookkeeping keys and copies every advanced
parameter from Chat Controls to the top of the body (`top_k`, `num_ctx`,
`keep_alive`...). OpenAI's API refuses any argument it does not know, so it gets
exactly its documented parameters. Ollama's own options go to Ollama only. Other
endpoints get the rest, since many accept their own sampling parameters (`top_k`,
`min_p`...); one that refuses some is told apart by its answer (see
`refused_parameters`).
"""

import re
from collections.abc import Iterable

from .errors import ErrorDetail
from .reasoning import apply_reasoning_rules, normal_effort, reasoning_family

# Parameters of OpenAI's POST /v1/chat/completions.
OPENAI_CHAT_PARAMS = frozenset(
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
        "prompt_cache_retention",
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

# Keys Open WebUI adds for itself; no upstream is meant to see them.
OPEN_WEBUI_KEYS = frozenset(
    {
        "metadata",
        "model_item",
        "background_tasks",
        "parent_id",
        "new_chat",
        "message_ids",
        "id",
        "user_message",
        "chat_id",
        "chat_variables",
        "tool_servers",
        "automation_id",
        "assistant_message_id",
        "regeneration_message_id",
        "session_id",
        "folder_id",
        "filter_ids",
        "variables",
        "features",
        "tool_ids",
        "terminal_id",
        "files",
        "skill_ids",
        "params",
        "custom_params",
        "stream_response",
        "stream_delta_chunk_size",
        "function_calling",
        "reasoning_tags",
        "compact_token_threshold",
        "system",
        "note_id",
        "tool_approval_mode",
        "model_controls",
    }
)

# Ollama's model options, which Chat Controls offers beside the sampling
# parameters: no other server knows them, and several refuse unknown arguments.
OLLAMA_OPTIONS = frozenset(
    {
        "keep_alive",
        "num_ctx",
        "format",
        "think",
        "num_predict",
        "num_keep",
        "num_batch",
        "repeat_last_n",
        "mirostat",
        "mirostat_eta",
        "mirostat_tau",
        "tfs_z",
        "num_gpu",
        "main_gpu",
        "num_thread",
        "numa",
        "low_vram",
        "use_mmap",
        "use_mlock",
        "penalize_newline",
    }
)

# How upstreams name the parameters they refuse, each capturing the name(s).
_REFUSALS = (
    # OpenAI, Azure, DeepSeek, most proxies: one name or a list.
    re.compile(
        r"(?:Unsupported parameter|Unsupported value|Unrecognized request arguments?"
        r" supplied|Unknown parameters?)[:\s]*"
        r"((?:'?[A-Za-z_][\w.\[\]]*'?(?:,\s*|\s+and\s+)?)+)",
        re.IGNORECASE,
    ),
    re.compile(r"property '(\w+)' is unsupported", re.IGNORECASE),  # Groq
    re.compile(r'Unknown name "(\w+)"', re.IGNORECASE),  # Gemini
    # FastAPI/pydantic servers (Mistral, vLLM) name it in the error's location.
    re.compile(
        r"extra_forbidden.{0,80}?[\"']loc[\"']\s*:\s*[\[(]\s*[\"']body[\"']\s*,\s*[\"'](\w+)",
        re.IGNORECASE | re.DOTALL,
    ),
    re.compile(
        r"[\"']loc[\"']\s*:\s*[\[(]\s*[\"']body[\"']\s*,\s*[\"'](\w+)[\"']\s*[\])]"
        r".{0,80}?Extra inputs are not permitted",
        re.IGNORECASE | re.DOTALL,
    ),
)
_NAME = re.compile(r"[A-Za-z_][\w.\[\]]*")


def strip_function_prefix(model: str) -> str:
    """`openai_manifold_pipe.gpt-4.1` -> `gpt-4.1`: Open WebUI adds `<function id>.`."""
    return model.split(".", 1)[1] if "." in model else model


def build_payload(
    body: dict,
    model: str,
    *,
    openai_api: bool,
    default_effort: str | None,
    ollama: bool = False,
    dropped: Iterable[str] = (),
) -> dict:
    """The upstream request for one chat, shaped for the model and endpoint.

    `dropped` holds parameters this endpoint refused for this model before; they
    are left out from the start.
    """
    if openai_api:
        accepted = OPENAI_CHAT_PARAMS - OPEN_WEBUI_KEYS
        payload = {k: v for k, v in body.items() if k in accepted}
    else:
        ignored = OPEN_WEBUI_KEYS if ollama else OPEN_WEBUI_KEYS | OLLAMA_OPTIONS
        payload = {k: v for k, v in body.items() if k not in ignored}
    payload["model"] = model
    if "logit_bias" in payload:
        _normalize_logit_bias(payload)
    if payload.get("stream"):
        options = payload.get("stream_options")
        payload["stream_options"] = {
            **(options if isinstance(options, dict) else {}),
            "include_usage": True,
        }
    else:
        payload.pop("stream_options", None)
    family = reasoning_family(model)
    if family:
        apply_reasoning_rules(payload, family, normal_effort(default_effort))
    elif openai_api:
        payload.pop("reasoning_effort", None)  # OpenAI's chat models refuse it
    for name in dropped:
        drop_parameter(payload, name)
    return payload


def _normalize_logit_bias(payload: dict) -> None:
    """`logit_bias` as the object APIs take; Chat Controls sends its text form.

    Open WebUI 0.12.4 passes the field's text (`"5678:-100, 1234:20"`) on
    unconverted. Text that is not such pairs is left out rather than refused.
    """
    value = payload["logit_bias"]
    if isinstance(value, dict):
        return
    biases: dict[str, int] = {}
    for pair in str(value or "").split(","):
        token, colon, bias = pair.partition(":")
        try:
            biases[str(int(token))] = max(-100, min(100, int(bias)))
        except ValueError:
            if pair.strip() or colon:
                biases = {}
                break
    if biases:
        payload["logit_bias"] = biases
    else:
        del payload["logit_bias"]


def refused_parameters(detail: ErrorDetail, payload: dict) -> list[str]:
    """The parameters a 400 says the model does not support, if they are ours to drop."""
    named = [detail.param] if detail.param else []
    for pattern in _REFUSALS:
        for found in pattern.findall(detail.message):
            named += _NAME.findall(found)
    refused: list[str] = []
    for name in dict.fromkeys(named):
        droppable = name in payload and name not in ("model", "messages")
        if droppable or (_is_role_param(name) and _has_instruction_role(payload)):
            refused.append(name)
    return refused


def drop_parameter(payload: dict, name: str) -> None:
    """Leave a refused parameter out; a refused message role becomes `user`."""
    if _is_role_param(name):
        payload["messages"] = [
            {**m, "role": "user"} if _is_instruction(m) else m
            for m in payload.get("messages", [])
        ]
        return
    payload.pop(name, None)
    if name == "tools":
        payload.pop("tool_choice", None)
        payload.pop("parallel_tool_calls", None)


def _is_role_param(name: str) -> bool:
    return name.startswith("messages[") and name.endswith(".role")


def _is_instruction(message: object) -> bool:
    return isinstance(message, dict) and message.get("role") in ("system", "developer")


def _has_instruction_role(payload: dict) -> bool:
    return any(_is_instruction(m) for m in payload.get("messages", []))
