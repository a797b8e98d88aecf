"""Source text the benchmark hands to Open WebUI: the minimal reference pipe it
installs as a function, and the garbage-collection probe it loads into the server
process (and the pattern of the lines that probe logs)."""

from __future__ import annotations

import re

# A reference pipe doing the least a streaming pipe with per-user keys can do: take
# the user's key (else the admin's), post the body, yield the upstream's `data:`
# lines. Through it, what Open WebUI's function machinery costs (DB reads of the
# function, its valves and the user's valves per chat, Valves(), UserValves(),
# process_line) shows apart from what openai_manifold_pipe.py itself costs.
# With its valve RESPONSES on (the `responses` phase), it posts the chat to
# /responses as `input` and relays that stream's `data:` lines as they are, the
# least a pipe can do there and exactly what the built-in connection with
# `api_type: "responses"` hands on.
MINIMAL_PIPE = '''"""
title: Bench Minimal Pipe
description: benchmark reference - the least a streaming pipe does
"""

import aiohttp
from pydantic import BaseModel


class Pipe:
    class Valves(BaseModel):
        BASE_URL: str = ""
        KEY: str = ""
        RESPONSES: bool = False

    class UserValves(BaseModel):
        KEY: str = ""

    def __init__(self):
        self.valves = self.Valves()
        self.session = None

    def pipes(self):
        return [{"id": "gpt-4o", "name": "minimal/gpt-4o"}]

    async def pipe(self, body: dict, __user__: dict):
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        payload = {**body, "model": body["model"].split(".", 1)[1]}
        url = self.valves.BASE_URL + "/chat/completions"
        if self.valves.RESPONSES:
            url = self.valves.BASE_URL + "/responses"
            payload = {
                "model": payload["model"],
                "input": [
                    {"role": m["role"], "content": m["content"]}
                    for m in body["messages"]
                ],
                "stream": bool(body.get("stream")),
            }
        key = __user__["valves"].KEY or self.valves.KEY
        headers = {"Authorization": "Bearer " + key}
        response = await self.session.post(url, json=payload, headers=headers)
        if not payload.get("stream"):
            async with response:
                return await response.json()

        async def lines():
            async with response:
                async for line in response.content:
                    if line.startswith(b"data:"):
                        yield line.decode().rstrip()

        return lines()
'''
# Loaded into Open WebUI's process (PYTHONPATH) to log its garbage-collection
# pauses: a full collection of its large heap holds the event loop for about half a
# second, which /health shows whichever side happens to be running (see
# `phases.memory.gc_pauses`).
GC_PROBE = """import gc, sys, time

_started = [0.0]


def _pause(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - _started[0]) * 1000
    if ms >= 20:
        sys.stderr.write(f"bench-gc-pause gen{info['generation']} {ms:.0f} ms\\n")


gc.callbacks.append(_pause)
"""
GC_PAUSE = re.compile(r"bench-gc-pause gen(\d) (\d+) ms")
