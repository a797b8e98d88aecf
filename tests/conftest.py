"""Shared fixtures: a real fake-OpenAI server and the built pipe loaded like Open WebUI does."""

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.owhost import Host, load_pipe
from tests.upstream import FakeOpenAI

ALICE = "sk-test-alice-0123456789abcdefALICE"
BOB = "sk-test-bob-9876543210fedcbaBOBBOB"
GLOBAL = "sk-test-global-55555555555GLOBAL"


@pytest.fixture
def upstream():
    with FakeOpenAI(keys=(ALICE, BOB, GLOBAL)) as server:
        yield server


@pytest.fixture
async def host(upstream):
    """The built pipe, valves pointing at the upstream, as an admin would save them."""
    host = Host(
        load_pipe(),
        {"OPENAI_API_BASE_URL": upstream.base_url, "OPENAI_API_KEY": GLOBAL},
    )
    yield host
    await host.pipe.close()


@pytest.fixture
async def openai_host(upstream, monkeypatch):
    """The pipe pointed at `api.openai.com`, reaching the fake server through HTTP_PROXY.

    The pipe honours proxy variables like Open WebUI does, so this exercises the
    real network path while the endpoint is, by its URL, OpenAI's own API.
    """
    monkeypatch.setenv("HTTP_PROXY", upstream.base_url.removesuffix("/v1"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    host = Host(
        load_pipe(),
        {"OPENAI_API_BASE_URL": "http://api.openai.com/v1", "OPENAI_API_KEY": GLOBAL},
    )
    yield host
    await host.pipe.close()


@pytest.fixture
def server(shared_server: FakeOpenAI) -> FakeOpenAI:
    """A module's `shared_server`, with no requests or faults left over from another test."""
    shared_server.clear()
    return shared_server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain client session, like the pipe's, for tests of the fakes themselves."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def post_json(
    http: aiohttp.ClientSession, url: str, body: dict, headers: dict
) -> tuple[int, dict | str]:
    """POST a JSON body: (status, the parsed JSON answer or its raw text)."""
    async with http.post(url, json=body, headers=headers) as response:
        text = await response.text()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text
