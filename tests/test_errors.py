"""errors.py: upstream error bodies, statuses and waits become what the user reads."""

import asyncio
import ssl
import time
from email.utils import formatdate

import aiohttp
import pytest
from multidict import CIMultiDict

from openai_manifold_pipe.errors import (
    ADMIN_VALVES_PATH,
    USER_VALVES_PATH,
    ErrorDetail,
    describe_exception,
    describe_status,
    host_of,
    retry_after_seconds,
    retryable,
    short_reason,
)

URL = "https://api.example.com:8443/v1/chat/completions"
HOST = "api.example.com:8443"

# ---- ErrorDetail.parse: every shape an upstream uses ----------------------------------


@pytest.mark.parametrize(
    "body, message, code, type_, param",
    [
        # OpenAI
        ('{"error": {"message": "Bad temp", "type": "invalid_request_error", '
         '"param": "temperature", "code": "unsupported_value"}}',
         "Bad temp", "unsupported_value", "invalid_request_error", "temperature"),
        # OpenAI's quota error, pretty-printed like the real one
        ('{\n  "error": {\n    "message": "You exceeded your current quota.",\n'
         '    "type": "insufficient_quota",\n    "param": null,\n'
         '    "code": "insufficient_quota"\n  }\n}',
         "You exceeded your current quota.", "insufficient_quota", "insufficient_quota", None),
        # numeric code (Azure / proxies)
        ('{"error": {"message": "Bad gateway.", "type": "cf_bad_gateway", "code": 502}}',
         "Bad gateway.", "502", "cf_bad_gateway", None),
        # error as a plain string (some compatibles)
        ('{"error": "model not loaded"}', "model not loaded", None, None, None),
        # FastAPI / vLLM style
        ('{"detail": "Not Found"}', "Not Found", None, None, None),
        # pydantic 422 list: kept as readable JSON
        ('{"detail": [{"loc": ["body", "top_k"], "msg": "extra fields not permitted"}]}',
         '[{"loc": ["body", "top_k"], "msg": "extra fields not permitted"}]', None, None, None),
        # bare {"message": ...}
        ('{"message": "Invalid API key", "code": 401}', "Invalid API key", "401", None, None),
        # Google style: a list with one error, status as code
        ('[{"error": {"code": 429, "message": "Resource exhausted", "status": '
         '"RESOURCE_EXHAUSTED"}}]', "Resource exhausted", "429", None, None),
        # Ollama style
        ('{"error": {"message": "model \\"llama9\\" not found, try pulling it first"}}',
         'model "llama9" not found, try pulling it first', None, None, None),
        # plain text
        ("upstream connect error or disconnect/reset before headers",
         "upstream connect error or disconnect/reset before headers", None, None, None),
    ],
)
def test_parse_reads_every_error_shape(body, message, code, type_, param):
    detail = ErrorDetail.parse(body)
    assert (detail.message, detail.code, detail.type, detail.param) == (
        message, code, type_, param)


@pytest.mark.parametrize(
    "body",
    ["", "   ", None, "<html><head><title>502 Bad Gateway</title></head></html>",
     "\r\n<!DOCTYPE html><html></html>", "[]", '{"error": 5}', '{"error": null}'],
)
def test_parse_gives_no_message_for_pages_and_empty_bodies(body):
    detail = ErrorDetail.parse(body)
    assert detail.message in ("", "[]") and detail.code is None


def test_long_messages_are_summarised_on_one_line():
    detail = ErrorDetail.parse('{"error": {"message": "' + "word\\n " * 500 + '"}}')
    assert len(detail.summary) <= 300 and "\n" not in detail.summary
    assert detail.summary.endswith("…") and len(detail.message) > 1000
    assert len(describe(500, '{"error": {"message": "' + "x" * 5000 + '"}}')) < 600


def test_parse_does_not_trust_field_types():
    detail = ErrorDetail.parse('{"error": {"message": {"nested": 1}, "type": 7, "param": []}}')
    assert detail.message == '{"nested": 1}' and detail.type is None and detail.param is None


@pytest.mark.parametrize(
    "body, quota, too_long",
    [
        ('{"error": {"code": "insufficient_quota"}}', True, False),
        ('{"error": {"type": "insufficient_quota", "code": null}}', True, False),
        ('{"error": {"code": "rate_limit_exceeded", "message": "quota of requests"}}',
         False, False),
        ('{"error": {"code": "context_length_exceeded", "message": "too long"}}', False, True),
        ('{"error": {"message": "This model\'s maximum context length is 8192 tokens."}}',
         False, True),
    ],
)
def test_quota_and_context_length_are_recognised(body, quota, too_long):
    detail = ErrorDetail.parse(body)
    assert (detail.is_insufficient_quota, detail.is_context_too_long) == (quota, too_long)


