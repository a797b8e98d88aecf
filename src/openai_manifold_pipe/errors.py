"""Errors: every failure becomes a sentence the user can act on.

The upstream speaks in status codes, OpenAI error bodies, proxy HTML pages and
aiohttp exceptions; users need to know what happened and what to change. The
texts here name the valve or setting to fix where there is one.
"""

import asyncio
import json
import math
import re
import ssl
import time
from collections.abc import Mapping
from datetime import timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp

# Where a user sets their own key in Open WebUI 0.12.
USER_VALVES_PATH = (
    "your Valves (the knob button beside the message box, or Chat Controls > "
    "Valves > Functions > OpenAI Manifold Pipe)"
)
ADMIN_VALVES_PATH = "Admin Panel > Functions > OpenAI Manifold Pipe > Valves"
NO_USER_KEY = (
    "OPENAI_API_KEY not provided by the user. Set your own API key as "
    f"OPENAI_API_KEY in {USER_VALVES_PATH}, then send your message again."
)

# HTTP statuses worth another attempt before the user has seen anything.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})

_MAX_UPSTREAM_TEXT = 300
_BAD_KEY = re.compile(r"api[ _-]?key\b.{0,40}\b(?:invalid|not valid|incorrect)", re.I)


class PipeError(Exception):
    """A failure with a message that is safe to show (no key, no traceback)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Unreachable(PipeError):
    """No HTTP answer at all: refused, not found, TLS, or nothing within the timeout."""


class UpstreamError(PipeError):
    """The upstream answered with an HTTP error; `detail` holds its parsed body.

    `retry_after` is the wait the upstream asked for, when it named one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        detail: "ErrorDetail",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.detail = detail
        self.retry_after = retry_after


class ErrorDetail:
    """The useful parts of an upstream error body, whatever its shape."""

    __slots__ = ("message", "code", "type", "param")

    def __init__(
        self,
        message: str = "",
        code: str | None = None,
        type: str | None = None,
        param: str | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.type = type
        self.param = param

    @classmethod
    def parse(cls, text: str) -> "ErrorDetail":
        """Read OpenAI's `{"error": {...}}` and the shapes other providers use.

        HTML pages from proxies and empty bodies give an empty message: their
        text would only confuse the user.
        """
        text = (text or "").strip()
        if not text or text.startswith("<"):
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            return cls(message=text)
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: object) -> "ErrorDetail":
        """The same from an error body already decoded (or an error in a stream)."""
        if isinstance(data, list) and data:
            data = data[0]
        if not isinstance(data, dict):
            return cls(message=str(data))
        error = data.get("error", data)
        if isinstance(error, str):
            return cls(message=error)
        if not isinstance(error, dict):
            return cls()
        message = error.get("message") or error.get("detail") or data.get("detail")
        code = error.get("code") or error.get("status")
        return cls(
            message=_as_text(message),
            code=str(code) if code not in (None, "") else None,
            type=error.get("type") if isinstance(error.get("type"), str) else None,
            param=error.get("param") if isinstance(error.get("param"), str) else None,
        )

    @property
    def summary(self) -> str:
        """The message, cut to a length that fits a chat error; the full text stays
        in `message` for the parameter names it may list."""
        return _shorten(self.message)

    @property
    def is_bad_key(self) -> bool:
        """A rejected key, whatever the status: Gemini answers 400 API_KEY_INVALID."""
        if self.code in ("invalid_api_key", "API_KEY_INVALID"):
            return True
        return bool(_BAD_KEY.search(self.message))

    @property
    def is_insufficient_quota(self) -> bool:
        return "insufficient_quota" in (self.code, self.type)

    @property
    def is_context_too_long(self) -> bool:
        text = f"{self.code} {self.type} {self.message}".lower()
        return any(
            sign in text
            for sign in (
                "context_length_exceeded",
                "maximum context length",
                "exceed_context_size",  # llama-server
                "exceeds the available context size",
            )
        )


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MAX_UPSTREAM_TEXT:
        return text[: _MAX_UPSTREAM_TEXT - 1] + "…"
    return text


