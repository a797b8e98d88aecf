"""Catalog: which of the endpoint's models the model picker offers, and caching.

Open WebUI calls pipes() on every model listing and waits for it with no timeout
of its own, so a listing is served from a per-(URL, key) cache, refreshed at most
once per TTL with a short timeout, and falls back to the last good list. The
cache holds what the endpoint said; filters apply on every listing so a valve
change shows at once.
"""

import asyncio
import fnmatch
import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .errors import ADMIN_VALVES_PATH, PipeError
from .redact import log

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
