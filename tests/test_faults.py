"""The fault matrix: every way the upstream can fail, streamed and not.

Each failure must end in one message that says what happened and what to do,
naming the valve to change where there is one; text already streamed stays; a
failure is retried only before any answer reached the user, and only when
waiting can help. Through the whole matrix every log record (root logger, DEBUG),
everything written to stdout/stderr, every chunk and every status line is
searched for any 8-character piece of the keys in play: none may appear, even
where the upstream echoes a key back.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from pathlib import Path

import pydantic
import pytest

from tests.owhost import Host, api_body, errors_of, load_pipe, text_of
from tests.upstream import LLAMA_CONTEXT_ERROR, FakeOpenAI, answer_text

# The user's key is not shaped like any provider's: only exact-key redaction can catch
# it. The global key is in play on every chat, even though it is not used to send.
USER_KEY = "local-Q7vKp2Lm9XwR4tZ8nB3c"
GLOBAL_KEY = "sk-G1obQ4lZx8Wv2Ut6Sr0Pq3Mn"
WRONG_KEY = "sk-Wr0ngK3yJh5Gf7Dd9Ss1Aa2Z"
KEY_PIECE = 8
QUESTION = "one two three four five six"


def key_pieces(*keys: str) -> set[str]:
    return {key[i : i + KEY_PIECE] for key in keys for i in range(len(key) - KEY_PIECE + 1)}


def leaked(text: str, keys: tuple[str, ...]) -> list[str]:
    return sorted(piece for piece in key_pieces(*keys) if piece in text)


class LeakWatch(logging.Handler):
    """Every log record of the process, formatted with its traceback, for leak checks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(threadName)s %(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def watch(capfd):
    """Root logger at DEBUG into a LeakWatch; `check(keys, *outputs)` also reads stdout/stderr."""
    root = logging.getLogger()
    handler, level = LeakWatch(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    def check(keys: tuple[str, ...], *outputs: object) -> str:
        out, err = capfd.readouterr()
        seen = "\n".join([handler.text, out, err, *map(json.dumps, outputs)])
        assert not leaked(seen, keys), f"key pieces {leaked(seen, keys)} in:\n{seen}"
        return seen

    handler.check = check
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


# ---- endpoints that fail before HTTP ---------------------------------------------------


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1, made with `cryptography` or the openssl CLI."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )
        return cert, key
    import datetime
    import ipaddress

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


@pytest.fixture(scope="module")
def tls_url(tmp_path_factory):
    """An HTTPS server whose certificate nobody trusts: the handshake is all it does."""
    cert, key = self_signed_cert(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, name="TLSServer", daemon=True)
    thread.start()
    address = listener.getsockname()
    yield f"https://127.0.0.1:{address[1]}/v1"
    stop.set()
    socket.create_connection(address).close()  # wakes the accept() so the thread ends
    thread.join(5)
    listener.close()


@pytest.fixture(scope="module")
def blackhole_url():
    """A port whose accept queue is full: the kernel drops new SYNs, so connecting hangs.

    Verified on Linux: a connect to it times out instead of being refused.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(address)
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.05)
    yield f"http://127.0.0.1:{address[1]}/v1"
    for sock in fillers + [listener]:
        sock.close()


@pytest.fixture
def upstream():
    with FakeOpenAI(keys=(USER_KEY, GLOBAL_KEY)) as server:
        yield server


@pytest.fixture
async def host(upstream):
    """MAX_RETRIES 2 so every row also shows whether it is retried; REQUEST_TIMEOUT 1 s."""
    host = Host(load_pipe(), {"OPENAI_API_BASE_URL": upstream.base_url,
                              "OPENAI_API_KEY": GLOBAL_KEY, "REQUEST_TIMEOUT": 1,
                              "MAX_RETRIES": 2})
    yield host
    await host.pipe.close()


class Events(list):
    """What Open WebUI's event emitter received: the status lines."""

    async def __call__(self, event: dict) -> None:
        self.append(event)

    @property
    def retries(self) -> list[str]:
        return [e["data"]["description"] for e in self if "Retrying" in e["data"]["description"]]


# ---- the matrix ------------------------------------------------------------------------

ECHO = " (request {id} from key {user_key}; organisation key {global_key})"
FAST_RETRY = {"retry-after-ms": "10"}


@dataclass(frozen=True)
class Fault:
    """One way to fail: how to provoke it and what the user must read."""

    id: str
    needles: tuple[str, ...]  # all in the message, case-insensitive
    fault: tuple[str, dict] | None = None  # upstream.add_fault(kind, **opts)
    whole_fault: tuple[str, dict] | None = None  # the non-streaming variant, if different
    url: str | None = None  # "refused", "dns", "tls", "tls_plain", "blackhole"
    model: str = "gpt-4o"
    user_key: str = USER_KEY
    partial: bool = False  # streaming: part of the answer arrives before the failure
    attempts: int = 1  # with MAX_RETRIES 2 (requests seen upstream, or retry lines + 1)
    retries: int = 2
    absent: tuple[str, ...] = ()
    slow: bool = field(default=False, compare=False)


def status(code: int, **opts) -> tuple[str, dict]:
    return "status", {"code": code, **opts}


def openai_error(message: str, type_: str, code: str | None, param: str | None = None) -> dict:
    return {"error": {"message": message + ECHO, "type": type_, "param": param, "code": code}}


RETRIED = ("MAX_RETRIES is 2", "Tried 3 times")

MATRIX = [
    # -- no HTTP at all
    Fault("connection-refused", ("connection refused", "OPENAI_API_BASE_URL", "MAX_RETRIES is 1"),
          url="refused", attempts=2, retries=1),
    Fault("dns-failure", ("could not be found", "DNS", "OPENAI_API_BASE_URL"), url="dns",
          absent=("MAX_RETRIES",)),
    Fault("tls-untrusted-certificate", ("TLS", "certificate", "OPENAI_API_BASE_URL"), url="tls"),
    Fault("tls-to-plain-http", ("TLS", "http://", "OPENAI_API_BASE_URL"), url="tls_plain"),
    Fault("connect-timeout", ("Connecting", "timed out", "OPENAI_API_BASE_URL"),
          url="blackhole", slow=True),
    Fault("closed-without-answer", ("closed the connection", "Try again", "MAX_RETRIES is 1"),
          fault=("refuse", {"times": 9}), attempts=2, retries=1),
    # -- no answer in time
    Fault("no-first-byte", ("sent nothing", "REQUEST_TIMEOUT"),
          fault=("delay_headers", {"seconds": 3}), slow=True),
    Fault("stall-mid-stream", ("sent nothing", "REQUEST_TIMEOUT"),
          fault=("stall", {"after": 2, "seconds": 3}), partial=True, slow=True),
    # -- broken bodies
    Fault("cut-mid-stream", ("cut off", "Try again"), fault=("cut", {"after": 2}),
          partial=True),
    Fault("reset-mid-stream", ("Try again",), fault=("cut", {"after": 2, "rst": True}),
          partial=True),
    Fault("malformed-json-chunk", ("not valid JSON", "Try again"),
          fault=("malformed", {"after": 2}), partial=True,
          whole_fault=status(200, content_type="application/json",
                             body='{"id": "chatcmpl-1", "choices": [{"message": {"content": "Ec')),
    Fault("error-object-in-stream", ("reported an error", "overloaded"),
          fault=("stream_error", {"after": 2, "message": "The server is overloaded" + ECHO}),
          partial=True,
          whole_fault=status(200, body={"error": {"message": "The server is overloaded" + ECHO}})),
    Fault("error-object-with-status-200", ("reported an error", "overloaded"),
          fault=status(200, body={"error": {"message": "The server is overloaded" + ECHO,
                                            "type": "server_error"}})),
    Fault("empty-answer", ("empty answer", "no text, reasoning or tool call", "Try again"),
          fault=("empty", {})),
    Fault("empty-answer-at-output-limit", ("empty answer", "Max Tokens", "reasoning effort"),
          fault=("empty", {"finish_reason": "length"})),
    Fault("empty-answer-filtered", ("empty answer", "content filter", "rephrase"),
          fault=("empty", {"finish_reason": "content_filter"})),
    # llama-server: a prompt over its context size, as its `error:` SSE line / a 400
    Fault("error-line-in-stream", ("exceeds the available context size", "new chat"),
          fault=("error_field", {"after": 0, "message": LLAMA_CONTEXT_ERROR["message"] + ECHO}),
          whole_fault=status(400, body={"error": {**LLAMA_CONTEXT_ERROR,
                                                  "message": LLAMA_CONTEXT_ERROR["message"]
                                                  + ECHO}})),
    Fault("200-html-page", ("not an OpenAI-compatible", "OPENAI_API_BASE_URL", "/v1"),
          fault=("not_sse", {})),
    Fault("200-plain-text", ("not an OpenAI-compatible", "OPENAI_API_BASE_URL"),
          fault=status(200, content_type="text/plain", body="Welcome to nginx!")),
    # -- HTTP errors, OpenAI's bodies echoing both keys
    Fault("400-bad-request", ("400", "Invalid value for 'messages'", "Chat Controls"),
          fault=status(400, body=openai_error("Invalid value for 'messages'.",
                                              "invalid_request_error", "invalid_value", "messages"))),
    Fault("401-masked-key-echo", ("401", "OPENAI_API_KEY", "Valves"), user_key=WRONG_KEY),
    Fault("401-full-key-echo", ("401", "OPENAI_API_KEY", "Valves"), fault=("echo_key_401", {})),
    Fault("403-forbidden", ("403", "PROJECT_ID", "ORGANIZATION_ID"),
          fault=status(403, body=openai_error("Project `proj_x` does not have access to model",
                                              "invalid_request_error", "model_not_found"))),
    Fault("404-unknown-model", ("404", "gpt-9-imaginary", "MODEL_ALLOWLIST"),
          model="gpt-9-imaginary"),
    Fault("408-request-timeout", ("408", "Try again", *RETRIED),
          fault=status(408, times=9, headers=FAST_RETRY), attempts=3),
    Fault("409-conflict", ("409", "Try again", *RETRIED),
          fault=status(409, times=9, headers=FAST_RETRY), attempts=3),
    Fault("413-too-large", ("413", "too long", "new chat"), fault=status(413, html=True),
          absent=("<html",)),
    Fault("400-context-length", ("too long", "new chat", "128000"),
          fault=status(400, body=openai_error(
              "This model's maximum context length is 128000 tokens.",
              "invalid_request_error", "context_length_exceeded", "messages"))),
    Fault("429-rate-limit", ("429", "Rate limit", "try again", *RETRIED),
          fault=status(429, times=9, headers=FAST_RETRY,
                       message="Rate limit reached for gpt-4o on requests per min." + ECHO),
          attempts=3, absent=("credit", "billing")),
    Fault("429-insufficient-quota", ("insufficient_quota", "credit", "billing"),
          fault=status(429, quota=True, times=9, headers=FAST_RETRY,
                       message="You exceeded your current quota." + ECHO),
          absent=("Wait a moment", "MAX_RETRIES")),
    Fault("500-server-error", ("500", "server error", "try again", *RETRIED),
          fault=status(500, times=9, headers=FAST_RETRY,
                       message="The server had an error." + ECHO), attempts=3),
    Fault("502-proxy-html", ("502", "no details", "try again", *RETRIED),
          fault=status(502, html=True, times=9, headers=FAST_RETRY), attempts=3,
          absent=("<html", "cloudflare")),
    Fault("503-empty-body", ("503", "no details", "try again", *RETRIED),
          fault=status(503, empty=True, times=9, headers=FAST_RETRY), attempts=3),
    Fault("504-proxy-html", ("504", "timed out", "Try again", *RETRIED),
          fault=status(504, html=True, times=9, headers=FAST_RETRY), attempts=3,
          absent=("<html",)),
]


def with_keys(value, fault_id: str, user_key: str):
    """Fill the {user_key}/{global_key} placeholders: the upstream echoes both keys."""
    if isinstance(value, str):
        for name, filling in (("id", fault_id), ("user_key", user_key),
                              ("global_key", GLOBAL_KEY)):
            value = value.replace("{" + name + "}", filling)
        return value
    if isinstance(value, dict):
        return {k: with_keys(v, fault_id, user_key) for k, v in value.items()}
    return value


# /chat/completions rows that say nothing of /responses: llama-server's own SSE field,
# and empty chat answers with a finish reason (on /responses: `response.incomplete`).
CHAT_ONLY = {"error-line-in-stream", "empty-answer-at-output-limit", "empty-answer-filtered"}
# Ways only /responses fails.
RESPONSES_MATRIX = [
    Fault("response-failed", ("reported an error", "The model crashed"),
          fault=("response_failed", {"after": 2, "message": "The model crashed." + ECHO}),
          partial=True),
    Fault("response-incomplete-output-limit", ("incomplete", "Max Tokens", "reasoning effort"),
          fault=("response_incomplete", {"after": 2}), partial=True),
    Fault("response-incomplete-content-filter", ("incomplete", "content filter", "rephrase"),
          fault=("response_incomplete", {"after": 2, "reason": "content_filter"}),
          partial=True),
]
WIRES = [("chat", row) for row in MATRIX] + [
    ("responses", row) for row in MATRIX + RESPONSES_MATRIX if row.id not in CHAT_ONLY
]


@pytest.fixture
def provoke(host, upstream, tls_url, blackhole_url):
    """Set the host and upstream up so that `row` happens on the next chat."""
    urls = {"refused": closed_port_url, "dns": lambda: f"http://pipe-{uuid.uuid4().hex}.invalid/v1",
            "tls": lambda: tls_url, "blackhole": lambda: blackhole_url,
            "tls_plain": lambda: upstream.base_url.replace("http://", "https://")}

    def apply(row: Fault, stream: bool, wire: str = "chat") -> None:
        host.saved_valves["MAX_RETRIES"] = row.retries
        host.saved_valves["RESPONSES_API"] = "always" if wire == "responses" else "never"
        if row.url:
            host.saved_valves["OPENAI_API_BASE_URL"] = urls[row.url]()
        spec = row.fault if stream or row.whole_fault is None else row.whole_fault
        if spec:
            kind, opts = spec
            path = upstream.responses_path if wire == "responses" else upstream.chat_path
            upstream.add_fault(kind, path=path, **with_keys(opts, row.id, row.user_key))

    return apply


def check_message(row: Fault, message: str) -> None:
    lowered = message.lower()
    missing = [needle for needle in row.needles if needle.lower() not in lowered]
    assert not missing, f"{row.id}: {missing} not in {message!r}"
    assert not [text for text in row.absent if text in message], message
    assert "Traceback" not in message and "Exception" not in message
    assert len(message) < 600, message


def attempts(row: Fault, upstream: FakeOpenAI, events: Events, wire: str) -> int:
    if row.url:
        return len(events.retries) + 1
    if wire == "responses":
        return len(upstream.responses_requests())
    return len(upstream.chat_requests())


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("wire, row", WIRES, ids=[f"{w}-{row.id}" for w, row in WIRES])
async def test_fault_matrix(host, upstream, provoke, watch, wire, row, stream):
    if not stream and row.partial and row.whole_fault is None and row.fault[0].startswith(
        "response_"
    ):
        row = replace(row, partial=False)  # a whole answer has no part shown before
    provoke(row, stream, wire)
    events = Events()
    body = api_body(row.model, QUESTION, stream=stream)
    keys = (row.user_key, GLOBAL_KEY)
    started = time.monotonic()
    if stream:
        chunks = await host.stream(body, user_valves={"OPENAI_API_KEY": row.user_key},
                                   emitter=events)
        [message] = errors_of(chunks)
        # The error is the last thing the pipe yields; Open WebUI appends stop + [DONE].
        assert chunks[-3] == {"error": {"message": message, "type": "pipe_error"}}
        assert chunks[-1] == "[DONE]"
        text = text_of(chunks)
        if row.partial:
            assert text and answer_text(QUESTION).startswith(text) and text != answer_text(QUESTION)
        else:
            assert text == ""
        output = chunks
    else:
        answer = await host.call(body, user_valves={"OPENAI_API_KEY": row.user_key},
                                 emitter=events)
        assert set(answer) == {"error"} and "choices" not in answer["error"]
        message = answer["error"]["detail"]
        assert answer["error"]["message"] == message
        output = answer
    elapsed = time.monotonic() - started
    check_message(row, message)
    assert attempts(row, upstream, events, wire) == row.attempts
    assert elapsed < (3 if row.slow else 2.5), elapsed
    watch.check(keys, output, list(events))
    assert message in watch.text  # the admin finds it in the log, redacted too


# ---- retries: only before the answer, only when waiting helps, visible to the user ----

TRANSIENT = {
    "408": status(408), "409": status(409), "429": status(429), "500": status(500),
    "502-html": status(502, html=True), "503-empty": status(503, empty=True),
    "504-html": status(504, html=True),
}


def use_wire(host, upstream, wire: str) -> tuple[str, object]:
    """RESPONSES_API for `wire`: the path its faults go to, and its requests."""
    host.saved_valves["RESPONSES_API"] = "always" if wire == "responses" else "never"
    if wire == "responses":
        return upstream.responses_path, upstream.responses_requests
    return upstream.chat_path, upstream.chat_requests


@pytest.mark.parametrize("wire", ["chat", "responses"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("kind", TRANSIENT)
async def test_transient_failures_are_retried_and_shown(host, upstream, watch, kind, stream,
                                                        wire):
    path, requests = use_wire(host, upstream, wire)
    name, opts = TRANSIENT[kind]
    message = "Try later" + ECHO.format(id=kind, user_key=USER_KEY, global_key=GLOBAL_KEY)
    upstream.add_fault(name, times=2, headers=FAST_RETRY, message=message, path=path, **opts)
    events = Events()
    result = await (host.stream if stream else host.call)(
        api_body("gpt-4o", QUESTION, stream=stream),
        user_valves={"OPENAI_API_KEY": USER_KEY}, emitter=events)
    if stream:
        assert text_of(result) == answer_text(QUESTION) and not errors_of(result)
    else:
        assert result["choices"][0]["message"]["content"] == answer_text(QUESTION)
    assert len(requests()) == 3
    code = kind.split("-")[0]
    assert len(events.retries) == 2
    for attempt, line in enumerate(events.retries, start=1):
        assert f"answered {code}" in line and f"attempt {attempt} of 3" in line, line
    assert events[-1]["data"]["done"] is True  # no "Retrying..." left on screen
    watch.check((USER_KEY, GLOBAL_KEY), result, list(events))


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_connection_errors_are_retried_with_backoff(host, upstream, stream):
    upstream.add_fault("refuse", times=1)
    events = Events()
    started = time.monotonic()
    result = await (host.stream if stream else host.call)(
        api_body("gpt-4o", "hi", stream=stream),
        user_valves={"OPENAI_API_KEY": USER_KEY}, emitter=events)
    elapsed = time.monotonic() - started
    assert len(upstream.chat_requests()) == 2 and len(events.retries) == 1
    assert "connection closed without an answer" in events.retries[0]
    assert 0.5 <= elapsed < 1.5  # first backoff: 0.5-1 s
    assert (text_of(result) if stream else result["choices"][0]["message"]["content"]) == \
        answer_text("hi")


@pytest.mark.parametrize("wire", ["chat", "responses"])
@pytest.mark.parametrize("kind", ["cut", "stall", "malformed", "stream_error"])
async def test_no_retry_once_the_answer_has_started(host, upstream, kind, wire):
    path, requests = use_wire(host, upstream, wire)
    upstream.add_fault(kind, after=1, seconds=3, times=5, path=path)
    events = Events()
    chunks = await host.stream(api_body("gpt-4o", QUESTION, stream=True),
                               user_valves={"OPENAI_API_KEY": USER_KEY}, emitter=events)
    assert text_of(chunks) and len(errors_of(chunks)) == 1
    assert len(requests()) == 1 and not events.retries


def test_backoff_is_exponential_jittered_and_capped():
    from openai_manifold_pipe.transport import backoff

    for attempt, (low, high) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8), (8, 16)]):
        waits = [backoff(attempt) for _ in range(200)]
        assert all(low <= wait <= high for wait in waits)
        assert len(set(waits)) > 100  # jitter: attempts from many users do not align
    assert max(backoff(30) for _ in range(200)) <= 16


async def test_without_retry_after_the_backoff_grows(host, upstream):
    upstream.add_fault("status", code=503, times=2)
    started = time.monotonic()
    answer = await host.call(api_body("gpt-4o", "hi", stream=False),
                             user_valves={"OPENAI_API_KEY": USER_KEY})
    assert answer["choices"] and len(upstream.chat_requests()) == 3
    assert 1.5 <= time.monotonic() - started < 3.5  # 0.5-1 s, then 1-2 s


@pytest.mark.parametrize(
    "headers, low, high",
    [({"Retry-After": "0"}, 0, 0.4),
     ({"Retry-After": "1"}, 0.95, 1.5),
     ({"retry-after-ms": "150"}, 0.14, 0.45),
     ({"retry-after-ms": "120", "Retry-After": "30"}, 0.11, 0.45)],
    ids=["seconds-0", "seconds-1", "milliseconds", "milliseconds-win"],
)
async def test_retry_after_is_honoured(host, upstream, headers, low, high):
    upstream.add_fault("status", code=429, headers=headers)
    started = time.monotonic()
    answer = await host.call(api_body("gpt-4o", "hi", stream=False),
                             user_valves={"OPENAI_API_KEY": USER_KEY})
    elapsed = time.monotonic() - started
    assert answer["choices"] and len(upstream.chat_requests()) == 2
    assert low <= elapsed < high, elapsed


def http_date(seconds_from_now: float) -> str:
    """An HTTP date that far ahead of now: the test's now, never collection time."""
    return formatdate(time.time() + seconds_from_now, usegmt=True)


async def test_retry_after_as_http_date_is_honoured(host, upstream):
    upstream.add_fault("status", code=503, headers={"Retry-After": http_date(2)})
    started = time.monotonic()
    answer = await host.call(api_body("gpt-4o", "hi", stream=False),
                             user_valves={"OPENAI_API_KEY": USER_KEY})
    assert answer["choices"] and 0.9 <= time.monotonic() - started < 2.6


@pytest.mark.parametrize(
    "headers, seconds",
    # Built when the test runs: a date made at collection may be past by then.
    [(lambda: {"Retry-After": "61"}, "61"), (lambda: {"retry-after-ms": "90000"}, "90"),
     (lambda: {"Retry-After": http_date(300)}, "")],
    ids=["seconds", "milliseconds", "http-date"],
)
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_a_wait_over_the_cap_goes_back_to_the_user(host, upstream, headers, seconds, stream):
    upstream.add_fault("status", code=503, headers=headers())
    started = time.monotonic()
    result = await (host.stream if stream else host.call)(
        api_body("gpt-4o", "hi", stream=stream), user_valves={"OPENAI_API_KEY": USER_KEY})
    message = errors_of(result)[0] if stream else result["error"]["detail"]
    assert "503" in message and f"wait {seconds}" in message and "seconds" in message
    assert len(upstream.chat_requests()) == 1 and time.monotonic() - started < 1


async def test_status_line_is_cleared_when_retries_run_out(host, upstream):
    host.saved_valves["MAX_RETRIES"] = 1
    upstream.add_fault("status", code=503, times=2, headers=FAST_RETRY)
    events = Events()
    chunks = await host.stream(api_body("gpt-4o", "hi", stream=True),
                               user_valves={"OPENAI_API_KEY": USER_KEY}, emitter=events)
    assert errors_of(chunks) and len(events.retries) == 1
    assert events[-1]["data"]["done"] is True


# ---- secrets beyond the upstream's error bodies -----------------------------------------


async def test_a_failing_emitter_never_fails_the_chat_nor_logs_its_text(host, upstream, watch):
    async def emitter(event):
        raise RuntimeError(f"socket for {USER_KEY} and {GLOBAL_KEY} is gone")

    upstream.add_fault("status", code=429, headers=FAST_RETRY)
    chunks = await host.stream(api_body("gpt-4o", "hi", stream=True),
                               user_valves={"OPENAI_API_KEY": USER_KEY}, emitter=emitter)
    assert text_of(chunks) == answer_text("hi") and not errors_of(chunks)
    watch.check((USER_KEY, GLOBAL_KEY), chunks)


def test_credentials_in_the_base_url_are_refused_without_echoing_them():
    """aiohttp cannot send URL credentials with a key; the admin is told at save time."""
    secret = "Pr0xyPa55w0rdXyZ"
    with pytest.raises(pydantic.ValidationError) as error:
        load_pipe().Valves(OPENAI_API_BASE_URL=f"http://admin:{secret}@127.0.0.1:9/v1")
    message = str(error.value)
    assert "OPENAI_API_BASE_URL" in message and "OPENAI_API_KEY" in message
    assert "user name or password" in message


async def test_a_key_echoed_in_a_model_listing_error_is_not_shown(host, upstream, watch):
    host.saved_valves["OPENAI_API_KEY"] = WRONG_KEY
    [entry] = await host.models()
    assert "OPENAI_API_KEY" in entry["name"]
    upstream.add_fault("echo_key_401", path="/v1/models")
    host.saved_valves["MODEL_CACHE_TTL"] = 0
    await host.models()
    watch.check((WRONG_KEY, GLOBAL_KEY), entry)