# ---- describe_status: one sentence per status, naming what to change ------------------


def describe(status, body="", key_source="user", model="gpt-4o"):
    return describe_status(status, ErrorDetail.parse(body), model=model, url=URL,
                           key_source=key_source)


OPENAI_429 = '{"error": {"message": "Rate limit reached for gpt-4o.", "code": "rate_limit_exceeded"}}'
OPENAI_QUOTA = '{"error": {"message": "You exceeded your current quota.", "code": "insufficient_quota", "type": "insufficient_quota"}}'
CONTEXT = '{"error": {"message": "maximum context length is 128000 tokens", "code": "context_length_exceeded"}}'


@pytest.mark.parametrize(
    "status, body, needles, absent",
    [
        (400, '{"error": {"message": "Invalid value for \'n\'."}}',
         ["400", "Invalid value for 'n'.", "Chat Controls"], []),
        (401, "", ["401", "OPENAI_API_KEY", USER_VALVES_PATH], []),
        (403, '{"error": {"message": "Project has no access"}}',
         ["403", "Project has no access", "ORGANIZATION_ID", "PROJECT_ID"], []),
        (404, "", ["404", "gpt-4o", "OPENAI_API_BASE_URL", "MODEL_ALLOWLIST"], []),
        (408, "", ["408", "Try again"], []),
        (409, "", ["409", "Try again"], []),
        (413, "<html>413</html>", ["413", "too long", "new chat"], ["<html"]),
        (400, CONTEXT, ["400", "too long", "new chat", "128000"], []),
        (422, '{"detail": "top_k: extra field"}', ["422", "top_k"], []),
        (429, OPENAI_429, ["429", "Rate limit", "try again"], ["credit"]),
        (429, OPENAI_QUOTA, ["insufficient_quota", "credit", "billing", "will not help"],
         ["Wait a moment"]),
        (500, '{"error": {"message": "The server had an error"}}',
         ["500", "server error", "The server had an error", "try again"], []),
        (502, "<html><title>502 Bad Gateway</title></html>",
         ["502", "no details", "try again"], ["<html", "<title"]),
        (503, "", ["503", "no details"], []),
        (504, "<html>504 Gateway Time-out</html>", ["504", "timed out", "Try again"], ["<html"]),
        (418, "", ["418", "OPENAI_API_BASE_URL"], []),
    ],
)
def test_every_status_says_what_happened_and_what_to_do(status, body, needles, absent):
    message = describe(status, body)
    assert HOST in message or "gpt-4o" in message
    for needle in needles:
        assert needle.lower() in message.lower(), (needle, message)
    for text in absent:
        assert text not in message


@pytest.mark.parametrize(
    "source, where",
    [("user", USER_VALVES_PATH), ("global", ADMIN_VALVES_PATH), ("none", "No API key was sent")],
)
def test_401_points_to_the_key_that_was_used(source, where):
    assert where in describe(401, key_source=source)


def test_rate_limit_and_empty_quota_get_different_advice():
    limit, quota = describe(429, OPENAI_429), describe(429, OPENAI_QUOTA)
    assert "try again" in limit.lower() and "will not help" in quota
    assert "billing" not in limit and "Wait" not in quota


@pytest.mark.parametrize(
    "status, body, expected",
    [(408, "", True), (409, "", True), (429, OPENAI_429, True), (429, OPENAI_QUOTA, False),
     (500, "", True), (502, "", True), (503, "", True), (504, "", True),
     (400, "", False), (401, "", False), (403, "", False), (404, "", False),
     (413, "", False), (422, "", False), (501, "", False)],
)
def test_only_transient_statuses_are_retryable(status, body, expected):
    assert retryable(status, ErrorDetail.parse(body)) is expected


# ---- describe_exception: failures to talk to the upstream at all ----------------------


def connection_key():
    from aiohttp.client_reqrep import ConnectionKey

    return ConnectionKey("api.example.com", 8443, True, True, None, None, None)


