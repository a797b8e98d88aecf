"""A fake OpenAI API on 127.0.0.1, for tests that must talk real HTTP: `FakeOpenAI`.

`FakeOpenAI` answers `GET /v1/models` and `POST /v1/chat/completions` like
api.openai.com: deterministically (`answer_text()` tells a test what to expect), with
OpenAI's keys and 401s, and in `strict` mode following OpenAI's argument rules,
reasoning families included (`tests/fakes/chat_rules.py`). What every fake shares is
`FakeServer`'s (`tests/fakes/server.py`): it runs in its own thread, records every
request (`requests`), and injects faults from the test (`add_fault`) or from the last
user message (`[[fault:status code=503]]`, see `tests/fakes/faults.py`), for
end-to-end tests that only reach the server through Open WebUI. The other markers,
`[[chunks:N]]`, `[[delay:S]]` and `[[tool:NAME]]`, shape the answer planned here
(`tests/fakes/text.py`).

Responses API: `POST {prefix}/responses` (`responses_path`) is served by
`tests/fake_responses.py`, whose docstring has its rules, events and faults. Keys,
early faults, recording and markers (in the last user input item) work as for chat;
aim a queued fault at it with `path=server.responses_path`. There `stream_error` is an
`error` event and `empty` a Response without output items. `responses_requests()`
lists its requests; `issued_reasoning` holds every encrypted_content it sent (only
those are accepted back, and `clear()` keeps them, as OpenAI keeps its keys).

Other providers (`tests/providers.py`) subclass `FakeOpenAI`: `prefix` moves the API
off `/v1` (Azure's `/openai/deployments/<name>`, Gemini's `/v1beta/openai`), and the
hooks `_request_key`, `_check_auth`, `_validate`, `_plan`, `_stream_chunks`,
`_stream_preamble`, `_completion`, `_models_list` and `_error_response` let a subclass
read keys from other headers, refuse arguments its own way, and shape answers and errors
like that provider; `serves_responses = False` makes /responses an unknown URL. With
none of them overridden the server is api.openai.com.

Standalone: `python -m tests.upstream --port 8099 [--no-auth] [--permissive]`.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from tests.fake_responses import chat_messages, serve_responses
from tests.fakes.chat_rules import CHAT_COMPLETION_PARAMS, check_basic_shape
from tests.fakes.chat_rules import check_chat_schema, check_openai_rules
from tests.fakes.chat_rules import refuse_unknown
from tests.fakes.chat_shapes import Answer, Envelope, StreamChunk
from tests.fakes.chat_shapes import completion_json, stream_chunks
from tests.fakes.faults import BODY_FAULTS, JSON_FAULTS, Fault
from tests.fakes.openai_errors import BAD_JSON_MESSAGE, NO_KEY_MESSAGE, SERVER_ERROR
from tests.fakes.openai_errors import ApiError, error_body, invalid_key_message
from tests.fakes.openai_errors import mask_key
from tests.fakes.openai_models import EFFORT_TOKENS, OPENAI_MODELS, base_id
from tests.fakes.openai_models import model_list, model_object, reasoning_family
from tests.fakes.recorded import Recorded
from tests.fakes.sending import Event, SseAnswer, send_json, send_stream, sse
from tests.fakes.server import FakeServer
from tests.fakes.text import is_task_prompt, last_user_text, marker_number
from tests.fakes.text import message_text, parse_markers, split_words, strip_markers
from tests.fakes.text import thought_words

DEFAULT_KEY = "sk-test-alpha-0000000000000001"
# What llama-server says of a prompt longer than its context (2025 builds stream it
# as an `error:` line, answer it with a 400 when not streaming).
LLAMA_CONTEXT_ERROR = {
    "code": 400,
    "message": "the request exceeds the available context size, try increasing it",
    "type": "exceed_context_size_error",
}
TRUNCATED_CHUNK = b'data: {"choices": [{"delta": {"content": "x\n\n'

# --------------------------------------------------------------------------------------
# What to answer
# --------------------------------------------------------------------------------------


def answer_text(user_text: str) -> str:
    """The answer to a plain user message: "Echo: " + the text without markers."""
    clean = strip_markers(user_text)
    return f"Echo: {clean}" if clean else "Echo:"


def answer_chunks(user_text: str) -> list[str]:
    """The content chunks streamed for a user message (honours `[[chunks:N]]`)."""
    pieces = split_words(answer_text(user_text))
    wanted = marker_number(parse_markers(user_text), "chunks")
    return fit_chunks(pieces, None if wanted is None else int(wanted))


def fit_chunks(pieces: list[str], wanted: int | None) -> list[str]:
    """Exactly `wanted` chunks: the tail merged into the last, or padded " w<i>"."""
    if wanted is None or wanted == len(pieces):
        return pieces
    if wanted <= 0:
        return []
    if wanted < len(pieces):
        return pieces[: wanted - 1] + ["".join(pieces[wanted - 1 :])]
    return pieces + [f" w{i}" for i in range(len(pieces), wanted)]


def task_answer(text: str) -> str:
    """A JSON answer Open WebUI can parse for its title/tags/follow-up tasks."""
    lines = text.strip().splitlines()
    task = lines[1].lower() if len(lines) > 1 else ""
    if "title" in task:
        return json.dumps({"title": "Echo chat"})
    if "tags" in task:
        return json.dumps({"tags": ["General"]})
    if "follow" in task or "predict" in task:
        return json.dumps({"follow_ups": ["Tell me more."]})
    if "queries" in task or "search" in task:
        return json.dumps({"queries": []})
    return json.dumps({})


def count_prompt_tokens(messages: list) -> int:
    """A deterministic stand-in for tiktoken: words plus OpenAI's per-message overhead."""
    return 3 + sum(4 + len(message_text(message).split()) for message in messages)


