"""A small OpenAI-compatible server for the demo: no key, no network, real-looking answers.

`python3 scripts/demo.py` starts it when no `OPENAI_API_KEY` is set, so the pipe has
something to list and stream from on a machine with no account anywhere. It speaks
the part of OpenAI's API the pipe and Open WebUI use:

- `GET /v1/models`: a handful of ids (chat models, reasoning models and two that the
  pipe's filter hides, `text-embedding-3-small` and `whisper-1`);
- `POST /v1/chat/completions`, streamed or not: a few sentences about the user's
  question, word by word with a small delay; reasoning models (`o4-mini`, `gpt-5`...)
  think first, in `delta.reasoning_content`; usage comes last when
  `stream_options.include_usage` asks for it, then `[DONE]`;
- Open WebUI's background tasks (`### Task:` prompts for a title, tags, follow-ups...)
  get the JSON their templates ask for, so the chat gets a title and suggestions.

Every answer says it comes from this demo server: nobody should mistake it for a model.
Any key, or none, is accepted.

Standalone: `python3 scripts/demo_upstream.py [--port 8099] [--delay 0.03]`; it prints
`Demo upstream ready at http://127.0.0.1:PORT/v1` and serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import socket
import sys
import time
import uuid
from pathlib import Path
from typing import Any

# Its neighbours in scripts/ (also when imported from elsewhere): never tests/.
sys.path.insert(0, str(Path(__file__).resolve().parent))

try:
    from aiohttp import web
except ImportError:  # run with a bare python3: use the project's venv instead
    if __name__ != "__main__":
        raise
    from bootstrap import ensure_venv

    _python = ensure_venv(["host"])
    os.execv(_python, [str(_python), str(Path(__file__).resolve()), *sys.argv[1:]])

from chat_text import last_user_text, message_text  # noqa: E402
from loopthread import LoopThread  # noqa: E402

MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1-mini",
    "o4-mini",
    "gpt-5",
    "gpt-5-mini",
    "text-embedding-3-small",
    "whisper-1",
]
CREATED = 1_715_367_049  # a fixed "created" date for the model list
DEFAULT_DELAY = 0.03  # seconds between streamed words
FOOTNOTE = (
    "_(This answer comes from the demo upstream bundled with the OpenAI Manifold Pipe, "
    "`scripts/demo_upstream.py`: no model was called. Start the demo with "
    "`OPENAI_API_KEY` set to chat with real models.)_"
)


# --------------------------------------------------------------------------------------
# What to say
# --------------------------------------------------------------------------------------


def is_reasoning_model(model: str) -> bool:
    """The o-series and gpt-5 and later (not `*-chat*`), like OpenAI's own rules."""
    name = model.rsplit("/", 1)[-1].lower()
    if "-chat" in name:
        return False
    if re.match(r"o\d+(?:-|$)", name):
        return True
    match = re.match(r"gpt-(\d+)", name)
    return bool(match and int(match.group(1)) >= 5)


def topic_of(question: str) -> str:
    """The question as a short phrase: first line, no trailing punctuation, <= 80 chars."""
    line = next((part for part in question.strip().splitlines() if part.strip()), "")
    line = " ".join(line.split()).rstrip("?!.:; ")
    if len(line) > 80:
        line = line[:80].rsplit(" ", 1)[0] + "..."
    return line or "your message"


def _pick(options: list[str], seed: str, salt: str) -> str:
    digest = hashlib.sha256(f"{salt}:{seed}".encode()).digest()
    return options[digest[0] % len(options)]


OPENINGS = [
    "Good question. Here is a short overview of {topic}.",
    "Let's look at {topic} step by step.",
    "Here is how I would think about {topic}.",
]
BASICS = [
    "At its core, this comes down to a few ideas that fit together: once they are "
    "clear, most of the details follow from them.",
    "The short version is that a small number of principles explain most of it, and "
    "the rest is about how they interact in practice.",
]
POINTS = [
    "1. **Start with the basics.** Pin down what the question is really about and "
    "which terms matter; a precise question usually has a simple answer.",
    "2. **Look at what changes the outcome.** A few factors do most of the work; "
    "it pays to know which ones they are before worrying about the rest.",
    "3. **Check it in practice.** Try a small example, compare it with what you "
    "expected, and adjust from there.",
]
CLOSINGS = [
    "If you tell me more about your situation, I can go into the part that matters "
    "most to you.",
    "Happy to go deeper on any of these points, or to give a concrete example.",
]


