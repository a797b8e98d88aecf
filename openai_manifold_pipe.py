"""
title: OpenAI Manifold Pipe
author: OpenAI Manifold Pipe maintainers
version: 0.4.0
license: MIT
description: OpenAI and OpenAI-compatible models in Open WebUI, with per-user API keys.
required_open_webui_version: 0.6.0
"""

# Generated file: please do not edit it by hand.
#
# This is the OpenAI Manifold Pipe as one file, ready to paste into Open WebUI
# (Admin Panel > Functions). scripts/build.py writes it from the Python package
# in src/openai_manifold_pipe/ of the project's repository, where the code is
# maintained and tested; each "# ----- name.py" banner below starts one of its
# modules. Change the package and rebuild: edits made here are lost with the
# next version.

# Contents, in file order. The settings admins and users see are in
# valves.py; Open WebUI loads the Pipe class at the end, in pipe.py.
#
#   endpoint.py           where requests go and how they authenticate, by provider.
#   errors.py             every failure becomes a sentence the user can act on.
#   identity.py           who a chat is for, as OpenAI and the proxies in front of an endpoint see it.
#   quota.py              the USER_QUOTA valve's limits, their calendar windows and their messages.
#   redact.py             the one place keys are removed from what users and logs see.
#   catalog.py            which of the endpoint's models the model picker offers, and caching.
#   sse.py                an incremental reader for the upstream's text/event-stream.
#   chat.py               relaying the upstream's answer to Open WebUI, streamed or whole.
#   status.py             short lines in the chat telling the user what the pipe is doing.
#   transport.py          one pooled aiohttp session, timeouts and retries.
#   rotation.py           several shared keys in OPENAI_API_KEY, taking turns and resting when limited.
#   unreachable.py        the background tasks of a chat whose endpoint just gave no answer.
#   usage.py              the one-line summary shown with an answer: tokens, speed and cost.
#   valves.py             the admin's and each user's settings, checked when saved.
#   credentials.py        the key, organization and project one user's chat goes out with.
#   reasoning.py          what OpenAI's reasoning models accept.
#   payload.py            the request body the upstream receives, and only what it accepts.
#   exchange.py           one chat request on its way to the upstream and back.
#   ledger.py             one row per shared-key chat, in a table of the pipe's own in Open WebUI's database.
#   responses_payload.py  a chat as a request to OpenAI's `/responses`.
#   responses_stream.py   OpenAI's `/responses` events, as the chat chunks Open WebUI reads.
#   pipe.py               the class Open WebUI loads, lists models from and chats through.

import asyncio
import codecs
import fnmatch
import functools
import hashlib
import inspect
import itertools
import json
import logging
import math
import random
import re
import ssl
import sys
import time
import urllib.request
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator

# ----- endpoint.py -----------------------------------------------------------
# Endpoint: where requests go and how they authenticate, by provider.
#
# Almost every provider speaks OpenAI's paths with a Bearer key. Azure OpenAI is
# the exception worth knowing: an `api-key` header, and in its deployment form a
# URL per deployment with an `api-version` query. OpenAI's own API and Azure
# OpenAI also share the strict parameter rules and the GPT-only model filter.
# Ollama is the one server that understands Ollama's own options (`num_ctx`,
# `keep_alive`...), so it is recognised too: by its port, or by its name in the URL.

# Azure OpenAI resources serve only OpenAI's models; AI Foundry serves many vendors'.
_AZURE_OPENAI_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com")
_AZURE_HOSTS = (*_AZURE_OPENAI_HOSTS, ".services.ai.azure.com")
_ANTHROPIC_HOST = "api.anthropic.com"
# Anthropic's own API version header, which its /models listing requires.
ANTHROPIC_VERSION = "2023-06-01"
_DEPLOYMENT = re.compile(r"/openai/deployments/([^/]+)$")
# Ollama's default port; "ollama" in a host or path names it (a Docker service
# `http://ollama:11434/v1`, a reverse proxy, Open WebUI's own `/ollama/v1` relay).
_OLLAMA_PORT = 11434


@dataclass(frozen=True)
class Endpoint:
    """One configured base URL, understood."""

    base: str
    openai_rules: bool
    azure: bool
    anthropic: bool
    ollama: bool
    deployment: str | None
    api_version: str

    @classmethod
    def from_url(cls, url: str, api_version: str) -> "Endpoint":
        base = url.strip().rstrip("/")
        parts = urlsplit(base)
        host = (parts.hostname or "").lower()
        azure = host.endswith(_AZURE_HOSTS)
        match = _DEPLOYMENT.search(parts.path) if azure else None
        return cls(
            base=base,
            openai_rules=host == "api.openai.com" or host.endswith(_AZURE_OPENAI_HOSTS),
            azure=azure,
            anthropic=host == _ANTHROPIC_HOST,
            ollama=_port(parts) == _OLLAMA_PORT
            or "ollama" in f"{host}{parts.path}".lower(),
            deployment=match.group(1) if match else None,
            api_version=api_version.strip(),
        )

    @property
    def chat_url(self) -> str:
        url = f"{self.base}/chat/completions"
        if self.deployment:
            url += f"?api-version={quote(self.api_version)}"
        return url

    @property
    def responses_url(self) -> str:
        return f"{self.base}/responses"

    @property
    def speaks_responses(self) -> bool:
        """OpenAI's own API and Azure OpenAI's v1 form serve /responses for sure."""
        return self.openai_rules and not self.deployment

    @property
    def models_url(self) -> str:
        return f"{self.base}/models"

    def headers(
        self, key: str, *, organization: str = "", project: str = ""
    ) -> dict[str, str]:
        """Headers for one request; no key means no auth header at all, never `Bearer `.

        Anthropic's OpenAI layer takes a Bearer key for chats but lists models
        only with its own `x-api-key`, so both go out.
        """
        headers = {"Content-Type": "application/json"}
        if key:
            if self.azure:
                headers["api-key"] = key
            else:
                headers["Authorization"] = f"Bearer {key}"
            if self.anthropic:
                headers["x-api-key"] = key
                headers["anthropic-version"] = ANTHROPIC_VERSION
        if organization:
            headers["OpenAI-Organization"] = organization
        if project:
            headers["OpenAI-Project"] = project
        return headers


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:  # refused when the valve is saved; never fatal here
        return None


# ----- errors.py -------------------------------------------------------------
# Errors: every failure becomes a sentence the user can act on.
#
# The upstream speaks in status codes, OpenAI error bodies, proxy HTML pages and
# aiohttp exceptions; users need to know what happened and what to change. The
# texts here name the valve or setting to fix where there is one.

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


# ----- identity.py -----------------------------------------------------------
# Identity: who a chat is for, as OpenAI and the proxies in front of an endpoint see it.
#
# Two things, each off unless asked for:
# - `safety_identifier`, on chats that go to OpenAI or Azure OpenAI on the shared
#   key: OpenAI asks applications to say which of their end users sent a request,
#   so abuse by one user is not held against the admin's whole key. It is a hash,
#   never the user's id, name or email.
# - The user-info headers Open WebUI's own connection sends when the host runs with
#   ENABLE_FORWARD_USER_INFO_HEADERS=true, made by the host's own builder where it
#   has one (`open_webui/utils/headers.py`; 0.6.0 has none), so the names the
#   FORWARD_USER_INFO_HEADER_* settings choose and the signed-token form are the
#   host's. The setting is read from the `open_webui.env` module the host has
#   already loaded; outside Open WebUI there is none, and nothing is forwarded.

# The chat id's header before Open WebUI 0.8 let FORWARD_SESSION_INFO_HEADER_CHAT_ID name it.
CHAT_ID_HEADER = "X-OpenWebUI-Chat-Id"


def user_id_of(user: dict | None) -> str | None:
    """The Open WebUI user id in `__user__`, when there is one."""
    user_id = user.get("id") if isinstance(user, dict) else None
    return str(user_id) if user_id else None


def chat_id_of(metadata: dict | None) -> str | None:
    """The chat id in `__metadata__`; None on the API path, which has no chat."""
    chat_id = metadata.get("chat_id") if isinstance(metadata, dict) else None
    return chat_id if chat_id and isinstance(chat_id, str) else None


def safety_identifier(user_id: str) -> str:
    """A stable 64-character stand-in for an Open WebUI user id (OpenAI's maximum)."""
    return hashlib.sha256(f"openai-manifold-pipe:{user_id}".encode()).hexdigest()


def forwarded_headers(
    user: dict | None, metadata: dict | None, request: object = None
) -> dict[str, str]:
    """The user-info headers the host's own connection would send, or none."""
    env = sys.modules.get("open_webui.env")
    if not getattr(env, "ENABLE_FORWARD_USER_INFO_HEADERS", False):
        return {}
    user_id = user_id_of(user)
    if user_id is None:
        return {}
    person = SimpleNamespace(
        id=user_id,
        name=str(user.get("name") or ""),
        email=str(user.get("email") or ""),
        role=str(user.get("role") or ""),
    )
    try:
        from open_webui.utils.headers import include_user_info_headers
    except ImportError:  # Open WebUI 0.6.0: fixed names, and no chat id
        # Quoted, unlike 0.6.0's own: a header cannot carry a name that is not ASCII.
        return {
            "X-OpenWebUI-User-Name": quote(person.name, safe=" "),
            "X-OpenWebUI-User-Id": person.id,
            "X-OpenWebUI-User-Email": person.email,
            "X-OpenWebUI-User-Role": person.role,
        }
    # 0.11 added the incoming request (for the auth-type header).
    if "request" in inspect.signature(include_user_info_headers).parameters:
        headers = dict(include_user_info_headers({}, person, request=request))
    else:
        headers = dict(include_user_info_headers({}, person))
    chat_id = chat_id_of(metadata)
    if chat_id:
        name = getattr(env, "FORWARD_SESSION_INFO_HEADER_CHAT_ID", CHAT_ID_HEADER)
        headers[str(name)] = chat_id
    return headers


# ----- quota.py --------------------------------------------------------------
# Quota: the USER_QUOTA valve's limits, their calendar windows and their messages.
#
# Limits apply to chats on the shared key only, and are counted in the ledger
# (`ledger.py`). Windows are calendar periods in UTC (this hour, this day, this
# ISO week from Monday, this month), so a limit resets at a time a user can be
# told, rather than sliding by the second.

METRICS = ("requests", "tokens", "usd")
PERIODS = ("minute", "hour", "day", "week", "month")
# Once no more than this share of a limit is left, the user is told what is.
NEARLY_USED = 0.2

_LIMIT = re.compile(
    r"\s*(?P<metric>[a-z]+)\s*/\s*(?P<period>[a-z]+)\s*=\s*(?P<amount>\d+(?:\.\d+)?)\s*"
)


@dataclass(frozen=True)
class Limit:
    """One `metric/period=amount` item of USER_QUOTA."""

    metric: str
    period: str
    amount: float

    def __str__(self) -> str:
        return f"{self.metric}/{self.period}={_plain(self.amount)}"


@dataclass(frozen=True)
class Totals:
    """What one user spent on the shared key in one window."""

    requests: int = 0
    tokens: int = 0
    usd: float = 0.0

    def of(self, metric: str) -> float:
        return getattr(self, metric)


@functools.lru_cache(maxsize=8)
def parse_quota(text: str) -> tuple[Limit, ...]:
    """`tokens/day=200000, usd/month=5` as limits; raises ValueError naming the item."""
    limits: dict[tuple[str, str], Limit] = {}
    for item in filter(str.strip, text.lower().split(",")):
        match = _LIMIT.fullmatch(item)
        if (
            not match
            or match["metric"] not in METRICS
            or match["period"] not in PERIODS
        ):
            raise ValueError(
                f"USER_QUOTA item {item.strip()!r} is not metric/period=amount with "
                f"metric {', '.join(METRICS)} and period {', '.join(PERIODS)}, "
                "e.g. requests/hour=60"
            )
        limit = Limit(match["metric"], match["period"], float(match["amount"]))
        if limit.metric != "usd" and not limit.amount.is_integer():
            raise ValueError(f"USER_QUOTA item {item.strip()!r} needs a whole number")
        if (limit.metric, limit.period) in limits:
            raise ValueError(f"USER_QUOTA lists {limit.metric}/{limit.period} twice")
        limits[(limit.metric, limit.period)] = limit
    return tuple(limits.values())


def window_start(period: str, now: datetime) -> datetime:
    """The start of the calendar period (UTC) that `now` falls in."""
    now = now.astimezone(timezone.utc)
    if period == "minute":
        return now.replace(second=0, microsecond=0)
    if period == "hour":
        return now.replace(minute=0, second=0, microsecond=0)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def window_end(period: str, now: datetime) -> datetime:
    """When the period `now` falls in is over and its limit starts again."""
    start = window_start(period, now)
    if period == "month":
        return (start + timedelta(days=32)).replace(day=1)
    step = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}[period]
    return start + timedelta(seconds=step)


def refusal_message(limit: Limit, used: float, now: datetime) -> str:
    """The message for a user who has used up `limit`."""
    resets = window_end(limit.period, now).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"You have reached your limit on the shared key: {_figure(limit.metric, used)} "
        f"of {_figure(limit.metric, limit.amount)} {_this(limit.period)} "
        f"(USER_QUOTA {limit}). It resets at {resets}. To chat before then, add "
        f"your own API key in {USER_VALVES_PATH}."
    )


def left_note(limit: Limit, totals: Totals, now: datetime) -> str | None:
    """`1 request left this hour (until 10:00 UTC)`, once a limit is nearly used.

    Nearly: a fifth or less of it left, or for requests, one or none.
    """
    left = max(limit.amount - totals.of(limit.metric), 0)
    last = limit.metric == "requests" and left <= 1
    if left > limit.amount * NEARLY_USED and not last:
        return None
    when = "%Y-%m-%d %H:%M UTC" if limit.period in ("week", "month") else "%H:%M UTC"
    until = window_end(limit.period, now).strftime(when)
    return (
        f"shared key: {_figure(limit.metric, left)} left {_this(limit.period)} "
        f"(until {until})"
    )


def _figure(metric: str, amount: float) -> str:
    if metric == "usd":
        return f"${amount:,.2f}"
    unit = "request" if metric == "requests" else "token"
    count = int(amount)
    return f"{count:,} {unit}{'' if count == 1 else 's'}"


def _this(period: str) -> str:
    return "today" if period == "day" else f"this {period}"


def _plain(amount: float) -> str:
    return f"{amount:g}" if not amount.is_integer() else str(int(amount))


