"""A chat as a /responses request: valid against OpenAI's published description."""

import pytest

from openai_manifold_pipe.reasoning import reasoning_family
from openai_manifold_pipe.responses_payload import build_responses_request
from tests.openapi_check import check_responses_request

TOOL = {"type": "function", "function": {"name": "get_time", "description": "Now.",
                                         "parameters": {"type": "object", "properties": {}}}}
WEB_BODY = {
    "stream": True, "model": "openai_manifold_pipe.gpt-5.2",
    "messages": [{"role": "system", "content": "Be brief."},
                 {"role": "user", "content": "What time is it?"}],
    "temperature": 0.8, "max_tokens": 128, "top_k": 40, "min_p": 0.0, "num_ctx": 2048,
    "keep_alive": "5m", "seed": 0, "stop": ["###"], "frequency_penalty": 1.1,
    "logit_bias": {"5678": -100}, "reasoning_effort": "high", "tools": [TOOL],
}


def build(body, model, summary="auto", effort=None, openai_api=True, chat_id="chat-1"):
    request = build_responses_request(
        body, model, family=reasoning_family(model), default_effort=effort,
        summary=summary, openai_api=openai_api, chat_id=chat_id)
    assert check_responses_request(request) == [], request
    return request


def test_a_web_chat_keeps_its_tools_and_its_reasoning():
    request = build(WEB_BODY, "gpt-5.2")
    assert request["instructions"] == "Be brief."
    assert request["input"] == [{"role": "user", "content": "What time is it?"}]
    assert request["tools"] == [{"type": "function", "name": "get_time", "description": "Now.",
                                 "parameters": {"type": "object", "properties": {}},
                                 "strict": False}]
    assert request["reasoning"] == {"effort": "high", "summary": "auto"}
    assert request["include"] == ["reasoning.encrypted_content"]
    assert request["store"] is False and request["stream"] is True
    assert request["max_output_tokens"] == 128
    for never in ("temperature", "top_k", "min_p", "num_ctx", "keep_alive", "seed", "stop",
                  "frequency_penalty", "logit_bias", "max_tokens", "messages", "tool_choice"):
        assert never not in request
    assert request["prompt_cache_key"].startswith("owui-")
    assert "chat-1" not in request["prompt_cache_key"]


@pytest.mark.parametrize("model, asked, sent", [
    ("o3", "minimal", "low"), ("gpt-5", "none", "minimal"), ("gpt-5.2", "xhigh", "xhigh"),
    ("gpt-5-pro", "low", "high"), ("gpt-5-codex", "minimal", "low"), ("o3-pro", "high", "high"),
])
def test_effort_is_coerced_to_one_the_family_accepts(model, asked, sent):
    request = build({"messages": [{"role": "user", "content": "hi"}],
                     "reasoning_effort": asked}, model)
    assert request["reasoning"]["effort"] == sent


@pytest.mark.parametrize("asked, sent", [("auto", "auto"), ("detailed", "detailed"),
                                         ("concise", "detailed"), ("off", None)])
def test_summary_kind_is_one_openai_gives_these_models(asked, sent):
    request = build({"messages": [{"role": "user", "content": "hi"}]}, "o4-mini", summary=asked)
    assert request.get("reasoning", {}).get("summary") == sent


def test_no_reasoning_no_summary_and_sampling_allowed_on_gpt_5_1():
    body = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.2}
    request = build(body, "gpt-5.1")  # its default effort is none
    assert "reasoning" not in request and "include" not in request
    assert request["temperature"] == 0.2
    request = build({**body, "reasoning_effort": "none"}, "gpt-5.2")
    assert request["reasoning"] == {"effort": "none"} and request["temperature"] == 0.2
    assert "temperature" not in build({**body, "reasoning_effort": "low"}, "gpt-5.2")


def test_a_chat_model_gets_no_reasoning_on_openai_but_elsewhere_what_was_asked():
    body = {"messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "low",
            "temperature": 0.3}
    request = build(body, "gpt-4o")
    assert "reasoning" not in request and request["temperature"] == 0.3
    assert build(body, "gpt-oss-20b", openai_api=False)["reasoning"] == {"effort": "low"}


def test_a_tool_calling_turn_goes_back_with_its_reasoning_call_and_output():
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [{"type": "text", "text": "Look"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": "Let me check.",
         "reasoning_details": [
             {"type": "reasoning.encrypted", "id": "rs_1", "data": "gAAAA1",
              "format": "openai-responses-v1"},
             {"type": "reasoning.text", "text": "from another provider"}],
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
        {"role": "system", "content": "A later instruction."},
    ]
    request = build({"messages": messages, "tools": [TOOL]}, "gpt-5.2")
    assert request["input"] == [
        {"role": "user", "content": [
            {"type": "input_text", "text": "Look"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA1"},
        {"role": "assistant", "content": "Let me check."},
        {"type": "function_call", "call_id": "call_1", "name": "get_time", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "12:00"},
        {"role": "developer", "content": "A later instruction."},
    ]


def test_text_options_and_tool_choice_take_their_responses_form():
    body = {"messages": [{"role": "user", "content": "hi"}], "verbosity": "low",
            "response_format": {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": {"type": "object"}, "strict": True}},
            "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "get_time"}},
            "max_completion_tokens": 5, "stream": False}
    request = build(body, "gpt-5", chat_id=None)
    assert request["text"] == {"verbosity": "low", "format": {
        "type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": True}}
    assert request["tool_choice"] == {"type": "function", "name": "get_time"}
    assert request["max_output_tokens"] == 16  # OpenAI's smallest
    assert request["stream"] is False and "prompt_cache_key" not in request
