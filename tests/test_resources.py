"""Resources: nothing a chat opens outlives it, however the chat ends.

Open WebUI keeps one Pipe for as long as the server runs and cancels the task that
reads a stream when the user presses stop (HOST.md sections 1 and 5). So every way
a chat can end is checked for what it leaves behind: tasks on the event loop,
connections the upstream still holds open, "Unclosed client session/connector"
warnings, file descriptors and memory, over 1,000 chats through one instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import random
import time
import tracemalloc
import warnings

import pytest

from tests.conftest import ALICE, GLOBAL
from tests.owhost import Host, api_body, errors_of, load_pipe, task_body, text_of
from tests.upstream import answer_chunks

LONG = "x [[chunks:400]] [[delay:0.01]]"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def settle() -> None:
    """Let callbacks and finalizer tasks scheduled by the chat run."""
    for _ in range(3):
        await asyncio.sleep(0.02)


def other_tasks() -> set[asyncio.Task]:
    return asyncio.all_tasks() - {asyncio.current_task()}


@pytest.fixture
async def leftovers():
    """ResourceWarnings and loop exception reports ("Unclosed client session") seen meanwhile."""
    loop = asyncio.get_running_loop()
    reports: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reports.append(context["message"]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield reports
        gc.collect()
        reports += [str(w.message) for w in caught
                    if issubclass(w.category, (ResourceWarning, RuntimeWarning))]
    loop.set_exception_handler(previous)
    assert not reports, reports


async def consume(stream, first: asyncio.Event) -> list:
    items = []
    async for item in stream:
        items.append(item)
        first.set()
    return items


async def cancel_after_first_chunk(host: Host, body: dict, **kwargs) -> None:
    """What Open WebUI does when the user presses stop: cancel the reading task."""
    first = asyncio.Event()
    stream = await host.call(body, user_valves={"OPENAI_API_KEY": ALICE}, **kwargs)
    reader = asyncio.ensure_future(consume(stream, first))
    await asyncio.wait_for(first.wait(), 5)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader


async def cancel_while_waiting(host: Host, body: dict, **kwargs) -> None:
    """Stop pressed before the first byte: the task is inside pipe() or the first read."""

    async def chat():
        result = await host.call(body, user_valves={"OPENAI_API_KEY": ALICE}, **kwargs)
        if hasattr(result, "__aiter__"):
            async for _ in result:
                pass

    task = asyncio.ensure_future(chat())
    await asyncio.sleep(0.3)
    assert not task.done()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def disconnect_seen(upstream, since: float) -> float:
    """Seconds from `since` until the upstream noticed the client had gone."""
    await upstream.wait_for(lambda r: r.disconnected, timeout=2)
    return time.monotonic() - since


# ---- tasks and connections after each way a chat can end -------------------------------


class Emitter(list):
    async def __call__(self, event):
        self.append(event)


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
@pytest.mark.parametrize("fault", [None, "status", "cut", "echo_key_401"])
async def test_no_task_outlives_a_finished_chat(host, upstream, leftovers, stream, fault):
    if fault:
        upstream.add_fault(fault, code=400, after=2)
    result = await (host.stream if stream else host.call)(
        api_body("gpt-5", "one two three", stream=stream),
        user_valves={"OPENAI_API_KEY": ALICE}, emitter=Emitter())
    failed = errors_of(result) if stream else "error" in result
    assert bool(failed) == bool(fault)
    await settle()
    assert not other_tasks()


async def test_stop_pressed_mid_stream_closes_the_upstream_at_once(host, upstream, leftovers):
    started = time.monotonic()
    await cancel_after_first_chunk(host, api_body("gpt-4o", LONG, stream=True))
    assert await disconnect_seen(upstream, started) < 1  # the stream would last 4 s
    await settle()
    assert not other_tasks()
    record = upstream.last_chat()
    assert record.disconnected and not record.completed


async def test_stop_while_a_reasoning_model_thinks(host, upstream, leftovers):
    """The 'Thinking... N s' status task must end with the chat."""
    upstream.add_fault("delay_headers", seconds=5)
    started = time.monotonic()
    await cancel_while_waiting(host, api_body("gpt-5", "hm", stream=True), emitter=Emitter())
    assert await disconnect_seen(upstream, started) < 1
    await settle()
    assert not other_tasks()


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
async def test_stop_before_the_first_byte(host, upstream, leftovers, stream):
    upstream.add_fault("delay_headers", seconds=5)
    started = time.monotonic()
    await cancel_while_waiting(host, api_body("gpt-4o", "hi", stream=stream))
    assert await disconnect_seen(upstream, started) < 1
    await settle()
    assert not other_tasks()


async def test_stop_while_waiting_to_retry(host, upstream, leftovers):
    upstream.add_fault("status", code=503, headers={"Retry-After": "5"})
    await cancel_while_waiting(host, api_body("gpt-4o", "hi", stream=True), emitter=Emitter())
    await settle()
    assert not other_tasks() and len(upstream.chat_requests()) == 1


async def test_stop_during_a_whole_answer(host, upstream, leftovers):
    upstream.add_fault("stall", seconds=5)  # half the JSON body, then silence
    started = time.monotonic()
    await cancel_while_waiting(host, api_body("gpt-4o", "hi", stream=False))
    assert await disconnect_seen(upstream, started) < 1
    await settle()
    assert not other_tasks()


async def test_a_stream_closed_by_the_host(host, upstream, leftovers):
    """Open WebUI may also close the generator between chunks (aclose)."""
    stream = await host.call(api_body("gpt-4o", LONG, stream=True),
                             user_valves={"OPENAI_API_KEY": ALICE})
    await stream.__anext__()
    started = time.monotonic()
    await stream.aclose()
    assert await disconnect_seen(upstream, started) < 1  # the stream would last 4 s
    await settle()
    assert not other_tasks()


async def test_a_stream_abandoned_between_chunks(host, upstream, leftovers):
    """Dropped without aclose(): the loop's async-generator finalizer must clean up."""
    stream = await host.call(api_body("gpt-4o", LONG, stream=True),
                             user_valves={"OPENAI_API_KEY": ALICE})
    await stream.__anext__()
    started = time.monotonic()
    del stream
    assert await disconnect_seen(upstream, started) < 1  # the stream would last 4 s
    await settle()
    assert not other_tasks()


