"""Valves: the admin's and each user's settings, checked when saved.

Names and types match what the original v0.1.2 saved, so an upgrade keeps every
value. Open WebUI stores only what was sent and validates with these classes, so
a bad value is refused at save time with a message naming the valve.
"""

import re
import sys
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .quota import parse_quota
from .usage import DEFAULT_PRICES, parse_prices

EFFORT_LEVELS = ("none", "minimal", "low", "medium", "high", "xhigh")
RESPONSES_API_MODES = ("auto", "always", "never")
SUMMARY_KINDS = ("auto", "concise", "detailed", "off")

# Open WebUI masks a valve whose schema asks for a password input, from 0.8 on;
# before that its form shows no box at all for one, so the key could not be typed.
MASKED_SINCE = (0, 8, 0)
# Forms show each valve by its name, the name README and error messages use,
# rather than pydantic's "Openai Api Key".
_NAMES_AS_TITLES = ConfigDict(field_title_generator=lambda name, _: name)
_API_VERSION = re.compile(r"\d{4}-\d{2}-\d{2}(?:-preview)?|preview|latest")


def _secret_input(schema: dict) -> None:
    """A key field: masked where the host can mask it, a plain text box before."""
    if host_version() >= MASKED_SINCE:
        schema["input"] = {"type": "password"}


def host_version() -> tuple[int, ...]:
    """The running Open WebUI's version; outside one (tests, tools), the newest.

    Read from the module Open WebUI itself has loaded, never imported here: an
    import would run its configuration code in a process that is not Open WebUI.
    """
    version = getattr(sys.modules.get("open_webui.env"), "VERSION", None)
    numbers = re.findall(r"\d+", version)[:3] if isinstance(version, str) else []
    return tuple(int(number) for number in numbers) if numbers else (sys.maxsize,)


