"""Benchmark: the pipe against Open WebUI's own OpenAI connection (issue #6).

    python3 scripts/bench.py            full run (about 7 minutes on 2 cores)
    python3 scripts/bench.py --quick    under two minutes: fewer repetitions, smaller counts
    python3 scripts/bench.py --json out.json --phases api,web,minimal
    python3 scripts/bench.py --quick --phases floor,minimal,responses   Responses API only
    python3 scripts/bench.py --phases api,web,minimal --variant fix=/tmp/pipe-fix.py
    python3 scripts/bench.py --quick --profile      py-spy + cProfile (needs py-spy)

What runs: a real Open WebUI 0.12.4 (`scripts/owui/`), and a fake OpenAI
upstream (`tests/upstream.py`) in a separate process on 127.0.0.1 whose speed the
benchmark controls (chunk counts from `[[chunks:N]]` in the prompt, header delays
from `[[fault:delay_headers ...]]`, slow `/models` through a small control route).
Open WebUI's built-in OpenAI connection (`POST /openai/config/update`) and the pipe
(`openai_manifold_pipe.py`, installed and activated like an admin does) both point at
that one upstream, and every figure is taken for both, in rotating order so that
drift on a shared machine hits both alike:

- time to first token and total time of short (20 chunks) and long (2,000 chunks)
  streams, on the API path (`POST /api/chat/completions`, SSE answer) and on the web
  path (socket.io session, the answer arrives as `events` like in the browser);
- 1, 10 and 50 concurrent streams: chunks per second overall, from the first
  request to the last chunk delivered;
- the same on OpenAI's Responses API (phase `responses`, rows "Responses ..."): the
  built-in connection switched to `api_type: "responses"` (Admin > Settings >
  Connections > API Type: Responses; it converts the chat and hands the upstream's
  events on, raw `response.output_text.delta` lines on the API path), the pipe with
  `RESPONSES_API=always` (it translates the events into chat chunks), the minimal
  pipe posting to /responses and relaying its lines raw, the floor reading /responses;
  gpt-4o, a chat model, since a reasoning model would add summary events that only
  the pipe asks for. Time to first token of short answers and chunks per second of
  10 concurrent streams, API and web paths, judged like the chat path's; TTFT also
  against the minimal pipe, since Open WebUI reads the user's valves from its
  database for any pipe with per-user keys (~1 ms of TTFT that is the host's, not
  the pipe's). The connection and the valves are put back afterwards;
- what USER_QUOTA's ledger adds to a chat on the global key (phase `ledger`, rows
  "Ledger ..."; issue 18: "at most a few milliseconds", target <= 5 ms): a user of
  its own with no key chats with the pipe on the API path (short answers),
  alternately with USER_QUOTA empty and with limits that never trip; median with
  minus median without, of time to first token (the check and insert before the
  request) and of total time (those and the update after the answer), in Open
  WebUI's own database (SQLite here). The valves are put back afterwards;
- the longest `/health` answer time while streams run, while the upstream is slow to
  send headers, and while a model listing waits on a slow or a dead `/models` (a
  separate prober process asks `/health` every 10 ms);
- `pipes()` in-process (the built file loaded like Open WebUI loads it, as
  tests/owhost.py does): warm cache, cold cache, dead endpoint; and `/api/models`
  end to end;
- the pipe in-process against a plain aiohttp line reader: CPU per chunk, time to
  the first chunk, and the longest event-loop step under 50 concurrent streams;
- Open WebUI's memory (RSS of the server and its children) before and after chats
  through the pipe (and, as a reference, through the built-in connection);
- the upstream read directly, with no Open WebUI in between: the floor.

Two diagnostic columns: `minimal`, a reference pipe (`MINIMAL_PIPE` in
`scripts/benchmark/hostcode.py`) that only takes the user's key and relays the
upstream's lines, shows what Open WebUI charges any pipe with per-user keys (reading
the user's valves is one more database query per chat than the built-in makes);
`--variant NAME=PATH` runs other builds of the pipe as extra sides in the same server,
to weigh a change by its ratio. `--profile` adds py-spy samples of Open WebUI's event
loop while each side relays long streams (per-chunk CPU, split by frames) and a
cProfile of the pipe in-process (files in bench-results/bench-<timestamp>-logs/).

Ratios, not absolute times, are the result: every ratio reads "how much worse is the
pipe", > 1 meaning the pipe is slower (times: pipe/built-in; throughput: built-in
chunks per second / pipe chunks per second). One table goes to stdout with PASS/FAIL
lines for the targets of issue #6 under it; the raw figures go to
`bench-results/bench-<timestamp>.json` (and `--json PATH`), the server log and the
/health samples to `bench-results/bench-<timestamp>-logs/`.

The exit status is 0 when everything could be measured, whatever the figures (use
`--strict` to fail on a missed target), 2 when a measurement failed.

Internal modes (used by the benchmark itself): `--serve-upstream PORT` runs the fake
upstream; `--probe-health URL --out FILE` runs the `/health` prober.

This file is the command; the benchmark is the package `scripts/benchmark/` (its
`__init__.py` lists the modules), run as `scripts.benchmark.cli.main`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    if sys.prefix == sys.base_prefix:
        # Not in a virtualenv: use (and if needed create) the project's .venv.
        # (scripts/ is sys.path[0] when this file runs, and bootstrap needs only
        # the standard library.)
        from bootstrap import ensure_venv

        python = ensure_venv(["test", "host"])
        os.execv(python, [str(python), *sys.argv])
    # The package imports `scripts.owui` and `tests.upstream` by their paths
    # from the repository's root, as the tests do.
    sys.path.insert(0, str(REPO_ROOT))
    from scripts.benchmark.cli import main

    sys.exit(main())
