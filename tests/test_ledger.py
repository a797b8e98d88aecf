"""USER_QUOTA end to end in one process: the pipe, a real upstream, a real SQLite ledger.

The ledger is given its engine here (Open WebUI's is used when none is given, which
tests/e2e/test_quota_e2e.py proves on real servers sharing SQLite and PostgreSQL).
Both engine kinds run: the async one Open WebUI has from 0.9, the sync one before.
"""

import logging
import sqlite3
import sys

import pytest
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import ALICE, GLOBAL
from tests.owhost import Host, api_body, errors_of, load_pipe, task_body, text_of
from tests.upstream import answer_text

TABLE = "openai_manifold_pipe_ledger"


@pytest.fixture(params=["async", "sync"])
def engine_kind(request) -> str:
    return request.param


@pytest.fixture
def database(tmp_path):
    return tmp_path / "webui.db"


def make_engine(kind: str, path):
    if kind == "async":
        return create_async_engine(f"sqlite+aiosqlite:///{path}")
    return create_engine(f"sqlite:///{path}")


def quota_host(pipe, upstream, quota: str) -> Host:
    """The pipe as an admin sets it up: users without a key on the global one, limited."""
    valves = {
        "OPENAI_API_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": GLOBAL,
        "ALLOW_GLOBAL_KEY_FALLBACK": True,
        "USER_QUOTA": quota,
    }
    return Host(pipe, valves)


@pytest.fixture
async def counted(upstream, database, engine_kind):
    """A pipe whose users chat on the global key under USER_QUOTA."""
    pipe = load_pipe()
    ledger_class = type(pipe._ledger)
    pipe._ledger = ledger_class(make_engine(engine_kind, database))
    host = quota_host(pipe, upstream, "requests/hour=3")
    yield host
    await host.pipe.close()


def rows(database, **where) -> list[dict]:
    """The ledger's rows (none before the first shared-key chat made the table)."""
    with sqlite3.connect(database) as connection:
        connection.row_factory = sqlite3.Row
        try:
            found = connection.execute(f"SELECT * FROM {TABLE} ORDER BY id").fetchall()
        except sqlite3.OperationalError:
            return []
    return [dict(row) for row in found if all(row[k] == v for k, v in where.items())]


async def chat(host: Host, text: str, **kwargs) -> list:
    return await host.stream(api_body("gpt-4o", text, stream=True), **kwargs)


async def test_the_fourth_chat_is_refused_without_asking_the_upstream(
    counted, upstream, database
):
    for n in range(3):
        assert text_of(await chat(counted, f"chat {n}")) == answer_text(f"chat {n}")
    [refusal] = errors_of(await chat(counted, "one more"))
    assert "3 requests of 3 requests this hour" in refusal
    assert "USER_QUOTA requests/hour=3" in refusal and "UTC" in refusal
    assert len(upstream.chat_requests()) == 3
    counted_rows = rows(database, user_id="user-1", kind="chat")
    assert len(counted_rows) == 3
    usage = upstream.chat_requests()  # every settled row holds its tokens
    assert len(usage) == 3 and all(r["input_tokens"] > 0 for r in counted_rows)
    assert all(r["output_tokens"] > 0 and r["model"] == "gpt-4o" for r in counted_rows)


async def test_each_user_has_their_own_count(counted, upstream):
    for _ in range(3):
        await chat(counted, "hi", user_id="ann")
    assert errors_of(await chat(counted, "hi", user_id="ann"))
    assert not errors_of(await chat(counted, "hi", user_id="ben"))


async def test_own_keys_are_never_limited_nor_counted(counted, database):
    for n in range(5):
        answer = await chat(counted, f"mine {n}", user_valves={"OPENAI_API_KEY": ALICE})
        assert text_of(answer) == answer_text(f"mine {n}")
    assert rows(database) == []


async def test_background_tasks_count_tokens_not_requests(counted, database):
    for n in range(3):
        await chat(counted, f"chat {n}")
    title = await counted.call(task_body("gpt-4o", "a title"), task="title_generation")
    assert "error" not in title and title["choices"][0]["message"]["content"]
    [task_row] = rows(database, kind="title_generation")
    assert task_row["input_tokens"] > 0


async def test_a_chat_the_upstream_never_answered_is_not_counted(
    counted, upstream, database
):
    upstream.add_fault("status", code=400, times=1)
    assert errors_of(await chat(counted, "refused"))
    assert rows(database) == []
    assert not errors_of(await chat(counted, "fine"))
    assert len(rows(database)) == 1


