"""What a run is set to: where things are, the ids it installs, how much it does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
# The command: the benchmark's helper processes run it in its internal modes.
BENCH_SCRIPT = REPO_ROOT / "scripts" / "bench.py"
PIPE_FILE = REPO_ROOT / "openai_manifold_pipe.py"
PIPE_ID = "openai_manifold_pipe"
RESULTS_DIR = REPO_ROOT / "bench-results"
UPSTREAM_KEY = "sk-test-bench-000000000000000000001"
MODEL = "gpt-4o"  # a plain chat model: no reasoning status line, no rewrites
SIDES = ("builtin", "pipe")  # the comparison of issue #6
MINIMAL_ID = "bench_minimal"
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "pw-bench-admin-12345"

ALL_PHASES = (
    "floor",
    "minimal",
    "inproc",
    "api",
    "web",
    "concurrency",
    "responses",
    "ledger",
    "health",
    "listing",
    "pipes",
    "memory",
)
# The single-stream repetitions that `--reps FACTOR` multiplies.
REPS_FIELDS = (
    "reps_short",
    "reps_long",
    "web_reps_short",
    "web_reps_long",
    "responses_reps_short",
    "responses_web_reps_short",
    "ledger_reps",
)


@dataclass
class Plan:
    """How much of everything a run does; `--quick` scales it down (and says so)."""

    quick: bool
    short_chunks: int = 20
    long_chunks: int = 2000
    # A short chat takes ~25 ms (API) or ~75 ms (web): many repetitions are cheap,
    # and a ratio needs them to be judged at 5 % on a shared, noisy machine.
    reps_short: int = 100
    reps_long: int = 20
    web_reps_short: int = 40
    web_reps_long: int = 8
    concurrency: tuple[int, ...] = (1, 10, 50)
    conc_reps: tuple[int, ...] = (10, 3, 2)  # for each level of `concurrency`
    conc_chunks: int = 2000
    # Open WebUI's web path handles ~1,500 chunks/s in all on 2 cores: 50 x 2,000
    # chunks would take over a minute per run, so web streams are shorter.
    web_conc_chunks: int = 400
    memory_chats: int = 1000
    memory_concurrency: int = 8
    memory_reference: bool = True  # also run the same chats through the built-in
    health_reps: int = 2
    paced_api_streams: int = 50
    paced_web_streams: int = 10
    paced_chunks: int = 200
    slow_listing_reps: int = 2
    slow_seconds: float = 2.0
    header_delay_streams: int = 5
    listing_reps: int = 5
    pipes_warm_calls: int = 2000
    pipes_cold_calls: int = 20
    builtin_dead: bool = True
    builtin_dead_twice: bool = True
    minimal_in_concurrency: bool = True
    inproc_streams: int = 50
    # The Responses API (phase `responses`): short answers one at a time, and
    # `responses_concurrency` streams at once (conc_chunks long on the API path,
    # web_conc_chunks on the web path).
    responses_reps_short: int = 100
    responses_web_reps_short: int = 40
    responses_concurrency: int = 10
    responses_conc_reps: int = 3
    responses_web_conc_reps: int = 3
    # USER_QUOTA's ledger (phase `ledger`): short API chats, alternately without
    # and with it, `ledger_reps` of each.
    ledger_reps: int = 40

    @classmethod
    def make(cls, quick: bool, reps: float = 1.0) -> Plan:
        """The full plan, or `--quick`'s; single-stream repetitions times `reps`."""
        plan = cls.quick_plan() if quick else cls(quick=False)
        if reps != 1.0:
            for name in REPS_FIELDS:
                setattr(plan, name, max(1, round(getattr(plan, name) * reps)))
        return plan

    @classmethod
    def quick_plan(cls) -> Plan:
        """Under three minutes: fewer repetitions, shorter web streams, and the
        built-in's slow side of the dead endpoint and memory reference left out."""
        return cls(
            quick=True,
            reps_short=40,
            reps_long=8,
            web_reps_short=20,
            web_reps_long=3,
            web_conc_chunks=200,
            conc_reps=(6, 3, 1),
            memory_chats=200,
            memory_concurrency=8,
            memory_reference=False,
            health_reps=2,
            paced_chunks=100,
            slow_listing_reps=2,
            slow_seconds=1.0,
            header_delay_streams=3,
            listing_reps=3,
            pipes_warm_calls=1000,
            pipes_cold_calls=8,
            builtin_dead=False,
            builtin_dead_twice=False,
            minimal_in_concurrency=False,
            inproc_streams=20,
            responses_reps_short=40,
            responses_web_reps_short=20,
            responses_conc_reps=3,
            responses_web_conc_reps=3,
            ledger_reps=30,
        )
