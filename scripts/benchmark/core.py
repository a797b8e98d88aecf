"""The Bench: starts Open WebUI, the upstream and the prober, installs both sides,
runs the phases in turn, and holds what they measured."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from scripts.owui.client import OpenWebUI
from scripts.owui.process import start_openwebui

from .client import StreamResult, Target, WebClient
from .figures import Figure, find
from .hostcode import GC_PROBE, MINIMAL_PIPE
from .phases import STEPS
from .phases.memory import gc_pauses
from .processes import Blackhole, HealthProber, UpstreamProcess, rss_tree_mb
from .settings import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    MINIMAL_ID,
    MODEL,
    PIPE_ID,
    SIDES,
    UPSTREAM_KEY,
    Plan,
)


class Bench:
    """One run: its servers, its sides, and the figures, raw data and errors."""

    def __init__(
        self,
        plan: Plan,
        phases: list[str],
        log_dir: Path,
        profile: bool,
        pipe_file: Path,
        variants: dict[str, Path] | None = None,
    ) -> None:
        self.plan = plan
        # Read once: the same code goes into Open WebUI and into the in-process tests.
        self.pipe_file = pipe_file
        self.pipe_source = pipe_file.read_text()
        # Other builds of the pipe, installed as functions `bench_<name>` and run as
        # extra sides (same server, same interleaving): to weigh a change by ratio.
        self.variants = {
            name: path.read_text() for name, path in (variants or {}).items()
        }
        self.phases = phases
        self.log_dir = log_dir
        self.profile = profile
        self.figures: list[Figure] = []
        self.raw: dict[str, Any] = {}
        self.errors: list[str] = []
        self.timings: dict[str, float] = {}
        self.sample_failures: dict[str, int] = {}
        self.server = None
        self.log_measured_from = 0
        self.upstream: UpstreamProcess | None = None
        self.prober: HealthProber | None = None
        self.blackhole: Blackhole | None = None
        self.admin: OpenWebUI | None = None
        self.token = ""
        self.user: dict = {}
        # Set by run(): the client session, every side's API path, the web path.
        self.session = None
        self.targets: dict[str, Target] = {}
        self.web: WebClient | None = None
        self.rss_start = 0.0  # Open WebUI's RSS before the first chat, in MB

    # ---- helpers for the phases ------------------------------------------------------

    def say(self, message: str) -> None:
        """Progress on stderr; stdout is the report's."""
        print(
            f"[bench {time.strftime('%H:%M:%S')}] {message}",
            file=sys.stderr,
            flush=True,
        )

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)

    def figure(self, key: str) -> Figure | None:
        return find(self.figures, key)

    def note_failures(
        self, key: str, results: list[StreamResult]
    ) -> list[StreamResult]:
        """The results that succeeded; the others are counted and reported."""
        bad = [r for r in results if not r.ok]
        if bad:
            self.sample_failures[key] = self.sample_failures.get(key, 0) + len(bad)
            self.errors.append(
                f"{key}: {len(bad)} failed sample(s), e.g. {bad[0].error}"
            )
        return [r for r in results if r.ok]

    @staticmethod
    def model_for(side: str) -> str:
        if side.startswith("v:"):
            return f"bench_{side[2:]}.{MODEL}"
        return {
            "builtin": MODEL,
            "pipe": f"{PIPE_ID}.{MODEL}",
            "minimal": f"{MINIMAL_ID}.{MODEL}",
        }[side]

    def sides(self, rep: int, minimal: bool = True, floor: bool = False) -> list[str]:
        """This repetition's order: rotated every time, so drift hits all sides alike.

        `minimal` False: only the two sides of the comparison (slow phases).
        `floor`: the upstream read directly last, when that phase runs."""
        sides = list(SIDES)
        if minimal and "minimal" in self.phases:
            sides.append("minimal")
        if minimal:
            sides += [f"v:{name}" for name in self.variants]
        shift = rep % len(sides)
        sides = sides[shift:] + sides[:shift]
        if floor and "floor" in self.phases:
            sides.append("floor")
        return sides

    async def one(
        self, side: str, kind: str, chunks: int, extra: str = ""
    ) -> StreamResult:
        """One stream of `side` on the API (`kind` "api") or the web path."""
        if kind == "api" or side == "floor":
            return await self.targets[side].stream(chunks, extra)
        return await self.web.chat(self.session, self.model_for(side), chunks, extra)

    # ---- setup -----------------------------------------------------------------------

    def start(self) -> None:
        t0 = time.monotonic()
        self.upstream = UpstreamProcess()
        self.blackhole = Blackhole()
        self.say(
            f"upstream at {self.upstream.base_url} (pid {self.upstream.process.pid})"
        )
        self.start_server()
        self.install()
        self.set_builtin(self.upstream.base_url, enabled=True)
        self.check_listed()
        self.prober = HealthProber(self.server.base_url, self.log_dir / "health.txt")
        self.log_measured_from = (self.log_dir / "openwebui-server.log").stat().st_size
        self.timings["setup_s"] = time.monotonic() - t0

    def start_server(self) -> None:
        """Open WebUI, with the GC probe loaded into its process."""
        probe = self.log_dir / "gc-probe"
        probe.mkdir(parents=True, exist_ok=True)
        (probe / "sitecustomize.py").write_text(GC_PROBE)
        self.server = start_openwebui(
            log_path=self.log_dir / "openwebui-server.log",
            env={"PYTHONPATH": str(probe)},
        )
        self.timings["openwebui_startup_s"] = self.server.startup_seconds
        self.say(
            f"Open WebUI at {self.server.base_url} (pid {self.server.pid}), "
            f"healthy after {self.server.startup_seconds:.1f} s"
        )

    def install(self) -> None:
        """The admin account, the pipe, the minimal pipe and the variants."""
        admin = OpenWebUI(self.server.base_url, timeout=120)
        admin.signup("Bench Admin", ADMIN_EMAIL, ADMIN_PASSWORD)
        admin.install_function(self.pipe_source, PIPE_ID)
        self.admin = admin
        self.set_pipe_valves()
        if "minimal" in self.phases:
            admin.install_function(MINIMAL_PIPE, MINIMAL_ID)
            self.set_minimal_valves()
        for name, source in self.variants.items():
            admin.install_function(source, f"bench_{name}")
            self.set_pipe_valves(f"bench_{name}")
        self.token = admin.token
        self.user = admin.user

    def check_listed(self) -> None:
        ids = self.admin.model_ids(refresh=True)
        wanted = [*SIDES, *(["minimal"] if "minimal" in self.phases else [])]
        wanted += [f"v:{name}" for name in self.variants]
        missing = [self.model_for(s) for s in wanted if self.model_for(s) not in ids]
        if missing:
            raise RuntimeError(f"not listed by Open WebUI: {missing}; got {ids[:12]}")

    def set_builtin(self, url: str, enabled: bool = True, api_type: str = "") -> None:
        """Open WebUI's OpenAI connection, as Admin > Settings > Connections saves it.

        `api_type="responses"` is that dialog's "API Type: Responses": Open WebUI then
        converts every chat to a /responses request (`convert_to_responses_payload`)
        and hands the upstream's stream on (raw lines on the API path)."""
        config: dict[str, Any] = {"enable": True}
        if api_type:
            config["api_type"] = api_type
        self.admin.post(
            "/openai/config/update",
            {
                "ENABLE_OPENAI_API": enabled,
                "OPENAI_API_BASE_URLS": [url],
                "OPENAI_API_KEYS": [UPSTREAM_KEY],
                "OPENAI_API_CONFIGS": {"0": config},
            },
        )

    def set_pipe_valves(self, function_id: str = PIPE_ID, **changes: Any) -> None:
        valves = {
            "OPENAI_API_BASE_URL": self.upstream.base_url,
            "OPENAI_API_KEY": UPSTREAM_KEY,
            "ALLOW_GLOBAL_KEY_FALLBACK": True,
        }
        valves.update(changes)
        self.admin.update_valves(function_id, valves)

    def set_minimal_valves(self, **changes: Any) -> None:
        valves = {"BASE_URL": self.upstream.base_url, "KEY": UPSTREAM_KEY}
        self.admin.update_valves(MINIMAL_ID, {**valves, **changes})

    def only(self, side: str | None) -> None:
        """Leave one provider of models for a listing, or all of them (None)."""
        self.set_builtin(self.upstream.base_url, enabled=side in (None, "builtin"))
        self.admin.set_function_active(PIPE_ID, side in (None, "pipe"))
        if "minimal" in self.phases:
            self.admin.set_function_active(MINIMAL_ID, side is None)
        for name in self.variants:
            self.admin.set_function_active(f"bench_{name}", side is None)

    def restore(self) -> None:
        self.set_pipe_valves()
        self.only(None)
        self.check_listed()

    def stop(self) -> None:
        for part in (self.prober, self.upstream):
            if part is not None:
                part.stop()
        if self.blackhole is not None:
            self.blackhole.close()
        if self.admin is not None:
            self.admin.close()
        if self.server is not None:
            self.server.stop()

    # ---- the run ---------------------------------------------------------------------

    async def run(self) -> None:
        import aiohttp  # the benchmark's own dependency, loaded once a run starts

        # uvicorn closes idle keep-alive connections after 5 s; reusing one just as it
        # does so ends in "connection reset". Retire them before that.
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=3)
        timeout = aiohttp.ClientTimeout(total=900, sock_read=300)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout
        ) as session:
            self.session = session
            self.targets = self.api_targets(session)
            self.web = WebClient(self.server.base_url, self.token, self.user)
            await self.web.connect()
            try:
                self.rss_start = rss_tree_mb(self.server.pid)
                await self.warm_up()
                for name, step in STEPS:
                    if name in self.phases or (name == "profile" and self.profile):
                        await self.run_phase(name, step)
                gc_pauses(self)
            finally:
                self.raw["web_chat_creation_retries"] = self.web.retries
                await self.web.close()

    def api_targets(self, session) -> dict[str, Target]:
        """The floor (the upstream read directly) and every side's API path."""
        auth = {"Authorization": f"Bearer {self.token}"}
        url = f"{self.server.base_url}/api/chat/completions"
        sides = ("builtin", "pipe", "minimal", *[f"v:{n}" for n in self.variants])
        return {
            "floor": Target(
                session,
                f"{self.upstream.base_url}/chat/completions",
                {"Authorization": f"Bearer {UPSTREAM_KEY}"},
                MODEL,
            ),
            **{
                side: Target(session, url, auth, self.model_for(side)) for side in sides
            },
        }

    async def run_phase(
        self, name: str, step: Callable[[Bench], Awaitable[None]]
    ) -> None:
        """One phase, timed; a phase that fails is reported and the run goes on."""
        t0 = time.monotonic()
        self.say(f"phase {name}...")
        try:
            await step(self)
        except Exception as exc:  # noqa: BLE001 - reported, run goes on
            self.errors.append(f"phase {name} failed: {exc!r}")
            self.say(f"phase {name} FAILED: {exc!r}")
            traceback.print_exc()
        self.timings[f"phase_{name}_s"] = time.monotonic() - t0
        self.say(f"phase {name}: {self.timings[f'phase_{name}_s']:.1f} s")

    async def warm_up(self) -> None:
        """First chats load code paths and connection pools; not measured."""
        for side in self.sides(0):
            for _ in range(3):
                await self.targets[side].stream(self.plan.short_chunks)
            await self.web.chat(
                self.session, self.model_for(side), self.plan.short_chunks
            )
        await self.targets["floor"].stream(self.plan.short_chunks)