def sample_argument(schema: Any, text: str) -> Any:
    """A plausible value for a JSON-schema property, so tool calls validate."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return text or "test"


def tool_call_for(body: dict, markers: dict[str, list[str]], text: str) -> dict | None:
    """The tool call asked for by `[[tool:NAME]]`, if NAME is one of the request's tools."""
    tools = body.get("tools") or []
    wanted = markers.get("tool", [])
    for tool in tools:
        function = tool.get("function", {}) if isinstance(tool, dict) else {}
        if function.get("name") not in wanted:
            continue
        parameters = function.get("parameters") or {}
        properties = parameters.get("properties") or {}
        required = parameters.get("required") or []
        args = {name: sample_argument(properties.get(name), text) for name in required}
        call_id = "call_" + uuid.uuid4().hex[:24]
        return {"id": call_id, "name": function["name"], "arguments": json.dumps(args)}
    return None


def reasoning_field_for(model: str, override: str | None) -> str | None:
    """Where a model streams its reasoning text: DeepSeek or OpenRouter style, or none."""
    if override:
        return override
    name = base_id(model)
    if "reasoner" in name:
        return "reasoning_content"
    if "thinking" in name:
        return "reasoning"
    return None


def openai_reasoning_tokens(body: dict) -> int:
    """Hidden reasoning tokens an OpenAI reasoning model reports (0 with effort none)."""
    family = reasoning_family(body["model"])
    if family is None:
        return 0
    effort = body.get("reasoning_effort") or family.default_effort or "medium"
    return EFFORT_TOKENS.get(effort, 128)


def plan_answer(body: dict, reasoning_override: str | None = None) -> Answer:
    """Decide the whole answer to a valid chat request, deterministically."""
    messages = body["messages"]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    user_text = last_user_text(messages)
    markers = parse_markers(user_text)
    clean = strip_markers(user_text)
    answer = Answer(content=[], prompt_tokens=count_prompt_tokens(messages))
    answer.delay = marker_number(markers, "delay") or 0.0

    if last.get("role") == "tool":
        answer.content = split_words(f"Tool said: {message_text(last)}")
    elif last.get("role") == "user" and (call := tool_call_for(body, markers, clean)):
        answer.tool_call = call
        answer.finish_reason = "tool_calls"
    elif is_task_prompt(user_text):
        answer.content = [task_answer(user_text)]
    else:
        answer.content = answer_chunks(user_text)

    answer.reasoning_field = reasoning_field_for(body["model"], reasoning_override)
    if answer.reasoning_field:
        answer.reasoning = thought_words(clean)
        answer.reasoning_tokens = len(answer.reasoning)
    else:
        answer.reasoning_tokens = openai_reasoning_tokens(body)

    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and 0 < limit < len(answer.content):
        answer.content = answer.content[:limit]
        answer.finish_reason = "length"
    return answer


