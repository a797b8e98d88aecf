"""Endpoint: where requests go and how they authenticate, by provider.

Almost every provider speaks OpenAI's paths with a Bearer key. Azure OpenAI is
the exception worth knowing: an `api-key` header, and in its deployment form a
URL per deployment with an `api-version` query. OpenAI's own API and Azure
OpenAI also share the strict parameter rules and the GPT-only model filter.
Ollama is the one server that understands Ollama's own options (`num_ctx`,
`keep_alive`...), so it is recognised too: by its port, or by its name in the URL.
"""

import re
from dataclasses import dataclass
from urllib.parse import SplitResult, quote, urlsplit

# Azure OpenAI resources serve only OpenAI's models; AI Foundry serves many vendors'.
_AZURE_OPENAI_HOSTS = (".openai.azure.com", ".cognitiveservices.azure.com")
_AZURE_HOSTS = (*_AZURE_OPENAI_HOSTS, ".services.ai.azure.com")
_ANTHROPIC_HOST = "api.anthropic.com"
# Anthropic's own API version header, which its /models listing requires.
ANTHROPIC_VERSION = "2023-06-01"
_DEPLOYMENT = re.compile(r"/openai/deployments/([^/]+)$")
# Ollama's default port; "ollama" in a host or path names it (a Docker service
# `http://ollama:11434/v1`, a reverse proxy, Open WebUI's own `/ollama/v1` relay).
_OLLAMA_PORT = 11434


@dataclass(frozen=True)
class Endpoint:
    """One configured base URL, understood."""

    base: str
    openai_rules: bool
    azure: bool
    anthropic: bool
    ollama: bool
    deployment: str | None
    api_version: str

    @classmethod
    def from_url(cls, url: str, api_version: str) -> "Endpoint":
        base = url.strip().rstrip("/")
        parts = urlsplit(base)
        host = (parts.hostname or "").lower()
        azure = host.endswith(_AZURE_HOSTS)
        match = _DEPLOYMENT.search(parts.path) if azure else None
        return cls(
            base=base,
            openai_rules=host == "api.openai.com" or host.endswith(_AZURE_OPENAI_HOSTS),
            azure=azure,
            anthropic=host == _ANTHROPIC_HOST,
            ollama=_port(parts) == _OLLAMA_PORT
            or "ollama" in f"{host}{parts.path}".lower(),
            deployment=match.group(1) if match else None,
            api_version=api_version.strip(),
        )

    @property
    def chat_url(self) -> str:
        url = f"{self.base}/chat/completions"
        if self.deployment:
            url += f"?api-version={quote(self.api_version)}"
        return url

    @property
    def responses_url(self) -> str:
        return f"{self.base}/responses"

    @property
    def speaks_responses(self) -> bool:
        """OpenAI's own API and Azure OpenAI's v1 form serve /responses for sure."""
        return self.openai_rules and not self.deployment

    @property
    def models_url(self) -> str:
        return f"{self.base}/models"

    def headers(
        self, key: str, *, organization: str = "", project: str = ""
    ) -> dict[str, str]:
        """Headers for one request; no key means no auth header at all, never `Bearer `.

        Anthropic's OpenAI layer takes a Bearer key for chats but lists models
        only with its own `x-api-key`, so both go out.
        """
        headers = {"Content-Type": "application/json"}
        if key:
            if self.azure:
                headers["api-key"] = key
            else:
                headers["Authorization"] = f"Bearer {key}"
            if self.anthropic:
                headers["x-api-key"] = key
                headers["anthropic-version"] = ANTHROPIC_VERSION
        if organization:
            headers["OpenAI-Organization"] = organization
        if project:
            headers["OpenAI-Project"] = project
        return headers


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:  # refused when the valve is saved; never fatal here
        return None
