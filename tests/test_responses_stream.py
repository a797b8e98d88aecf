"""Responses events as chat chunks: what Open WebUI and SDK clients read."""

import pytest

from openai_manifold_pipe.errors import PipeError
from openai_manifold_pipe.responses_stream import (
    ResponsesTranslator,
    completion_from_response,
)

URL = "https://api.openai.com/v1/responses"
RESPONSE = {"id": "resp_1", "object": "response", "created_at": 1700000000, "model": "o3"}
USAGE = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 2},
         "output_tokens": 30, "output_tokens_details": {"reasoning_tokens": 20},
         "total_tokens": 40}


def deltas(chunks, name):
    return [c["choices"][0]["delta"].get(name) for c in chunks
            if c["choices"] and name in c["choices"][0]["delta"]]


def run(events):
    translator = ResponsesTranslator(URL)
    chunks = [chunk for event in events for chunk in translator.feed(event)]
    return translator, chunks


def summary(index, part, text):
    return {"type": "response.reasoning_summary_text.delta", "output_index": index,
            "summary_index": part, "item_id": "rs_1", "delta": text}


def test_summary_text_and_usage_become_chat_chunks():
    translator, chunks = run([
        {"type": "response.created", "response": RESPONSE},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"type": "reasoning", "id": "rs_1", "summary": []}},
        summary(0, 0, "First"), summary(0, 0, " thought."), summary(0, 1, "Second."),
        {"type": "response.output_item.done", "output_index": 0,
         "item": {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"}},
        {"type": "response.output_text.delta", "output_index": 1, "delta": "Hello"},
        {"type": "response.completed", "response": {**RESPONSE, "usage": USAGE}},
    ])
    assert "".join(deltas(chunks, "reasoning_content")) == "First thought.\n\nSecond."
    assert deltas(chunks, "content") == ["Hello"]
    assert deltas(chunks, "reasoning_details") == [[{
        "type": "reasoning.encrypted", "id": "rs_1", "data": "gAAA",
        "format": "openai-responses-v1"}]]
    *_, finish, usage = chunks
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == [] and usage["usage"] == {
        "prompt_tokens": 10, "completion_tokens": 30, "total_tokens": 40,
        "prompt_tokens_details": {"cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 20}}
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "resp_1" for c in chunks)
    assert translator.finished and translator.failure is None


def test_function_calls_become_indexed_tool_call_deltas():
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_time",
            "arguments": ""}
    _, chunks = run([
        {"type": "response.output_item.added", "output_index": 1, "item": call},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": '{"a"'},
        {"type": "response.function_call_arguments.delta", "output_index": 1, "delta": ":1}"},
        {"type": "response.output_item.done", "output_index": 1,
         "item": {**call, "arguments": '{"a":1}'}},
        {"type": "response.output_item.done", "output_index": 2,  # no deltas were sent
         "item": {**call, "call_id": "call_2", "arguments": "{}"}},
        {"type": "response.completed", "response": RESPONSE},
    ])
    calls = [call for c in deltas(chunks, "tool_calls") for call in c]
    assert calls[0] == {"index": 0, "id": "call_1", "type": "function",
                        "function": {"name": "get_time", "arguments": ""}}
    assert [c["function"]["arguments"] for c in calls if c["index"] == 0][1:] == ['{"a"', ":1}"]
    assert [c for c in calls if c["index"] == 1][0]["id"] == "call_2"
    assert [c["function"]["arguments"] for c in calls if c["index"] == 1] == ["", "{}"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_citations_become_annotations_open_webui_shows_as_sources():
    item = {"type": "message", "content": [{"type": "output_text", "text": "See", "annotations": [
        {"type": "url_citation", "url": "https://example.com", "title": "Ex",
         "start_index": 0, "end_index": 3}]}]}
    _, chunks = run([{"type": "response.output_item.done", "output_index": 0, "item": item}])
    assert deltas(chunks, "annotations") == [[{"type": "url_citation", "url_citation": {
        "url": "https://example.com", "title": "Ex", "start_index": 0, "end_index": 3}}]]


@pytest.mark.parametrize("event, says", [
    ({"type": "response.incomplete", "response": {
        **RESPONSE, "incomplete_details": {"reason": "max_output_tokens"}, "usage": USAGE}},
     "output limit: raise Max Tokens"),
    ({"type": "response.incomplete", "response": {
        **RESPONSE, "incomplete_details": {"reason": "content_filter"}}}, "content filter"),
    ({"type": "response.failed", "response": {
        **RESPONSE, "error": {"code": "server_error", "message": "The model crashed."}}},
     "The model crashed."),
    ({"type": "error", "code": "rate_limit_exceeded", "message": "Slow down.", "param": None},
     "Slow down."),
])
def test_an_answer_that_ends_badly_says_why(event, says):
    translator, chunks = run([event])
    assert says in translator.failure and not translator.finished
    if event["type"] == "response.incomplete" and "usage" in event["response"]:
        assert chunks[-1]["usage"]["completion_tokens"] == 30  # counted once, still


def test_a_whole_response_becomes_a_chat_completion():
    data = {**RESPONSE, "status": "completed", "usage": USAGE, "output": [
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Hm."}],
         "encrypted_content": "gAAA"},
        {"type": "message", "content": [{"type": "output_text", "text": "Hi", "annotations": []}]},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
    ]}
    completion = completion_from_response(data, URL)
    message = completion["choices"][0]["message"]
    assert message["content"] == "Hi" and message["reasoning_content"] == "Hm."
    assert message["tool_calls"][0]["id"] == "call_1"
    assert message["reasoning_details"][0]["data"] == "gAAA"
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    assert completion["usage"]["prompt_tokens"] == 10
    with pytest.raises(PipeError, match="output limit"):
        completion_from_response({**data, "status": "incomplete",
                                  "incomplete_details": {"reason": "max_output_tokens"}}, URL)
    with pytest.raises(PipeError, match="overloaded"):
        completion_from_response({"error": {"message": "overloaded"}}, URL)
