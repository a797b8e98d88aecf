"""Identity: the safety_identifier's form, and nothing forwarded outside Open WebUI.

What reaches the upstream on a real server, side by side with Open WebUI's own
connection, is in tests/e2e/test_identity_e2e.py.
"""

import re
import sys

from tests.owhost import api_body, load_pipe, text_of
from tests.upstream import answer_text

NS = type(load_pipe()).__init__.__globals__
safety_identifier, forwarded_headers = NS["safety_identifier"], NS["forwarded_headers"]

USER = {"id": "5d2f6c1e-7a1b-4c3e-9f00-123456789abc", "name": "Zoë", "email": "z@x.org"}


def test_safety_identifier_is_a_stable_hash_within_openais_limit():
    first = safety_identifier(USER["id"])
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert safety_identifier(USER["id"]) == first
    assert safety_identifier("another-user") != first
    assert USER["id"] not in first and USER["id"][:8] not in first


def test_nothing_is_forwarded_outside_open_webui(monkeypatch):
    monkeypatch.delitem(sys.modules, "open_webui.env", raising=False)
    assert forwarded_headers(USER, {"chat_id": "c1"}, None) == {}


def test_nothing_is_forwarded_when_the_host_setting_is_off(monkeypatch):
    class Env:
        ENABLE_FORWARD_USER_INFO_HEADERS = False

    monkeypatch.setitem(sys.modules, "open_webui.env", Env)
    assert forwarded_headers(USER, {"chat_id": "c1"}, None) == {}


async def test_a_refused_safety_identifier_is_left_out_from_then_on(
    openai_host, upstream
):
    """An endpoint version that does not know it (older Azure api-versions) costs one retry, once."""
    openai_host.saved_valves["ALLOW_GLOBAL_KEY_FALLBACK"] = True
    refusal = "Unrecognized request argument supplied: safety_identifier"
    upstream.add_fault("status", code=400, message=refusal, times=1)
    for text in ("one", "two"):
        answer = await openai_host.stream(api_body("gpt-4o", text, stream=True))
        assert text_of(answer) == answer_text(text)
    sent = ["safety_identifier" in r.body for r in upstream.chat_requests()]
    assert sent == [True, False, False]