def host_of(url: str) -> str:
    """The host and port of a URL: enough to recognise it.

    Never the query string nor a `user:password@` part: either may hold a secret
    that is not one of the keys the redactor knows.
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if not host:
        return "the endpoint"
    return f"{host}:{port}" if port else host


def key_advice(key_source: str) -> str:
    """Where the key that was used can be changed."""
    if key_source == "user":
        return f"Check the OPENAI_API_KEY in {USER_VALVES_PATH}."
    if key_source == "global":
        return f"Ask your admin to check the OPENAI_API_KEY in {ADMIN_VALVES_PATH}."
    return (
        "No API key was sent: add your key in "
        f"{USER_VALVES_PATH}, or ask your admin to set one."
    )


def retryable(status: int, detail: ErrorDetail) -> bool:
    """Whether another attempt could succeed; an empty quota never refills by waiting."""
    return status in RETRYABLE_STATUSES and not detail.is_insufficient_quota


def describe_status(
    status: int, detail: ErrorDetail, *, model: str, url: str, key_source: str
) -> str:
    """The user-facing sentence for an HTTP error from the upstream."""
    host = host_of(url)
    said = f' The endpoint said: "{detail.summary}"' if detail.message else ""
    if status == 401 or (status in (400, 403) and detail.is_bad_key):
        return (
            f"The API key was rejected by {host} ({status}). {key_advice(key_source)}"
        )
    if status == 403:
        return (
            f"Access denied by {host} (403).{said} Your key may not have access to "
            f"{model}; check its permissions, or ORGANIZATION_ID and PROJECT_ID in "
            f"{USER_VALVES_PATH}."
        )
    if status == 404:
        return (
            f"The model {model} was not found at {host} (404).{said} Pick another "
            "model, or ask your admin to check OPENAI_API_BASE_URL and MODEL_ALLOWLIST."
        )
    if status == 413 or detail.is_context_too_long:
        return (
            f"The conversation is too long for {model} ({status}).{said} Start a new "
            "chat, remove large files, or pick a model with a larger context window."
        )
    if status == 429 and detail.is_insufficient_quota:
        return (
            f"The account behind this API key has run out of credit at {host} "
            "(429 insufficient_quota). Add credit or raise the limit in the "
            "provider's billing settings; trying again will not help until then."
        )
    if status == 429:
        return f"Rate limit reached at {host} (429).{said} Wait a moment and try again."
    if status in (408, 504):
        return (
            f"{host} timed out before answering ({status}).{said} Try again; if it "
            "keeps happening, shorten the request or try later."
        )
    if status >= 500:
        body = said or " (no details: the body was empty or a proxy's HTML page)"
        return (
            f"{host} had a server error ({status}).{body} This is on the provider's "
            "side: try again in a moment."
        )
    if status == 409:
        return f"{host} reported a conflict (409).{said} Try again in a moment."
    if 300 <= status < 400:
        return (
            f"{host} redirected the request ({status}). Ask your admin to set "
            "OPENAI_API_BASE_URL to the address it redirects to (https:// rather "
            "than http://?)."
        )
    if status in (400, 422):
        return (
            f"{host} refused the request ({status}).{said} Check the parameters set "
            f"in Chat Controls, or pick another model."
        )
    return (
        f"{host} answered with an unexpected error ({status}).{said} Try again; if "
        "it keeps happening, ask your admin to check OPENAI_API_BASE_URL."
    )


def describe_exception(
    exc: BaseException, *, url: str, timeout: float | None = None
) -> str:
    """The user-facing sentence for a failure to talk to the upstream at all.

    `timeout` is REQUEST_TIMEOUT, quoted in the message when a read timed out.
    """
    host = host_of(url)
    check_url = f"Ask your admin to check OPENAI_API_BASE_URL in {ADMIN_VALVES_PATH}."
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"The host {host} could not be found (DNS lookup failed). {check_url}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return (
            f"A secure (TLS) connection to {host} failed: its certificate was not "
            f"accepted (self-signed, expired or for another name?). {check_url}"
        )
    if isinstance(exc, (aiohttp.ClientSSLError, ssl.SSLError)) or isinstance(
        getattr(exc, "os_error", None), ssl.SSLError
    ):
        return (
            f"A secure (TLS) connection to {host} failed during the handshake; if "
            f"the endpoint speaks plain HTTP, its URL must start with http://. "
            f"{check_url}"
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"Connecting to {host} timed out. {check_url}"
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        waited = f"for {_seconds(timeout)}" if timeout else "for too long"
        return (
            f"{host} sent nothing {waited}, so the request was stopped. Try again; "
            "if the model needs longer, ask your admin to raise REQUEST_TIMEOUT."
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"Could not connect to {host} (connection refused). {check_url}"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return (
            f"The connection to {host} was cut off before the answer was complete. "
            "Try again."
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"{host} closed the connection without answering. Try again."
    if isinstance(exc, aiohttp.ClientError):
        return f"The request to {host} failed ({type(exc).__name__}). Try again."
    return f"The request to {host} failed unexpectedly ({type(exc).__name__})."


def _seconds(value: float) -> str:
    return f"{value:g} second" if value == 1 else f"{value:g} seconds"


def short_reason(exc: BaseException) -> str:
    """A few words on why a connection failed, for places with little room."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "host not found"
    if isinstance(
        exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)
    ):
        return "TLS certificate not accepted"
    if isinstance(exc, asyncio.TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection refused"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection closed without an answer"
    return "connection failed"


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait the upstream asked for: `retry-after-ms`, or `Retry-After` in seconds or as a date.

    `headers` is aiohttp's case-insensitive mapping. A value that is not a finite
    number or a date counts as no value at all.
    """
    millis = _finite(headers.get("retry-after-ms"))
    if millis is not None:
        return max(0.0, millis / 1000)
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    seconds = _finite(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" parses as naive; HTTP dates are always UTC
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - time.time())


def _finite(value: str | None) -> float | None:
    try:
        number = float(value or "")
    except ValueError:
        return None
    return number if math.isfinite(number) else None