GREETING = re.compile(
    r"^(hi|hello|hey|hallo|bonjour|hola|good (morning|evening))\b", re.I
)


def answer_text(question: str, model: str) -> str:
    """A few paragraphs of plausible prose about the question, in Markdown."""
    topic = topic_of(question)
    if GREETING.match(topic) and len(topic.split()) <= 4:
        return "\n\n".join(
            [
                "Hello! I am the demo model behind this chat. Ask me anything, for "
                "example how rainbows form or how to brew a good cup of tea, and I "
                "will stream an answer word by word.",
                FOOTNOTE + f" _Model: {model}._",
            ]
        )
    return "\n\n".join(
        [
            _pick(OPENINGS, question, "open").format(topic=f"“{topic}”"),
            _pick(BASICS, question, "basics"),
            "\n".join(POINTS),
            _pick(CLOSINGS, question, "close"),
            FOOTNOTE + f" _Model: {model}._",
        ]
    )


def reasoning_text(question: str) -> str:
    topic = topic_of(question)
    return (
        f"The user asks about “{topic}”. A good answer is short and structured: "
        "what it is, what matters most, and how to check it in practice. I will "
        "offer to go deeper at the end."
    )


def words(text: str) -> list[str]:
    """Word pieces that join back to exactly `text` (spaces and newlines kept)."""
    return re.findall(r"\s*\S+", text) or [text]


def task_answer(prompt: str) -> str:
    """The JSON an Open WebUI task template asks for (title, tags, follow-ups...)."""
    header = prompt.strip().splitlines()
    task = header[1].lower() if len(header) > 1 else ""
    history = re.search(r"<chat_history>(.*?)</chat_history>", prompt, re.DOTALL)
    first_user = ""
    if history:
        for line in history.group(1).strip().splitlines():
            if line.startswith("USER:"):
                first_user = line[5:].strip()
                break
    topic = topic_of(first_user) if first_user else "General chat"
    if "title" in task:
        title_words = re.findall(r"[\w'-]+", topic)[:4] or ["Demo", "chat"]
        return json.dumps({"title": " ".join(title_words).capitalize()})
    if "tags" in task:
        return json.dumps({"tags": ["General", "Demo"]})
    if "follow" in task or "predict" in task:
        return json.dumps(
            {
                "follow_ups": [
                    "Can you give me a concrete example?",
                    "What are the most common mistakes here?",
                    "Summarize that in three bullet points.",
                ]
            }
        )
    if "search queries" in prompt.lower() or "queries" in task:
        return json.dumps({"queries": []})
    if "autocompletion" in task:
        return json.dumps({"text": ""})
    if "image" in task:
        return json.dumps({"prompt": topic})
    return json.dumps({})


def is_task_prompt(text: str) -> bool:
    """Open WebUI's background task templates; its RAG template is a real question."""
    head = text.lstrip()
    return head.startswith("### Task:") and "Respond to the user query" not in head


def rag_question(text: str) -> str:
    """The user's question inside Open WebUI's RAG template, if that is what this is."""
    match = re.search(r"<user_query>(.*?)</user_query>", text, re.DOTALL)
    return match.group(1).strip() if match else text


def count_tokens(text: str) -> int:
    """A stand-in for a tokenizer: about 4 tokens for every 3 words."""
    return max(1, round(len(text.split()) * 4 / 3))


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------


def error(status: int, message: str, code: str | None = None) -> web.Response:
    body = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": code,
        }
    }
    return web.json_response(body, status=status)


