"""Credentials: the key, organization and project one user's chat goes out with.

A user's own key wins; the admin's global key only with ALLOW_GLOBAL_KEY_FALLBACK.
Values that cannot travel in an HTTP header are refused here, with the place to
fix them, rather than failing inside aiohttp with a message that could echo them.
"""

from .errors import ADMIN_VALVES_PATH, NO_USER_KEY, USER_VALVES_PATH, PipeError
from .valves import Valves


def credentials(valves: Valves, user: dict | None) -> tuple[str, str, str, str]:
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
