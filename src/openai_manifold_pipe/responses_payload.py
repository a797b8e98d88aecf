"""Responses payload: a chat as a request to OpenAI's `/responses`.

Open WebUI hands the pipe a chat in `/chat/completions` form, on every turn and
every round of a tool-calling turn: messages, tool calls, tool results. The
Responses API takes the same conversation as `input` items and names several
settings differently (`max_output_tokens`, `reasoning.effort`, `text.format`).
Only what OpenAI's published description of `POST /responses` accepts goes
out: Open WebUI's advanced parameters and Ollama's options never do, on any
endpoint.

OpenAI keeps nothing (`store: false`), so what a reasoning model thought before
calling a tool travels with the chat instead: its reasoning item arrives
encrypted, the pipe hands it to Open WebUI as a `reasoning_details` entry of
the answer (`responses_stream`), Open WebUI sends it back on the assistant
message of the next request, and it goes out again here as the reasoning item.
"""

import hashlib

from .reasoning import (
    SAMPLING_PARAMS,
    ReasoningFamily,
    coerce_effort,
    normal_effort,
    summary_kind,
)

# Chat parameters `/responses` takes under the same name and meaning.
SAME_NAME_PARAMS = (
    "parallel_tool_calls",
    "prompt_cache_retention",
    "safety_identifier",
    "service_tier",
    "temperature",
    "top_logprobs",
    "top_p",
    "user",
)
# The smallest `max_output_tokens` OpenAI accepts.
MIN_OUTPUT_TOKENS = 16
# How a reasoning item travels through Open WebUI between requests.
ENCRYPTED_REASONING = "reasoning.encrypted"
REASONING_FORMAT = "openai-responses-v1"


def build_responses_request(
    body: dict,
    model: str,
    *,
    family: ReasoningFamily | None,
    default_effort: str | None,
    summary: str,
    openai_api: bool,
    chat_id: str | None = None,
) -> dict:
    """The `/responses` request for one chat, shaped for the model's family.

    `openai_api`: OpenAI's own API or Azure OpenAI, whose chat models refuse any
    `reasoning`; elsewhere an effort the chat asks for is passed on as is.
    """
    request: dict = {"model": model}
    instructions, items = input_items(body.get("messages") or [])
    if instructions:
        request["instructions"] = instructions
    request["input"] = items
    request.update({k: body[k] for k in SAME_NAME_PARAMS if body.get(k) is not None})
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        request["max_output_tokens"] = max(limit, MIN_OUTPUT_TOKENS)
    if tools := [tool for tool in map(_tool, body.get("tools") or ()) if tool]:
        request["tools"] = tools
        if choice := _tool_choice(body.get("tool_choice")):
            request["tool_choice"] = choice
    else:
        request.pop("parallel_tool_calls", None)
    if text := _text_options(body):
        request["text"] = text
    asked = normal_effort(body.get("reasoning_effort")) or normal_effort(default_effort)
    if family is not None:
        _apply_reasoning(request, family, asked, summary)
    elif asked and not openai_api:
        request["reasoning"] = {"effort": asked}
    request["store"] = False
    if chat_id:
        request["prompt_cache_key"] = _cache_key(chat_id)
    request["stream"] = body.get("stream") in (True, "true")
    return request


def input_items(messages: list) -> tuple[str | None, list[dict]]:
    """The leading system prompt as instructions, every other message as input."""
    instructions = None
    items: list[dict] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            if index == 0:
                instructions = text_of(content)
            else:
                items.append({"role": "developer", "content": text_of(content)})
        elif role == "user":
            items.append({"role": "user", "content": _user_content(content)})
        elif role == "assistant":
            items += _assistant_items(message)
        elif role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": str(message.get("tool_call_id") or ""),
                    "output": text_of(content),
                }
            )
    return instructions, items


