"""OpenAI's error answers: `ApiError`, the bodies and the wording api.openai.com uses.

Why word for word: the pipe shows upstream errors to the user and recognises some of
them (an unsupported parameter is dropped and retried), so the fakes must say exactly
what OpenAI says, in the same JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

KEYS_URL = "https://platform.openai.com/account/api-keys"
NO_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an "
    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or "
    "as the password field (with blank username) if you're accessing the API from your "
    "browser and are prompted for a username and password. You can obtain an API key "
    f"from {KEYS_URL}."
)
BAD_JSON_MESSAGE = (
    "We could not parse the JSON body of your request. (HINT: This likely means you "
    "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, "
    "but what was sent was not valid JSON. If you have trouble figuring out how to fix "
    "this, please contact us through our help center at help.openai.com.)"
)
MODEL_NOT_FOUND = "The model `{model}` does not exist or you do not have access to it."
SERVER_ERROR = (
    "The server had an error while processing your request. Sorry about that!"
)
ERROR_CODE_STATUS = {
    "insufficient_quota": 429,
    "rate_limit_exceeded": 429,
    "invalid_api_key": 401,
    "model_not_found": 404,
}


class ApiError(Exception):
    """An OpenAI-shaped error answer; raised by validation, turned into JSON once."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.payload = error_body(message, type, code, param)


def error_body(
    message: str, kind: str, code: str | int | None, param: str | None = None
) -> dict:
    """{"error": {...}} in OpenAI's field order."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def unsupported_parameter(param: str, extra: str = "") -> ApiError:
    """OpenAI's answer to a parameter the model does not take at all."""
    message = f"Unsupported parameter: '{param}' is not supported with this model."
    return ApiError(400, message + extra, param=param, code="unsupported_parameter")


def unsupported_value(param: str, message: str) -> ApiError:
    """OpenAI's answer to a parameter whose value the model does not take."""
    return ApiError(400, message, param=param, code="unsupported_value")


def unsupported_choice(param: str, value: Any, supported: Iterable[str]) -> ApiError:
    """OpenAI's answer to a value outside the ones a model supports, listing them."""
    message = (
        f"Unsupported value: '{param}' does not support {format_value(value)} with "
        f"this model. Supported values are: {quote_list(supported)}."
    )
    return unsupported_value(param, message)


def missing_parameter(name: str) -> ApiError:
    """OpenAI's 400 for a required argument left out."""
    message = f"Missing required parameter: '{name}'."
    return ApiError(400, message, param=name, code="missing_required_parameter")


def unrecognized_arguments(names: list[str]) -> ApiError:
    """OpenAI's answer to top-level arguments it does not know, all named at once."""
    plural = "s" if len(names) > 1 else ""
    message = f"Unrecognized request argument{plural} supplied: {', '.join(names)}"
    return ApiError(400, message)


def model_not_found(model: Any) -> ApiError:
    """OpenAI's 404 for a model id it does not know (or the key may not use)."""
    message = MODEL_NOT_FOUND.format(model=model)
    return ApiError(404, message, code="model_not_found")


def invalid_key_message(shown: str) -> str:
    """OpenAI's 401 message, naming the key as `shown` (normally masked)."""
    return (
        f"Incorrect API key provided: {shown}. You can find your API key at "
        f"{KEYS_URL}."
    )


def mask_key(key: str) -> str:
    """Mask a key the way OpenAI's 401 does: first 8, asterisks, last 4."""
    if len(key) <= 12:
        return key  # OpenAI echoes very short keys whole: a leak the pipe must hide
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


def quote_list(values: Iterable[str]) -> str:
    """'a', 'b', and 'c' - the way OpenAI lists supported values."""
    quoted = [f"'{value}'" for value in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def format_value(value: Any) -> str:
    """A value as OpenAI prints it in an error (strings quoted, numbers bare)."""
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def json_type(value: Any) -> str:
    """How OpenAI names a value's JSON type in an error: 'a string', 'an array'..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return "a string" if isinstance(value, str) else "null"


def empty_array(param: str) -> ApiError:
    """OpenAI's 400 for an array argument given empty."""
    message = (
        f"Invalid '{param}': empty array. Expected an array with minimum length 1, "
        "but got an empty array instead."
    )
    return ApiError(400, message, param=param, code="empty_array")


def default_error_body(code: int, model: str, opts: dict) -> dict:
    """OpenAI's usual error JSON for an HTTP status (429 has a quota variant)."""
    quota = opts.get("quota") or opts.get("error_code") == "insufficient_quota"
    message = opts.get("message")
    if code == 429 and quota:
        text = (
            "You exceeded your current quota, please check your plan and billing "
            "details. For more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors."
        )
        return error_body(message or text, "insufficient_quota", "insufficient_quota")
    if code == 429:
        text = (
            f"Rate limit reached for {model} in organization org-fake on requests per "
            "min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit "
            "https://platform.openai.com/account/rate-limits to learn more."
        )
        return error_body(message or text, "requests", "rate_limit_exceeded")
    default_type = "server_error" if code >= 500 else "invalid_request_error"
    fallback = (f"HTTP {code}", default_type, None)
    text, kind, error_code = canned_error(code, model) or fallback
    return error_body(message or text, kind, error_code)


def canned_error(code: int, model: str) -> tuple[str, str, str | int | None] | None:
    """(message, type, code) OpenAI (or Cloudflare before it) sends with a status."""
    canned: dict[int, tuple[str, str, str | int | None]] = {
        400: ("Bad request.", "invalid_request_error", None),
        401: (
            invalid_key_message("sk-fake1**********wxyz"),
            "invalid_request_error",
            "invalid_api_key",
        ),
        403: (
            f"Project `proj_fake` does not have access to model `{model}`",
            "invalid_request_error",
            "model_not_found",
        ),
        404: (
            MODEL_NOT_FOUND.format(model=model),
            "invalid_request_error",
            "model_not_found",
        ),
        408: ("Request timed out.", "timeout", None),
        409: (
            "Conflict: the request could not be completed.",
            "invalid_request_error",
            None,
        ),
        500: (SERVER_ERROR, "server_error", None),
        502: ("Bad gateway.", "cf_bad_gateway", 502),
        503: ("The server is overloaded or not ready yet.", "server_error", None),
        504: ("Gateway timeout.", "cf_gateway_timeout", 504),
    }
    return canned.get(code)
