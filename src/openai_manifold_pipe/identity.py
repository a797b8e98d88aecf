"""Identity: who a chat is for, as OpenAI and the proxies in front of an endpoint see it.

Two things, each off unless asked for:
- `safety_identifier`, on chats that go to OpenAI or Azure OpenAI on the shared
  key: OpenAI asks applications to say which of their end users sent a request,
  so abuse by one user is not held against the admin's whole key. It is a hash,
  never the user's id, name or email.
- The user-info headers Open WebUI's own connection sends when the host runs with
  ENABLE_FORWARD_USER_INFO_HEADERS=true, made by the host's own builder where it
  has one (`open_webui/utils/headers.py`; 0.6.0 has none), so the names the
  FORWARD_USER_INFO_HEADER_* settings choose and the signed-token form are the
  host's. The setting is read from the `open_webui.env` module the host has
  already loaded; outside Open WebUI there is none, and nothing is forwarded.
"""

import hashlib
import inspect
import sys
from types import SimpleNamespace
from urllib.parse import quote

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