async def test_tokens_are_a_limit_too(counted, database):
    counted.saved_valves["USER_QUOTA"] = "tokens/day=30"
    while not errors_of(answer := await chat(counted, "a long enough question")):
        assert text_of(answer)
    [refusal] = errors_of(answer)
    spent = sum(r["input_tokens"] + r["output_tokens"] for r in rows(database))
    assert spent >= 30 and f"{spent:,} tokens of 30 tokens today" in refusal


async def test_dollars_are_counted_at_the_admins_prices(counted, database):
    # $1,000 per million tokens: each token costs a tenth of a cent.
    counted.saved_valves |= {
        "USER_QUOTA": "usd/month=0.05",
        "MODEL_PRICES": "gpt-4o=1000/1000",
    }
    while not errors_of(answer := await chat(counted, "what does it cost")):
        assert text_of(answer)
    found = rows(database)
    assert all(
        r["usd"] == pytest.approx((r["input_tokens"] + r["output_tokens"]) / 1000)
        for r in found
    )
    spent = sum(r["usd"] for r in found)
    assert spent >= 0.05 and f"${spent:.2f} of $0.05 this month" in errors_of(answer)[0]


async def test_a_nearly_used_limit_shows_what_is_left(counted):
    events = []

    async def emitter(event):
        events.append(event)

    for n in range(3):
        await chat(counted, f"chat {n}", emitter=emitter)
    lines = [e["data"]["description"] for e in events if e["data"].get("done")]
    assert len(lines) == 3 and "shared key" not in lines[0]
    assert " · shared key: 1 request left this hour (until " in lines[1]
    assert " · shared key: 0 requests left this hour (until " in lines[2]
    assert lines[2].split(" · ")[0].endswith(" in")  # the usage line comes first


async def test_two_ledgers_on_one_database_agree(
    counted, upstream, database, engine_kind
):
    """Two replicas: each pipe has its own engine, the file is shared."""
    other = load_pipe()
    other._ledger = type(other._ledger)(make_engine(engine_kind, database))
    replica = Host(other, counted.saved_valves)
    try:
        await chat(counted, "one")
        await chat(replica, "two")
        await chat(counted, "three")
        assert errors_of(await chat(replica, "four"))
    finally:
        await other.close()


@pytest.mark.parametrize("broken", ["async", "sync", "no open_webui"])
async def test_a_ledger_that_cannot_work_lets_chats_through_and_logs_once(
    upstream, tmp_path, caplog, monkeypatch, broken
):
    """Its database out of reach, or (SPEC "Imports") Open WebUI not importable."""
    if broken == "no open_webui":
        monkeypatch.setitem(sys.modules, "open_webui", None)  # import open_webui fails
    pipe = load_pipe()
    if broken != "no open_webui":
        missing = tmp_path / "no such directory" / "webui.db"
        pipe._ledger = type(pipe._ledger)(make_engine(broken, missing))
    host = quota_host(pipe, upstream, "requests/hour=1")
    try:
        with caplog.at_level(logging.WARNING, logger="openai_manifold_pipe"):
            for n in range(3):
                answer = await chat(host, f"chat {n}")
                assert text_of(answer) == answer_text(f"chat {n}")
    finally:
        await pipe.close()
    [warning] = [
        r.getMessage() for r in caplog.records if "USER_QUOTA" in r.getMessage()
    ]
    assert "chats go through uncounted" in warning and GLOBAL[-8:] not in warning
    if broken == "no open_webui":
        assert "ModuleNotFoundError" in warning or "ImportError" in warning


async def test_a_models_tool_round_trip_is_not_another_request(counted, database):
    for n in range(3):
        await chat(counted, f"chat {n}")
    body = api_body("gpt-4o", "what time is it", stream=True)
    body["messages"] += [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "clock", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
    ]
    assert not errors_of(await counted.stream(body))
    assert len(rows(database, kind="tool_result")) == 1


async def test_a_dropped_table_is_made_again(counted, database, caplog):
    await chat(counted, "one")
    with sqlite3.connect(database) as connection:
        connection.execute(f"DROP TABLE {TABLE}")
    with caplog.at_level(logging.WARNING, logger="openai_manifold_pipe"):
        await chat(counted, "lost")  # fails once, logged
        for n in range(3):
            await chat(counted, f"counted again {n}")
    assert len(rows(database, kind="chat")) == 3
    assert errors_of(await chat(counted, "over"))
