"""What the user sees while waiting: status lines and the usage summary."""

import pytest

from openai_manifold_pipe.usage import (
    DEFAULT_PRICES,
    parse_prices,
    price_of,
    prices_for,
    summary,
)
from tests.conftest import ALICE
from tests.owhost import api_body, errors_of, text_of
from tests.upstream import answer_text


def test_prices_parse_and_match_snapshots_and_globs():
    prices = parse_prices("gpt-4o=2.50/10, o*=1/4")
    assert price_of("gpt-4o", prices) == (2.5, 10.0)
    assert price_of("gpt-4o-2024-08-06", prices) == (2.5, 10.0)
    assert price_of("o3", prices) == (1.0, 4.0) and price_of("llama3", prices) is None
    assert price_of("gpt-5-mini", parse_prices(DEFAULT_PRICES)) == (0.25, 2.0)


@pytest.mark.parametrize("bad", ["gpt-4o", "gpt-4o=2.5", "gpt-4o=a/b", "=1/2"])
def test_malformed_prices_are_refused(bad):
    """Also by the valve, with its name: see test_valves."""
    with pytest.raises(ValueError, match="MODEL_PRICES"):
        parse_prices(bad)


def test_summary_line():
    usage = {"prompt_tokens": 1200, "completion_tokens": 300,
             "completion_tokens_details": {"reasoning_tokens": 100}}
    assert summary(usage, 2.0, (2.0, 8.0)) == "1,200 in · 300 out (100 reasoning) · 150 tok/s · $0.0048"
    assert summary(None, 1.25, None) == "Done in 1.2 s"
    tiny = {"prompt_tokens": 19, "completion_tokens": 13}
    assert summary(tiny, 1.0, (0.15, 0.60)).endswith("· <$0.0001")
    assert summary(tiny, 1.0, (0.0, 0.0)).endswith("· $0")


def recorder():
    events = []

    async def emit(event):
        events.append(event)

    return events, emit


def test_openai_list_prices_count_on_openai_only_admin_prices_everywhere():
    assert prices_for(DEFAULT_PRICES, True) == parse_prices(DEFAULT_PRICES)
    assert prices_for(DEFAULT_PRICES, False) == {}
    edited = DEFAULT_PRICES.replace("gpt-4o=2.50/10", "gpt-4o=1/2") + ", llama3*=0.1/0.2"
    elsewhere = prices_for(edited, False)
    assert elsewhere == {"gpt-4o": (1.0, 2.0), "llama3*": (0.1, 0.2)}
    assert prices_for(edited, True)["gpt-4o-mini"] == (0.15, 0.6)


async def summary_line(host) -> str:
    events, emit = recorder()
    chunks = await host.stream(api_body("gpt-4o", "hello", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE}, emitter=emit)
    assert text_of(chunks) == answer_text("hello")
    [event] = events  # no status event before the first token: each costs a socket emit
    assert event["data"]["done"] and " in · " in event["data"]["description"]
    return event["data"]["description"]


async def test_quick_answer_on_openai_shows_only_the_summary_with_cost(openai_host):
    assert "$" in await summary_line(openai_host)


async def test_a_gpt_4o_elsewhere_has_no_list_price_but_an_admin_price(host):
    assert "$" not in await summary_line(host)  # a local gpt-4o costs what it costs
    host.saved_valves["MODEL_PRICES"] = "gpt-4o=5/20"
    assert "$" in await summary_line(host)


async def test_slow_upstream_shows_waiting_with_elapsed_time(host, upstream):
    upstream.add_fault("delay_headers", seconds=2.3)
    events, emit = recorder()
    await host.stream(api_body("gpt-4o", "hello", stream=True),
                      user_valves={"OPENAI_API_KEY": ALICE}, emitter=emit)
    descriptions = [e["data"]["description"] for e in events]
    assert descriptions[:2] == ["Waiting for gpt-4o... 1 s", "Waiting for gpt-4o... 2 s"]
    assert events[-1]["data"]["done"] and " out" in descriptions[-1]


async def test_api_path_chats_emit_no_status(host):
    """No message to show it on: Open WebUI would still pay for each event."""
    events, emit = recorder()
    await host.stream(api_body("gpt-4o", "hello", stream=True),
                      user_valves={"OPENAI_API_KEY": ALICE}, emitter=emit,
                      metadata={"chat_id": None, "message_id": None})
    assert events == []


async def test_summary_can_be_turned_off(host):
    host.saved_valves["SHOW_USAGE_SUMMARY"] = False
    events, emit = recorder()
    answer = await host.call(api_body("gpt-4o", "hello", stream=False),
                             user_valves={"OPENAI_API_KEY": ALICE}, emitter=emit)
    assert answer["usage"] and events == []


async def test_reasoning_model_thinks_aloud_while_silent(host, upstream):
    upstream.add_fault("stall", after=0, seconds=2.3)
    events, emit = recorder()
    chunks = await host.stream(api_body("o3", "think", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE}, emitter=emit)
    assert text_of(chunks) == answer_text("think")
    descriptions = [e["data"]["description"] for e in events]
    assert descriptions[:2] == ["Thinking... 1 s", "Thinking... 2 s"]
    assert "reasoning" in descriptions[-1]


async def test_failure_closes_the_status_line(host, upstream):
    host.saved_valves["MAX_RETRIES"] = 1
    upstream.add_fault("status", code=503, headers={"retry-after-ms": "10"}, times=2)
    events, emit = recorder()
    chunks = await host.stream(api_body("gpt-4o", "hi", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE}, emitter=emit)
    assert errors_of(chunks) and "Retrying" in events[0]["data"]["description"]
    assert events[-1]["data"] == {"description": "", "done": True, "hidden": True}


async def test_a_broken_emitter_never_fails_the_chat(host):
    async def broken(event):
        raise RuntimeError("socket gone")

    chunks = await host.stream(api_body("gpt-4o", "hi", stream=True),
                               user_valves={"OPENAI_API_KEY": ALICE}, emitter=broken)
    assert text_of(chunks) == answer_text("hi") and not errors_of(chunks)
