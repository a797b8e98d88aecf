"""Pipe: the class Open WebUI loads, lists models from and chats through.

One instance serves every user at once, so nothing about a request is kept on
`self`: the key, headers and payload of each chat live in its own call. What
the instance does keep is shared knowledge about endpoints: the model lists, the
parameters an endpoint refused for a model, the endpoints found to have no
`/responses`, and which chats just found their endpoint unreachable.

Which wire a chat takes is chosen here (`RESPONSES_API`): OpenAI's
`/chat/completions` or its `/responses`; each has its own modules for the
request (`payload`, `responses_payload`) and the answer (`chat`,
`responses_stream`).
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass

import aiohttp

from .catalog import (
    NO_LISTING_KEY,
    SETUP_MODEL_ID,
    Listing,
    ModelCache,
    parse_model_list,
    responses_only,
    select_models,
    setup_entry,
    split_list,
)
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
from .errors import (
    ADMIN_VALVES_PATH,
    NO_USER_KEY,
    USER_VALVES_PATH,
    PipeError,
    Unreachable,
    UpstreamError,
    host_of,
)
from .payload import (
    build_payload,
    drop_parameter,
    refused_parameters,
    strip_function_prefix,
)
from .reasoning import reasoning_family
from .redact import Redactor, log
from .responses_payload import build_responses_request
from .responses_stream import completion_from_response, read_responses_stream
from .status import StatusLine
from .transport import Transport
from .unreachable import UnreachableChats, chat_key
from .usage import price_of, prices_for, summary
from .valves import UserValves, Valves


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
    ) -> dict | AsyncIterator[str | dict]:
        """Answer one chat: an async generator of chunks when streaming, else a dict."""
        valves = self.valves
        stream = body.get("stream") in (True, "true")
        model = strip_function_prefix(str(body.get("model") or ""))
        if model == SETUP_MODEL_ID:
            return _failure(await self._setup_problem(valves), stream)
        try:
            key, source, organization, project = _credentials(valves, __user__)
        except PipeError as error:
            return _failure(error.message, stream)
        redact = Redactor([key, valves.OPENAI_API_KEY])
        status = StatusLine(
            _status_emitter(__event_emitter__, __task__, __metadata__), redact
        )
        endpoint = _endpoint(valves)
        chat = chat_key(__user__, __metadata__, endpoint.base)
        if not __task__:
            self._unreachable.forget(chat)  # what the user sends always tries
        elif unreachable := self._unreachable.recall(chat):
            log.info("%s not sent: this chat's endpoint was unreachable", __task__)
            return _failure(unreachable, stream)
        wire, fallback = self._wires(body, model, valves, endpoint, __metadata__)
        headers = endpoint.headers(key, organization=organization, project=project)
        request = _Chat(
            self._transport,
            self._refused,
            valves,
            endpoint,
            wire,
            headers,
            source,
            status,
            redact,
            fallback=fallback,
            on_no_responses=lambda: self._no_responses.add(endpoint.base),
        )
        result = await request.stream() if stream else await request.complete()
        if request.unreachable is not None:
            self._unreachable.note(chat, request.unreachable)
        return result

    def _wires(
        self,
        body: dict,
        model: str,
        valves: Valves,
        endpoint: Endpoint,
        metadata: dict | None,
    ) -> tuple["_Wire", Callable[[], "_Wire"] | None]:
        """The wire this chat takes and, under `auto`, the one to fall back on."""

        def chat_wire() -> _Wire:
            return self._chat_wire(body, model, valves, endpoint)

        if not self._uses_responses(valves, endpoint, model):
            return chat_wire(), None
        wire = self._responses_wire(body, model, valves, endpoint, metadata)
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
        self, body: dict, model: str, valves: Valves, endpoint: Endpoint
    ) -> "_Wire":
        url = endpoint.chat_url
        payload = build_payload(
            body,
            model,
            openai_api=endpoint.openai_rules,
            default_effort=valves.REASONING_EFFORT,
            ollama=endpoint.ollama,
            dropped=self._refused.get((url, model), ()),
        )
        return _Wire(url, payload)

    def _responses_wire(
        self,
        body: dict,
        model: str,
        valves: Valves,
        endpoint: Endpoint,
        metadata: dict | None,
    ) -> "_Wire":
        url = endpoint.responses_url
        chat_id = metadata.get("chat_id") if isinstance(metadata, dict) else None
        payload = build_responses_request(
            body,
            model,
            family=reasoning_family(model),
            default_effort=valves.REASONING_EFFORT,
            summary=valves.REASONING_SUMMARY,
            openai_api=endpoint.openai_rules,
            chat_id=chat_id if isinstance(chat_id, str) else None,
        )
        for name in self._refused.get((url, model), ()):
            drop_parameter(payload, name)
        return _Wire(url, payload, read_responses_stream, completion_from_response)

    async def close(self) -> None:
        """Close the connection pool; for embedders and tests, Open WebUI never calls it."""
        self._models.close()
        await self._transport.close()

    async def _listing(self, valves: Valves, endpoint: Endpoint) -> Listing:
        if endpoint.deployment:
            return Listing(models=[{"id": endpoint.deployment}])
        key = valves.OPENAI_API_KEY.strip()
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


@dataclass(frozen=True)
class _Wire:
    """Where a chat goes, what it sends, and how the answer is read (None: chat)."""

    url: str
    payload: dict
    read: StreamReader | None = None
    convert: Converter | None = None


class _Chat:
    """One chat request on its way: everything it needs, none of it on the Pipe."""

    def __init__(
        self,
        transport: Transport,
        refused: dict[tuple[str, str], set[str]],
        valves: Valves,
        endpoint: Endpoint,
        wire: _Wire,
        headers: dict[str, str],
        key_source: str,
        status: StatusLine,
        redact: Redactor,
        *,
        fallback: Callable[[], _Wire] | None = None,
        on_no_responses: Callable[[], None] | None = None,
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
            message = self._failed(PipeError(_unexpected(exc, self.wire.url)))
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
        await self._summarize(progress)

    async def _failed_stream(
        self, message: str, progress: Progress
    ) -> AsyncIterator[dict]:
        yield error_chunk(message)
        await self._summarize(progress)

    async def complete(self) -> dict:
        progress = Progress()
        ticker = self._tick_while_silent(progress)
        try:
            response = await self._open()
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
                self._failed(PipeError(_unexpected(exc, self.wire.url)))
            )
        finally:
            if ticker is not None:
                ticker.cancel()
        await self._summarize(progress)
        return result

    def _tick_while_silent(self, progress: Progress) -> asyncio.Task | None:
        if not self.status.visible:
            return None
        reasoning = reasoning_family(self.model) is not None
        return asyncio.ensure_future(
            self.status.while_silent(progress, self.model, reasoning)
        )

    async def _summarize(self, progress: Progress) -> None:
        """The usage line shown with the answer, or no line at all."""
        if not self.status.visible:
            return
        if progress.failed or not self.valves.SHOW_USAGE_SUMMARY:
            await self.status.clear()
            return
        prices = prices_for(self.valves.MODEL_PRICES, self.endpoint.openai_rules)
        price = price_of(self.model, prices)
        line = summary(progress.usage, progress.answering_seconds, price)
        await self.status.show(line, done=True)

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
                )
            except UpstreamError as error:
                if self.fallback is not None and _no_such_route(error):
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
    redact = Redactor([valves.OPENAI_API_KEY])
    return [
        {"id": model["id"], "name": redact(prefix + _display_name(model, names))}
        for model in models
    ]


def _display_name(model: dict, names: Counter) -> str:
    name = model.get("name")
    return name if name and names[name] == 1 else model["id"]


def _responses_mode(valves: Valves) -> str:
    return valves.RESPONSES_API.strip().lower()


def _no_such_route(error: UpstreamError) -> bool:
    """A 404 or 405 about the path, not about the model."""
    detail = error.detail
    return error.status in (404, 405) and not (
        detail.code in ("model_not_found", "DeploymentNotFound")
        or "model" in detail.message.lower()
    )


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


def _credentials(valves: Valves, user: dict | None) -> tuple[str, str, str, str]:
    """The key this user's chats go out with, where it came from, organization, project."""
    own = _user_valve(user, "OPENAI_API_KEY")
    organization = _user_valve(user, "ORGANIZATION_ID")
    project = _user_valve(user, "PROJECT_ID")
    if own:
        key, source = own, "user"
    elif valves.ALLOW_GLOBAL_KEY_FALLBACK:
        key = valves.OPENAI_API_KEY.strip()
        source = "global" if key else "none"
    else:
        raise PipeError(NO_USER_KEY)
    for name, value in (
        ("OPENAI_API_KEY", key),
        ("ORGANIZATION_ID", organization),
        ("PROJECT_ID", project),
    ):
        if value and not _sendable(value):
            where = ADMIN_VALVES_PATH if source == "global" else USER_VALVES_PATH
            raise PipeError(
                f"The {name} in {where} contains spaces or characters that cannot "
                "be sent in a request header; paste it again."
            )
    return key, source, organization, project