class DemoUpstream:
    """The server; `start()` runs it in a background thread, `stop()` ends it."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, delay: float = DEFAULT_DELAY
    ) -> None:
        self.host = host
        self.port = port
        self.delay = delay
        self._runner: web.AppRunner | None = None
        self._thread: LoopThread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- lifecycle ----------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/v1/models/{model}", self.model)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/health", self.health)
        return app

    async def serve(self) -> None:
        """Bind and start serving on the running loop (port 0: any free port)."""
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> DemoUpstream:
        """Serve from a background thread (RuntimeError if it cannot)."""
        self._thread = LoopThread("demo upstream", self.serve, self.close)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.stop()
        self._thread = None

    # -- routes -------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": True})

    async def models(self, request: web.Request) -> web.Response:
        data = [self._model(model_id) for model_id in MODELS]
        return web.json_response({"object": "list", "data": data})

    async def model(self, request: web.Request) -> web.Response:
        model_id = request.match_info["model"]
        if model_id not in MODELS:
            return self._unknown(model_id)
        return web.json_response(self._model(model_id))

    @staticmethod
    def _model(model_id: str) -> dict:
        return {
            "id": model_id,
            "object": "model",
            "created": CREATED,
            "owned_by": "demo",
        }

    @staticmethod
    def _unknown(model: str) -> web.Response:
        return error(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            "model_not_found",
        )

    async def chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return error(400, "We could not parse the JSON body of your request.")
        if not isinstance(body, dict):
            return error(400, "The request body must be a JSON object.")
        model = body.get("model")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return error(400, "Missing required parameter: 'messages'.")
        if model not in MODELS:
            return self._unknown(str(model))
        if model in ("text-embedding-3-small", "whisper-1"):
            return error(
                400, f"{model} is not a chat model and cannot be used here.", None
            )

        question = last_user_text(messages)
        last = messages[-1] if isinstance(messages[-1], dict) else {}
        if last.get("role") == "user" and is_task_prompt(question):
            content, thinking = task_answer(question), ""
        else:
            if last.get("role") == "tool":
                question = "the result of the tool call"
            question = rag_question(question)
            content = answer_text(question, model)
            thinking = reasoning_text(question) if is_reasoning_model(model) else ""

        prompt_tokens = sum(count_tokens(message_text(m)) + 4 for m in messages)
        reasoning_tokens = count_tokens(thinking) if thinking else 0
        completion_tokens = count_tokens(content) + reasoning_tokens
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
        }
        envelope = {
            "id": "chatcmpl-demo" + uuid.uuid4().hex[:20],
            "created": int(time.time()),
            "model": model,
        }
        if body.get("stream") is True:
            options = body.get("stream_options") or {}
            include_usage = isinstance(options, dict) and bool(
                options.get("include_usage")
            )
            return await self._stream(
                request, envelope, content, thinking, usage if include_usage else None
            )
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if thinking:
            message["reasoning_content"] = thinking
        return web.json_response(
            {
                **envelope,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": usage,
            }
        )

    async def _stream(
        self,
        request: web.Request,
        envelope: dict,
        content: str,
        thinking: str,
        usage: dict | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)

        async def send(data: dict | str) -> None:
            text = data if isinstance(data, str) else json.dumps(data)
            await response.write(f"data: {text}\n\n".encode())

        def chunk(delta: dict, finish: str | None = None) -> dict:
            return {
                **envelope,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        try:
            await send(chunk({"role": "assistant", "content": ""}))
            for piece in words(thinking) if thinking else []:
                await send(chunk({"content": None, "reasoning_content": piece}))
                await asyncio.sleep(self.delay)
            for piece in words(content):
                await send(chunk({"content": piece}))
                await asyncio.sleep(self.delay)
            await send(chunk({}, "stop"))
            if usage is not None:
                await send(
                    {
                        **envelope,
                        "object": "chat.completion.chunk",
                        "choices": [],
                        "usage": usage,
                    }
                )
            await send("[DONE]")
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            pass  # the user pressed stop: nothing left to say
        return response


# --------------------------------------------------------------------------------------
# Standalone use
# --------------------------------------------------------------------------------------


async def _serve_forever(server: DemoUpstream) -> None:
    await server.serve()
    print(f"Demo upstream ready at {server.base_url} (Ctrl-C to stop)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="OpenAI-compatible demo server with canned answers"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument(
        "--delay",
        type=float,
        default=DEFAULT_DELAY,
        help="seconds between streamed words",
    )
    args = parser.parse_args(argv)
    server = DemoUpstream(args.host, args.port, args.delay)
    try:
        asyncio.run(_serve_forever(server))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
