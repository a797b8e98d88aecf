"""Faults a fake server injects: their kinds, a queued `Fault`, and `[[fault:...]]`.

Why faults live in the fake: the pipe's hard parts (timeouts, cut-off streams,
retries, error bodies) only show up when a real server misbehaves on a real socket.

A test queues one with `add_fault(kind, times=1, key=None, model=None, path=...,
stream=None, **opts)`, or writes the same options in the last user message,
`[[fault:KIND k=v ..]]`: there `times=N` limits it to the first N requests carrying
that exact marker text (default: every request), and unknown options are ignored, so
`id=t1` makes a marker unique to one test.

    status        code=int (or "insufficient_quota"), body=dict|str, content_type,
                  headers=dict, retry_after, retry_after_ms, message, quota=true,
                  html=true (proxy page), empty=true (no body)
    delay_headers seconds (default 1): wait before the status line, then answer normally
    stall         after=N answer chunks (default 1), seconds (default 10); on a JSON
                  answer: in the middle of the body
    cut           after=N: close the socket with no final chunk (rst=true: RST)
    malformed     after=N: one truncated `data: {...` line, then the normal rest
    stream_error  after=N: a `data: {"error": ...}` event, then the end (no [DONE])
    error_field   after=N: llama-server's non-standard `error: {...}` line (a prompt
                  over its context size, by default; message=...), then `data: [DONE]`
    empty         a valid answer with nothing in it (finish_reason=stop by default)
    not_sse       200 text/html page, whatever was asked
    json_instead_of_sse  stream=true answered with a plain chat.completion JSON
    refuse        close the connection without a response
    echo_key_401  401 whose message holds the full key received
    response_failed      /responses only: after=N, a `response.failed` event (not
                         streaming: a Response with status failed)
    response_incomplete  /responses only: reason=max_output_tokens|content_filter,
                         after=N: the answer cut there, then `response.incomplete`

Early faults (status, delay_headers, not_sse, refuse, echo_key_401) come before the key
check; the others only hit valid requests, and the SSE-only ones only streaming ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.openai_errors import ERROR_CODE_STATUS, default_error_body
from tests.fakes.recorded import Recorded

# Faults answered before the request is validated (they replace the whole answer) and
# faults that happen while a valid answer is being sent.
EARLY_FAULTS = frozenset(
    {"status", "delay_headers", "not_sse", "refuse", "echo_key_401"}
)
BODY_FAULTS = frozenset(
    {
        "stall",
        "cut",
        "malformed",
        "stream_error",
        "error_field",
        "json_instead_of_sse",
        "empty",
    }
)
# Body faults that only make sense on an SSE stream: a non-streaming request (such as
# Open WebUI's title task) never consumes them.
STREAM_ONLY_FAULTS = frozenset(
    {"malformed", "stream_error", "error_field", "json_instead_of_sse"}
)
# Body faults a JSON answer can meet: it stalls or is cut in the middle of its body.
JSON_FAULTS = BODY_FAULTS - STREAM_ONLY_FAULTS
# Faults only /responses answers (a Response that fails or stops short).
RESPONSES_ONLY_FAULTS = frozenset({"response_failed", "response_incomplete"})
FAULT_KINDS = EARLY_FAULTS | BODY_FAULTS | RESPONSES_ONLY_FAULTS

OPTION_RE = re.compile(
    r"(\w+)=(\{.*?\}(?=\s|$)|\[.*?\](?=\s|$)|\"[^\"]*\"|'[^']*'|\S+)"
)
PROXY_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class Fault:
    """A fault waiting to happen `times` more times on matching requests."""

    kind: str
    times: int = 1
    key: str | None = None
    model: str | None = None
    path: str | None = None  # None: any path
    stream: bool | None = None  # only streaming (True) / non-streaming (False) requests
    opts: dict[str, Any] = field(default_factory=dict)

    @property
    def after(self) -> int:
        """How many answer deltas go out before a mid-answer fault fires."""
        return int(self.opts.get("after", 1))

    @property
    def seconds(self) -> float:
        """How long a stall lasts."""
        return float(self.opts.get("seconds", 10.0))

    @property
    def rst(self) -> bool:
        """Whether a cut resets the connection instead of closing it."""
        return bool(self.opts.get("rst"))

    def matches(self, record: Recorded, kinds: frozenset[str]) -> bool:
        """Whether this fault applies to `record` in a phase that handles `kinds`."""
        if not self.fits(record, kinds) or self.times <= 0:
            return False
        if self.path is not None and self.path != record.path:
            return False
        if self.key is not None and self.key != record.key:
            return False
        if self.model is not None and self.model != record.model:
            return False
        return self.stream is None or self.stream == record.stream

    def fits(self, record: Recorded, kinds: frozenset[str]) -> bool:
        """Whether its kind is due now (an SSE-only fault waits for a stream)."""
        if self.kind not in kinds:
            return False
        return record.stream or self.kind not in STREAM_ONLY_FAULTS


def parse_option(raw: str) -> Any:
    """A marker option value: JSON when it parses (numbers, true, dicts), else text."""
    if raw[:1] == raw[-1:] == "'" and len(raw) >= 2:
        return raw[1:-1]
    try:
        return json.loads(raw)
    except ValueError:
        lowered = raw.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        return raw


def parse_fault_marker(spec: str) -> Fault | None:
    """`status code=503 times=1` -> a Fault (None for an unknown kind)."""
    kind, _, rest = spec.partition(" ")
    if kind not in FAULT_KINDS:
        return None
    opts = {name: parse_option(raw) for name, raw in OPTION_RE.findall(rest)}
    times = opts.pop("times", None)
    return Fault(kind, times=-1 if times is None else int(times), opts=opts)


def status_answer(opts: dict, model: str) -> web.Response:
    """The `status` fault: any code, OpenAI JSON / custom / HTML / empty body."""
    opts = dict(opts)
    code = opts.get("code", 500)
    if isinstance(code, str) and not code.isdigit():
        opts["error_code"] = code  # an OpenAI error code names its usual status
        code = ERROR_CODE_STATUS.get(code, 400)
    code = int(code)
    headers = {str(k): str(v) for k, v in (opts.get("headers") or {}).items()}
    if "retry_after" in opts:
        headers["Retry-After"] = str(opts["retry_after"])
    if "retry_after_ms" in opts:
        headers["retry-after-ms"] = str(opts["retry_after_ms"])
    if opts.get("empty"):  # no body, and no charset either
        response = web.Response(status=code, body=b"", headers=headers)
        content_type = "application/json"
    else:
        text, content_type = status_body(code, model, opts)
        response = web.Response(status=code, text=text, headers=headers)
    response.content_type = opts.get("content_type") or content_type
    return response


def status_body(code: int, model: str, opts: dict) -> tuple[str, str]:
    """(text, default content type) of a `status` fault's body."""
    if opts.get("html"):
        reason = web.Response(status=code).reason
        return PROXY_HTML.format(code=code, reason=reason), "text/html"
    if isinstance(opts.get("body"), str):
        return opts["body"], "text/plain"
    body = opts.get("body")
    if not isinstance(body, dict):
        body = default_error_body(code, model, opts)
    return json.dumps(body, indent=2), "application/json"
