"""Open WebUI 0.12.4's way of loading and calling a pipe, for tests without a server.

Mirrors `open_webui/utils/plugin.py` (load) and `open_webui/functions.py`
(valves, parameter injection, stream framing) as HOST.md sections 1-3 and 5
describe them, so the built file is exercised exactly as the host would. The
end-to-end tests under tests/e2e run the real server.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import tempfile
import types
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "openai_manifold_pipe.py"
FUNCTION_ID = "openai_manifold_pipe"
# Valves every Host starts from, under what a test saves: `PIPE_TEST_VALVES='{"RESPONSES_API":
# "never"}'` runs the suite as an admin with that setting would (see test_wire_choice).
TEST_VALVES: dict = json.loads(os.environ.get("PIPE_TEST_VALVES") or "{}")

# ow/utils/plugin.py:replace_imports rewrites these texts anywhere in the file.
REWRITTEN_TEXTS = ("from utils", "from apps", "from main", "from config")


# The body the web page's chat reaches a pipe with (HOST.md section 4): 22 tools.
WEB_TOOL_NAMES = [
    "get_current_timestamp", "calculate_timestamp", "ask_user", "list_knowledge_bases",
    "search_knowledge_bases", "query_knowledge_bases", "search_knowledge_files",
    "query_knowledge_files", "view_knowledge_file", "search_chats", "view_chat",
    "search_notes", "view_note", "write_note", "replace_note_content", "search_memories",
    "add_memory", "replace_memory_content", "list_calendar_events", "create_calendar_event",
    "update_calendar_event", "delete_calendar_event",
]


def tool_spec(name: str) -> dict:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"Open WebUI builtin tool {name}.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string", "description": "input"}},
                "required": [],
            },
        },
    }


WEB_TOOLS = [tool_spec(name) for name in WEB_TOOL_NAMES]


def api_body(model: str, text: str, *, stream: bool, **extra) -> dict:
    """What a client's POST /api/chat/completions reaches the pipe as."""
    return {
        "model": f"{FUNCTION_ID}.{model}",
        "messages": [{"role": "user", "content": text}],
        "stream": stream,
        **extra,
    }


def responses_mode() -> str:
    """The RESPONSES_API this run's pipes use unless a test sets its own."""
    return str(TEST_VALVES.get("RESPONSES_API", "auto")).lower()


def web_body(model: str, text: str, **params) -> dict:
    """What the web page's chat reaches the pipe as: params merged, tools added."""
    body = {
        "stream": True,
        "model": f"{FUNCTION_ID}.{model}",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": text},
        ],
        "temperature": 0.5,
        "max_tokens": 77,
        "tools": WEB_TOOLS,
    }
    body.update(params)
    return body


def task_body(model: str, task: str) -> dict:
    """A background task (title, tags, follow-ups): one templated prompt, not streamed."""
    prompt = f"### Task:\nGenerate {task} for the chat.\n### Chat History:\nUSER: hello"
    return {
        "model": f"{FUNCTION_ID}.{model}",
        "messages": [{"role": "user", "content": prompt}],
        "stream": False,
        "max_tokens": 1000,
    }


def replace_imports(content: str) -> str:
    """`open_webui/utils/plugin.py:replace_imports`, run on the file before exec."""
    for text in REWRITTEN_TEXTS:
        content = content.replace(text, text.replace("from ", "from open_webui."))
    return content


def load_pipe(content: str | None = None):
    """`load_function_module_by_id`: exec the file in a fresh module, instantiate `Pipe` once."""
    content = replace_imports(BUILT.read_text() if content is None else content)
    name = f"function_{FUNCTION_ID}_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as file:
        file.write(content)
    module.__dict__["__file__"] = file.name
    try:
        exec(content, module.__dict__)
        return module.Pipe()
    finally:
        sys.modules.pop(name, None)
        os.unlink(file.name)


class Host:
    """Calls a pipe the way `open_webui/functions.py` does."""

    def __init__(self, pipe, valves: dict | None = None) -> None:
        self.pipe = pipe
        self.saved_valves = {**TEST_VALVES, **(valves or {})}

    def _refresh_valves(self) -> None:
        """On every listing and chat, valves are rebuilt from what was saved."""
        saved = {k: v for k, v in self.saved_valves.items() if v is not None}
        self.pipe.valves = self.pipe.Valves(**saved)

    async def models(self) -> list[dict]:
        self._refresh_valves()
        pipes = self.pipe.pipes
        listed = await pipes() if inspect.iscoroutinefunction(pipes) else pipes()
        return [{"id": f"{FUNCTION_ID}.{p['id']}", "name": p["name"]} for p in listed]

    async def call(
        self,
        body: dict,
        *,
        user_valves: dict | None = None,
        emitter=None,
        task: str | None = None,
        metadata: dict | None = None,
        user_id: str = "user-1",
    ):
        """`generate_function_chat_completion` up to the pipe's return value."""
        self._refresh_valves()
        user = {"id": user_id, "email": "u@example.com", "name": "U", "role": "user"}
        user["valves"] = self.pipe.UserValves(**(user_valves or {}))
        offered = {
            "__user__": user,
            "__event_emitter__": emitter,
            "__event_call__": None,
            "__task__": task,
            "__task_body__": None,
            "__chat_id__": "",
            "__session_id__": None,
            "__message_id__": None,
            # The web path's message ids; the API path has None there.
            "__metadata__": metadata
            if metadata is not None
            else {"chat_id": "chat-1", "message_id": "message-1", "session_id": "s1"},
            "__files__": [],
            "__tools__": {},
            "__request__": None,
            "__oauth_token__": None,
        }
        signature = inspect.signature(self.pipe.pipe).parameters
        params = {"body": body} | {k: v for k, v in offered.items() if k in signature}
        pipe = self.pipe.pipe
        if inspect.iscoroutinefunction(pipe):
            return await pipe(**params)
        return pipe(**params)

    async def stream(self, body: dict, **kwargs) -> list[dict]:
        """The SSE lines Open WebUI's API path would send, parsed; `[DONE]` as a string."""
        result = await self.call(body, **kwargs)
        lines: list[str] = []
        if isinstance(result, dict):
            lines.append(f"data: {json.dumps(result)}")
        elif hasattr(result, "__aiter__"):
            async for item in result:
                lines.append(process_line(item))
            lines.append('data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}')
            lines.append("data: [DONE]")
        return [_parse(line) for line in lines]


def process_line(item) -> str:
    """`functions.py:process_line`: what one yielded item becomes on the wire."""
    if isinstance(item, dict):
        return f"data: {json.dumps(item)}"
    if isinstance(item, bytes):
        item = item.decode()
    if isinstance(item, str) and item.startswith("data:"):
        return item
    finish = None if item else "stop"
    chunk = {"choices": [{"delta": {"content": item} if item else {}, "finish_reason": finish}]}
    return f"data: {json.dumps(chunk)}"


def _parse(line: str):
    data = line[len("data:") :].strip()
    return data if data == "[DONE]" else json.loads(data)


def text_of(chunks: list) -> str:
    """The answer text the user sees from a list of stream chunks."""
    return "".join(
        (choice.get("delta") or {}).get("content") or ""
        for chunk in chunks
        if isinstance(chunk, dict)
        for choice in chunk.get("choices") or ()
    )


def errors_of(chunks: list) -> list[str]:
    return [c["error"]["message"] for c in chunks if isinstance(c, dict) and "error" in c]