def text_of(content: object) -> str:
    """A message's text, whether a string or a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _user_content(content: object) -> str | list[dict]:
    if not isinstance(content, list):
        return text_of(content)
    parts = [_input_part(part) for part in content if isinstance(part, dict)]
    return [part for part in parts if part] or ""


def _input_part(part: dict) -> dict | None:
    """A chat content part as a Responses input part; unknown kinds are left out."""
    kind = part.get("type")
    if kind == "text" and isinstance(part.get("text"), str):
        return {"type": "input_text", "text": part["text"]}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        detail = image.get("detail") if isinstance(image, dict) else None
        if isinstance(url, str) and url:
            return {"type": "input_image", "image_url": url, "detail": detail or "auto"}
    if kind == "file" and isinstance(part.get("file"), dict):
        file = part["file"]
        fields = {
            k: file[k] for k in ("file_id", "file_data", "filename") if file.get(k)
        }
        if "file_id" in fields or "file_data" in fields:
            return {"type": "input_file", **fields}
    return None


def _assistant_items(message: dict) -> list[dict]:
    """Earlier reasoning, then the text, then the calls of one assistant turn."""
    items = _reasoning_items(message.get("reasoning_details"))
    if text := text_of(message.get("content")):
        # A plain string: the published schema takes an earlier assistant turn
        # given as parts only as a whole output message (with id and status).
        items.append({"role": "assistant", "content": text})
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict) and function.get("name"):
            items.append(
                {
                    "type": "function_call",
                    "call_id": str(call.get("id") or ""),
                    "name": function["name"],
                    "arguments": function.get("arguments") or "{}",
                }
            )
    return items


def _reasoning_items(details: object) -> list[dict]:
    """The encrypted reasoning items this pipe handed Open WebUI, as input again."""
    items = []
    for entry in details if isinstance(details, list) else ():
        if (
            isinstance(entry, dict)
            and entry.get("type") == ENCRYPTED_REASONING
            and entry.get("format") == REASONING_FORMAT
            and isinstance(entry.get("id"), str)
            and isinstance(entry.get("data"), str)
        ):
            items.append(
                {
                    "type": "reasoning",
                    "id": entry["id"],
                    "summary": [],
                    "encrypted_content": entry["data"],
                }
            )
    return items


def _tool(tool: object) -> dict | None:
    """A chat function tool in the Responses form, name and schema unchanged."""
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return None
    function = tool.get("function")
    if not isinstance(function, dict) or not function.get("name"):
        return None
    converted = {"type": "function", "name": function["name"]}
    if function.get("description"):
        converted["description"] = function["description"]
    # The published schema requires both; Open WebUI's built-in sends the same.
    converted["parameters"] = function.get("parameters") or {
        "type": "object",
        "properties": {},
    }
    converted["strict"] = bool(function.get("strict"))
    return converted


def _tool_choice(choice: object) -> str | dict | None:
    if choice in ("auto", "none", "required"):
        return choice
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and function.get("name"):
        return {"type": "function", "name": function["name"]}
    return None


def _text_options(body: dict) -> dict:
    """`verbosity` and `response_format` live under `text` on /responses."""
    text: dict = {}
    if body.get("verbosity") in ("low", "medium", "high"):
        text["verbosity"] = body["verbosity"]
    format_ = body.get("response_format")
    if isinstance(format_, dict) and format_.get("type") in ("text", "json_object"):
        text["format"] = {"type": format_["type"]}
    elif isinstance(format_, dict) and format_.get("type") == "json_schema":
        schema = format_.get("json_schema") or {}
        fields = ("name", "schema", "strict", "description")
        text["format"] = {
            "type": "json_schema",
            **{k: schema[k] for k in fields if k in schema},
        }
    return text


def _apply_reasoning(
    request: dict, family: ReasoningFamily, asked: str | None, summary: str
) -> None:
    """`reasoning` (effort and summary) and the sampling this family refuses.

    Unlike on /chat/completions, tools and reasoning go together here, so the
    effort asked for is kept whatever the chat's tools. The encrypted reasoning
    is asked for so a tool-calling turn can hand it back (see the module's doc).
    """
    effort = coerce_effort(asked, family.efforts) if asked and family.efforts else None
    reasoning = {"effort": effort} if effort else {}
    if (effort or family.default_effort) == "none":
        if not family.samples_without_reasoning:
            _drop_sampling(request)
    else:
        _drop_sampling(request)
        if family.efforts and (kind := summary_kind(summary, family)):
            reasoning["summary"] = kind
        request["include"] = ["reasoning.encrypted_content"]
    if reasoning:
        request["reasoning"] = reasoning


def _drop_sampling(request: dict) -> None:
    for name in SAMPLING_PARAMS:
        request.pop(name, None)


def _cache_key(chat_id: str) -> str:
    """Requests of one chat share OpenAI's prompt cache; the id itself never leaves."""
    return "owui-" + hashlib.sha256(chat_id.encode()).hexdigest()[:40]
