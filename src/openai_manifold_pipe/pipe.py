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

from collections import Counter
from collections.abc import AsyncIterator, Callable

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
from .chat import error_chunk, error_completion
from .credentials import Credentials, credentials
from .endpoint import Endpoint
from .errors import ADMIN_VALVES_PATH, PipeError, UpstreamError, host_of
from .exchange import ChatRequest, Wire
from .identity import chat_id_of, forwarded_headers, safety_identifier, user_id_of
from .ledger import Admission, Ledger
from .payload import build_payload, drop_parameter, strip_function_prefix
from .quota import parse_quota
from .reasoning import reasoning_family
from .redact import Redactor, log
from .responses_payload import build_responses_request
from .responses_stream import completion_from_response, read_responses_stream
from .rotation import KeyRotation, split_keys
from .status import StatusLine
from .transport import Transport
from .unreachable import UnreachableChats, chat_key
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