class Valves(BaseModel):
    """Global settings, set by an admin."""

    model_config = _NAMES_AS_TITLES

    OPENAI_API_KEY: str = Field(
        default="",
        description="Key used to list models. Used for chats only when "
        "ALLOW_GLOBAL_KEY_FALLBACK is on. Several keys, comma-separated, take turns "
        "and stand in for each other when one is rate-limited.",
        json_schema_extra=_secret_input,
    )
    OPENAI_API_BASE_URL: str = Field(
        default="https://api.openai.com/v1",
        description="Any OpenAI-compatible endpoint, e.g. http://localhost:11434/v1.",
    )
    NAME_PREFIX: str = Field(
        default="OPENAI/",
        description="Prefix of every model name in the model picker.",
    )
    MODEL_ALLOWLIST: str = Field(
        default="",
        description="Comma-separated model ids or globs (gpt-4o*). When set, only "
        "these are offered; plain ids are offered even if the endpoint cannot list them.",
    )
    MODEL_BLOCKLIST: str = Field(
        default="",
        description="Comma-separated model ids or globs never offered.",
    )
    CHAT_MODELS_ONLY: bool = Field(
        default=True,
        description="Offer only models that can chat (on OpenAI: GPT and o-series "
        "chat models). Off: offer everything the endpoint lists.",
    )
    ALLOW_GLOBAL_KEY_FALLBACK: bool = Field(
        default=False,
        description="Users without a key of their own chat on the global key (or "
        "with no key at all when it is empty, for local servers).",
    )
    USER_QUOTA: str = Field(
        default="",
        description="Per-user limits on chats that use the global key, e.g. "
        "requests/hour=60, tokens/day=200000, usd/month=5 (periods minute, hour, "
        "day, week, month; calendar periods in UTC). Counted in a table of this "
        "pipe's in Open WebUI's database. Empty: no limits.",
    )
    MODEL_CACHE_TTL: int = Field(
        default=300,
        description="Seconds a fetched model list is reused. If a refresh fails, "
        "the last good list is served.",
    )
    REQUEST_TIMEOUT: int = Field(
        default=600,
        description="Longest wait in seconds for the next data from the endpoint "
        "before the chat ends with an error.",
    )
    MAX_RETRIES: int = Field(
        default=2,
        description="Retries (0-10) of a request that failed before any answer was "
        "shown: connection errors, 408, 409, 429, 500, 502, 503, 504.",
    )
    REASONING_EFFORT: str = Field(
        default="",
        description="Default reasoning_effort for reasoning models when the chat "
        "sets none: none, minimal, low, medium, high or xhigh. Empty: the model's own default.",
    )

    RESPONSES_API: str = Field(
        default="auto",
        description="Use OpenAI's Responses API (reasoning summaries, tools with "
        "reasoning, Responses-only models): auto = for reasoning and Responses-only "
        "models on OpenAI and Azure OpenAI; always = every model, any endpoint that "
        "has /responses; never = /chat/completions only.",
    )
    REASONING_SUMMARY: str = Field(
        default="auto",
        description="Reasoning summary shown as the thought block on the Responses "
        "API: auto, concise, detailed, or off.",
    )

    AZURE_API_VERSION: str = Field(
        default="2024-10-21",
        description="api-version for Azure OpenAI deployment URLs "
        "(.../openai/deployments/<name>). Not used by other endpoints.",
    )

    SHOW_USAGE_SUMMARY: bool = Field(
        default=True,
        description="Show a short line with each answer: tokens in and out, "
        "tokens per second and, where a price is known, the cost.",
    )
    MODEL_PRICES: str = Field(
        default=DEFAULT_PRICES,
        description="Prices for the usage summary: model=input/output in US dollars "
        "per million tokens, comma-separated; globs allowed (gpt-5*=1.25/10). "
        "OpenAI's list prices (the default entries) count on OpenAI and Azure "
        "OpenAI only; entries you add or change count on any endpoint.",
    )

    @field_validator("OPENAI_API_BASE_URL")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "OPENAI_API_BASE_URL must be an http(s) URL such as "
                "https://api.openai.com/v1"
            )
        if parts.username or parts.password:
            raise ValueError(
                "OPENAI_API_BASE_URL must not hold a user name or password: put the "
                "key in OPENAI_API_KEY"
            )
        return value

    @field_validator("MODEL_CACHE_TTL")
    @classmethod
    def _ttl(cls, value: int) -> int:
        if value < 0:
            raise ValueError("MODEL_CACHE_TTL must be 0 seconds or more")
        return value

    @field_validator("REQUEST_TIMEOUT")
    @classmethod
    def _timeout(cls, value: int) -> int:
        if value < 1:
            raise ValueError("REQUEST_TIMEOUT must be at least 1 second")
        return value

    @field_validator("MAX_RETRIES")
    @classmethod
    def _retries(cls, value: int) -> int:
        if not 0 <= value <= 10:
            raise ValueError("MAX_RETRIES must be between 0 and 10")
        return value

    @field_validator("REASONING_EFFORT")
    @classmethod
    def _effort(cls, value: str) -> str:
        if value.strip().lower() not in ("", *EFFORT_LEVELS):
            raise ValueError(
                "REASONING_EFFORT must be empty or one of: " + ", ".join(EFFORT_LEVELS)
            )
        return value

    @field_validator("RESPONSES_API")
    @classmethod
    def _responses_api(cls, value: str) -> str:
        if value.strip().lower() not in RESPONSES_API_MODES:
            raise ValueError(
                "RESPONSES_API must be one of: " + ", ".join(RESPONSES_API_MODES)
            )
        return value

    @field_validator("REASONING_SUMMARY")
    @classmethod
    def _summary(cls, value: str) -> str:
        if value.strip().lower() not in SUMMARY_KINDS:
            raise ValueError(
                "REASONING_SUMMARY must be one of: " + ", ".join(SUMMARY_KINDS)
            )
        return value

    @field_validator("AZURE_API_VERSION")
    @classmethod
    def _api_version(cls, value: str) -> str:
        if not _API_VERSION.fullmatch(value.strip()):
            raise ValueError(
                "AZURE_API_VERSION must look like 2024-10-21, 2025-04-01-preview "
                "or preview"
            )
        return value

    @field_validator("USER_QUOTA")
    @classmethod
    def _quota(cls, value: str) -> str:
        parse_quota(value)
        return value

    @field_validator("MODEL_PRICES")
    @classmethod
    def _prices(cls, value: str) -> str:
        parse_prices(value)
        return value


class UserValves(BaseModel):
    """Each user's own settings, from the Valves button beside the message box."""

    model_config = _NAMES_AS_TITLES

    OPENAI_API_KEY: str = Field(
        default="",
        description="Your own API key: every chat of yours goes out with it.",
        json_schema_extra=_secret_input,
    )
    ORGANIZATION_ID: str = Field(
        default="",
        description="Optional: sent as the OpenAI-Organization header.",
    )
    PROJECT_ID: str = Field(
        default="",
        description="Optional: sent as the OpenAI-Project header.",
    )
