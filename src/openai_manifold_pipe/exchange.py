"""Exchange: one chat request on its way to the upstream and back.

Everything a request needs travels with it, never on the shared Pipe: the wire
it takes (`/chat/completions` or `/responses`, see `Wire`), its key and headers,
its status line. Here the request is sent, refused parameters are shed, an
endpoint without `/responses` is left for `/chat/completions`, and the answer is
relayed or read whole, with the usage line after it.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass

import aiohttp

from .chat import (
    Converter,
    Progress,
    StreamReader,
    error_chunk,
    error_completion,
    read_completion,
    relay_stream,
)
from .endpoint import Endpoint
from .errors import PipeError, Unreachable, UpstreamError, host_of
from .payload import drop_parameter, refused_parameters
from .reasoning import reasoning_family
from .redact import Redactor, log
from .status import StatusLine
from .transport import Transport
from .usage import cost_of, price_of, prices_for, summary
from .valves import Valves

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
