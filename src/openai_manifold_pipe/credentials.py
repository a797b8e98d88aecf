"""Credentials: the key, organization and project one user's chat goes out with.

A user's own key wins; the admin's global key only with ALLOW_GLOBAL_KEY_FALLBACK,
and of several global keys the one whose turn it is (`rotation.py`). Values that
cannot travel in an HTTP header are refused here, with the place to fix them,
rather than failing inside aiohttp with a message that could echo them.
"""

from dataclasses import dataclass, field

from .errors import ADMIN_VALVES_PATH, NO_USER_KEY, USER_VALVES_PATH, PipeError
from .rotation import KeyRotation, SharedKey, split_keys
from .valves import Valves


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
