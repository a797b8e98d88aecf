"""Where requests go and how they authenticate, per provider."""

from openai_manifold_pipe.endpoint import Endpoint


def test_openai_gets_bearer_and_strict_rules():
    endpoint = Endpoint.from_url("https://api.openai.com/v1/", "2024-10-21")
    assert endpoint.base == "https://api.openai.com/v1" and endpoint.openai_rules
    assert endpoint.chat_url == "https://api.openai.com/v1/chat/completions"
    assert endpoint.headers("sk-x")["Authorization"] == "Bearer sk-x"


def test_azure_deployment_form():
    endpoint = Endpoint.from_url(
        "https://res.openai.azure.com/openai/deployments/my-gpt4o", "2025-04-01-preview"
    )
    assert endpoint.azure and endpoint.openai_rules and endpoint.deployment == "my-gpt4o"
    assert endpoint.chat_url.endswith(
        "/openai/deployments/my-gpt4o/chat/completions?api-version=2025-04-01-preview"
    )
    headers = endpoint.headers("azkey")
    assert headers["api-key"] == "azkey" and "Authorization" not in headers


def test_azure_v1_form_uses_plain_paths():
    endpoint = Endpoint.from_url("https://res.cognitiveservices.azure.com/openai/v1", "x")
    assert endpoint.azure and endpoint.deployment is None
    assert endpoint.chat_url == "https://res.cognitiveservices.azure.com/openai/v1/chat/completions"


def test_no_key_sends_no_auth_header():
    for url in ("http://localhost:11434/v1", "https://res.openai.azure.com/openai/v1"):
        headers = Endpoint.from_url(url, "v").headers("")
        assert "Authorization" not in headers and "api-key" not in headers


def test_other_endpoints_are_not_openai():
    for url in ("http://127.0.0.1:8000/v1", "https://openrouter.ai/api/v1",
                "https://api.openai.com.evil.example/v1"):
        assert not Endpoint.from_url(url, "v").openai_rules


def test_ollama_is_recognised_by_its_port_or_its_name():
    for url in ("http://localhost:11434/v1", "http://host.docker.internal:11434/v1",
                "http://ollama:11434/v1", "https://ollama.example.com/v1",
                "http://openwebui:8080/ollama/v1"):
        assert Endpoint.from_url(url, "x").ollama, url
    for url in ("http://localhost:8000/v1", "https://api.groq.com/openai/v1",
                "https://api.openai.com/v1", "http://localhost:1234/v1"):
        assert not Endpoint.from_url(url, "x").ollama, url