@pytest.mark.parametrize(
    "exc, needles",
    [
        (aiohttp.ClientConnectorDNSError(connection_key(), OSError(-2, "Name not known")),
         ["could not be found", "DNS", "OPENAI_API_BASE_URL"]),
        (aiohttp.ClientConnectorCertificateError(
            connection_key(), ssl.SSLCertVerificationError("self-signed certificate")),
         ["TLS", "certificate", "OPENAI_API_BASE_URL"]),
        (aiohttp.ClientConnectorSSLError(connection_key(), ssl.SSLError(1, "WRONG_VERSION_NUMBER")),
         ["TLS", "http://", "OPENAI_API_BASE_URL"]),
        (aiohttp.ConnectionTimeoutError("Connection timeout"),
         ["Connecting", "timed out", "OPENAI_API_BASE_URL"]),
        (aiohttp.SocketTimeoutError("Timeout on reading data from socket"),
         ["sent nothing for 7 seconds", "REQUEST_TIMEOUT"]),
        (asyncio.TimeoutError(), ["sent nothing for 7 seconds", "REQUEST_TIMEOUT"]),
        (aiohttp.ClientConnectorError(connection_key(), ConnectionRefusedError(111, "refused")),
         ["connection refused", "OPENAI_API_BASE_URL"]),
        (aiohttp.ClientPayloadError("Response payload is not completed"),
         ["cut off", "Try again"]),
        (aiohttp.ServerDisconnectedError(), ["closed the connection", "Try again"]),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), ["ClientOSError", "Try again"]),
        (RuntimeError("sk-should-not-be-quoted-1234567"), ["RuntimeError"]),
    ],
)
def test_every_connection_failure_is_explained(exc, needles):
    message = describe_exception(exc, url=URL, timeout=7)
    assert HOST in message
    for needle in needles:
        assert needle in message, (needle, message)
    assert "sk-should" not in message  # exception texts are never quoted


def test_timeout_message_without_the_number_still_names_the_valve():
    message = describe_exception(asyncio.TimeoutError(), url=URL)
    assert "REQUEST_TIMEOUT" in message and "None" not in message
    assert "1 second," in describe_exception(asyncio.TimeoutError(), url=URL, timeout=1)


@pytest.mark.parametrize(
    "exc, reason",
    [(aiohttp.ClientConnectorDNSError(connection_key(), OSError(-2, "x")), "host not found"),
     (aiohttp.ClientConnectorError(connection_key(), ConnectionRefusedError(111, "x")),
      "connection refused"),
     (aiohttp.ConnectionTimeoutError(), "no answer in time"),
     (aiohttp.ServerDisconnectedError(), "connection closed without an answer"),
     (aiohttp.ClientPayloadError("x"), "connection failed")],
)
def test_short_reasons(exc, reason):
    assert short_reason(exc) == reason


@pytest.mark.parametrize(
    "url, host",
    [("https://api.openai.com/v1", "api.openai.com"),
     ("http://127.0.0.1:8080/v1/chat/completions?api-key=SECRET123", "127.0.0.1:8080"),
     ("https://admin:SECRET123@proxy.example.com:3128/v1", "proxy.example.com:3128"),
     ("http://[::1]:11434/v1", "[::1]:11434"),
     ("not a url", "the endpoint")],
)
def test_host_of_never_shows_credentials_or_queries(url, host):
    assert host_of(url) == host


# ---- retry_after_seconds ----------------------------------------------------------------


def headers(**values):
    return CIMultiDict({name.replace("_", "-"): value for name, value in values.items()})


@pytest.mark.parametrize(
    "given, expected",
    [({"retry_after": "7"}, 7.0), ({"Retry_After": "1.5"}, 1.5), ({"retry_after": "0"}, 0.0),
     ({"retry_after": "-3"}, 0.0), ({"retry_after_ms": "250"}, 0.25),
     ({"retry_after_ms": "1500", "retry_after": "9"}, 1.5),  # OpenAI sends both: ms wins
     ({"retry_after_ms": "soon", "retry_after": "4"}, 4.0),
     ({"retry_after": "nan"}, None), ({"retry_after": "inf"}, None),
     ({"retry_after": "later"}, None), ({"retry_after": ""}, None), ({}, None)],
)
def test_retry_after_in_seconds_and_milliseconds(given, expected):
    assert retry_after_seconds(headers(**given)) == expected


def test_retry_after_as_an_http_date():
    wait = retry_after_seconds(headers(retry_after=formatdate(time.time() + 30, usegmt=True)))
    assert 28 <= wait <= 30
    past = formatdate(time.time() - 3600, usegmt=True)
    assert retry_after_seconds(headers(retry_after=past)) == 0.0


def test_retry_after_date_in_minus_zero_zone_is_read_as_utc(monkeypatch):
    date = formatdate(time.time() + 30)  # "... -0000": parsed as a naive datetime
    assert date.endswith("-0000")
    monkeypatch.setenv("TZ", "America/New_York")  # a naive date must not be local time
    time.tzset()
    try:
        assert 28 <= retry_after_seconds(headers(retry_after=date)) <= 30
    finally:
        monkeypatch.undo()
        time.tzset()


def test_retry_after_reads_aiohttp_headers_case_insensitively():
    assert retry_after_seconds(CIMultiDict({"RETRY-AFTER-MS": "100"})) == 0.1
