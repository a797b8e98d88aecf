"""The demo's bundled upstream (`scripts/demo_upstream.py`), run standalone.

`python3 scripts/demo.py` points the pipe at this server when no OPENAI_API_KEY is
set, so it must speak the protocol the pipe and Open WebUI expect: a model list,
streamed answers with reasoning, usage and `[DONE]`, plain JSON answers, and the
JSON Open WebUI's title/tags/follow-up tasks ask for. It is started here as a
subprocess, exactly as a user would run it; no Open WebUI is started (the session's
one is not needed either).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.owhost import Host, api_body, load_pipe, web_body

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "demo_upstream.py"

# The opening lines of Open WebUI 0.12.4's task templates (config.py), as the pipe
# forwards them: one user message holding the template with the chat filled in.
CHAT = "<chat_history>\nUSER: How do rainbows form?\nASSISTANT: Sunlight...\n</chat_history>"
TASKS = {
    "title": "### Task:\nGenerate a concise title summarizing the chat history.\n"
    '### Output:\nJSON format: { "title": "your concise title here" }\n' + CHAT,
    "tags": "### Task:\nGenerate 1-3 broad tags categorizing the main themes of the "
    "chat history, along with 1-3 more specific subtopic tags.\n"
    '### Output:\nJSON format: { "tags": ["tag1", "tag2", "tag3"] }\n' + CHAT,
    "follow_ups": "### Task:\nPredict 3-5 useful messages this user might naturally "
    'send next to advance their current objective.\n### Output:\nJSON format: { "follow_ups": '
    '["Suggested next message 1"] }\n' + CHAT,
}


@pytest.fixture(scope="module")
def demo_upstream() -> Iterator[str]:
    """`python scripts/demo_upstream.py --port 0 --delay 0`; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", "0", "--delay", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "Demo upstream ready at http://127.0.0.1:" in line, line
        yield line.split(" at ", 1)[1].split()[0]
    finally:
        process.terminate()
        process.wait(10)


def sse(response: requests.Response) -> list:
    """The `data:` payloads of a stream: JSON objects, and "[DONE]"."""
    events = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            data = line[6:]
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def chat(base: str, model: str, text: str, **body) -> requests.Response:
    response = requests.post(
        f"{base}/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}], **body},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response


def test_lists_a_few_models(demo_upstream):
    response = requests.get(f"{demo_upstream}/models", timeout=10)
    body = response.json()
    assert body["object"] == "list"
    ids = [model["id"] for model in body["data"]]
    assert {"gpt-4o", "gpt-4o-mini", "o4-mini", "gpt-5"} <= set(ids)
    assert all(model["object"] == "model" for model in body["data"])


def test_streams_reasoning_then_answer_then_usage(demo_upstream):
    response = chat(
        demo_upstream,
        "o4-mini",
        "How do rainbows form?",
        stream=True,
        stream_options={"include_usage": True},
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse(response)
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    reasoning = [d["reasoning_content"] for d in deltas if d.get("reasoning_content")]
    content = [d["content"] for d in deltas if d.get("content")]
    assert len(reasoning) > 10 and len(content) > 30  # word by word
    first_content = next(i for i, d in enumerate(deltas) if d.get("content"))
    last_reasoning = max(i for i, d in enumerate(deltas) if d.get("reasoning_content"))
    assert last_reasoning < first_content  # thinks first, then answers
    text = "".join(content)
    assert "How do rainbows form" in text and "demo upstream" in text
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    usage = [c for c in chunks if c.get("usage")]
    assert len(usage) == 1 and usage[0] is chunks[-1] and usage[0]["choices"] == []
    assert usage[0]["usage"]["completion_tokens_details"]["reasoning_tokens"] > 0


def test_chat_model_streams_without_reasoning_or_unasked_usage(demo_upstream):
    events = sse(chat(demo_upstream, "gpt-4o", "Tell me about tea", stream=True))
    deltas = [e["choices"][0]["delta"] for e in events[:-1] if e["choices"]]
    assert not any(d.get("reasoning_content") for d in deltas)
    assert "".join(d.get("content") or "" for d in deltas).startswith(
        ("Good question", "Let's look", "Here is how")
    )
    assert not any(isinstance(e, dict) and e.get("usage") for e in events)


def test_answers_without_streaming(demo_upstream):
    body = chat(demo_upstream, "gpt-5", "Why is the sky blue?").json()
    assert body["object"] == "chat.completion"
    message = body["choices"][0]["message"]
    assert "Why is the sky blue" in message["content"]
    assert message["reasoning_content"]
    assert body["usage"]["total_tokens"] > body["usage"]["prompt_tokens"] > 0
    plain = chat(demo_upstream, "gpt-4o-mini", "hello").json()
    assert "reasoning_content" not in plain["choices"][0]["message"]
    assert plain["choices"][0]["message"]["content"].startswith("Hello!")


@pytest.mark.parametrize("task", sorted(TASKS))
def test_background_tasks_get_json(demo_upstream, task):
    body = chat(demo_upstream, "gpt-4o", TASKS[task], max_tokens=1000).json()
    answer = json.loads(body["choices"][0]["message"]["content"])
    if task == "title":
        assert answer == {"title": "How do rainbows form"}
    elif task == "tags":
        assert answer["tags"] and all(isinstance(t, str) for t in answer["tags"])
    else:
        assert len(answer["follow_ups"]) >= 3


def test_refuses_what_openai_would(demo_upstream):
    unknown = requests.post(
        f"{demo_upstream}/chat/completions",
        json={"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    empty = requests.post(
        f"{demo_upstream}/chat/completions",
        json={"model": "gpt-4o", "messages": []},
        timeout=10,
    )
    assert empty.status_code == 400


async def test_the_pipe_lists_and_streams_from_it(demo_upstream):
    """What the demo configures: no key, ALLOW_GLOBAL_KEY_FALLBACK on."""
    host = Host(
        load_pipe(),
        {"OPENAI_API_BASE_URL": demo_upstream, "ALLOW_GLOBAL_KEY_FALLBACK": True},
    )
    try:
        names = {model["name"] for model in await host.models()}
        assert {"OPENAI/gpt-4o", "OPENAI/o4-mini", "OPENAI/gpt-5"} <= names
        assert not {"OPENAI/whisper-1", "OPENAI/text-embedding-3-small"} & names
        chunks = await host.stream(web_body("gpt-5", "How do rainbows form?"))
        deltas = [
            choice.get("delta") or {}
            for chunk in chunks
            if isinstance(chunk, dict)
            for choice in chunk.get("choices") or []
        ]
        assert "".join(d.get("reasoning_content") or "" for d in deltas)
        assert "rainbows" in "".join(d.get("content") or "" for d in deltas)
        assert any(isinstance(c, dict) and c.get("usage") for c in chunks)
        title = await host.call(
            api_body("gpt-5", TASKS["title"], stream=False), task="title_generation"
        )
        assert json.loads(title["choices"][0]["message"]["content"])["title"]
    finally:
        await host.pipe.close()


def test_demo_help_needs_no_install():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    assert "--port" in result.stdout and "OPENAI_API_KEY" in result.stdout