async def test_a_replaced_pipe_closes_its_connections(upstream, leftovers):
    """Open WebUI drops the old Pipe when an admin saves new code; it never calls close()."""
    baseline = open_fds()
    host = Host(load_pipe(), {"OPENAI_API_BASE_URL": upstream.base_url, "OPENAI_API_KEY": GLOBAL})
    await host.models()
    chats = [host.stream(api_body("gpt-4o", f"m{i}", stream=True),
                         user_valves={"OPENAI_API_KEY": ALICE}) for i in range(8)]
    chats += [host.call(api_body("gpt-4o", f"n{i}", stream=False),
                        user_valves={"OPENAI_API_KEY": ALICE}) for i in range(4)]
    await asyncio.gather(*chats)
    assert open_fds() > baseline  # pooled keep-alive connections, both ends
    del host, chats
    gc.collect()
    await settle()
    assert open_fds() <= baseline
    assert not other_tasks()


# ---- 1,000 chats through one Pipe ------------------------------------------------------


async def one_chat(host: Host, upstream, i: int, rng: random.Random) -> None:
    """One of the ways real chats go, picked at random."""
    kind = rng.choices(
        ["stream", "reasoning", "whole", "task", "error", "cut", "stop", "drop", "nokey"],
        weights=[40, 10, 15, 10, 6, 6, 6, 4, 3])[0]
    valves = {"OPENAI_API_KEY": ALICE}
    text = f"chat {i} [[chunks:{rng.randint(2, 8)}]]"
    if kind == "stream":
        chunks = await host.stream(api_body("gpt-4o", text, stream=True), user_valves=valves)
        assert not errors_of(chunks) and text_of(chunks)
    elif kind == "reasoning":
        chunks = await host.stream(api_body("gpt-5", text, stream=True), user_valves=valves,
                                   emitter=Emitter())
        assert not errors_of(chunks)
    elif kind == "whole":
        answer = await host.call(api_body("gpt-4.1", text, stream=False), user_valves=valves)
        assert answer["choices"]
    elif kind == "task":
        answer = await host.call(task_body("gpt-4o", "a title"), user_valves=valves,
                                 task="title_generation")
        assert answer["choices"]
    elif kind == "error":
        text += f" [[fault:status code=400 id=e{i}]]"
        chunks = await host.stream(api_body("gpt-4o", text, stream=True), user_valves=valves)
        assert errors_of(chunks)
    elif kind == "cut":
        text += " [[fault:cut after=1]]"
        chunks = await host.stream(api_body("gpt-4o", text, stream=True), user_valves=valves)
        assert errors_of(chunks)
    elif kind == "stop":
        await cancel_after_first_chunk(host, api_body("gpt-4o", text + " [[delay:0.01]]",
                                                      stream=True))
    elif kind == "drop":
        stream = await host.call(api_body("gpt-4o", text + " [[delay:0.01]]", stream=True),
                                 user_valves=valves)
        await stream.__anext__()
        del stream
    else:
        chunks = await host.stream(api_body("gpt-4o", text, stream=True))
        assert errors_of(chunks)


