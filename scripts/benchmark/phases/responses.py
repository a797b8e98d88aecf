"""Phase `responses`: both sides on OpenAI's Responses API, against the same upstream.

The built-in connection with `api_type: "responses"` (Open WebUI converts the chat
into a /responses request and hands the upstream's events on: raw lines on the API
path, socket.io `response:completion` events on the web path); the pipe with
RESPONSES_API=always (it translates the events into chat chunks); the minimal pipe
posting to /responses and relaying its lines raw, for what Open WebUI charges any
pipe with per-user keys; the floor reads /responses directly. The model is gpt-4o,
a chat model: a reasoning model would add summary events that only the pipe asks
for. The connection, the valves and the floor are put back afterwards for the
phases that follow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..client import Target
from ..settings import MODEL, UPSTREAM_KEY
from .concurrency import concurrent
from .single import sequential

if TYPE_CHECKING:
    from ..core import Bench

LABEL = "Responses "  # before the labels of this phase's rows


async def run(bench: Bench) -> None:
    chat_floor = bench.targets["floor"]
    try:
        use_responses(bench)
        bench.check_listed()
        await check_wire(bench, "/v1/responses")
        await bench.warm_up()
        await measure(bench)
    finally:
        bench.targets["floor"] = chat_floor
        if "minimal" in bench.phases:
            bench.set_minimal_valves()
        for name in bench.variants:
            bench.set_pipe_valves(f"bench_{name}")
        bench.restore()  # the pipe's valves, the chat connection, every model listed


def use_responses(bench: Bench) -> None:
    """Every side switched to the Responses API, the floor to /responses."""
    bench.set_builtin(bench.upstream.base_url, api_type="responses")
    bench.set_pipe_valves(RESPONSES_API="always")
    for name in bench.variants:
        bench.set_pipe_valves(f"bench_{name}", RESPONSES_API="always")
    if "minimal" in bench.phases:
        bench.set_minimal_valves(RESPONSES=True)
    bench.targets["floor"] = Target(
        bench.session,
        f"{bench.upstream.base_url}/responses",
        {"Authorization": f"Bearer {UPSTREAM_KEY}"},
        MODEL,
        responses=True,
    )


async def measure(bench: Bench) -> None:
    """Short answers one at a time and concurrent streams, API and web paths."""
    plan = bench.plan
    for kind, reps in (
        ("api", plan.responses_reps_short),
        ("web", plan.responses_web_reps_short),
    ):
        key = f"responses.{kind}.short"
        await sequential(bench, key, kind, plan.short_chunks, reps, label=LABEL)
    n = plan.responses_concurrency
    for kind, reps, chunks in (
        ("api", plan.responses_conc_reps, plan.conc_chunks),
        ("web", plan.responses_web_conc_reps, plan.web_conc_chunks),
    ):
        key = f"responses.{kind}.c{n}"
        await concurrent(bench, key, kind, n, reps, chunks, label=LABEL, health=False)
    # The host's share, in the table too: pipe/minimal, paired.
    for path in ("api", "web"):
        f = bench.figure(f"responses.{path}.short.ttft.median")
        if f is not None and f.paired_minimal is not None:
            f.note += f", pipe/minimal paired {f.paired_minimal:.3f}"


async def check_wire(bench: Bench, path: str) -> None:
    """One API chat per side, each of which must reach the upstream at `path`
    (and nowhere else): otherwise the phase would measure another wire."""
    wrong = []
    for side in [*bench.sides(0), "floor"]:
        before = bench.upstream.paths()
        result = await bench.targets[side].stream(bench.plan.short_chunks)
        after = bench.upstream.paths()
        grown = {
            key: after[key] - before.get(key, 0)
            for key in after
            if after[key] != before.get(key, 0) and not key.startswith("/_bench")
        }
        if not result.ok or grown != {path: 1}:
            wrong.append(f"{side}: {grown} {result.error}".strip())
    if wrong:
        raise RuntimeError(f"not one request to {path} per chat: {wrong}")