def judge(
    limits: tuple[Limit, ...], spent: dict[str, Totals], *, task: bool, now: datetime
) -> tuple[str | None, str | None]:
    """(refusal, note) for one more chat, or one more background task, by this user.

    Background tasks (titles, tags, follow-ups) and a model's tool round trips use
    tokens but are not requests: a chat's title, or the answer a tool result was
    fetched for, must not be refused for the message it belongs to.
    """
    notes = []
    used_up: list[tuple[Limit, float]] = []
    for limit in limits:
        if task and limit.metric == "requests":
            continue
        totals = spent.get(limit.period, Totals())
        if totals.of(limit.metric) >= limit.amount:
            used_up.append((limit, totals.of(limit.metric)))
            continue
        if limit.metric == "requests":
            totals = replace(totals, requests=totals.requests + 1)
        note = left_note(limit, totals, now)
        if note:
            notes.append(note)
    if used_up:  # the one that lasts longest: it says when chatting is possible again
        limit, used = max(used_up, key=lambda pair: window_end(pair[0].period, now))
        return refusal_message(limit, used, now), None
    return None, "; ".join(notes) or None


# ----- redact.py -------------------------------------------------------------
# Secrets: the one place keys are removed from what users and logs see.
#
# Every message, model name, status line and log record the pipe produces passes
# through here. Two nets: the exact keys in play (any 8-character piece of them,
# which also catches OpenAI's masked echo `sk-abc12***...wxyz`), and anything shaped
# like a key from a known provider, in case an upstream echoes one we never held.

REDACTED = "[redacted]"

# The smallest piece of a key that counts as leaking it.
KEY_PIECE = 8

_KEY_SHAPED = re.compile(
    r"""
    \b(?:sk|pk|rk)-[A-Za-z0-9_\-]*[A-Za-z0-9_\-*]{6,}   # OpenAI and most compatibles, masked too
    | \bgsk_[A-Za-z0-9]{8,}                             # Groq
    | \bxai-[A-Za-z0-9]{8,}                             # xAI
    | \bAIza[0-9A-Za-z_\-]{20,}                         # Google
    | \bnvapi-[A-Za-z0-9_\-]{8,}                        # NVIDIA
    | \bBearer\s+[^\s"',]+                              # an Authorization header value
    | [^\s"'`:=]{2,}\*{4,}[^\s"'`,.]*                   # any masked secret: abcd****wxyz
    """,
    re.VERBOSE,
)


class Redactor:
    """Removes the given keys, in whole or in part, and key-shaped text.

    Built once per request with that request's keys (the user's and the global
    one), so a key echoed back by the upstream is caught even when its shape is
    unknown.
    """

    def __init__(self, keys: Iterable[str | None] = ()) -> None:
        self._pieces: set[str] = set()
        self._short: list[str] = []
        for key in keys:
            key = (key or "").strip()
            if len(key) >= KEY_PIECE:
                self._pieces.update(
                    key[i : i + KEY_PIECE] for i in range(len(key) - KEY_PIECE + 1)
                )
            elif len(key) >= 4:
                self._short.append(key)

    def __call__(self, text: object) -> str:
        text = _KEY_SHAPED.sub(REDACTED, str(text))
        if self._pieces:
            text = self._without_pieces(text)
        for key in self._short:
            text = text.replace(key, REDACTED)
        return text

    def _without_pieces(self, text: str) -> str:
        """Blank every run of characters covered by an 8-character piece of a key."""
        covered = bytearray(len(text))
        for start in range(len(text) - KEY_PIECE + 1):
            if text[start : start + KEY_PIECE] in self._pieces:
                covered[start : start + KEY_PIECE] = b"\x01" * KEY_PIECE
        if not any(covered):
            return text
        out: list[str] = []
        previous = 0
        for index, char in enumerate(text):
            if covered[index]:
                if not previous:
                    out.append(REDACTED)
            else:
                out.append(char)
            previous = covered[index]
        return "".join(out)


redact_key_shaped = Redactor()


class RedactingFilter(logging.Filter):
    """Last line of defence for log records: no key-shaped text reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_key_shaped(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_key_shaped(
                logging.Formatter().formatException(record.exc_info)
            )
            record.exc_info = None
        return True


log = logging.getLogger("openai_manifold_pipe")
if not any(isinstance(f, RedactingFilter) for f in log.filters):
    log.addFilter(RedactingFilter())

# ----- catalog.py ------------------------------------------------------------
# Catalog: which of the endpoint's models the model picker offers, and caching.
#
# Open WebUI calls pipes() on every model listing and waits for it with no timeout
# of its own, so a listing is served from a per-(URL, key) cache, refreshed at most
# once per TTL with a short timeout, and falls back to the last good list. The
# cache holds what the endpoint said; filters apply on every listing so a valve
# change shows at once.

# Kinds of model that cannot hold a chat on /chat/completions, on any endpoint.
_NOT_CHAT = re.compile(
    r"embed|rerank|tts|whisper|transcri|speech|realtime|moderation|dall-e|image"
    r"|sora|video|\bveo-|\bocr\b|-ocr|-live(?:-|$)|\bbge\b|bge-|minilm",
    re.IGNORECASE,
)
# OpenAI's own ids: the families the GPT filter keeps...
_OPENAI_CHAT_FAMILY = re.compile(r"^(?:gpt-|chatgpt-|o\d+(?:-|$))", re.IGNORECASE)
# ...and those of its ids that only answer on /completions or /responses.
_OPENAI_NOT_CHAT = re.compile(
    r"-instruct|-pro(?:-|$)|davinci|babbage|codex|computer-use|deep-research|audio",
    re.IGNORECASE,
)
_OPENAI_ID = re.compile(
    r"^(?:gpt-|chatgpt-|o\d+(?:-|$)|davinci|babbage|text-|codex|computer-use)",
    re.IGNORECASE,
)
# ...of which these chat on /responses: o1-pro, o3-pro, gpt-5-pro, the codex models.
_RESPONSES_ONLY = re.compile(r"-pro(?:-|$)|codex", re.IGNORECASE)
_NEVER_CHAT = re.compile(r"computer-use|deep-research|audio|-instruct", re.IGNORECASE)

# The id of the one entry shown when the models cannot be listed.
SETUP_MODEL_ID = "setup-required"


def is_chat_model(model_id: str, *, openai_api: bool, responses: bool = False) -> bool:
    """Whether a model can chat, judged by its id: on /chat/completions, and on
    /responses too when `responses` says the pipe may use it.

    The `-instruct` and `-pro` rules only concern OpenAI's own ids: elsewhere
    `kimi-k2-instruct` or `gemini-2.5-pro` are chat models.
    """
    name = model_id.rsplit("/", 1)[-1]
    if _NOT_CHAT.search(name):
        return False
    if responses and responses_only(name):
        return True
    if _OPENAI_ID.match(name) and _OPENAI_NOT_CHAT.search(name):
        return False
    return not openai_api or bool(_OPENAI_CHAT_FAMILY.match(name))


def responses_only(model_id: str) -> bool:
    """An OpenAI chat model that answers on /responses only (o3-pro, gpt-5-codex...)."""
    name = model_id.rsplit("/", 1)[-1]
    return bool(
        _OPENAI_ID.match(name)
        and _RESPONSES_ONLY.search(name)
        and not _NEVER_CHAT.search(name)
    )


def split_list(value: str) -> list[str]:
    """A comma-separated valve as a list of its non-empty items."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def matches(model_id: str, patterns: list[str]) -> bool:
    """Case-insensitive match against ids and shell-style globs."""
    lowered = model_id.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in patterns)


def select_models(
    listed: list[dict],
    *,
    allowlist: list[str],
    blocklist: list[str],
    chat_only: bool,
    openai_api: bool,
    responses: bool = False,
) -> list[dict]:
    """The upstream models to offer, in id order.

    An exact allowlisted id is offered as the admin wrote it, listed or not and
    whatever the filter says; a glob only admits listed models that pass the
    filter. The blocklist always wins.
    """
    exact = [item for item in allowlist if not is_glob(item)]
    exact_lower = {item.lower() for item in exact}
    globs = [item for item in allowlist if is_glob(item)]
    offered: dict[str, dict] = {}
    for model in listed:
        model_id = model["id"]
        if model_id in offered or matches(model_id, blocklist):
            continue
        if model_id.lower() in exact_lower:
            offered[model_id] = model
        elif (
            not chat_only
            or is_chat_model(model_id, openai_api=openai_api, responses=responses)
        ) and (not allowlist or matches(model_id, globs)):
            offered[model_id] = model
    known = {model_id.lower() for model_id in offered}
    for model_id in exact:
        if model_id.lower() not in known and not matches(model_id, blocklist):
            offered[model_id] = {"id": model_id}
            known.add(model_id.lower())
    return sorted(offered.values(), key=lambda model: model["id"].lower())


