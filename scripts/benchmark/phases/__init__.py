"""The phases of a run, in the order they run; each is `async def run(bench)`.

`floor` and `minimal` are not phases of their own: they add a side (the upstream
read directly, the minimal reference pipe) to the phases that run. `profile` runs
with `--profile`, last.
"""

from __future__ import annotations

from . import concurrency, health, inproc, listing, memory, pipes, profile
from . import ledger, responses, single

STEPS = (
    ("api", single.run_api),
    ("web", single.run_web),
    ("concurrency", concurrency.run),
    ("responses", responses.run),
    ("ledger", ledger.run),
    ("health", health.run),
    ("listing", listing.run),
    ("pipes", pipes.run),
    ("inproc", inproc.run),
    ("memory", memory.run),
    ("profile", profile.run),
)
