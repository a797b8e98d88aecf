"""What reaches the upstream: Open WebUI's keys never, OpenAI's API only its own."""

from openai_manifold_pipe.errors import ErrorDetail
from openai_manifold_pipe.payload import (
    build_payload,
    drop_parameter,
    refused_parameters,
    strip_function_prefix,
)

WEB_BODY = {
    "stream": True, "model": "openai_manifold_pipe.gpt-4o",
    "messages": [{"role": "user", "content": "hi"}], "temperature": 0.5, "max_tokens": 77,
    "top_k": 40, "min_p": 0.1, "repeat_penalty": 1.1, "num_ctx": 4096, "keep_alive": "5m",
    "think": True, "format": "json", "features": {}, "variables": {}, "session_id": "s",
    "id": "m", "chat_id": "c", "params": {}, "tool_ids": [], "files": [], "metadata": {},
    "tools": [{"type": "function", "function": {"name": "get_current_timestamp"}}],
}


def test_strip_prefix_at_first_dot_only():
    assert strip_function_prefix("openai_manifold_pipe.gpt-4.1") == "gpt-4.1"
    assert strip_function_prefix("gpt-4o") == "gpt-4o"


def test_openai_gets_only_its_parameters_and_usage():
    payload = build_payload(WEB_BODY, "gpt-4o", openai_api=True, default_effort=None)
    assert payload == {
        "stream": True, "model": "gpt-4o", "messages": WEB_BODY["messages"],
        "temperature": 0.5, "max_tokens": 77, "tools": WEB_BODY["tools"],
        "stream_options": {"include_usage": True},
    }


INTERNAL = ("features", "variables", "session_id", "id", "chat_id", "params", "tool_ids",
            "files", "metadata")
OLLAMA_ONLY = ("num_ctx", "keep_alive", "think", "format")


def test_other_endpoints_keep_their_sampling_params_but_not_ollamas_nor_open_webuis():
    payload = build_payload(WEB_BODY, "llama3", openai_api=False, default_effort=None)
    for kept in ("top_k", "min_p", "repeat_penalty"):
        assert kept in payload
    for dropped in INTERNAL + OLLAMA_ONLY:
        assert dropped not in payload


def test_ollama_gets_its_own_options():
    payload = build_payload(WEB_BODY, "llama3", openai_api=False, default_effort=None,
                            ollama=True)
    for kept in ("top_k", "min_p", "repeat_penalty") + OLLAMA_ONLY:
        assert kept in payload
    for internal in INTERNAL:
        assert internal not in payload


def test_openai_chat_models_get_no_reasoning_effort():
    body = {**WEB_BODY, "reasoning_effort": "medium"}
    assert "reasoning_effort" not in build_payload(body, "gpt-4o", openai_api=True,
                                                   default_effort=None)
    # Elsewhere a model may well reason (Groq's gpt-oss, DeepSeek...): it is kept.
    assert build_payload(body, "gpt-oss-120b", openai_api=False,
                         default_effort=None)["reasoning_effort"] == "medium"


def logit_bias(value):
    payload = build_payload({"messages": [], "logit_bias": value}, "m", openai_api=False,
                            default_effort=None)
    return payload.get("logit_bias", "left out")


def test_logit_bias_from_chat_controls_text_becomes_an_object():
    assert logit_bias("5678:-100, 1234: 20,") == {"5678": -100, "1234": 20}
    assert logit_bias("42:150") == {"42": 100}  # clamped like Open WebUI's own parser
    assert logit_bias({"42": 5}) == {"42": 5}
    for bad in ("", "hello", "12:x", "12", None):
        assert logit_bias(bad) == "left out"


def test_non_streaming_drops_stream_options_and_previously_refused():
    body = {"model": "x.m", "messages": [], "stream_options": {"include_usage": True},
            "seed": 3, "stream": False}
    payload = build_payload(body, "m", openai_api=False, default_effort=None,
                            dropped=frozenset({"seed"}))
    assert payload == {"model": "m", "messages": [], "stream": False}


def test_reasoning_rules_apply_with_valve_default():
    body = {"model": "p.o3", "messages": [], "max_tokens": 5, "temperature": 1, "stream": False}
    payload = build_payload(body, "o3", openai_api=True, default_effort="MINIMAL")
    assert payload == {"model": "o3", "messages": [], "max_completion_tokens": 5,
                       "reasoning_effort": "low", "stream": False}


def test_refused_parameters_read_openai_and_vllm_errors():
    payload = {"model": "m", "top_k": 3, "seed": 1, "num_ctx": 2,
               "messages": [{"role": "system"}]}
    one = ErrorDetail(message="Unrecognized request argument supplied: top_k")
    assert refused_parameters(one, payload) == ["top_k"]
    many = ErrorDetail(message="Unrecognized request arguments supplied: top_k, num_ctx")
    assert refused_parameters(many, payload) == ["top_k", "num_ctx"]
    assert refused_parameters(ErrorDetail(message="x", param="seed"), payload) == ["seed"]
    assert refused_parameters(ErrorDetail(message="Unsupported parameter: 'model'"), payload) == []
    quoted = ErrorDetail(message="Unsupported parameter: 'seed' is not supported with this model.")
    assert refused_parameters(quoted, payload) == ["seed"]
    role = ErrorDetail(message="Unsupported value: 'messages[0].role' does not support 'system'",
                       param="messages[0].role")
    assert refused_parameters(role, payload) == ["messages[0].role"]
    drop_parameter(payload, "messages[0].role")
    assert payload["messages"] == [{"role": "user"}]
    assert refused_parameters(role, payload) == []


def test_dropping_tools_drops_their_companions():
    payload = {"tools": [], "tool_choice": "auto", "parallel_tool_calls": True, "model": "m"}
    drop_parameter(payload, "tools")
    assert payload == {"model": "m"}