def parse_model_list(data: object) -> list[dict]:
    """Model entries from a /models answer: OpenAI's `{"data": [...]}` or a bare list."""
    items = data.get("data", data.get("models")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError("no model list in the answer")
    models = []
    for item in items:
        if isinstance(item, str):
            models.append({"id": item})
        elif isinstance(item, dict) and isinstance(item.get("id"), str):
            model = {"id": item["id"]}
            if isinstance(item.get("name"), str) and item["name"].strip():
                model["name"] = item["name"].strip()
            models.append(model)
    return models


@dataclass
class Listing:
    """What the endpoint last said: its models (last good) and any current problem."""

    models: list[dict] | None = None
    problem: str | None = None
    checked_at: float = float("-inf")


class ModelCache:
    """Model lists per (base URL, key), each fetched at most once per TTL.

    Once an endpoint has answered, a listing never waits for it again: an
    expired list is served while a refresh runs in the background, and kept if
    the refresh fails. Only the very first listing of an endpoint waits, for
    at most the listing timeout. Concurrent listings share one fetch, run as
    its own task so a listing abandoned by its caller still completes for the
    others. Keys are stored as digests, never in clear.
    """

    def __init__(self) -> None:
        self._listings: dict[tuple[str, str], Listing] = {}
        self._pending: dict[tuple[str, str], asyncio.Task] = {}

    async def get(
        self,
        base_url: str,
        key: str,
        ttl: float,
        fetch: Callable[[], Awaitable[list[dict]]],
    ) -> Listing:
        slot = (base_url, hashlib.sha256(key.encode()).hexdigest())
        listing = self._listings.get(slot)
        if listing and time.monotonic() - listing.checked_at < ttl:
            return listing
        task = self._pending.get(slot)
        if task is None:
            task = asyncio.ensure_future(self._refresh(slot, fetch))
            self._pending[slot] = task
            task.add_done_callback(lambda _: self._pending.pop(slot, None))
        if listing and listing.models is not None:
            return listing
        return await asyncio.shield(task)

    def close(self) -> None:
        """Stop refreshes still running, for an orderly shutdown."""
        for task in list(self._pending.values()):
            task.cancel()

    async def _refresh(
        self, slot: tuple[str, str], fetch: Callable[[], Awaitable[list[dict]]]
    ) -> Listing:
        previous = self._listings.get(slot, Listing())
        try:
            listing = Listing(models=await fetch())
        except PipeError as error:
            log.warning("model listing failed: %s", error.message)
            listing = Listing(models=previous.models, problem=error.message)
        listing.checked_at = time.monotonic()
        self._listings[slot] = listing
        return listing


def setup_entry(prefix: str, problem: str) -> dict:
    """The one model shown when nothing can be listed; its name says what to fix."""
    return {"id": SETUP_MODEL_ID, "name": f"{prefix}{problem}"}


NO_LISTING_KEY = (
    f"Set OPENAI_API_KEY in {ADMIN_VALVES_PATH} so the pipe can list models "
    "(or list model ids in MODEL_ALLOWLIST)."
)

# ----- sse.py ----------------------------------------------------------------
# SSE: an incremental reader for the upstream's text/event-stream.
#
# Bytes arrive split anywhere: inside a line, between CR and LF, inside a UTF-8
# character. The reader follows the WHATWG event-stream rules (CR, LF and CRLF
# line ends, comments, multi-line data) and yields each event's data as soon as
# its blank line arrives, so chunks reach the user with no added delay.
#
# One field outside the standard is read too: llama-server (llama.cpp) reports a
# failure in the middle of a stream as an `error: {...}` line, which a standard
# reader ignores, leaving the user an empty answer with no reason. Such an event
# comes out as the `{"error": ...}` data other servers send for the same thing.


class SSEReader:
    """Feed it bytes as they come; it returns the data of every completed event."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail = ""
        self._data: list[str] = []
        self._error: list[str] = []
        self._started = False

    def feed(self, chunk: bytes) -> list[str]:
        text = self._tail + self._decoder.decode(chunk)
        if not self._started and text:
            text = text.removeprefix("\ufeff")
            self._started = True
        cr_pending = text.endswith("\r")
        if "\r" in text:
            # A CR at the very end may be the first half of a CRLF: keep it.
            text = text[:-1] if cr_pending else text
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        self._tail = lines.pop() + ("\r" if cr_pending else "")
        events: list[str] = []
        for line in lines:
            self._line(line, events)
        return events

    def close(self) -> list[str]:
        """Events left at the end of the stream.

        The standard drops an event without its blank line; servers that end on
        `data: [DONE]` with no newline are common enough to be lenient here.
        """
        text = self._tail + self._decoder.decode(b"", final=True)
        self._tail = ""
        events: list[str] = []
        for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            self._line(line, events)
        self._dispatch(events)
        return events

    def _line(self, line: str, events: list[str]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "error":
            self._error.append(value)

    def _dispatch(self, events: list[str]) -> None:
        if self._error:
            events.append(_error_event("\n".join(self._error)))
            self._error = []
        if self._data:
            events.append("\n".join(self._data))
            self._data = []


def _error_event(value: str) -> str:
    """`{"error": <the field's JSON>}`, or its text as the error's message."""
    try:
        error = json.loads(value)
    except ValueError:
        error = {"message": value}
    if isinstance(error, dict) and "error" in error:
        error = error["error"]
    return json.dumps({"error": error}, ensure_ascii=False)


# ----- chat.py ---------------------------------------------------------------
# Chat: relaying the upstream's answer to Open WebUI, streamed or whole.
#
# A stream is forwarded chunk for chunk as the upstream sends it, as the original
# `data: ...` text so Open WebUI does not pay for a second JSON encoding. Nothing
# may escape the generator: Open WebUI would drop the text already shown. Every
# failure ends the stream with one error chunk that Open WebUI shows below it, and
# so does an answer with nothing in it: Open WebUI would show an empty message as
# if all were well.

DONE = "[DONE]"
# Delta fields that mean the model has started answering.
_OUTPUT_FIELDS = ("content", "reasoning_content", "reasoning", "thinking", "tool_calls")


@dataclass
class Progress:
    """What a chat has shown so far, for its status line and usage summary."""

    started: float = field(default_factory=time.monotonic)
    responded: bool = False
    first_output: float | None = None
    usage: dict | None = None
    finish_reason: str | None = None
    failed: bool = False

    def note(self, chunk: dict) -> None:
        """Record usage, finish reason and the first answer delta of one chunk."""
        usage = chunk.get("usage")
        if usage:
            self.usage = usage
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
        if self.first_output is None and _has_output(chunk):
            self.first_output = time.monotonic()

    @property
    def answering_seconds(self) -> float:
        """Time spent producing the answer: from its first token when known."""
        return time.monotonic() - (self.first_output or self.started)


def _has_output(chunk: dict, part: str = "delta") -> bool:
    """Whether a chunk's deltas (or a completion's messages) hold any answer."""
    for choice in chunk.get("choices") or ():
        delta = choice.get(part) if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(delta.get(name) for name in _OUTPUT_FIELDS):
            return True
    return False


def empty_answer(url: str, finish_reason: str | None) -> str:
    """What to tell a user whose answer came back with nothing in it."""
    if finish_reason == "length":
        advice = (
            "It reached its output limit before writing anything: raise Max Tokens "
            "in Chat Controls, or lower the reasoning effort."
        )
    elif finish_reason == "content_filter":
        advice = "The provider's content filter held it back: rephrase the message."
    else:
        advice = (
            "Try again; if it keeps happening, check that this model can chat and "
            "that the conversation fits its context window (a new chat helps)."
        )
    return (
        f"{host_of(url)} returned an empty answer: no text, reasoning or tool "
        f"call. {advice}"
    )


def error_chunk(message: str) -> dict:
    """A stream chunk Open WebUI shows as an error under the text already streamed."""
    return {"error": {"message": message, "type": "pipe_error"}}


def error_completion(message: str) -> dict:
    """A non-streaming error: Open WebUI reads `detail` first, clients read `message`."""
    return {"error": {"message": message, "detail": message, "type": "pipe_error"}}


# Reads one wire's stream as chat chunks (dicts, or their `data: ...` lines).
StreamReader = Callable[
    [aiohttp.ClientResponse, str, Progress], AsyncIterator[str | dict]
]
# Turns one wire's whole answer into a chat completion, or raises PipeError.
Converter = Callable[[dict, str], dict]


async def relay_stream(
    response: aiohttp.ClientResponse,
    *,
    url: str,
    timeout: float,
    redact: Callable[[object], str],
    progress: Progress,
    read: StreamReader | None = None,
) -> AsyncIterator[str | dict]:
    """Forward an upstream stream; the connection is closed at once if the user stops.

    `read` understands the wire: /chat/completions unless told otherwise.
    """
    message = None
    try:
        async for item in (read or read_chat_stream)(response, url, progress):
            yield item
    except PipeError as error:
        message = error.message
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        message = describe_exception(exc, url=url, timeout=timeout)
    except Exception as exc:  # nothing may escape into Open WebUI's stream handler
        log.warning("stream failed: %s", redact(repr(exc)))
        message = (
            f"The answer from {host_of(url)} could not be read ({type(exc).__name__})."
        )
    finally:
        # A body read to its end has already gone back to the pool; anything
        # else (a stop, a failure) drops the connection instead of draining it.
        response.close()
    if message is not None:
        progress.failed = True
        message = redact(message)
        log.warning("answer from %s broke off: %s", host_of(url), message)
        yield error_chunk(message)


async def read_chat_stream(
    response: aiohttp.ClientResponse, url: str, progress: Progress
) -> AsyncIterator[str | dict]:
    """/chat/completions: chunks forwarded as they came, checked on the way."""
    if response.content_type == "application/json":
        chunk = completion_as_chunk(await read_whole(response, url))
        progress.note(chunk)
        if progress.first_output is None:
            raise PipeError(empty_answer(url, progress.finish_reason))
        yield chunk
        return
    done = False
    async for events in sse_batches(response, url):
        for event in events:
            if done or event == DONE:
                done = True
                continue
            if progress.first_output and _plain_delta(event):
                yield "data: " + event
                continue
            for chunk, text in _parse_event(event, url):
                if chunk.get("error"):  # OpenRouter sends it with `choices` too
                    raise PipeError(stream_error(chunk["error"], url))
                progress.note(chunk)
                yield text
    if not (done or progress.finish_reason):
        raise PipeError(cut_short(url))
    if progress.first_output is None:
        raise PipeError(empty_answer(url, progress.finish_reason))


async def sse_batches(
    response: aiohttp.ClientResponse, url: str
) -> AsyncIterator[list[str]]:
    """The data of the SSE events each network read completes; a web page is refused.

    A batch per read rather than an event at a time: one generator step less
    for every event of a long answer.
    """
    reader = SSEReader()
    seen_events = False
    first = True
    # _chunks ends with b"" so the reader's last events go through the same checks.
    async for data in _chunks(response):
        if first and (
            response.content_type == "text/html" or data.lstrip()[:1] == b"<"
        ):
            raise PipeError(_not_a_stream(url))
        first = False
        if events := reader.feed(data) if data else reader.close():
            seen_events = True
            yield events
    if not seen_events and not first:
        raise PipeError(_not_a_stream(url))


def cut_short(url: str) -> str:
    """A stream that ended before its answer did."""
    return (
        f"The connection to {host_of(url)} ended before the answer was complete. "
        "Try again."
    )


async def _chunks(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The body as it arrives, then one empty chunk marking its end.

    When the connection drops, aiohttp raises before handing over the bytes it
    had already received. Those are the last words the user was reading, so
    they are passed on first, then the error.
    """
    content = response.content
    try:
        async for data in content.iter_any():
            yield data
    except aiohttp.ClientPayloadError:
        if received := _received_before_the_cut(content):
            yield received
        raise
    yield b""


def _received_before_the_cut(content: aiohttp.StreamReader) -> bytes:
    """Bytes left in aiohttp's buffer; no public API returns them after an error.

    Read defensively: if a later aiohttp keeps them elsewhere, this is empty and
    the user sees the error one chunk earlier.
    """
    buffered = b"".join(getattr(content, "_buffer", None) or ())
    return buffered[getattr(content, "_buffer_offset", 0) :]


def _plain_delta(event: str) -> bool:
    """A mid-answer chunk holding nothing the pipe acts on, forwarded unparsed.

    Most of a stream is such chunks, and decoding each only to forward its text
    unchanged was the pipe's main cost per chunk. Errors, usage, finish reasons,
    multi-line data and anything not shaped like one JSON object are parsed.
    (A quote inside a JSON string is escaped, so `"usage"` cannot occur there.)
    """
    return (
        event[:1] == "{"
        and event[-1:] == "}"
        and "\n" not in event
        and '"error"' not in event
        and _only_nulls(event, '"finish_reason"')
        and _only_nulls(event, '"usage"')
    )


def _only_nulls(event: str, name: str) -> bool:
    count = event.count(name)
    return not count or count == (
        event.count(name + ":null") + event.count(name + ": null")
    )


def _parse_event(event: str, url: str) -> list[tuple[dict, str]]:
    """The chunk(s) in one event's data, each with the line to forward for it."""
    try:
        chunk = json.loads(event)
        if isinstance(chunk, dict):
            return [(chunk, "data: " + event if "\n" not in event else _line(chunk))]
    except ValueError:
        if "\n" in event:
            # A server that separates events with single newlines.
            return [
                pair for line in event.split("\n") for pair in _parse_event(line, url)
            ]
    raise PipeError(
        f"{host_of(url)} sent data that is not valid JSON in the middle of the answer, "
        "so the answer stopped there. Try again."
    )


def _line(chunk: dict) -> str:
    return "data: " + json.dumps(chunk, ensure_ascii=False, separators=(",", ":"))


def _error_text(error: object) -> str:
    if isinstance(error, dict):
        error = error.get("message") or error.get("detail") or json.dumps(error)
    return str(error)


def stream_error(error: object, url: str) -> str:
    """An error the upstream sent in the middle of its stream, readable."""
    detail = ErrorDetail.from_data({"error": error})
    message = f"{host_of(url)} reported an error during the answer: "
    message += detail.summary or _error_text(error)
    if detail.is_context_too_long:
        message += (
            " The conversation is longer than the model's context window: start a "
            "new chat, remove large files, or ask your admin to raise the context size."
        )
    return message


def _not_a_stream(url: str, what: str = "stream") -> str:
    return (
        f"{host_of(url)} answered with something that is not an OpenAI-compatible "
        f"{what} (a web page?). Ask your admin to check OPENAI_API_BASE_URL: it "
        "usually ends in /v1."
    )


async def read_completion(
    response: aiohttp.ClientResponse,
    *,
    url: str,
    timeout: float | None = None,
    convert: Converter | None = None,
) -> dict:
    """The upstream's completion JSON as a dict; any failure is a PipeError.

    `timeout` is REQUEST_TIMEOUT, quoted when the body stops arriving; `convert`
    turns another wire's answer into a chat completion.
    """
    try:
        completion = await read_whole(response, url, convert)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise PipeError(describe_exception(exc, url=url, timeout=timeout)) from None
    finally:
        response.close()  # as in relay_stream: a whole body is already released
    if not _has_output(completion, "message"):
        choices = completion.get("choices") or [{}]
        reason = (
            choices[0].get("finish_reason") if isinstance(choices[0], dict) else None
        )
        raise PipeError(empty_answer(url, reason))
    return completion


async def read_whole(
    response: aiohttp.ClientResponse, url: str, convert: Converter | None = None
) -> dict:
    """A whole JSON answer as a chat completion, unless it is an error."""
    data = await _read_json(response, url)
    return _without_error(convert(data, url) if convert else data, url)


def _without_error(completion: dict, url: str) -> dict:
    """The completion, unless it is an error object sent with status 200."""
    if "error" in completion and not completion.get("choices"):
        raise PipeError(
            f"{host_of(url)} reported an error: {_error_text(completion['error'])}"
        )
    return completion


async def _read_json(response: aiohttp.ClientResponse, url: str) -> dict:
    body = await response.read()
    try:
        data = json.loads(body)
    except ValueError:
        if response.content_type == "application/json" and body.lstrip()[:1] in (
            b"{",
            b"[",
        ):
            raise PipeError(
                f"{host_of(url)} sent an answer that is not valid JSON (cut short?), "
                "so it cannot be shown. Try again."
            ) from None
        data = None
    if not isinstance(data, dict):
        raise PipeError(_not_a_stream(url, "answer"))
    return data


def completion_as_chunk(completion: dict) -> dict:
    """A whole completion as one stream chunk, for upstreams that ignore `stream`."""
    choices = []
    for choice in completion.get("choices") or ():
        delta = dict(choice.get("message") or {})
        if delta.get("tool_calls"):
            delta["tool_calls"] = [
                {"index": index, **call}
                for index, call in enumerate(delta["tool_calls"])
            ]
        choices.append(
            {
                "index": choice.get("index", 0),
                "delta": delta,
                "finish_reason": choice.get("finish_reason") or "stop",
            }
        )
    return {**completion, "object": "chat.completion.chunk", "choices": choices}


# ----- status.py -------------------------------------------------------------
# Status: short lines in the chat telling the user what the pipe is doing.
#
# Open WebUI passes `__event_emitter__` on chats (not on background tasks, and it
# may be absent in older hosts); a failing emitter must never fail the chat.

Emitter = Callable[[dict], Awaitable[None]]


class StatusLine:
    """The chat's status line, or nothing when the host gave no emitter."""

    def __init__(
        self, emitter: Emitter | None, redact: Callable[[object], str]
    ) -> None:
        self._emitter = emitter if callable(emitter) else None
        self._redact = redact
        self._shown = False

    @property
    def visible(self) -> bool:
        return self._emitter is not None

    async def show(self, description: str, *, done: bool = False) -> None:
        if self._emitter is None:
            return
        data = {"description": self._redact(description), "done": done}
        if not description:
            data["hidden"] = True  # else Open WebUI draws an empty, clickable row
        event = {"type": "status", "data": data}
        try:
            await self._emitter(event)
            self._shown = not done
        except Exception as exc:  # the status line is a courtesy, never a failure
            log.debug("status line not shown: %s", type(exc).__name__)

    async def clear(self) -> None:
        """Close a status line left open, so no stale 'Retrying...' stays on screen."""
        if self._shown:
            await self.show("", done=True)

    async def while_silent(
        self, progress: Progress, model: str, reasoning: bool
    ) -> None:
        """Once a second until the answer starts: what the wait is, and how long.

        Nothing is shown in the first second, so a quick answer costs no status
        event (each is a socket.io emit and a database write in Open WebUI).
        """
        while True:
            await asyncio.sleep(1)
            if progress.first_output:
                return
            seconds = f"{time.monotonic() - progress.started:.0f} s"
            if not progress.responded:
                await self.show(f"Waiting for {model}... {seconds}")
            elif reasoning:
                await self.show(f"Thinking... {seconds}")

    async def retrying(self, seconds: float, reason: str) -> None:
        """One line per retry, so the user sees why the answer is late."""
        when = f"in {seconds:.0f} s" if seconds >= 0.5 else "now"
        await self.show(f"{reason} Retrying {when}...")


# ----- transport.py ----------------------------------------------------------
# Transport: one pooled aiohttp session, timeouts and retries.
#
# Everything here is async: Open WebUI runs the pipe on its own event loop, where
# one blocking call would freeze the server for every user. The session carries
# no per-user state (no cookies, no default headers); each request brings its own
# key.

# A model listing must never hold up Open WebUI's model picker for long.
LISTING_TIMEOUT = 5.0
# Connecting is quick or it is not going to happen.
CONNECT_TIMEOUT = 15.0
# Longest wait the pipe takes between attempts; longer asks go back to the user.
MAX_RETRY_WAIT = 60.0
# Error bodies are read up to this size: enough for any real message.
MAX_ERROR_BODY = 64 * 1024

OnRetry = Callable[[float, str], Awaitable[None]]


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: 0.5 s, 1 s, 2 s... spread out."""
    return random.uniform(0.5, 1.0) * min(2.0**attempt, 16.0)


class Transport:
    """The pipe's HTTP client: a session per event loop, reused by every request.

    Open WebUI has no shutdown hook for functions: it drops the old Pipe when an
    admin saves new code. A finalizer then closes the session on its own loop, so
    replaced instances leave no open connections behind.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finalizer: weakref.finalize | None = None
        self._proxies: dict[tuple[str, str | None], dict] = {}

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is None or session.closed or self._loop is not loop:
            if self._finalizer is not None:
                self._finalizer()
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,  # proxies come from _proxy(), netrc never
            )
            self._session, self._loop = session, loop
            self._finalizer = weakref.finalize(self, _close_soon, session, loop)
        return session

    async def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = self._loop = self._finalizer = None

    def _proxy(self, url: str) -> dict:
        """HTTP(S)_PROXY and NO_PROXY for a URL, worked out once per scheme and host.

        aiohttp's trust_env reads them (and ~/.netrc) on every request through a
        thread pool; once is enough, and a netrc entry could clash with the key.
        """
        parts = urlsplit(url)
        slot = (parts.scheme, parts.hostname)
        if slot not in self._proxies:
            self._proxies[slot] = _env_proxy(parts)
        return self._proxies[slot]

    async def list_models(self, url: str, headers: dict[str, str]) -> object:
        """GET <base>/models as JSON, in at most LISTING_TIMEOUT seconds."""
        # aiohttp rounds timeouts of 5 s and more up to a whole second by default.
        timeout = aiohttp.ClientTimeout(
            total=LISTING_TIMEOUT, ceil_threshold=LISTING_TIMEOUT + 1
        )
        try:
            async with self.session().get(
                url,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                **self._proxy(url),
            ) as response:
                if response.status != 200:
                    text = await _read_error(response)
                    raise UpstreamError(
                        f"status {response.status}",
                        status=response.status,
                        detail=ErrorDetail.parse(text),
                    )
                return json.loads(await response.read())
        except PipeError:
            raise
        except ValueError:
            raise PipeError("the model list was not valid JSON") from None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise PipeError(
                f"Cannot reach {host_of(url)} ({short_reason(exc)}): check "
                "OPENAI_API_BASE_URL"
            ) from None

    async def post(
        self,
        url: str,
        payload: dict,
        headers: dict[str, str],
        *,
        timeout: float,
        retries: int,
        key_source: str,
        on_retry: OnRetry | None = None,
        wait_out_rate_limits: bool = True,
    ) -> aiohttp.ClientResponse:
        """POST a chat request; the 200 response is returned open for reading.

        Failures the user has not seen any answer for yet are retried: connection
        errors and the statuses in RETRYABLE_STATUSES, honouring Retry-After.
        Timeouts are not retried: the user has waited long enough already.
        Without `wait_out_rate_limits` a 429 is raised at once, for the caller
        to change keys rather than wait.
        """
        data = json.dumps(payload, ensure_ascii=False).encode()
        client_timeout = aiohttp.ClientTimeout(
            total=None,
            connect=min(CONNECT_TIMEOUT, timeout),
            sock_read=timeout,
        )
        model = str(payload.get("model"))
        for attempt in itertools.count():
            last = attempt >= retries
            try:
                # A redirect would turn the POST into a GET and drop the key on a
                # new host: the user is told the address to use instead.
                response = await self.session().post(
                    url,
                    data=data,
                    headers=headers,
                    timeout=client_timeout,
                    allow_redirects=False,
                    **self._proxy(url),
                )
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                message = describe_exception(exc, url=url, timeout=timeout)
                if not _transient(exc):
                    raise Unreachable(message) from None
                if last:
                    raise Unreachable(message + _gave_up(attempt, retries)) from None
                reason = f"{host_of(url)}: {short_reason(exc)}"
                await _wait(backoff(attempt), reason, attempt, retries, on_retry)
                continue
            if response.status < 300:
                return response
            async with response:
                text = await _read_error(response)
            status, detail = response.status, ErrorDetail.parse(text)
            wait = retry_after_seconds(response.headers)
            message = describe_status(
                status, detail, model=model, url=url, key_source=key_source
            )
            if not retryable(status, detail) or (
                status == 429 and not wait_out_rate_limits
            ):
                raise UpstreamError(
                    message, status=status, detail=detail, retry_after=wait
                )
            if last:
                message += _gave_up(attempt, retries)
                raise UpstreamError(message, status=status, detail=detail)
            if wait is not None and wait > MAX_RETRY_WAIT:
                raise UpstreamError(
                    f"{message} The endpoint asks to wait {wait:.0f} seconds before "
                    "trying again.",
                    status=status,
                    detail=detail,
                )
            reason = f"{host_of(url)} answered {_status_name(status)}"
            wait = backoff(attempt) if wait is None else wait
            await _wait(wait, reason, attempt, retries, on_retry)


def _transient(exc: BaseException) -> bool:
    """Connection failures that another attempt may not meet; timeouts, DNS and TLS are not."""
    return isinstance(exc, aiohttp.ClientConnectionError) and not isinstance(
        exc,
        (
            asyncio.TimeoutError,
            aiohttp.ClientConnectorDNSError,
            aiohttp.ClientConnectorCertificateError,
            aiohttp.ClientSSLError,
        ),
    )


def _env_proxy(parts: SplitResult) -> dict:
    """aiohttp's proxy arguments for a URL from the environment, or none."""
    host = parts.hostname or ""
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return {}
    proxy_parts = urlsplit(proxy)
    if not proxy_parts.username:
        return {"proxy": proxy}
    netloc = proxy_parts.hostname or ""
    if proxy_parts.port:
        netloc += f":{proxy_parts.port}"
    return {
        "proxy": proxy_parts._replace(netloc=netloc).geturl(),
        "proxy_auth": aiohttp.BasicAuth(
            unquote(proxy_parts.username), unquote(proxy_parts.password or "")
        ),
    }


_closing: set[asyncio.Task] = set()


def _close_soon(
    session: aiohttp.ClientSession, loop: asyncio.AbstractEventLoop
) -> None:
    """Close a session no longer used, on the loop it belongs to, from any thread."""
    if session.closed or loop.is_closed():
        return

    def close() -> None:
        task = loop.create_task(session.close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    loop.call_soon_threadsafe(close)


async def _read_error(response: aiohttp.ClientResponse) -> str:
    try:
        body = await response.content.read(MAX_ERROR_BODY)
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return ""
    return body.decode("utf-8", errors="replace")


async def _wait(
    seconds: float, reason: str, attempt: int, retries: int, on_retry: OnRetry | None
) -> None:
    if on_retry is not None:
        await on_retry(seconds, f"{reason} (attempt {attempt + 1} of {retries + 1}).")
    await asyncio.sleep(seconds)


def _gave_up(attempt: int, retries: int) -> str:
    """Where the number of attempts is set, for failures that were worth retrying."""
    if not retries:
        return " It was not retried: MAX_RETRIES is 0."
    return f" Tried {attempt + 1} times (MAX_RETRIES is {retries})."


def _status_name(status: int) -> str:
    """`503 Service Unavailable`: the code and its standard reason phrase."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


# ----- rotation.py -----------------------------------------------------------
# Rotation: several shared keys in OPENAI_API_KEY, taking turns and resting when limited.
#
# One key means one rate limit for the whole instance. With several, comma-separated,
# chats on the shared key take them in turn. A key the upstream answers with 429
# rests for its Retry-After (a minute without one), a key out of quota
# (`insufficient_quota`) for an hour, while the others serve the same chat at once.
# With every key resting, a chat waits once for the first to wake if that is no
# longer than a single key's 429 would be waited out (MAX_RETRY_WAIT), else the
# user is told when to try again. One key keeps the single-key behaviour: its 429s
# are waited out and retried like any other.
#
# What rests is remembered by this process only: a replica that has not met the
# limit yet learns it from its own first 429.

RATE_LIMITED_REST = 60.0
NO_QUOTA_REST = 3600.0


def split_keys(text: str) -> list[str]:
    """The keys of an OPENAI_API_KEY valve: one, or several separated by commas."""
    return [key.strip() for key in text.split(",") if key.strip()]


class KeyRotation:
    """Whose turn it is, and which keys rest until when (monotonic seconds)."""

    def __init__(self) -> None:
        self._turn = itertools.count()
        self._resting: dict[str, float] = {}

    def pick(self, keys: list[str], *, tried: frozenset[str] = frozenset()) -> str:
        """The next key neither resting nor `tried`; PipeError when there is none."""
        now = time.monotonic()
        start = next(self._turn)
        for offset in range(len(keys)):
            key = keys[(start + offset) % len(keys)]
            if key not in tried and self._resting.get(key, 0.0) <= now:
                return key
        wake = min(self._resting.get(key, now) for key in keys)
        raise AllResting(len(keys), max(wake - now, 1.0))

    def rest(self, key: str, error: UpstreamError) -> float:
        """Send a key to rest for as long as its answer asks; the seconds it rests."""
        if error.detail.is_insufficient_quota:
            seconds = NO_QUOTA_REST
        elif error.retry_after is not None:
            seconds = error.retry_after
        else:
            seconds = RATE_LIMITED_REST
        until = max(self._resting.get(key, 0.0), time.monotonic() + seconds)
        self._resting[key] = until
        return seconds


class SharedKey:
    """The shared key one chat is on, and the way to the next one when it must rest."""

    def __init__(self, rotation: KeyRotation, keys: list[str]) -> None:
        self._rotation = rotation
        self._keys = keys
        self.key = rotation.pick(keys)
        self._tried = {self.key}
        self._waited = False

    async def switch(self, error: UpstreamError, wait: OnRetry | None) -> str:
        """Rest the key that got `error` and take the next; PipeError when none is left.

        Each key is tried once per chat, so a Retry-After of zero cannot loop. With
        every key resting, `wait` (the status line), once per chat, when the first
        wakes within MAX_RETRY_WAIT; None: no waiting (MAX_RETRIES is 0).
        """
        seconds = self._rotation.rest(self.key, error)
        log.info(
            "shared key %d of %d rests %.0f s after a %s",
            self._keys.index(self.key) + 1,
            len(self._keys),
            seconds,
            "quota error" if error.detail.is_insufficient_quota else "429",
        )
        try:
            self.key = self._rotation.pick(self._keys, tried=frozenset(self._tried))
        except AllResting as resting:
            if wait is None or self._waited or resting.seconds > MAX_RETRY_WAIT:
                raise
            self._waited = True
            await wait(resting.seconds, "All shared keys are rate-limited.")
            await asyncio.sleep(resting.seconds)
            self._tried.clear()
            self.key = self._rotation.pick(self._keys)
        self._tried.add(self.key)
        return self.key


class AllResting(PipeError):
    """Every shared key rests; the message says when to try again."""

    def __init__(self, count: int, seconds: float) -> None:
        super().__init__(_all_resting(count, seconds))
        self.seconds = seconds


def _all_resting(count: int, seconds: float) -> str:
    at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return (
        f"All {count} shared keys are rate-limited or out of quota right now. Try "
        f"again in {seconds:.0f} s (at {at:%H:%M:%S} UTC), or add your own API key "
        f"in {USER_VALVES_PATH}."
    )


# ----- unreachable.py --------------------------------------------------------
# Unreachable: the background tasks of a chat whose endpoint just gave no answer.
#
# When a chat fails because the endpoint could not be reached at all (connection
# refused, host not found, TLS, nothing within REQUEST_TIMEOUT), Open WebUI still
# runs that chat's background tasks (follow-ups, title, tags) through the pipe, one
# after the other, and each would wait out the same retries and timeouts again
# before the page settles. For a short while those tasks fail at once with the
# chat's own message. What the user sends always tries the endpoint again.

# Long enough for the tasks that follow a failed answer, short enough that a
# later turn's tasks never inherit a failure the endpoint has recovered from.
REMEMBER_SECONDS = 60.0
# Failures kept at most: a dead endpoint with many users must not grow memory.
MAX_CHATS = 1000

# (user id, chat id, base URL): tasks of one user's chat on one endpoint.
ChatKey = tuple[str, str, str]


def chat_key(user: dict | None, metadata: dict | None, base: str) -> ChatKey | None:
    """Who, which chat and where; None on the API path, which has no chat."""
    chat_id = chat_id_of(metadata)
    if chat_id is None:
        return None
    return (user_id_of(user) or "", chat_id, base)


class UnreachableChats:
    """Chats whose endpoint could not be reached a moment ago, with the message."""

    def __init__(self) -> None:
        self._failed: dict[ChatKey, tuple[float, str]] = {}

    def note(self, chat: ChatKey | None, message: str) -> None:
        if chat is None:
            return
        now = time.monotonic()
        if len(self._failed) >= MAX_CHATS:
            self._prune(now)
        self._failed.pop(chat, None)  # re-inserted last: the oldest go first
        self._failed[chat] = (now + REMEMBER_SECONDS, message)

    def recall(self, chat: ChatKey | None) -> str | None:
        """The failure's message while it is fresh, else None."""
        entry = self._failed.get(chat) if chat is not None else None
        if entry is None:
            return None
        expires, message = entry
        if time.monotonic() >= expires:
            del self._failed[chat]
            return None
        return message

    def forget(self, chat: ChatKey | None) -> None:
        if chat is not None:
            self._failed.pop(chat, None)

    def _prune(self, now: float) -> None:
        """Drop expired failures, then the oldest, to make room for one more."""
        for chat, (expires, _) in list(self._failed.items()):
            if expires <= now:
                del self._failed[chat]
        while len(self._failed) >= MAX_CHATS:
            del self._failed[next(iter(self._failed))]


# ----- usage.py --------------------------------------------------------------
# Usage: the one-line summary shown with an answer: tokens, speed and cost.
#
# Prices come from the MODEL_PRICES valve, `model=input/output` in US dollars per
# million tokens; dated snapshots (`gpt-4o-2024-08-06`) use their model's price and
# globs (`gpt-5*`) cover families. The defaults are OpenAI's list prices when this
# version was released: they count on OpenAI's own API and Azure OpenAI only, since
# a `gpt-4o` served by a local server or a router costs something else or nothing.
# Entries an admin adds or changes count on any endpoint.

DEFAULT_PRICES = (
    "gpt-5.4=2.50/15, gpt-5.4-mini=0.75/4.50, gpt-5.2=1.75/14, gpt-5.1=1.25/10, "
    "gpt-5=1.25/10, gpt-5-mini=0.25/2, gpt-5-nano=0.05/0.40, gpt-4.1=2/8, "
    "gpt-4.1-mini=0.40/1.60, gpt-4.1-nano=0.10/0.40, gpt-4o=2.50/10, "
    "gpt-4o-mini=0.15/0.60, o4-mini=1.10/4.40, o3=2/8, o3-mini=1.10/4.40, "
    "o1=15/60, gpt-3.5-turbo=0.50/1.50"
)

_PRICE = re.compile(r"\s*([^=\s,]+)\s*=\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*")
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")

Prices = dict[str, tuple[float, float]]


@functools.lru_cache(maxsize=8)
def parse_prices(text: str) -> Prices:
    """`model=in/out, ...` as a dict; raises ValueError naming the bad item.

    Cached: every answer's summary looks prices up in the same valve text.
    """
    prices: Prices = {}
    for item in filter(str.strip, text.split(",")):
        match = _PRICE.fullmatch(item)
        if not match:
            raise ValueError(
                f"MODEL_PRICES item {item.strip()!r} is not model=input/output, "
                "e.g. gpt-4o=2.50/10 (US dollars per million tokens)"
            )
        prices[match.group(1).lower()] = (float(match.group(2)), float(match.group(3)))
    return prices


@functools.lru_cache(maxsize=8)
def prices_for(text: str, openai_api: bool) -> Prices:
    """The MODEL_PRICES entries that apply on this kind of endpoint."""
    prices = parse_prices(text)
    if openai_api:
        return prices
    listed = parse_prices(DEFAULT_PRICES)
    return {
        model: price for model, price in prices.items() if listed.get(model) != price
    }


def price_of(model: str, prices: Prices) -> tuple[float, float] | None:
    """The price of a model: exact id, then its undated snapshot name, then globs."""
    name = model.rsplit("/", 1)[-1].lower()
    for candidate in (name, _SNAPSHOT.sub("", name)):
        if candidate in prices:
            return prices[candidate]
    for pattern, price in prices.items():
        if fnmatch.fnmatchcase(name, pattern):
            return price
    return None


def summary(
    usage: dict | None, seconds: float, price: tuple[float, float] | None
) -> str:
    """`12 in · 345 out (200 reasoning) · 85 tok/s · $0.0012`, or the time alone."""
    if not isinstance(usage, dict):
        return f"Done in {seconds:.1f} s"
    tokens_in, tokens_out = tokens_of(usage)
    details = usage.get("completion_tokens_details") or {}
    reasoning = _count(details, "reasoning_tokens") if isinstance(details, dict) else 0
    parts = [f"{tokens_in:,} in", f"{tokens_out:,} out"]
    if reasoning:
        parts[-1] += f" ({reasoning:,} reasoning)"
    if seconds > 0 and tokens_out:
        parts.append(f"{tokens_out / seconds:,.0f} tok/s")
    cost = cost_of(usage, price)
    if cost is not None:
        parts.append(_dollars(cost))
    return " · ".join(parts)


def tokens_of(usage: dict | None) -> tuple[int, int]:
    """(input, output) tokens, from either API's usage object."""
    if not isinstance(usage, dict):
        return 0, 0
    return (
        _count(usage, "prompt_tokens", "input_tokens"),
        _count(usage, "completion_tokens", "output_tokens"),
    )


def cost_of(usage: dict | None, price: tuple[float, float] | None) -> float | None:
    """US dollars for a usage at a price, or None when either is unknown."""
    if not price or not isinstance(usage, dict):
        return None
    tokens_in, tokens_out = tokens_of(usage)
    return (tokens_in * price[0] + tokens_out * price[1]) / 1_000_000


def _dollars(cost: float) -> str:
    """Cents matter on long chats, and a short chat must not read as `$0.0000`."""
    if cost >= 1:
        return f"${cost:.2f}"
    if cost >= 0.0001:
        return f"${cost:.4f}"
    return "<$0.0001" if cost else "$0"


def _count(data: dict, *names: str) -> int:
    for name in names:
        value = data.get(name)
        if isinstance(value, (int, float)):
            return int(value)
    return 0


# ----- valves.py -------------------------------------------------------------
# Valves: the admin's and each user's settings, checked when saved.
#
# Names and types match what the original v0.1.2 saved, so an upgrade keeps every
# value. Open WebUI stores only what was sent and validates with these classes, so
# a bad value is refused at save time with a message naming the valve.

EFFORT_LEVELS = ("none", "minimal", "low", "medium", "high", "xhigh")
RESPONSES_API_MODES = ("auto", "always", "never")
SUMMARY_KINDS = ("auto", "concise", "detailed", "off")

# Open WebUI masks a valve whose schema asks for a password input, from 0.8 on;
# before that its form shows no box at all for one, so the key could not be typed.
MASKED_SINCE = (0, 8, 0)
# Forms show each valve by its name, the name README and error messages use,
# rather than pydantic's "Openai Api Key".
_NAMES_AS_TITLES = ConfigDict(field_title_generator=lambda name, _: name)
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(?:-preview)?|preview|latest")


def _secret_input(schema: dict) -> None:
    """A key field: masked where the host can mask it, a plain text box before."""
    if host_version() >= MASKED_SINCE:
        schema["input"] = {"type": "password"}


def host_version() -> tuple[int, ...]:
    """The running Open WebUI's version; outside one (tests, tools), the newest.

    Read from the module Open WebUI itself has loaded, never imported here: an
    import would run its configuration code in a process that is not Open WebUI.
    """
    version = getattr(sys.modules.get("open_webui.env"), "VERSION", None)
    numbers = re.findall(r"\d+", version)[:3] if isinstance(version, str) else []
    return tuple(int(number) for number in numbers) if numbers else (sys.maxsize,)


class Valves(BaseModel):
    """Global settings, set by an admin."""

    model_config = _NAMES_AS_TITLES

    OPENAI_API_KEY: str = Field(
        default="",
        description="Key used to list models. Used for chats only when "
        "ALLOW_GLOBAL_KEY_FALLBACK is on. Several keys, comma-separated, take turns "
        "and stand in for each other when one is rate-limited.",
        json_schema_extra=_secret_input,
    )
    OPENAI_API_BASE_URL: str = Field(
        default="https://api.openai.com/v1",
        description="Any OpenAI-compatible endpoint, e.g. http://localhost:11434/v1.",
    )
    NAME_PREFIX: str = Field(
        default="OPENAI/",
        description="Prefix of every model name in the model picker.",
    )
    MODEL_ALLOWLIST: str = Field(
        default="",
        description="Comma-separated model ids or globs (gpt-4o*). When set, only "
        "these are offered; plain ids are offered even if the endpoint cannot list them.",
    )
    MODEL_BLOCKLIST: str = Field(
        default="",
        description="Comma-separated model ids or globs never offered.",
    )
    CHAT_MODELS_ONLY: bool = Field(
        default=True,
        description="Offer only models that can chat (on OpenAI: GPT and o-series "
        "chat models). Off: offer everything the endpoint lists.",
    )
    ALLOW_GLOBAL_KEY_FALLBACK: bool = Field(
        default=False,
        description="Users without a key of their own chat on the global key (or "
        "with no key at all when it is empty, for local servers).",
    )
    USER_QUOTA: str = Field(
        default="",
        description="Per-user limits on chats that use the global key, e.g. "
        "requests/hour=60, tokens/day=200000, usd/month=5 (periods minute, hour, "
        "day, week, month; calendar periods in UTC). Counted in a table of this "
        "pipe's in Open WebUI's database. Empty: no limits.",
    )
    MODEL_CACHE_TTL: int = Field(
        default=300,
        description="Seconds a fetched model list is reused. If a refresh fails, "
        "the last good list is served.",
    )
    REQUEST_TIMEOUT: int = Field(
        default=600,
        description="Longest wait in seconds for the next data from the endpoint "
        "before the chat ends with an error.",
    )
    MAX_RETRIES: int = Field(
        default=2,
        description="Retries (0-10) of a request that failed before any answer was "
        "shown: connection errors, 408, 409, 429, 500, 502, 503, 504.",
    )
    REASONING_EFFORT: str = Field(
        default="",
        description="Default reasoning_effort for reasoning models when the chat "
        "sets none: none, minimal, low, medium, high or xhigh. Empty: the model's own default.",
    )

    RESPONSES_API: str = Field(
        default="auto",
        description="Use OpenAI's Responses API (reasoning summaries, tools with "
        "reasoning, Responses-only models): auto = for reasoning and Responses-only "
        "models on OpenAI and Azure OpenAI; always = every model, any endpoint that "
        "has /responses; never = /chat/completions only.",
    )
    REASONING_SUMMARY: str = Field(
        default="auto",
        description="Reasoning summary shown as the thought block on the Responses "
        "API: auto, concise, detailed, or off.",
    )

    AZURE_API_VERSION: str = Field(
        default="2024-10-21",
        description="api-version for Azure OpenAI deployment URLs "
        "(.../openai/deployments/<name>). Not used by other endpoints.",
    )

    SHOW_USAGE_SUMMARY: bool = Field(
        default=True,
        description="Show a short line with each answer: tokens in and out, "
        "tokens per second and, where a price is known, the cost.",
    )
    MODEL_PRICES: str = Field(
        default=DEFAULT_PRICES,
        description="Prices for the usage summary: model=input/output in US dollars "
        "per million tokens, comma-separated; globs allowed (gpt-5*=1.25/10). "
        "OpenAI's list prices (the default entries) count on OpenAI and Azure "
        "OpenAI only; entries you add or change count on any endpoint.",
    )

    @field_validator("OPENAI_API_BASE_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "OPENAI_API_BASE_URL must be an http(s) URL such as "
                "https://api.openai.com/v1"
            )
        if parts.username or parts.password:
            raise ValueError(
                "OPENAI_API_BASE_URL must not hold a user name or password: put the "
                "key in OPENAI_API_KEY"
            )
        return value

    @field_validator("MODEL_CACHE_TTL")
    @classmethod
    def _ttl(cls, value: int) -> int:
        if value < 0:
            raise ValueError("MODEL_CACHE_TTL must be 0 seconds or more")
        return value

    @field_validator("REQUEST_TIMEOUT")
    @classmethod
    def _timeout(cls, value: int) -> int:
        if value < 1:
            raise ValueError("REQUEST_TIMEOUT must be at least 1 second")
        return value

    @field_validator("MAX_RETRIES")
    @classmethod
    def _retries(cls, value: int) -> int:
        if not 0 <= value <= 10:
            raise ValueError("MAX_RETRIES must be between 0 and 10")
        return value

    @field_validator("REASONING_EFFORT")
    @classmethod
    def _effort(cls, value: str) -> str:
        if value.strip().lower() not in ("", *EFFORT_LEVELS):
            raise ValueError(
                "REASONING_EFFORT must be empty or one of: " + ", ".join(EFFORT_LEVELS)
            )
        return value

    @field_validator("RESPONSES_API")
    @classmethod
    def _responses_api(cls, value: str) -> str:
        if value.strip().lower() not in RESPONSES_API_MODES:
            raise ValueError(
                "RESPONSES_API must be one of: " + ", ".join(RESPONSES_API_MODES)
            )
        return value

    @field_validator("REASONING_SUMMARY")
    @classmethod
    def _summary(cls, value: str) -> str:
        if value.strip().lower() not in SUMMARY_KINDS:
            raise ValueError(
                "REASONING_SUMMARY must be one of: " + ", ".join(SUMMARY_KINDS)
            )
        return value

    @field_validator("AZURE_API_VERSION")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if not _API_VERSION.fullmatch(value.strip()):
            raise ValueError(
                "AZURE_API_VERSION must look like 2024-10-21, 2025-04-01-preview "
                "or preview"
            )
        return value

    @field_validator("USER_QUOTA")
    @classmethod
    def _quota(cls, value: str) -> str:
        parse_quota(value)
        return value

    @field_validator("MODEL_PRICES")
    @classmethod
    def _prices(cls, value: str) -> str:
        parse_prices(value)
        return value


class UserValves(BaseModel):
    """Each user's own settings, from the Valves button beside the message box."""

    model_config = _NAMES_AS_TITLES

    OPENAI_API_KEY: str = Field(
        default="",
        description="Your own API key: every chat of yours goes out with it.",
        json_schema_extra=_secret_input,
    )
    ORGANIZATION_ID: str = Field(
        default="",
        description="Optional: sent as the OpenAI-Organization header.",
    )
    PROJECT_ID: str = Field(
        default="",
        description="Optional: sent as the OpenAI-Project header.",
    )


# ----- credentials.py --------------------------------------------------------
# Credentials: the key, organization and project one user's chat goes out with.
#
# A user's own key wins; the admin's global key only with ALLOW_GLOBAL_KEY_FALLBACK,
# and of several global keys the one whose turn it is (`rotation.py`). Values that
# cannot travel in an HTTP header are refused here, with the place to fix them,
# rather than failing inside aiohttp with a message that could echo them.


@dataclass(frozen=True)
class Credentials:
    """What one chat goes out with; `source` is "user", "global" or "none"."""

    key: str = field(repr=False)
    source: str
    organization: str
    project: str
    # Several global keys: the one in use, and the way to the next.
    shared: SharedKey | None = None


def credentials(
    valves: Valves, user: dict | None, rotation: KeyRotation
) -> Credentials:
    """The key this user's chats go out with, where it came from, organization, project."""
    own = _user_valve(user, "OPENAI_API_KEY")
    organization = _user_valve(user, "ORGANIZATION_ID")
    project = _user_valve(user, "PROJECT_ID")
    shared = None
    if own:
        key, source, keys = own, "user", [own]
    elif valves.ALLOW_GLOBAL_KEY_FALLBACK:
        keys = split_keys(valves.OPENAI_API_KEY)
        if len(keys) > 1:
            shared = SharedKey(rotation, keys)
        key = shared.key if shared else "".join(keys)
        source = "global" if key else "none"
    else:
        raise PipeError(NO_USER_KEY)
    for name, value in (
        *(("OPENAI_API_KEY", each) for each in keys),  # any shared key may serve
        ("ORGANIZATION_ID", organization),
        ("PROJECT_ID", project),
    ):
        if value and not _sendable(value):
            where = ADMIN_VALVES_PATH if source == "global" else USER_VALVES_PATH
            raise PipeError(
                f"The {name} in {where} contains spaces or characters that cannot "
                "be sent in a request header; paste it again."
            )
    return Credentials(key, source, organization, project, shared)


def _sendable(value: str) -> bool:
    return value.isascii() and value.isprintable() and " " not in value


def _user_valve(user: dict | None, name: str) -> str:
    """A user valve as a clean string; Open WebUI gives a model, tests may give a dict."""
    valves = (user or {}).get("valves") if isinstance(user, dict) else None
    value = (
        valves.get(name) if isinstance(valves, dict) else getattr(valves, name, None)
    )
    return value.strip() if isinstance(value, str) else ""


# ----- reasoning.py ----------------------------------------------------------
# Reasoning: what OpenAI's reasoning models accept.
#
# The o-series (o1, o3, o4-mini, any later oN, o3-pro), gpt-N for N >= 5 and the
# codex models refuse `max_tokens`, most sampling parameters and, depending on the
# generation, some `reasoning_effort` values, `stop`, system messages, tools with
# reasoning on /chat/completions, or some reasoning summaries on /responses.
# Open WebUI sends all of these freely, so the pipe reshapes the request before
# the first attempt instead of letting the user see a 400.

# Parameters every reasoning model refuses, unless noted by its family.
SAMPLING_PARAMS = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "logprobs",
    "top_logprobs",
    "logit_bias",
)
TOOL_PARAMS = ("tools", "tool_choice", "parallel_tool_calls")

_O_SERIES = re.compile(r"o(\d+)(?:-|$)")
_GPT = re.compile(r"gpt-(\d+)(?:\.(\d+))?(?:-|$)")
_PRO = re.compile(r"-pro(?:-|$)")


@dataclass(frozen=True)
class ReasoningFamily:
    """The rules one generation of reasoning models imposes."""

    efforts: tuple[str, ...]
    default_effort: str | None = None
    system_role: str = "developer"
    rejects_stop: bool = False
    samples_without_reasoning: bool = False
    tools_need_no_reasoning: bool = False
    # Reasoning summaries it gives on /responses (OpenAI refuses `concise` so far).
    summaries: tuple[str, ...] = ("auto", "detailed")


def reasoning_family(model: str) -> ReasoningFamily | None:
    """The family of an OpenAI reasoning model id, or None for any other model.

    Matches the last path segment, so `openai/o3` on a router and a gpt-5
    deployment behind a proxy get the same treatment. `*-chat*` ids are the
    non-reasoning chat variants.
    """
    name = model.rsplit("/", 1)[-1].lower()
    if "-chat" in name:
        return None
    if "codex" in name and (name.startswith("codex") or _GPT.match(name)):
        return ReasoningFamily(
            efforts=("low", "medium", "high"), default_effort="medium"
        )
    if match := _O_SERIES.match(name):
        if name.startswith(("o1-mini", "o1-preview")):
            return ReasoningFamily(efforts=(), system_role="user")
        generation = int(match.group(1))
        return ReasoningFamily(
            efforts=("low", "medium", "high"),
            default_effort="medium",
            rejects_stop=generation >= 3 and not name.startswith("o3-mini"),
        )
    if (match := _GPT.match(name)) and int(match.group(1)) >= 5:
        if _PRO.search(name):  # gpt-5-pro thinks hard or not at all
            return ReasoningFamily(efforts=("high",), default_effort="high")
        version = (int(match.group(1)), int(match.group(2) or 0))
        if version < (5, 1):
            return ReasoningFamily(
                efforts=("minimal", "low", "medium", "high"), default_effort="medium"
            )
        if version < (5, 2):
            return ReasoningFamily(
                efforts=("none", "low", "medium", "high"),
                default_effort="none",
                samples_without_reasoning=True,
            )
        return ReasoningFamily(
            efforts=EFFORT_LEVELS[:1] + EFFORT_LEVELS[2:],
            default_effort="none",
            samples_without_reasoning=True,
            tools_need_no_reasoning=True,
        )
    return None


def coerce_effort(effort: str, accepted: tuple[str, ...]) -> str:
    """The accepted effort nearest to the one asked for; ties go to more reasoning.

    `minimal` on o3 becomes `low`, `xhigh` on gpt-5 becomes `high`.
    """
    if effort in accepted:
        return effort
    wanted = EFFORT_LEVELS.index(effort)
    return min(
        accepted,
        key=lambda level: (
            abs(EFFORT_LEVELS.index(level) - wanted),
            -EFFORT_LEVELS.index(level),
        ),
    )


def summary_kind(asked: str, family: ReasoningFamily | None) -> str | None:
    """`reasoning.summary` for a request: the kind asked for, or the nearest accepted.

    `off` asks for none; a model outside the known families gets what was asked.
    """
    kind = asked.strip().lower()
    if kind == "off":
        return None
    if family is not None and kind not in family.summaries:
        return "detailed" if "detailed" in family.summaries else family.summaries[0]
    return kind


def normal_effort(value: object) -> str | None:
    """A valid effort level from a chat param or valve, else None."""
    if isinstance(value, str) and value.strip().lower() in EFFORT_LEVELS:
        return value.strip().lower()
    return None


def apply_reasoning_rules(
    payload: dict, family: ReasoningFamily, default_effort: str | None
) -> None:
    """Reshape a chat request in place so this family accepts it on the first try."""
    if "max_tokens" in payload:
        max_tokens = payload.pop("max_tokens")
        payload.setdefault("max_completion_tokens", max_tokens)
    _rename_leading_system(payload, family.system_role)

    asked = normal_effort(payload.pop("reasoning_effort", None)) or default_effort
    effort = coerce_effort(asked, family.efforts) if asked and family.efforts else None
    if family.tools_need_no_reasoning and payload.get("tools"):
        if effort in (None, "none"):
            effort = "none"
        else:
            # The user asked for reasoning: keep it, and answer without tools.
            for name in TOOL_PARAMS:
                payload.pop(name, None)
    if effort:
        payload["reasoning_effort"] = effort

    reasoning = (effort or family.default_effort) != "none"
    if reasoning or not family.samples_without_reasoning:
        for name in SAMPLING_PARAMS:
            payload.pop(name, None)
    if family.rejects_stop:
        payload.pop("stop", None)


def _rename_leading_system(payload: dict, role: str) -> None:
    messages = payload.get("messages")
    if (
        messages
        and isinstance(messages[0], dict)
        and messages[0].get("role") == "system"
    ):
        payload["messages"] = [{**messages[0], "role": role}, *messages[1:]]


# ----- payload.py ------------------------------------------------------------
# Payload: the request body the upstream receives, and only what it accepts.
#
# Open WebUI hands a pipe its own bookkeeping keys and copies every advanced
# parameter from Chat Controls to the top of the body (`top_k`, `num_ctx`,
# `keep_alive`...). OpenAI's API refuses any argument it does not know, so it gets
# exactly its documented parameters. Ollama's own options go to Ollama only. Other
# endpoints get the rest, since many accept their own sampling parameters (`top_k`,
# `min_p`...); one that refuses some is told apart by its answer (see
# `refused_parameters`).

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


# ----- exchange.py -----------------------------------------------------------
# Exchange: one chat request on its way to the upstream and back.
#
# Everything a request needs travels with it, never on the shared Pipe: the wire
# it takes (`/chat/completions` or `/responses`, see `Wire`), its key and headers,
# its status line. Here the request is sent, refused parameters are shed, an
# endpoint without `/responses` is left for `/chat/completions`, and the answer is
# relayed or read whole, with the usage line after it.

# Writes what a chat used: usage, cost in dollars, whether the upstream answered.
Settle = Callable[[dict | None, float | None, bool], Awaitable[None]]


@dataclass(frozen=True)
class Wire:
    """Where a chat goes, what it sends, and how the answer is read (None: chat)."""

    url: str
    payload: dict
    read: StreamReader | None = None
    convert: Converter | None = None


class ChatRequest:
    """One chat request on its way: everything it needs, none of it on the Pipe."""

    def __init__(
        self,
        transport: Transport,
        refused: dict[tuple[str, str], set[str]],
        valves: Valves,
        endpoint: Endpoint,
        wire: Wire,
        headers: dict[str, str],
        key_source: str,
        status: StatusLine,
        redact: Redactor,
        *,
        fallback: Callable[[], Wire] | None = None,
        on_no_responses: Callable[[], None] | None = None,
        rekey: Callable[[UpstreamError], Awaitable[dict[str, str]]] | None = None,
        settle: Settle | None = None,
        note: str | None = None,
    ) -> None:
        self.transport = transport
        self.refused = refused
        self.valves = valves
        self.endpoint = endpoint
        self.wire = wire
        self.headers = headers
        self.key_source = key_source
        self.status = status
        self.redact = redact
        self.model = wire.payload["model"]
        # /chat/completions, for an endpoint that turns out to have no /responses.
        self.fallback = fallback
        self.on_no_responses = on_no_responses
        # Several shared keys: the headers of the next one, after a 429.
        self.rekey = rekey
        # A quota's ledger row: what the chat used, once it is over.
        self.settle = settle
        # What is left of a nearly used quota, for the usage line.
        self.note = note
        # The message, when the endpoint could not be reached at all.
        self.unreachable: str | None = None

    async def stream(self) -> AsyncIterator[str | dict]:
        """Connect, then hand Open WebUI the stream to read.

        Connecting before returning lets the request overlap Open WebUI's own
        work between calling the pipe and reading its first chunk.
        """
        progress = Progress()
        ticker = self._tick_while_silent(progress)
        response = None
        try:
            response = await self._open()
        except PipeError as error:
            message = self._failed(error)
        except Exception as exc:  # nothing may escape into Open WebUI's stream
            message = self._failed(PipeError(unexpected(exc, self.wire.url)))
        finally:
            if response is None and ticker is not None:
                ticker.cancel()
        if response is None:
            progress.failed = True
            return self._failed_stream(message, progress)
        progress.responded = True
        return self._relay(response, progress, ticker)

    async def _relay(
        self,
        response: aiohttp.ClientResponse,
        progress: Progress,
        ticker: asyncio.Task | None,
    ) -> AsyncIterator[str | dict]:
        items = relay_stream(
            response,
            url=self.wire.url,
            timeout=self.valves.REQUEST_TIMEOUT,
            redact=self.redact,
            progress=progress,
            read=self.wire.read,
        )
        try:
            # aclosing: a stopped chat closes the upstream now, not at next GC.
            async with aclosing(items):
                async for item in items:
                    yield item
                    if ticker is not None and progress.first_output:
                        ticker.cancel()
                        ticker = None
                        await self.status.clear()
        finally:
            if ticker is not None:
                ticker.cancel()
        await self._finish(progress)

    async def _failed_stream(
        self, message: str, progress: Progress
    ) -> AsyncIterator[dict]:
        yield error_chunk(message)
        await self._finish(progress)

    async def complete(self) -> dict:
        progress = Progress()
        ticker = self._tick_while_silent(progress)
        try:
            response = await self._open()
            progress.responded = True
            result = await read_completion(
                response,
                url=self.wire.url,
                timeout=self.valves.REQUEST_TIMEOUT,
                convert=self.wire.convert,
            )
            progress.usage = result.get("usage")
        except PipeError as error:
            progress.failed = True
            result = error_completion(self._failed(error))
        except Exception as exc:
            progress.failed = True
            result = error_completion(
                self._failed(PipeError(unexpected(exc, self.wire.url)))
            )
        finally:
            if ticker is not None:
                ticker.cancel()
        await self._finish(progress)
        return result

    def _tick_while_silent(self, progress: Progress) -> asyncio.Task | None:
        if not self.status.visible:
            return None
        reasoning = reasoning_family(self.model) is not None
        return asyncio.ensure_future(
            self.status.while_silent(progress, self.model, reasoning)
        )

    async def _finish(self, progress: Progress) -> None:
        """Count the chat in the ledger, then show the usage line."""
        if self.settle is None and not self.status.visible:
            return  # the API path without a quota: nothing to count or show
        prices = prices_for(self.valves.MODEL_PRICES, self.endpoint.openai_rules)
        price = price_of(self.model, prices)
        if self.settle is not None:
            await self.settle(
                progress.usage, cost_of(progress.usage, price), progress.responded
            )
        await self._summarize(progress, price)

    async def _summarize(
        self, progress: Progress, price: tuple[float, float] | None
    ) -> None:
        """The usage line shown with the answer, or no line at all."""
        if not self.status.visible:
            return
        if progress.failed:
            await self.status.clear()
            return
        parts = []
        if self.valves.SHOW_USAGE_SUMMARY:
            parts.append(summary(progress.usage, progress.answering_seconds, price))
        if self.note:
            parts.append(self.note)
        if parts:
            await self.status.show(" · ".join(parts), done=True)
        else:
            await self.status.clear()

    async def _open(self) -> aiohttp.ClientResponse:
        """Send the request, shedding parameters the upstream says it does not support.

        Some endpoints name one refused parameter per answer (Groq), so this goes
        on while each refusal names a parameter still in the request: every
        round removes one, so it ends after at most one round per parameter.
        Under RESPONSES_API `auto`, an endpoint without /responses gets the
        same chat on /chat/completions once, before anything was shown.
        """
        while True:
            url, payload = self.wire.url, self.wire.payload
            try:
                response = await self.transport.post(
                    url,
                    payload,
                    self.headers,
                    timeout=self.valves.REQUEST_TIMEOUT,
                    retries=self.valves.MAX_RETRIES,
                    key_source=self.key_source,
                    on_retry=self.status.retrying,
                    wait_out_rate_limits=self.rekey is None,
                )
            except UpstreamError as error:
                if self.rekey is not None and error.status == 429:
                    self.headers = await self.rekey(error)
                    continue
                if self.fallback is not None and no_such_route(error):
                    log.info(
                        "%s has no /responses: using /chat/completions", host_of(url)
                    )
                    if self.on_no_responses is not None:
                        self.on_no_responses()
                    self.wire, self.fallback = self.fallback(), None
                    continue
                names: list[str] = []
                if error.status in (400, 422):
                    names = refused_parameters(error.detail, payload)
                if not names:
                    raise
                log.info(
                    "%s refused %s for %s: sending without",
                    host_of(url),
                    ", ".join(names),
                    self.model,
                )
                remembered = self.refused.setdefault((url, self.model), set())
                for name in names:
                    remembered.add(name)
                    drop_parameter(payload, name)
                continue
            await self.status.clear()
            return response

    def _failed(self, error: PipeError) -> str:
        message = self.redact(error.message)
        log.warning("chat with %s failed: %s", self.model, message)
        if isinstance(error, Unreachable):
            self.unreachable = message
        return message


def no_such_route(error: UpstreamError) -> bool:
    """A 404 or 405 about the path, not about the model."""
    detail = error.detail
    return error.status in (404, 405) and not (
        detail.code in ("model_not_found", "DeploymentNotFound")
        or "model" in detail.message.lower()
    )


def unexpected(exc: Exception, url: str) -> str:
    log.warning("unexpected %s talking to %s", type(exc).__name__, host_of(url))
    return f"The request to {host_of(url)} failed unexpectedly ({type(exc).__name__}). Try again."


# ----- ledger.py -------------------------------------------------------------
# Ledger: one row per shared-key chat, in a table of the pipe's own in Open WebUI's database.
#
# Open WebUI's `chat_message` rows cannot count a quota: they hold web-page chats
# only, and not which key served them. So the pipe keeps its own table,
# `openai_manifold_pipe_ledger`, created when missing, beside Open WebUI's tables
# and through Open WebUI's own engine: every replica on the same database agrees,
# and a restart loses nothing.
#
# Open WebUI and SQLAlchemy are imported here lazily, inside the functions that
# need them, only when USER_QUOTA is set: without them the pipe still loads and
# chats. Open WebUI 0.9 and later have an async engine, which is used as is; older
# hosts have a sync one only, which runs in a worker thread. Either way the event
# loop never waits on the database. A ledger that cannot be read or written never
# stops a chat: the chat goes through unchecked, and the failure is logged once.

TABLE = "openai_manifold_pipe_ledger"


@dataclass(frozen=True)
class Admission:
    """The ledger's answer to one chat: refused, or let through with its row."""

    refusal: str | None = None
    note: str | None = None
    row: int | None = None


class Ledger:
    """The table, reached through Open WebUI's engine unless given another one."""

    def __init__(self, engine: Any = None, schema: str | None = None) -> None:
        self._engine = engine
        self._schema = schema
        self._table: Any = None
        self._failing = False

    async def admit(
        self,
        user_id: str,
        limits: tuple[Limit, ...],
        *,
        kind: str,
        model: str,
        chat_id: str | None,
    ) -> Admission:
        """Judge one more chat against the limits; when allowed, write its row.

        The check and the write are one transaction: one database round trip
        before the request goes out.
        """
        now = datetime.now(timezone.utc)
        starts = {limit.period: window_start(limit.period, now) for limit in limits}

        def work(connection: Any) -> Admission:
            spent = _spent(connection, self._table, user_id, starts)
            refusal, note = judge(limits, spent, task=kind != "chat", now=now)
            if refusal:
                return Admission(refusal=refusal)
            row = _insert(connection, self._table, user_id, now, kind, model, chat_id)
            return Admission(note=note, row=row)

        return await self._run(work) or Admission()

    def settler(self, row: int | None) -> Settle | None:
        """What ends a counted chat: what it used written to its row, or the row
        dropped when the upstream never answered (it cost nothing)."""
        if row is None:
            return None

        async def settle(usage: dict | None, usd: float | None, answered: bool) -> None:
            tokens_in, tokens_out = tokens_of(usage)

            def work(connection: Any) -> None:
                table = self._table
                chat = table.c.id == row
                if not answered:
                    connection.execute(table.delete().where(chat))
                    return
                written = {"input_tokens": tokens_in, "output_tokens": tokens_out}
                connection.execute(
                    table.update().where(chat).values(**written, usd=usd or 0.0)
                )

            await self._run(work)

        return settle

    async def _run(self, work: Callable[[Any], Any]) -> Any:
        """Run `work(connection)` in a transaction; on failure, log once and return None."""
        try:
            engine, schema = self._database()
            if self._table is None:
                self._table = await _made(engine, schema)
            result = await _transaction(engine, work)
        except Exception as exc:  # quota checking never takes chat down
            if not self._failing:
                log.warning(
                    "USER_QUOTA not applied: the ledger in Open WebUI's database "
                    "failed (%s: %s); chats go through uncounted until it works",
                    type(exc).__name__,
                    str(exc).splitlines()[0][:200] if str(exc) else "",
                )
            self._failing = True
            self._table = None  # dropped or restored without it: made again next time
            return None
        if self._failing:
            log.warning("USER_QUOTA applies again: the ledger works")
        self._failing = False
        return result

    def _database(self) -> tuple[Any, str | None]:
        """The engine and schema given, else Open WebUI's: its async engine (0.9
        and later) or its sync one, and DATABASE_SCHEMA."""
        if self._engine is not None:
            return self._engine, self._schema
        from open_webui.internal import db

        return getattr(db, "async_engine", None) or db.engine, db.metadata_obj.schema


async def _made(engine: Any, schema: str | None) -> Any:
    """The table, created when missing; another replica creating it at once is fine."""
    table = _define(schema)

    def create(connection: Any) -> None:
        table.metadata.create_all(connection, checkfirst=True)

    try:
        await _transaction(engine, create)
    except Exception:  # lost the race: the second look finds the table
        await _transaction(engine, create)
    return table


async def _transaction(engine: Any, work: Callable[[Any], Any]) -> Any:
    """`work(connection)` in one transaction, off the event loop."""
    if hasattr(engine, "sync_engine"):  # SQLAlchemy's AsyncEngine
        async with engine.begin() as connection:
            return await connection.run_sync(work)
    return await asyncio.to_thread(_sync_transaction, engine, work)


def _sync_transaction(engine: Any, work: Callable[[Any], Any]) -> Any:
    with engine.begin() as connection:
        return work(connection)


def _define(schema: str | None) -> Any:
    import sqlalchemy as sa

    return sa.Table(
        TABLE,
        sa.MetaData(schema=schema),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("chat_id", sa.String(255)),
        sa.Column("input_tokens", sa.BigInteger, nullable=False, default=0),
        sa.Column("output_tokens", sa.BigInteger, nullable=False, default=0),
        sa.Column("usd", sa.Float, nullable=False, default=0.0),
        sa.Index(f"{TABLE}_user_time", "user_id", "created_at"),
    )


def _spent(
    connection: Any, table: Any, user_id: str, starts: dict[str, datetime]
) -> dict[str, Totals]:
    """This user's requests, tokens and dollars since each window's start, in one query."""
    if not starts:
        return {}
    import sqlalchemy as sa

    columns = []
    for start in starts.values():
        recent = table.c.created_at >= start.timestamp()
        tokens = table.c.input_tokens + table.c.output_tokens
        columns += [
            sa.func.sum(sa.case((sa.and_(recent, table.c.kind == "chat"), 1), else_=0)),
            sa.func.sum(sa.case((recent, tokens), else_=0)),
            sa.func.sum(sa.case((recent, table.c.usd), else_=0.0)),
        ]
    earliest = min(start.timestamp() for start in starts.values())
    row = connection.execute(
        sa.select(*columns).where(
            table.c.user_id == user_id, table.c.created_at >= earliest
        )
    ).one()
    return {
        period: Totals(int(row[i] or 0), int(row[i + 1] or 0), float(row[i + 2] or 0))
        for period, i in zip(starts, range(0, len(columns), 3))
    }


def _insert(
    connection: Any,
    table: Any,
    user_id: str,
    now: datetime,
    kind: str,
    model: str,
    chat_id: str | None,
) -> int:
    result = connection.execute(
        table.insert().values(
            user_id=user_id,
            created_at=now.timestamp(),
            kind=kind[:64],
            model=model[:255],
            chat_id=chat_id[:255] if chat_id else None,
            input_tokens=0,
            output_tokens=0,
            usd=0.0,
        )
    )
    return int(result.inserted_primary_key[0])


# ----- responses_payload.py --------------------------------------------------
# Responses payload: a chat as a request to OpenAI's `/responses`.
#
# Open WebUI hands the pipe a chat in `/chat/completions` form, on every turn and
# every round of a tool-calling turn: messages, tool calls, tool results. The
# Responses API takes the same conversation as `input` items and names several
# settings differently (`max_output_tokens`, `reasoning.effort`, `text.format`).
# Only what OpenAI's published description of `POST /responses` accepts goes
# out: Open WebUI's advanced parameters and Ollama's options never do, on any
# endpoint.
#
# OpenAI keeps nothing (`store: false`), so what a reasoning model thought before
# calling a tool travels with the chat instead: its reasoning item arrives
# encrypted, the pipe hands it to Open WebUI as a `reasoning_details` entry of
# the answer (`responses_stream`), Open WebUI sends it back on the assistant
# message of the next request, and it goes out again here as the reasoning item.

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


# ----- responses_stream.py ---------------------------------------------------
# Responses stream: OpenAI's `/responses` events, as the chat chunks Open WebUI reads.
#
# Open WebUI 0.12.4 would render Responses events on its web page, but on its API
# path it hands them to clients untouched, and the `openai` SDK's chat stream
# cannot read them. Chat chunks work on both paths and lose nothing the page
# shows: the reasoning summary becomes `reasoning_content` (the thought block),
# output text `content`, function calls `tool_calls` (run by Open WebUI's native
# function calling), `url_citation` annotations `annotations` (its sources), and
# usage one chunk at the end. The encrypted reasoning item becomes a
# `reasoning_details` entry, which Open WebUI stores with the answer and sends
# back on the next request (see `responses_payload`).
#
# A failed, incomplete or interrupted response ends with a message saying why;
# what was shown before it stays.

# Why an answer stopped early, in words a user can act on.
_INCOMPLETE = {
    "max_output_tokens": (
        "it reached its output limit: raise Max Tokens in Chat Controls, or lower "
        "the reasoning effort"
    ),
    "content_filter": "the provider's content filter stopped it: rephrase the message",
}


class ResponsesTranslator:
    """One response's events in, chat chunks out; remembers what a chunk needs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.id = ""
        self.created = 0
        self.model = ""
        self.finished = False
        self.failure: str | None = None
        self._calls: dict[int, int] = {}  # output_index -> tool call index
        self._streamed_arguments: set[int] = set()
        self._summary: tuple[int, int] | None = None  # (output_index, part) last shown

    def feed(self, event: dict) -> list[dict]:
        """The chunks one event becomes; `failure` is set by events that end it."""
        kind = event.get("type")
        handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
        return handler(self, event) if handler else []

    # ---- the response as a whole -------------------------------------------------

    def _started(self, event: dict) -> list[dict]:
        response = event.get("response") or {}
        self.id = str(response.get("id") or self.id)
        self.created = int(response.get("created_at") or self.created or 0)
        self.model = str(response.get("model") or self.model)
        return []

    def _completed(self, event: dict) -> list[dict]:
        self._started(event)
        self.finished = True
        reason = "tool_calls" if self._calls else "stop"
        return [self._chunk({}, reason), *self._usage(event)]

    def _incomplete(self, event: dict) -> list[dict]:
        self._started(event)
        self.failure = _incomplete(event.get("response") or {}, self.url)
        return self._usage(event)

    def _failed(self, event: dict) -> list[dict]:
        error = (event.get("response") or {}).get("error") or {}
        self.failure = stream_error(error or "the response failed", self.url)
        return self._usage(event)

    def _error(self, event: dict) -> list[dict]:
        self.failure = stream_error(
            {k: event.get(k) for k in ("code", "message", "param")}, self.url
        )
        return []

    def _usage(self, event: dict) -> list[dict]:
        usage = chat_usage((event.get("response") or {}).get("usage"))
        if not usage:
            return []
        chunk = self._chunk({})
        chunk["choices"] = []
        chunk["usage"] = usage
        return [chunk]

    # ---- output items ------------------------------------------------------------

    def _item_added(self, event: dict) -> list[dict]:
        item = event.get("item") or {}
        if item.get("type") != "function_call":
            return []
        index = self._calls.setdefault(_index(event), len(self._calls))
        call = {
            "index": index,
            "id": item.get("call_id") or item.get("id") or "",
            "type": "function",
            "function": {"name": item.get("name") or "", "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _item_done(self, event: dict) -> list[dict]:
        item = event.get("item") or {}
        kind = item.get("type")
        if kind == "reasoning" and (entry := _reasoning_entry(item)):
            return [self._chunk({"reasoning_details": [entry]})]
        if kind == "function_call":
            output_index = _index(event)
            chunks = [] if output_index in self._calls else self._item_added(event)
            if output_index not in self._streamed_arguments and item.get("arguments"):
                chunks += self._arguments(output_index, item["arguments"])
            return chunks
        if kind == "message":
            citations = [
                {"type": "url_citation", "url_citation": _citation(annotation)}
                for part in item.get("content") or ()
                if isinstance(part, dict)
                for annotation in part.get("annotations") or ()
                if isinstance(annotation, dict)
                and annotation.get("type") == "url_citation"
            ]
            return [self._chunk({"annotations": citations})] if citations else []
        return []

    # ---- deltas ------------------------------------------------------------------

    def _text(self, event: dict) -> list[dict]:
        delta = event.get("delta")
        return [self._chunk({"content": delta})] if delta else []

    def _summary_text(self, event: dict) -> list[dict]:
        delta = event.get("delta")
        if not delta:
            return []
        part = (_index(event), int(event.get("summary_index") or 0))
        if self._summary is not None and self._summary != part:
            delta = "\n\n" + delta  # Open WebUI joins summary parts with nothing
        self._summary = part
        return [self._chunk({"reasoning_content": delta})]

    def _arguments_delta(self, event: dict) -> list[dict]:
        delta = event.get("delta")
        if not delta:
            return []
        output_index = _index(event)
        chunks = [] if output_index in self._calls else self._item_added(event)
        self._streamed_arguments.add(output_index)
        return chunks + self._arguments(output_index, delta)

    def _arguments(self, output_index: int, text: str) -> list[dict]:
        index = self._calls.setdefault(output_index, len(self._calls))
        call = {"index": index, "function": {"arguments": text}}
        return [self._chunk({"tool_calls": [call]})]

    def _chunk(self, delta: dict, finish_reason: str | None = None) -> dict:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }


_HANDLERS = {
    "response.created": ResponsesTranslator._started,
    "response.in_progress": ResponsesTranslator._started,
    "response.completed": ResponsesTranslator._completed,
    "response.incomplete": ResponsesTranslator._incomplete,
    "response.failed": ResponsesTranslator._failed,
    "error": ResponsesTranslator._error,
    "response.output_item.added": ResponsesTranslator._item_added,
    "response.output_item.done": ResponsesTranslator._item_done,
    "response.output_text.delta": ResponsesTranslator._text,
    "response.refusal.delta": ResponsesTranslator._text,  # Open WebUI shows no refusal
    "response.reasoning_summary_text.delta": ResponsesTranslator._summary_text,
    "response.reasoning_text.delta": ResponsesTranslator._summary_text,
    "response.function_call_arguments.delta": ResponsesTranslator._arguments_delta,
}


async def read_responses_stream(
    response: aiohttp.ClientResponse, url: str, progress: Progress
) -> AsyncIterator[dict]:
    """/responses: each event as it arrives, translated; the end checked."""
    if response.content_type == "application/json":
        chunk = completion_as_chunk(
            await read_whole(response, url, completion_from_response)
        )
        progress.note(chunk)
        if progress.first_output is None:
            raise PipeError(empty_answer(url, progress.finish_reason))
        yield chunk
        return
    translator = ResponsesTranslator(url)
    async for events in sse_batches(response, url):
        for event in events:
            if event == "[DONE]":  # not OpenAI's, but some servers add it
                continue
            for chunk in translator.feed(_event(event, url)):
                progress.note(chunk)
                yield chunk
            if translator.failure:
                raise PipeError(translator.failure)
            if translator.finished:
                break
        if translator.finished:
            break
    if not translator.finished:
        raise PipeError(cut_short(url))
    if progress.first_output is None:
        raise PipeError(empty_answer(url, progress.finish_reason))


def _event(data: str, url: str) -> dict:
    try:
        event = json.loads(data)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise PipeError(
            f"{host_of(url)} sent data that is not valid JSON in the middle of the "
            "answer, so the answer stopped there. Try again."
        )
    return event


def completion_from_response(data: dict, url: str) -> dict:
    """A whole Response object as a chat completion (background tasks, SDK calls)."""
    if data.get("error") and not data.get("output"):
        raise PipeError(stream_error(data["error"], url))
    status = data.get("status")
    if status == "incomplete":
        raise PipeError(_incomplete(data, url))
    if status == "failed":
        raise PipeError(stream_error(data.get("error") or "the response failed", url))
    message: dict = {"role": "assistant", "content": ""}
    texts, summaries, calls, details = [], [], [], []
    for item in data.get("output") or ():
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "message":
            texts += [
                part.get("text") or part.get("refusal") or ""
                for part in item.get("content") or ()
                if isinstance(part, dict)
            ]
        elif kind == "reasoning":
            summaries += [
                part.get("text") or ""
                for part in item.get("summary") or ()
                if isinstance(part, dict)
            ]
            if entry := _reasoning_entry(item):
                details.append(entry)
        elif kind == "function_call":
            calls.append(
                {
                    "id": item.get("call_id") or item.get("id") or "",
                    "type": "function",
                    "function": {
                        "name": item.get("name") or "",
                        "arguments": item.get("arguments") or "",
                    },
                }
            )
    message["content"] = "".join(texts)
    if summaries:
        message["reasoning_content"] = "\n\n".join(summaries)
    if details:
        message["reasoning_details"] = details
    if calls:
        message["tool_calls"] = calls
    completion = {
        "id": data.get("id") or "",
        "object": "chat.completion",
        "created": int(data.get("created_at") or 0),
        "model": data.get("model") or "",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else "stop",
            }
        ],
    }
    if usage := chat_usage(data.get("usage")):
        completion["usage"] = usage
    return completion


def chat_usage(usage: object) -> dict | None:
    """Responses usage under the names chat clients and Open WebUI read."""
    if not isinstance(usage, dict):
        return None
    tokens_in = usage.get("input_tokens") or 0
    tokens_out = usage.get("output_tokens") or 0
    cached = (usage.get("input_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "total_tokens": usage.get("total_tokens") or tokens_in + tokens_out,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _incomplete(response: dict, url: str) -> str:
    """Why an incomplete response stopped, in words a user can act on."""
    details = response.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    why = _INCOMPLETE.get(reason, f"it stopped early ({reason or 'no reason given'})")
    return f"The answer from {host_of(url)} is incomplete: {why}."


def _reasoning_entry(item: dict) -> dict | None:
    """An encrypted reasoning item as the `reasoning_details` entry Open WebUI keeps."""
    if not (item.get("encrypted_content") and item.get("id")):
        return None
    return {
        "type": ENCRYPTED_REASONING,
        "id": item["id"],
        "data": item["encrypted_content"],
        "format": REASONING_FORMAT,
    }


def _index(event: dict) -> int:
    value = event.get("output_index")
    return value if isinstance(value, int) else -1


def _citation(annotation: dict) -> dict:
    return {
        key: annotation[key]
        for key in ("url", "title", "start_index", "end_index")
        if key in annotation
    }


# ----- pipe.py ---------------------------------------------------------------
# Pipe: the class Open WebUI loads, lists models from and chats through.
#
# One instance serves every user at once, so nothing about a request is kept on
# `self`: the key, headers and payload of each chat live in its own call. What
# the instance does keep is shared knowledge about endpoints: the model lists, the
# parameters an endpoint refused for a model, the endpoints found to have no
# `/responses`, and which chats just found their endpoint unreachable.
#
# Which wire a chat takes is chosen here (`RESPONSES_API`): OpenAI's
# `/chat/completions` or its `/responses`; each has its own modules for the
# request (`payload`, `responses_payload`) and the answer (`chat`,
# `responses_stream`).


class Pipe:
    """OpenAI and OpenAI-compatible models, each user chatting on their own key."""

    Valves = Valves
    UserValves = UserValves

    def __init__(self) -> None:
        self.valves = self.Valves()
        self._transport = Transport()
        self._models = ModelCache()
        self._refused: dict[tuple[str, str], set[str]] = {}
        self._no_responses: set[str] = set()
        self._unreachable = UnreachableChats()
        self._offered: tuple[Listing, tuple, list[dict]] | None = None
        self._rotation = KeyRotation()
        self._ledger = Ledger()

    async def pipes(self) -> list[dict]:
        """The models for Open WebUI's picker, named NAME_PREFIX + model."""
        valves = self.valves
        endpoint = _endpoint(valves)
        listing = await self._listing(valves, endpoint)
        settings = (
            valves.NAME_PREFIX,
            valves.MODEL_ALLOWLIST,
            valves.MODEL_BLOCKLIST,
            valves.CHAT_MODELS_ONLY,
            endpoint.openai_rules,
            _responses_mode(valves),
        )
        # Open WebUI lists models on every page load: reuse the last answer while
        # neither the endpoint's list nor the settings changed.
        offered = self._offered
        if offered is None or offered[0] is not listing or offered[1] != settings:
            offered = (listing, settings, _offer(listing, valves, endpoint))
            self._offered = offered
        return list(offered[2])

    async def pipe(
        self,
        body: dict,
        __user__: dict | None = None,
        __event_emitter__=None,
        __task__: str | None = None,
        __metadata__: dict | None = None,
        __request__: object = None,
    ) -> dict | AsyncIterator[str | dict]:
        """Answer one chat: an async generator of chunks when streaming, else a dict."""
        valves = self.valves
        stream = body.get("stream") in (True, "true")
        model = strip_function_prefix(str(body.get("model") or ""))
        if model == SETUP_MODEL_ID:
            return _failure(await self._setup_problem(valves), stream)
        try:
            creds = credentials(valves, __user__, self._rotation)
        except PipeError as error:
            return _failure(error.message, stream)
        redact = Redactor([creds.key, *split_keys(valves.OPENAI_API_KEY)])
        status = StatusLine(
            _status_emitter(__event_emitter__, __task__, __metadata__), redact
        )
        endpoint = _endpoint(valves)
        user_id, chat_id = user_id_of(__user__), chat_id_of(__metadata__)
        chat = chat_key(__user__, __metadata__, endpoint.base)
        if not __task__:
            self._unreachable.forget(chat)  # what the user sends always tries
        elif unreachable := self._unreachable.recall(chat):
            log.info("%s not sent: this chat's endpoint was unreachable", __task__)
            return _failure(unreachable, stream)
        admission = await self._admit(
            valves, creds, user_id, chat_id, model, __task__ or _kind(body)
        )
        if admission.refusal:
            log.info("%s refused: over USER_QUOTA", __task__ or "chat")
            return _failure(admission.refusal, stream)
        identified = _identified(creds, user_id, endpoint)
        wire, fallback = self._wires(body, model, valves, endpoint, chat_id, identified)
        headers_for = _headers_for(
            endpoint, creds, forwarded_headers(__user__, __metadata__, __request__)
        )
        shared = creds.shared

        async def rekey(error: UpstreamError) -> dict[str, str]:
            wait = status.retrying if valves.MAX_RETRIES else None
            return headers_for(await shared.switch(error, wait))

        request = ChatRequest(
            self._transport,
            self._refused,
            valves,
            endpoint,
            wire,
            headers_for(creds.key),
            creds.source,
            status,
            redact,
            fallback=fallback,
            on_no_responses=lambda: self._no_responses.add(endpoint.base),
            rekey=rekey if shared else None,
            settle=self._ledger.settler(admission.row),
            note=admission.note,
        )
        result = await request.stream() if stream else await request.complete()
        if request.unreachable is not None:
            self._unreachable.note(chat, request.unreachable)
        return result

    async def _admit(
        self,
        valves: Valves,
        creds: Credentials,
        user_id: str | None,
        chat_id: str | None,
        model: str,
        kind: str,
    ) -> Admission:
        """USER_QUOTA's verdict on a chat on the shared key; own keys are never counted."""
        if creds.source == "user" or not valves.USER_QUOTA.strip() or not user_id:
            return Admission()
        return await self._ledger.admit(
            user_id,
            parse_quota(valves.USER_QUOTA),
            kind=kind,
            model=model,
            chat_id=chat_id,
        )

    def _wires(
        self,
        body: dict,
        model: str,
        valves: Valves,
        endpoint: Endpoint,
        chat_id: str | None,
        extra: dict,
    ) -> tuple[Wire, Callable[[], Wire] | None]:
        """The wire this chat takes and, under `auto`, the one to fall back on.

        `extra` joins the payload on either wire (the shared key's safety_identifier).
        """

        def chat_wire() -> Wire:
            return self._chat_wire(body, model, valves, endpoint, extra)

        if not self._uses_responses(valves, endpoint, model):
            return chat_wire(), None
        wire = self._responses_wire(body, model, valves, endpoint, chat_id, extra)
        return wire, chat_wire if _responses_mode(valves) == "auto" else None

    def _uses_responses(self, valves: Valves, endpoint: Endpoint, model: str) -> bool:
        """`always`, or under `auto` a reasoning or Responses-only model on OpenAI."""
        mode = _responses_mode(valves)
        if mode != "auto":
            return mode == "always"
        return (
            endpoint.speaks_responses
            and endpoint.base not in self._no_responses
            and (reasoning_family(model) is not None or responses_only(model))
        )

    def _chat_wire(
        self, body: dict, model: str, valves: Valves, endpoint: Endpoint, extra: dict
    ) -> Wire:
        url = endpoint.chat_url
        payload = build_payload(
            body,
            model,
            openai_api=endpoint.openai_rules,
            default_effort=valves.REASONING_EFFORT,
            ollama=endpoint.ollama,
            dropped=self._refused.get((url, model), ()),
        )
        return Wire(url, self._shed(url, model, payload, extra))

    def _responses_wire(
        self,
        body: dict,
        model: str,
        valves: Valves,
        endpoint: Endpoint,
        chat_id: str | None,
        extra: dict,
    ) -> Wire:
        url = endpoint.responses_url
        payload = build_responses_request(
            body,
            model,
            family=reasoning_family(model),
            default_effort=valves.REASONING_EFFORT,
            summary=valves.REASONING_SUMMARY,
            openai_api=endpoint.openai_rules,
            chat_id=chat_id,
        )
        payload = self._shed(url, model, payload, extra)
        return Wire(url, payload, read_responses_stream, completion_from_response)

    def _shed(self, url: str, model: str, payload: dict, extra: dict) -> dict:
        """`extra` joined, then every parameter this endpoint refused for the model left out."""
        payload.update(extra)
        for name in self._refused.get((url, model), ()):
            drop_parameter(payload, name)
        return payload

    async def close(self) -> None:
        """Close the connection pool; for embedders and tests, Open WebUI never calls it."""
        self._models.close()
        await self._transport.close()

    async def _listing(self, valves: Valves, endpoint: Endpoint) -> Listing:
        if endpoint.deployment:
            return Listing(models=[{"id": endpoint.deployment}])
        key = next(iter(split_keys(valves.OPENAI_API_KEY)), "")
        if not key and not valves.ALLOW_GLOBAL_KEY_FALLBACK:
            return Listing(problem=NO_LISTING_KEY)

        async def fetch() -> list[dict]:
            try:
                data = await self._transport.list_models(
                    endpoint.models_url, endpoint.headers(key)
                )
                return parse_model_list(data)
            except UpstreamError as error:
                raise PipeError(_listing_problem(error, endpoint.base)) from None
            except ValueError:
                raise PipeError(
                    f"{host_of(endpoint.base)} sent no model list: check "
                    "OPENAI_API_BASE_URL"
                ) from None

        return await self._models.get(endpoint.base, key, valves.MODEL_CACHE_TTL, fetch)

    async def _setup_problem(self, valves: Valves) -> str:
        listing = await self._listing(valves, _endpoint(valves))
        if not listing.problem:
            return "The model list works again: pick a model from the list."
        return (
            f"This pipe cannot list models: {listing.problem}. An admin can fix this "
            f"in {ADMIN_VALVES_PATH}."
        )


def _offer(listing: Listing, valves: Valves, endpoint: Endpoint) -> list[dict]:
    """The picker's entries for a listing: filtered, prefixed, free of any key.

    A deployment URL's one model is offered whatever its name: the admin chose it.
    Upstream display names are used unless two models share one (aliases).
    """
    prefix = valves.NAME_PREFIX
    mode = _responses_mode(valves)
    models = select_models(
        listing.models or [],
        allowlist=split_list(valves.MODEL_ALLOWLIST),
        blocklist=split_list(valves.MODEL_BLOCKLIST),
        chat_only=valves.CHAT_MODELS_ONLY and not endpoint.deployment,
        openai_api=endpoint.openai_rules,
        responses=mode == "always" or (mode == "auto" and endpoint.speaks_responses),
    )
    if listing.problem and not models:
        return [setup_entry(prefix, listing.problem)]
    names = Counter(model.get("name") for model in models)
    redact = Redactor(split_keys(valves.OPENAI_API_KEY))
    return [
        {"id": model["id"], "name": redact(prefix + _display_name(model, names))}
        for model in models
    ]


def _display_name(model: dict, names: Counter) -> str:
    name = model.get("name")
    return name if name and names[name] == 1 else model["id"]


def _headers_for(
    endpoint: Endpoint, creds: Credentials, forwarded: dict[str, str]
) -> Callable[[str], dict[str, str]]:
    """A chat's headers for a key: its own for the first, the next shared key's after a 429."""

    def headers(key: str) -> dict[str, str]:
        own = endpoint.headers(
            key, organization=creds.organization, project=creds.project
        )
        return {**own, **forwarded}

    return headers


def _kind(body: dict) -> str:
    """`chat`, or `tool_result` for the request that hands a model its tools' results."""
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    return (
        "tool_result"
        if isinstance(last, dict) and last.get("role") == "tool"
        else "chat"
    )


def _identified(creds: Credentials, user_id: str | None, endpoint: Endpoint) -> dict:
    """safety_identifier for a chat on the shared key to OpenAI or Azure OpenAI."""
    if creds.source != "global" or not endpoint.openai_rules or not user_id:
        return {}
    return {"safety_identifier": safety_identifier(user_id)}


def _responses_mode(valves: Valves) -> str:
    return valves.RESPONSES_API.strip().lower()


def _status_emitter(emitter, task: str | None, metadata: dict | None):
    """The emitter when there is a message to show status on, else None.

    Background tasks have no message; nor has a chat on the API path (no
    message id), where each status event would still cost Open WebUI a
    socket.io emit and a database write.
    """
    if task or (metadata is not None and not metadata.get("message_id")):
        return None
    return emitter


def _endpoint(valves: Valves) -> Endpoint:
    return Endpoint.from_url(valves.OPENAI_API_BASE_URL, valves.AZURE_API_VERSION)


def _listing_problem(error: UpstreamError, base: str) -> str:
    host, status = host_of(base), error.status
    if status in (401, 403) or error.detail.is_bad_key:
        return f"Global OPENAI_API_KEY rejected by {host} ({status}): set a valid key in the Valves"
    if status in (404, 405):
        return f"{host} cannot list models ({status}): add model ids to MODEL_ALLOWLIST"
    return f"{host} could not list models ({status}): try later or check OPENAI_API_BASE_URL"


def _failure(message: str, stream: bool) -> dict | AsyncIterator[dict]:
    """An error in the shape Open WebUI expects for this kind of request."""
    if not stream:
        return error_completion(message)

    async def single() -> AsyncIterator[dict]:
        yield error_chunk(message)

    return single()
