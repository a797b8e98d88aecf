"""Reasoning-model families and how a request is reshaped for them."""

import pytest

from openai_manifold_pipe.reasoning import apply_reasoning_rules, coerce_effort, reasoning_family


@pytest.mark.parametrize(
    "model", ["o1", "o1-mini", "o1-preview", "o3", "o3-mini", "o4-mini", "o5", "gpt-5",
              "gpt-5-mini", "gpt-5.1", "gpt-5.2", "gpt-5.4", "gpt-6", "openai/o3",
              "gpt-5-2025-08-07"]
)
def test_reasoning_models(model):
    assert reasoning_family(model) is not None


@pytest.mark.parametrize(
    "model", ["gpt-4o", "gpt-4.1", "gpt-5-chat-latest", "gpt-5.1-chat-latest", "omni-moderation",
              "llama3", "gpt-oss-20b", "deepseek-reasoner", "o"]
)
def test_not_reasoning_models(model):
    assert reasoning_family(model) is None


@pytest.mark.parametrize(
    "model,asked,expected",
    [("o3", "minimal", "low"), ("o3", "none", "low"), ("gpt-5", "xhigh", "high"),
     ("gpt-5", "none", "minimal"), ("gpt-5.1", "minimal", "low"), ("gpt-5.2", "xhigh", "xhigh"),
     ("gpt-5.1", "xhigh", "high"), ("o4-mini", "high", "high")],
)
def test_effort_is_coerced_to_nearest_accepted(model, asked, expected):
    assert coerce_effort(asked, reasoning_family(model).efforts) == expected


def shaped(model, body, default=None):
    payload = {"model": model, **body}
    apply_reasoning_rules(payload, reasoning_family(model), default)
    return payload


def test_max_tokens_and_sampling_on_o3():
    payload = shaped(
        "o3",
        {"max_tokens": 50, "temperature": 0.3, "top_p": 0.9, "stop": ["x"], "seed": 1,
         "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]},
    )
    assert payload == {
        "model": "o3", "max_completion_tokens": 50, "seed": 1,
        "messages": [{"role": "developer", "content": "s"}, {"role": "user", "content": "u"}],
    }


def test_o3_mini_keeps_stop_and_o1_mini_gets_user_role_without_effort():
    assert shaped("o3-mini", {"stop": ["x"]})["stop"] == ["x"]
    payload = shaped("o1-mini", {"reasoning_effort": "high",
                                 "messages": [{"role": "system", "content": "s"}]}, "low")
    assert payload["messages"][0]["role"] == "user" and "reasoning_effort" not in payload


def test_valve_default_effort_fills_in_and_is_coerced():
    assert shaped("o3", {}, "minimal")["reasoning_effort"] == "low"
    assert shaped("o3", {"reasoning_effort": "high"}, "low")["reasoning_effort"] == "high"
    assert "reasoning_effort" not in shaped("o3", {})
    assert shaped("o3", {"reasoning_effort": "bogus"}, None).get("reasoning_effort") is None


def test_gpt_5_1_keeps_sampling_only_without_reasoning():
    assert shaped("gpt-5.1", {"temperature": 0.2})["temperature"] == 0.2
    assert "temperature" not in shaped("gpt-5.1", {"temperature": 0.2, "reasoning_effort": "low"})
    assert "temperature" not in shaped("gpt-5", {"temperature": 0.2, "reasoning_effort": "minimal"})


def test_tools_on_gpt_5_2_go_out_without_reasoning_unless_asked():
    tools = [{"type": "function", "function": {"name": "f"}}]
    payload = shaped("gpt-5.2", {"tools": tools})
    assert payload["reasoning_effort"] == "none" and payload["tools"] == tools
    payload = shaped("gpt-5.4", {"tools": tools, "tool_choice": "auto"}, "high")
    assert payload["reasoning_effort"] == "high" and "tools" not in payload
    assert "tool_choice" not in payload
    assert shaped("gpt-5", {"tools": tools})["tools"] == tools


def test_input_body_messages_are_not_mutated():
    messages = [{"role": "system", "content": "s"}]
    shaped("o3", {"messages": messages})
    assert messages[0]["role"] == "system"