def traced() -> tracemalloc.Snapshot:
    """What is allocated now, leaving out log records: pytest keeps each one for its report."""
    return tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(False, logging.__file__)])


async def run_chats(host: Host, upstream, first: int, count: int, rng: random.Random) -> None:
    """`count` chats, 20 at a time, forgetting the upstream's records between batches."""
    for start in range(first, first + count, 20):
        await asyncio.gather(*(one_chat(host, upstream, i, rng)
                               for i in range(start, min(start + 20, first + count))))
        upstream.clear()


async def test_1000_chats_through_one_pipe_leave_nothing_behind(host, upstream, leftovers):
    host.saved_valves["MAX_RETRIES"] = 0
    rng = random.Random(1000)
    tracemalloc.start()
    try:
        await run_chats(host, upstream, 0, 200, rng)  # warm up: pool, caches, imports
        await settle()
        gc.collect()
        fds, before, rss = open_fds(), traced(), rss_bytes()
        started = time.monotonic()
        await run_chats(host, upstream, 200, 1000, rng)
        elapsed = time.monotonic() - started
        await settle()
        gc.collect()
        grown_fds = open_fds() - fds
        after = traced()
        grown_traced = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        grown_rss = rss_bytes() - rss
    finally:
        tracemalloc.stop()
    print(f"1000 chats in {elapsed:.1f} s: fds {fds} {grown_fds:+d}, traced "
          f"{grown_traced / 1e3:+.0f} kB, rss {rss / 1e6:.1f} MB {grown_rss / 1e6:+.1f} MB")
    assert not other_tasks()
    assert grown_fds <= 20  # at most one more pooled connection per concurrent chat
    assert grown_traced < 250_000  # measured: under 10 kB either way
    assert grown_rss < 30_000_000


async def test_answers_stay_correct_after_many_chats(host):
    """The pool's reused connections still carry whole, right answers."""
    rng = random.Random(7)
    for i in range(50):
        text = f"again {i} [[chunks:{rng.randint(1, 6)}]]"
        chunks = await host.stream(api_body("gpt-4o", text, stream=True),
                                   user_valves={"OPENAI_API_KEY": ALICE})
        assert text_of(chunks) == "".join(answer_chunks(text))
