"""The OpenAPI checker itself: it must pass valid bodies and, above all, be able to fail.

Pure unit tests against the vendored subset (tests/openapi/openai-subset.json); no
network, no server, no Open WebUI.
"""

import json

import pytest

from tests.openapi_check import (
    SUBSET,
    check_chat_chunk,
    check_chat_request,
    check_responses_request,
    check_stream_event,
)

RESPONSES_BODY = {
    "model": "o3",
    "input": [{"role": "user", "content": "hi"}],
    "stream": True,
    "store": False,
    "include": ["reasoning.encrypted_content"],
    "reasoning": {"effort": "high", "summary": "detailed"},
    "max_output_tokens": 100,
    "tools": [
        {
            "type": "function",
            "name": "f",
            "description": "d",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        }
    ],
}
CHAT_BODY = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
    ],
    "stream": True,
    "stream_options": {"include_usage": True},
    "reasoning_effort": "low",
}
TEXT_DELTA = {
    "type": "response.output_text.delta",
    "item_id": "msg_1",
    "output_index": 0,
    "content_index": 0,
    "delta": "Hi",
    "sequence_number": 3,
    "logprobs": [],
}


def with_(body: dict, **changes) -> dict:
    return {**body, **changes}


def test_subset_is_self_contained_and_sourced():
    subset = json.loads(SUBSET.read_text())
    schemas = subset["components"]["schemas"]
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schemas)
    missing = {
        r for r in refs if r.removeprefix("#/components/schemas/") not in schemas
    }
    assert not missing
    assert set(subset["x-roots"].values()) <= set(schemas)
    assert len(subset["x-source"]["commit"]) == 40


def test_valid_responses_body_passes():
    assert check_responses_request(RESPONSES_BODY) == []


def test_responses_input_forms_pass():
    """List content and a plain-string assistant turn: valid, though the spec's `oneOf` overlaps."""
    body = with_(
        RESPONSES_BODY,
        input=[
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"role": "assistant", "content": "hello"},
            {"type": "message", "role": "developer", "content": "be brief"},
        ],
    )
    assert check_responses_request(body) == []


def test_unknown_top_level_argument_fails():
    problems = check_responses_request(with_(RESPONSES_BODY, top_k=40))
    assert problems == [
        "$: unknown top-level argument 'top_k' (not declared by CreateResponse)"
    ]


def test_wrong_type_fails():
    problems = check_responses_request(with_(RESPONSES_BODY, max_output_tokens="x"))
    assert len(problems) == 1
    assert problems[0].startswith("$.max_output_tokens:")
    assert "is not of type 'integer'" in problems[0]


def test_reasoning_effort_outside_enum_fails():
    problems = check_responses_request(
        with_(RESPONSES_BODY, reasoning={"effort": "extreme"})
    )
    assert len(problems) == 1
    assert "$.reasoning.effort: 'extreme' is not one of" in problems[0]


@pytest.mark.parametrize(
    "change, where",
    [
        ({"include": ["reasoning.summary"]}, "$.include[0]"),
        ({"reasoning": {"summary": "verbose"}}, "$.reasoning.summary"),
        (
            {"tools": [{"type": "function", "name": "f"}]},
            "'strict' is a required property",
        ),
        (
            {"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
            ".type",
        ),
        ({"model": 3}, "$.model"),
    ],
)
def test_other_violations_fail(change, where):
    problems = check_responses_request(with_(RESPONSES_BODY, **change))
    assert len(problems) == 1 and where in problems[0], problems


def test_recursive_filters_are_checked():
    """`$recursiveRef` is translated, not ignored: a bad filter two levels down fails."""
    bad = {
        "type": "or",
        "filters": [{"type": "eq", "key": "a", "value": 1}, {"type": "zz"}],
    }
    tool = {
        "type": "file_search",
        "vector_store_ids": ["vs"],
        "filters": {"type": "and"},
    }
    tool["filters"]["filters"] = [bad]
    assert check_responses_request(with_(RESPONSES_BODY, tools=[tool])) != []
    bad["filters"][1] = {"type": "ne", "key": "b", "value": "x"}
    assert check_responses_request(with_(RESPONSES_BODY, tools=[tool])) == []


def test_valid_chat_body_passes():
    assert check_chat_request(CHAT_BODY) == []


def test_chat_nullable_accepts_null():
    """OpenAPI `nullable: true` is translated: null is allowed where the spec says so."""
    body = with_(CHAT_BODY, n=None, max_completion_tokens=None, logit_bias=None)
    assert check_chat_request(body) == []
    assert check_chat_request(with_(CHAT_BODY, n=0)) != []


def test_chat_unknown_argument_fails():
    problems = check_chat_request(with_(CHAT_BODY, num_ctx=4096))
    assert problems == [
        "$: unknown top-level argument 'num_ctx' (not declared by CreateChatCompletionRequest)"
    ]


def test_chat_message_without_content_fails():
    problems = check_chat_request(with_(CHAT_BODY, messages=[{"role": "user"}]))
    assert len(problems) == 1 and "'content' is a required property" in problems[0]


def test_chat_chunk():
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}],
    }
    assert check_chat_chunk(chunk) == []
    assert check_chat_chunk(with_(chunk, created="now")) != []


def test_valid_text_delta_event_passes():
    assert check_stream_event(TEXT_DELTA) == []


@pytest.mark.parametrize(
    "event, expected",
    [
        (with_(TEXT_DELTA, delta=5), "$.delta: 5 is not of type 'string'"),
        (
            {k: v for k, v in TEXT_DELTA.items() if k != "item_id"},
            "'item_id' is a required",
        ),
        (with_(TEXT_DELTA, extra=1), "unknown top-level field 'extra'"),
        (
            with_(TEXT_DELTA, type="response.output_text.delta2"),
            "unknown stream event type",
        ),
        ({"delta": "x"}, "must be an object with a string 'type'"),
    ],
)
def test_malformed_event_fails(event, expected):
    problems = check_stream_event(event)
    assert len(problems) == 1 and expected in problems[0], problems