def chat_stream_ending(fault: Fault, index: int) -> bytes | None:
    """How a chat stream fails: OpenAI's error event, or llama-server's error line."""
    if fault.kind == "stream_error":
        message = fault.opts.get("message", SERVER_ERROR)
        return sse(error_body(message, "server_error", None))
    if fault.kind == "error_field":
        given = {k: v for k, v in fault.opts.items() if k not in ("after", "times")}
        error = LLAMA_CONTEXT_ERROR | given
        return f"error: {json.dumps(error)}\n\n".encode() + sse("[DONE]")
    return None


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------


class FakeOpenAI(FakeServer):
    """api.openai.com on 127.0.0.1: models, chat completions and Responses."""

    def __init__(
        self,
        *,
        keys: Iterable[str] | None = (DEFAULT_KEY,),
        models: Iterable[str] | None = None,
        strict: bool = True,
        list_models: bool = True,
        port: int = 0,
        reasoning_field: str | None = None,
        prefix: str = "/v1",
    ) -> None:
        """keys=None checks no auth (local servers); strict=False accepts any argument
        (vLLM, llama.cpp); list_models=False answers 404 on GET /v1/models;
        reasoning_field ("reasoning" or "reasoning_content") makes every model stream
        reasoning text in that field; prefix is the path the API lives under ("/v1",
        "" for a host root, "/openai/deployments/<name>" for an Azure deployment)."""
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError(f"prefix must be empty or /like/this, not {prefix!r}")
        super().__init__(port=port)
        self.prefix = prefix
        self.models_path = f"{prefix}/models"  # GET: the model list
        self.chat_path = f"{prefix}/chat/completions"  # POST: chat completions
        self.responses_path = f"{prefix}/responses"  # POST: the Responses API
        self.fault_path = self.chat_path  # add_fault aims here unless told otherwise
        if isinstance(keys, str):
            keys = (keys,)  # a single key, not its characters
        self.keys: frozenset[str] | None = None if keys is None else frozenset(keys)
        self.models: list[str] = list(OPENAI_MODELS if models is None else models)
        self.strict = strict
        self.list_models = list_models
        self.reasoning_field = reasoning_field
        self.serves_responses = True  # False: POST .../responses is an unknown URL
        self.issued_reasoning: set[str] = set()  # encrypted_content sent on /responses

    @property
    def base_url(self) -> str:
        """What the pipe's OPENAI_API_BASE_URL valve should hold."""
        return f"{self.origin}{self.prefix}"

    # ---- test helpers ---------------------------------------------------------------

    def chat_requests(self) -> list[Recorded]:
        """Recorded POSTs to the chat completions path, in order."""
        return self._requests_to(self.chat_path)

    def responses_requests(self) -> list[Recorded]:
        """Recorded POSTs to the Responses path, in order."""
        return self._requests_to(self.responses_path)

    def model_requests(self) -> list[Recorded]:
        """Recorded GETs of the models path, in order."""
        return self._requests_to(self.models_path)

    def last_chat(self) -> Recorded | None:
        """The last recorded POST to the chat completions path, or None."""
        chats = self.chat_requests()
        return chats[-1] if chats else None

    # ---- requests -------------------------------------------------------------------

    def _check_auth(self, record: Recorded) -> None:
        """401 exactly like OpenAI's, unless the server takes no keys (keys=None).

        Checked after the early faults: a 503 from a proxy in front of the API comes
        whatever the key."""
        if self.keys is None:
            return
        if record.key is None:
            raise ApiError(401, NO_KEY_MESSAGE)
        if record.key not in self.keys:
            message = invalid_key_message(mask_key(record.key))
            raise ApiError(401, message, code="invalid_api_key")

    async def _route(
        self, request: web.Request, record: Recorded
    ) -> web.StreamResponse:
        """Dispatch on method and path; anything else is OpenAI's "Invalid URL"."""
        path, method = record.path, record.method
        models_path = self.models_path
        if method == "GET" and path == models_path and not self.list_models:
            return web.Response(status=404, text="404: Not Found")
        if method == "GET" and path == models_path:
            payload = self._models_list()
        elif method == "GET" and path.startswith(models_path + "/"):
            payload = self._one_model(path[len(models_path) + 1 :])
        elif method == "POST" and path == self.chat_path:
            return await self._chat(request, record)
        elif method == "POST" and path == self.responses_path and self.serves_responses:
            return await serve_responses(self, request, record)
        else:
            return await super()._route(request, record)
        return await send_json(
            request, record, payload, self._fault_for(record, JSON_FAULTS)
        )

    def _marker_messages(self, record: Recorded) -> list | None:
        """The messages whose last user text may hold markers (Responses input as chat)."""
        if not record.body:
            return None
        if record.path == self.chat_path:
            messages = record.body.get("messages")
            return messages if isinstance(messages, list) else None
        if record.path == self.responses_path and self.serves_responses:
            return chat_messages(record.body)
        return None

    # ---- model lists ----------------------------------------------------------------

    def _models_list(self) -> Any:
        """GET /v1/models, shaped like OpenAI's."""
        return model_list(self.models)

    def _one_model(self, model: str) -> dict:
        """GET /v1/models/{id}."""
        if model not in self.models:
            message = f"The model '{model}' does not exist"
            raise ApiError(404, message, param="model", code="model_not_found")
        return model_object(model)

    # ---- chat completions -----------------------------------------------------------

    async def _chat(self, request: web.Request, record: Recorded) -> web.StreamResponse:
        """POST /v1/chat/completions: validate, plan the answer, send it."""
        body = record.body
        if body is None:
            raise ApiError(400, BAD_JSON_MESSAGE)
        self._validate(body)
        answer = self._plan(body)
        envelope = Envelope.for_request(body)
        fault = self._fault_for(record, BODY_FAULTS)
        if fault is not None and fault.kind == "empty":
            answer = answer.emptied(fault.opts.get("finish_reason", "stop"))
            fault = None
        if body.get("stream") is True and not (
            fault and fault.kind == "json_instead_of_sse"
        ):
            stream = self._chat_stream(answer, envelope, body)
            return await send_stream(request, record, stream, fault)
        envelope.include_usage = False
        payload = self._completion(answer, envelope, body)
        return await send_json(request, record, payload, fault)

    def _validate(self, body: dict) -> None:
        """Refuse a chat request the way the server would (raise ApiError)."""
        if self.strict:
            refuse_unknown(body, CHAT_COMPLETION_PARAMS)
        check_basic_shape(body, self.models)
        if self.strict:
            check_openai_rules(body)
            check_chat_schema(body)

    def _plan(self, body: dict) -> Answer:
        """The whole answer to a valid chat request."""
        return plan_answer(body, self.reasoning_field)

    def _chat_stream(self, answer: Answer, envelope: Envelope, body: dict) -> SseAnswer:
        """The answer as `chat.completion.chunk` events, then `[DONE]`."""
        chunks = self._stream_chunks(answer, envelope, body)
        events = [Event(sse(c.data), c.counts, closing=not c.counts) for c in chunks]
        events.append(Event(sse("[DONE]"), closing=True))
        lead = 1  # the role chunk always goes first
        if preamble := self._stream_preamble(body):
            events.insert(0, Event(preamble))
            lead += 1
        return SseAnswer(
            events, lead, answer.delay, TRUNCATED_CHUNK, chat_stream_ending
        )

    def _stream_chunks(
        self, answer: Answer, envelope: Envelope, body: dict
    ) -> list[StreamChunk]:
        """The SSE chunks of an answer, in the order they are sent."""
        return stream_chunks(answer, envelope)

    def _stream_preamble(self, body: dict) -> bytes:
        """Bytes sent before the first chunk (e.g. SSE comments); none for OpenAI."""
        return b""

    def _completion(self, answer: Answer, envelope: Envelope, body: dict) -> dict:
        """The non-streaming answer."""
        return completion_json(answer, envelope)


# --------------------------------------------------------------------------------------
# Standalone use
# --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    """Serve until Ctrl-C, for trying the pipe by hand against a known upstream."""
    parser = argparse.ArgumentParser(description="Fake OpenAI API for manual tests")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--no-auth", action="store_true", help="accept any or no key")
    parser.add_argument("--key", action="append", help="accepted key (repeatable)")
    parser.add_argument("--permissive", action="store_true", help="accept any argument")
    parser.add_argument("--no-models", action="store_true", help="404 on /v1/models")
    parser.add_argument("--reasoning-field", choices=["reasoning", "reasoning_content"])
    args = parser.parse_args(argv)
    keys = None if args.no_auth else tuple(args.key or [DEFAULT_KEY])
    server = FakeOpenAI(
        keys=keys,
        strict=not args.permissive,
        list_models=not args.no_models,
        port=args.port,
        reasoning_field=args.reasoning_field,
    ).start()
    print(f"Fake OpenAI API at {server.base_url}", flush=True)
    print(f"Keys: {'(none checked)' if keys is None else ', '.join(keys)}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
