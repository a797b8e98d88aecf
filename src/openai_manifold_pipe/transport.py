"""Transport: one pooled aiohttp session, timeouts and retries.

Everything here is async: Open WebUI runs the pipe on its own event loop, where
one blocking call would freeze the server for every user. The session carries
no per-user state (no cookies, no default headers); each request brings its own
key.
"""

import asyncio
import itertools
import json
import random
import urllib.request
import weakref
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from urllib.parse import SplitResult, unquote, urlsplit

import aiohttp

from .errors import (
    ErrorDetail,
    PipeError,
    Unreachable,
    UpstreamError,
    describe_exception,
    describe_status,
    host_of,
    retry_after_seconds,
    retryable,
    short_reason,
)

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