def _sendable(value: str) -> bool:
    return value.isascii() and value.isprintable() and " " not in value


def _user_valve(user: dict | None, name: str) -> str:
    """A user valve as a clean string; Open WebUI gives a model, tests may give a dict."""
    valves = (user or {}).get("valves") if isinstance(user, dict) else None
    value = (
        valves.get(name) if isinstance(valves, dict) else getattr(valves, name, None)
    )
    return value.strip() if isinstance(value, str) else ""


def _listing_problem(error: UpstreamError, base: str) -> str:
    host, status = host_of(base), error.status
    if status in (401, 403) or error.detail.is_bad_key:
        return f"Global OPENAI_API_KEY rejected by {host} ({status}): set a valid key in the Valves"
    if status in (404, 405):
        return f"{host} cannot list models ({status}): add model ids to MODEL_ALLOWLIST"
    return f"{host} could not list models ({status}): try later or check OPENAI_API_BASE_URL"


def _unexpected(exc: Exception, url: str) -> str:
    log.warning("unexpected %s talking to %s", type(exc).__name__, host_of(url))
    return f"The request to {host_of(url)} failed unexpectedly ({type(exc).__name__}). Try again."


def _failure(message: str, stream: bool) -> dict | AsyncIterator[dict]:
    """An error in the shape Open WebUI expects for this kind of request."""
    if not stream:
        return error_completion(message)

    async def single() -> AsyncIterator[dict]:
        yield error_chunk(message)

    return single()
