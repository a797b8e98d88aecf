"""The command line of `scripts/bench.py`: a run, or one of its internal modes
(`--serve-upstream PORT`, `--probe-health URL --out FILE`).

Exit status: 0 when everything could be measured, whatever the figures (1 with
`--strict` when a target is missed), 2 when a measurement failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .processes import probe_health
from .report import document, machine, render
from .settings import ALL_PHASES, PIPE_FILE, REPO_ROOT, RESULTS_DIR, Plan
from .verdicts import judge

if TYPE_CHECKING:
    from .core import Bench

DESCRIPTION = (
    "Benchmark: the pipe against Open WebUI's own OpenAI connection (issue #6)."
)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument(
        "--quick", action="store_true", help="under two minutes, scaled down"
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--phases", help=f"comma-separated subset of {','.join(ALL_PHASES)}"
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed"
    )
    parser.add_argument(
        "--pipe-file",
        type=Path,
        default=PIPE_FILE,
        help="benchmark this build of the pipe (default: openai_manifold_pipe.py)",
    )
    parser.add_argument(
        "--reps",
        type=float,
        default=1.0,
        metavar="FACTOR",
        help="multiply the single-stream repetitions (for noisy machines)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also run another build of the pipe, side by side (repeatable)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also sample Open WebUI with py-spy and the pipe with cProfile",
    )
    parser.add_argument(
        "--serve-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS
    )
    parser.add_argument("--probe-health", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--interval", type=float, default=0.01, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    command = parser()
    args = command.parse_args(argv)
    if args.serve_upstream is not None:
        from .upstream import serve  # aiohttp and the fakes: in that process only

        serve(args.serve_upstream)
        return 0
    if args.probe_health:
        probe_health(args.probe_health, args.out, args.interval)
        return 0
    phases = args.phases.split(",") if args.phases else list(ALL_PHASES)
    unknown = set(phases) - set(ALL_PHASES)
    if unknown:
        command.error(f"unknown phases: {sorted(unknown)}")
    variants = {}
    for spec in args.variant:
        name, _, path = spec.partition("=")
        if not name.isidentifier() or not path:
            command.error(
                f"--variant wants NAME=PATH with NAME an identifier, not {spec!r}"
            )
        variants[name.lower()] = Path(path).resolve()
    return run(args, phases, variants)


def run(args: argparse.Namespace, phases: list[str], variants: dict[str, Path]) -> int:
    """The benchmark itself: measure, judge, write the JSON, print the report."""
    # Here, not at the top: the internal modes (a process each, started twice a
    # run) need none of Open WebUI's client, and start faster without it.
    from .core import Bench

    plan = Plan.make(args.quick, args.reps)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(exist_ok=True)
    log_dir = RESULTS_DIR / f"bench-{stamp}-logs"
    log_dir.mkdir(exist_ok=True)
    meta = machine()
    meta.update(
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        quick=plan.quick,
        phases=phases,
        plan=asdict(plan),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        pipe_file=str(args.pipe_file),
        variants=args.variant,
    )
    started = time.monotonic()
    bench = Bench(
        plan, phases, log_dir, args.profile, args.pipe_file.resolve(), variants
    )
    fatal = measure(bench, meta)
    meta["seconds"] = time.monotonic() - started
    meta["timings"] = bench.timings
    meta["loadavg_end"] = os.getloadavg()
    targets = judge(bench.figures, plan, bench.raw)
    out = RESULTS_DIR / f"bench-{stamp}.json"
    text = json.dumps(document(bench, meta, targets), indent=1, default=str)
    out.write_text(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(render(bench.figures, targets, meta))
    print(
        f"\n{meta['seconds']:.0f} s; raw figures: {out.relative_to(REPO_ROOT)}"
        + (f" and {args.json}" if args.json else "")
    )
    if bench.errors:
        print("\nproblems:")
        for error in bench.errors:
            print(f"  {error}")
    measured = fatal is None and not any(e.startswith("phase ") for e in bench.errors)
    if not measured:
        return 2
    if args.strict and not all(t["pass"] for t in targets):
        return 1
    return 0


def measure(bench: Bench, meta: dict) -> str | None:
    """Start, run every phase, stop whatever was started; the fatal error, if any
    (a failed phase is only reported: the run goes on)."""
    fatal = None
    # SIGTERM (a CI timeout) unwinds like Ctrl-C, so the servers started are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.start()
        asyncio.run(bench.run())
    except Exception as exc:  # noqa: BLE001
        fatal = repr(exc)
        traceback.print_exc()
        bench.errors.append(f"fatal: {fatal}")
    finally:
        if bench.server is not None:
            meta["openwebui_log_errors"] = sum(
                1
                for line in bench.server.log_text().splitlines()
                if " ERROR " in line or "| ERROR" in line
            )
        bench.stop()
    return fatal
